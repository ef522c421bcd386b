"""Claiming an output before writing it: whether it may be continued or replaced, and where the
new store is built.

- One writer per output: a lock beside it (`output_lock`), held for the whole run.
- An existing output is continued (--resume) only if ngff-fuse wrote it, for the same request
  (`check_resumable`), and replaced (--overwrite) only if ngff-fuse wrote it (its `ngff_fuse`
  record at the root), it holds nothing ngff-fuse does not write, and no input lies inside it.
- A replacement is built beside the old store, in `OUTPUT.ngff-fuse-staging`, and renamed into
  its place only once complete: a kill, a failure or a refusal before that leaves the old store
  as it was. --resume continues the staging store of an interrupted run, --overwrite starts it
  again.
- An OUTPUT that is a symbolic link is followed on purpose: the store behind it is the output
  (checked, locked, replaced beside itself), and the link is left as it is.
- An OUTPUT in an object store (a `storage.Remote`: s3://, gs://, az://) has no rename, so no
  staging store: --overwrite deletes the old store (after the same checks) and writes in its
  place, marked incomplete until its metadata comes last; a failure leaves it incomplete, and
  --resume finishes it. Re-fusing a store in place (`fuse-store STORE` alone) is refused there:
  it would delete its own input. The lock is an object (`output_lock.ObjectLock`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import zarr

from ngff_fuse.errors import InputError, NgffFuseError
from ngff_fuse.fingerprint import record_difference
from ngff_fuse.output_lock import lock_for
from ngff_fuse.progress import NoProgress, Progress
from ngff_fuse.storage import Location, Remote, check_bucket, location, reaching, remove_tree, zarr_store

#: ngff-fuse's record in every image it writes: {"status": "incomplete" | "complete"}, and at
#: the root of a store also the request (inputs, options). It marks a store as ngff-fuse's own.
STATUS_KEY = "ngff_fuse"
STAGING_SUFFIX = ".ngff-fuse-staging"
REPLACED_SUFFIX = ".ngff-fuse-replaced"
_METADATA = frozenset({"zarr.json", ".zgroup", ".zattrs", ".zarray", ".zmetadata"})
#: groups ngff-fuse writes besides numbered ones (levels, scenes, tiles), and files besides
#: zarr metadata, per group name; the nodes of an image's illumination profiles
_GROUPS = frozenset({"tiles", "OME", "illumination"})
_CHILDREN = {"illumination": frozenset({"flatfield", "darkfield", "tile_gains"})}
#: a plate's row groups, at the root of an HCS store: "A".."Z", then "AA".. (model.row_name)
_PLATE_ROW = re.compile(r"[A-Z]{1,2}")
_FILES = {"OME": frozenset({"METADATA.ome.xml"})}


def status(path: Location) -> dict:
    """ngff-fuse's own record in a store: status and request ({} for anything else)."""
    try:
        record = zarr.open_group(zarr_store(path), mode="r").attrs.get(STATUS_KEY)
    except (OSError, ValueError):  # no store, an array, unreadable metadata: not ours
        return {}
    return dict(record) if isinstance(record, dict) and record.get("status") else {}


def left_incomplete(target: Location | str) -> bool:
    """Whether a run into `target` left a store marked incomplete (itself or its staging
    store), which --resume finishes."""
    target = location(target)
    return any(status(p).get("status") == "incomplete" for p in (staging_path(target), target))


def check_folder(path: Location) -> None:
    """The folder `path` is to be written in exists and is writable (in an object store: its
    bucket exists): checked before any work, so a typo in a folder name is not reported after
    the conversion."""
    if isinstance(path, Remote):
        check_bucket(path)
        return
    parent = Path(path).resolve().parent
    if parent.exists() and not parent.is_dir():
        raise InputError(f"{path}: {parent} is a file, not a folder; choose another place")
    if not parent.is_dir():
        raise InputError(f"{path}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{path}: folder {parent} is not writable; choose another place")


def check_file_output(path: Path) -> None:
    """As `check_folder`, for an output that is one file (a picture, a positions file): a
    folder already at `path` is refused before any work, not when the file is written."""
    check_folder(path)
    if Path(path).is_dir():
        raise InputError(f"{path}: is a folder; give the name of a file to write")


def check_picture_output(path: Path) -> None:
    """As `check_file_output`, for a picture: its suffix must name a format matplotlib writes,
    checked before any work (a conversion is not run to fail at its `--preview`)."""
    from matplotlib.backend_bases import FigureCanvasBase

    check_file_output(path)
    formats = FigureCanvasBase.get_supported_filetypes()
    if Path(path).suffix.lower().lstrip(".") not in formats:
        raise InputError(f"{path}: not a picture format; end the name in .png, .svg or .pdf "
                         f"(or .{', .'.join(sorted(f for f in formats if f not in ('png', 'svg', 'pdf')))})")


def staging_path(target: Location) -> Location:
    return target.with_name(target.name + STAGING_SUFFIX)


