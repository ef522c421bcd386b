"""Before any pixel is read: tile arrangements and options that would give a silently wrong mosaic.

Refused (InputError): tiles piled onto one spot (a pixel size or position unit off by 100x or
more), a mosaic almost all empty or too large to write, a feather width no tile can hold, a
fill value the output dtype cannot hold. Warned (a note naming the tiles): a mosaic mostly empty,
as when one stray position blows it up 100x.

Arrangement checks work in tile edges: tile origins in pixels divided by the typical tile shape, so
they hold for any pixel size, tile size and overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ngff_fuse._axes import SPATIAL
from ngff_fuse.errors import InputError
from ngff_fuse.fuse.plan import check_blend_width, output_grid, output_size_bytes
from ngff_fuse.model import TileSet

#: Refuse outputs beyond this size before writing anything (a wrong unit or a stray position).
MAX_OUTPUT_BYTES = 1 << 50  # 1 PiB
#: Neighbours a median of less than this many tile edges apart are piled, not a mosaic: real
#: overlaps stay below ~90 % (0.1 edges); a pixel size 100x too large gives ~0.01.
PILED_STEP = 0.02
#: Tiles covering less than this fraction of the mosaic's box leave it mostly empty: a warning.
SPARSE_COVERAGE = 0.1
#: Below this fraction the mosaic is refused: at least 10,000 times the area its tiles hold
#: (a position 1000x off; 4e12 um in x planned a 6e12 px row and ran out of memory).
MIN_COVERAGE = 1e-4
#: A tile with no other tile within this many tile edges is isolated (grid neighbours: ~1).
ISOLATED_STEP = 3.0
#: Tiles named in one note at most.
_NAMED = 3

#: Up to this many tiles, nearest neighbours are found by comparing every pair (1,024 tiles:
#: ~0.06 s, less than importing scipy.spatial takes); beyond, with a k-d tree.
_DIRECT_NEAREST = 1024

@dataclass(frozen=True)
class Arrangement:
    """The tiles' origins and shapes in pixels, along the axes the tile set has."""

    origins: np.ndarray  # (n, k) px
    shapes: np.ndarray  # (n, k) px

    @classmethod
    def of(cls, tileset: TileSet) -> Arrangement:
        axes = [i for i, ax in enumerate(SPATIAL) if ax in tileset.dims]
        spacing = np.asarray(tileset.spacing, dtype=float)[axes]
        origins = np.array([tile.origin[axes] for tile in tileset.tiles]) / spacing
        shapes = np.array([[tile.spatial_shape[i] for i in axes] for tile in tileset.tiles], dtype=float)
        return cls(origins, shapes)

    @property
    def edge(self) -> np.ndarray:
        """The typical tile's shape (px), the unit of distances in tile edges."""
        return np.median(self.shapes, axis=0)

    def nearest(self) -> np.ndarray:
        """Each tile's distance (tile edges, largest along any axis) to the nearest other
        origin; inf for a lone tile."""
        if len(self.origins) < 2:
            return np.full(len(self.origins), np.inf)
        scaled = self.origins / self.edge
        if len(scaled) > _DIRECT_NEAREST:
            # scipy.spatial takes ~0.17 s to import: a k-d tree only where comparing every
            # pair costs more
            from scipy.spatial import cKDTree

            distances, _ = cKDTree(scaled).query(scaled, k=2, p=np.inf)
            return distances[:, 1]
        nearest = np.empty(len(scaled))
        for start in range(0, len(scaled), 256):  # every pair, in bands of 256 rows
            band = np.abs(scaled[start:start + 256, None, :] - scaled[None, :, :]).max(axis=2)
            band[np.arange(len(band)), np.arange(start, start + len(band))] = np.inf
            nearest[start:start + 256] = band.min(axis=1)
        return nearest

    def box_volume(self, keep: np.ndarray | None = None) -> float:
        origins = self.origins if keep is None else self.origins[keep]
        shapes = self.shapes if keep is None else self.shapes[keep]
        return float(np.prod((origins + shapes).max(axis=0) - origins.min(axis=0)))


