"""The command line in a careless user's hands and a hostile environment: the same input gives
the same bytes, a dead pipe or an ASCII terminal does not end a conversion, a scheduler that is
not one is given up on, an existing output is refused before anything else."""

from __future__ import annotations

import gzip
import types
from pathlib import Path

import numpy as np
import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff

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
