"""The reader interface every input kind implements, built-in or third-party."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ngff_fuse.errors import InputError
from ngff_fuse.model import TileSet


#: File name suffixes of TIFF (and BigTIFF) files, whatever reads them.
TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
#: ... and of OME-TIFF, which says what it is in its name.
OME_TIFF_SUFFIXES = tuple(".ome" + suffix for suffix in TIFF_SUFFIXES)


@dataclass(frozen=True)
class ReadOptions:
    """What the user may tell a reader that the files do not say."""

    pixel_size: tuple[float, float, float] | None = None  # (z, y, x) in micrometres
    scenes: tuple[int, ...] | None = None  # scene indices to read; None: every scene


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
    error then says why the file cannot be read.
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


def refuse_empty(path: Path, where: str | Path | None = None) -> None:
    """An empty file (a copy that never finished) is said to be empty, not parsed into a
    puzzling complaint of some reader."""
    if path.is_file() and path.stat().st_size == 0:
        prefix = f"{where}: {path}" if where is not None and str(where) != str(path) else f"{path}"
        raise InputError(f"{prefix}: the file is empty (0 bytes); copy it again, or give the file "
                         "it should have been")
