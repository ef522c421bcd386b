"""The command line in a careless user's hands and a hostile environment: the same input gives
the same bytes, a dead pipe or an ASCII terminal does not end a conversion, a scheduler that is
not one is given up on, an existing output is refused before anything else."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_checks import validate_models

METADATA = {"zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"}


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory) -> Path:
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(50, 60), channels=2)
    return write_ome_tiff(mosaic, tmp_path_factory.mktemp("acq") / "slide.ome.tif")


def chunk_files(store: Path) -> dict[str, bytes]:
    """Every chunk (or shard) file of a store, by its path inside the store."""
    return {p.relative_to(store).as_posix(): p.read_bytes()
            for p in sorted(store.rglob("*")) if p.is_file() and p.name not in METADATA}


@pytest.mark.parametrize("ngff", ["0.4", "0.5"])
def test_gzip_output_is_the_same_bytes_every_time(acquisition, tmp_path, monkeypatch, ngff):
    """Two conversions of one input, at different times, write byte-identical gzip chunks:
    gzip's header holds a time stamp, which must not be the time of writing."""
    stores = []
    for run, now in enumerate((1_000_000_000.0, 1_500_000_000.0)):
        # the clock gzip reads when it stamps a header, a different second for each run
        monkeypatch.setattr(gzip, "time", types.SimpleNamespace(time=lambda now=now: now))
        out = tmp_path / f"run{run}.ome.zarr"
        assert main(["convert", str(acquisition), str(out), "--ngff", ngff, "--codec", "gzip",
                     "--chunk", "32", "--quiet"]) == 0
        stores.append(out)
    first, second = (chunk_files(store) for store in stores)
    assert len(first) > 4 and first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    # and they are gzip that any reader decodes to the pixels
    assert np.array_equal(zarr.open_array(stores[0] / "0", mode="r")[:],
                          zarr.open_array(stores[1] / "0", mode="r")[:])
    if ngff == "0.4":  # zarr v2 chunks are bare gzip streams: the header's MTIME field is 0
        assert all(data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0" for data in first.values())


@pytest.fixture(scope="module")
def reference(acquisition, tmp_path_factory) -> np.ndarray:
    """Level 0 of the acquisition converted in-process, nothing in the way of its output."""
    out = tmp_path_factory.mktemp("reference") / "ref.ome.zarr"
    assert main(["convert", str(acquisition), str(out), "--chunk", "32", "--quiet"]) == 0
    return zarr.open_array(out / "0", mode="r")[:]


def run_cli(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    """`ngff-fuse ARGV` in its own process, as a shell runs it."""
    return subprocess.run([sys.executable, "-m", "ngff_fuse.cli", *argv], timeout=120, **kwargs)


def assert_complete(out: Path, reference: np.ndarray) -> None:
    """A finished store: valid for an independent reader, and the pixels of an undisturbed run."""
    validate_models(out, "0.5")
    assert zarr.open_group(out, mode="r").attrs["ngff_fuse"]["status"] == "complete"
    assert np.array_equal(zarr.open_array(out / "0", mode="r")[:], reference)


@pytest.mark.parametrize("streams", ["stdout", "stdout and stderr"])
def test_a_reader_that_goes_away_does_not_end_the_conversion(acquisition, reference, tmp_path, streams):
    """Output into a pipe whose reader has quit (`less` closed at once) costs the messages,
    not the conversion: exit 0, the store complete."""
    out = tmp_path / "out.ome.zarr"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = run_cli("convert", str(acquisition), str(out), "--chunk", "32", stdout=write_end,
                       stderr=write_end if streams == "stdout and stderr" else subprocess.PIPE)
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert not done.stderr  # nothing said about the pipe, and no "Exception ignored"
    assert_complete(out, reference)


def test_piped_into_head_the_conversion_finishes(acquisition, reference, tmp_path):
    """`ngff-fuse convert ... | head -c 10`: head quits after the first line; the conversion
    goes on to the end and says so in its exit code."""
    out = tmp_path / "out.ome.zarr"
    convert = subprocess.Popen([sys.executable, "-m", "ngff_fuse.cli", "convert", str(acquisition),
                                str(out), "--chunk", "32"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    head = subprocess.run(["head", "-c", "10"], stdin=convert.stdout, capture_output=True, timeout=120)
    convert.stdout.close()
    assert convert.wait(timeout=120) == 0, convert.stderr.read()
    assert len(head.stdout) == 10
    assert_complete(out, reference)


def test_an_ascii_terminal_gets_ascii_and_the_conversion_succeeds(acquisition, reference, tmp_path):
    """PYTHONIOENCODING=ascii and LANG=C: the summary's micrometre sign is spelled `um`, and a
    character the terminal cannot show never turns a conversion into a failure."""
    out = tmp_path / "out.ome.zarr"
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"}
    done = run_cli("convert", str(acquisition), str(out), "--chunk", "32", capture_output=True, env=env)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.decode("ascii")  # raises if anything but ASCII came out
    assert "pixel size 0.65 um" in printed and "wrote" in printed
    assert_complete(out, reference)


def test_an_existing_output_is_refused_before_anything_else(acquisition, tmp_path, monkeypatch, capsys):
    """`convert` onto an existing output refuses it first: before a cluster is connected to
    (here one that never answers) and before the input is read (here a manifest naming a file
    that is not there, which would fail if it were read)."""
    monkeypatch.setattr("ngff_fuse.cluster.CONNECT_TIMEOUT", 1.0)
    out = tmp_path / "done.ome.zarr"
    assert main(["convert", str(acquisition), str(out), "--quiet"]) == 0
    manifest = tmp_path / "tiles.json"
    manifest.write_text(json.dumps({"tiles": [{"file": "gone.tif", "x": 0, "y": 0}]}))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    for argv in (["convert", str(manifest), str(out)],
                 ["convert", str(acquisition), str(out), "--scheduler", closed]):
        assert main(argv) == 2
        printed = capsys.readouterr()
        assert printed.out == ""  # not even "computing on ..."
        assert printed.err.strip() == (f"ngff-fuse: error: {out}: output exists; pass --overwrite "
                                       "or choose another path")
