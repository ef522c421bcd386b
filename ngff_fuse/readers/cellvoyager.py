"""Yokogawa CellVoyager CV7000 / CV8000 measurements: each well is one mosaic of its fields.

A measurement folder holds one TIFF per plane and three XML files (namespace BTSSchema 1.0):

    MeasurementData.mlf     one MeasurementRecord per image: Row, Column (1-based), FieldIndex,
                            TimePoint, TimelineIndex, ActionIndex, ZIndex, Ch, stage X, Y, Z
                            (um) and the file name; Type "ERR" marks an image the instrument
                            failed to take (no file)
    MeasurementDetail.mrf   plate rows and columns, the plate's name, and per channel the pixel
                            size (Horizontal/VerticalPixelDimension, um) and the image size
    <setting>.mes           the measurement setting the .mrf names: per channel its laser
                            (Target), filter (Acquisition), fluorophore and display colour

Which images: one per well, with every field of the well as a tile, in plate order (row, then
column); `--scene` counts them. A channel is an (action, Ch) pair of a timeline: a measurement
may image one Ch in two actions (a 3-D stack and a single plane). Planes are indexed by
TimePoint and ZIndex; a plane recorded as ERR, or a channel with fewer planes than the others,
stays empty (0) and is named in the notes. A file the .mlf lists but the folder lacks is an
incomplete copy: refused.

Placement: X and Y are the field centre relative to the well centre (the measurement
setting's FixedPosition points, which the fields repeat); stage Y grows up the plate while image
rows go down, so image y is -Y (as Fractal's CellVoyager converter flips it). In the real CV8000
set (../shared/realdata/cellvoyager-cv8000) field 2 lies +650 um in X of field 1 and field 3
-650 um in Y: fields 1 2 / 3 4 read left to right, top to bottom, as the instrument's field
map shows them. Positions are rounded to whole pixels of the well's first field (X/Y come in
0.1 um steps; the real fields step 649.9 um, 0.31 px short of abutting). z is the stage Z of each ZIndex: the step is the median plane-to-plane step,
a negative one (ZIndex 1 the top plane) turned into increasing z by the tile set.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np

from ngff_fuse import transforms
from ngff_fuse._axes import MICROMETER, present_dims
from ngff_fuse.errors import InputError
from ngff_fuse.model import PlateWell, Tile, TileSet, TileSource, tile_array
from ngff_fuse.readers.base import ReadOptions, pick_scenes, pick_wells
from ngff_fuse.readers.fields import field_corners, rounding_note
from ngff_fuse.readers.image_file import read_image_file
from ngff_fuse.readers.pixel_size import decide_pixel_size
from ngff_fuse.readers.planes import stack_planes

_NS = "{http://www.yokogawa.co.jp/BTS/BTSSchema/1.0}"
MEASUREMENT_DATA, MEASUREMENT_DETAIL = "MeasurementData.mlf", "MeasurementDetail.mrf"
_Z_RESOLUTION = 0.01  # um: what the focus drive reads back; smaller steps are no steps


@dataclass(frozen=True)
class Record:
    """One MeasurementRecord of the .mlf: an image, or an image the instrument failed to take."""

    row: int
    column: int
    field: int
    timepoint: int
    channel: tuple[int, int, int]  # (TimelineIndex, ActionIndex, Ch)
    z_index: int
    stage: tuple[float, float, float]  # (Z, Y, X) um as recorded (Y up the plate)
    file: str | None  # None: an ERR record


@dataclass(frozen=True)
class ChannelSetting:
    """What the .mrf and the .mes say of one Ch."""

    pixel_size: tuple[float, float]  # (y, x) um
    shape: tuple[int, int]  # (y, x) px
    label: str | None
    color: str | None  # RRGGBB


@dataclass(frozen=True)
class Measurement:
    root: Path
    plate: str
    rows: int
    columns: int
    channels: dict[int, ChannelSetting]
    records: tuple[Record, ...]


class CellVoyagerReader:
    """Lays out a CellVoyager measurement from its .mlf records; positions from the same."""

    name = "cellvoyager"
    description = "Yokogawa CellVoyager CV7000/CV8000 measurement (folder, .mlf or .mrf)"
    suffixes = (".mlf", ".mrf")
    priority = 10  # its TIFFs are plain TIFFs that a generic TIFF reader would also claim

    def can_open(self, path: Path) -> bool:
        return _measurement_folder(path) is not None

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        root = _measurement_folder(path)
        if root is None:
            raise InputError(f"{path}: not a CellVoyager measurement; open the folder holding "
                             f"{MEASUREMENT_DATA} and {MEASUREMENT_DETAIL}, or one of them")
        measurement = load_measurement(root)
        wells = [PlateWell(measurement.plate, row - 1, column - 1, measurement.rows, measurement.columns)
                 for row, column in sorted({(r.row, r.column) for r in measurement.records if r.file})]
        if not wells:
            raise InputError(f"{root / MEASUREMENT_DATA}: no image records (every record is an "
                             "error); the measurement took no images")
        wells = [wells[i] for i in pick_wells(root, wells, options.wells)]
        chosen = pick_scenes(root, [f"{measurement.plate}_{w.name}" for w in wells], options.scenes)
        return [_well_tileset(measurement, wells[i], options) for i in chosen]


def _measurement_folder(path: Path) -> Path | None:
    folder = path if path.is_dir() else path.parent
    if path.is_file() and path.name not in (MEASUREMENT_DATA, MEASUREMENT_DETAIL):
        return None
    if (folder / MEASUREMENT_DATA).is_file() and (folder / MEASUREMENT_DETAIL).is_file():
        return folder
    return None


# ---- the three XML files ---------------------------------------------------------------------


def load_measurement(root: Path) -> Measurement:
    detail = _parse(root / MEASUREMENT_DETAIL)
    settings = _channel_settings(root, detail)
    channels = {}
    for element in detail.iter(f"{_NS}MeasurementChannel"):
        ch = int(_attr(element, "Ch", root / MEASUREMENT_DETAIL))
        label, color = settings.get(ch, (None, None))
        channels[ch] = ChannelSetting(
            pixel_size=(_number(element, "VerticalPixelDimension", root / MEASUREMENT_DETAIL),
                        _number(element, "HorizontalPixelDimension", root / MEASUREMENT_DETAIL)),
            shape=(int(_number(element, "VerticalPixels", root / MEASUREMENT_DETAIL)),
                   int(_number(element, "HorizontalPixels", root / MEASUREMENT_DETAIL))),
            label=label, color=color,
        )
    plate_element = detail.find(f"{_NS}MeasurementSamplePlate")
    plate = (plate_element.get(f"{_NS}Name") if plate_element is not None else None) \
        or detail.get(f"{_NS}Title") or root.name
    return Measurement(
        root=root, plate=plate,
        rows=int(_number(detail, "RowCount", root / MEASUREMENT_DETAIL)),
        columns=int(_number(detail, "ColumnCount", root / MEASUREMENT_DETAIL)),
        channels=channels,
        records=tuple(_records(root / MEASUREMENT_DATA)),
    )


def _parse(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc}); copy the measurement again") from None


def _attr(element: ET.Element, name: str, where: Path) -> str:
    value = element.get(f"{_NS}{name}")
    if value is None:
        raise InputError(f"{where}: a {element.tag.replace(_NS, '')} without {name}; the file is "
                         "damaged or from a CellVoyager version ngff-fuse does not know")
    return value


def _number(element: ET.Element, name: str, where: Path) -> float:
    text = _attr(element, name, where)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise InputError(f"{where}: {name}={text!r} is not a number; the file is damaged")
    return value


def _records(path: Path) -> Iterable[Record]:
    for element in _parse(path).iter(f"{_NS}MeasurementRecord"):
        kind = element.get(f"{_NS}Type")
        if kind not in ("IMG", "ERR"):
            continue  # other record kinds (none seen) hold no image
        whole = lambda name: int(_number(element, name, path))  # noqa: E731
        yield Record(
            row=whole("Row"), column=whole("Column"), field=whole("FieldIndex"),
            timepoint=whole("TimePoint"),
            channel=(int(element.get(f"{_NS}TimelineIndex", "1")), int(element.get(f"{_NS}ActionIndex", "1")),
                     whole("Ch")),
            z_index=whole("ZIndex"),
            stage=(_number(element, "Z", path), _number(element, "Y", path), _number(element, "X", path)),
            file=((element.text or "").strip() or None) if kind == "IMG" else None,
        )


def _channel_settings(root: Path, detail: ET.Element) -> dict[int, tuple[str | None, str | None]]:
    """Label and colour of each Ch from the measurement setting (.mes), when the folder has it."""
    name = detail.get(f"{_NS}MeasurementSettingFileName")
    path = root / name if name else None
    if path is None or not path.is_file():
        return {}
    settings = {}
    for element in _parse(path).iter(f"{_NS}Channel"):
        ch = element.get(f"{_NS}Ch")
        if ch is None or not ch.isdigit():
            continue
        fluorophore = (element.get(f"{_NS}Fluorophore") or "").strip()
        target, band = element.get(f"{_NS}Target"), element.get(f"{_NS}Acquisition")
        label = fluorophore or " ".join(p for p in (f"{target} nm" if target else None, band) if p) or None
        argb = (element.get(f"{_NS}Color") or "").lstrip("#")
        color = argb[-6:].upper() if len(argb) in (6, 8) else None
        settings[int(ch)] = (label, color)
    return settings


# ---- one well --------------------------------------------------------------------------------


def _well_tileset(measurement: Measurement, well: PlateWell, options: ReadOptions) -> TileSet:
    name = well.name
    records = [r for r in measurement.records if (r.row - 1, r.column - 1) == (well.row, well.column)]
    images = [r for r in records if r.file is not None]
    channels = sorted({r.channel for r in images})
    timepoints = sorted({r.timepoint for r in images})
    z_indices = sorted({r.z_index for r in images})
    settings = [_setting(measurement, ch) for _, _, ch in channels]
    if options.pixel_size is None:
        z_step, z_note = _z_step(images, len(z_indices))
        found = (z_step, *_channel_pixel_size(measurement, settings))
    else:
        found, z_note = (None, None, None), None
    calibration = decide_pixel_size(found, options.pixel_size, has_depth=len(z_indices) > 1,
                                    where=str(measurement.root), source=MEASUREMENT_DETAIL)
    spacing = calibration.spacing
    pixel_size = spacing[1:]
    labels = _labels(channels, settings)
    fields = sorted({r.field for r in images})
    z0 = min(images, key=lambda r: (r.field, r.timepoint, r.z_index, r.channel)).stage[0]
    own = {number: [r for r in images if r.field == number] for number in fields}
    pixels = {number: _field_pixels(measurement, own[number], timepoints, channels, z_indices) for number in fields}
    firsts = {number: min(own[number], key=lambda r: (r.timepoint, r.z_index, r.channel)) for number in fields}
    # image rows run down the plate: y = -Y
    corners, shift = field_corners([(-firsts[n].stage[1], firsts[n].stage[2]) for n in fields],
                                   [pixels[n].shape[3:] for n in fields], pixel_size)
    tiles = []
    for number, corner in zip(fields, corners):
        data, first = pixels[number], firsts[number]
        origin = (z0, *corner)  # fields share the first one's z, as its planes' stage Z say
        tile_name = f"{name} field {number}"
        tiles.append(Tile(
            data=tile_array(data, spacing, origin, tile_name, labels),
            affine=transforms.placement(spacing, origin),
            name=tile_name,
            source=TileSource(str(measurement.root / first.file)),
        ))
    return TileSet(
        tiles=tuple(tiles),
        spacing=spacing,
        dims=present_dims(tiles[0].data.shape),
        name=f"{measurement.plate}_{name}",
        unit=MICROMETER,
        channel_names=labels,
        channel_colors=tuple(s.color for s in settings),
        position_source=(f"{MEASUREMENT_DATA} X/Y (um, field centre; image y = -Y) of each field, "
                         "rounded to whole pixels"),
        notes=_notes(name, records, images, channels, z_indices, (z_note, *calibration.notes), shift),
        well=well,
    )


def _setting(measurement: Measurement, ch: int) -> ChannelSetting:
    if ch not in measurement.channels:
        raise InputError(f"{measurement.root / MEASUREMENT_DATA}: images of Ch {ch}, which "
                         f"{MEASUREMENT_DETAIL} does not describe; copy the measurement again")
    return measurement.channels[ch]


def _field_pixels(measurement: Measurement, records: Sequence[Record], timepoints: Sequence[int],
                  channels: Sequence[tuple[int, int, int]], z_indices: Sequence[int]) -> da.Array:
    """The field's lazy (t, c, z, y, x) pixels; planes it has no image of stay 0."""
    planes: dict[tuple[int, int, int], da.Array] = {}
    for r in records:
        path = measurement.root / r.file
        if not path.is_file():
            raise InputError(f"{path}: listed in {MEASUREMENT_DATA} but missing; the measurement "
                             "was copied incompletely: copy it again")
        image = read_image_file(path)
        if image.data.shape[:3] != (1, 1, 1):
            raise InputError(f"{path}: holds {image.data.shape[:3]} (t, c, z) planes, not one as a "
                             "CellVoyager writes; copy the measurement again")
        key = (timepoints.index(r.timepoint), channels.index(r.channel), z_indices.index(r.z_index))
        planes[key] = image.data
    return stack_planes(planes, (len(timepoints), len(channels), len(z_indices)),
                        f"{measurement.root}: field {records[0].field}",
                        "export them at one binning and bit depth", fill_missing=True)


