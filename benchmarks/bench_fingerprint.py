"""What does recording the inputs cost? `fingerprint.file_records` (size, mtime, CRC-32 of the
first 64 KiB plus sampled blocks) and `fingerprint.changed_input` (the re-check before the
metadata) on many small tile files, against a plain `os.stat` of each.

    python benchmarks/bench_fingerprint.py                          # 10,000 files of 50-170 kB
    python benchmarks/bench_fingerprint.py --files 2000 --size 8000000

Files are written first, so they are read from the page cache: the figures are the CPU and
system-call cost, not the disk's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from ngff_fuse.fingerprint import changed_input, file_records


def timed(function, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=0, help="bytes per file (default 50-170 kB)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-fingerprint-") as folder:
        data = os.urandom(max(args.size, 170_000))
        paths = []
        for i in range(args.files):
            path = Path(folder) / f"tile_{i:05d}.tif"
            path.write_bytes(data[: args.size or 50_000 + (i % 7) * 20_000])
            paths.append(path)
        print(f"{args.files} files, {sum(p.stat().st_size for p in paths) / 1e6:.0f} MB, "
              f"load {os.getloadavg()[0]:.1f}")
        stat = timed(lambda: [os.stat(p) for p in paths], args.repeat)
        record = timed(lambda: file_records(paths), args.repeat)
        records = file_records(paths)
        recheck = timed(lambda: changed_input(records), args.repeat)
        for name, seconds in (("os.stat", stat), ("file_records", record), ("changed_input", recheck)):
            print(f"  {name:14s} {seconds:6.2f} s  ({seconds / args.files * 1e6:5.0f} us a file)")


if __name__ == "__main__":
    main()
