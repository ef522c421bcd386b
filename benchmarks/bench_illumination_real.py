"""Seams before and after illumination correction on the real acquisitions in ../shared.

Each input is converted twice (plain, and with --flatfield auto --darkfield auto, or a given
--flatfield FILE), and every
seam between neighbouring tiles is scored on level 0 (first channel, time point and plane):

    seam contrast = D(seam) / median D(lines inside the tiles)

where D(line) is the largest departure of the mean intensity profile across the line (within
R px on either side, averaged along it) from the straight line through that profile: a step
or a dark band at the seam counts, a smooth gradient does not. The lines inside the tiles
(at 1/4, 1/2 and 3/4 of each tile, parallel to its seams) give the scene's own variation on
the same scale, so a seam no one can see scores about 1.

It prints one row per input (seams, contrast plain -> corrected, the profile's fall-off and
dark level) and draws the mosaic around its first seam, plain above corrected, each on its
own grey scale, to docs/illumination-<name>.png (with --pictures).

    python benchmarks/bench_illumination_real.py --pictures
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import zarr

from ngff_fuse.convert import convert
from ngff_fuse.errors import InputError
from ngff_fuse.fuse.plan import output_grid, place
from ngff_fuse.illumination.options import IlluminationOptions
from ngff_fuse.readers import ReadOptions

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
INPUTS = {
    "czi": (SHARED / "czi-convallaria" / "mosaic_test.czi", None),
    "imagexpress": (SHARED / "imagexpress" / "SingleChannel", (1,)),  # the projection, 2-D
}
R = 48  # px either side of a line


def departure(image: np.ndarray, axis: int, at: int, span: slice) -> float | None:
    """D(line): the line crosses `axis` at index `at`, over `span` along the other axis."""
    if at - R < 0 or at + R > image.shape[axis]:
        return None
    window = image[:, at - R:at + R] if axis == 1 else image[at - R:at + R, :].T
    profile = window[span].astype(float).mean(axis=0)
    u = np.arange(profile.size)
    fit = np.polyval(np.polyfit(u, profile, 1), u)
    return float(np.abs(profile - fit).max())


def seams(tileset) -> list[tuple[int, int, slice]]:
    """(axis, index, span) of every seam: where two tiles meet across x (axis 1) or y (0)."""
    boxes = [(p.low[1:], p.stop[1:]) for p in place(tileset, output_grid(tileset))]
    found = []
    for i, (li, hi) in enumerate(boxes):
        for lj, hj in boxes[i + 1:]:
            for axis in (0, 1):
                other = 1 - axis
                shared = slice(max(li[other], lj[other]), min(hi[other], hj[other]))
                if shared.stop - shared.start < 2 * R:
                    continue
                low, high = sorted([(li[axis], hi[axis]), (lj[axis], hj[axis])])
                if high[0] <= low[1] + 1 and high[0] > low[0] + R and low[1] < high[1] - R:
                    found.append((axis, int((high[0] + low[1]) // 2), shared))
    return found


def inner_lines(tileset, axis: int) -> list[tuple[int, int, slice]]:
    lines = []
    for p in place(tileset, output_grid(tileset)):
        low, stop = p.low[1:], p.stop[1:]
        span = slice(int(low[1 - axis]), int(stop[1 - axis]))
        for fraction in (0.25, 0.5, 0.75):
            lines.append((axis, int(low[axis] + fraction * (stop[axis] - low[axis])), span))
    return lines


def contrast(image: np.ndarray, tileset) -> tuple[float, list[float]]:
    found = seams(tileset)
    scores = []
    for axis, at, span in found:
        inside = [departure(image, a, i, s) for a, i, s in inner_lines(tileset, axis)]
        inside = [d for d in inside if d is not None]
        seam = departure(image, axis, at, span)
        if seam is not None and inside:
            scores.append(seam / float(np.median(inside)))
    return (float(np.median(scores)) if scores else float("nan")), scores


def level0(path: Path) -> np.ndarray:
    data = np.asarray(zarr.open_group(path, mode="r")["0"][...])
    while data.ndim > 2:
        data = data[0]
    return data


def picture(name: str, plain: np.ndarray, corrected: np.ndarray, tileset, folder: Path) -> Path:
    from matplotlib.figure import Figure

    axis, at, span = seams(tileset)[0]
    reach = 200
    box = (span, slice(max(0, at - reach), at + reach)) if axis == 1 else (slice(max(0, at - reach), at + reach), span)
    figure = Figure(figsize=(7, 6.4), layout="constrained")
    axes = figure.subplots(2, 1)
    for ax, image, label in ((axes[0], plain, "plain"), (axes[1], corrected, "--flatfield auto")):
        ax.imshow(image[box], cmap="gray", vmin=np.percentile(image[box], 1), vmax=np.percentile(image[box], 99))
        ax.set_title(f"{name}: {label}", fontsize=9)
        ax.set_axis_off()
    out = folder / f"illumination-{name}.png"
    figure.savefig(out, dpi=80)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", action="store_true", help="draw docs/illumination-<name>.png")
    parser.add_argument("--flatfield", default="auto", help="auto, or a profile file made for these tiles")
    args = parser.parse_args(argv)
    docs = Path(__file__).resolve().parents[1] / "docs"
    with tempfile.TemporaryDirectory() as work:
        for name, (source, scenes) in INPUTS.items():
            if not source.exists():
                print(f"{name}: {source} not found; skipped")
                continue
            options = ReadOptions(scenes=scenes)
            plain = convert(source, Path(work) / f"{name}-plain.ome.zarr", options)
            tileset = plain.scenes[0].tileset
            before = level0(plain.output)
            try:
                fixed = convert(source, Path(work) / f"{name}-flat.ome.zarr", options,
                                illumination=IlluminationOptions(flatfield=args.flatfield))
            except InputError as exc:
                print(f"{name}: seam contrast {contrast(before, tileset)[0]:.2f} plain; --flatfield "
                      f"{args.flatfield} refused: {exc}")
                continue
            after = level0(fixed.output)
            (c0, s0), (c1, s1) = contrast(before, tileset), contrast(after, tileset)
            meta = zarr.open_group(fixed.output, mode="r").attrs.asdict()
            meta = meta.get("ome", meta)["multiscales"][0]["metadata"]["illumination"]["channels"][0]
            print(f"{name}: {len(tileset.tiles)} tiles, {len(s0)} seam(s); seam contrast {c0:.2f} -> {c1:.2f} "
                  f"(per seam {[round(v, 2) for v in s0]} -> {[round(v, 2) for v in s1]}); profile falls "
                  f"{meta['falloff_percent']:.1f} %, corners {meta['corners_percent']:.1f} %, dark {meta['dark_level']:g}")
            if args.pictures:
                print(f"  wrote {picture(name, before, after, tileset, docs)}")


if __name__ == "__main__":
    main()