@dataclass(frozen=True)
class Output:
    """Where one run writes: `target` is the output asked for (symlinks resolved), `path` the
    store written now (the target, or its staging store), `resuming` whether it continues one."""

    target: Location
    path: Location
    resuming: bool
    in_place: bool = False  # the target is the input, re-fused with its tiles kept (fuse-store)

    @property
    def staged(self) -> bool:
        return self.path != self.target

    def check_request(self, request: dict | None) -> None:
        """Once the input is read: a resume asks what the interrupted run asked, and a store
        to be replaced holds no input (its deletion would delete it)."""
        if self.resuming:
            check_resumable(self.path, request)
        if self.staged and not self.in_place and self.target.exists():
            inside = input_inside(self.target, request or {})
            if inside is not None:
                raise InputError(f"{self.target}: holds the input {inside}, so --overwrite will not "
                                 "replace it; write the output elsewhere")


def plan_output(target: Location, overwrite: bool, resume: bool, in_place: bool = False) -> Output:
    """Where a run writes into `target` (resolved), decided from what is there now; refuses in
    one line what it may not do. Reads only: `claim_output` takes the lock and deletes. In an
    object store there is no staging store, as there is no rename (module doc)."""
    remote = isinstance(target, Remote)
    if remote and in_place:
        raise InputError(f"{target}: an object store cannot replace a store by renaming, so it is not "
                         "re-fused in place; give an OUTPUT URL for the re-fused store")
    staging = target if remote else staging_path(target)
    if not remote and (staging.exists() or staging.is_symlink()):  # a run replacing the target was interrupted
        if resume:
            if staging.is_dir() and not staging.is_symlink() and not any(staging.iterdir()):
                return Output(target, staging, False, in_place)  # killed as it began: begin again
            if staging.is_symlink() or not status(staging):
                raise InputError(f"{staging}: not a store ngff-fuse wrote, so there is nothing to resume; "
                                 "move it away")
            return Output(target, staging, True, in_place)
        if not overwrite:
            raise InputError(f"{staging}: left by an interrupted run replacing {target.name}; pass "
                             "--resume to finish it, or --overwrite to start again")
        check_deletable(staging)
    if in_place:
        check_deletable(target)
        return Output(target, staging, False, in_place)
    if not target.exists():
        return Output(target, target, False)
    if resume:
        if not status(target):
            raise InputError(f"{target}: not written by ngff-fuse, so it cannot be resumed; "
                             "choose another output")
        return Output(target, target, True)
    if not overwrite:
        left = status(target).get("status") == "incomplete"
        raise InputError(f"{target}: output exists; pass --overwrite or choose another path"
                         + ("; it was left incomplete: --resume finishes it" if left else ""))
    check_deletable(target)
    return Output(target, staging, False)


def check_claim(path: Location | str, overwrite: bool, resume: bool, in_place: bool = False,
                progress: Progress | None = None) -> None:
    """Refuse now what `claim_output` would refuse (another run writing, an existing output
    without --overwrite or --resume...), for callers that have work to do before claiming."""
    target = location(path).resolve()
    lock = lock_for(target)
    lock.acquire(progress or NoProgress())
    try:
        plan_output(target, overwrite, resume, in_place)
    finally:
        lock.release()


@contextmanager
def claim_output(path: Location | str, overwrite: bool, resume: bool, in_place: bool = False,
                 progress: Progress | None = None) -> Iterator[Output]:
    """Lock the output, decide where this run writes (`plan_output`), and once the body ends
    without an error put a staging store in the target's place. An error leaves a staged
    target untouched and says so."""
    progress = progress or NoProgress()
    target = location(path).resolve()
    with reaching(target, resume_hint=True):
        lock = lock_for(target)
        lock.acquire(progress)
        try:
            yield from _claimed(target, overwrite, resume, in_place, progress)
        finally:
            lock.release()


def _claimed(target: Location, overwrite: bool, resume: bool, in_place: bool,
             progress: Progress) -> Iterator[Output]:
    """`claim_output` once the lock is held."""
    output = plan_output(target, overwrite, resume, in_place)
    if isinstance(target, Remote):
        if overwrite and not output.resuming and target.exists():  # checked ours by the plan
            remove_tree(target)
    elif staging_path(target).exists() and not output.resuming:
        # an interrupted replacement, started again or given up (checked ours by the plan)
        shutil.rmtree(staging_path(target))
    try:
        yield output
    except NgffFuseError as exc:
        if output.staged:
            exc.args = (f"{exc}; {target.name} itself is unchanged",)
        raise
    if output.staged:
        swap_in(output.path, target, progress)


def swap_in(staging: Path, target: Path, progress: Progress) -> None:
    """Put the complete store `staging` in the place of `target`: two renames in one folder,
    then the old store is deleted. A run killed between the renames leaves the target missing
    and the staging store complete: --resume then finishes the swap."""
    replaced = target.with_name(target.name + REPLACED_SUFFIX)
    if target.exists():
        if replaced.exists():
            _delete_replaced(replaced, progress, strict=True)
        os.rename(target, replaced)
    os.rename(staging, target)
    if replaced.exists():
        _delete_replaced(replaced, progress, strict=False)


