"""Zeiss CZI: every scene is one mosaic, its tiles the scene's M tiles, placed on the stage.

Where a tile goes. libCZI documents a subblock's StageXPosition / StageYPosition (um) as the
stage position of the subblock's centre pixel, the pixel at index (w // 2, h // 2); so a w x h
tile's first pixel is at

    x0 = StageX - (w // 2) * pixel_x,    y0 = StageY - (h // 2) * pixel_y.

The real files agree. czi-zen-simulated/1_tileregion.czi keeps ZEN's absolute pixel boxes
(0.4 um pixels, 400 x 300 tiles): every box is round(Stage / pixel - size / 2), with residuals
of -0.06 px in x and +0.25 px in y, where a (size - 1) / 2 centre would leave +0.75 px in y,
more than rounding can. The stage spacing of czi-convallaria's two 924 px wide tiles (900.9 um
= 831.6 px) cannot tell the two conventions apart (the half pixel is the same for both tiles);
it shows that the pixel boxes (832 px apart) are the stage positions rounded to whole pixels,
so the stage positions are the finer statement and the boxes the fallback:

- a tile without StageX (or StageY) is placed by its pixel box times the pixel size, shifted by
  the median offset between box and stage positions of the tiles that have both, so it lines up
  with them; a scene without any stage position is placed by its boxes alone;
- a stage position more than a tenth of a tile away from where the boxes put the tile is taken
  for broken metadata (ZEN derives the boxes from the stage), and the box is used instead;
- z-stacks start at the FocusPosition of their first plane; single planes share z = 0.

Every case that is not plain stage placement is said in the TileSet's notes. Stage positions
are only as good as the stage: convallaria's tiles show the same tissue best 6.6 px further
left and 2 px higher than the stage places them (overlap correlation 0.965 there, 0.148 at the
stage placement), which registration, not the reader, can correct. RoiCenterOffsetX/Y (the
camera ROI's offset from the optical axis, the same for every tile) is not added: it would move
the whole mosaic, by a sign convention the format does not document. Bgr pixels become the
channels R, G, B.

How it reads. The subblock directory and subblock metadata are read straight from the file
(czi_file.py, the ZISRAW structure): aicspylibczi and bioio-czi read a whole subblock, pixels included,
to return its metadata, and placing a mosaic must not read its pixels. bioio-czi opens the
file and provides the document metadata. A region read of a tile reads one subblock: for an
uncompressed one just the rows it needs (os.pread); a compressed one is decoded whole by
aicspylibczi, the backend of bioio-czi.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import product
from pathlib import Path

import dask.array as da
import numpy as np
from dask.base import tokenize

from ngff_fuse.errors import InputError
from ngff_fuse.model import TileSet
from ngff_fuse.readers._bioio_mosaic import (
    Placement, TileFacts, anchor, first_pixel, mosaic_tileset, pick_scenes, plugin,
    stack_z, tile_list, wavelength_color,
)
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.readers.image_file import open_bioimage
from ngff_fuse.readers.pixel_size import decide_pixel_size
from ngff_fuse.readers.samples import RGB_COLORS, RGB_NAMES
from ngff_fuse.readers.czi_file import (
    KNOWN_DIMS,
    PIXEL_TYPES,
    PLANE_AXES,
    CziTilePlanes,
    CziPlaneTable,
    Subblock,
    check_complete,
    read_directory,
    subblock_tags,
    tag_number,
)

# A stage position farther than this (fraction of the tile) from the pixel-box layout is broken.
_DISAGREE = 0.1


@dataclass(frozen=True)
class CziTile:
    """One M tile of a scene: its planes' subblocks and what its first plane says."""

    m: int
    box: tuple[int, int, int, int]  # x, y, width, height (px) of the first plane
    stage: tuple[float, float]  # StageX, StageY (um) of the first plane; nan: absent
    focus: float  # FocusPosition (um) of the first plane; nan: absent
    planes: dict[tuple[int, int, int], Subblock] = field(repr=False)  # (t, c, z) -> subblock

    @property
    def name(self) -> str:
        return f"M{self.m}"


