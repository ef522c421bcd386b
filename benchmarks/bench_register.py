"""How fast and how lean is registration on a large grid? Links per second, seconds, peak RSS.

A grid x grid mosaic of tile^2 uint16 tiles is generated lazily: every tile is a dask array
whose 128^2 blocks are cut from one smooth 2048^2 ground truth (mirrored to cover the mosaic)
plus shot-noise-sized noise cut from a 2048^2 noise field at a random offset per tile, so
overlapping tiles agree in content but not in noise, and reading an overlap computes only the
blocks it touches (a few index lookups: the figures are registration's, not the generator's).
Stage positions are the true ones plus a uniform error of up to +-ERROR px per axis.
`ngff_fuse.register.register` runs in a child process, which reports its wall time and peak
RSS (so the parent's memory never counts), and the refined positions are compared with the
truth.

    python benchmarks/bench_register.py                   # 20 x 20 tiles of 512^2, 10 % overlap
    python benchmarks/bench_register.py --grid 40 --tile-size 256
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TEXTURE_EDGE = 2048  # px: one ground truth, mirrored to cover the mosaic
BLOCK = 128  # px: the lazily generated blocks of every tile
ERROR = 15.0  # px: stage error, uniform in [-ERROR, ERROR] per axis
SPACING = (1.0, 0.65, 0.65)  # um (z, y, x)
# As in bench_fuse.py: Linux carries a process's peak RSS across exec, so the child forks once
# while still a bare interpreter and the grandchild, whose count starts afresh, does the work.
CHILD = """
import os, sys
pid = os.fork()
if pid:
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
sys.path.insert(0, {here!r})
import bench_register
bench_register.child(open(sys.argv[1]).read())
"""


def mirrored(index: np.ndarray, n: int) -> np.ndarray:
    """Indices into an axis of length n, reflected at both ends, for any integer index."""
    index = np.mod(index, 2 * n)
    return np.where(index < n, index, 2 * n - 1 - index)


def lazy_tile(texture: np.ndarray, noise: np.ndarray, y0: int, x0: int, size: int, seed: int):
    """A (1, 1, 1, size, size) uint16 dask array: texture[y0:, x0:] plus noise with the
    variance of shot noise, from a place in the noise field that is this tile's own."""
    import dask.array as da

    ny, nx = np.random.default_rng(seed).integers(0, noise.shape[0], 2)

    def block(block_info=None) -> np.ndarray:
        (ya, yb), (xa, xb) = block_info[None]["array-location"][3:]
        signal = texture[np.ix_(mirrored(np.arange(ya, yb) + y0, texture.shape[0]),
                                mirrored(np.arange(xa, xb) + x0, texture.shape[1]))]
        spread = noise[np.ix_(mirrored(np.arange(ya, yb) + ny, noise.shape[0]),
                              mirrored(np.arange(xa, xb) + nx, noise.shape[1]))]
        pixels = signal + np.sqrt(signal) * spread
        return np.clip(np.rint(pixels), 0, 65535).astype(np.uint16)[None, None, None]

    chunks = tuple(min(BLOCK, size - i) for i in range(0, size, BLOCK))
    # A fixed name and meta: dask would otherwise hash the fields (reading them whole) for a
    # name and call `block` to guess the meta.
    return da.map_blocks(block, chunks=((1,), (1,), (1,), chunks, chunks), dtype=np.uint16,
                         meta=np.empty((0,) * 5, dtype=np.uint16), name=f"bench-tile-{seed}")


