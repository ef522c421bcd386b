"""Reader registry: every reader, built-in or a plugin, is found through entry points."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from ngff_fuse.errors import InputError, blaming_the_file, reason
from ngff_fuse.model import TileSet
from ngff_fuse.readers.base import Reader, ReadOptions, refuse_empty
from ngff_fuse.storage import Remote, location

ENTRY_POINT_GROUP = "ngff_fuse.readers"

__all__ = ["Reader", "ReadOptions", "available_readers", "read_input", "read_with", "reader_for"]


@cache
def available_readers() -> tuple[Reader, ...]:
    """Instances of every registered reader, in the order they are asked to claim a path:
    highest `priority` first (0 when a reader sets none), then by entry-point name."""
    points = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    loaded = [ep.load()() for ep in points]
    readers = tuple(sorted(loaded, key=lambda reader: -getattr(reader, "priority", 0)))
    if not readers:
        raise InputError(
            "no ngff-fuse readers are registered; install the package (pip install -e .)"
        )
    return readers


def reader_for(path: Path) -> Reader:
    """The reader that claims `path`; else, for a file no reader claims, the one reader whose
    `suffixes` name its extension, so that reader's own error says what is wrong with it (JSON
    syntax at line 3, a missing column) instead of a list of every format. From an object
    store (a `storage.Remote`) only the readers that say `reads_urls` are asked: the others'
    libraries open local files."""
    if isinstance(path, Remote):
        return _remote_reader(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory; check the input path")
    if not path.is_file() and not path.is_dir():
        raise InputError(f"{path}: not a regular file (a device or a pipe); give an image file, "
                         "a listing or a folder")
    refuse_empty(path)
    for reader in available_readers():
        if _claims(reader, path):
            return reader
    if path.is_file():
        meant = [r for r in available_readers() if path.suffix.lower() in getattr(r, "suffixes", ())]
        if len(meant) == 1:
            return meant[0]
    kinds = ", ".join(r.description for r in available_readers())
    raise InputError(f"{path}: not a supported input; ngff-fuse reads {kinds}")


def _remote_reader(path: Remote) -> Reader:
    """The reader of an object (or prefix) at a URL, among those that read URLs; anything else
    refused in one line, by its suffix: its format's library opens local files."""
    if not path.exists():
        raise InputError(f"{path}: no such object or store; check the URL")
    refuse_empty(path)
    remote = [r for r in available_readers() if getattr(r, "reads_urls", False)]
    for reader in remote:
        if _claims(reader, path):
            return reader
    meant = [r for r in remote if path.suffix.lower() in getattr(r, "suffixes", ())]
    if path.is_file() and len(meant) == 1:
        return meant[0]
    what = f"{path.suffix} files" if path.suffix and path.is_file() else "such folders"
    kinds = "; ".join(r.description for r in remote)
    raise InputError(f"{path}: the library reading {what} opens local files, so they are not read from a URL "
                     f"(from object storage ngff-fuse reads: {kinds}); copy the input to a local disk and "
                     "give its path")


def _claims(reader: Reader, path: Path) -> bool:
    """`reader.can_open(path)`; a reader that fails to look at a damaged file does not claim it
    (a TIFF with a broken header is no OME companion), so the reader that does says why."""
    try:
        return reader.can_open(path)
    except MemoryError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # the file system's failure, not the bytes'
            raise
        return False
    except Exception:
        return False


def read_with(reader: Reader, path: Path, options: ReadOptions) -> list[TileSet]:
    """`reader.read`, with whatever a parser raises over a damaged or unexpected file (an
    IndexError from a broken header, a KeyError for a tag it lacks) turned into one line
    naming the file. Failures of the machine (disk, memory) pass on for the CLI to report."""
    with blaming_the_file(lambda exc: InputError(
        f"{path}: cannot be read as {reader.description} ({reason(exc)}); the file may be "
        "damaged or unlike those the reader knows: check it (copy it again), or rerun with "
        "--debug for the details"
    )):
        tilesets = reader.read(path, options)
    if options.wells is not None and not all(tileset.well for tileset in tilesets):
        raise InputError(f"{path}: --well picks wells of a plate, and this input ({reader.description}) "
                         "holds no plate; pick its images with --scene")
    return tilesets


def read_input(path: str | Path, options: ReadOptions | None = None) -> list[TileSet]:
    """Read every mosaic (scene) in `path` (a URL read with the options' `storage_options`) as
    lazy tiles, with the reader that claims it."""
    options = options or ReadOptions()
    path = location(path, options.storage_options)
    return read_with(reader_for(path), path, options)
