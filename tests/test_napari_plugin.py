"""The napari plugin (ngff_fuse/napari), in a real napari, headless (its ViewerModel: layers,
slicing and level choice, without Qt or OpenGL).

Lazily fused levels are checked against the ground truth the synthetic tiles were cut from;
layer placement against `ngff-fuse info --json`; windows and colours against what `convert`
writes; OME-Zarr placement against the stage positions the acquisition was made with."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zarr

pytest.importorskip("napari", reason="install ngff-fuse[napari]")

from ngff_fuse.cli import main
from ngff_fuse.model import Tile
from ngff_fuse.napari.multiscale import lazy_levels
from ngff_fuse.readers.czi_file import CziTilePlanes
from ngff_fuse.readers.tiff_planes import TiffPlanes
from ngff_fuse.testing import in_memory_tileset, synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.writer import WriteOptions

MANIFEST = Path(__file__).parents[1] / "ngff_fuse" / "napari" / "napari.yaml"


@pytest.fixture(scope="module")
def viewer_model():
    """napari's ViewerModel with its plugins, ngff-fuse's among them (registered from its
    manifest where this checkout is not the installed package)."""
    from napari.components import ViewerModel
    from napari.plugins import _initialize_plugins
    from npe2 import PluginManager, PluginManifest

    _initialize_plugins()
    manager = PluginManager.instance()
    if "ngff-fuse" not in {m.name for m in manager.iter_manifests()}:
        manager.register(PluginManifest.from_file(MANIFEST))
    return ViewerModel


def _open(viewer_model, path: Path) -> list:
    return viewer_model().open(str(path), plugin="ngff-fuse")


def _info(path: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _omero(image: Path) -> list[dict]:
    attrs = zarr.open_group(image, mode="r").attrs.asdict()
    return attrs.get("ome", attrs)["omero"]["channels"]


# ---- lazily fused levels ---------------------------------------------------------------------

def _no_fast_path(tile: Tile) -> Tile:
    """The tile behind one more dask layer, so fusion cannot read its source directly: levels
    then stride through dask slicing instead of `StridedView`."""
    return replace(tile, data=tile.data.copy(data=tile.data.data.map_blocks(np.asarray)))


@pytest.mark.parametrize("case", ["2d", "3d", "dask-sliced"])
def test_each_level_is_level_0_sampled_every_f_pixels(case, tmp_path):
    """Whole-pixel stage positions: every level of the lazy pyramid is the ground truth at
    every f-th pixel from the mosaic's first one, wherever the tiles cover it (overlaps too:
    both tiles there hold the same truth), the levels and their steps those `convert` writes."""
    if case == "3d":
        acquisition = synthetic_mosaic(grid=(2, 2, 2), tile_shape=(9, 32, 36), channels=2,
                                       spacing=(0.65, 0.65, 0.65), smooth=True, seed=4)
    else:
        acquisition = synthetic_mosaic(grid=(3, 3), tile_shape=(50, 61), channels=2, smooth=True, seed=5)
    tileset = in_memory_tileset(acquisition)
    if case == "dask-sliced":
        tileset = replace(tileset, tiles=tuple(_no_fast_path(t) for t in tileset.tiles))
    options = WriteOptions(chunk=16)
    levels = lazy_levels(tileset, options=options)
    written = written_shapes(tileset, options, tmp_path / "written.ome.zarr")
    assert [level.data.shape[2:] for level in levels] == written
    assert len(levels) >= 3
    first, stop = acquisition.truth_extent()
    covered = np.zeros(acquisition.truth.shape[2:], dtype=bool)
    for tile in acquisition.tiles:
        box = tuple(slice(int(o), int(o) + n) for o, n in zip(tile.pixel_offset, tile.data.shape[2:]))
        covered[box] = True
    for level in levels:
        pick = tuple(slice(a, b, f) for a, b, f in zip(first, stop, level.step))
        truth = acquisition.truth[(slice(None), slice(None), *pick)]
        inside = covered[pick]
        fused = level.data.compute()
        assert fused.shape == truth.shape
        np.testing.assert_array_equal(fused[..., inside], truth[..., inside], err_msg=f"step {level.step}")
    if case == "3d":
        assert levels[-1].step[0] > 1  # z halved too where it is as fine as y/x


def written_shapes(tileset, options: WriteOptions, out: Path) -> list[tuple[int, ...]]:
    """The level shapes (z, y, x) `write_ngff` writes for the tile set."""
    from ngff_fuse.fuse.core import fuse
    from ngff_fuse.writer import write_ngff

    shapes = write_ngff(fuse(tileset, chunk_size=(8, 16, 16), squeeze=False), out, options)
    return [tuple(s[2:]) for s in shapes]


def test_sub_pixel_tiles_land_where_the_stage_says():
    """Tiles off the pixel grid: a coarse level is resampled from strided reads, so it matches
    the truth at its own pixel positions to within the interpolation of a smooth image."""
    acquisition = synthetic_mosaic(grid=(2, 3), tile_shape=(60, 70), subpixel=True, smooth=True, seed=6)
    tileset = in_memory_tileset(acquisition)
    levels = lazy_levels(tileset, options=WriteOptions(chunk=32))
    full = levels[0].data.compute()[0, 0, 0].astype(float)
    for level in levels[1:]:
        _, fy, fx = level.step
        coarse = level.data.compute()[0, 0, 0].astype(float)
        reference = full[::fy, ::fx]
        inner = (slice(2, -2), slice(2, -2))
        error = np.abs(coarse[inner] - reference[inner])
        assert np.median(error) < 0.02 * reference.max(), level.step


def test_rows_far_apart_are_read_alone_and_truncation_still_named(tmp_path):
    """`read_band` with rows SPARSE_STEP or more apart reads just those rows (what a coarse
    level asks of an uncompressed plane): the same values as a whole-band read, fewer bytes; a
    file that ends before a wanted row is still refused as truncated."""
    from ngff_fuse.errors import DamagedFile
    from ngff_fuse.readers.raster_reads import SPARSE_STEP, read_band

    plane = np.arange(64 * 50, dtype=">u2").reshape(64, 50)
    raw = tmp_path / "plane.raw"
    raw.write_bytes(b"header" + plane.tobytes())
    rows = range(3, 64, SPARSE_STEP * 2)
    band, first = read_band(str(raw), 6, rows, (50,), plane.dtype, "plane 0")
    np.testing.assert_array_equal(band[[r - first for r in rows]], plane[3::SPARSE_STEP * 2])
    raw.write_bytes(b"header" + plane[:40].tobytes())
    with pytest.raises(DamagedFile, match="truncated"):
        read_band(str(raw), 6, rows, (50,), plane.dtype, "plane 0")


# ---- raw acquisitions in napari --------------------------------------------------------------

@pytest.fixture
def counted_reads(monkeypatch):
    """Pixels the CZI and TIFF readers hand out, counted where they leave the reader, and the
    bytes read from files with os.pread / os.preadv (how they read pixels)."""
    fetched = {"pixels": 0, "bytes": 0}

    def counted(read, size):
        def call(*args):
            out = read(*args)
            fetched["bytes"] += size(out)
            return out
        return call

    monkeypatch.setattr(os, "pread", counted(os.pread, len))
    monkeypatch.setattr(os, "preadv", counted(os.preadv, int))
    for cls in (CziTilePlanes, TiffPlanes):
        original = cls.__getitem__

        def counting(self, key, original=original):
            out = original(self, key)
            fetched["pixels"] += out.size
            return out

        monkeypatch.setattr(cls, "__getitem__", counting)
    return fetched


@pytest.mark.parametrize("relative", [
    "realdata/czi-convallaria/mosaic_test.czi",
    "realdata/fiji-tileconfig-graphpaper/tile_config.txt",
])
def test_acquisition_opens_placed_named_and_windowed_as_convert_writes(
        relative, shared_dir, viewer_model, counted_reads, capsys, tmp_path):
    """One multiscale layer per channel: level 0's scale and translate are `info --json`'s pixel
    size and mosaic origin; names, colours and levels those of the converted store, contrast
    limits within 10 % of its window's span (percentiles of every f-th pixel, where convert takes