def layout(grid: int, tile: int, overlap: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """True integer (y, x) pixel offsets of a jittered grid, and stage offsets with errors."""
    rng = np.random.default_rng(seed)
    step = round(tile * (1 - overlap))
    index = np.array(list(np.ndindex(grid, grid)))
    truth = index * step + rng.integers(-3, 4, size=index.shape)
    stage = truth + rng.uniform(-ERROR, ERROR, size=index.shape)
    return truth, stage


def child(spec_json: str) -> None:
    """Build the lazy tile set, register it, print one JSON line about it."""
    from ngff_fuse import transforms
    from ngff_fuse.model import Tile, TileSet, TileSource, tile_array
    from ngff_fuse.register import register

    spec = json.loads(spec_json)
    texture = np.load(spec["texture"], mmap_mode="r")
    noise = np.load(spec["noise"], mmap_mode="r")
    truth, stage = (np.array(spec[key]) for key in ("truth", "stage"))
    tiles = []
    for i, ((ty, tx), (sy, sx)) in enumerate(zip(truth, stage)):
        origin = (0.0, sy * SPACING[1], sx * SPACING[2])
        data = lazy_tile(texture, noise, int(ty), int(tx), spec["tile"], seed=i)
        tiles.append(Tile(data=tile_array(data, SPACING, origin, f"tile {i}"),
                          affine=transforms.placement(SPACING, origin), name=f"tile {i}",
                          source=TileSource(f"generated tile {i}")))
    tileset = TileSet(tiles=tuple(tiles), spacing=SPACING, dims=("y", "x"), name="bench")
    start_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = register(tileset, workers=spec["workers"])
    seconds = time.perf_counter() - started
    refined = np.array([t.origin[1:] for t in result.tileset.tiles]) / SPACING[1:]
    error = refined - truth
    error -= error.mean(axis=0)
    print(json.dumps({
        "seconds": seconds,
        "links": len(result.links),
        "accepted": result.accepted_links,
        "nulls": len(result.null_scores),
        "threshold": result.score_threshold,
        "rms_px": float(np.sqrt(np.mean(np.sum(error**2, axis=1)))),
        "max_px": float(np.max(np.linalg.norm(error, axis=1))),
        "start_rss_kib": start_rss,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=20, metavar="N", help="N x N tiles (default 20)")
    parser.add_argument("--tile-size", type=int, default=512, metavar="PX",
                        help="tile edge (default 512)")
    parser.add_argument("--overlap", type=float, default=0.1, help="overlap fraction (default 0.1)")
    parser.add_argument("--workers", type=int, help="threads (default: one per core)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from ngff_fuse.testing import ground_truth

    args = parse_args(argv)
    truth, stage = layout(args.grid, args.tile_size, args.overlap)
    with tempfile.TemporaryDirectory(prefix="bench-register-") as work:
        texture, noise = Path(work) / "texture.npy", Path(work) / "noise.npy"
        edge = (1, 1, 1, TEXTURE_EDGE, TEXTURE_EDGE)
        np.save(texture, ground_truth(edge, dtype=np.uint16, smooth=True)[0, 0, 0].astype(np.float32))
        rng = np.random.default_rng(2)
        np.save(noise, rng.standard_normal((TEXTURE_EDGE, TEXTURE_EDGE), dtype=np.float32))
        spec = {"texture": str(texture), "noise": str(noise), "tile": args.tile_size,
                "workers": args.workers, "truth": truth.tolist(), "stage": stage.tolist()}
        job = Path(work) / "job.json"  # thousands of positions: too long for a command line
        job.write_text(json.dumps(spec))
        code = CHILD.format(here=str(Path(__file__).resolve().parent))
        done = subprocess.run([sys.executable, "-c", code, str(job)], capture_output=True,
                              text=True)
    if done.returncode:
        sys.exit(f"registration failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    r = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"input: {args.grid} x {args.grid} = {args.grid**2} lazily generated tiles of "
          f"{args.tile_size}^2 uint16, overlap {args.overlap:.0%}, stage error +-{ERROR:g} px")
    print(f"links: {r['links']} overlaps ({r['accepted']} accepted, score threshold "
          f"{r['threshold']:.3f} from {r['nulls']} null pairs)")
    print(f"time: {r['seconds']:.2f} s = {r['links'] / r['seconds']:.1f} links/s "
          f"({(r['links'] + r['nulls']) / r['seconds']:.1f} measurements/s incl. null pairs)")
    print(f"memory: peak RSS {r['peak_rss_kib'] / 1024:.0f} MB "
          f"(before registering: {r['start_rss_kib'] / 1024:.0f} MB)")
    print(f"accuracy vs truth: RMS {r['rms_px']:.3f} px, max {r['max_px']:.3f} px")


if __name__ == "__main__":
    main()
