"""Terminal output for the CLI: rich progress bars on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

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
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> str:
        """MPix/s so far, where items are chunks of known size."""
        seconds = time.monotonic() - self.started
        if not self.pixels_per_item or seconds <= 0:
            return ""
        return f"{self.done * self.pixels_per_item / 1e6 / seconds:.1f} MPix/s"


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
            self.console.print(f"{label}: {task.done}/{task.total} {task.rate()}".rstrip())

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


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)