@dataclass(frozen=True)
class CziScene:
    """The layer-0 subblocks of one scene, grouped into tiles over a (t, c, z) plane grid."""

    s: int
    tiles: tuple[CziTile, ...]
    shape: tuple[int, int, int]  # planes per tile: t, c, z
    channels: tuple[int, ...]  # the C index of each channel, into the document's channel list
    notes: tuple[str, ...]


def group_scene(path: Path, blocks: Sequence[Subblock], s: int) -> CziScene:
    """The scene's tiles over its (t, c, z) plane grid, before any subblock metadata is read.
    Dimensions other than S, M, T, C, Z (phase, view, ...) keep their first index."""
    mine = [b for b in blocks if b.index.get("S", 0) == s and b.layer0]
    notes = []
    others = sorted({d for b in mine for d in b.index} - set(KNOWN_DIMS))
    for dim in others:
        values = sorted({b.index.get(dim, 0) for b in mine})
        if len(values) > 1:
            notes.append(f"dimension {dim} has {len(values)} indices; read {dim}={values[0]} only")
            mine = [b for b in mine if b.index.get(dim, 0) == values[0]]
    values = [sorted({b.index.get(ax, 0) for b in mine}) for ax in PLANE_AXES]
    where = [{v: i for i, v in enumerate(vs)} for vs in values]
    by_tile: dict[int, dict[tuple[int, int, int], Subblock]] = {}
    unnumbered: dict[tuple[int, int, int], int] = {}
    for b in mine:
        plane = tuple(where[k][b.index.get(ax, 0)] for k, ax in enumerate(PLANE_AXES))
        m = b.index.get("M")
        if m is None:  # no M index: the plane's subblocks are its tiles, in directory order
            m = unnumbered[plane] = unnumbered.get(plane, -1) + 1
        by_tile.setdefault(m, {})[plane] = b
    shape = tuple(len(vs) for vs in values)
    tiles = []
    for m in sorted(by_tile):
        planes = by_tile[m]
        for plane in product(*(range(n) for n in shape)):
            if plane not in planes:
                t, c, z = (values[k][i] for k, i in enumerate(plane))
                raise InputError(
                    f"{path}: scene {s} tile M{m} has no subblock for T={t} C={c} Z={z}; "
                    "ngff-fuse needs every tile in every plane"
                )
        nan = float("nan")
        tiles.append(CziTile(m, planes[(0, 0, 0)].box, (nan, nan), nan, planes))
    return CziScene(s, tuple(tiles), shape, tuple(values[1]), tuple(notes))


def with_tags(scene: CziScene, tags: Sequence[dict[str, str]]) -> CziScene:
    """The scene with each tile's stage position and focus from its first plane's tags."""
    tiles = tuple(
        CziTile(t.m, t.box, (tag_number(tg, "StageXPosition"), tag_number(tg, "StageYPosition")),
                tag_number(tg, "FocusPosition"), t.planes)
        for t, tg in zip(scene.tiles, tags)
    )
    return CziScene(scene.s, tiles, scene.shape, scene.channels, scene.notes)


