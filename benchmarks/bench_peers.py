"""ngff-fuse against its peers, on the same tiles in the same run: multiview-stitcher and
DaskFusion's approach, next to the I/O floor, each in its own child process.

    python benchmarks/bench_peers.py                                  # 4 x 4 tiles of 2048^2, a few minutes
    python benchmarks/bench_peers.py --grid 3 --tile-size 1024 --repeat 1   # quick check
    python benchmarks/bench_peers.py --subpixel   # positions off the pixel grid: all resample

Runs (median of --repeat interleaved runs; every output uses the same codec and 1024^2 chunks):
- floor, `ngff-fuse convert --levels 1`, `ngff-fuse convert`: as in bench_fuse.py (ngff-fuse reads
  the OME-TIFF itself, positions from its OME-XML included; the others are handed the positions);
- multiview-stitcher (`pip install multiview-stitcher`; skipped with a message when absent): tiles
  as spatial images at their stage positions (translation, no registration), fused by
  `fusion.fuse(..., output_zarr_url=..., zarr_options={"ome_zarr": True})` into its own NGFF 0.5
  OME-Zarr with its pyramid (its README's way for large data); and its lazy `fusion.fuse` stored
  to level 0 only with dask threads;
- DaskFusion's approach (github.com/VolkerH/DaskFusion, by Volker Hilsenstein; not on PyPI, so
  re-implemented here after its `fuse/fuse.py`): `map_blocks` over output chunks, each chunk
  loads every tile it touches, shifts it into the chunk with `scipy.ndimage.affine_transform`
  and keeps the maximum; with interpolation order 1, and as shipped (scipy's default, order 3).

Each peer's level 0 is compared with ngff-fuse's over the interior (correlation, largest
difference), so a broken run cannot pass for a fast one.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import dask
import dask.array as da
import dask.system
import numpy as np
import tifffile
import zarr
from dask.array.core import normalize_chunks

from ngff_fuse.codecs import Codec

import bench_fuse  # this folder's shared machinery: input, child processes, level 0 arrays
from bench_fuse import CHUNK, Result, Run

MVS = "multiview_stitcher"
MVS_IMPORTS = ["multiview_stitcher.fusion", "multiview_stitcher.msi_utils",
               "multiview_stitcher.spatial_image_utils"]
MARGIN = 16  # px left out at the mosaic's border when comparing level 0 with ngff-fuse's
MIN_CORRELATION = 0.999


@dataclass(frozen=True)
class Contender:
    """One row: the run and which ngff-fuse run it is fairly compared with."""

    run: Run
    versus: str | None  # label of the ngff-fuse run doing the same work; None for ours/floor


# --- tiles, as both peers load them ---------------------------------------------------------


def read_tile(tiff: str, index: int) -> np.ndarray:
    """One whole tile (one page per series): the only read the OME-TIFF's single strip allows."""
    with tifffile.TiffFile(tiff, is_ome=False) as tif:
        return tif.pages[index].asarray()


def tile_shape(tiff: str) -> tuple[int, int]:
    with tifffile.TiffFile(tiff, is_ome=False) as tif:
        return tif.pages[0].shape


# --- multiview-stitcher (children) ----------------------------------------------------------


def mvs_images(tiff: str, positions: list[list[float]], spacing: list[float]) -> list:
    """Its spatial images: each tile a lazy dask array placed at its stage position (um)."""
    from multiview_stitcher import spatial_image_utils as si_utils

    shape = tile_shape(tiff)
    return [
        si_utils.get_sim_from_array(
            da.from_delayed(dask.delayed(read_tile)(tiff, index), shape, np.uint16),
            dims=["y", "x"], scale=dict(zip("yx", spacing)),
            translation=dict(zip("yx", position)), transform_key="stage",
        )
        for index, position in enumerate(positions)
    ]


