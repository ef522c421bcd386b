"""A long run: does ngff-fuse stay flat? A ~10 GPix mosaic of 2048^2 tiles generated lazily (no
input files, `bench_scale.lazy_tileset`), fused and written with the full pyramid in a child
process, while this process samples, once a second, the child's resident memory and how much of
level 0 is on disk. It checks that memory stays flat (the last third's peak within 10 % of the
first third's, after the first 10 %) and that the throughput of the last minute is within 10 %
of the first minute's (thirds of the run when it is shorter than two minutes).

    python benchmarks/bench_longrun.py                 # 55 x 55 tiles: ~10.3 GPix, ~10 min quiet
    python benchmarks/bench_longrun.py --grid 20       # ~1.4 GPix, a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_scale

CHILD = """
import sys, json
sys.path.insert(0, {here!r})
import bench_scale
print(json.dumps(bench_scale.convert({grid}, {tile}, {out!r})))
"""
BLOCK = 2048  # ngff-fuse's default NGFF 0.5 write block: one shard of 2 x 2 chunks of 1024^2


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def level0_mpix(out: Path, edge: int) -> float:
    """Level-0 pixels written so far, counted as whole blocks (one file per shard)."""
    level = out / "0" / "c"
    if not level.is_dir():
        return 0.0
    files = sum(1 for _, _, names in os.walk(level) for name in names if not name.endswith(".partial"))
    return files * edge * edge / 1e6


def rate(samples: list[tuple[float, float, float]], start: float, stop: float) -> float:
    """MPix/s of level 0 between seconds `start` and `stop` of the run."""
    inside = [s for s in samples if start <= s[0] <= stop]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return float("nan")
    return (inside[-1][2] - inside[0][2]) / (inside[-1][0] - inside[0][0])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=55, help="N x N tiles of 2048^2 (55: ~10 GPix)")
    parser.add_argument("--workdir", type=Path, help="where the output goes (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-longrun-", dir=args.workdir))
    out = work / "long.ome.zarr"
    code = CHILD.format(here=str(Path(__file__).resolve().parent), grid=args.grid, tile=2048, out=str(out))
    step = int(2048 * (1 - bench_scale.OVERLAP))
    edge = step * (args.grid - 1) + 2048
    print(f"mosaic: {args.grid} x {args.grid} tiles of 2048^2, {edge} x {edge} px = {edge * edge / 1e9:.2f} GPix, "
          f"generated lazily; load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    samples: list[tuple[float, float, float]] = []  # (seconds, RSS MB, level-0 MPix)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        while child.poll() is None:
            rss = rss_mb(child.pid)
            if rss is not None:
                samples.append((time.perf_counter() - started, rss, level0_mpix(out, BLOCK)))
            time.sleep(1.0)
        stdout, stderr = child.communicate()
    finally:
        if child.poll() is None:
            child.kill()
        shutil.rmtree(work, ignore_errors=True)
    if child.returncode:
        sys.exit(f"the conversion failed (exit {child.returncode}):\n{stderr}")
    report = json.loads(stdout.strip().splitlines()[-1])
    total = report["seconds"]
    window = 60.0 if total >= 120 else total / 3
    first, last = rate(samples, 0, window), rate(samples, total - window, total)
    rss = [s[1] for s in samples]
    settled = [s for s in samples if s[0] >= total * 0.1]
    thirds = len(settled) // 3
    early = max(s[1] for s in settled[:thirds]) if thirds else float("nan")
    late = max(s[1] for s in settled[-thirds:]) if thirds else float("nan")
    print(f"wrote {report['mpix']:.0f} MPix (level 0) with the full pyramid in {total:.0f} s: "
          f"{report['mpix'] / total:.1f} MPix/s; {len(samples)} samples; load average after: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"memory (RSS, MB): median {statistics.median(rss):.0f}, peak {max(rss):.0f}; peak of the first "
          f"third {early:.0f}, of the last third {late:.0f} (after the first 10 %): "
          f"{'flat' if late <= early * 1.1 else 'GROWING'}")
    print(f"throughput (level 0, MPix/s): first {window:.0f} s {first:.1f}, last {window:.0f} s {last:.1f}, "
          f"ratio {last / first:.2f}: {'within 10 %' if abs(last / first - 1) <= 0.1 else 'NOT within 10 %'}")
    print("(counted from whole level-0 shards on disk, sampled each second: the edges of each window "
          "are uncertain by one shard)")


if __name__ == "__main__":
    main()
