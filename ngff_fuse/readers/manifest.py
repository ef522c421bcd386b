"""Tile manifests (.json / .csv): image files and their positions, for data no stitcher wrote.

Both forms are checked against the one schema in schemas/tile-manifest.schema.json (CSV rows
are first turned into the JSON structure), so the two can never drift apart. Files of one
tile (same tile id, or same position) that differ in channel / t / z_index are stacked.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

import dask.array as da
import numpy as np

from ngff_fuse import transforms
from ngff_fuse._axes import MICROMETER, PIXEL_UNITS, is_length_unit, length_in_um, present_dims
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array
from ngff_fuse.readers._listing import (
    calibration, first_repeat, listed_channel_colors, listed_channel_names, open_listed,
)
from ngff_fuse.readers.base import ReadOptions, pick_scenes
from ngff_fuse.readers.tiff_segments import SegmentCache
from ngff_fuse.readers.image_file import ImageFile
from ngff_fuse.readers.pixel_size import PixelSize
from ngff_fuse.readers.planes import stack_planes
from ngff_fuse.readers.samples import channel_labels
from ngff_fuse.storage import Location

SCHEMA_NAME = "tile-manifest.schema.json"
#: Per-file CSV columns; the same keys as a JSON "tiles" entry.
CSV_COLUMNS = ("file", "x", "y", "z", "tile", "channel", "t", "z_index", "series")
#: CSV columns that describe the whole manifest and so must hold one value on every row.
CSV_CONSTANT_COLUMNS = (
    "position_unit", "pixel_size_x", "pixel_size_y", "pixel_size_z", "pixel_size_unit", "name",
)
# Manifest keys that place a file inside its tile, and the tile axis (t, c, z) each stacks on.
_PLANE_KEYS = ("t", "channel", "z_index")
_SEE_SCHEMA = f"see schemas/{SCHEMA_NAME}"


@dataclass(frozen=True)
class ManifestFile:
    """One entry of "tiles": which file (and series) and which plane of its tile it holds."""

    index: int  # position in "tiles", for error messages
    file: str
    series: int | None
    plane: tuple[int | None, int | None, int | None]  # (t, channel, z_index); None = not split


@dataclass(frozen=True)
class ManifestTile:
    """Files stacked into one 5-D tile, in t-major, then channel, then z_index order."""

    name: str
    position: tuple[float, float, float]  # (z, y, x) in the manifest's position unit
    files: tuple[ManifestFile, ...]
    counts: tuple[int, int, int]  # number of files along t, channel, z_index


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: what the files say is left to the reader."""

    tiles: tuple[ManifestTile, ...]
    position_um: float | None  # micrometres per position unit; None: positions are pixels
    position_unit: str
    pixel_size: PixelSize | None  # (z, y, x) um when the manifest gives it
    name: str | None
    channel_names: tuple[str, ...]
    channels: tuple[int, ...] | None  # channel indices when each file holds one channel
    notes: tuple[str, ...]


@cache
def manifest_schema() -> dict:
    """The packaged JSON Schema every manifest, JSON or CSV, is checked against."""
    return json.loads((files("ngff_fuse") / "schemas" / SCHEMA_NAME).read_text(encoding="utf-8"))


@cache
def _validator():
    # imported on first use: every reader module loads when a reader is sought
    from jsonschema import Draft202012Validator

    return Draft202012Validator(manifest_schema())


