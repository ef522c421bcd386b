"""The reader interface every input kind implements, built-in or third-party."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from ngff_fuse.errors import InputError
from ngff_fuse.model import PlateWell, TileSet
from ngff_fuse.storage import Location, Remote


#: File name suffixes of TIFF (and BigTIFF) files, whatever reads them.
TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
#: ... and of OME-TIFF, which says what it is in its name.
OME_TIFF_SUFFIXES = tuple(".ome" + suffix for suffix in TIFF_SUFFIXES)


@dataclass(frozen=True)
class ReadOptions:
    """What the user may tell a reader that the files do not say."""

    pixel_size: tuple[float, float, float] | None = None  # (z, y, x) in micrometres
    scenes: tuple[int, ...] | None = None  # scene indices to read; None: every scene
    wells: tuple[str, ...] | None = None  # plate wells to read ("B03"); None: every well
    # fsspec options of the files a listing names by URL (--storage-option); an input given as
    # a `storage.Remote` carries its own. Kept out of repr and comparisons: it may hold keys.
    storage_options: dict = field(default_factory=dict, repr=False, compare=False)


@runtime_checkable
class Reader(Protocol):
    """Turns one input path into the mosaics (scenes) it holds.

    `can_open` must be cheap (suffix, a few header bytes); `read` builds lazy tiles and reads
    no pixels. Register an implementation under the `ngff_fuse.readers` entry point group.
    An optional integer class attribute `priority` (default 0) orders the claims: a reader for
    a layout inside a common format (a vendor's TIFF export, multi-file OME-TIFF) sets a higher
    one, so it sees such paths before the generic reader of that format. An optional attribute
    `suffixes` (lower-case, with the dot) names extensions meant for this reader alone (".csv"
    for a manifest): a file with one that no reader claims is still given to its `read`, whose
    error then says why the file cannot be read. An optional attribute `reads_urls` (default
    False) says that `can_open` and `read` also take an object at a URL (a `storage.Remote`):
    the other readers are never given one.
    """

    name: str
    description: str

    def can_open(self, path: Path) -> bool: ...

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]: ...


def pick_scenes(path: Path, names: Sequence[str], wanted: tuple[int, ...] | None) -> list[int]:
    """The scene indices to read: all, or the requested ones if the input has them. Every
    reader calls it, those of one-scene inputs too, so `--scene 99` is never ignored."""
    if wanted is None:
        return list(range(len(names)))
    missing = [i for i in wanted if not 0 <= i < len(names)]
    if missing:
        shown = ", ".join(f"{i} ({name})" for i, name in enumerate(names[:10]))
        if len(names) > 10:
            shown += f", ... {len(names) - 1}"
        raise InputError(f"{path}: no scene {missing[0]}; its scenes are {shown}; pick with --scene")
    return list(wanted)


_WELL = re.compile(r"([A-Za-z]{1,2})0*(\d{1,3})")


def well_position(name: str) -> tuple[int, int] | None:
    """The 0-based (row, column) of a well named like "B03", "b3" or "AF48"; None otherwise."""
    match = _WELL.fullmatch(name.strip())
    if match is None or int(match[2]) == 0:
        return None
    letters = match[1].upper()
    row = ord(letters[-1]) - 65 + (26 * (ord(letters[0]) - 64) if len(letters) == 2 else 0)
    return row, int(match[2]) - 1


def pick_wells(path: Path, wells: Sequence[PlateWell], wanted: tuple[str, ...] | None) -> list[int]:
    """Indices of the images (in `wells`, one entry per image) in the wells `--well` names;
    all when none is named. A named well the plate lacks is refused, naming those it has."""
    if wanted is None:
        return list(range(len(wells)))
    positions = [well_position(name) for name in wanted]
    bad = next((name for name, at in zip(wanted, positions) if at is None), None)
    if bad is not None:
        raise InputError(f"--well {bad}: not a well name; name wells like B03 (row letters, column number)")
    have = {(w.row, w.column) for w in wells}
    missing = [name for name, at in zip(wanted, positions) if at not in have]
    if missing:
        listed = ", ".join(dict.fromkeys(w.name for w in wells))
        raise InputError(f"{path}: no well {missing[0].strip().upper()} in this plate; its wells are "
                         f"{listed}; pick with --well")
    chosen = set(positions)
    return [i for i, w in enumerate(wells) if (w.row, w.column) in chosen]


def refuse_empty(path: Location, where: str | Path | None = None) -> None:
    """An empty file (a copy that never finished) is said to be empty, not parsed into a
    puzzling complaint of some reader."""
    if path.is_file() and (path.size() if isinstance(path, Remote) else path.stat().st_size) == 0:
        prefix = f"{where}: {path}" if where is not None and str(where) != str(path) else f"{path}"
        raise InputError(f"{prefix}: the file is empty (0 bytes); copy it again, or give the file "
                         "it should have been")
