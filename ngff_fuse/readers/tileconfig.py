"""Fiji / BigStitcher `TileConfiguration.txt`: image files at pixel positions.

    # comment
    dim = 2
    tile_1.tif; ; (0.0, 0.0)          file; [series]; (x, y[, z]) in pixels
    stack.czi; 3; (512.0, 0.0)        BigStitcher form: series 3 of a multi-series file

File paths are relative to the folder of the txt file. Fiji writes an optional
`multiseries = true` line after `dim` when the middle field holds series numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ngff_fuse import transforms
from ngff_fuse._axes import present_dims
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array
from ngff_fuse.readers._listing import (
    calibration, first_repeat, listed_channel_colors, listed_channel_names, open_listed,
)
from ngff_fuse.readers.base import ReadOptions, pick_scenes
from ngff_fuse.readers.tiff_segments import SegmentCache

_DIM = re.compile(r"dim\s*=\s*(\S*)", re.IGNORECASE)
_MULTISERIES = re.compile(r"multiseries\s*=\s*(true|false)", re.IGNORECASE)
_SERIES = re.compile(r"[0-9]{1,9}", re.ASCII)
_EXPECTED = {2: "file.tif; ; (x, y)", 3: "file.tif; ; (x, y, z)"}


@dataclass(frozen=True)
class TileConfigEntry:
    """One tile line: the file, its series (None = the file's only/first one), its position."""

    file: str
    series: int | None
    position: tuple[float, ...]  # pixels, in the file's order (x, y[, z])


def parse_tileconfig(text: str, source: str) -> tuple[int, list[TileConfigEntry]]:
    """The `dim` and the tile lines of a TileConfiguration text; InputError for anything else."""
    dim, numbered = _parse(text, source)
    return dim, [entry for _, entry in numbered]


def _parse(text: str, source: str) -> tuple[int, list[tuple[int, TileConfigEntry]]]:
    """As `parse_tileconfig`, keeping each entry's line number for later error messages."""
    dim = None
    numbered: list[tuple[int, TileConfigEntry]] = []
    for number, line in _content_lines(text):
        where = f"{source}, line {number}"
        if dim is None:
            dim = _parse_dim(line, where)
        elif _MULTISERIES.fullmatch(line) and not numbered:
            continue
        else:
            numbered.append((number, _parse_entry(line, dim, where)))
    if dim is None:
        raise InputError(f"{source}: no 'dim = 2' or 'dim = 3' line; start the file with one")
    repeat = first_repeat([(entry.file, entry.series) for _, entry in numbered])
    if repeat is not None:
        (first, _), (number, entry) = (numbered[i] for i in repeat)
        raise InputError(
            f"{source}, line {number}: {entry.file}{_series_text(entry.series)} is already listed "
            f"on line {first}; list every tile once"
        )
    return dim, numbered


def _content_lines(text: str):
    """(line number, stripped line) of every line that is not blank or a comment."""
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield number, line


def _parse_dim(line: str, where: str) -> int:
    match = _DIM.fullmatch(line)
    if not match:
        raise InputError(
            f"{where}: expected 'dim = 2' or 'dim = 3' before the tiles (a Fiji TileConfiguration), "
            f"found {line[:80]!r}"
        )
    if match.group(1) not in ("2", "3"):
        raise InputError(
            f"{where}: dim must be 2 or 3, found {match.group(1)[:20]!r}; write 'dim = 2' for "
            "(x, y) positions or 'dim = 3' for (x, y, z)"
        )
    return int(match.group(1))


def _parse_entry(line: str, dim: int, where: str) -> TileConfigEntry:
    malformed = f"{where}: cannot read {line[:80]!r}; expected the form '{_EXPECTED[dim]}'"
    fields = line.split(";")
    if len(fields) != 3:
        raise InputError(malformed)
    file, series, point = (f.strip() for f in fields)
    if not file or not (point.startswith("(") and point.endswith(")")):
        raise InputError(malformed)
    if series and not _SERIES.fullmatch(series):
        raise InputError(
            f"{where}: series {series[:20]!r} is not a whole number from 0 to 999999999"
        )
    try:
        position = tuple(float(value) for value in point[1:-1].split(","))
    except ValueError:
        raise InputError(malformed) from None
    if len(position) != dim:
        raise InputError(
            f"{where}: {len(position)} coordinates but dim = {dim}; expected the form "
            f"'{_EXPECTED[dim]}'"
        )
    if not all(math.isfinite(v) for v in position):
        raise InputError(f"{where}: position {point[:80]} is not finite; give numbers in pixels")
    return TileConfigEntry(file=file, series=int(series) if series else None, position=position)


def format_tileconfig(dim: int, entries: Sequence[TileConfigEntry]) -> str:
    """TileConfiguration text that Fiji, BigStitcher and `parse_tileconfig` read back."""
    if dim not in (2, 3):
        raise ValueError(f"dim must be 2 or 3, not {dim}")
    lines = ["# Define the number of dimensions we are working on", f"dim = {dim}"]
    if any(entry.series is not None for entry in entries):
        lines.append("multiseries = true")
    lines += ["", "# Define the image coordinates"]
    for entry in entries:
        file = entry.file
        # What parse_tileconfig would split, strip or skip as a comment cannot round-trip.
        if ";" in file or file[:1] == "#" or file.strip() != file or file.splitlines() != [file]:
            raise ValueError(f"file name {file!r} cannot be written to a TileConfiguration")
        if len(entry.position) != dim or not all(math.isfinite(v) for v in entry.position):
            raise ValueError(f"{file}: position {entry.position} is not {dim} finite numbers")
        series = "" if entry.series is None else str(entry.series)
        point = ", ".join(repr(float(v)) for v in entry.position)
        lines.append(f"{file}; {series}; ({point})")
    return "\n".join(lines) + "\n"


def _series_text(series: int | None) -> str:
    return "" if series is None else f" series {series}"


def _read_text(path: Path) -> str:
    """Fiji writes UTF-8 or, on older Windows installs, Latin-1."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class TileConfigReader:
    """Reader for Fiji Grid/Collection stitching and BigStitcher tile configurations."""

    name = "tileconfig"
    description = "Fiji/BigStitcher TileConfiguration.txt"
    suffixes = (".txt",)

    def can_open(self, path: Path) -> bool:
        if path.suffix.lower() != ".txt" or not path.is_file():
            return False
        with path.open("rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
        first = next(_content_lines(head), None)
        return first is not None and bool(_DIM.fullmatch(first[1]))

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        dim, numbered = _parse(_read_text(path), str(path))
        if not numbered:
            raise InputError(f"{path}: lists no tiles; add lines of the form '{_EXPECTED[dim]}'")
        mosaic_name = path.resolve().parent.name or path.stem
        pick_scenes(path, [mosaic_name], options.scenes)
        segments = SegmentCache()  # decoded TIFF segments, shared by every tile's reads
        images = [
            open_listed(path, entry.file, entry.series, f"{path}, line {number}", segments)
            for number, entry in numbered
        ]
        cal = calibration(images, options.pixel_size)
        first = images[0]
        tiles = []
        for (_, entry), image in zip(numbered, images):
            x, y, *z = entry.position
            # Fiji positions are the pixel index of the tile's first pixel: scale them to um.
            origin = tuple(p * s for p, s in zip((z[0] if z else 0.0, y, x), cal.spacing))
            name = Path(entry.file).stem + _series_text(entry.series)
            names = listed_channel_names(image)
            tiles.append(
                Tile(
                    data=tile_array(image.data, cal.spacing, origin, name, names),
                    affine=transforms.placement(cal.spacing, origin),
                    name=name,
                    source=TileSource(str(image.path), entry.series),
                )
            )
        return [
            TileSet(
                tiles=tuple(tiles),
                spacing=cal.spacing,
                dims=present_dims(first.data.shape),
                name=mosaic_name,
                unit=cal.unit,
                channel_names=listed_channel_names(first) or (),
                channel_colors=listed_channel_colors(first),
                position_source=f"pixel positions from {path.name} (Fiji TileConfiguration)",
                notes=cal.notes,
            )
        ]