def mvs_ome_zarr(tiff: str, positions: list[list[float]], spacing: list[float], output: str,
                 codec: str) -> None:
    """Fuse straight into its own OME-Zarr (NGFF 0.5) and let its writer add the pyramid."""
    from multiview_stitcher import fusion, msi_utils

    msims = [msi_utils.get_msim_from_sim(sim, scale_factors=[])
             for sim in mvs_images(tiff, positions, spacing)]
    compressors = Codec.parse(codec).zarr_v3(2)
    fusion.fuse(
        images=msims, transform_key="stage", output_chunksize=CHUNK, output_zarr_url=output,
        zarr_options={"ome_zarr": True, "ngff_version": "0.5", "zarr_array_creation_kwargs": {
            "codecs": [zarr.codecs.BytesCodec(), *compressors]}},
    )


def mvs_lazy_level0(tiff: str, positions: list[list[float]], spacing: list[float], output: str,
                    codec: str) -> None:
    """Its lazy fuse (one dask graph), stored to level 0 only, as the floor stores its mosaic."""
    from multiview_stitcher import fusion

    fused = fusion.fuse(images=mvs_images(tiff, positions, spacing), transform_key="stage",
                        output_chunksize=CHUNK).data[0, 0]  # (t, c, y, x) -> (y, x)
    target = bench_fuse.level0_array(output, fused.shape, fused.dtype, codec)
    da.store(fused, target, lock=False, scheduler="threads")


# --- DaskFusion's approach (children) -------------------------------------------------------


def translation(offset: np.ndarray) -> np.ndarray:
    """A 3 x 3 homogeneous (row, column) translation, as skimage's AffineTransform.params."""
    matrix = np.eye(3)
    matrix[:2, 2] = offset
    return matrix


def daskfusion_chunk(chunk_tiles: dict, tiff: str, order: int, block_info=None) -> np.ndarray:
    """DaskFusion's fuse_func: every tile touching the chunk, loaded whole, affine-shifted into
    the chunk by scipy, fused by maximum (its stack-and-max, as shipped)."""
    from scipy.ndimage import affine_transform

    location = block_info[None]["array-location"]
    anchor = (location[0][0], location[1][0])
    chunk_shape = block_info[None]["chunk-shape"]
    fused = np.zeros(chunk_shape, dtype=np.uint16)
    for index, tile_affine in chunk_tiles[anchor]:
        shift = translation(-np.asarray(anchor))
        shifted = affine_transform(read_tile(tiff, index), matrix=np.linalg.inv(shift @ tile_affine),
                                   output_shape=chunk_shape, cval=0, order=order)
        fused = np.max(np.stack([fused, shifted.astype(np.uint16)]), axis=0)
    return fused


def daskfusion(tiff: str, offsets: list[list[float]], output: str, codec: str, order: int) -> None:
    """Tiles at their (maybe fractional) pixel offsets, chunk -> tiles index by box intersection
    (DaskFusion uses shapely polygons, the same for translations), map_blocks, stored with dask
    threads."""
    corners = np.asarray(offsets) - np.min(offsets, axis=0)
    size = np.asarray(tile_shape(tiff))
    shape = tuple(int(n) for n in np.ceil(corners.max(axis=0) + size))
    chunks = normalize_chunks(CHUNK, shape)
    starts = [np.cumsum((0, *c[:-1])) for c in chunks]
    chunk_tiles = {}
    for (y, height), (x, width) in ((a, b) for a in zip(starts[0], chunks[0])
                                    for b in zip(starts[1], chunks[1])):
        low, high = np.array([y, x]), np.array([y + height, x + width])
        chunk_tiles[(int(y), int(x))] = [
            (index, translation(corner)) for index, corner in enumerate(corners)
            if np.all(corner < high) and np.all(corner + size > low)
        ]
    fused = da.map_blocks(partial(daskfusion_chunk, chunk_tiles, tiff, order),
                          chunks=chunks, dtype=np.uint16)
    target = bench_fuse.level0_array(output, shape, np.uint16, codec)
    da.store(fused, target, lock=False, scheduler="threads")


# --- the parent -----------------------------------------------------------------------------