def validate_manifest(data: object, source: str, lines: Sequence[int] = ()) -> Manifest:
    """Check a JSON-like manifest against the schema and for consistency; InputError if not.

    `lines` gives the CSV line of each "tiles" entry, so errors point at the row to fix.
    """
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(data))
    if error is not None:
        parts = list(error.absolute_path)
        row = parts[1] if parts[:1] == ["tiles"] and len(parts) > 1 else None
        where = f" (CSV line {lines[row]})" if row is not None and row < len(lines) else ""
        message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        raise InputError(f"{source}: {_field_path(parts)}: {message}{where}; {_SEE_SCHEMA}")
    notes = []
    unit = data.get("position_unit")
    if unit is None:
        unit = MICROMETER
        notes.append(f"{Path(source).name} gives no position_unit: assumed micrometer")
    if unit.strip().lower() in PIXEL_UNITS:
        position_um = None
    elif is_length_unit(unit):
        position_um = length_in_um(unit)
    else:
        raise InputError(
            f"{source}: position_unit: {unit[:40]!r} is not a known unit; use px or a length "
            "unit such as micrometer, um, nm, mm"
        )
    _check_files_once(data["tiles"], source, lines)
    plane_used = _plane_keys_used(data["tiles"], source)
    tiles = _group(data["tiles"], source, plane_used)
    channels = None
    if plane_used["channel"]:
        channels = tuple(sorted({f.plane[1] for f in tiles[0].files}))
    return Manifest(
        tiles=tiles,
        position_um=position_um,
        position_unit=unit,
        pixel_size=_pixel_size(data, source),
        name=data.get("name"),
        channel_names=tuple(data.get("channel_names", ())),
        channels=channels,
        notes=tuple(notes),
    )


def _field_path(parts) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return text or "(top level)"


def _finite(value, where: str) -> float:
    try:
        number = float(value)
    except OverflowError:
        raise InputError(f"{where}: number too large; give a finite number") from None
    if not math.isfinite(number):
        raise InputError(f"{where}: {number} is not a finite number; give a real number")
    return number


def _pixel_size(data: dict, source: str) -> PixelSize | None:
    size = data.get("pixel_size")
    if size is None:
        return None
    unit = data.get("pixel_size_unit", MICROMETER)
    if not is_length_unit(unit):
        raise InputError(
            f"{source}: pixel_size_unit: {unit[:40]!r} is not a length unit; use e.g. micrometer, "
            "um, nm"
        )
    if not isinstance(size, dict):
        size = {"x": size, "y": size, "z": size}
    um = length_in_um(unit)
    sizes = {k: _finite(v, f"{source}: pixel_size.{k}") * um for k, v in size.items()}
    if not all(v > 0 for v in sizes.values()):
        raise InputError(f"{source}: pixel_size is too small to be a size; check pixel_size_unit")
    return (sizes.get("z"), sizes["y"], sizes["x"])


def _check_files_once(items: list[dict], source: str, lines: Sequence[int]) -> None:
    repeat = first_repeat([(item["file"], item.get("series")) for item in items])
    if repeat is None:
        return
    first, again = repeat
    series = f" series {items[again]['series']}" if items[again].get("series") else ""
    where = f" (CSV lines {lines[first]} and {lines[again]})" if len(lines) > again else ""
    raise InputError(
        f"{source}: tiles[{first}] and tiles[{again}] both list {items[again]['file']}{series}"
        f"{where}; list every tile file once"
    )


def _plane_keys_used(items: list[dict], source: str) -> dict[str, bool]:
    """Each of t / channel / z_index must be given on every file or on none."""
    used = {}
    for key in _PLANE_KEYS:
        having = [i for i, item in enumerate(items) if key in item]
        if having and len(having) != len(items):
            missing = next(i for i, item in enumerate(items) if key not in item)
            raise InputError(
                f"{source}: tiles[{missing}] has no {key} but tiles[{having[0]}] has one; give "
                f"{key} on every file or on none"
            )
        used[key] = bool(having)
    return used


def _group(items: list[dict], source: str, plane_used: dict[str, bool]) -> tuple[ManifestTile, ...]:
    """Files -> tiles, checking that every tile has the same complete set of planes."""
    groups: dict[tuple, list[tuple[int, tuple[float, float, float], dict]]] = {}
    for index, item in enumerate(items):
        where = f"{source}: tiles[{index}]"
        position = (
            _finite(item.get("z", 0), f"{where}.z"),
            _finite(item["y"], f"{where}.y"),
            _finite(item["x"], f"{where}.x"),
        )
        key = ("tile", str(item["tile"])) if "tile" in item else ("at", position)
        groups.setdefault(key, []).append((index, position, item))
    planes = {
        key: sorted({int(item[key]) for item in items}) if plane_used[key] else [None]
        for key in _PLANE_KEYS
    }
    wanted = [(t, c, z) for t in planes["t"] for c in planes["channel"] for z in planes["z_index"]]
    return tuple(_tile(key, members, wanted, source) for key, members in groups.items())


