"""Terminal output for the CLI: rich progress bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichBars


class ConsoleProgress:
    """Implements ngff_fuse.progress.Progress for a person watching the terminal."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.bars = RichBars(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
        ) if self.live else None
        self.tasks: dict[str, tuple] = {}

    def start(self, label: str, total: int, unit: str = "") -> None:
        if self.quiet:
            return
        if self.bars is not None:
            if not self.tasks:
                self.bars.start()
            self.tasks[label] = (self.bars.add_task(label, total=total), total)
        else:
            self.tasks[label] = [0, total, 0, time.monotonic()]
            self.console.print(f"{label}: 0/{total} {unit}".rstrip())

    def advance(self, label: str, amount: int = 1) -> None:
        if self.quiet or label not in self.tasks:
            return
        if self.bars is not None:
            self.bars.advance(self.tasks[label][0], amount)
            return
        state = self.tasks[label]
        state[0] += amount
        quarter = state[0] * 4 // max(state[1], 1)
        if quarter > state[2] and state[0] < state[1]:
            state[2] = quarter
            self.console.print(f"{label}: {state[0]}/{state[1]}")

    def finish(self, label: str) -> None:
        if self.quiet or label not in self.tasks:
            return
        if self.bars is not None:
            task, total = self.tasks.pop(label)
            self.bars.update(task, completed=total)
            if not self.tasks:
                self.bars.stop()
            return
        state = self.tasks.pop(label)
        self.console.print(f"{label}: {state[1]}/{state[1]} done in {time.monotonic() - state[3]:.1f} s")

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(message, highlight=False, markup=False)


def stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)
