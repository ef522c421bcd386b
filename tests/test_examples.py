"""The example scripts run as users run them, on a small generated acquisition."""

from __future__ import annotations

import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_checks import validate_models

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory):
    folder = tmp_path_factory.mktemp("examples")
    return write_ome_tiff(synthetic_mosaic(grid=(2, 2), tile_shape=(120, 150), channels=2),
                          folder / "tiles.ome.tif")


@pytest.mark.parametrize("script", ["convert_vendor_file.py", "register_and_fuse.py",
                                    "fuse_on_a_cluster.py", "keep_tiles_and_refuse.py"])
def test_example_runs(script, acquisition, tmp_path):
    out = tmp_path / "out.ome.zarr"
    done = subprocess.run([sys.executable, str(EXAMPLES / script), str(acquisition), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    validate_models(out, "0.5")


@pytest.mark.parametrize("script", ["open_in_napari.py", "make_napari_pictures.py"])
def test_napari_example_is_valid_python(script):
    py_compile.compile(str(EXAMPLES / script), doraise=True)
