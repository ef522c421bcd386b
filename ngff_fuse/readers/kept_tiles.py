"""An OME-Zarr written with `ngff-fuse convert --keep-tiles`: its kept tiles, read back as a TileSet.

Each image of the store (the root, or group `i` per scene in the bioformats2raw layout) holds
its tiles in `<image>/tiles/<j>`, each a multiscale NGFF image. A tile's affine (pixel index ->
stage um) comes from what the store says, and reproduces the affine it was written from bit
for bit:
- NGFF 0.4 / 0.5: the tile's level-0 `scale` + `translation`, or, for a tile those cannot place
  (rotated, registered affine), the full affine ngff-fuse keeps in `multiscales[0].metadata`.
- NGFF 0.6: the tile's level-0 transform into its own coordinate system, followed by the
  transform of the image's `scene` that maps that system to the fused image's.
Pixels are the lazy level 0 of each tile, so re-fusing never needs the vendor file.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ngff_fuse._axes import AXES, SPATIAL
from ngff_fuse.errors import InputError
from ngff_fuse.model import PlateWell, Tile, TileSet, TileSource, tile_array
from ngff_fuse.ngff.groups import (
    NGFF_FUSE_KEY, TILES_GROUP, TILES_KEY, attributes, image_axes, is_zarr_group, ome,
)
from ngff_fuse.ngff.transforms import tile_affine
from ngff_fuse.readers.base import ReadOptions, pick_wells
from ngff_fuse.zarr_check import lazy_checked

_KEPT_IN = "tiles kept in "
_FIX = "write one with `ngff-fuse convert INPUT STORE.ome.zarr --keep-tiles`"


class KeptTilesReader:
    """The tiles an ngff-fuse OME-Zarr kept (`convert --keep-tiles`), for re-fusing."""

    name = "kept-tiles"
    description = "OME-Zarr stores with kept tiles (ngff-fuse convert --keep-tiles)"
    priority = 20  # a store is a folder: claim it before folder readers search it for TIFFs
    reads_urls = True  # through zarr's FsspecStore

    def can_open(self, path: Path) -> bool:
        return is_zarr_group(path)

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        root = attributes(path)
        record = root.get(NGFF_FUSE_KEY) or {}
        if not record:
            raise InputError(f"{path}: not an OME-Zarr written by ngff-fuse, so it has no kept tiles; {_FIX}")
        if record.get("status") != "complete":
            raise InputError(f"{path}: an unfinished ngff-fuse output; finish it by running the "
                             "same `ngff-fuse convert` command with --resume")
        wells: list[PlateWell | None]
        if "plate" in ome(root):
            images, wells = _plate_images(path, ome(root)["plate"])
            chosen = pick_wells(path, wells, options.wells)
            images, wells = [images[i] for i in chosen], [wells[i] for i in chosen]
        else:
            series = [str(s) for s in (attributes(path / "OME").get("series")
                                       or ome(attributes(path / "OME")).get("series") or [])]
            images = [path / s for s in series] if "bioformats2raw.layout" in ome(root) else [path]
            wells = [None] * len(images)
        picked = range(len(images)) if options.scenes is None else options.scenes
        for index in picked:
            if not 0 <= index < len(images):
                raise InputError(f"{path}: has {len(images)} image(s), no scene {index}; "
                                 f"pick one of 0 to {len(images) - 1}")
        return [replace(self._read_image(images[i]), well=wells[i]) for i in picked]

    def _read_image(self, image: Path) -> TileSet:
        listing = attributes(image / TILES_GROUP)
        if not listing.get(TILES_KEY):
            raise InputError(f"{image}: holds no kept tiles; {_FIX}")
        provenance = listing.get(NGFF_FUSE_KEY, {}).get("tileset", {})
        scene = {tr["input"].get("path"): tr for tr in
                 ome(attributes(image)).get("scene", {}).get("coordinateTransformations", [])}
        spacing = tuple(float(s) for s in provenance["spacing"])
        planes = provenance.get("z_positions")
        kept = []
        for j, entry in enumerate(listing[TILES_KEY]):
            folder = image / TILES_GROUP / entry["path"]
            tile_ome = ome(attributes(folder))
            if not tile_ome.get("multiscales"):
                raise InputError(f"{folder}: a kept tile without NGFF metadata, the store is damaged; {_FIX}")
            plane = (spacing[0], float(planes[j])) if planes is not None else None
            kept.append((folder, entry, tile_ome, plane))
        first = kept[0][2]
        axes = image_axes(first["multiscales"][0])
        dims = tuple(ax["name"] for ax in axes)
        channels = (first.get("omero") or {}).get("channels", [])
        names = tuple(str(ch.get("label")) for ch in channels)
        tiles = []
        for folder, entry, tile_ome, plane in kept:
            multiscale = tile_ome["multiscales"][0]
            placed = scene.get(f"{TILES_GROUP}/{entry['path']}")
            if placed is None and "coordinateSystems" in multiscale:
                raise InputError(f"{folder}: the scene of {image} does not place this tile, the store "
                                 f"is damaged; {_FIX}")
            affine = tile_affine(tile_ome, placed, dims, plane)
            level0 = lazy_checked(folder / multiscale["datasets"][0]["path"])
            data = level0[tuple(slice(None) if ax in dims else None for ax in AXES)]
            name = entry.get("name", entry["path"])
            tiles.append(Tile(
                data=tile_array(data, spacing, affine[:3, 3], name,
                                names if len(names) == data.shape[1] else None),
                affine=affine, name=name, source=TileSource(str(folder)),
            ))
        return TileSet(
            tiles=tuple(tiles), spacing=spacing, dims=dims,
            name=provenance.get("name", image.name.split(".")[0]),
            unit=next((ax.get("unit") for ax in axes if ax["name"] in SPATIAL), None),
            channel_names=names, channel_colors=tuple(ch.get("color") for ch in channels),
            position_source=kept_position_source(image, provenance.get("position_source", "unknown")),
        )


def _plate_images(path: Path, plate: dict) -> tuple[list[Path], list[PlateWell]]:
    """Every image of every well of an NGFF plate, with its place on the plate."""
    named = {a.get("id"): a.get("name", "") for a in plate.get("acquisitions", [])}
    name = plate.get("name", path.name.split(".")[0])
    rows, columns = len(plate.get("rows", [])), len(plate.get("columns", []))
    images, wells = [], []
    for well in plate.get("wells", []):
        listed = ome(attributes(path / well["path"])).get("well", {}).get("images", [])
        if not listed:
            raise InputError(f"{path / well['path']}: a plate well without its images listed, the store "
                             f"is damaged; {_FIX}")
        for image in listed:
            acquisition = named.get(image.get("acquisition"), "")
            images.append(path / well["path"] / image["path"])
            wells.append(PlateWell(name, int(well["rowIndex"]), int(well["columnIndex"]), rows, columns,
                                   "" if acquisition == name else acquisition))
    return images, wells


def kept_position_source(image: Path, recorded: str) -> str:
    """Where the positions came from, said once however often the tiles were kept again
    (a re-fused store records "tiles kept in ..." itself)."""
    if recorded.startswith(_KEPT_IN) and recorded.endswith(")") and " (" in recorded:
        recorded = recorded.split(" (", 1)[1][:-1]
    return f"{_KEPT_IN}{image} ({recorded})"
