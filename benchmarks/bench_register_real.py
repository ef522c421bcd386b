"""Does registration put EVERY tile within 1 px of the truth when the stage error is as large as
the overlap? Real tiles, small uneven overlaps, several stage errors and seeds.

The real widefield Convallaria section of ../shared/realdata/czi-convallaria (622 x 1749 px) is
cut into a 5 x 5 grid of 122 x 245 px tiles whose overlaps are drawn per seam from 4-15 px
(`ngff_fuse.testing.real_grid`), so the truth is exact. The stage positions are the truth plus
a uniform error of +-E px per axis and tile; `ngff_fuse.register.register` runs with the
default maximum shift (or the one given per error), and every tile's distance from the truth is
measured (the mosaic's common offset removed); tiles more than 1 px off that registration did
not name as placed by the stage model are counted (silent errors). With --photons N each tile
also gets its own shot noise, as if exposed separately with N photons at the median intensity,
and with --shading F its own uneven illumination (F less light in the corners).

    python benchmarks/bench_register_real.py                      # errors 5 10 20 30, 8 seeds
    python benchmarks/bench_register_real.py --photons 10 --shading 0.4 --seeds 4
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ngff_fuse.register import register
from ngff_fuse.testing import SyntheticMosaic
from ngff_fuse.testing.real_grid import convallaria, cut_grid, errors_px, jittered

SHARED = Path(__file__).resolve().parents[2] / "shared"
CZI = SHARED / "realdata" / "czi-convallaria" / "mosaic_test.czi"
#: (stage error px, --max-shift px; None: the default)
CASES = ((5.0, None), (10.0, None), (20.0, None), (30.0, 80.0))


def exposed(mosaic: SyntheticMosaic, photons: float, shading: float, seed: int) -> SyntheticMosaic:
    """Each tile with its own shot noise (N photons at the image's median intensity), dimmed
    towards its corners by `shading` (0.4: 40 % less light in the corners), as a camera's
    uneven illumination would, so overlaps never agree in intensity either."""
    rng = np.random.default_rng(seed)
    scale = photons / float(np.median(mosaic.truth))
    tiles = []
    for tile in mosaic.tiles:
        h, w = tile.data.shape[-2:]
        y, x = np.mgrid[0:h, 0:w]
        light = 1 - shading * (((2 * y - h) / h) ** 2 + ((2 * x - w) / w) ** 2) / 2
        counts = rng.poisson(tile.data * light * scale) / scale
        tiles.append(replace(tile, data=counts.astype(np.float32)))
    return replace(mosaic, tiles=tuple(tiles))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--photons", type=float, default=None,
                        help="per-tile shot noise at this many photons (default: none)")
    parser.add_argument("--shading", type=float, default=0.0,
                        help="with --photons: light lost towards each tile's corners (0.4 = 40 %%)")
    args = parser.parse_args()
    image = convallaria(CZI)
    noise = f", shot noise at {args.photons:g} photons" if args.photons else ""
    noise += f", {args.shading:.0%} shading" if args.photons and args.shading else ""
    print(f"Convallaria CZI cut into 5 x 5 tiles of 122 x 245 px, overlaps 4-15 px{noise}")
    print("| stage error | max shift | seeds | tiles within 1 px | worst seed | max error px | "
          "off by > 1 px, not named | links accepted | s per mosaic |")
    print("|---|---|---|---|---|---|---|---|---|")
    for error, max_shift in CASES:
        within, worst, largest, accepted, seconds, silent = [], 1.0, 0.0, [], [], 0
        for seed in range(args.seeds):
            mosaic = cut_grid(image, (5, 5), (122, 245), (4, 15), seed=seed)
            if args.photons:
                mosaic = exposed(mosaic, args.photons, args.shading, seed=1000 + seed)
            stage = jittered(mosaic, error, seed=100 + seed)
            started = time.perf_counter()
            result = register(stage, max_shift_px=max_shift)
            seconds.append(time.perf_counter() - started)
            distance = errors_px(result.tileset, mosaic)
            within.append(int(np.sum(distance <= 1.0)))
            named = {t.index for t in result.unlinked}
            named |= {t.index for group in result.detached_groups for t in group}
            silent += sum(d > 1.0 and i not in named for i, d in enumerate(distance))
            worst = min(worst, within[-1] / len(distance))
            largest = max(largest, float(distance.max()))
            accepted.append(result.accepted_links)
        total = 25 * args.seeds
        print(f"| +-{error:g} px | {'default' if max_shift is None else f'{max_shift:g} px'} | "
              f"{args.seeds} | {sum(within)}/{total} ({sum(within) / total:.1%}) | {worst:.0%} | "
              f"{largest:.2f} | {silent} | {np.mean(accepted):.1f} | {np.median(seconds):.2f} |")


if __name__ == "__main__":
    main()