def _tile(key: tuple, members: list, wanted: list, source: str) -> ManifestTile:
    first_index, position, first = members[0]
    name = key[1] if key[0] == "tile" else Path(first["file"]).stem
    by_plane: dict[tuple, ManifestFile] = {}
    for index, at, item in members:
        if at != position:
            raise InputError(
                f"{source}: tiles[{index}] of tile {name!r} is at (z, y, x) = {at} but "
                f"tiles[{first_index}] of the same tile is at {position}; files of one tile share "
                "one position"
            )
        plane = tuple(None if k not in item else int(item[k]) for k in _PLANE_KEYS)
        if plane in by_plane:
            raise InputError(
                f"{source}: tiles[{index}] and tiles[{by_plane[plane].index}] are both "
                f"{_plane_text(name, plane)}; give each file its own tile id, channel, t or z_index"
            )
        series = int(item["series"]) if "series" in item else None
        by_plane[plane] = ManifestFile(index, item["file"], series, plane)
    for plane in wanted:
        if plane not in by_plane:
            raise InputError(
                f"{source}: there is no file for {_plane_text(name, plane)}; every tile needs a "
                "file for each channel/t/z_index combination that any tile has"
            )
    counts = tuple(len({p[axis] for p in wanted}) for axis in range(3))
    return ManifestTile(name, position, tuple(by_plane[p] for p in wanted), counts)


def _plane_text(name: str, plane: tuple) -> str:
    parts = [f"{k} {v}" for k, v in zip(_PLANE_KEYS, plane) if v is not None]
    return f"tile {name!r}" + (f" ({', '.join(parts)})" if parts else "")


#: Cell separators a CSV manifest may use: commas, or the semicolons (and tabs) that
#: spreadsheets write where the comma is the decimal mark. The header decides which.
CSV_DELIMITERS = (",", ";", "\t")
_REQUIRED_COLUMNS = ("file", "x", "y")
_DECIMAL_COMMA = re.compile(r"[-+]?[0-9]*,[0-9]+")


def csv_delimiter(header: str) -> str | None:
    """The separator under which the header line `header` names the columns file, x and y,
    or None when none does."""
    for delimiter in CSV_DELIMITERS:
        try:
            cells = next(csv.reader([header], delimiter=delimiter), [])
        except csv.Error:  # a stray quote or carriage return: the full parse says where
            continue
        if set(_REQUIRED_COLUMNS) <= {cell.strip().lower() for cell in cells}:
            return delimiter
    return None


def manifest_from_csv(text: str, source: str) -> tuple[dict, list[int]]:
    """The JSON structure of a CSV manifest, and the CSV line of each row, for validation."""
    first = next(iter(text.splitlines()), "")
    # a header without file, x, y is split where it splits most, so its error lists its columns
    delimiter = csv_delimiter(first) or max(CSV_DELIMITERS, key=first.count)
    rows = _csv_rows(text, source, delimiter)
    _, header = next(rows, (1, []))
    header = [cell.strip().lower() for cell in header]
    _check_header(header, source)
    constants: dict[str, tuple[int, str]] = {}
    tiles, lines = [], []
    for line, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise InputError(f"{source}, line {line}: more cells than the header has columns")
        cells = dict(zip(header, (cell.strip() for cell in row)))
        for column in (c for c in header if c in CSV_CONSTANT_COLUMNS):
            first_line, first = constants.setdefault(column, (line, cells.get(column, "")))
            if cells.get(column, "") != first:
                raise InputError(
                    f"{source}, line {line}: {column} is {cells.get(column, '')!r} but {first!r} "
                    f"on line {first_line}; {column} must be the same on every row"
                )
        if delimiter != ",":
            _refuse_decimal_commas(cells, source, line)
        tiles.append({k: _csv_value(k, v) for k, v in cells.items() if k in CSV_COLUMNS and v})
        lines.append(line)
    data: dict = {"tiles": tiles}
    for column, (_, value) in constants.items():
        if value and column in ("pixel_size_x", "pixel_size_y", "pixel_size_z"):
            data.setdefault("pixel_size", {})[column[-1]] = _csv_value(column, value)
        elif value:
            data[column] = value
    return data, lines


