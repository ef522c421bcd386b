"""How close is ngff-fuse to the I/O floor? One run, three measurements, side by side.

1. floor:   read each tile once, paste it at its integer position (no blending), write level 0
            with the same codec, chunks and zarr format as ngff-fuse, compressed by dask threads;
2. level 0: `ngff-fuse convert INPUT OUT --levels 1` (feather blend, level 0 only);
3. pyramid: `ngff-fuse convert INPUT OUT` (end to end, every level).

Each measurement runs in its own child process, which reports its wall time and peak RSS, so
memory figures never mix. The input OME-TIFF is written once, before any timing.

    python benchmarks/bench_fuse.py                     # 7 x 7 tiles of 2048^2: ~172 MPix
    python benchmarks/bench_fuse.py --grid 3 --tile-size 1024 --repeat 3
    python benchmarks/bench_fuse.py --subpixel          # positions off the pixel grid
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING

import dask.array as da
import dask.system
from dask.array.core import normalize_chunks, slices_from_chunks
import numpy as np
import tifffile
import zarr

from ngff_fuse.codecs import DEFAULT_CODEC, Codec
from ngff_fuse.errors import InputError
from ngff_fuse.writer import SHARD_CHUNKS

if TYPE_CHECKING:
    from ngff_fuse.testing import SyntheticMosaic

JITTER = 3  # px: stage positions are off their grid by up to this, in whole pixels
SPACING = (1.0, 0.65, 0.65)  # um (z, y, x)
ORIGIN = (0.0, -5210.4, 12873.9)  # um: a stage origin far from zero, as on a real scope
TEXTURE_EDGE = 2048  # px: one ground-truth image, mirrored to cover the mosaic
CHUNK = 1024  # ngff-fuse's default --chunk
SHARD = SHARD_CHUNKS * CHUNK  # ngff-fuse's default shard for NGFF 0.5 (zarr v3)
READER_IMPORTS = ["ngff_fuse.convert", "ngff_fuse.readers.ome_tiff"]  # imported before the clock: the work only
INPUT_NAME = "tiles.ome.tif"
OUTPUT_NAMES = {"floor": "floor.zarr", "level0": "level0.ome.zarr", "pyramid": "pyramid.ome.zarr"}
# Linux carries a process's peak RSS across exec, so a child started by this (large) parent
# would report the parent's peak as its own ru_maxrss. The child therefore forks once, while it
# is still a bare interpreter, and the grandchild, whose count starts afresh, does the work.
CHILD = """
import os, sys
pid = os.fork()
if pid:
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
sys.path.insert(0, {here!r})
import bench_fuse
bench_fuse.child(sys.argv[1])
"""


@dataclass(frozen=True)
class Run:
    """One of the three measurements: a label and the child's job description."""

    label: str
    spec: dict


@dataclass(frozen=True)
class Result:
    seconds: float
    cpu_seconds: float  # user + system, of the timed work: cpu / seconds = busy cores
    start_rss_mb: float  # the interpreter and imports, before the timed work
    peak_rss_mb: float
    disk_mb: float
    shape: tuple[int, ...]
    setup_seconds: float = 0.0  # imports done before the clock starts (paid once per CLI call)


# --- input: built in the parent only ------------------------------------------------------


