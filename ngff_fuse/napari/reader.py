"""napari reader: any acquisition ngff-fuse reads, fused lazily at the level napari shows, and
OME-Zarr stores (ngff-fuse's outputs: images, several scenes, plates, kept tiles) placed by
their transformations, so every layer lands at its position in micrometres.

napari-ome-zarr applies no translation (0.11) or only level 0's scale (0.10): a multi-scene
store, kept tiles or anything overlaid with other data all sit at the origin there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dask.array as da
import numpy as np

from ngff_fuse._axes import SPATIAL
from ngff_fuse.convert import open_input
from ngff_fuse.errors import InputError
from ngff_fuse.model import TileSet
from ngff_fuse.napari.layers import Channel, LayerData, image_layer, outline_layer
from ngff_fuse.napari.multiscale import LazyLevel, lazy_levels, level_mosaic
from ngff_fuse.ngff.groups import TILES_GROUP, attributes, image_axes, is_zarr_group, ome
from ngff_fuse.ngff.metadata import channel_colors
from ngff_fuse.ngff.transforms import transform_matrix
from ngff_fuse.readers import ReadOptions, reader_for
from ngff_fuse.readers.kept_tiles import KeptTilesReader
from ngff_fuse.writer import WriteOptions, channel_displays, grid_shape, placement

#: The coarsest level is computed when it is opened (its pixels give the contrast limits, as
#: `convert` takes them from its smallest level) and kept in memory up to this size.
KEEP_COARSEST_BYTES = 64 << 20

SOURCE_KEY = "ngff_fuse"  # layer metadata: what the layer shows, for the convert widget


def get_reader(path: str | list[str]) -> Callable[[str], list[LayerData]] | None:
    """The reader for `path`: an OME-Zarr store, or an input some ngff-fuse reader claims;
    None for anything else (napari then asks other plugins)."""
    if isinstance(path, list):
        return None if len(path) != 1 else get_reader(path[0])
    where = Path(path)
    if is_ome_zarr(where):
        return read_ome_zarr
    try:
        claimed = reader_for(where).can_open(where)  # not a file merely named like an input
    except InputError:
        return None
    return read_acquisition if claimed else None


def is_ome_zarr(path: Path) -> bool:
    attrs = ome(attributes(path)) if is_zarr_group(path) else {}
    return any(key in attrs for key in ("multiscales", "bioformats2raw.layout", "plate"))


# ---- tile acquisitions, fused lazily ---------------------------------------------------------

def read_acquisition(path: str, options: WriteOptions | None = None) -> list[LayerData]:
    """Per scene, one multiscale layer per channel fused on the fly (`lazy_levels`: each level
    from strided tile reads), placed, named, coloured and windowed as `convert` would write
    it; and the tile outlines, hidden."""
    _, tilesets = open_input(Path(path), ReadOptions())
    layers = []
    for tileset in tilesets:
        layers.append(acquisition_layer(tileset, lazy_levels(tileset, options=options), path, options))
    layers.append(outline_layer(tilesets, _title(tilesets)))
    return layers


def acquisition_layer(tileset: TileSet, levels: list[LazyLevel], path: str,
                      options: WriteOptions | None = None) -> LayerData:
    mosaics = [level_mosaic(level, tileset) for level in levels]
    coarsest = mosaics[-1]
    if coarsest.nbytes <= KEEP_COARSEST_BYTES:
        coarsest = coarsest.copy(data=coarsest.data.compute())
        mosaics[-1] = coarsest
    spacing, origin = placement(mosaics[0])
    displays = channel_displays(_Chunked(coarsest, options or WriteOptions()), tuple(coarsest.dims), coarsest,
                                 tuple(coarsest.coords["color"].values.reshape(-1).tolist()), 0)
    colors = channel_colors([d.color for d in displays])
    channels = [Channel(d.label, color, d.window[2:]) for d, color in zip(displays, colors)]
    metadata = {SOURCE_KEY: {"input": str(path), "scene": tileset.name, "fused": "lazily"}}
    return image_layer([m.data for m in mosaics], coarsest.dims, spacing, origin, channels,
                       tileset.name, metadata)


class _Chunked:
    """A level with the chunks `convert` writes it in, for the writer's display sampling,
    which reads a few whole chunks of the smallest level."""

    def __init__(self, mosaic, options: WriteOptions) -> None:
        self.data = mosaic.data
        self.shape = mosaic.shape
        self.dtype = mosaic.dtype
        self.chunks = grid_shape(tuple(mosaic.dims), dict(zip(mosaic.dims, mosaic.shape)), options.chunk, options)

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.data[key])


def _title(tilesets: list[TileSet]) -> str:
    return tilesets[0].name if len(tilesets) == 1 else ""


# ---- OME-Zarr stores -------------------------------------------------------------------------

def read_ome_zarr(path: str) -> list[LayerData]:
    """Every image of the store (the image, each scene, each well field) as multiscale layers
    placed by level 0's scale and translation; kept tiles as outlines, hidden."""
    root = Path(path)
    layers = [store_image_layer(image, str(root)) for image in image_groups(root)]
    if any(is_zarr_group(image / TILES_GROUP) for image in image_groups(root)):
        layers.append(outline_layer(KeptTilesReader().read(root, ReadOptions()), root.name.split(".")[0]))
    return layers


def image_groups(path: Path) -> list[Path]:
    """The image groups of a store: itself, its bioformats2raw series, or its plate's fields."""
    attrs = ome(attributes(path))
    if "multiscales" in attrs:
        return [path]
    if "bioformats2raw.layout" in attrs:
        series = ome(attributes(path / "OME")).get("series")
        if series is None:  # the layout says: consecutive groups 0, 1, ...
            series = []
            while is_zarr_group(path / str(len(series))):
                series.append(str(len(series)))
        return [path / str(s) for s in series]
    if "plate" in attrs:
        wells = [path / w["path"] for w in attrs["plate"].get("wells", [])]
        return [well / f["path"] for well in wells for f in ome(attributes(well)).get("well", {}).get("images", [])]
    raise InputError(f"{path}: no multiscale image, scenes or plate in its metadata; give an OME-Zarr image")


def store_image_layer(image: Path, store: str) -> LayerData:
    attrs = ome(attributes(image))
    multiscale = attrs["multiscales"][0]
    dims = tuple(ax["name"] for ax in image_axes(multiscale))
    matrix = transform_matrix(multiscale["datasets"][0]["coordinateTransformations"], len(dims))
    if multiscale.get("coordinateTransformations"):  # 0.4 / 0.5: applied after every level's
        matrix = transform_matrix(multiscale["coordinateTransformations"], len(dims)) @ matrix
    scale = {ax: float(matrix[i, i]) for i, ax in enumerate(dims) if ax in SPATIAL}
    origin = {ax: float(matrix[i, -1]) for i, ax in enumerate(dims) if ax in SPATIAL}
    levels = [da.from_zarr(str(image / d["path"])) for d in multiscale["datasets"]]
    n = levels[0].shape[dims.index("c")] if "c" in dims else 1
    omero = (attrs.get("omero") or {}).get("channels") or []
    channels = [
        Channel(ch.get("label", f"Channel {i}"), ch.get("color"),
                (float(ch["window"]["start"]), float(ch["window"]["end"])) if "window" in ch else None)
        for i, ch in enumerate(omero)
    ] if len(omero) == n else [Channel(f"Channel {i}", None, None) for i in range(n)]
    name = multiscale.get("name") or image.name.split(".")[0]
    metadata = {SOURCE_KEY: {"store": store, "image": str(image)}}
    return image_layer(levels, dims, scale, origin, channels, name, metadata)