def plan(tiff: Path, work: Path, offsets: list[list[float]], positions: list[list[float]],
         codec: str, with_mvs: bool) -> list[Contender]:
    whole = [[int(n) for n in offset] for offset in offsets]  # floored: the floor pastes whole pixels
    floor, level0, pyramid = bench_fuse.plan_runs(tiff, work, whole, codec)
    contenders = [Contender(floor, None), Contender(level0, None), Contender(pyramid, None)]

    def call(label: str, function: str, imports: list[str], **kwargs) -> Run:
        output = str(work / f"{function}{kwargs.get('order', '')}.zarr")
        return Run(label, {"kind": "call", "module": "bench_peers", "function": function,
                           "imports": imports, "output": output,
                           "kwargs": {"tiff": str(tiff), "output": output, "codec": codec, **kwargs}})

    if with_mvs:
        placed = {"positions": positions, "spacing": list(bench_fuse.SPACING[1:])}
        contenders += [
            Contender(call("multiview-stitcher (OME-Zarr + pyramid)", "mvs_ome_zarr", MVS_IMPORTS,
                           **placed), pyramid.label),
            Contender(call("multiview-stitcher lazy fuse, level 0", "mvs_lazy_level0", MVS_IMPORTS,
                           **placed), level0.label),
        ]
    for order, name in ((1, "order 1"), (3, "as shipped, order 3")):
        contenders.append(Contender(
            call(f"DaskFusion approach ({name})", "daskfusion", ["scipy.ndimage"],
                 offsets=offsets, order=order), level0.label))
    return contenders


def agreement(ours: Path, theirs: Path) -> tuple[float, int]:
    """Correlation and largest absolute difference of two level 0 arrays over the interior."""
    a, b = (da.from_zarr(zarr.open_array(path / "0", mode="r")).squeeze() for path in (ours, theirs))
    stop = [min(n, m) - MARGIN for n, m in zip(a.shape, b.shape)]
    window = tuple(slice(MARGIN, s) for s in stop)
    a, b = a[window].astype(np.float64), b[window].astype(np.float64)
    count = a.size
    sa, sb, saa, sbb, sab, worst = dask.compute(a.sum(), b.sum(), (a * a).sum(), (b * b).sum(),
                                                (a * b).sum(), abs(a - b).max())
    cov = sab - sa * sb / count
    return cov / np.sqrt((saa - sa * sa / count) * (sbb - sb * sb / count)), int(worst)


def describe(output: Path) -> str:
    """What a run wrote, read back from its output: codec, chunks, shards, format, levels."""
    group = zarr.open_group(output, mode="r")
    level0 = group["0"]
    codecs = ", ".join(f"blosc-{c.cname.value}:{c.clevel}" if isinstance(c, zarr.codecs.BloscCodec)
                       else type(c).__name__ for c in level0.compressors) or "uncompressed"
    text = f"{codecs}, {'x'.join(map(str, level0.chunks[-2:]))} chunks"
    if level0.shards:
        text += f" in {'x'.join(map(str, level0.shards[-2:]))} shards"
    levels = sum(1 for name, _ in group.arrays() if name.isdigit())
    ome = "ome" in group.attrs or "multiscales" in group.attrs
    return f"{text}, zarr v{level0.metadata.zarr_format}{', OME-Zarr' if ome else ''}, {levels} level(s)"


