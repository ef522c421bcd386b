"""A one-page picture of a registration, to judge it at a glance (PNG, SVG or PDF by suffix).

Tiles are drawn at their refined positions in the (y, x) plane (3-D mosaics are projected),
filled by the RMS residual of their links; links join tile centres, coloured by score when
accepted and dashed grey when rejected; arrows go from each tile's stage position to its refined
one, magnified by a stated factor so that corrections of a few pixels are visible. Tiles the
images could not place (no accepted link, or a group not linked to the largest one) are
outlined in red and named on the tile and under the title: the stage model placed them.
"""

from __future__ import annotations

from pathlib import Path

import textwrap

import numpy as np

from ngff_fuse.layout_plot import tile_boxes, tile_centres, tile_figure
from ngff_fuse.register.registration import Registration

#: The longest correction arrow is drawn this fraction of the smaller tile edge long.
_ARROW_REACH = 0.4


def qc_plot(registration: Registration, path: str | Path) -> Path:
    """Draw the registration to `path`; returns the path."""
    from matplotlib import colormaps
    from matplotlib.collections import LineCollection, PatchCollection

    path = Path(path)
    refined, stage = registration.tileset, registration.stage
    spacing = np.asarray(refined.spacing, dtype=float)
    figure, axes = tile_figure(refined)

    residuals = np.array([
        np.nan if t.residual_px is None else t.residual_px for t in registration.tiles
    ])
    boxes = tile_boxes(refined)
    finite = residuals[np.isfinite(residuals)]
    tiles = PatchCollection(
        boxes, cmap=colormaps["magma_r"].with_extremes(bad="lightgrey"), edgecolor="black",
        linewidth=0.6, alpha=0.55,
    )
    tiles.set_array(np.ma.masked_invalid(residuals))
    tiles.set_clim(0, max(1.0, float(finite.max()) if finite.size else 1.0))
    axes.add_collection(tiles)
    figure.colorbar(tiles, ax=axes, label="tile residual (px); grey: no accepted link", shrink=0.8)

    centres, before = tile_centres(refined), tile_centres(stage)
    accepted = [link for link in registration.links if link.accepted]
    rejected = [link for link in registration.links if not link.accepted]
    if rejected:
        axes.add_collection(LineCollection(
            [centres[[link.a, link.b], ::-1] for link in rejected],
            colors="0.45", linestyles="dashed", linewidths=0.8,
        ))
    links = LineCollection(
        [centres[[link.a, link.b], ::-1] for link in accepted], cmap="viridis", linewidths=2.0,
    )
    links.set_array(np.array([link.score for link in accepted]))
    links.set_clim(registration.score_threshold, 1.0)
    axes.add_collection(links)
    figure.colorbar(links, ax=axes, label="link score (NCC); dashed: rejected", shrink=0.8)

    _mark_stage_placed(axes, registration, boxes, centres)

    moves = centres - before
    longest = float(np.max(np.linalg.norm(moves, axis=1))) if len(moves) else 0.0
    reach = _ARROW_REACH * min(min(t.spatial_shape[1:]) for t in refined.tiles) * float(spacing[2])
    magnify = max(1.0, reach / longest) if longest > 0 else 1.0
    axes.quiver(
        before[:, 1], before[:, 0], moves[:, 1] * magnify, moves[:, 0] * magnify,
        angles="xy", scale_units="xy", scale=1.0, color="tab:red", width=0.003,
    )

    projected = ", projected on y-x" if refined.is_3d else ""
    axes.set_title(
        f"{refined.name}: {registration.accepted_links} of {len(registration.links)} links "
        f"accepted (score > {registration.score_threshold:.2f}), "
        f"{registration.unlinked_tiles} tiles without links{projected}\n"
        f"red arrows: stage -> refined position, magnified x{magnify:.0f}"
        + "".join(f"\n{line}" for line in _stage_placed_lines(registration)),
        fontsize=10,
    )
    figure.savefig(path, dpi=110)
    return path


def _stage_placed_lines(registration: Registration) -> list[str]:
    """The tiles the stage model placed, named, wrapped for the title."""
    parts = []
    if registration.unlinked:
        parts.append("no accepted link: " + ", ".join(t.name for t in registration.unlinked))
    for group in registration.detached_groups:
        parts.append("not linked to the largest group: " + ", ".join(t.name for t in group))
    if not parts:
        return []
    text = "placed by the stage model (red outline) - " + "; ".join(parts)
    return textwrap.wrap(text, 110)


def _mark_stage_placed(axes, registration: Registration, boxes: list, centres: np.ndarray) -> None:
    """Red outlines and names on the tiles the stage model placed."""
    from matplotlib.collections import PatchCollection

    placed = list(registration.unlinked)
    placed += [t for group in registration.detached_groups for t in group]
    if not placed:
        return
    axes.add_collection(PatchCollection(
        [boxes[t.index] for t in placed], facecolor="none", edgecolor="tab:red", linewidth=2.0,
    ))
    for tile in placed:
        y, x = centres[tile.index]
        axes.text(x, y, tile.name, ha="center", va="center", fontsize=9, color="tab:red",
                  bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
