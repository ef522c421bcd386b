"""One writer per output: a lock file beside it, `OUTPUT.ngff-fuse-lock`.

The lock is held with flock(2) for as long as the run lives, and names the run (pid, host,
start, command) for the refusal a second run prints. The kernel drops a flock when its process
dies, however it dies, so a lock file whose flock is free was left by a run that is gone: on
this host it is taken over (SIGKILL, power loss and OOM kills leave one). A lock file written
on another host is never taken over automatically: its flock may not reach this host (network
file systems differ), so the user, who can check that run, deletes the file.

Where the file system has no flock at all (some cluster file systems by default), the record
alone decides: a run of this host whose pid is gone is over.

The lock is made whole before it appears: written and flocked under a name of its own, then
hard-linked to the lock's name, which fails if a lock is there. So a second run always finds
a complete record under a held flock, never an empty file.

In an object store (`ObjectLock`) the lock is an object beside the store, created with a
conditional put (If-None-Match: *), which the store grants to exactly one of two runs racing
for it (SeaweedFS does, tested; AWS S3 has since 2024); a store that ignores the condition
lets both through. It
cannot be flocked, so nothing tells that its run is gone but the record: a lock of this host
whose pid is gone is taken over (deleted, then created again under the same condition, so of
two runs taking it over one wins); a lock of another host is never taken over (the user deletes
it once that run has ended). A run that dies leaves the lock until then.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ngff_fuse.errors import NgffFuseError
from ngff_fuse.progress import Progress
from ngff_fuse.storage import Location, Remote, connection_lost

LOCK_SUFFIX = ".ngff-fuse-lock"
_STARTING_S = 5.0


def lock_path(target: Location) -> Location:
    return target.with_name(target.name + LOCK_SUFFIX)


def lock_for(target: Location) -> OutputLock | ObjectLock:
    """The lock of an output: a flocked file beside a local one, an object beside a remote one."""
    return ObjectLock(target) if isinstance(target, Remote) else OutputLock(target)


@dataclass(frozen=True)
class Holder:
    """The run a lock file names."""

    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def now(cls) -> Holder:
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
        return cls(os.getpid(), socket.gethostname(), time.strftime("%Y-%m-%d %H:%M:%S"), command)

    @classmethod
    def parse(cls, text: bytes) -> Holder | None:
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.started}: {self.command}"


class OutputLock:
    """The lock of one output, held from `acquire` until `release`."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = lock_path(target)
        self._fd: int | None = None
        self._flocks = True  # whether the file system has flock

    def acquire(self, progress: Progress) -> None:
        """Take the lock, or raise NgffFuseError naming the run that holds it."""
        me = Holder.now()
        mine = json.dumps(asdict(me)).encode()
        while self._fd is None:
            self._fd = self._create(mine)
            if self._fd is None:
                self._fd = self._take_over(me, mine, progress)

    def release(self) -> None:
        if self._fd is not None:
            # unlink before letting go, so a run waiting on this flock then sees the file gone;
            # only our own file (someone may have deleted ours and another run made one)
            if _same_file(self.path, self._fd):
                self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = None

    def _create(self, record: bytes) -> int | None:
        """A new lock file holding `record`, flocked; None if there is one already. Made under
        a name of its own and hard-linked into place; where the file system has no hard links
        (FAT, exFAT), created in place, empty for a moment."""
        temp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{time.monotonic_ns()}")
        fd = self._new_file(temp, record)
        try:
            os.link(temp, self.path)
        except FileExistsError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                raise self._cannot(exc) from None
            try:
                return self._new_file(self.path, record)
            except FileExistsError:
                return None
        finally:
            temp.unlink(missing_ok=True)
        return fd

    def _new_file(self, path: Path, record: bytes) -> int:
        """`path`, created (FileExistsError if it exists) holding `record`, flocked where the
        file system has flock."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise
        except OSError as exc:
            raise self._cannot(exc) from None
        try:
            self._flocks = _flock(fd) is not None
            os.write(fd, record)
        except OSError as exc:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise self._cannot(exc) from None
        return fd

    def _take_over(self, me: Holder, mine: bytes, progress: Progress) -> int | None:
        """The existing lock's descriptor, now ours, if its run is over; None to try again
        (it went away meanwhile); NgffFuseError if its run may still be writing."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return None
        try:
            flocks = self._flocks
            held = flocks and _flock(fd) is False
            text = os.pread(fd, 1 << 16, 0)
            holder = Holder.parse(text)
            # a lock created in place (no hard links) is empty for a moment: a run starting
            held = held or (not text and time.time() - os.fstat(fd).st_mtime < _STARTING_S)
            if held or (holder is not None and holder.host == me.host and not flocks and _alive(holder.pid)):
                raise NgffFuseError(
                    f"{self.target}: another ngff-fuse run is writing it ({holder or 'starting'}); "
                    "wait for it to end, or choose another output")
            if holder is not None and holder.host != me.host:
                raise NgffFuseError(
                    f"{self.target}: locked by a run on host {holder.host} ({holder}); if that run "
                    f"has ended, delete {self.path} and run again")
            if not _same_file(self.path, fd):
                os.close(fd)
                return None
            if not flocks:  # no flock to hold: replace the file, as a fresh lock
                if os.pread(fd, 1 << 16, 0) != text:
                    os.close(fd)
                    return None
                self.path.unlink()
                os.close(fd)
                return None
            os.ftruncate(fd, 0)
            os.pwrite(fd, mine, 0)
        except BaseException:
            os.close(fd)
            raise
        progress.note(f"{self.target}: took over the lock of a run that ended without releasing it "
                      f"({holder or 'unnamed'})")
        return fd

    def _cannot(self, exc: OSError) -> NgffFuseError:
        return NgffFuseError(f"{self.target}: cannot create its lock file {self.path.name} "
                             f"({exc.strerror or exc}); check the folder")


