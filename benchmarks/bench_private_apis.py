"""What would the public APIs cost where ngff-fuse uses private ones?

Two private uses, each against its public replacements, side by side:

- dask `_task_spec` (`Task`, `DataNode`): `readers/tiff_planes.py` writes each tile's graph
  directly (one `getter(planes, block)` task per plane), and `fuse/pixels.py` /
  `convert.tile_files` recognise such graphs to read a region without dask. Public: the same
  graph through `da.from_array(..., inline_array=True)`; a plain dict graph of tuple tasks
  (dask's documented custom-graph form); `da.map_blocks`. Measured: building the lazy arrays
  of N tiles, and reading a 64 x 64 region of a plane through dask (the path any array the
  fast path cannot see takes).
- xarray `DataArray(..., fastpath=True)` (`model.tile_array`): public, the same ready-made
  indexes passed as `xr.Coordinates(coords, indexes)`, and the plain constructor (coordinate
  arrays, indexes built by xarray). Measured: wrapping N tiles.

Every variant runs in this process, interleaved repeat by repeat (median reported), after an
untimed call whose result must equal the numpy truth (the region read) or the private path's
(the coordinates): a faster variant that returns something else fails the run.

    python benchmarks/bench_private_apis.py                 # 10,000 tiles, ~2 minutes
    python benchmarks/bench_private_apis.py --tiles 1000 --repeat 3   # quick look
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask._task_spec import DataNode, Task
from dask.array.core import getter

from ngff_fuse._axes import AXES, MICROMETER, SPATIAL
from ngff_fuse.fuse.pixels import sliced_source
from ngff_fuse.model import _axis_coordinate, tile_array

PLANE = (512, 512)


class Planes:
    """A tile file's planes as an array-like (what `tiff_planes.TiffPlanes` is): one shared
    buffer behind every tile, so 10,000 tiles fit in memory."""

    def __init__(self, buffer: np.ndarray) -> None:
        self.buffer, self.shape, self.dtype, self.ndim = buffer, buffer.shape, buffer.dtype, buffer.ndim

    def __getitem__(self, key):
        return self.buffer[key]


def _chunks(shape):
    return tuple((1,) * n for n in shape[:3]) + tuple((n,) for n in shape[3:])


def _where(t, c, z, shape):
    return (slice(t, t + 1), slice(c, c + 1), slice(z, z + 1), *(slice(0, n) for n in shape[3:]))


def private_graph(planes: Planes, name: str) -> da.Array:
    """As `tiff_planes.tiff_dask_array` writes it: Task(getter, DataNode, DataNode) per plane."""
    node = DataNode(None, planes)
    graph = {}
    for t, c, z in np.ndindex(*planes.shape[:3]):
        key = (name, t, c, z, 0, 0)
        graph[key] = Task(key, getter, node, DataNode(None, _where(t, c, z, planes.shape)))
    return da.Array(graph, name, _chunks(planes.shape), meta=np.empty((0,) * 5, planes.dtype))


def public_from_array(planes: Planes, name: str) -> da.Array:
    return da.from_array(planes, chunks=_chunks(planes.shape), name=name, inline_array=True,
                         meta=np.empty((0,) * 5, planes.dtype))


def public_tuples(planes: Planes, name: str) -> da.Array:
    graph = {(name, t, c, z, 0, 0): (getter, planes, _where(t, c, z, planes.shape))
             for t, c, z in np.ndindex(*planes.shape[:3])}
    return da.Array(graph, name, _chunks(planes.shape), meta=np.empty((0,) * 5, planes.dtype))


def public_map_blocks(planes: Planes, name: str) -> da.Array:
    def block(block_info=None):
        (t, _), (c, _), (z, _), *_ = block_info[None]["array-location"]
        return planes[_where(t, c, z, planes.shape)]

    return da.map_blocks(block, chunks=_chunks(planes.shape), dtype=planes.dtype, name=name,
                         meta=np.empty((0,) * 5, planes.dtype))


GRAPHS: dict[str, Callable[[Planes, str], da.Array]] = {
    "private Task graph (now)": private_graph,
    "public from_array(inline_array=True)": public_from_array,
    "public dict of tuple tasks": public_tuples,
    "public map_blocks": public_map_blocks,
}


def tile_private(data, spacing, origin, name):
    return tile_array(data, spacing, origin, name)


def _coords(data, spacing, origin):
    indexes, coords = {}, {}
    for i, ax in enumerate(SPATIAL):
        ax, index, variables = _axis_coordinate(ax, float(origin[i]), float(spacing[i]), int(data.shape[2 + i]))
        indexes[ax] = index
        coords.update(variables)
    return coords, indexes


def tile_coordinates(data, spacing, origin, name):
    coords, indexes = _coords(data, spacing, origin)
    pixels = xr.Variable(AXES, data, attrs={"units": MICROMETER})
    return xr.DataArray(pixels, coords=xr.Coordinates(coords, indexes=indexes), name=name)


def tile_plain(data, spacing, origin, name):
    coords = {ax: float(origin[i]) + float(spacing[i]) * np.arange(data.shape[2 + i])
              for i, ax in enumerate(SPATIAL)}
    return xr.DataArray(data, dims=AXES, coords=coords, name=name, attrs={"units": MICROMETER})


WRAPS = {
    "private DataArray(fastpath=True) (now)": tile_private,
    "public DataArray(coords=xr.Coordinates(coords, indexes))": tile_coordinates,
    "public DataArray(dims, coords) (xarray builds the indexes)": tile_plain,
}


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _report(title: str, times: dict[str, list[float]], unit: str, per: int) -> None:
    print(f"\n{title}")
    base = statistics.median(next(iter(times.values())))
    for name, values in times.items():
        median = statistics.median(values)
        shown = "fails" if median == float("inf") else f"{median / per * 1e6:9.1f} us {unit}  x{median / base:5.2f}"
        print(f"  {name:62s} {shown}")


def bench_graphs(tiles: int, planes_per_tile: int, repeat: int) -> None:
    rng = np.random.default_rng(0)
    buffer = rng.integers(0, 4096, (1, 1, planes_per_tile, *PLANE), dtype=np.uint16)
    sources = [Planes(buffer) for _ in range(tiles)]
    region = (0, 0, planes_per_tile - 1, slice(100, 164), slice(200, 264))
    truth = buffer[region]
    works: dict[str, bool] = {}
    for name, build in GRAPHS.items():  # untimed check: the region read must give the truth
        try:
            works[name] = np.array_equal(build(sources[0], f"check-{name}")[region].compute(scheduler="sync"), truth)
        except Exception as exc:  # noqa: BLE001 - a variant that cannot read is reported, not raised
            print(f"  {name}: a region read fails ({type(exc).__name__}: {str(exc).splitlines()[0][:80]})")
            works[name] = False
        assert works[name] or name != "private Task graph (now)"
    build_times = {name: [] for name in GRAPHS}
    seen_times = {name: [] for name in GRAPHS}
    read_times = {name: [] for name in GRAPHS}
    reads = min(tiles, 200)
    for r in range(repeat):
        for name, build in GRAPHS.items():
            arrays = []
            build_times[name].append(_timed(lambda: arrays.extend(
                build(s, f"{name}-{r}-{i}") for i, s in enumerate(sources))))
            seen = []
            seen_times[name].append(_timed(lambda: seen.extend(sliced_source(a) for a in arrays)))
            if any(source is None for source in seen):
                seen_times[name][-1] = float("inf")
            if not works[name]:
                read_times[name].append(float("inf"))
                continue
            read_times[name].append(_timed(lambda: [a[region].compute(scheduler="sync") for a in arrays[:reads]]))
    _report(f"building the lazy arrays of {tiles} tiles of {planes_per_tile} plane(s) of {PLANE[0]}^2",
            build_times, "a tile", tiles)
    _report("the fast path finding each tile's source (fuse/pixels.sliced_source; materialises a "
            "lazy layer; 'fails': not found, every read takes the path below)", seen_times, "a tile", tiles)
    _report("both: building and finding the source, what a tile costs before its first read",
            {n: [b + f for b, f in zip(build_times[n], seen_times[n])] for n in GRAPHS}, "a tile", tiles)
    _report("reading a 64 x 64 region of one plane through dask (slice + compute, sync)",
            read_times, "a read", reads)


def bench_wrap(tiles: int, repeat: int) -> None:
    side = int(np.ceil(np.sqrt(tiles)))
    data = da.zeros((1, 1, 1, *PLANE), dtype=np.uint16, chunks=(1, 1, 1, *PLANE))
    origins = [(0.0, (i // side) * 300.0, (i % side) * 300.0) for i in range(tiles)]
    spacing = (1.0, 0.65, 0.65)
    expected = tile_private(data, spacing, origins[-1], "t")
    for name, wrap in WRAPS.items():  # untimed check: the same coordinates and indexes
        got = wrap(data, spacing, origins[-1], "t")
        assert got.dims == expected.dims and all(np.array_equal(got[ax].values, expected[ax].values)
                                                 for ax in SPATIAL), name
        assert set(got.xindexes) == set(expected.xindexes), name
    times = {name: [] for name in WRAPS}
    for _ in range(repeat):
        for name, wrap in WRAPS.items():
            times[name].append(_timed(lambda: [wrap(data, spacing, o, f"tile {i}") for i, o in enumerate(origins)]))
    _report(f"wrapping {tiles} tiles as DataArrays (grid positions, coordinates cached)", times, "a tile", tiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=10_000)
    parser.add_argument("--planes", type=int, default=12, help="planes per tile of the stacked case")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=("dask", "xarray"), help="run one of the two")
    args = parser.parse_args()
    print(f"dask {dask.__version__}, xarray {xr.__version__}")
    if args.only != "xarray":
        bench_graphs(args.tiles, 1, args.repeat)
        bench_graphs(max(args.tiles // 10, 1), args.planes, args.repeat)
    if args.only != "dask":
        bench_wrap(args.tiles, args.repeat)


if __name__ == "__main__":
    main()