def check_arrangement(tileset: TileSet, source: str | Path) -> TileSet:
    """Refuse tiles piled onto one spot or spread so far apart that the mosaic would be almost
    all empty; return the tile set with a warning note when it would be mostly empty."""
    arrangement = Arrangement.of(tileset)
    nearest = arrangement.nearest()
    if len(nearest) >= 2 and np.median(nearest) < PILED_STEP:
        step = float(np.median(nearest * np.max(arrangement.edge)))
        spread = float(np.max(np.ptp(arrangement.origins, axis=0)))
        raise InputError(
            f"{source}: the {len(nearest)} tiles of {tileset.name} lie within {spread:.3g} px of "
            f"each other (neighbours {step:.2g} px apart) although each is "
            f"{int(np.max(arrangement.edge))} px wide: the pixel size ({tileset.spacing[-1]:g} "
            f"{tileset.unit or 'px'}) or the positions' unit is off; fix it or pass --pixel-size"
        )
    coverage = float(np.sum(np.prod(arrangement.shapes, axis=1))) / arrangement.box_volume()
    if coverage >= SPARSE_COVERAGE:
        return tileset
    why = _why_sparse(tileset, arrangement, nearest)
    if coverage < MIN_COVERAGE:
        raise InputError(f"{source}: the tiles of {tileset.name} would cover only {coverage:.2g} of "
                         f"the mosaic: {why}")
    note = f"warning: the tiles cover {coverage:.1%} of the mosaic: {why}"
    return replace(tileset, notes=(*tileset.notes, note))


def _why_sparse(tileset: TileSet, arrangement: Arrangement, nearest: np.ndarray) -> str:
    """What leaves the mosaic mostly empty: the tiles far from all others (a stray position),
    every tile (a unit or pixel size off), or separate groups of tiles."""
    isolated = np.flatnonzero(nearest > ISOLATED_STEP)
    if isolated.size == len(nearest):
        return (f"every tile lies more than {ISOLATED_STEP:g} tile widths from any other (sparse "
                "sites, or a positions' unit or pixel size far off)")
    if not isolated.size:
        return "its tiles form groups far apart; fuse them separately"
    rest = np.setdiff1d(np.arange(len(nearest)), isolated)
    factor = arrangement.box_volume() / arrangement.box_volume(rest)
    named = ", ".join(
        f"{tileset.tiles[i].source} ({tileset.tiles[i].name}, {nearest[i]:.3g} tile widths from any other)"
        for i in isolated[np.argsort(-nearest[isolated])][:_NAMED]
    )
    more = f" and {isolated.size - _NAMED} more" if isolated.size > _NAMED else ""
    tiles = "this tile makes" if isolated.size == 1 else "these tiles make"
    return f"{tiles} it {factor:.3g}x larger: {named}{more}; check their positions"


def check_size(tileset: TileSet, source: str | Path) -> None:
    size = output_size_bytes(output_grid(tileset), tileset)
    if size > MAX_OUTPUT_BYTES:
        raise InputError(
            f"{source}: the mosaic would be {size / 2**50:.1f} PiB; check the tile positions "
            "and their unit"
        )


def check_fill(fill: int | float, dtype: np.dtype) -> None:
    """The fill value must be one the output dtype holds exactly as asked: a whole number in
    range for integers, NaN and infinities for floats only (bool tiles are fused as uint8, see
    `TileSet`). An int fill is compared exactly (int64 beyond 2^53 included)."""
    dtype = np.dtype(dtype)
    exact = isinstance(fill, int)
    shown = str(fill) if exact else f"{fill:g}"
    if dtype.kind == "f":
        largest = float(np.finfo(dtype).max)
        if (exact or math.isfinite(fill)) and abs(fill) > largest:
            raise InputError(f"--fill {shown}: the output is {dtype}, whose values stop at "
                             f"+-{largest:.4g}; give a smaller value (or nan, inf)")
        return
    info = np.iinfo(dtype)
    low, high = int(info.min), int(info.max)
    whole = exact or (math.isfinite(fill) and fill.is_integer())
    if not (whole and low <= int(fill) <= high):
        raise InputError(f"--fill {shown}: the output is {dtype}, which cannot hold it; give a "
                         f"whole number from {low} to {high}")


def check_options(tileset: TileSet, blend_width: float | None, fill: float) -> None:
    """Fusion options that cannot give a right mosaic of these tiles, refused before any work."""
    check_blend_width(blend_width, tileset)
    check_fill(fill, tileset.dtype)
