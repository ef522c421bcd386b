"""Real Fiji data: our fusion of tile_config.txt against Fiji's own fused result."""

from __future__ import annotations

import numpy as np
import tifffile
import zarr

from ngff_fuse.cli import main
from ngff_checks import multiscale
from ngff_fuse.testing.blend_quality import ghost


def test_fiji_blending_reproduced_and_the_default_does_not_ghost(shared_dir, tmp_path):
    folder = shared_dir / "realdata" / "fiji-tileconfig-graphpaper"
    fiji = tifffile.imread(folder / "fiji-fused-nominal.tif").astype(float)
    # The nominal positions: 297 px apart in x, so each tile starts 297 px after the last.
    tiles = [(tifffile.imread(folder / f"{i}.tif").astype(float), (0, 297 * (i - 1))) for i in range(1, 11)]
    correlations, ghosting = {}, {}
    runs = {"default": [], "linear": ["--blend", "linear"], "fiji": ["--blend", "linear", "--blend-width", "60"]}
    for name, extra in runs.items():
        out = tmp_path / f"{name}.ome.zarr"
        assert main(["convert", str(folder / "tile_config.txt"), str(out), "--quiet", *extra]) == 0
        ours = zarr.open_array(out / "0", mode="r")[:]
        assert ours.shape == fiji.shape == (929, 3267) and ours.dtype == np.uint8
        correlations[name] = np.corrcoef(fiji.ravel(), ours.ravel().astype(float))[0, 1]
        ghosting[name] = ghost(ours.astype(float), tiles)
        # The first and last 297 px are covered by one tile only: identical to Fiji's.
        assert np.array_equal(ours[:, :297], fiji[:, :297])
        assert np.array_equal(ours[:, -297:], fiji[:, -297:])
    # The nominal positions are off by up to ~40 px (see tile_config.registered.txt), so in
    # the 50 % overlaps the tiles disagree. Fiji's linear blending ramps over ~60 px from each
    # tile's edge and averages both tiles beyond: `--blend linear` reproduces it, ghosts and
    # all (about 40 % of the way from the nearer tile to the average, 50 % being the mean).
    assert correlations["fiji"] > 0.999
    assert correlations["linear"] > 0.99
    assert ghosting["fiji"] > 0.3 and ghosting["linear"] > 0.3
    # The default feather fades over 40 px across the middle of each overlap: nearly every
    # pixel shows one tile, so the ghosts are gone (the misplacement itself needs --register).
    assert ghosting["default"] < 0.1
    # Uncalibrated tiles: written without a unit, one pixel per unit.
    meta = multiscale(tmp_path / "default.ome.zarr")
    assert all("unit" not in axis for axis in meta["axes"])
    assert meta["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 1.0]
