"""Where a conversion's time goes: the seconds this process's threads spend in each stage, so
the CLI's summary can say what bounds a run (reading the tiles, fusing, downsampling the
pyramid, or compressing and writing chunks: zarr does both inside one call).

Times are exclusive: a read inside a fusion task counts as reading, not fusing. They are
summed over threads, so the shares compare stages, not wall time. Tasks that run on a
dask.distributed worker are timed there, not here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("reading", "fusing", "downsampling", "compressing and writing")


class StageClock:
    """Seconds per stage, summed over threads; thread-safe."""

    def __init__(self) -> None:
        self._seconds = dict.fromkeys(STAGES, 0.0)
        self._lock = threading.Lock()
        self._open = threading.local()  # per thread: [seconds of inner stages] per open stage

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        inner = self._open.__dict__.setdefault("stack", [])
        inner.append(0.0)
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            exclusive = spent - inner.pop()
            if inner:
                inner[-1] += spent
            with self._lock:
                self._seconds[stage] += exclusive

    def seconds(self) -> dict[str, float]:
        with self._lock:
            return dict(self._seconds)

    def reset(self) -> None:
        with self._lock:
            self._seconds = dict.fromkeys(STAGES, 0.0)


#: This process's clock: fusion and writing tasks report to it wherever they are called from.
CLOCK = StageClock()


def shares(seconds: dict[str, float]) -> str:
    """"reading 40 %, fusing 25 %, ..." over the stages that took any time."""
    total = sum(seconds.values())
    if total <= 0:
        return ""
    return ", ".join(f"{stage} {100 * s / total:.0f} %" for stage, s in seconds.items() if s > 0)