def _channel_pixel_size(measurement: Measurement, settings: Sequence[ChannelSetting]) -> tuple[float, float]:
    """(y, x) um from the .mrf, which every imaged channel must share."""
    sizes = {s.pixel_size for s in settings}
    if len(sizes) > 1:
        raise InputError(f"{measurement.root / MEASUREMENT_DETAIL}: the channels' pixel sizes "
                         f"differ ({', '.join(f'{y:g} x {x:g}' for y, x in sorted(sizes))} um: "
                         "binning per channel); convert the channels separately or pass --pixel-size")
    return next(iter(sizes))


def _z_step(images: Sequence[Record], planes: int) -> tuple[float | None, str | None]:
    """The z step (um): the median step of stage Z per ZIndex within each stack; None for 2-D."""
    if planes < 2:
        return None, None
    stacks: dict[tuple, list[tuple[int, float]]] = {}
    for r in images:
        stacks.setdefault((r.field, r.timepoint, r.channel), []).append((r.z_index, r.stage[0]))
    steps = []
    for stack in stacks.values():
        stack.sort()
        steps += [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(stack, stack[1:]) if b[0] != a[0]]
    step = round(float(np.median(steps)), 2) if steps else 0.0
    if abs(step) < _Z_RESOLUTION:
        return 1.0, "the planes' stage Z does not step: z step assumed 1 micrometer; pass --pixel-size to set it"
    order = " (ZIndex 1 is the top plane)" if step < 0 else ""
    return step, f"z step {abs(step):g} um{order}: the median step of the planes' stage Z"