those of f x f block means, which smooth the noise: 8 % apart on the graph paper); the first
    view reads only the coarsest level's share of the tile pixels; tile outlines match info."""
    path = shared_dir / relative
    info = _info(path, capsys)["scenes"][0]
    before, bytes_before = counted_reads["pixels"], counted_reads["bytes"]
    layers = _open(viewer_model, path)
    fetched, read = counted_reads["pixels"] - before, counted_reads["bytes"] - bytes_before
    *images, outlines = layers
    axes = list(info["pixel_size"])
    tile_pixels = sum(int(np.prod(t["shape"])) for t in info["tile_positions"]) * len(info["channels"])
    assert fetched > 0
    out = tmp_path / "converted.ome.zarr"
    assert main(["convert", str(path), str(out), "--quiet"]) == 0
    omero = _omero(out)
    assert len(images) == len(info["channels"]) == len(omero)
    for layer, channel in zip(images, omero):
        assert layer.multiscale
        assert layer.name == f"{info['name']}: {channel['label']}"
        np.testing.assert_allclose(layer.scale[-len(axes):], [info["pixel_size"][ax] for ax in axes], rtol=1e-9)
        np.testing.assert_allclose(layer.translate[-len(axes):], [info["mosaic"]["origin"][ax] for ax in axes],
                                   rtol=0, atol=1e-6)
        assert [tuple(level.shape[-2:]) for level in layer.data] == \
            [tuple(zarr.open_array(out / str(k), mode="r").shape[-2:]) for k in range(len(layer.data))]
        window = channel["window"]
        span = window["end"] - window["start"]
        np.testing.assert_allclose(layer.contrast_limits, [window["start"], window["end"]], atol=0.1 * span)
        rgb = [int(channel["color"][i:i + 2], 16) / 255 for i in (0, 2, 4)]
        if len(omero) > 1 or channel["color"] != "FFFFFF":
            np.testing.assert_allclose(layer.colormap.colors[-1][:3], rgb, atol=1e-6)
        assert layer.data_level == len(layer.data) - 1  # the whole mosaic shows the coarsest level
    coarsest = np.prod(images[0].downsample_factors[-1][-2:])
    assert fetched <= tile_pixels / coarsest * 1.1
    # rows f apart are read alone (f >= 4): no more bytes than the pixels fetched, whole rows
    itemsize = np.dtype(info["dtype"]).itemsize
    assert 0 < read <= (tile_pixels / images[0].downsample_factors[-1][-2] * 1.1 if coarsest >= 16 else
                    tile_pixels) * itemsize
    assert len(outlines.data) == info["tiles"]
    for box, tile in zip(outlines.data, info["tile_positions"]):
        low = [tile["position"][ax] - info["pixel_size"][ax] / 2 for ax in ("y", "x")]
        high = [tile["position"][ax] + (n - 0.5) * info["pixel_size"][ax]
                for ax, n in zip(("y", "x"), tile["shape"][-2:])]
        np.testing.assert_allclose(box.min(axis=0), low, atol=1e-6)
        np.testing.assert_allclose(box.max(axis=0), high, atol=1e-6)


