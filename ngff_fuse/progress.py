"""Progress is an object the caller passes in; the library itself never prints."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """`pixels_per_item` (output pixels one item stands for) lets a display show MPix/s."""

    def start(self, label: str, total: int, unit: str = "", pixels_per_item: float = 0) -> None: ...

    def advance(self, label: str, amount: int = 1) -> None: ...

    def finish(self, label: str) -> None: ...

    def note(self, message: str) -> None: ...


class NoProgress:
    """The library default: report nothing."""

    def start(self, label: str, total: int, unit: str = "", pixels_per_item: float = 0) -> None:
        pass

    def advance(self, label: str, amount: int = 1) -> None:
        pass

    def finish(self, label: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass
