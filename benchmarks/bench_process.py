"""The whole `ngff-fuse convert` process, as a user times it, against the I/O floor; and start-up.

One run, side by side, interleaved, median of `--repeat`:

- start-up: `python -c "import numpy"`, `ngff-fuse --version`, `ngff-fuse convert --help`;
- per input (a tiled OME-TIFF as Bio-Formats writes it, the strip OME-TIFF `bench_fuse.py`
  writes, a TileConfiguration of plain TIFFs): the floor (`bench_fuse.io_floor`: read every tile
  once with tifffile, paste it, write level 0 with ngff-fuse's codec, chunks and shards; imports
  off the clock, the work only), then `ngff-fuse convert` as a process (interpreter start-up,
  imports, reading the metadata, fusing, every pyramid level, the summary), level 0 only
  (`--levels 1`) and the full pyramid.

    python benchmarks/bench_process.py                         # 6 x 6 tiles of 2048^2: 127 MPix
    python benchmarks/bench_process.py --grid 3 --tile-size 1024 --repeat 1   # quick check
    python benchmarks/bench_process.py --subpixel              # stage positions off the pixel grid
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import bench_fuse
import ngff_fuse

TIFF_TILE = (512, 512)  # the TIFF tile edge of the tiled input: Bio-Formats writes 512^2 or 256^2
INPUTS = ("tiled", "strips", "tileconfig")
# The process under test, forked from a bare interpreter (so its peak RSS is its own: see
# bench_fuse.CHILD) and timed from the fork to its exit, as a shell's `time` would.
WHOLE = """
import json, os, sys, time
argv, log = json.loads(sys.argv[1]), sys.argv[2]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"seconds": time.perf_counter() - started, "code": os.waitstatus_to_exitcode(status),
                  "cpu": usage.ru_utime + usage.ru_stime, "peak_kib": usage.ru_maxrss}))
"""
# what the `ngff-fuse` console script runs
ENTRY = "import sys; from ngff_fuse.cli import main; sys.exit(main())"


@dataclass(frozen=True)
class Timed:
    seconds: float
    cpu_seconds: float
    peak_rss_mb: float


def environment() -> dict[str, str]:
    """This source tree first on the children's path, as the editable install may be another."""
    root = str(Path(ngff_fuse.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}


def whole_process(argv: list[str], log: Path) -> Timed:
    """`argv` run as a process of its own, its output to `log`; exit status checked."""
    done = subprocess.run([sys.executable, "-c", WHOLE, json.dumps(argv), str(log)],
                          capture_output=True, text=True, env=environment())
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["code"]:
        sys.exit(f"{' '.join(argv)} failed (exit {report['code']}):\n{log.read_text()}")
    return Timed(report["seconds"], report["cpu"], report["peak_kib"] / 1024)


def ngff_fuse_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", ENTRY, *args]


def write_inputs(mosaic, work: Path, kinds: tuple[str, ...]) -> dict[str, tuple[Path, list[list]]]:
    """Each input kind: the path to convert and the [file, series] of every tile, in tile order."""
    from ngff_fuse.testing.ome_tiff import write_ome_tiff
    from ngff_fuse.testing.tile_files import write_tileconfig

    made = {}
    count = len(mosaic.tiles)
    if "tiled" in kinds:
        path = write_ome_tiff(mosaic, work / "tiled.ome.tif", tile=TIFF_TILE)
        made["tiled"] = (path, [[str(path), i] for i in range(count)])
    if "strips" in kinds:
        path = write_ome_tiff(mosaic, work / "strips.ome.tif")
        made["strips"] = (path, [[str(path), i] for i in range(count)])
    if "tileconfig" in kinds:
        path = write_tileconfig(mosaic, work / "tileconfig")
        made["tileconfig"] = (path, [[str(work / "tileconfig" / f"tile_{i:03d}.tif"), 0] for i in range(count)])
    return made


def startup(work: Path, repeat: int) -> dict[str, list[float]]:
    runs = {
        'python -c "import numpy"': [sys.executable, "-c", "import numpy"],
        "ngff-fuse --version": ngff_fuse_argv("--version"),
        "ngff-fuse convert --help": ngff_fuse_argv("convert", "--help"),
    }
    seconds: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeat):
        for label, argv in runs.items():
            seconds[label].append(whole_process(argv, work / "startup.log").seconds)
    return seconds


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}" if len(values) > 1 else "-"


def convert_runs(path: Path, work: Path, kind: str, codec: str) -> dict[str, tuple[list[str], Path]]:
    """Each convert run's argv and output (removed before the run, off the clock)."""
    level0, pyramid = work / f"{kind}-level0.ome.zarr", work / f"{kind}-pyramid.ome.zarr"
    return {
        "level 0 (--levels 1)": (ngff_fuse_argv("convert", str(path), str(level0), "--levels", "1",
                                                "--codec", codec), level0),
        "full pyramid": (ngff_fuse_argv("convert", str(path), str(pyramid), "--codec", codec), pyramid),
    }


