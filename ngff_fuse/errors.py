"""Errors that reach the user as one line, with the exit code the CLI returns."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class NgffFuseError(Exception):
    """A failure while running (I/O, disk full, interrupted write): exit code 1."""

    exit_code = 1


class InputError(NgffFuseError):
    """Bad input or bad options: what is wrong and how to fix it. Exit code 2."""

    exit_code = 2


class DamagedFile(InputError):
    """A file whose bytes cannot be what its header promises (a pixel block that does not
    decode, a file cut short): found only when its pixels are read, never worked around."""


#: Longest exception text quoted in a message (a parser may quote a whole document).
_REASON_CHARS = 120


def reason(exc: BaseException) -> str:
    """An exception as a short clause for a one-line message: its type and first line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > _REASON_CHARS:
        text = text[:_REASON_CHARS - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def blaming_the_file(error: Callable[[Exception], NgffFuseError]) -> Iterator[None]:
    """Run a block that parses a file: whatever a parser raises about its bytes (an IndexError
    from a broken header, a codec's error, an OSError without an errno) becomes `error(exc)`,
    one line naming the file. ngff-fuse's own errors and the machine's (an OSError with an
    errno, MemoryError) pass unchanged."""
    try:
        yield
    except (NgffFuseError, MemoryError):
        raise
    except OSError as exc:
        if exc.errno is not None:
            raise
        raise error(exc) from exc
    except Exception as exc:
        raise error(exc) from exc


# What to do about each class of operating-system failure, and whose problem it is: a path
# the user gave that cannot be what it must (a folder for a file) is input (2), the rest is
# the machine's (1).
_FIXES: dict[int, tuple[str, type[NgffFuseError]]] = {
    errno.ENOSPC: ("free some space or write elsewhere", NgffFuseError),
    errno.EDQUOT: ("free some space (the disk quota is full) or write elsewhere", NgffFuseError),
    errno.EFBIG: ("write to a file system that holds larger files", NgffFuseError),
    errno.EACCES: ("check its permissions, or choose another place", NgffFuseError),
    errno.EPERM: ("check its permissions, or choose another place", NgffFuseError),
    errno.EROFS: ("the file system is read-only: write elsewhere", NgffFuseError),
    errno.EIO: ("the disk or network share failed: check it, then run again", NgffFuseError),
    errno.EMFILE: ("raise the open-file limit (ulimit -n) or use fewer --workers", NgffFuseError),
    errno.ENFILE: ("too many files are open on this machine: close some, or use fewer --workers",
                   NgffFuseError),
    errno.ENOENT: ("it was moved or deleted while ngff-fuse ran, or the path is wrong: check it",
                   NgffFuseError),
    errno.EISDIR: ("it is a folder: give a file", InputError),
    errno.ENOTDIR: ("part of the path is a file, not a folder: check the path", InputError),
    errno.ENAMETOOLONG: ("choose a shorter path", InputError),
    errno.ELOOP: ("its symbolic links loop: check them", InputError),
}


def from_environment(exc: OSError | MemoryError, resume_hint: bool = False) -> NgffFuseError:
    """An OSError or MemoryError that no code path expected, as the one line the user sees:
    the file, what happened, what to do; with `resume_hint` (an output is left incomplete),
    how to finish it."""
    resume = ("; the output is left incomplete: once that is done, run the same command with "
              "--resume (in place of --overwrite, if given) to finish it") if resume_hint else ""
    if isinstance(exc, MemoryError):
        how = f" ({exc})" if str(exc) else ""
        return NgffFuseError(
            f"out of memory{how}; use a smaller --chunk (e.g. 512) or fewer --workers, or close "
            f"other programs{resume}"
        )
    fix, kind = _FIXES.get(exc.errno, ("check the file and the disk, then run again", NgffFuseError))
    where = f"{exc.filename}: " if exc.filename is not None else ""
    what = exc.strerror or reason(exc)
    return kind(f"{where}{what}; {fix}{resume if kind is NgffFuseError else ''}")


def one_line(text: str) -> str:
    """`text` with its control characters escaped: a file name holding a newline must not
    split the one line an error is."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)
