"""Keeping the tiles (`convert --keep-tiles`): every tile as its own small multiscale NGFF image
in `<image>/tiles/<j>`, placed in the fused image's physical coordinates, so a viewer can show
the raw tiles in place and `fuse-store` can re-fuse them without the vendor file.

The tiles are written by the fused image's `Amend` hook: after its arrays, before its metadata,
while the store is still marked incomplete. Stored transforms reproduce every tile's float64
affine bit for bit when read back (`ngff.transforms.tile_affine`); `as_stored` replaces an
affine by the one the store represents (they differ by an ulp only for a rotated tile in NGFF
0.6), so the fused image and a re-fusion of its kept tiles are the same array.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import dask.system
import numpy as np
import xarray as xr
import zarr

from ngff_fuse._axes import AXES, SPATIAL
from ngff_fuse.errors import NgffFuseError
from ngff_fuse.model import Tile, TileSet
from ngff_fuse.ngff.groups import NGFF_FUSE_KEY, TILE_SPACE, TILES_GROUP, TILES_KEY, ome
from ngff_fuse.ngff.metadata import FORMATS, SceneEntry, level_transform, scene
from ngff_fuse.ngff.transforms import (
    Linear, level_transformations, tile_affine, tile_transform, transform_to_affine,
)
from ngff_fuse.progress import NoProgress, Progress
from ngff_fuse.storage import zarr_store
from ngff_fuse.version import VERSION
from ngff_fuse.writer import Amend, WriteOptions, write_image

Transforms = list[dict[str, Any]]


class StagePlacedTiles:
    """NGFF 0.4 / 0.5: a tile image's own `scale` + `translation` place it in the fused image's
    coordinates. An affine they cannot express (rotated, registered) is kept whole in
    `multiscales[0].metadata.ngff_fuse.affine`; the scale + translation then place the tile's
    first pixel at its origin, unrotated, for viewers."""

    def origin(self, tile: Tile) -> np.ndarray:
        return tile.origin

    def level_transforms(self, tile: Tile, tileset: TileSet, factor: dict[str, int], path: str) -> Transforms:
        scale, translation = _level(tileset, self.origin(tile), factor)
        return level_transformations(scale, translation, "0.4")

    def tile_metadata(self, tile: Tile, tileset: TileSet) -> dict[str, Any]:
        if np.array_equal(tile.affine[:3, :3], np.diag(tileset.spacing)):
            return {}
        return {"affine": [[float(v) for v in row] for row in tile.affine]}

    def scene_transform(self, tile: Tile, tileset: TileSet) -> Linear | None:
        return None

    def rename_space(self, multiscale: dict) -> None:
        """0.4 / 0.5 images have no named coordinate systems."""

    def image_attributes(self, attributes: dict, tileset: TileSet) -> dict:
        return attributes


class SceneTiles(StagePlacedTiles):
    """NGFF 0.6: each tile image has its own coordinate system `tile` (origin at its first
    pixel); the fused image's `scene` maps every `tiles/<j>` `tile` system to the fused image's
    `stage` system, by a translation (stage position) or an affine (rotated, registered)."""

    def origin(self, tile: Tile) -> np.ndarray:
        return np.zeros(3)

    def level_transforms(self, tile: Tile, tileset: TileSet, factor: dict[str, int], path: str) -> Transforms:
        scale, translation = _level(tileset, self.origin(tile), factor)
        return level_transformations(scale, translation, "0.6", {"path": path}, {"name": TILE_SPACE})

    def tile_metadata(self, tile: Tile, tileset: TileSet) -> dict[str, Any]:
        return {}

    def scene_transform(self, tile: Tile, tileset: TileSet) -> Linear | None:
        return tile_transform(tile.affine, tileset.dims, tileset.spacing)

    def rename_space(self, multiscale: dict) -> None:
        for system in multiscale.get("coordinateSystems", []):
            system["name"] = TILE_SPACE

    def image_attributes(self, attributes: dict, tileset: TileSet) -> dict:
        entries = [SceneEntry(f"{TILES_GROUP}/{j}", TILE_SPACE, self.scene_transform(tile, tileset))
                   for j, tile in enumerate(tileset.tiles)]
        attributes["ome"]["scene"] = scene(entries, tileset.dims, tileset.unit)
        return attributes


LAYOUTS = {"0.4": StagePlacedTiles(), "0.5": StagePlacedTiles(), "0.6": SceneTiles()}


def _level(tileset: TileSet, origin, factor: dict[str, int]) -> tuple[list[float], list[float]]:
    """Scale and translation of a tile level, never rounded: level 0 is exactly the pixel size
    and origin."""
    scale, translation = level_transform(tileset.dims, dict(zip(SPATIAL, tileset.spacing)),
                                         dict(zip(SPATIAL, origin)), factor, digits=None)
    return list(scale), list(translation)


def _stored(layout: StagePlacedTiles, tile: Tile, tileset: TileSet) -> np.ndarray:
    """The affine that the store written for `tile` gives back when read."""
    tile_ome = {"multiscales": [{
        "datasets": [{"coordinateTransformations": layout.level_transforms(tile, tileset, {}, "0")}],
        "metadata": {NGFF_FUSE_KEY: layout.tile_metadata(tile, tileset)},
    }]}
    return tile_affine(tile_ome, layout.scene_transform(tile, tileset), tileset.dims,
                       _plane(tileset, tile))


def _plane(tileset: TileSet, tile: Tile) -> tuple[float, float] | None:
    """z spacing and position of a 2-D tile, which its 2-D transforms leave out."""
    return None if "z" in tileset.dims else (tileset.spacing[0], float(tile.affine[0, 3]))


def as_stored(tileset: TileSet, ngff: str) -> TileSet:
    """The tile set with each affine replaced by the one its kept tile will be read back as,
    so fusing it gives exactly what re-fusing the kept tiles gives.

    Storing and reading back is the identity except for the linear part of a rotated tile in
    NGFF 0.6 (divided by the pixel size on the way in, multiplied on the way out), where it can
    move an ulp; a second round trip then returns the same values.
    """
    layout = LAYOUTS[ngff]
    tiles = []
    for tile in tileset.tiles:
        affine = tile.affine
        for _ in range(8):
            stored = _stored(layout, replace(tile, affine=affine), tileset)
            if np.array_equal(stored, affine):
                break
            affine = stored
        else:
            raise NgffFuseError(f"{tile.source}: its affine does not survive storing it as NGFF {ngff} "
                                "transforms; convert it without --keep-tiles")
        tiles.append(replace(tile, affine=affine))
    return replace(tileset, tiles=tuple(tiles))


def keep_tiles(tileset: TileSet, options: WriteOptions, progress: Progress | None = None) -> Amend:
    """The fused image's `Amend` hook: writes its tiles into `<image>/tiles` (skipping those a
    resumed run already finished), then adds what places them (0.6: the `scene`)."""
    layout = LAYOUTS[options.ngff]
    progress = progress or NoProgress()

    def amend(image: Path, attributes: dict, resuming: bool) -> dict:
        write_tiles(tileset, image / TILES_GROUP, options, resuming, progress)
        return layout.image_attributes(attributes, tileset)

    return amend


def write_tiles(tileset: TileSet, folder: Path, options: WriteOptions, resuming: bool,
                progress: Progress) -> None:
    """Each tile as a multiscale image `folder/<j>`, then the list of them on `folder`.

    A tile is often a single write block, so tiles are written side by side, one per core:
    one after another, a mosaic of 2048^2 tiles kept its tiles on one core (49 tiles: +3.4 s
    on a 2.6 s convert)."""
    layout = LAYOUTS[options.ngff]
    group = zarr.open_group(zarr_store(folder), mode="a", zarr_format=FORMATS[options.ngff].zarr_format)

    def write(index: int) -> None:
        tile, path = tileset.tiles[index], folder / str(index)
        metadata = {NGFF_FUSE_KEY: {"source": str(tile.source), **layout.tile_metadata(tile, tileset)}}
        tile_options = replace(options, levels=None, overwrite=False, resume=False, request=None,
                               extra_metadata=metadata)
        write_image(tile_image(tile, tileset, layout), path, resuming and path.exists(), tile_options,
                    tileset.channel_colors, amend=_exact_transforms(tile, tileset, layout))

    progress.start("keeping tiles", len(tileset.tiles), "tiles")
    with ThreadPoolExecutor(max_workers=dask.system.CPU_COUNT) as pool:
        for _ in pool.map(write, range(len(tileset.tiles))):
            progress.advance("keeping tiles")
    progress.finish("keeping tiles")
    provenance = {"name": tileset.name, "spacing": [float(s) for s in tileset.spacing],
                  "position_source": tileset.position_source}
    if "z" not in tileset.dims:  # the stage's z: read back, the tiles join their plane again
        provenance["z_positions"] = [tile.recorded_z for tile in tileset.tiles]
    group.attrs.put({
        TILES_KEY: [{"path": str(j), "name": tile.name} for j, tile in enumerate(tileset.tiles)],
        NGFF_FUSE_KEY: {"version": VERSION, "tileset": provenance},
    })


def tile_image(tile: Tile, tileset: TileSet, layout: StagePlacedTiles) -> xr.DataArray:
    """A tile's pixels as `write_ngff` takes a mosaic: the tile set's axes, and coordinates
    from the first pixel where the layout places it (0.6: its own coordinate system)."""
    origin = layout.origin(tile)
    coords = {ax: origin[i] + tileset.spacing[i] * np.arange(n)
              for i, (ax, n) in enumerate(zip(SPATIAL, tile.spatial_shape))}
    data = tile.data.assign_coords(c=list(tileset.channel_names), **coords)
    data = data.isel({ax: 0 for ax in AXES if ax not in tileset.dims})
    return data.assign_attrs(spacing=tuple(tileset.spacing), units=tileset.unit or "pixel")


def _exact_transforms(tile: Tile, tileset: TileSet, layout: StagePlacedTiles) -> Amend:
    """A tile image's `Amend`: its levels' transforms unrounded, in its own coordinate system."""

    def amend(path: Path, attributes: dict, resuming: bool) -> dict:
        multiscale = ome(attributes)["multiscales"][0]
        layout.rename_space(multiscale)
        for dataset in multiscale["datasets"]:
            written = transform_to_affine(dataset["coordinateTransformations"], tileset.dims)
            factor = {ax: round(written[i, i] / tileset.spacing[i])
                      for i, ax in enumerate(SPATIAL) if ax in tileset.dims}
            dataset["coordinateTransformations"] = layout.level_transforms(
                tile, tileset, factor, dataset["path"])
        return attributes

    return amend
