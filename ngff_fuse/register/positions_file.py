"""Refined positions on disk, to reuse them (`convert --positions FILE`) or read them elsewhere.

Two formats, chosen by the suffix:

`.txt`: a Fiji / BigStitcher TileConfiguration (`dim = 2|3`, one `file; [series]; (x, y[, z])`
line per tile, in PIXELS, in the input's tile order). A tile read from a file is named by that
file, relative to the txt's folder, so Fiji can open the txt beside the tiles; other tiles by
their name (or `tile<i>` when the name cannot be written there). Only positions: no quality.

`.json`: everything the registration found, for people and programs:

    {
      "format": "ngff-fuse-positions", "version": 1,
      "mosaic": "<tile set name>",
      "unit": "micrometer" | null,      # unit of every position below; null: uncalibrated,
                                        # positions are pixels (pixel_size is then 1)
      "axes": ["z", "y", "x"],          # order of every vector below
      "pixel_size": [z, y, x],          # in `unit`
      "registration": {...},            # Registration.to_metadata(): channel, max shift,
                                        # score threshold and how it was derived, counts
      "tiles": [{                       # in the input's tile order
        "index": 0, "name": "...", "source": "...",
        "stage_position": [z, y, x],    # the tile's first pixel, in `unit`, as read
        "position": [z, y, x],          # the same after registration: what is applied
        "stage_position_px": [...], "position_px": [...],   # the same in pixels
        "correction_px": [...],         # position_px - stage_position_px
        "residual_px": 0.12 | null,     # RMS residual of its accepted links (null: none)
        "links": 3                      # accepted links touching the tile
      }, ...],
      "links": [{                       # every pair of tiles that overlap by the stage
        "a": 0, "b": 1,                 # tile indices
        "stage_offset_px": [...],       # b's first pixel in a's pixel frame, by the stage
        "measured_offset_px": [...],    # the same, measured from the overlap's pixels
        "shift_px": [...],              # measured - stage
        "score": 0.93,                  # NCC of the overlapping pixels at the measured offset
        "accepted": true, "reason": null | "why it was not used",
        "residual_px": 0.08             # |shift - (correction_b - correction_a)|
      }, ...]
    }

Applying either file matches tiles by order and checks the count and the names; the JSON also
checks the pixel size, so positions never land on a differently calibrated input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ngff_fuse._axes import SPATIAL
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet
from ngff_fuse.readers.tileconfig import TileConfigEntry, format_tileconfig, parse_tileconfig
from ngff_fuse.register.registration import Registration

FORMAT = "ngff-fuse-positions"
VERSION = 1


def _floats(values) -> list[float]:
    return [float(v) for v in values]


def _writable_name(name: str) -> bool:
    """What format_tileconfig can write and parse_tileconfig reads back unchanged."""
    return bool(name) and ";" not in name and name[:1] != "#" and name.strip() == name and (
        name.splitlines() == [name]
    )


def _tile_file(tile: Tile, index: int, folder: Path) -> tuple[str, int | None]:
    """The (file, series) a TileConfiguration names this tile by."""
    file, series = tile.source.path, tile.source.series
    if Path(file).is_file() and not tile.source.part:
        try:
            file = os.path.relpath(Path(file).resolve(), folder.resolve())
        except ValueError:  # another drive (Windows): keep it absolute
            file = str(Path(file).resolve())
        if _writable_name(file):
            return file.replace(os.sep, "/"), series
    return (tile.name if _writable_name(tile.name) else f"tile{index}"), None


def _write_txt(registration: Registration, path: Path) -> None:
    tileset = registration.tileset
    spacing = np.asarray(tileset.spacing, dtype=float)
    dim = 3 if tileset.is_3d else 2
    entries = []
    for index, tile in enumerate(tileset.tiles):
        z, y, x = tile.origin / spacing
        file, series = _tile_file(tile, index, path.parent)
        entries.append(TileConfigEntry(file, series, (x, y, z) if dim == 3 else (x, y)))
    text = format_tileconfig(dim, entries)
    header = (
        f"# Tile positions refined by ngff-fuse registration ({registration.accepted_links} of "
        f"{len(registration.links)} overlaps matched), in pixels\n"
    )
    path.write_text(header + text, encoding="utf-8")


def _document(registration: Registration) -> dict:
    stage, refined = registration.stage, registration.tileset
    spacing = np.asarray(stage.spacing, dtype=float)
    tiles = []
    rows = zip(stage.tiles, refined.tiles, registration.tiles)
    for index, (before, after, result) in enumerate(rows):
        tiles.append({
            "index": index, "name": before.name, "source": str(before.source),
            "stage_position": _floats(before.origin), "position": _floats(after.origin),
            "stage_position_px": _floats(before.origin / spacing),
            "position_px": _floats(after.origin / spacing),
            "correction_px": _floats(result.correction_px),
            "residual_px": result.residual_px, "links": result.links,
        })
    links = [{
        "a": link.a, "b": link.b,
        "stage_offset_px": _floats(link.stage_offset_px),
        "measured_offset_px": _floats(link.measured_offset_px),
        "shift_px": _floats(link.shift_px),
        "score": link.score, "accepted": link.accepted, "reason": link.reason or None,
        "residual_px": link.residual_px,
    } for link in registration.links]
    return {
        "format": FORMAT, "version": VERSION, "mosaic": stage.name, "unit": stage.unit,
        "axes": list(SPATIAL), "pixel_size": _floats(spacing),
        "registration": registration.to_metadata(), "tiles": tiles, "links": links,
    }


def _write_json(registration: Registration, path: Path) -> None:
    """Indented at the top, one line per tile and per link: readable, and diffable by line."""
    document = _document(registration)
    rows = {key: document.pop(key) for key in ("tiles", "links")}
    lines = ["{"]
    lines += [f" {json.dumps(k)}: {json.dumps(v, allow_nan=False)}," for k, v in document.items()]
    for key, items in rows.items():
        body = ",\n".join(f"  {json.dumps(item, allow_nan=False)}" for item in items)
        lines.append(f" {json.dumps(key)}: [\n{body}\n ]" + ("," if key == "tiles" else ""))
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _check_count(path: Path, found: int, tileset: TileSet) -> None:
    if found != len(tileset.tiles):
        raise InputError(
            f"{path}: lists {found} tiles but {tileset.name} has {len(tileset.tiles)}; use the "
            "positions file written for this input"
        )


def _mismatch(path: Path, index: int, listed: str, tile: Tile) -> InputError:
    return InputError(
        f"{path}: tile {index} is {listed!r} there but {tile.name!r} ({tile.source}) in the input; "
        "use the positions file written for this input, in its tile order"
    )


def _apply_txt(tileset: TileSet, path: Path) -> TileSet:
    dim, entries = parse_tileconfig(_read(path), str(path))
    _check_count(path, len(entries), tileset)
    spacing = np.asarray(tileset.spacing, dtype=float)
    origins = []
    for index, (entry, tile) in enumerate(zip(entries, tileset.tiles)):
        file, series = _tile_file(tile, index, path.parent)
        if Path(entry.file).name != Path(file).name or (entry.series or 0) != (series or 0):
            raise _mismatch(path, index, entry.file, tile)
        x, y, *z = entry.position
        origin = tile.origin.copy()
        origin[1:] = (y * spacing[1], x * spacing[2])
        if z:
            origin[0] = z[0] * spacing[0]
        origins.append(origin)
    return tileset.moved_to(
        np.array(origins), f"pixel positions from {path.name} (TileConfiguration)"
    )


def _apply_json(tileset: TileSet, path: Path) -> TileSet:
    try:
        document = json.loads(_read(path))
        if document.get("format") != FORMAT:
            raise ValueError(f"format is {document.get('format')!r}, not {FORMAT!r}")
        listed = document["tiles"]
        spacing = [float(v) for v in document["pixel_size"]]
        positions = np.array([[float(v) for v in tile["position"]] for tile in listed]).reshape(-1, 3)
        names = [str(tile["name"]) for tile in listed]
        unit = document["unit"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{path}: not an ngff-fuse positions file ({exc}); write one with ngff-fuse register"
        ) from None
    if document.get("version") != VERSION:
        raise InputError(
            f"{path}: positions file version {document.get('version')!r}; this ngff-fuse reads "
            f"version {VERSION}"
        )
    _check_count(path, len(listed), tileset)
    if unit != tileset.unit or not np.allclose(spacing, tileset.spacing, rtol=1e-6, atol=0):
        raise InputError(
            f"{path}: positions are for pixel size {spacing} {unit or 'px'} but the input has "
            f"{list(tileset.spacing)} {tileset.unit or 'px'}; pass the same --pixel-size as "
            "when registering, or register again"
        )
    if not np.all(np.isfinite(positions)):
        raise InputError(f"{path}: a position is not a finite number; register again")
    for index, (name, tile) in enumerate(zip(names, tileset.tiles)):
        if name != tile.name:
            raise _mismatch(path, index, name, tile)
    return tileset.moved_to(positions, f"positions from {path.name} (ngff-fuse register)")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such positions file; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read ({exc}); check the file") from None


_FORMATS: dict[str, tuple[Callable[[Registration, Path], None], Callable[[TileSet, Path], TileSet]]] = {
    ".txt": (_write_txt, _apply_txt),
    ".json": (_write_json, _apply_json),
}


def _format(path: Path):
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise InputError(
            f"{path}: positions files end in .txt (Fiji TileConfiguration) or .json "
            "(ngff-fuse, with link quality); pick one of those suffixes"
        ) from None


def write_positions(registration: Registration, path: str | Path) -> Path:
    """Write the refined positions as .txt (TileConfiguration) or .json (with quality)."""
    path = Path(path)
    writer, _ = _format(path)
    writer(registration, path)
    return path


def apply_positions(tileset: TileSet, path: str | Path) -> TileSet:
    """The tile set at the positions of a file written by `write_positions` (or a Fiji
    TileConfiguration of the same tiles), matched by tile order; InputError on any mismatch."""
    path = Path(path)
    _, reader = _format(path)
    return reader(tileset, path)
