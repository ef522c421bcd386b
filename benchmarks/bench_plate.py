"""How much does a plate cost beyond its pixels? `ngff-fuse convert` of a generated plate
against the I/O floor of the same pixels, side by side, and the overhead per well.

1. floor:   read every site's TIFF once, paste it at its integer position into a well-sized
            array (no blending), write level 0 of every well with ngff-fuse's codec, chunks and
            shards (bench_fuse's level 0 array), wells written by as many threads as dask uses;
2. level 0: `ngff-fuse convert EXPORT OUT --levels 1` (the floor's pixels, blended);
3. convert: `ngff-fuse convert EXPORT OUT` of the MetaXpress export: an NGFF HCS plate, every
            well fused, every pyramid level.

Per-well overhead = (convert - floor) / wells, of either convert; the target is under 50 ms a well. Each run is a
child process (bench_fuse.measure) reporting its wall time and peak RSS. The export is written
once, before any timing; every well holds the same 2 x 2 sites (the pixels' cost is the same).

    python benchmarks/bench_plate.py                            # 96 wells, sites of 1024^2, 3 runs
    python benchmarks/bench_plate.py --wells 384 --tile-size 256 --repeat 1
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import dask.system
import numpy as np
import tifffile

import bench_fuse
from bench_fuse import Result, Run, level0_array, load, make_mosaic, measure, median_result, workdir
from ngff_fuse.codecs import DEFAULT_CODEC, Codec
from ngff_fuse.model import row_name

PLATES = {96: (8, 12), 384: (16, 24)}  # wells: (rows, columns)
SPACING = (1.0, 0.4, 0.4)  # um: 0.4 um keeps MetaXpress' 0.1 um stage centres on whole pixels
PLATE = "Plate"
READER_IMPORTS = ["tifffile"]


def well_names(wells: int) -> list[str]:
    """A full plate's wells, "A01" to "H12" (or "P24"), row by row."""
    rows, columns = PLATES[wells]
    return [f"{row_name(r)}{c + 1:02d}" for r in range(rows) for c in range(columns)]


def well_group(well: str) -> str:
    """"B03" -> "B/3/0": where ngff-fuse writes the well's fused field (`ngff.plate.well_path`)."""
    return f"{well[0]}/{int(well[1:])}/0"


def write_export(wells: int, tile: int, overlap: float, folder: Path) -> list[list[int]]:
    """A MetaXpress export of a full plate, every well 2 x 2 sites of `tile`^2 uint16; returns
    each site's integer (y, x) pixel offset in its well, site 1 first."""
    from ngff_fuse.testing.imagexpress import write_imagexpress

    mosaic = make_mosaic(2, tile, overlap)
    origin, spacing = mosaic.origin, SPACING
    tiles = tuple(replace(t, position=(origin[0], *(o + p * s for o, p, s in
                                                    zip(origin[1:], t.pixel_offset[1:], spacing[1:]))))
                  for t in mosaic.tiles)
    mosaic = replace(mosaic, tiles=tiles, spacing=spacing)
    write_imagexpress(dict.fromkeys(well_names(wells), mosaic), folder, plate=PLATE, guid=False,
                      projection=False)
    return [[int(t.pixel_offset[1]), int(t.pixel_offset[2])] for t in tiles]