def _delete_replaced(replaced: Path, progress: Progress, strict: bool) -> None:
    """Delete a replaced store, if it is still whole ngff-fuse's; `strict`: refuse otherwise
    (it is in the way), else leave it and say so."""
    try:
        check_deletable(replaced)
        shutil.rmtree(replaced)
    except (InputError, OSError) as exc:
        why = f"{replaced}: left by an interrupted replacement and not deleted ({exc})"
        if strict:
            raise NgffFuseError(f"{why}; delete it, then run the same command with --resume") from None
        progress.note(f"{why}; delete it yourself")


def check_deletable(path: Location) -> None:
    """Refuse, in one line, to delete anything but a store ngff-fuse wrote that holds nothing
    else (an empty folder, too, as there is nothing to lose)."""
    def refuse(why: str) -> InputError:
        return InputError(f"{path}: {why}, so --overwrite will not delete it; remove it yourself "
                          "or choose another output")

    if path.is_symlink():
        raise refuse("a symbolic link")
    if not path.is_dir():
        raise refuse("exists and is not a zarr store ngff-fuse wrote")
    if not any(path.iterdir()):
        return
    if not status(path):
        raise refuse("not a zarr store ngff-fuse wrote (no ngff_fuse record at its root)")
    stray = foreign_entry(path)
    if stray is not None:
        raise refuse(f"holds {stray.relative_to(path)}, which ngff-fuse did not write")


def foreign_entry(store: Location) -> Location | None:
    """The first thing in `store` that ngff-fuse does not write, or None. Groups are walked
    (numbered ones, `tiles`, `OME`, `illumination` and its profiles, a plate's rows at the
    root), arrays are not: inside an array it writes only chunks.
    Symbolic links are always foreign: deleting the store would not delete what they point at,
    and ngff-fuse never makes one."""
    groups = [store]
    while groups:
        group = groups.pop()
        for path, kind in _entries(group):
            if kind == "link":
                return path
            if kind == "file":
                if not (path.name in _METADATA or path.name.endswith(".partial")  # zarr's temporaries
                        or path.name in _FILES.get(group.name, ())):
                    return path
                continue
            ours = (path.name.isdigit() or path.name in _GROUPS
                    or path.name in _CHILDREN.get(group.name, ())
                    or (group == store and _PLATE_ROW.fullmatch(path.name) is not None))
            if kind != "dir" or not ours:
                return path
            node = _node_kind(path)
            if node == "group":
                groups.append(path)
            elif node is None and any(path.iterdir()):
                return path
    return None


def _entries(folder: Location) -> Iterator[tuple[Location, str]]:
    """What is in `folder`, each as "link", "file", "dir" or "other"."""
    if isinstance(folder, Remote):
        for name, kind in folder.children().items():
            yield folder / name, kind
        return
    with os.scandir(folder) as entries:
        for entry in entries:
            kind = ("link" if entry.is_symlink() else "file" if entry.is_file()
                    else "dir" if entry.is_dir() else "other")
            yield Path(entry.path), kind


def _node_kind(path: Location) -> str | None:
    """"array", "group" or None (no zarr node, or one whose metadata does not parse)."""
    if (path / ".zarray").is_file():
        return "array"
    if (path / "zarr.json").is_file():
        try:
            kind = json.loads((path / "zarr.json").read_bytes()).get("node_type")
        except (ValueError, AttributeError):
            return None
        return kind if kind in ("array", "group") else None
    if (path / ".zgroup").is_file() or (path / ".zattrs").is_file():
        return "group"
    return None


def input_inside(store: Location, request: dict) -> str | None:
    """The first input (the input path itself, or a file read) inside `store`, or None."""
    root = str(store)
    paths = [request.get("input"), *(record.get("path") for record in request.get("inputs") or [])]
    return next((p for p in paths if p and (p == root or p.startswith(root + os.sep))), None)


def check_resumable(path: Location, request: dict | None) -> None:
    """Refuse to resume into an output written for something else, naming the first input file
    or option that differs (one short line, however many inputs there are)."""
    recorded = status(path)
    if not recorded:
        raise InputError(f"{path}: not written by ngff-fuse, so it cannot be resumed; choose another output")
    difference = request_difference(recorded.get("request") or {}, request or {})
    if difference:
        raise InputError(
            f"{path}: cannot resume, the request differs from the interrupted one ({difference}); "
            "run it as before, or use --overwrite to start again"
        )


def request_difference(old, new, where: str = "") -> str | None:
    """The first difference between two requests, in words; input files are matched by path."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            found = request_difference(old.get(key), new.get(key), f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if where == "inputs" and isinstance(old, list) and isinstance(new, list):
        before, after = ({record["path"]: record for record in records} for records in (old, new))
        for path in sorted(set(before) | set(after)):
            found = record_difference(before.get(path), after.get(path))
            if found:
                return found
        return None
    return None if old == new else f"{where}: {_short(old)} then, {_short(new)} now"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