def place_tiles(
    tiles: Sequence[CziTile], spacing: tuple[float, float, float], depth: int
) -> Placement:
    """First-pixel positions (um) of the tiles: stage centres, else pixel boxes (module doc)."""
    boxes = np.array([t.box for t in tiles], dtype=float)
    stage = np.array([t.stage for t in tiles], dtype=float)
    names = [t.name for t in tiles]
    origins = np.zeros((len(tiles), 3))
    found = {}
    for col, axis, label in ((0, 2, "X"), (1, 1, "Y")):
        size, step = boxes[:, col + 2], spacing[axis]
        found[label] = anchor(
            first_pixel(stage[:, col], size, step), boxes[:, col] * step,
            np.maximum(2.0, _DISAGREE * size) * step,
        )
        origins[:, axis] = found[label].values
    notes = []
    if all(f.missing.all() for f in found.values()):
        notes.append("no stage positions in this scene: tiles placed by their pixel boxes x pixel size")
        source = "CZI subblock pixel boxes x pixel size (the file has no stage positions)"
    else:
        source = "CZI subblock StageXPosition/StageYPosition (stage position of each tile's centre pixel)"
        for label, f in found.items():
            if f.missing.all():
                notes.append(f"no stage {label} in this scene: {label.lower()} from the pixel boxes x pixel size")
            elif f.missing.any():
                notes.append(
                    f"stage {label} missing for {tile_list([n for n, m in zip(names, f.missing) if m])}: "
                    "placed by their pixel boxes, lined up with the tiles that have it"
                )
            if f.disagreeing.any():
                worst = f.deviation[f.disagreeing].max() / spacing[2 if label == "X" else 1]
                notes.append(
                    f"stage {label} of {tile_list([n for n, d in zip(names, f.disagreeing) if d])} "
                    f"disagrees with the pixel boxes by more than a tenth of a tile (up to {worst:.0f} px): "
                    "placed by their pixel boxes"
                )
        if notes:
            source += ", pixel boxes where those are missing or disagree"
    z, known = stack_z([t.focus for t in tiles], depth)
    origins[:, 0] = z
    if not known:
        notes.append("FocusPosition missing: every z-stack starts at z = 0")
    elif depth > 1:
        source += "; z from FocusPosition of each stack's first plane"
    return Placement(origins, source, tuple(notes))


def czi_pixel_size(meta: ET.Element) -> tuple[float | None, float | None, float | None]:
    """(z, y, x) um from Scaling/Items/Distance, which CZI stores in metres (shifted as decimal
    text, so 4E-07 m gives 0.4 um, not 0.39999999999999997)."""
    sizes = {}
    for item in meta.findall("./Metadata/Scaling/Items/Distance"):
        try:
            value = Decimal((item.findtext("Value") or "").strip()).scaleb(6)
        except InvalidOperation:
            continue
        if value.is_finite() and value > 0:
            sizes[item.get("Id")] = float(value)
    return sizes.get("Z"), sizes.get("Y"), sizes.get("X")


def czi_channels(meta: ET.Element, indices: Sequence[int]) -> tuple[list[str | None], list[str | None]]:
    """Name and display colour of each channel (its C index into the document's channels):
    the display setting's colour, else the channel's, else one from its emission wavelength."""
    info = meta.findall("./Metadata/Information/Image/Dimensions/Channels/Channel")
    display = {ch.get("Id"): ch for ch in meta.findall("./Metadata/DisplaySetting/Channels/Channel")}
    names, colors = [], []
    for c in indices:
        channel = info[c] if c < len(info) else None
        shown = display.get(channel.get("Id")) if channel is not None else None
        found = [e for e in (shown, channel) if e is not None]
        names.append(_first(e.get("Name") for e in reversed(found)))
        color = _first(_argb(e.findtext("Color")) for e in found)
        if color is None and channel is not None:
            color = wavelength_color(_float(channel.findtext("EmissionWavelength")))
        colors.append(color)
    return names, colors


def _first(values):
    return next((v for v in values if v), None)


