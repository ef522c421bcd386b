"""Does ngff-fuse go faster on more dask.distributed workers? One conversion (default settings,
full pyramid) in-process on threads, then with `--workers 1` and `--workers 2` (a local
cluster of worker processes, one thread each), runs interleaved, medians compared as ratios,
and the three outputs checked byte for byte.

Each run is `ngff-fuse convert` in its own child process (as in bench_fuse.py, whose input and
child runner this reuses), so a run's time includes starting and stopping its cluster; that
start-up is also timed alone and printed. On a machine with other work running, compare the
ratios, not the seconds.

    python benchmarks/bench_workers.py                    # 9 x 9 tiles of 2048^2: ~280 MPix
    python benchmarks/bench_workers.py --grid 3 --tile-size 1024 --repeat 1   # quick check
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import bench_fuse
from bench_fuse import Result, Run

ENGINES = {"in-process threads": [], "--workers 1": ["--workers", "1"], "--workers 2": ["--workers", "2"]}
IMPORTS = ["bioio_ome_tiff", "distributed"]  # imported on first use: kept off the clock


def runs(tiff: Path, work: Path) -> list[Run]:
    """The same conversion on each engine, each into its own output."""
    return [
        Run(label, {"kind": "ngff-fuse", "output": str(work / f"out-{index}.ome.zarr"),
                    "imports": IMPORTS,
                    "argv": ["convert", str(tiff), str(work / f"out-{index}.ome.zarr"), "--quiet",
                             "--overwrite", *flags]})
        for index, (label, flags) in enumerate(ENGINES.items())
    ]


def cluster_overhead(workers: int) -> float:
    """Seconds to start and stop a local cluster of `workers` processes, doing nothing."""
    from ngff_fuse.cluster import compute_on

    started = time.perf_counter()
    with compute_on(workers=workers):
        pass
    return time.perf_counter() - started


def differing_files(a: Path, b: Path) -> list[str]:
    """Files (relative paths) present in only one store, or with different bytes."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    differ = sorted(str(f) for f in files_a ^ files_b)
    differ += sorted(str(f) for f in files_a & files_b if (a / f).read_bytes() != (b / f).read_bytes())
    return differ


def print_table(plan: list[Run], results: dict[str, Result], overhead: dict[str, float],
                same: dict[str, str], mpix: float) -> None:
    """Seconds and speed-ups as run, and without the cluster's start and stop (timed apart),
    which a long conversion or an already running cluster does not pay per run."""
    net = {run.label: results[run.label].seconds - overhead.get(run.label, 0.0) for run in plan}
    threads, one = plan[0].label, plan[1].label
    print("| run | seconds | MPix/s | speed-up vs --workers 1 | vs threads | cluster start + stop s "
          "| seconds without it | speed-up vs --workers 1 without it | output |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in plan:
        r = results[run.label]
        print(f"| {run.label} | {r.seconds:.2f} | {mpix / r.seconds:.1f} "
              f"| {results[one].seconds / r.seconds:.2f} | {results[threads].seconds / r.seconds:.2f} "
              f"| {overhead.get(run.label, 0.0):.2f} | {net[run.label]:.2f} "
              f"| {net[one] / net[run.label]:.2f} | {same[run.label]} |")


def benchmark(args: argparse.Namespace, work: Path) -> None:
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    mosaic = bench_fuse.make_mosaic(args.grid, args.tile_size, args.overlap)
    tiff = write_ome_tiff(mosaic, work / bench_fuse.INPUT_NAME)
    first, stop = mosaic.truth_extent()
    mpix = float((stop - first)[1] * (stop - first)[2]) / 1e6
    del mosaic
    print(f"input: {args.grid} x {args.grid} tiles of {args.tile_size}^2 uint16 (OME-TIFF, "
          f"{tiff.stat().st_size / 1e6:.0f} MB); mosaic {mpix:.0f} MPix; ngff-fuse defaults, full "
          f"pyramid; {args.repeat} interleaved repeats, medians")
    print(f"load average before: {bench_fuse.load()}")
    plan = runs(tiff, work)
    collected: dict[str, list[Result]] = {run.label: [] for run in plan}
    overheads: dict[str, list[float]] = {run.label: [] for run in plan[1:]}
    for _ in range(args.repeat):
        for run in plan:
            collected[run.label].append(bench_fuse.measure(run))
        for run, workers in zip(plan[1:], (1, 2)):
            overheads[run.label].append(cluster_overhead(workers))
    print(f"load average after: {bench_fuse.load()}")
    results = {label: bench_fuse.median_result(rs) for label, rs in collected.items()}
    overhead = {label: statistics.median(v) for label, v in overheads.items()}
    reference = Path(plan[0].spec["output"])
    same = {plan[0].label: "reference"}
    for run in plan[1:]:
        differ = differing_files(reference, Path(run.spec["output"]))
        same[run.label] = "byte-identical" if not differ else f"DIFFERS: {', '.join(differ[:3])}"
    print()
    print_table(plan, results, overhead, same, mpix)
    if any(label != plan[0].label and text != "byte-identical" for label, text in same.items()):
        raise SystemExit("outputs differ between engines")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=9, metavar="N", help="N x N tiles (default 9)")
    parser.add_argument("--tile-size", type=int, default=2048, metavar="PX", help="tile edge (default 2048)")
    parser.add_argument("--overlap", type=float, default=0.1, help="overlap fraction (default 0.1)")
    parser.add_argument("--repeat", type=int, default=3, metavar="R", help="runs of each, median reported")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    try:
        benchmark(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