def _labels(channels: Sequence[tuple[int, int, int]], settings: Sequence[ChannelSetting]) -> tuple[str, ...]:
    """The setting's label, made unique with the action (a Ch imaged twice) where needed."""
    labels = [s.label or f"Ch {ch}" for (_, _, ch), s in zip(channels, settings)]
    return tuple(
        label if labels.count(label) == 1 else f"{label} (timeline {tl}, action {action})"
        for label, (tl, action, _) in zip(labels, channels)
    )


def _notes(well: str, records: Sequence[Record], images: Sequence[Record],
           channels: Sequence[tuple[int, int, int]], z_indices: Sequence[int],
           z_notes: Sequence[str | None], shift: float) -> tuple[str, ...]:
    notes = [note for note in z_notes if note]
    notes += rounding_note(shift, "field")
    failed = [r for r in records if r.file is None]
    if failed:
        shown = ", ".join(f"field {r.field} Ch {r.channel[2]} t {r.timepoint} z {r.z_index}" for r in failed[:4])
        notes.append(f"{well}: {len(failed)} image(s) recorded as errors (ERR) are empty (0): "
                     f"{shown}{' ...' if len(failed) > 4 else ''}")
    for channel in channels:
        have = {r.z_index for r in images if r.channel == channel}
        if len(have) < len(z_indices):
            notes.append(f"Ch {channel[2]} (action {channel[1]}) has {len(have)} of {len(z_indices)} "
                         "planes; its other planes are empty (0)")
    heights = {r.stage[0] for r in images if r.z_index == z_indices[0]}
    if len(heights) > 1:
        notes.append(f"fields placed at one z; their first planes' stage Z differ by up to "
                     f"{max(heights) - min(heights):.2f} um")
    return tuple(notes)