def texture(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A mosaic-sized microscopy-like field for the cost of one 2048^2 ground truth.

    Mirroring (not periodic tiling) keeps the field continuous; with a tile step that is not
    a multiple of the mirror period, every tile still shows different pixels.
    """
    from ngff_fuse.testing import ground_truth  # scipy: keep it out of the children's RSS

    base = ground_truth((1, 1, 1, TEXTURE_EDGE, TEXTURE_EDGE), seed=seed)[0, 0, 0]
    pad = [(0, max(0, n - TEXTURE_EDGE)) for n in shape]
    return np.pad(base, pad, mode="symmetric")[: shape[0], : shape[1]]


def tile_offsets(grid: int, tile: int, overlap: float, seed: int = 1) -> list[tuple[int, int]]:
    """Integer (y, x) pixel offsets of a jittered grid, so the floor's paste is exact."""
    rng = np.random.default_rng(seed)
    step = round(tile * (1 - overlap))
    margin = JITTER + 2
    return [
        tuple(margin + i * step + int(j) for i, j in zip(index, rng.integers(-JITTER, JITTER + 1, 2)))
        for index in np.ndindex(grid, grid)
    ]


def make_mosaic(grid: int, tile: int, overlap: float, subpixel: bool = False) -> SyntheticMosaic:
    """A SyntheticMosaic of grid x grid 2-D uint16 tiles cut from one field, so overlaps agree.

    With `subpixel`, each tile's stage position gains a random fraction of a pixel (its pixels
    stay those at the whole-pixel offset): ngff-fuse then resamples every tile."""
    from ngff_fuse.testing import SyntheticMosaic, SyntheticTile

    offsets = tile_offsets(grid, tile, overlap)
    extent = [max(o[a] for o in offsets) + tile + JITTER + 2 for a in range(2)]
    field = texture((extent[0], extent[1]))
    fractions = np.random.default_rng(2).uniform(0.05, 0.95, (len(offsets), 2)) * subpixel
    tiles = tuple(
        SyntheticTile(
            data=field[None, None, None, y : y + tile, x : x + tile],
            position=(ORIGIN[0], ORIGIN[1] + (y + fy) * SPACING[1], ORIGIN[2] + (x + fx) * SPACING[2]),
            pixel_offset=(0.0, y + fy, x + fx),
        )
        for (y, x), (fy, fx) in zip(offsets, fractions)
    )
    return SyntheticMosaic(truth=field[None, None, None], tiles=tiles, spacing=SPACING,
                           origin=ORIGIN, channel_names=("Ch0-488",))


# --- the children ---------------------------------------------------------------------------


def io_floor(sources: list[list], offsets: list[list[int]], out: str, codec: str) -> None:
    """Read each tile once, paste it unblended, write level 0 as ngff-fuse writes it.

    `sources` holds one [path, series] per tile; each file is parsed once."""
    low = np.min(offsets, axis=0)
    files: dict[str, tifffile.TiffFile] = {}
    mosaic = None
    try:
        for (path, series), offset in zip(sources, offsets):
            tif = files.setdefault(path, tifffile.TiffFile(path))
            tile = tif.series[series].asarray()
            tile = tile.reshape(tile.shape[-2:])
            if mosaic is None:
                stop = np.max(offsets, axis=0) - low + tile.shape
                mosaic = np.zeros(tuple(int(n) for n in stop), dtype=tile.dtype)
            y, x = np.asarray(offset) - low
            mosaic[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    finally:
        for tif in files.values():
            tif.close()
    # ngff-fuse computes with dask's default threaded scheduler: use the same pool here, one
    # task per shard as ngff-fuse writes (two tasks never share a shard).
    target = level0_array(out, mosaic.shape, mosaic.dtype, codec, shard=SHARD)
    da.store(chunked(mosaic, SHARD), target, lock=False, scheduler="threads")


def level0_array(out: str, shape: tuple[int, ...], dtype: np.dtype, codec: str,
                 shard: int | None = None) -> zarr.Array:
    """An empty 2-D level 0 at `out`/0 with ngff-fuse's codec, chunks and zarr format, and
    shards of `shard`^2 pixels (ngff-fuse's default layout: `SHARD`) if given."""
    group = zarr.open_group(out, mode="w", zarr_format=3)
    return group.create_array(
        name="0", shape=shape, dtype=dtype, chunks=(CHUNK, CHUNK), fill_value=0,
        shards=None if shard is None else (shard, shard),
        compressors=Codec.parse(codec).zarr_v3(np.dtype(dtype).itemsize), dimension_names=("y", "x"),
    )


def chunked(mosaic: np.ndarray, chunk: int) -> da.Array:
    """A dask array whose blocks are views of `mosaic`: da.from_array would copy it first."""
    chunks = normalize_chunks(chunk, mosaic.shape)
    name = "floor-mosaic"
    keys = product([name], *(range(len(c)) for c in chunks))
    blocks = (mosaic[index] for index in slices_from_chunks(chunks))
    return da.Array(dict(zip(keys, blocks)), name, chunks, dtype=mosaic.dtype)


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def job(spec: dict) -> Callable[[], int | None]:
    """The child's work as one call, its imports done, so the clock sees only the work."""
    for name in spec.get("imports", ()):  # heavy imports the work would make lazily
        importlib.import_module(name)
    if spec["kind"] == "floor":
        return lambda: io_floor(spec["sources"], spec["offsets"], spec["output"], spec["codec"])
    if spec["kind"] == "call":  # another benchmark's baseline: module.function(**kwargs)
        module = importlib.import_module(spec["module"])
        return lambda: getattr(module, spec["function"])(**spec["kwargs"])
    from ngff_fuse.cli import main

    return lambda: main(spec["argv"])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(spec_json: str) -> None:
    """Entry point of a child process: do one job, print one JSON line about it."""
    spec = json.loads(spec_json)
    setup = time.perf_counter()
    work = job(spec)
    setup = time.perf_counter() - setup
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu, started = cpu_seconds(), time.perf_counter()
    code = work()
    if code:
        sys.exit(code)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    out = Path(spec["output"])
    print(json.dumps({
        "seconds": seconds,
        "cpu_seconds": cpu,
        "setup_seconds": setup,
        "start_rss_kib": start_rss,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "disk_bytes": disk_bytes(out),
        "shape": zarr.open_array(out / spec.get("array", "0"), mode="r").shape,
    }))


def measure(run: Run, fresh: bool = True) -> Result:
    """Run one job in a fresh interpreter; its output is deleted first, outside the clock,
    unless the job continues it (`fresh=False`)."""
    if fresh:
        remove(Path(run.spec["output"]))
    code = CHILD.format(here=str(Path(__file__).resolve().parent))
    done = subprocess.run([sys.executable, "-c", code, json.dumps(run.spec)],
                          capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"{run.label} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return Result(
        seconds=report["seconds"], cpu_seconds=report["cpu_seconds"],
        start_rss_mb=report["start_rss_kib"] / 1024, peak_rss_mb=report["peak_rss_kib"] / 1024,
        disk_mb=report["disk_bytes"] / 1e6, shape=tuple(report["shape"]),
        setup_seconds=report["setup_seconds"],
    )


# --- the parent -----------------------------------------------------------------------------


def variant_output(index: int) -> str:
    return f"variant-{index}.ome.zarr"


def plan_runs(tiff: Path, work: Path, offsets: list[list[int]], codec: str,
              variants: tuple[str, ...] = ()) -> list[Run]:
    """The three measurements, on the same input, codec and chunking, then one full convert
    per `--variant` (other chunk, shard or codec options: how the defaults were chosen)."""
    out = {key: str(work / name) for key, name in OUTPUT_NAMES.items()}
    common = ["--quiet", "--overwrite", "--codec", codec]
    extra = [
        Run(f"ngff-fuse {options}", {"kind": "ngff-fuse", "output": str(work / variant_output(i)),
                                     "imports": READER_IMPORTS, "argv": [
            "convert", str(tiff), str(work / variant_output(i)), *common, *shlex.split(options)]})
        for i, options in enumerate(variants)
    ]
    return [
        Run("floor (read+paste+write)", {"kind": "floor", "sources": [[str(tiff), i] for i in range(len(offsets))],
                                         "offsets": offsets, "output": out["floor"], "codec": codec}),
        Run("ngff-fuse --levels 1", {"kind": "ngff-fuse", "output": out["level0"],
                                     "imports": READER_IMPORTS, "argv": [
            "convert", str(tiff), out["level0"], "--levels", "1", *common]}),
        Run("ngff-fuse (full pyramid)", {"kind": "ngff-fuse", "output": out["pyramid"],
                                         "imports": READER_IMPORTS, "argv": [
            "convert", str(tiff), out["pyramid"], *common]}),
        *extra,
    ]


def median_result(results: list[Result]) -> Result:
    return Result(
        statistics.median(r.seconds for r in results),
        statistics.median(r.cpu_seconds for r in results),
        statistics.median(r.start_rss_mb for r in results),
        statistics.median(r.peak_rss_mb for r in results),
        statistics.median(r.disk_mb for r in results),
        results[0].shape,
        statistics.median(r.setup_seconds for r in results),
    )


def print_table(runs: list[Run], results: dict[str, Result], mpix: float) -> None:
    """One row per run; `x floor` compares wall times, `CPU x floor` CPU seconds, which other
    work on a shared machine distorts less."""
    floor = results[runs[0].label]
    print(f"{'run':<26} {'MPix/s':>7} {'seconds':>8} {'x floor':>8} {'CPU s':>6} {'CPU x floor':>12} "
          f"{'peak RSS MB':>12} {'start RSS MB':>13} {'setup s':>8} {'on disk MB':>11}")
    for run in runs:
        r = results[run.label]
        print(f"{run.label:<26} {mpix / r.seconds:>7.1f} {r.seconds:>8.2f} {r.seconds / floor.seconds:>8.2f} "
              f"{r.cpu_seconds:>6.1f} {r.cpu_seconds / floor.cpu_seconds:>12.2f} {r.peak_rss_mb:>12.0f} "
              f"{r.start_rss_mb:>13.0f} {r.setup_seconds:>8.2f} {r.disk_mb:>11.1f}")


def benchmark(args: argparse.Namespace, work: Path) -> None:
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    started = time.perf_counter()
    mosaic = make_mosaic(args.grid, args.tile_size, args.overlap, args.subpixel)
    tiff = write_ome_tiff(mosaic, work / INPUT_NAME)
    offsets = [[int(t.pixel_offset[1]), int(t.pixel_offset[2])] for t in mosaic.tiles]  # floored
    first, stop = mosaic.truth_extent()
    shape = tuple(int(n) for n in (stop - first)[1:])
    del mosaic
    mpix = shape[0] * shape[1] / 1e6
    print(f"input: {args.grid} x {args.grid} tiles of {args.tile_size}^2 uint16, overlap "
          f"{args.overlap:.0%}, jitter +-{JITTER} px"
          f"{' plus a fraction of a pixel (the floor pastes at whole pixels)' if args.subpixel else ''}; "
          f"OME-TIFF {tiff.stat().st_size / 1e6:.0f} MB (made in {time.perf_counter() - started:.1f} s)")
    print(f"mosaic: {shape[0]} x {shape[1]} = {mpix:.1f} MPix ({mpix * 2:.0f} MB uncompressed)")
    print(f"codec: {Codec.parse(args.codec)}, chunk {CHUNK} x {CHUNK}, shard {SHARD} x {SHARD}, "
          f"zarr v3 (NGFF 0.5); dask threads: {dask.system.CPU_COUNT}; repeats: {args.repeat} (median)")
    print(f"load average before: {load()}")

    runs = plan_runs(tiff, work, offsets, args.codec, tuple(args.variant or ()))
    collected: dict[str, list[Result]] = {run.label: [] for run in runs}
    for _ in range(args.repeat):
        for run in runs:  # interleaved, so drifts (page cache, thermal) hit all runs alike
            collected[run.label].append(measure(run))
    results = {label: median_result(rs) for label, rs in collected.items()}
    for label, r in results.items():
        if r.shape != shape and not args.subpixel:  # sub-pixel positions may add a row
            print(f"warning: {label} wrote level 0 of shape {r.shape}, expected {shape}")
    print(f"load average after: {load()} (other work on the machine slows every run; compare "
          "the ratios)")
    print()
    print_table(runs, results, mpix)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def parse_args(argv: list[str] | None = None, doc: str = __doc__, grid: int = 7, repeat: int = 1,
               more: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """This benchmark's options; other benchmarks on the same input pass their own doc and
    defaults, and `more` adds their own options."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    if more is not None:
        more(parser)
    parser.add_argument("--grid", type=int, default=grid, metavar="N", help=f"N x N tiles (default {grid})")
    parser.add_argument("--tile-size", type=int, default=2048, metavar="PX", help="tile edge (default 2048)")
    parser.add_argument("--overlap", type=float, default=0.1, help="overlap fraction (default 0.1)")
    parser.add_argument("--subpixel", action="store_true",
                        help="stage positions off the pixel grid: ngff-fuse resamples every tile")
    parser.add_argument("--codec", default=DEFAULT_CODEC, help=f"as ngff-fuse --codec (default {DEFAULT_CODEC})")
    parser.add_argument("--repeat", type=int, default=repeat, metavar="R",
                        help=f"runs of each, median reported (default {repeat})")
    parser.add_argument("--workdir", type=Path, help="where input and outputs go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the input and outputs afterwards")
    parser.add_argument("--variant", action="append", metavar="OPTIONS",
                        help="also time a full convert with these options, e.g. --variant='--shard 0' "
                             "(repeatable; later options win over the codec above)")
    args = parser.parse_args(argv)
    try:
        Codec.parse(args.codec)  # fail now, not after writing the input
    except InputError as exc:
        parser.error(str(exc))
    return args


@contextmanager
def workdir(args: argparse.Namespace, prefix: str) -> Iterator[Path]:
    """--workdir (its files are the caller's to remove), or a temp dir removed at the end;
    with --keep, nothing is removed and the place is printed."""
    work = Path(tempfile.mkdtemp(prefix=prefix)) if args.workdir is None else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work
    finally:
        if args.keep:
            print(f"kept: {work}")
        elif args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with workdir(args, "bench-fuse-") as work:
        try:
            benchmark(args, work)
        finally:
            if args.workdir is not None and not args.keep:
                variants = [variant_output(i) for i in range(len(args.variant or ()))]
                for name in (INPUT_NAME, *OUTPUT_NAMES.values(), *variants):
                    remove(work / name)


if __name__ == "__main__":
    main()
