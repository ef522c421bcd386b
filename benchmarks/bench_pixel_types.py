"""What exact 64-bit blending costs: the same in-memory fusion per pixel type.

8/16-bit pixels blend in float32, 32-bit ones and float32 in float64, 64-bit ones in the
extended long double (64-bit integers relative to a pixel's first value), so that single tiles
come back exactly and blends neither overflow nor round beyond one unit (README, Pixel types).
This times `fuse(...).compute()` of one synthetic grid cast to each type, with wide overlaps
so that blending dominates; chunks are fused on one thread, nothing is read or written.

    python benchmarks/bench_pixel_types.py                  # 2 x 2 tiles of 1024^2, 50 % overlap
    python benchmarks/bench_pixel_types.py --overlap 0.1 --repeat 9
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ngff_fuse.fuse.core import fuse
from ngff_fuse.testing import SyntheticMosaic, in_memory_tileset, synthetic_mosaic

TYPES = ["uint16", "float32", "uint32", "float64", "int64", "uint64"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tile-size", type=int, default=1024)
    parser.add_argument("--overlap", type=float, default=0.5)
    parser.add_argument("--blend", default="feather")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    base = synthetic_mosaic(grid=(2, 2), tile_shape=(args.tile_size, args.tile_size), overlap=args.overlap,
                            dtype=np.uint16, seed=0)
    print(f"2 x 2 tiles of {args.tile_size}^2, {args.overlap:.0%} overlap, {args.blend}, "
          f"median of {args.repeat} runs")
    reference = None
    for name in TYPES:
        tiles = tuple(type(t)(data=t.data.astype(name), position=t.position, pixel_offset=t.pixel_offset)
                      for t in base.tiles)
        tileset = in_memory_tileset(SyntheticMosaic(base.truth, tiles, base.spacing, base.origin,
                                                    base.channel_names))
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fuse(tileset, blend=args.blend, chunk_size=(1, 512, 512)).data.compute(scheduler="sync")
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        reference = reference or median
        print(f"  {name:8s} {median:6.3f} s  x{median / reference:.2f}")


if __name__ == "__main__":
    main()