def benchmark(args: argparse.Namespace, work: Path) -> None:
    started = time.perf_counter()
    mosaic = bench_fuse.make_mosaic(args.grid, args.tile_size, args.overlap, args.subpixel)
    offsets = [[int(t.pixel_offset[1]), int(t.pixel_offset[2])] for t in mosaic.tiles]  # floored
    first, stop = mosaic.truth_extent()
    shape = tuple(int(n) for n in (stop - first)[1:])
    inputs = write_inputs(mosaic, work, tuple(args.inputs))
    del mosaic
    mpix = shape[0] * shape[1] / 1e6
    print(f"input: {args.grid} x {args.grid} tiles of {args.tile_size}^2 uint16, overlap {args.overlap:.0%}"
          f"{', positions off the pixel grid (the floor pastes at whole pixels)' if args.subpixel else ''}; "
          f"as {', '.join(args.inputs)} (TIFF tiles {TIFF_TILE[0]}^2), made in {time.perf_counter() - started:.0f} s")
    print(f"mosaic: {shape[0]} x {shape[1]} = {mpix:.1f} MPix; codec {args.codec}, chunk {bench_fuse.CHUNK}, "
          f"shard {bench_fuse.SHARD}; repeats {args.repeat} (interleaved, medians)")
    print(f"load average before: {bench_fuse.load()}")

    boot = startup(work, max(args.repeat, 5))
    numpy_s = statistics.median(boot['python -c "import numpy"'])
    print("\nstart-up (whole process, median; target: within 3x numpy)")
    print(f"{'command':<28} {'seconds':>8} {'x numpy':>8} {'range s':>10}")
    for label, values in boot.items():
        print(f"{label:<28} {statistics.median(values):>8.2f} {statistics.median(values) / numpy_s:>8.2f} "
              f"{spread(values):>10}")

    floors = {kind: bench_fuse.Run(f"floor {kind}", {
        "kind": "floor", "sources": sources, "offsets": offsets, "codec": args.codec,
        "output": str(work / f"{kind}-floor.zarr")}) for kind, (_, sources) in inputs.items()}
    floor_s: dict[str, list[float]] = {kind: [] for kind in inputs}
    floor_cpu: dict[str, list[float]] = {kind: [] for kind in inputs}
    runs = {kind: convert_runs(path, work, kind, args.codec) for kind, (path, _) in inputs.items()}
    timed: dict[tuple[str, str], list[Timed]] = {(k, label): [] for k in runs for label in runs[k]}
    for _ in range(args.repeat):
        for kind in inputs:
            floor = bench_fuse.measure(floors[kind])
            floor_s[kind].append(floor.seconds)
            floor_cpu[kind].append(floor.cpu_seconds)
            for label, (argv, output) in runs[kind].items():
                bench_fuse.remove(output)
                timed[kind, label].append(whole_process(argv, work / f"{kind}.log"))
    print(f"load average after: {bench_fuse.load()} (other work on the machine slows every run: compare "
          "the ratios, each taken within one repeat)")

    print("\nwhole `ngff-fuse convert` process vs. the floor's work (target: full pyramid within 1.3x)")
    print(f"{'input':<11} {'run':<22} {'seconds':>8} {'MPix/s':>7} {'x floor':>8} {'range':>10} "
          f"{'CPU s':>6} {'CPU x floor':>11} {'peak RSS MB':>12}")
    for kind in inputs:
        floor = statistics.median(floor_s[kind])
        print(f"{kind:<11} {'floor (work only)':<22} {floor:>8.2f} {mpix / floor:>7.1f} {1:>8.2f} "
              f"{spread(floor_s[kind]):>10} {statistics.median(floor_cpu[kind]):>6.1f} {1:>11.2f}")
        for label in runs[kind]:
            results = timed[kind, label]
            ratios = [r.seconds / f for r, f in zip(results, floor_s[kind])]
            cpu_ratios = [r.cpu_seconds / f for r, f in zip(results, floor_cpu[kind])]
            seconds = statistics.median(r.seconds for r in results)
            print(f"{'':<11} {label:<22} {seconds:>8.2f} {mpix / seconds:>7.1f} {statistics.median(ratios):>8.2f} "
                  f"{spread(ratios):>10} {statistics.median(r.cpu_seconds for r in results):>6.1f} "
                  f"{statistics.median(cpu_ratios):>11.2f} {statistics.median(r.peak_rss_mb for r in results):>12.0f}")
    last_log = work / f"{list(inputs)[-1]}.log"
    print(f"\nthe last run's summary ({list(inputs)[-1]}, full pyramid):")
    print("".join(f"  {line}\n" for line in last_log.read_text().splitlines() if line.strip())[-1500:])


def main(argv: list[str] | None = None) -> None:
    args = bench_fuse.parse_args(argv, doc=__doc__, grid=6, repeat=3, more=lambda parser: parser.add_argument(
        "--inputs", nargs="+", choices=INPUTS, default=list(INPUTS), help="which inputs (default: all)"))
    with bench_fuse.workdir(args, "bench-process-") as work:
        benchmark(args, work)


if __name__ == "__main__":
    main()
