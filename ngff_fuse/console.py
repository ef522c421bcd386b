"""Terminal output for the CLI: rich progress bars on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import errno
import os
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichBars


@dataclass
class _Task:
    total: int
    pixels_per_item: float
    bar: int | None = None  # rich task id on a terminal
    done: int = 0
    quarter: int = 0  # plain lines printed so far, one per quarter
    started: float = field(default_factory=lambda: time.monotonic())

    def rate(self) -> str:
        """MPix/s so far, where items are chunks of known size."""
        seconds = time.monotonic() - self.started
        if not self.pixels_per_item or seconds <= 0:
            return ""
        return f"{self.done * self.pixels_per_item / 1e6 / seconds:.1f} MPix/s"

    def eta(self) -> str:
        """The time left at the pace so far (the bars' own column says it on a terminal)."""
        seconds = time.monotonic() - self.started
        if not self.done or self.done >= self.total:
            return ""
        return f"ETA {seconds * (self.total - self.done) / self.done:.0f} s"


class ConsoleProgress:
    """Implements ngff_fuse.progress.Progress for a person watching the terminal."""

    def __init__(self, console: Console, quiet: bool = False, errors: Console | None = None) -> None:
        self.console = console
        self.errors = errors or Console(file=sys.stderr, highlight=False, soft_wrap=True)
        self.quiet = quiet
        self.bars = RichBars(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console,
        ) if console.is_terminal and not quiet else None
        self.tasks: dict[str, _Task] = {}

    def start(self, label: str, total: int, unit: str = "", pixels_per_item: float = 0) -> None:
        if self.quiet:
            return
        task = _Task(total, pixels_per_item)
        if self.bars is not None:
            if not self.tasks:
                self.bars.start()
            task.bar = self.bars.add_task(label, total=total, rate="")
        else:
            self.console.print(f"{label}: 0/{total} {unit}".rstrip())
        self.tasks[label] = task

    def advance(self, label: str, amount: int = 1) -> None:
        task = self.tasks.get(label)
        if self.quiet or task is None:
            return
        task.done += amount
        if self.bars is not None:
            self.bars.update(task.bar, advance=amount, rate=task.rate())
            return
        quarter = task.done * 4 // max(task.total, 1)
        if quarter > task.quarter and task.done < task.total:
            task.quarter = quarter
            details = ", ".join(filter(None, (task.rate(), task.eta())))
            self.console.print(f"{label}: {task.done}/{task.total} {details}".rstrip())

    def finish(self, label: str) -> None:
        task = self.tasks.pop(label, None)
        if self.quiet or task is None:
            return
        task.done = task.total
        if self.bars is not None:
            self.bars.update(task.bar, completed=task.total, rate=task.rate())
            if not self.tasks:
                self.bars.stop()
            return
        rate = f", {task.rate()}" if task.rate() else ""
        self.console.print(f"{label}: {task.total}/{task.total} done in "
                           f"{time.monotonic() - task.started:.1f} s{rate}")

    def note(self, message: str) -> None:
        """Warnings ("warning: ..." after the scene's name) go to stderr even when quiet: they
        name what the output holds that the user did not ask for."""
        if message.startswith("warning:") or ": warning:" in message:
            self.errors.print(message, highlight=False, markup=False)
        elif not self.quiet:
            self.console.print(message, highlight=False, markup=False)


# What the CLI prints beyond ASCII, spelled in ASCII; other letters lose their accents.
_ASCII = str.maketrans({"\u00b5": "u", "\u03bc": "u", "\u00d7": "x", "\u2192": "->", "\u2026": "...",
                        "\u2013": "-", "\u2014": "-", "\u00b1": "+/-", "\u2265": ">=", "\u2264": "<="})


def ascii_text(text: str) -> str:
    """`text` in ASCII: known symbols spelled out, accents dropped, anything else a `?`."""
    letters = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return "".join(c for c in letters if not unicodedata.combining(c)).encode("ascii", "replace").decode()


class TerminalStream:
    """A text stream for messages that never ends the run it reports on: text the stream's
    encoding cannot hold (PYTHONIOENCODING=ascii, LANG=C, a file name that is not UTF-8) is
    written as ASCII, and once the reader has gone (`| head`, quitting `less`, a closed
    terminal) everything else is dropped while the work goes on."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.gone = False

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return not self.gone and self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                try:
                    self.stream.write(text)
                except UnicodeEncodeError:
                    self.stream.write(ascii_text(text))
            except OSError as exc:
                self._closed_by_reader(exc)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError as exc:
                self._closed_by_reader(exc)

    def _closed_by_reader(self, exc: OSError) -> None:
        if exc.errno not in (errno.EPIPE, errno.EIO):
            raise exc
        self.gone = True
        # what is still buffered, and Python's own flush at exit, go to /dev/null: else the
        # exit fails with "Exception ignored ... BrokenPipeError" and code 120
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # no file descriptor (a test's capture)
            pass


def terminal_console(stream: TextIO) -> Console:
    """A rich console on `stream` (sys.stdout or sys.stderr) through a `TerminalStream`."""
    return Console(file=TerminalStream(stream), highlight=False, soft_wrap=True)


def stdout_console() -> Console:
    return terminal_console(sys.stdout)
