"""The same graph on a dask.distributed cluster of worker processes gives the same bytes."""

from __future__ import annotations

import contextlib
import http.server
import re
import socket
import threading

import numpy as np
import pytest
import xarray as xr
import zarr

from ngff_fuse.cli import main
from ngff_fuse.cluster import compute_on
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.writer import WriteOptions, write_ngff


def _advanced_midway(out: str) -> bool:
    """The level-0 bar printed a count between 0 and its total ("writing level 0: 3/12 ..."):
    it advanced as blocks were written on the workers, not only when the level finished."""
    counts = [tuple(map(int, m.groups())) for m in re.finditer(r"writing level 0: (\d+)/(\d+)\b", out)]
    return any(0 < done < total for done, total in counts)


def test_local_cluster_matches_in_process(tmp_path, capsys):
    source = write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(90, 100), channels=2,
                                             subpixel=True), tmp_path / "tiles.ome.tif")
    local, cluster = tmp_path / "local.ome.zarr", tmp_path / "cluster.ome.zarr"
    options = ["--chunk", "64", "--shard", "128"]
    assert main(["convert", str(source), str(local), "--quiet", *options]) == 0
    assert main(["convert", str(source), str(cluster), "--workers", "2", *options]) == 0
    out = capsys.readouterr().out
    assert "local cluster of 2 worker processes" in out
    assert _advanced_midway(out), out
    a, b = zarr.open_group(local, mode="r"), zarr.open_group(cluster, mode="r")
    names = sorted(name for name, _ in a.arrays())
    assert names == sorted(name for name, _ in b.arrays()) and len(names) > 1
    for name in names:
        assert np.array_equal(a[name][:], b[name][:]), name
    assert dict(a.attrs)["ome"]["multiscales"] == dict(b.attrs)["ome"]["multiscales"]


def test_scheduler_and_workers_are_exclusive(tmp_path, capsys):
    source = write_ome_tiff(synthetic_mosaic(grid=(1, 2), tile_shape=(30, 30)), tmp_path / "t.ome.tif")
    argv = ["convert", str(source), str(tmp_path / "o.zarr"), "--workers", "2", "--scheduler", "tcp://x:1"]
    assert main(argv) == 2
    assert "pick one" in capsys.readouterr().err


class _Recorder:
    """A Progress that remembers each bar's total and how many advances it received."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self.advances: dict[str, int] = {}

    def start(self, label: str, total: int, unit: str = "", pixels_per_item: float = 0) -> None:
        self.totals[label] = total
        self.advances[label] = 0

    def advance(self, label: str, amount: int = 1) -> None:
        self.advances[label] += amount

    def finish(self, label: str) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def test_progress_counts_every_block_of_every_level_on_a_cluster(tmp_path):
    data = np.random.default_rng(3).integers(0, 65535, (2, 300, 420), dtype=np.uint16)
    mosaic = xr.DataArray(data, dims=("c", "y", "x"), name="m",
                          coords={"y": np.arange(300) * 0.5, "x": np.arange(420) * 0.5})
    options = WriteOptions(ngff="0.5", chunk=32, shard=64)
    local, cluster = tmp_path / "local.ome.zarr", tmp_path / "cluster.ome.zarr"
    write_ngff(mosaic, local, options)
    recorder = _Recorder()
    with compute_on(workers=2) as engine:
        assert "2 worker processes" in engine
        shapes = write_ngff(mosaic, cluster, options, progress=recorder)
    # one write block per shard: 2 channels x ceil(y / 64) x ceil(x / 64) on every level
    blocks = {f"writing level {k}": 2 * -(-y // 64) * -(-x // 64) for k, (_, y, x) in enumerate(shapes)}
    assert len(blocks) > 2
    assert recorder.totals == recorder.advances == blocks
    a, b = zarr.open_group(local, mode="r"), zarr.open_group(cluster, mode="r")
    for k in range(len(shapes)):
        assert np.array_equal(a[str(k)][:], b[str(k)][:]), k


def test_a_running_scheduler_gets_the_same_graph(tmp_path, capsys):
    from distributed import LocalCluster

    source = write_ome_tiff(synthetic_mosaic(grid=(2, 2), tile_shape=(80, 90)), tmp_path / "t.ome.tif")
    local, remote = tmp_path / "local.ome.zarr", tmp_path / "remote.ome.zarr"
    options = ["--chunk", "32", "--ngff", "0.4"]
    assert main(["convert", str(source), str(local), "--quiet", *options]) == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        assert main(["convert", str(source), str(remote), "--scheduler", cluster.scheduler_address, *options]) == 0
    out = capsys.readouterr().out
    assert f"dask scheduler at {cluster.scheduler_address} (2 workers)" in out
    assert _advanced_midway(out), out
    a, b = zarr.open_group(local, mode="r"), zarr.open_group(remote, mode="r")
    assert sorted(n for n, _ in a.arrays()) == sorted(n for n, _ in b.arrays())
    for name, array in a.arrays():
        assert np.array_equal(array[:], b[name][:]), name


@pytest.fixture
def silent_server():
    """A TCP server that accepts every connection and never says a word: the address of a
    port forwarded to nothing, or of a service that waits for its client to speak first."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in accepted:
        connection.close()


@pytest.fixture
def http_server():
    """A web server: it answers, but not in the dask protocol."""
    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # its log would be on this test's stderr
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port() -> str:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    return f"tcp://127.0.0.1:{port}"  # nothing listens there once the probe is closed


@pytest.mark.parametrize("where", ["silent server", "http server", "closed port"])
def test_a_scheduler_address_that_does_not_answer_fails_in_one_line(where, request, tmp_path,
                                                                    monkeypatch, capsys):
    """--scheduler at an address where no dask scheduler answers gives up after the connect
    timeout (dask's client alone waits for ever on a silent server): one line, exit 1 (the
    environment), and no output written."""
    monkeypatch.setattr("ngff_fuse.cluster.CONNECT_TIMEOUT", 1.0)
    source = write_ome_tiff(synthetic_mosaic(grid=(1, 2), tile_shape=(30, 30)), tmp_path / "t.ome.tif")
    address = _closed_port() if where == "closed port" else request.getfixturevalue(where.replace(" ", "_"))
    out = tmp_path / "o.ome.zarr"
    result = []
    run = threading.Thread(target=lambda: result.append(
        main(["convert", str(source), str(out), "--scheduler", address])), daemon=True)
    run.start()
    run.join(timeout=60)  # far beyond the timeout: only a wait for ever takes this long
    assert result == [1], "still waiting for the scheduler" if run.is_alive() else result
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"ngff-fuse: error: --scheduler {address}: ")
    assert "check the address" in err
    assert not out.exists()
