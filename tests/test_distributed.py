"""The same graph on a dask.distributed cluster of worker processes gives the same bytes."""

from __future__ import annotations

import numpy as np
import zarr

from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff


def test_local_cluster_matches_in_process(tmp_path, capsys):
    source = write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(90, 100), channels=2,
                                             subpixel=True), tmp_path / "tiles.ome.tif")
    local, cluster = tmp_path / "local.ome.zarr", tmp_path / "cluster.ome.zarr"
    options = ["--chunk", "64", "--shard", "128"]
    assert main(["convert", str(source), str(local), "--quiet", *options]) == 0
    assert main(["convert", str(source), str(cluster), "--workers", "2", *options]) == 0
    assert "local cluster of 2 worker processes" in capsys.readouterr().out
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