# ---- OME-Zarr stores -------------------------------------------------------------------------

ACQUISITION = dict(grid=(2, 2), tile_shape=(40, 48), channels=2, subpixel=True, smooth=True,
                   spacing=(1.0, 0.65, 0.65), origin=(0.0, -1234.56, 5678.9), seed=3)
WELLS = {"A01": dict(grid=(2, 2), tile_shape=(41, 49), channels=2, spacing=(1.0, 0.5, 0.5), seed=11,
                     origin=(0.0, -310.0, -50.0)),
         "B02": dict(grid=(1, 3), tile_shape=(41, 49), channels=2, spacing=(1.0, 0.5, 0.5), seed=12,
                     origin=(0.0, 120.0, 60.5))}


def _level0(layer):
    return layer.data[0] if layer.multiscale else layer.data


def _lowest_corner(acquisition) -> list[float]:
    return list(np.min([tile.position for tile in acquisition.tiles], axis=0)[1:])


@pytest.mark.parametrize("ngff,options", [("0.4", ()), ("0.5", ()), ("0.6", ()), ("0.5", ("--keep-tiles",)),
                                          ("0.6", ("--keep-tiles",))])
def test_store_layers_sit_at_the_stage_position_and_overlay_the_lazy_ones(ngff, options, viewer_model, tmp_path):
    """A converted store opens placed where the stage put the first pixel (napari-ome-zarr puts
    it at 0), with its omero names, colours and windows; its layers overlay the acquisition's
    lazily fused layers exactly: same scale and translate, same level-0 pixels.
    Kept tiles come as outlines at the tiles' stage positions."""

    acquisition = synthetic_mosaic(**ACQUISITION)
    tif = write_ome_tiff(acquisition, tmp_path / "tiles.ome.tif")
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(tif), str(out), "--ngff", ngff, "--chunk", "32", "--quiet", *options]) == 0
    *stored, outlines = layers = _open(viewer_model, out)
    if not options:
        stored, outlines = layers, None
    lazy = [layer for layer in _open(viewer_model, tif) if layer._type_string == "image"]
    omero = _omero(out)
    assert len(stored) == len(lazy) == len(omero) == 2
    for layer, twin, channel in zip(stored, lazy, omero):
        np.testing.assert_allclose(layer.data_to_world([0, 0]), _lowest_corner(acquisition), atol=1e-9)
        np.testing.assert_allclose(layer.scale, acquisition.spacing[1:], rtol=1e-12)
        assert layer.name.endswith(channel["label"])
        np.testing.assert_allclose(layer.contrast_limits, [channel["window"]["start"], channel["window"]["end"]])
        rgb = [int(channel["color"][i:i + 2], 16) / 255 for i in (0, 2, 4)]
        np.testing.assert_allclose(layer.colormap.colors[-1][:3], rgb, atol=1e-6)
        np.testing.assert_allclose(twin.scale, layer.scale, rtol=1e-9)
        np.testing.assert_allclose(twin.translate, layer.translate, atol=1e-9)
        np.testing.assert_array_equal(np.asarray(_level0(twin)), np.asarray(_level0(layer)))
    if outlines is not None:
        starts = sorted(tuple(np.round(box.min(axis=0), 6)) for box in outlines.data)
        expected = sorted(tuple(np.round(np.asarray(t.position[1:]) - 0.325, 6)) for t in acquisition.tiles)
        np.testing.assert_allclose(starts, expected, atol=1e-6)


