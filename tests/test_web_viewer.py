"""Opt-in (marker `webviewer`): our outputs really draw in web viewers (vizarr, ome-zarr.js),
opened in headless Chromium by ../shared/tools/web_view_check.sh. The first run installs
Chromium and a few npm packages (about a minute); deselect with `-m "not webviewer"`."""

from __future__ import annotations

import json
import subprocess

import pytest

from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff

pytestmark = pytest.mark.webviewer


@pytest.mark.parametrize("layout", [["--ngff", "0.4"], ["--ngff", "0.5", "--shard", "256"]],
                         ids=["0.4", "0.5-sharded"])
def test_output_draws_in_vizarr_and_ome_zarr_js(layout, tmp_path, shared_dir):
    source = write_ome_tiff(synthetic_mosaic(grid=(2, 3), tile_shape=(200, 240), channels=2),
                            tmp_path / "tiles.ome.tif")
    out = tmp_path / "fused.ome.zarr"
    assert main(["convert", str(source), str(out), "--chunk", "128", "--quiet", *layout]) == 0
    screenshot = tmp_path / "view.png"
    done = subprocess.run(
        ["bash", str(shared_dir / "tools" / "web_view_check.sh"), "--viewer", "all", str(out), str(screenshot)],
        capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for report in (tmp_path / "view.report.json", tmp_path / "view.omezarrjs.report.json"):
        verdict = json.loads(report.read_text())["verdict"]
        assert verdict["rendered"] and verdict["missing_chunks"] == 0 and not verdict["errors"]
        assert verdict["drawn_frac"] > 0.1 and verdict["drawn_colours"] > 1000  # content, not a blank
