"""Where the time goes: the stage clock's exclusive, per-thread sums (on a clock the test
drives, not a timed test), the plain progress lines' ETA, and the summary a convert prints."""

from __future__ import annotations

import re
import threading

import pytest

from ngff_fuse import console as console_module
from ngff_fuse import stage_clock
from ngff_fuse.cli import main
from ngff_fuse.console import ConsoleProgress, terminal_console
from ngff_fuse.stage_clock import StageClock, shares
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff


class Ticks:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_nested_stages_count_their_own_time_only(monkeypatch):
    ticks = Ticks()
    monkeypatch.setattr(stage_clock.time, "perf_counter", ticks)
    clock = StageClock()
    with clock.timing("fusing"):
        ticks.now += 1.0
        with clock.timing("reading"):
            ticks.now += 3.0
        ticks.now += 0.5
        with clock.timing("reading"):
            ticks.now += 2.0
    with clock.timing("compressing and writing"):
        ticks.now += 4.0
    assert clock.seconds() == {"reading": 5.0, "fusing": 1.5, "downsampling": 0.0,
                               "compressing and writing": 4.0}
    assert shares(clock.seconds()) == "reading 48 %, fusing 14 %, compressing and writing 38 %"


def test_threads_keep_their_own_nesting():
    clock = StageClock()
    inside = threading.Barrier(2)

    def work(stage):
        with clock.timing(stage):
            inside.wait()  # both threads inside a stage at once: neither is the other's parent
            with clock.timing("reading"):
                pass

    threads = [threading.Thread(target=work, args=(s,)) for s in ("fusing", "downsampling")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = clock.seconds()
    assert seconds["fusing"] > 0 and seconds["downsampling"] > 0 and seconds["reading"] > 0


def test_plain_progress_lines_give_rate_and_eta(monkeypatch, capsys):
    ticks = Ticks()
    monkeypatch.setattr(console_module.time, "monotonic", ticks)
    progress = ConsoleProgress(terminal_console(__import__("sys").stdout))
    progress.start("writing level 0", 8, "chunks", pixels_per_item=1e6)
    ticks.now += 4.0
    progress.advance("writing level 0", 2)  # a quarter done in 4 s: 12 s to go
    assert "writing level 0: 2/8 0.5 MPix/s, ETA 12 s" in capsys.readouterr().out


def test_convert_summary_gives_mpix_per_second_and_the_stages(tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(60, 70))
    path = write_ome_tiff(mosaic, tmp_path / "s.ome.tif")
    assert main(["convert", str(path), str(tmp_path / "s.ome.zarr"), "--chunk", "32"]) == 0
    out = capsys.readouterr().out
    rate = re.search(r"wrote \S+ in ([\d.]+) s, ([\d.]+) MPix/s", out)
    assert rate is not None, out
    stages = re.search(r"time in the worker threads: (.*)", out).group(1)
    parts = dict(re.findall(r"([a-z ]+?) (\d+) %", stages))
    assert {"reading", "fusing", "compressing and writing"} <= {k.strip(", ") for k in parts}
    assert sum(int(v) for v in parts.values()) == pytest.approx(100, abs=len(parts))