def _check_header(header: list[str], source: str) -> None:
    """The header names file, x and y, each column once, and no column the manifest lacks."""
    known = CSV_COLUMNS + CSV_CONSTANT_COLUMNS
    allowed = f"the columns are file, x, y plus any of {', '.join(known[3:])}"
    missing = [column for column in _REQUIRED_COLUMNS if column not in header]
    if missing:
        found = ", ".join(map(repr, header))[:200]
        raise InputError(f"{source}: the header lacks the column(s) {', '.join(missing)} (found {found}); "
                         f"{allowed}, separated by commas (or semicolons)")
    unknown = [column for column in header if column not in known]
    if unknown:
        raise InputError(f"{source}: unknown column(s) {', '.join(map(repr, unknown))[:200]} in the header; "
                         f"{allowed}")
    repeated = next((column for i, column in enumerate(header) if column in header[:i]), None)
    if repeated is not None:
        raise InputError(f"{source}: the header names the column {repeated!r} twice; name each once")


def _refuse_decimal_commas(cells: dict[str, str], source: str, line: int) -> None:
    """In a file separated by semicolons a number may carry a decimal comma (1,5): refused,
    never guessed, as 1,234 may as well mean a thousand."""
    for column, text in cells.items():
        if column not in ("file", "tile", "name") and _DECIMAL_COMMA.fullmatch(text):
            raise InputError(f"{source}, line {line}: {column} is {text!r}, with a decimal comma; "
                             f"write {text.replace(',', '.')} (decimal points only)")


def _csv_rows(text: str, source: str, delimiter: str = ","):
    """(line the row starts on, cells) of every CSV row, header included."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            f"{source}, line {start}: not readable as CSV ({exc}); check the quoting"
        ) from None


def _csv_value(column: str, text: str):
    """A CSV cell as the JSON type its column wants, or the text itself for the schema to reject."""
    if column in ("file", "tile"):
        return text
    for kind in (int, float) if column in ("channel", "t", "z_index", "series") else (float,):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def load_manifest(path: Location) -> Manifest:
    """Parse and validate a .json or .csv manifest file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; save the manifest as UTF-8") from None
    if path.suffix.lower() == ".csv":
        data, lines = manifest_from_csv(text, str(path))
        return validate_manifest(data, str(path), lines)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "fix the syntax"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: cannot be read as JSON ({exc}); fix the manifest") from None
    return validate_manifest(data, str(path))