def test_every_scene_of_a_store_sits_at_its_own_position(viewer_model, tmp_path):
    """A multi-scene store (bioformats2raw layout, one scene per well): every scene's layers
    at that well's stage position, not stacked at the origin."""
    from ngff_fuse.testing.imagexpress import write_imagexpress

    wells = {well: synthetic_mosaic(**params) for well, params in WELLS.items()}
    plate = write_imagexpress(wells, tmp_path / "plate")
    out = tmp_path / "scenes.ome.zarr"
    assert main(["convert", str(plate), str(out), "--chunk", "32", "--quiet"]) == 0
    layers = _open(viewer_model, out)
    assert len(layers) == 2 * len(wells)
    for (well, acquisition), pair in zip(wells.items(), zip(layers[::2], layers[1::2])):
        for layer in pair:
            np.testing.assert_allclose(layer.data_to_world([0, 0]), _lowest_corner(acquisition), atol=1e-9,
                                       err_msg=f"{well} {layer.name}")


# ---- the convert widget ----------------------------------------------------------------------

@pytest.mark.napari_qt
def test_widget_converts_in_the_background_and_its_result_overlays_the_lazy_layers(viewer_model, tmp_path,
                                                                                  monkeypatch):
    """The widget converts the open acquisition in a worker thread, its progress bar reaches
    the end, and the store's layers land exactly on the lazily fused ones: same scale and
    translate, same level-0 pixels. What convert refuses is reported by the worker, adding nothing."""
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    from napari.qt import get_qapp
    from qtpy.QtCore import QThreadPool

    from ngff_fuse.napari import widget as widget_module
    from ngff_fuse.napari.widget import STEPS, ConvertWidget, convert_steps

    app = get_qapp()
    tif = write_ome_tiff(synthetic_mosaic(**ACQUISITION), tmp_path / "tiles.ome.tif")
    viewer = viewer_model()
    viewer.open(str(tif), plugin="ngff-fuse")
    lazy = [layer for layer in viewer.layers if layer._type_string == "image"]
    widget = ConvertWidget()

    def run(**options) -> tuple[list, list]:
        """The widget's worker run to its end, its queued signals delivered: (progress steps
        yielded, errors reported)."""
        yielded, errors = [], []

        def counted(*args):
            steps = convert_steps(*args)
            while True:
                try:
                    step = next(steps)
                except StopIteration as done:
                    return done.value  # the layers, the worker's result
                yielded.append(step)
                yield step

        monkeypatch.setattr(widget_module, "convert_steps", counted)
        monkeypatch.setattr(widget_module, "report", errors.append)
        widget(viewer=viewer, output=tmp_path / "out.ome.zarr", chunk=32, **options)
        assert QThreadPool.globalInstance().waitForDone(120_000)
        for _ in range(5):
            app.processEvents()
        return yielded, errors

    yielded, errors = run()
    assert not errors and len(yielded) == STEPS
    converted = [layer for layer in viewer.layers if layer not in lazy and layer._type_string == "image"]
    assert len(converted) == len(lazy) == 2
    layers_after_first = list(viewer.layers)
    for layer, twin in zip(converted, lazy):
        assert layer.metadata["ngff_fuse"]["store"] == str(tmp_path / "out.ome.zarr")
        np.testing.assert_allclose(layer.scale, twin.scale, rtol=1e-12)
        np.testing.assert_allclose(layer.translate, twin.translate, atol=1e-9)
        np.testing.assert_array_equal(np.asarray(_level0(layer)), np.asarray(_level0(twin)))
    # a second run onto the finished store without "overwrite" is refused, in the worker
    _, errors = run()
    assert [type(e).__name__ for e in errors] == ["InputError"] and "--overwrite" in str(errors[0])
    assert len(viewer.layers) == len(layers_after_first)


