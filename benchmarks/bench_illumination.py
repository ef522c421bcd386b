"""How long does estimating illumination profiles take, and how close does it come, next to
BaSiCPy on the same tiles?

A grid x grid mosaic of tile^2 uint16 tiles (`ngff_fuse.testing.illumination`: a
microscopy-like scene seen through a radial vignetting with corners at 60 %, a dark offset of
300, read noise, optionally a gain per tile) is held in memory; then, each timed on its own:

* `estimate_profiles` with --flatfield auto (flat-field + dark offset; at most 200 tiles
  sampled, each read once),
* `equalize` (every tile read once more), when --gain-spread is given,
* BaSiCPy's `BaSiC(get_darkfield=True).fit` on the same sampled tiles, if it imports (pass
  `--basicpy-path DIR` for an install kept out of the project's environment, e.g.
  `pip install --target DIR basicpy`).

Each reports seconds, the profile's largest and RMS error against the true vignetting (both
divided by their mean), the dark offset found, and the fused mosaic's RMS error against the
scene after one gain and offset (`relative_rms`), against the uncorrected mosaic's.

    python benchmarks/bench_illumination.py --grid 10            # 100 tiles of 128^2
    python benchmarks/bench_illumination.py --grid 32            # 1,024 tiles
    python benchmarks/bench_illumination.py --grid 10 --tile-size 256 --basicpy-path /tmp/basicpy
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ngff_fuse.fuse.core import fuse
from ngff_fuse.illumination.correct import Correction
from ngff_fuse.illumination.equalize import equalize
from ngff_fuse.illumination.estimate import estimate_profiles
from ngff_fuse.illumination.options import IlluminationOptions
from ngff_fuse.illumination.profiles import Profiles
from ngff_fuse.illumination.estimate import sample_tiles, tile_pairs
from ngff_fuse.testing import in_memory_tileset
from ngff_fuse.testing.illumination import covered, relative_rms, vignetted_mosaic


def profile_errors(flat: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    error = (flat / flat.mean()) / truth - 1
    return float(np.abs(error).max()), float(np.sqrt(np.mean(error**2)))


def basicpy_profiles(tileset, indices) -> tuple[Profiles, float] | None:
    try:
        from basicpy import BaSiC
    except ImportError as exc:
        print(f"BaSiCPy: not importable ({exc}); skipped")
        return None
    stack = np.stack([np.asarray(tileset.tiles[int(i)].data.data[0, 0, 0]) for i in indices]).astype(np.float32)
    started = time.perf_counter()
    basic = BaSiC(get_darkfield=True, smoothness_flatfield=1.0)
    basic.fit(stack)
    seconds = time.perf_counter() - started
    flat = np.asarray(basic.flatfield, dtype=np.float64)
    dark = np.asarray(basic.darkfield, dtype=np.float64)
    return Profiles((flat / flat.mean())[None], dark[None], {"method": "BaSiCPy"}), seconds


def draw(tileset, correction: Correction, truth: np.ndarray, mask: np.ndarray, folder: Path) -> None:
    """The mosaic's error against the scene (after one gain and offset), plain and corrected,
    on one colour scale; and the --qc-plot picture."""
    from matplotlib.figure import Figure

    from ngff_fuse.illumination.qc_plot import illumination_plot

    figure = Figure(figsize=(10, 4.4), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, fix, label in zip(axes, (None, correction), ("plain", "--flatfield auto")):
        fused = fuse(tileset, transform=fix).values.astype(float)
        design = np.stack([fused[mask], np.ones(int(mask.sum()))], axis=1)
        gain, offset = np.linalg.lstsq(design, truth[mask].astype(float), rcond=None)[0]
        error = np.where(mask, (gain * fused + offset - truth) / truth[mask].mean(), np.nan)
        shown = ax.imshow(100 * error, cmap="RdBu_r", vmin=-20, vmax=20)
        ax.set_title(f"{label}: mosaic - scene, % of its mean (RMS {100 * np.sqrt(np.nanmean(error**2)):.1f} %)",
                     fontsize=9)
        ax.set_axis_off()
    figure.colorbar(shown, ax=axes, shrink=0.8)
    figure.savefig(folder / "illumination-synthetic.png", dpi=80)
    illumination_plot(tileset, correction, folder / "illumination-qc.png")
    print(f"wrote {folder / 'illumination-synthetic.png'} and {folder / 'illumination-qc.png'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=10)
    parser.add_argument("--tile-size", type=int, default=128)
    parser.add_argument("--gain-spread", type=float, default=0.0, help="tile gains uniform in 1 +- this")
    parser.add_argument("--basicpy-path", help="a folder BaSiCPy was installed into (pip --target)")
    parser.add_argument("--no-fuse", action="store_true", help="skip fusing the mosaic (large grids)")
    parser.add_argument("--pictures", metavar="DIR",
                        help="draw DIR/illumination-synthetic.png (the mosaic's error, plain and corrected) and "
                             "DIR/illumination-qc.png (the --qc-plot picture)")
    args = parser.parse_args(argv)
    if args.basicpy_path:
        sys.path.append(args.basicpy_path)  # after ours: its own numpy must not win

    started = time.perf_counter()
    case = vignetted_mosaic(grid=(args.grid, args.grid), tile_shape=(args.tile_size, args.tile_size),
                            gain_spread=args.gain_spread, seed=11)
    tileset = in_memory_tileset(case.mosaic)
    print(f"{len(tileset.tiles)} tiles of {args.tile_size}^2 uint16 (made in {time.perf_counter() - started:.1f} s); "
          f"true dark 300, corners at 60 %, gain spread {args.gain_spread:g}")
    box, mask = covered(case.mosaic)
    truth = case.mosaic.truth[0, 0, 0][box]

    def mosaic_error(correction) -> str:
        if args.no_fuse:
            return ""
        return f"; mosaic RMS {100 * relative_rms(fuse(tileset, transform=correction).values, truth, mask):.2f} %"

    print(f"uncorrected{mosaic_error(None)}")
    options = IlluminationOptions(flatfield="auto", equalize=args.gain_spread > 0)
    started = time.perf_counter()
    profiles = estimate_profiles(tileset, options)
    seconds = time.perf_counter() - started
    worst, rms = profile_errors(profiles.flat[0], case.flat)
    print(f"ngff-fuse estimate: {seconds:.2f} s ({profiles.method['tiles_sampled']} tiles sampled); profile "
          f"max {100 * worst:.2f} %, RMS {100 * rms:.2f} %; dark {profiles.dark.mean():.1f}"
          f"{mosaic_error(Correction(profiles))}")
    if args.pictures:
        draw(tileset, Correction(profiles), truth, mask, Path(args.pictures))
    if args.gain_spread > 0:
        started = time.perf_counter()
        gains = equalize(tileset, profiles)
        seconds = time.perf_counter() - started
        undone = gains.gain[:, 0] * case.gains
        print(f"ngff-fuse equalize: {seconds:.2f} s; gains max error "
              f"{100 * np.abs(undone / undone.mean() - 1).max():.2f} %{mosaic_error(Correction(profiles, gains))}")
    indices = sample_tiles(len(tileset.tiles), tile_pairs(tileset), options.max_tiles)
    found = basicpy_profiles(tileset, indices)
    if found is not None:
        basic, seconds = found
        worst, rms = profile_errors(basic.flat[0], case.flat)
        print(f"BaSiCPy fit: {seconds:.2f} s on the same {len(indices)} tiles; profile max {100 * worst:.2f} %, "
              f"RMS {100 * rms:.2f} %; dark {basic.dark.mean():.1f} (range {np.ptp(basic.dark):.1f})"
              f"{mosaic_error(Correction(basic))}")


if __name__ == "__main__":
    main()
