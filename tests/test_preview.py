"""Thumbnails: channel colours, contrast window, scale bar, a low pyramid level."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from matplotlib.image import imread

from damage import chunk_files, key, truncate
from ngff_fuse.cli import main
from ngff_fuse.preview import nice_length, pick_level, render
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from test_resume import run_cli


@pytest.mark.parametrize("ngff", ["0.4", "0.5", "0.6"])
def test_preview_of_a_two_channel_mosaic(ngff, tmp_path):
    source = write_ome_tiff(synthetic_mosaic(grid=(2, 3), tile_shape=(200, 240), channels=2),
                            tmp_path / "t.ome.tif")
    out = tmp_path / "o.ome.zarr"
    png = tmp_path / "o.png"
    assert main(["convert", str(source), str(out), "--chunk", "128", "--quiet", "--preview", str(png),
                 "--ngff", ngff]) == 0
    picture = imread(png)[..., :3]
    rgb, pixel, unit = render(out)  # the mosaic (374 x 649) is below 768 px: level 0
    assert picture.shape[:2] == rgb.shape[:2] == (374, 649)
    assert unit == "micrometer" and pixel == pytest.approx(0.65)
    # level 1 (325 px wide) is the last >= 200 px, then averaged 2 x 2 down to 163 px
    assert render(out, size=200)[1] == pytest.approx(0.65 * 2 * 2)
    # green (channel 0) and magenta (channel 1) both show: red and green are both present
    assert picture[..., 0].mean() > 0.05 and picture[..., 1].mean() > 0.05
    # the window is not saturated: most pixels are neither black nor clipped white
    assert 0.05 < rgb.mean() < 0.9
    # the scale bar: a run of pure white pixels near the bottom left
    bottom = picture[int(picture.shape[0] * 0.9):, : picture.shape[1] // 2]
    assert (bottom.min(axis=-1) > 0.99).sum() > 20


def test_preview_command_and_errors(tmp_path, capsys):
    assert main(["preview", str(tmp_path / "missing.zarr"), str(tmp_path / "p.png")]) == 2
    assert "not an OME-Zarr" in capsys.readouterr().err


def test_scale_bar_lengths_and_level_choice():
    assert nice_length(1000) == 200 and nice_length(37) == 5 and nice_length(3.3) == 0.5
    assert pick_level([(4000, 4000), (2000, 2000), (1000, 1000), (500, 500)], 768) == 2
    assert pick_level([(300, 300), (150, 150)], 768) == 0
    assert np.isclose(nice_length(0.07), 0.01)


def test_layout_picture_of_each_scene(tmp_path, capsys):
    source = write_ome_tiff(synthetic_mosaic(grid=(2, 2), tile_shape=(60, 80)), tmp_path / "t.ome.tif")
    png = tmp_path / "layout.png"
    assert main(["layout", str(source), str(png)]) == 0
    assert f"wrote {png}" in capsys.readouterr().out
    picture = imread(png)
    assert picture.shape[0] > 200 and picture.shape[1] > 600
    # the shaded overlaps are the only blue-ish pixels of the picture
    rgb = picture[..., :3]
    assert ((rgb[..., 2] > rgb[..., 0] + 0.1) & (rgb[..., 2] > 0.5)).sum() > 500


def test_preview_is_reduced_to_the_size_asked(tmp_path):
    source = write_ome_tiff(synthetic_mosaic(grid=(2, 3), tile_shape=(200, 240)), tmp_path / "t.ome.tif")
    out = tmp_path / "o.ome.zarr"
    assert main(["convert", str(source), str(out), "--quiet"]) == 0  # one level: 374 x 649
    rgb, pixel, _ = render(out, size=200)
    assert max(rgb.shape[:2]) <= 200 and pixel == pytest.approx(0.65 * 4)


def test_a_damaged_store_is_refused_in_one_line(tmp_path, capsys):
    """A broken shard index or a chunk missing from a store ngff-fuse wrote: one line naming the
    chunk, exit 2, nothing more on the terminal (zarr's pending reads used to print ~250 lines
    at exit); a store from a writer that leaves out empty chunks reads them as the fill value."""
    source = write_ome_tiff(synthetic_mosaic(grid=(2, 3), tile_shape=(100, 120)), tmp_path / "t.ome.tif")
    out, png = tmp_path / "o.ome.zarr", tmp_path / "o.png"
    assert main(["convert", str(source), str(out), "--chunk", "32", "--shard", "64", "--quiet"]) == 0
    shard = chunk_files(out / "0")[3]  # the preview reads level 0 of this small mosaic
    truncate(shard)
    done = run_cli("preview", str(out), str(png))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"{out / '0'}: chunk {key(out / '0', shard)} has a shard index that does not decode" in done.stderr
    shard.unlink()
    assert main(["preview", str(out), str(png)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"chunk {key(out / '0', shard)} missing" in err
    group = zarr.open_group(out, mode="r+")
    group.attrs.put({k: v for k, v in group.attrs.items() if k != "ngff_fuse"})  # as another writer's
    assert main(["preview", str(out), str(png)]) == 0


def test_preview_leaves_the_callers_matplotlib_alone(tmp_path):
    """A napari or Jupyter session keeps its backend and its open figures after a preview."""
    import subprocess
    import sys

    source = write_ome_tiff(synthetic_mosaic(grid=(1, 2), tile_shape=(40, 50)), tmp_path / "t.ome.tif")
    out = tmp_path / "o.ome.zarr"
    assert main(["convert", str(source), str(out), "--quiet"]) == 0
    script = (
        "import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot as plt\n"
        "figure = plt.figure()\n"
        "from ngff_fuse import write_preview\n"
        f"write_preview({str(out)!r}, {str(tmp_path / 'p.png')!r})\n"
        "print(matplotlib.get_backend(), plt.get_fignums() == [figure.number])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["svg", "True"]
    assert imread(tmp_path / "p.png").shape[:2] == render(out)[0].shape[:2]