def test_files_no_reader_claims_are_left_to_other_plugins(tmp_path):
    """A CSV that is no manifest, a folder without tiles, a missing path: no reader (napari then
    asks its other plugins); an acquisition and a store: ngff-fuse's readers."""
    from ngff_fuse.napari.reader import get_reader, read_acquisition, read_ome_zarr

    table = tmp_path / "results.csv"
    table.write_text("cell,area\n1,20\n")
    (tmp_path / "empty").mkdir()
    for path in (table, tmp_path / "empty", tmp_path / "missing.czi"):
        assert get_reader(str(path)) is None, path
    tif = write_ome_tiff(synthetic_mosaic(grid=(1, 2), tile_shape=(30, 30)), tmp_path / "tiles.ome.tif")
    assert get_reader(str(tif)) is read_acquisition
    assert main(["convert", str(tif), str(tmp_path / "out.ome.zarr"), "--quiet"]) == 0
    assert get_reader(str(tmp_path / "out.ome.zarr")) is read_ome_zarr


def test_plate_fields_sit_at_their_own_positions(viewer_model, tmp_path):
    """A plate (NGFF 0.4 `plate` -> `well` -> field images, as screening software writes; the
    fields here are ngff-fuse outputs): every field's layers at its own stage position."""
    fields = {}
    plate = tmp_path / "plate.ome.zarr"
    for index, (well, params) in enumerate(WELLS.items()):
        acquisition = synthetic_mosaic(**params)
        tif = write_ome_tiff(acquisition, tmp_path / f"{well}.ome.tif")
        row, column = well[0], str(int(well[1:]))
        out = plate / row / column / "0"
        out.parent.mkdir(parents=True, exist_ok=True)
        assert main(["convert", str(tif), str(out), "--ngff", "0.4", "--quiet"]) == 0
        zarr.open_group(plate / row / column, mode="a", zarr_format=2).attrs["well"] = {
            "images": [{"path": "0"}], "version": "0.4"}
        fields[f"{row}/{column}"] = acquisition
    root = zarr.open_group(plate, mode="a", zarr_format=2)
    root.attrs["plate"] = {"version": "0.4", "wells": [{"path": p, "rowIndex": i, "columnIndex": 0}
                                                      for i, p in enumerate(fields)],
                           "rows": [{"name": p.split("/")[0]} for p in fields],
                           "columns": [{"name": p.split("/")[1]} for p in fields]}
    layers = _open(viewer_model, plate)
    assert len(layers) == 2 * len(fields)
    for acquisition, pair in zip(fields.values(), zip(layers[::2], layers[1::2])):
        for layer in pair:
            np.testing.assert_allclose(layer.data_to_world([0, 0]), _lowest_corner(acquisition), atol=1e-9)