def print_table(contenders: list[Contender], results: dict[str, Result], mpix: float,
                checks: dict[str, tuple[float, int]]) -> None:
    floor = results[contenders[0].run.label].seconds
    print("| run | writes | MPix/s | seconds | x floor | peak RSS MB | CPU s | peer / ngff-fuse seconds (CPU s) "
          "| level 0 vs ngff-fuse (corr., max diff) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in contenders:
        r = results[c.run.label]
        writes = describe(Path(c.run.spec["output"]))
        faster = ratio(results, c.run.label, c.versus) if c.versus else ""
        check = ""
        if c.run.label in checks:
            corr, worst = checks[c.run.label]
            check = f"{corr:.5f}, {worst}" + ("" if corr >= MIN_CORRELATION else " MISMATCH")
        print(f"| {c.run.label} | {writes} | {mpix / r.seconds:.1f} | {r.seconds:.2f} | "
              f"{r.seconds / floor:.2f} | {r.peak_rss_mb:.0f} | {r.cpu_seconds:.1f} | {faster} | {check} |")


def print_ratios(contenders: list[Contender], results: dict[str, Result]) -> None:
    """Ours against each peer: like for like, and ngff-fuse's whole pyramid against level 0 only."""
    pyramid = contenders[2].run.label
    print("\nngff-fuse against each peer: peer seconds / ngff-fuse seconds (CPU seconds in brackets,"
          " the steadier figure on a busy machine):")
    for c in contenders:
        if c.versus is None:
            continue
        line = f"- {c.run.label}: {ratio(results, c.run.label, c.versus)} vs `{c.versus}`"
        if c.versus != pyramid:
            line += f", {ratio(results, c.run.label, pyramid)} vs `{pyramid}` (ours also writes the pyramid)"
        print(line)


def ratio(results: dict[str, Result], peer: str, ours: str) -> str:
    wall = results[peer].seconds / results[ours].seconds
    return f"{wall:.1f}x ({results[peer].cpu_seconds / results[ours].cpu_seconds:.1f}x)"


def benchmark(args: argparse.Namespace, work: Path) -> None:
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    with_mvs = importlib.util.find_spec(MVS) is not None
    if not with_mvs:
        print("multiview-stitcher is not installed (pip install multiview-stitcher): its rows are skipped")
    mosaic = bench_fuse.make_mosaic(args.grid, args.tile_size, args.overlap, args.subpixel)
    tiff = write_ome_tiff(mosaic, work / bench_fuse.INPUT_NAME)
    offsets = [list(t.pixel_offset[1:]) for t in mosaic.tiles]
    positions = [list(t.position[1:]) for t in mosaic.tiles]
    first, stop = mosaic.truth_extent()
    shape = tuple(int(n) for n in (stop - first)[1:])
    del mosaic
    mpix = shape[0] * shape[1] / 1e6
    print(f"input: {args.grid} x {args.grid} tiles of {args.tile_size}^2 uint16, overlap "
          f"{args.overlap:.0%}{', sub-pixel positions' if args.subpixel else ''}, one multi-series OME-TIFF; mosaic {shape[0]} x {shape[1]} = {mpix:.1f} MPix")
    if with_mvs:
        version = importlib.metadata.version("multiview-stitcher")
        print(f"multiview-stitcher {version}: default fusion (weighted average, order 1), "
              "blocks fused one after another as its fuse(output_zarr_url=...) does by default")
    print(f"dask threads: {dask.system.CPU_COUNT}; repeats: {args.repeat} (median, interleaved); "
          f"load average before: {bench_fuse.load()}")

    contenders = plan(tiff, work, offsets, positions, args.codec, with_mvs)
    sys.stdout.flush()  # the header before the progress lines on stderr
    try:
        measure_all(args, contenders, shape, mpix)
    finally:
        if args.workdir is not None and not args.keep:
            for path in (tiff, *(Path(c.run.spec["output"]) for c in contenders)):
                bench_fuse.remove(path)


def measure_all(args: argparse.Namespace, contenders: list[Contender], shape: tuple[int, int],
                mpix: float) -> None:
    collected: dict[str, list[Result]] = {c.run.label: [] for c in contenders}
    for repeat in range(args.repeat):
        for c in contenders:  # interleaved, so drifts (page cache, other load) hit all alike
            result = bench_fuse.measure(c.run)
            collected[c.run.label].append(result)
            print(f"  [{repeat + 1}/{args.repeat}] {c.run.label}: {result.seconds:.2f} s",
                  file=sys.stderr, flush=True)
    results = {label: bench_fuse.median_result(rs) for label, rs in collected.items()}
    reference = Path(contenders[1].run.spec["output"])
    checks = {c.run.label: agreement(reference, Path(c.run.spec["output"]))
              for c in contenders if c.versus is not None}
    for c in contenders:
        got = tuple(n for n in results[c.run.label].shape if n != 1)
        if got != shape and not args.subpixel:  # sub-pixel positions may add a row
            print(f"warning: {c.run.label} wrote level 0 of shape {got}, expected {shape}")
    print(f"load average after: {bench_fuse.load()}\n")
    print_table(contenders, results, mpix, checks)
    print_ratios(contenders, results)


def main(argv: list[str] | None = None) -> None:
    args = bench_fuse.parse_args(argv, __doc__, grid=4, repeat=3)
    with bench_fuse.workdir(args, "bench-peers-") as work:
        benchmark(args, work)


if __name__ == "__main__":
    main()