def plate_floor(export: str, wells: list[str], offsets: list[list[int]], output: str, codec: str) -> None:
    """Read each well's sites once, paste them unblended, write the well's level 0 as ngff-fuse
    writes it; wells in parallel on dask's thread count, as ngff-fuse fuses them."""
    low = np.min(offsets, axis=0)

    def one(well: str) -> None:
        mosaic = None
        for site, offset in enumerate(offsets, start=1):
            tile = tifffile.imread(Path(export) / f"{PLATE}_{well}_s{site}.tif")
            if mosaic is None:
                stop = np.max(offsets, axis=0) - low + tile.shape
                mosaic = np.zeros(tuple(int(n) for n in stop), dtype=tile.dtype)
            y, x = np.asarray(offset) - low
            mosaic[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
        target = level0_array(str(Path(output) / well_group(well)), mosaic.shape, mosaic.dtype, codec,
                              shard=bench_fuse.SHARD)
        target[...] = mosaic

    with ThreadPoolExecutor(dask.system.CPU_COUNT) as pool:
        list(pool.map(one, wells))


def plan_runs(export: Path, work: Path, wells: list[str], offsets: list[list[int]], codec: str) -> list[Run]:
    first = f"{well_group(wells[0])}/0"  # each child reports the shape of the first well's level 0
    return [
        Run("floor (read+paste+write)", {
            "kind": "call", "module": "bench_plate", "function": "plate_floor", "array": first,
            "output": str(work / "floor.zarr"), "imports": READER_IMPORTS,
            "kwargs": {"export": str(export), "wells": wells, "offsets": offsets,
                       "output": str(work / "floor.zarr"), "codec": codec}}),
        Run("ngff-fuse --levels 1", {
            "kind": "ngff-fuse", "array": first, "output": str(work / "level0.ome.zarr"),
            "imports": READER_IMPORTS, "argv": [
                "convert", str(export), str(work / "level0.ome.zarr"), "--quiet", "--overwrite",
                "--codec", codec, "--levels", "1"]}),
        Run("ngff-fuse convert (HCS)", {
            "kind": "ngff-fuse", "array": first, "output": str(work / "plate.ome.zarr"),
            "imports": READER_IMPORTS, "argv": [
                "convert", str(export), str(work / "plate.ome.zarr"), "--quiet", "--overwrite",
                "--codec", codec]}),
    ]


def print_table(runs: list[Run], results: dict[str, Result], collected: dict[str, list[Result]],
                wells: int) -> None:
    floor, level0, convert = (results[run.label] for run in runs)
    print(f"{'run':<26} {'seconds':>8} {'runs (s)':>20} {'x floor':>8} {'CPU s':>6} {'ms/well':>8} "
          f"{'peak RSS MB':>12} {'start RSS MB':>13} {'on disk MB':>11}")
    for run in runs:
        r = results[run.label]
        each = " ".join(f"{x.seconds:.1f}" for x in collected[run.label])
        print(f"{run.label:<26} {r.seconds:>8.2f} {each:>20} {r.seconds / floor.seconds:>8.2f} "
              f"{r.cpu_seconds:>6.1f} {r.seconds / wells * 1e3:>8.1f} {r.peak_rss_mb:>12.0f} "
              f"{r.start_rss_mb:>13.0f} {r.disk_mb:>11.1f}")
    print(f"\nconvert / floor: {convert.seconds / floor.seconds:.2f} (wall), "
          f"{convert.cpu_seconds / floor.cpu_seconds:.2f} (CPU)")
    for label, r in (("whole pyramid", convert), ("level 0 only", level0)):
        print(f"per-well overhead, {label}: {(r.seconds - floor.seconds) / wells * 1e3:.1f} ms wall, "
              f"{(r.cpu_seconds - floor.cpu_seconds) / wells * 1e3:.1f} ms CPU (target < 50 ms)")
    print(f"peak RSS of convert: {convert.peak_rss_mb:.0f} MB for {wells} wells")


def benchmark(args: argparse.Namespace, work: Path) -> None:
    started = time.perf_counter()
    export = work / "export"
    offsets = write_export(args.wells, args.tile_size, args.overlap, export)
    wells = well_names(args.wells)
    size = sum(f.stat().st_size for f in export.iterdir())
    print(f"input: {args.wells} wells x 2 x 2 sites of {args.tile_size}^2 uint16, overlap {args.overlap:.0%}; "
          f"MetaXpress export {size / 1e6:.0f} MB (made in {time.perf_counter() - started:.1f} s)")
    print(f"codec: {Codec.parse(args.codec)}, chunk {bench_fuse.CHUNK}, shard {bench_fuse.SHARD}, zarr v3 "
          f"(NGFF 0.5); dask threads: {dask.system.CPU_COUNT}; repeats: {args.repeat} (median)")
    print(f"load average before: {load()}")
    runs = plan_runs(export, work, wells, offsets, args.codec)
    collected: dict[str, list[Result]] = {run.label: [] for run in runs}
    for _ in range(args.repeat):
        for run in runs:  # interleaved, so drifts hit both alike
            collected[run.label].append(measure(run))
    results = {label: median_result(rs) for label, rs in collected.items()}
    shapes = {r.shape for r in results.values()}
    if len(shapes) > 1:
        print(f"warning: the floor and convert wrote wells of different shapes: {sorted(shapes)}")
    print(f"load average after: {load()} (other work on the machine slows every run)\n")
    print_table(runs, results, collected, args.wells)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wells", type=int, choices=sorted(PLATES), default=96, help="plate size (default 96)")
    parser.add_argument("--tile-size", type=int, default=1024, metavar="PX", help="site edge (default 1024)")
    parser.add_argument("--overlap", type=float, default=0.1, help="overlap fraction (default 0.1)")
    parser.add_argument("--codec", default=DEFAULT_CODEC, help=f"as ngff-fuse --codec (default {DEFAULT_CODEC})")
    parser.add_argument("--repeat", type=int, default=3, metavar="R", help="runs of each, median reported (default 3)")
    parser.add_argument("--workdir", type=Path, help="where input and outputs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the input and outputs afterwards")
    args = parser.parse_args(argv)
    with workdir(args, "bench-plate-") as work:
        benchmark(args, work)


if __name__ == "__main__":
    main()
