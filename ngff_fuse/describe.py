"""What would be fused: a JSON-ready summary of the tile sets, for `info` and for logs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ngff_fuse._axes import SPATIAL
from ngff_fuse.errors import InputError
from ngff_fuse.fuse.plan import output_grid, output_size_bytes
from ngff_fuse.model import TileSet
from ngff_fuse.ngff.plate import well_path


def _round(values, digits: int = 6) -> list[float]:
    return [round(float(v), digits) for v in values]


def _overlaps(tileset: TileSet) -> list[dict[str, Any]]:
    """Pairs of tiles whose stage boxes overlap, with the overlap's extent in pixels."""
    from ngff_fuse.register.pairs import overlap_box, overlapping_pairs, stage_pixels

    try:
        positions, shapes = stage_pixels(tileset)
    except InputError:  # rotated tiles: overlaps are not boxes
        return []
    found = []
    for pair in overlapping_pairs(positions, shapes):
        low, high = overlap_box(pair.a, pair.b, positions, shapes)
        found.append({"tiles": [pair.a, pair.b], "extent_px": _round(high - low, 2)})
    return found


def stage_z_metadata(tileset: TileSet) -> dict[str, Any]:
    """For the output's metadata: the plane 2-D tiles recorded at different stage z were fused
    in, and each tile's own z ({} when every tile sits where the stage put it)."""
    if tileset.is_3d or all(tile.stage_z is None for tile in tileset.tiles):
        return {}
    return {"stage_z": {
        "plane": float(tileset.tiles[0].origin[0]),
        "rule": "2-D tiles are fused in one plane, the median of the tiles' stage z",
        "unit": tileset.unit or "pixel",
        "tiles": [{"name": tile.name, "z": tile.recorded_z} for tile in tileset.tiles],
    }}


def describe_tileset(tileset: TileSet) -> dict[str, Any]:
    grid = output_grid(tileset)
    unit = tileset.unit or "pixel"
    spatial = [ax for ax in SPATIAL if ax in tileset.dims]
    pick = [SPATIAL.index(ax) for ax in spatial]
    low = np.asarray(grid.origin)
    high = low + (np.asarray(grid.shape) - 1) * np.asarray(grid.spacing)
    return {
        "name": tileset.name,
        "tiles": len(tileset.tiles),
        "dims": list(tileset.dims),
        "dtype": str(tileset.dtype),
        "tile_shape": [int(n) for n in tileset.tiles[0].data.shape[2:]][-len(spatial):],
        "channels": list(tileset.channel_names),
        "timepoints": tileset.n_timepoints,
        "pixel_size": dict(zip(spatial, _round(np.asarray(tileset.spacing)[pick], 9))),
        "unit": unit,
        "position_source": tileset.position_source,
        "notes": list(tileset.notes),
        "mosaic": {
            "shape": dict(zip(spatial, (int(n) for n in np.asarray(grid.shape)[pick]))),
            "origin": dict(zip(spatial, _round(low[pick]))),
            "end": dict(zip(spatial, _round(high[pick]))),
            "bytes": output_size_bytes(grid, tileset),
        },
        "overlaps": _overlaps(tileset),
        "tile_positions": [
            {
                "name": tile.name,
                "source": str(tile.source),
                "position": dict(zip(spatial, _round(tile.origin[pick]))),
                **({} if tileset.is_3d else {"stage_z": round(tile.recorded_z, 6)}),
                "shape": [int(n) for n in tile.spatial_shape][-len(spatial):],
                "affine": None if np.allclose(tile.affine[:3, :3], np.diag(tileset.spacing))
                else tile.affine.round(9).tolist(),
            }
            for tile in tileset.tiles
        ],
    }


def describe(path: str, reader: str, tilesets: list[TileSet]) -> dict[str, Any]:
    scenes = [describe_tileset(ts) for ts in tilesets]
    fields: dict[str, int] = {}
    for scene, tileset in zip(scenes, tilesets):
        if tileset.well is not None:  # where an HCS output puts it: field i of its well
            well = tileset.well
            field = fields[well.name] = fields.get(well.name, -1) + 1
            scene["well"] = {"plate": well.plate, "well": well.name, "row": well.row, "column": well.column,
                             "field": field, "acquisition": well.acquisition or well.plate,
                             "path": f"{well_path(well)}/{field}"}
    return {"input": path, "reader": reader, "scenes": scenes}
