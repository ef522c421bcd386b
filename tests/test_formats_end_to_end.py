"""Every input kind, written from one ground truth, converts back to that truth."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.testing.tile_files import write_manifest, write_tileconfig
from ngff_checks import multiscale

WRITERS = {
    "ome-tiff": lambda m, d: write_ome_tiff(m, d / "tiles.ome.tif"),
    "tileconfig": lambda m, d: write_tileconfig(m, d),
    "manifest-json": lambda m, d: write_manifest(m, d, kind="json"),
    "manifest-csv-split-channels": lambda m, d: write_manifest(
        m, d, kind="csv", split_channels=True, position_unit="px"),
}


@pytest.mark.parametrize("threed", [False, True], ids=["2d", "3d"])
@pytest.mark.parametrize("kind", WRITERS)
def test_input_kind_round_trips_to_the_truth(kind, threed, tmp_path):
    if threed:
        mosaic = synthetic_mosaic(grid=(1, 2, 2), tile_shape=(5, 40, 50), channels=2,
                                  spacing=(2.0, 0.5, 0.5), origin=(-20.0, 300.0, -800.0))
    else:
        mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(40, 50), channels=2,
                                  spacing=(1.0, 0.5, 0.5), origin=(0.0, 300.0, -800.0))
    source = WRITERS[kind](mosaic, tmp_path)
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(source), str(out), "--quiet", "--chunk", "32"]) == 0

    level0 = zarr.open_array(out / "0", mode="r")[:]
    positions = np.array([t.position for t in mosaic.tiles])
    first = np.rint((positions.min(axis=0) - mosaic.origin) / mosaic.spacing).astype(int)
    box = tuple(slice(f, f + n) for f, n in zip(first, level0.shape[1:] if threed else (1, *level0.shape[1:])))
    truth = mosaic.truth[0][(slice(None), *box)]
    truth = truth if threed else truth[:, 0]
    covered = level0 > 0
    assert covered.mean() > 0.85
    assert np.array_equal(level0[covered], truth[covered])

    meta = multiscale(out)
    assert [a["name"] for a in meta["axes"]] == (["c", "z", "y", "x"] if threed else ["c", "y", "x"])
    scale, translation = (t[t["type"]] for t in meta["datasets"][0]["coordinateTransformations"])
    spatial = slice(1, None)
    if kind == "tileconfig":  # Fiji positions are pixels from the mosaic's own origin
        positions = positions - mosaic.origin
    expected_origin = positions.min(axis=0)[0 if threed else 1:]
    expected_scale = np.array(mosaic.spacing)[0 if threed else 1:]
    assert np.allclose(translation[spatial], expected_origin, atol=1e-6)
    assert np.allclose(scale[spatial], expected_scale, atol=1e-9)