def _float(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _argb(text: str | None) -> str | None:
    """'#AARRGGBB' or '#RRGGBB' -> 'RRGGBB'."""
    text = (text or "").strip().lstrip("#")
    if len(text) not in (6, 8):
        return None
    try:
        int(text, 16)
    except ValueError:
        return None
    return text[-6:].upper()


def scene_names(meta: ET.Element, scenes: Sequence[int]) -> list[str]:
    named = {
        sc.get("Index"): sc.get("Name")
        for sc in meta.findall("./Metadata/Information/Image/Dimensions/S/Scenes/Scene")
    }
    return [named.get(str(s)) or f"scene {s}" for s in scenes]


def tile_dask(path: Path, tile: CziTile, scene: CziScene, rgb: bool) -> da.Array:
    """The tile's lazy pixels, one dask chunk per plane; dask fuses region slicing into reads."""
    first = tile.planes[(0, 0, 0)]
    dtype, samples = PIXEL_TYPES[first.pixel_type]
    t, c, z = scene.shape
    ordered = tuple(tile.planes[p] for p in product(range(t), range(c), range(z)))
    table = CziPlaneTable(
        str(path), (t, 3 if rgb else c, z, tile.box[3], tile.box[2]), dtype, samples, ordered
    )
    stat = os.stat(path)
    return da.from_array(
        CziTilePlanes(table), chunks=(1, 1, 1, tile.box[3], tile.box[2]),
        name="czi-" + tokenize(table, stat.st_size, stat.st_mtime_ns), inline_array=True,
        meta=np.empty((0,) * 5, dtype=np.dtype(dtype).newbyteorder("=")),
    )


def _document(path: Path, reader) -> ET.Element:
    """The document metadata XML, through bioio-czi, with one-line errors."""
    image = open_bioimage(path, reader)
    try:
        return image.reader.metadata
    except Exception as exc:  # the backends raise RuntimeError, ValueError, ... on damage
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: its CZI metadata cannot be read ({reason}); the file is damaged") from None


class CziReader:
    """Zeiss CZI mosaics, one TileSet per scene, tiles at their subblocks' stage positions."""

    name = "czi"
    description = "Zeiss CZI (M tiles of each scene as a mosaic)"

    def can_open(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == ".czi"

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        bioio_czi = plugin(path, "bioio_czi", "CZI", "bioio-czi", "czi")
        plugin(path, "aicspylibczi", "CZI", "aicspylibczi", "czi")
        blocks = read_directory(path)  # first: a truncated copy is named as such, not by bioio
        check_complete(path, blocks)
        meta = _document(path, bioio_czi.Reader)
        scenes = sorted({b.index.get("S", 0) for b in blocks if b.layer0})
        names = scene_names(meta, scenes)
        chosen = pick_scenes(path, names, options.scenes)
        return [self._scene(path, meta, blocks, scenes[i], names[i], options) for i in chosen]

    def _scene(
        self, path: Path, meta: ET.Element, blocks: list[Subblock], s: int, name: str,
        options: ReadOptions,
    ) -> TileSet:
        scene = group_scene(path, blocks, s)
        firsts = [tile.planes[(0, 0, 0)] for tile in scene.tiles]
        pixel_types = {b.pixel_type for tile in scene.tiles for b in tile.planes.values()}
        if len(pixel_types) > 1 or not pixel_types <= set(PIXEL_TYPES):
            raise InputError(
                f"{path}: scene {name} has CZI pixel types {sorted(pixel_types)}; ngff-fuse reads "
                "one of Gray8, Gray16, Gray32Float, Bgr24, Bgr48 per scene"
            )
        if {b.file_part for tile in scene.tiles for b in tile.planes.values()} != {0}:
            raise InputError(f"{path}: scene {name} lies in other files of a multi-part CZI; "
                             "save it as one file in ZEN")
        rgb = PIXEL_TYPES[pixel_types.pop()][1] == 3
        if rgb and scene.shape[1] > 1:
            raise InputError(f"{path}: scene {name} has colour (Bgr) pixels in several channels; "
                             "export one channel per scene")
        scene = with_tags(scene, subblock_tags(path, firsts))
        calibration = decide_pixel_size(czi_pixel_size(meta), options.pixel_size, where=str(path),
                                        source="the metadata", has_depth=scene.shape[2] > 1)
        spacing, size_notes = calibration.spacing, calibration.notes
        placement = place_tiles(scene.tiles, spacing, scene.shape[2])
        channel_names, channel_colors = (
            (RGB_NAMES, RGB_COLORS) if rgb else czi_channels(meta, scene.channels)
        )
        tiles = [
            TileFacts(tile_dask(path, tile, scene, rgb), tuple(origin), tile.name)
            for tile, origin in zip(scene.tiles, placement.origins)
        ]
        return mosaic_tileset(
            path, name, tiles, spacing, channel_names, channel_colors, placement.source,
            (*scene.notes, *size_notes, *placement.notes),
        )