class ManifestReader:
    """Reader for tile manifests in JSON or CSV."""

    name = "manifest"
    description = "tile manifest (.json/.csv, schema in schemas/)"
    suffixes = (".json", ".csv")
    reads_urls = True  # a manifest at a URL, or listing TIFF tiles at URLs

    def can_open(self, path: Location) -> bool:
        suffix = path.suffix.lower()
        if suffix not in (".json", ".csv") or not path.is_file():
            return False
        try:
            if suffix == ".csv":
                with path.open("r", encoding="utf-8-sig", newline="") as handle:
                    return csv_delimiter(handle.readline()) is not None
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (ValueError, RecursionError, csv.Error):
            return False
        return isinstance(data, dict) and "tiles" in data

    def read(self, path: Location, options: ReadOptions) -> list[TileSet]:
        manifest = load_manifest(path)
        pick_scenes(path, [manifest.name or path.stem], options.scenes)
        segments = SegmentCache()  # decoded TIFF segments, shared by every tile's reads
        stacks = [_open_tile(path, tile, segments, options.storage_options) for tile in manifest.tiles]
        images = [image for _, images in stacks for image in images]
        cal = calibration(images, options.pixel_size, manifest.pixel_size)
        if manifest.position_um is not None and cal.unit is None:
            raise InputError(
                f"{path}: positions are in {manifest.position_unit} but no pixel size is known; "
                "add pixel_size to the manifest or pass --pixel-size"
            )
        names, colors = _channels(path, manifest, stacks[0][0], stacks[0][1][0])
        tiles = []
        for tile, (data, files_) in zip(manifest.tiles, stacks):
            if manifest.position_um is None:  # pixel positions: scale by the pixel size
                origin = tuple(p * s for p, s in zip(tile.position, cal.spacing))
            else:
                origin = tuple(p * manifest.position_um for p in tile.position)
            tiles.append(
                Tile(
                    data=tile_array(data, cal.spacing, origin, tile.name, names or None),
                    affine=transforms.placement(cal.spacing, origin),
                    name=tile.name,
                    source=TileSource(str(files_[0].path)),
                )
            )
        return [
            TileSet(
                tiles=tuple(tiles),
                spacing=cal.spacing,
                dims=present_dims(stacks[0][0].shape),
                name=manifest.name or path.stem,
                unit=cal.unit,
                channel_names=names,
                channel_colors=colors,
                position_source=f"positions from {path.name} (tile manifest, in "
                f"{manifest.position_unit})",
                notes=manifest.notes + cal.notes,
            )
        ]


def _open_tile(path: Location, tile: ManifestTile, segments: SegmentCache,
               storage: dict) -> tuple[da.Array, list[ImageFile]]:
    """Open a tile's files (TIFFs may be at URLs, opened with the `storage` options) and stack
    them into one lazy (t, c, z, y, x) array."""
    images = []
    for entry in tile.files:
        where = f"{path}: tiles[{entry.index}]"
        image = open_listed(path, entry.file, entry.series, where, segments, storage)
        for key, value, axis in zip(_PLANE_KEYS, entry.plane, range(3)):
            if value is not None and image.data.shape[axis] != 1:
                raise InputError(
                    f"{where}: gives {key} {value} but {image.path.name} holds "
                    f"{image.data.shape[axis]} along that axis; split it into one file per {key} "
                    f"or leave {key} out"
                )
        first = images[0] if images else image
        if (image.data.shape, image.data.dtype) != (first.data.shape, first.data.dtype):
            raise InputError(
                f"{where}: {image.path.name} is {image.data.dtype} {image.data.shape[2:]} but "
                f"{first.path.name} of the same tile {tile.name!r} is {first.data.dtype} "
                f"{first.data.shape[2:]}; the files of one tile must match"
            )
        images.append(image)
    # Files come t-major, then channel, then z_index: the grid's indices in that order.
    parts = {index: image.data for index, image in zip(np.ndindex(*tile.counts), images)}
    return stack_planes(parts, tile.counts, f"{path}: tile {tile.name!r}",
                        "give one file for each channel/t/z_index"), images


def _channels(
    path: Path, manifest: Manifest, data: da.Array, image: ImageFile
) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """Channel names from the manifest, else the channel indices of split files, else the
    files' own; and colours (the R, G, B of RGB files). Each sample of RGB files is a channel."""
    colors = listed_channel_colors(image)
    colors = colors * (data.shape[1] // len(colors)) if colors else ()  # channels split into files
    if manifest.channel_names:
        if len(manifest.channel_names) != data.shape[1]:
            raise InputError(
                f"{path}: channel_names has {len(manifest.channel_names)} names but the tiles have "
                f"{data.shape[1]} channels{_samples_note(image)}; give one name per channel"
            )
        return manifest.channel_names, colors
    if manifest.channels is not None:
        split = tuple(f"Channel {c}" for c in manifest.channels)
        return channel_labels(len(split), image.samples, split, (None,) * len(split))
    return listed_channel_names(image) or (), colors


def _samples_note(image: ImageFile) -> str:
    return f" (each of the {image.samples} samples of {image.path.name} is one)" if image.samples > 1 else ""