class ObjectLock:
    """The lock of an output in an object store: an object created only if there is none
    (module doc), held from `acquire` until `release`."""

    def __init__(self, target: Remote) -> None:
        self.target = target
        self.path = lock_path(target)
        self._mine: bytes | None = None

    def acquire(self, progress: Progress) -> None:
        me = Holder.now()
        mine = json.dumps(asdict(me)).encode()
        for _ in range(3):  # a lock released, or taken over, between our tries
            if self._create(mine):
                self._mine = mine
                return
            try:
                text = self.path.read_bytes()
            except FileNotFoundError:
                continue
            holder = Holder.parse(text)
            if holder is None or holder.host != me.host:
                raise NgffFuseError(
                    f"{self.target}: locked by a run on host {holder.host if holder else 'unknown'} "
                    f"({holder or 'unreadable lock'}); if that run has ended, delete {self.path} and run again")
            if _alive(holder.pid):
                raise NgffFuseError(f"{self.target}: another ngff-fuse run is writing it ({holder}); "
                                    "wait for it to end, or choose another output")
            self.path.unlink(missing_ok=True)
            progress.note(f"{self.target}: took over the lock of a run that ended without releasing it ({holder})")
        raise NgffFuseError(f"{self.target}: its lock {self.path} keeps changing hands; another run is "
                            "starting on it: wait for it to end, or choose another output")

    def _create(self, record: bytes) -> bool:
        try:
            return self.path.create(record)
        except OSError as exc:
            raise NgffFuseError(f"{self.target}: cannot create its lock object {self.path.name} ({exc}); "
                                "check the bucket, the endpoint and the credentials") from None

    def release(self) -> None:
        """Delete the lock, if it is still ours (another run may have taken it over)."""
        if self._mine is None:
            return
        try:
            if self.path.read_bytes() == self._mine:
                self.path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
        except Exception as exc:  # the store unreachable: the lock stays, a later run takes it over
            if connection_lost(exc) is None:
                raise
        self._mine = None


def _flock(fd: int) -> bool | None:
    """Try to flock `fd` without waiting: True if held now, False if another process holds it,
    None where the file system has no flock (the record alone decides, see the module)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
            return None
        raise
    return True


def _same_file(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
