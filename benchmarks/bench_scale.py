"""Does ngff-fuse scale? Planning time for 10,000 tiles, and peak memory (RSS) against mosaic
size: the same fusion and pyramid for ~127 MPix and >= 1 GPix, from tiles generated lazily
(no input on disk), each in its own child process.

    python benchmarks/bench_scale.py                  # 10,000-tile plan; 127 MPix and 1.1 GPix
    python benchmarks/bench_scale.py --sizes 6 8      # grids of 2048^2 tiles to fuse
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from itertools import product
from pathlib import Path

import dask
import dask.array as da
import numpy as np

from ngff_fuse import WriteOptions, fuse, transforms, write_ngff
from ngff_fuse.model import Tile, TileSet, tile_array

SPACING = (1.0, 0.5, 0.5)
OVERLAP = 0.1


def _texture(block: np.ndarray, block_info=None, origin=(0, 0)) -> np.ndarray:
    """Microscopy-ish content as a function of global pixel position, so overlaps agree."""
    (y0, _), (x0, _) = block_info[None]["array-location"][-2:]
    y = np.arange(block.shape[-2])[:, None] + y0 + origin[0]
    x = np.arange(block.shape[-1])[None, :] + x0 + origin[1]
    field = 1000 + 400 * np.sin(y / 37.0) * np.cos(x / 53.0) + 300 * np.sin((x + y) / 11.0)
    noise = np.random.default_rng(int(y[0, 0] * 100003 + x[0, 0])).normal(0, 30, field.shape)
    return (field + noise).astype(np.uint16).reshape(block.shape)


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


def plan(grid: int, tile: int) -> dict:
    started = time.perf_counter()
    tileset = lazy_tileset(grid, tile)
    built = time.perf_counter()
    mosaic = fuse(tileset, chunk_size=(1, 2048, 2048), squeeze=False)
    planned = time.perf_counter()
    return {"tiles": grid * grid, "build_s": built - started, "plan_s": planned - built,
            "tasks": len(mosaic.data.__dask_graph__()), "chunks": int(np.prod(mosaic.data.numblocks))}


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan-grid", type=int, default=100, help="N x N small tiles to plan")
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 18],
                        help="grids of 2048^2 tiles to fuse (6: 127 MPix, 18: 1.1 GPix)")
    parser.add_argument("--threads", type=int, nargs="+", default=[None],
                        help="dask threads per conversion, e.g. 1 2 for the memory per thread")
    args = parser.parse_args(argv)
    p = in_child("plan", args.plan_grid, 256)
    print(f"planning {p['tiles']} tiles of 256^2: tiles built in {p['build_s']:.1f} s, graph in "
          f"{p['plan_s']:.2f} s, {p['tasks']} tasks for {p['chunks']} output chunks")
    print(f"{'mosaic':>10} {'threads':>7} {'MPix':>8} {'seconds':>8} {'MPix/s':>7} {'peak RSS MB':>12} "
          f"{'start RSS MB':>13}")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        for grid, threads in product(args.sizes, args.threads):
            r = in_child("convert", grid, 2048, str(Path(folder) / f"{grid}-{threads}.ome.zarr"), threads)
            print(f"{grid:>4} x {grid:<3} {threads or 'default':>7} {r['mpix']:>8.0f} {r['seconds']:>8.1f} "
                  f"{r['mpix'] / r['seconds']:>7.1f} {r['peak_rss_mb']:>12.0f} {r['start_rss_mb']:>13.0f}")


if __name__ == "__main__":
    main()
