"""A one-page picture of an illumination estimate (PNG, SVG or PDF by suffix): per channel the
flat-field, its fall-off along y and x through the centre, and one seam of the fused mosaic
before and after correction, each on its own grey scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ngff_fuse.fuse.core import fuse
from ngff_fuse.illumination.correct import Correction
from ngff_fuse.illumination.estimate import tile_pairs
from ngff_fuse.model import TileSet

#: Half the edge of the window shown around the seam, in mosaic pixels.
_SEAM_REACH = 192
_MAX_CHANNELS = 4


def seam_window(tileset: TileSet) -> tuple[slice, slice] | None:
    """(y, x) slices of the fused mosaic around the middle of the overlap of the pair of tiles
    that overlap most, or None when no tiles overlap."""
    a, b = tile_pairs(tileset)
    if not len(a):
        return None
    spacing = np.asarray(tileset.spacing)
    origin = np.min([t.physical_bounds()[0] for t in tileset.tiles], axis=0)

    def box(i: int) -> tuple[np.ndarray, np.ndarray]:
        low, high = tileset.tiles[i].physical_bounds()
        return (low - origin) / spacing, (high - origin) / spacing

    areas = []
    for i, j in zip(a, b):
        (li, hi), (lj, hj) = box(int(i)), box(int(j))
        areas.append(np.prod(np.clip(np.minimum(hi, hj) - np.maximum(li, lj), 0, None)[1:]))
    k = int(np.argmax(areas))
    (li, hi), (lj, hj) = box(int(a[k])), box(int(b[k]))
    middle = (np.maximum(li, lj) + np.minimum(hi, hj)) / 2
    return tuple(slice(max(0, int(middle[ax]) - _SEAM_REACH), int(middle[ax]) + _SEAM_REACH) for ax in (1, 2))


def illumination_plot(tileset: TileSet, correction: Correction, path: str | Path) -> Path:
    """Draw the profiles of `correction` (and a seam of `tileset` before and after) to `path`."""
    from matplotlib.figure import Figure

    path = Path(path)
    profiles = correction.profiles
    channels = min(tileset.n_channels, _MAX_CHANNELS)
    window = seam_window(tileset)
    columns = 4 if window is not None else 2
    figure = Figure(figsize=(4 * columns, 3.4 * channels), layout="constrained")
    axes = np.asarray(figure.subplots(channels, columns, squeeze=False))
    before = after = None
    if window is not None:
        region = {"t": 0, "z": 0, "y": window[0], "x": window[1]}
        before = fuse(tileset, squeeze=False).isel(region).values
        after = fuse(tileset, squeeze=False, transform=correction).isel(region).values
    for c, summary in zip(range(channels), profiles.summary()):
        name = tileset.channel_names[c]
        flat = profiles.flat[min(c, profiles.n_channels - 1)]
        shown = axes[c, 0].imshow(flat, cmap="magma")
        figure.colorbar(shown, ax=axes[c, 0], shrink=0.8)
        axes[c, 0].set_title(f"{name}: flat-field (mean 1)\nfalls {summary['falloff_percent']:.1f} %, "
                             f"dark {summary['dark_level']:g}", fontsize=9)
        centre = np.array(flat.shape) // 2
        axes[c, 1].plot(flat[:, centre[1]] / flat.max(), label="along y (centre column)")
        axes[c, 1].plot(flat[centre[0], :] / flat.max(), label="along x (centre row)")
        axes[c, 1].set_xlabel("tile pixel")
        axes[c, 1].set_ylabel("relative to brightest")
        axes[c, 1].legend(fontsize=7)
        axes[c, 1].set_title("fall-off", fontsize=9)
        if window is not None:
            for ax, image, label in ((axes[c, 2], before[c], "seam before"), (axes[c, 3], after[c], "after")):
                # each on its own scale: the dark offset taken off moves the whole range
                ax.imshow(image, cmap="gray", vmin=np.percentile(image, 1), vmax=np.percentile(image, 99))
                ax.set_title(label, fontsize=9)
                ax.set_axis_off()
    figure.suptitle(f"{tileset.name}: illumination ({profiles.method.get('method', '')})", fontsize=10)
    figure.savefig(path, dpi=90)
    return path
