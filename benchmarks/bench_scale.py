"""Does ngff-fuse scale? Planning time for 10,000 tiles, and peak memory (RSS) against mosaic
size: the same fusion and pyramid for ~127 MPix and >= 1 GPix, from tiles generated lazily
(no input on disk), each in its own child process.

Planning is measured the way a user meets it: 10,000 small TIFF files (64^2, written to a
temporary folder first, off the clock) listed by a Fiji TileConfiguration and by a tile
manifest, read by the real readers, validated, planned and turned into the dask graph that
`convert` computes, with ngff-fuse's default chunking. Wall and CPU seconds are both printed:
on a busy machine the CPU time is what the same run costs on a quiet one.

    python benchmarks/bench_scale.py                  # 10,000-tile plan; 127 MPix and 1.1 GPix
    python benchmarks/bench_scale.py --sizes 6 8      # grids of 2048^2 tiles to fuse
    python benchmarks/bench_scale.py --sizes          # planning only
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

from dataclasses import replace

import dask
import dask.array as da
import numpy as np

from ngff_fuse import WriteOptions, fuse, transforms, write_ngff
from ngff_fuse.model import Tile, TileSet, tile_array

SPACING = (1.0, 0.5, 0.5)
OVERLAP = 0.1
LISTINGS = ("TileConfiguration.txt", "manifest.json")


_PERIOD = 3001  # the texture repeats every _PERIOD pixels (odd, so chunks never line up with it)


@functools.cache
def _periodic_texture(tile: int) -> np.ndarray:
    """Microscopy-ish content over _PERIOD + tile pixels each way, repeating every _PERIOD, so
    any tile^2 window of the endless texture is one slice of it: made once per process, in
    bands of rows (whole float arrays of it took 0.9 GB for a moment, above the run's own peak)."""
    size = _PERIOD + tile
    texture = np.empty((size, size), dtype=np.uint16)
    noise = np.random.default_rng(0).normal(0, 30, (_PERIOD, _PERIOD)).astype(np.float32)
    x = (np.arange(size) % _PERIOD).astype(np.float32)[None, :]
    for top in range(0, size, 256):
        y = (np.arange(top, min(top + 256, size)) % _PERIOD).astype(np.float32)[:, None]
        field = 1000 + 400 * np.sin(y / 37) * np.cos(x / 53) + 300 * np.sin((x + y) / 11)
        field += noise[y[:, 0].astype(np.intp)][:, np.arange(size) % _PERIOD]
        texture[top:top + len(y)] = field
    return texture


def _texture(block: np.ndarray, block_info=None, origin=(0, 0)) -> np.ndarray:
    """The texture as a function of global pixel position, so overlaps agree; a slice of one
    periodic array, so generating a tile costs next to nothing beside fusing it (numpy noise
    per tile cost more CPU than reading a tile from disk and hid what ngff-fuse costs)."""
    (y0, _), (x0, _) = block_info[None]["array-location"][-2:]
    texture = _periodic_texture(max(block.shape[-2:]))
    top, left = (y0 + origin[0]) % _PERIOD, (x0 + origin[1]) % _PERIOD
    window = texture[top:top + block.shape[-2], left:left + block.shape[-1]]
    return window.reshape(block.shape)


def lazy_tileset(grid: int, tile: int) -> TileSet:
    """grid x grid tiles of tile^2 pixels, generated on demand, at exact 10 % overlaps."""
    step = int(tile * (1 - OVERLAP))
    tiles = []
    for i in range(grid):
        for j in range(grid):
            origin_px = (i * step, j * step)
            data = da.zeros((1, 1, 1, tile, tile), dtype=np.uint16, chunks=(1, 1, 1, tile, tile))
            data = data.map_blocks(_texture, origin=origin_px, dtype=np.uint16)
            origin = (0.0, origin_px[0] * SPACING[1], origin_px[1] * SPACING[2])
            tiles.append(Tile(tile_array(data, SPACING, origin, f"t{i}_{j}"),
                              transforms.placement(SPACING, origin), f"t{i}_{j}", "generated"))
    return TileSet(tuple(tiles), SPACING, ("y", "x"), name=f"{grid}x{grid}")


def write_tile_files(folder: Path, grid: int, tile: int, seed: int = 0) -> None:
    """grid x grid ImageJ TIFFs of tile^2 pixels at jittered stage positions (10 % overlap),
    listed by a TileConfiguration (pixels) and by a tile manifest (micrometres)."""
    from ngff_fuse.readers.tileconfig import TileConfigEntry, format_tileconfig
    from ngff_fuse.testing.tile_files import write_imagej_tiff

    rng = np.random.default_rng(seed)
    step = tile * (1 - OVERLAP)
    entries, rows = [], []
    for i, j in np.ndindex(grid, grid):
        file = f"tile_{i:03d}_{j:03d}.tif"
        pixels = rng.integers(100, 4000, (1, 1, 1, tile, tile), dtype=np.uint16)
        write_imagej_tiff(folder / file, pixels, SPACING)
        y, x = (np.array([i, j]) * step + rng.uniform(-2, 2, 2)).round(2)
        entries.append(TileConfigEntry(file, None, (float(x), float(y))))
        rows.append({"file": file, "x": float(x) * SPACING[2], "y": float(y) * SPACING[1]})
    (folder / LISTINGS[0]).write_text(format_tileconfig(2, entries), encoding="utf-8")
    manifest = {"position_unit": "micrometer", "tiles": rows}
    (folder / LISTINGS[1]).write_text(json.dumps(manifest), encoding="utf-8")


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def plan(listing: str) -> dict:
    """Read a listing of tile files and plan it as `convert` does; seconds (wall, cpu) per step."""
    from ngff_fuse.fuse.core import as_dataarray, fuse_plan
    from ngff_fuse.fuse.plan import output_grid, plan_fusion
    from ngff_fuse.readers import available_readers, read_input

    available_readers()  # load the reader plugins off the clock: a fixed cost, not per tile
    options = WriteOptions()
    started = _clock()
    (tileset,) = read_input(listing)
    read = _since(started)
    started = _clock()
    replace(tileset)  # the TileSet checks again, alone: they ran once inside the read too
    validate = _since(started)
    started = _clock()
    edge = options.block_edge()
    chunk_size = (options.z_chunk(output_grid(tileset).shape[0]), edge, edge)
    fusion_plan = plan_fusion(tileset, chunk_size)
    planned = _since(started)
    started = _clock()
    plan_fusion(tileset, chunk_size, blend_width=float(np.max(fusion_plan.blend_width)))
    given_width = _since(started)  # the same plan without searching the seams for a width
    started = _clock()
    mosaic = as_dataarray(fuse_plan(tileset, fusion_plan), tileset, fusion_plan, squeeze=True)
    graph = _since(started)
    return {"listing": Path(listing).name, "tiles": len(tileset.tiles), "read": read,
            "validate": validate, "plan": planned, "plan_given_width": given_width, "graph": graph,
            "tasks": len(mosaic.data.__dask_graph__()), "chunks": int(np.prod(mosaic.data.numblocks)),
            "chunk": edge}


def convert(grid: int, tile: int, out: str, threads: int | None = None) -> dict:
    tileset = lazy_tileset(grid, tile)
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    mosaic = fuse(tileset, chunk_size=(1, 2048, 2048))
    with dask.config.set(num_workers=threads):  # None: dask's default, one per core
        shapes = write_ngff(mosaic, out, WriteOptions())
    seconds = time.perf_counter() - started
    mpix = shapes[0][0] * shapes[0][1] / 1e6
    return {"mpix": mpix, "seconds": seconds, "start_rss_mb": start_rss / 1024,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def in_child(function: str, *args) -> dict:
    """Run one measurement in a fresh interpreter, forked once so its peak RSS is its own."""
    code = (
        "import os, sys, json\n"
        "pid = os.fork()\n"
        "if pid: sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import bench_scale\n"
        f"print(json.dumps(bench_scale.{function}(*json.loads(sys.argv[1]))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{function}{args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _seconds(pair) -> str:
    return f"{pair[0]:.2f} ({pair[1]:.2f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan-grid", type=int, default=100, help="N x N small tile files to plan")
    parser.add_argument("--plan-tile", type=int, default=64, help="edge of each tile file, pixels")
    parser.add_argument("--sizes", type=int, nargs="*", default=[6, 18],
                        help="grids of 2048^2 tiles to fuse (6: 127 MPix, 18: 1.1 GPix)")
    parser.add_argument("--threads", type=int, nargs="+", default=[None],
                        help="dask threads per conversion, e.g. 1 2 for the memory per thread")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        write_tile_files(Path(folder), args.plan_grid, args.plan_tile)
        rows = [in_child("plan", str(Path(folder) / name)) for name in LISTINGS]
    print(f"planning {args.plan_grid ** 2} TIFF tiles of {args.plan_tile}^2, seconds wall (cpu):")
    print("| listing | tiles | read + construct | of which validation | plan | graph | total | "
          "tasks | output chunks | plan with --blend-width given |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        total = [r["read"][k] + r["plan"][k] + r["graph"][k] for k in (0, 1)]
        print(f"| {r['listing']} | {r['tiles']} | {_seconds(r['read'])} | {_seconds(r['validate'])} "
              f"| {_seconds(r['plan'])} | {_seconds(r['graph'])} | {_seconds(total)} | {r['tasks']} "
              f"| {r['chunks']} of {r['chunk']}^2 | {_seconds(r['plan_given_width'])} |")
    if not args.sizes:
        return
    print(f"{'mosaic':>10} {'threads':>7} {'MPix':>8} {'seconds':>8} {'MPix/s':>7} {'peak RSS MB':>12} "
          f"{'start RSS MB':>13}")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        for grid, threads in product(args.sizes, args.threads):
            r = in_child("convert", grid, 2048, str(Path(folder) / f"{grid}-{threads}.ome.zarr"), threads)
            print(f"{grid:>4} x {grid:<3} {threads or 'default':>7} {r['mpix']:>8.0f} {r['seconds']:>8.1f} "
                  f"{r['mpix'] / r['seconds']:>7.1f} {r['peak_rss_mb']:>12.0f} {r['start_rss_mb']:>13.0f}")


if __name__ == "__main__":
    main()
