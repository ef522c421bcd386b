"""Every kind of output, read back by the independent readers of the ecosystem (from PyPI):
ome-zarr-py, ngff-zarr (images and 0.6 scenes), tensorstore, bioio-ome-zarr, ome-zarr-models and
napari with napari-ome-zarr (headless). Each output is written once per session from a small
synthetic acquisition (2 channels, z, a negative and sub-pixel origin), or a plate of two wells.

What a reader gets right is checked against the truth: pixels against zarr-python's, placement
against the stage positions the acquisition was made with. Where a reader cannot read an output
kind, the test asserts that known limitation, so a change upstream shows up here; the README's
reader table ("Viewers") says the same.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.testing import SyntheticMosaic, synthetic_mosaic
from ngff_fuse.testing.imagexpress import write_imagexpress
from ngff_fuse.testing.ome_tiff import write_ome_tiff

# z of 4 planes, 2 x 2 tiles at sub-pixel stage positions: level 0 starts at z -7.5 um and
# at a y below zero that is no multiple of the pixel size.
ACQUISITION = dict(grid=(1, 2, 2), tile_shape=(4, 40, 48), channels=2, subpixel=True, smooth=True,
                   spacing=(2.0, 0.65, 0.65), origin=(-7.5, -1234.56, 5678.9), seed=3)
# ImageXpress records field centres rounded to 0.1 um: with whole-pixel steps of 0.5 um and odd
# tile edges, those are exact, so each well's first pixel is its lowest tile corner.
WELLS = {"A01": dict(grid=(2, 2), tile_shape=(41, 49), channels=2, spacing=(1.0, 0.5, 0.5), seed=11,
                     origin=(0.0, -310.0, -50.0)),
         "B02": dict(grid=(1, 3), tile_shape=(41, 49), channels=2, spacing=(1.0, 0.5, 0.5), seed=12,
                     origin=(0.0, 120.0, 60.5))}
CHUNK = 32


@dataclass(frozen=True)
class Kind:
    """One kind of output: its NGFF version and the convert options that make it."""

    ngff: str
    options: tuple[str, ...] = ()
    scenes: bool = False  # several scenes: the bioformats2raw layout, image i in group i
    plate: bool = False  # the wells of a plate: the NGFF HCS layout, well A01 in A/1/0
    sharded: bool = False

    @property
    def kept(self) -> bool:
        return "--keep-tiles" in self.options


KINDS = {
    "0.4": Kind("0.4"),
    "0.5-sharded": Kind("0.5", sharded=True),
    "0.5-unsharded": Kind("0.5", ("--shard", "0")),
    "0.6": Kind("0.6", sharded=True),
    "0.5-kept-tiles": Kind("0.5", ("--keep-tiles",), sharded=True),
    "0.6-kept-tiles": Kind("0.6", ("--keep-tiles",), sharded=True),
    "scenes-0.4": Kind("0.4", ("--no-hcs",), scenes=True),
    "scenes-0.5": Kind("0.5", ("--no-hcs",), scenes=True, sharded=True),
    "plate-0.4": Kind("0.4", plate=True),
    "plate-0.5": Kind("0.5", plate=True, sharded=True),
}


@dataclass(frozen=True)
class Image:
    """One multiscale image of an output and where its level 0 must be."""

    path: Path
    name: str
    dims: tuple[str, ...]
    spacing: dict[str, float]  # per spatial axis present
    origin: dict[str, float]  # stage position of the first pixel, per spatial axis present
    channels: tuple[str, ...]

    def levels(self) -> list[zarr.Array]:
        group = zarr.open_group(self.path, mode="r")
        return [group[str(k)] for k in range(len(list(group.array_keys())))]

    def placement(self) -> list[tuple[dict[str, float], dict[str, float]]]:
        """Expected (scale, translation) per level: a level-k pixel averages f level-0 pixels,
        so it is f times coarser and its first centre (f - 1) / 2 level-0 pixels in."""
        levels = self.levels()
        expected = []
        for k, level in enumerate(levels):
            scale, translation = {}, {}
            for ax, n0, n in zip(self.dims, levels[0].shape, level.shape):
                if ax not in self.spacing:
                    continue
                factor = next(2 ** j for j in range(12) if -(-n0 // 2 ** j) == n)
                if ax in "yx":
                    assert factor == 2 ** k, (self.path, k, ax)
                scale[ax] = self.spacing[ax] * factor
                translation[ax] = self.origin[ax] + (factor - 1) / 2 * self.spacing[ax]
            expected.append((scale, translation))
        return expected


@dataclass(frozen=True)
class Output:
    path: Path
    kind: Kind
    images: tuple[Image, ...]
    tiles: SyntheticMosaic | None  # the acquisition of a store that keeps its tiles


def _lowest_corner(mosaic: SyntheticMosaic) -> dict[str, float]:
    low = np.min([tile.position for tile in mosaic.tiles], axis=0)
    return {ax: float(low[i]) for i, ax in enumerate("zyx") if ax in mosaic.dims}


@pytest.fixture(scope="session")
def written(tmp_path_factory) -> dict[str, Output]:
    """Every kind of output, converted once by the CLI."""
    folder = tmp_path_factory.mktemp("interop")
    mosaic = synthetic_mosaic(**ACQUISITION)
    tif = write_ome_tiff(mosaic, folder / "tiles.ome.tif")
    wells = {well: synthetic_mosaic(**params) for well, params in WELLS.items()}
    plate = write_imagexpress(wells, folder / "plate")
    spacing = {ax: s for ax, s in zip("zyx", mosaic.spacing) if ax in mosaic.dims}
    outputs = {}
    for name, kind in KINDS.items():
        out = folder / f"{name}.ome.zarr"
        source = plate if kind.scenes or kind.plate else tif
        assert main(["convert", str(source), str(out), "--ngff", kind.ngff, "--chunk", str(CHUNK), "--quiet",
                     *kind.options]) == 0
        if kind.scenes or kind.plate:
            images = tuple(
                Image(out / (f"{well[0]}/{int(well[1:])}/0" if kind.plate else str(i)), f"Plate_{well}",
                      ("c", "y", "x"), {"y": 0.5, "x": 0.5}, _lowest_corner(wells[well]),
                      wells[well].channel_names)
                for i, well in enumerate(wells))
        else:
            images = (Image(out, "tiles", mosaic.dims, spacing, _lowest_corner(mosaic), mosaic.channel_names),)
        outputs[name] = Output(out, kind, images, mosaic if kind.kept else None)
    return outputs


@pytest.fixture(params=list(KINDS))
def output(request, written) -> Output:
    return written[request.param]


def _close(got: dict, expected: dict, what) -> None:
    assert got.keys() >= expected.keys(), what
    for ax, value in expected.items():
        assert got[ax] == pytest.approx(value, rel=0, abs=1e-9), (what, ax, got, expected)


def _transforms(transformations: list[dict], dims) -> tuple[dict, dict]:
    """Scale and translation per axis of 0.4 / 0.5 dataset transformations."""
    scale, translation = (t[t["type"]] for t in transformations)
    return dict(zip(dims, scale)), dict(zip(dims, translation))


# ---- ome-zarr-py (napari-ome-zarr's reading path before 0.11, ome_zarr view, the finder) -------

def test_ome_zarr_py(output):
    reader = pytest.importorskip("ome_zarr.reader", reason="install ngff-fuse[test]")
    from ome_zarr.io import parse_url
    from ome_zarr.utils import find_multiscales

    if output.kind.scenes:
        # the reader does not follow the bioformats2raw series from the root (known); its finder
        # lists the images, named, from OME/METADATA.ome.xml
        nodes = list(reader.Reader(parse_url(str(output.path)))())
        assert not any(node.data for node in nodes)
        found = find_multiscales(output.path)
        assert [(Path(p), name) for p, name, _ in found] == [(im.path, im.name) for im in output.images]
    if output.kind.plate:
        _check_ome_zarr_py_plate(output)
    for image in output.images:
        node = next(iter(reader.Reader(parse_url(str(image.path)))()))
        levels = image.levels()
        assert len(node.data) == len(levels)
        for data, level in zip(node.data, levels):
            np.testing.assert_array_equal(np.asarray(data), level[...])
        # the levels it found are the arrays zarr-python lists, in order of resolution
        (multiscales,) = [spec for spec in node.specs if isinstance(spec, reader.Multiscales)]
        assert multiscales.datasets == sorted(zarr.open_group(image.path, mode="r").array_keys(), key=int)
        assert node.metadata["channel_names"] == list(image.channels)
        colors = _written_colors(image.path)
        assert len(set(colors)) == len(image.channels)  # several channels: one colour each
        assert node.metadata["colormap"] == [[[0, 0, 0], _rgb(color)] for color in colors]
        if output.kind.ngff == "0.6":
            # ome-zarr-py (0.18 and 0.21) reads 0.6 as 0.5: default axes, transforms not applied
            assert [a["name"] for a in node.metadata["axes"]] == ["t", "c", "z", "y", "x"]
            assert node.metadata["coordinateTransformations"][0][0]["type"] == "sequence"
            continue
        assert [a["name"] for a in node.metadata["axes"]] == list(image.dims)
        for k, (transforms, (scale, translation)) in enumerate(
                zip(node.metadata["coordinateTransformations"], image.placement())):
            got_scale, got_translation = _transforms(transforms, image.dims)
            _close(got_scale, scale, (image.path, k))
            _close(got_translation, translation, (image.path, k))
    if output.kind.ngff == "0.6" and output.kind.kept:
        _check_ome_zarr_py_scene(output)
    elif output.kind.kept:  # 0.4 / 0.5: each kept tile an image placed by its own transforms
        for j, synthetic in enumerate(output.tiles.tiles):
            node = next(iter(reader.Reader(parse_url(str(output.path / "tiles" / str(j))))()))
            np.testing.assert_array_equal(np.asarray(node.data[0]), synthetic.data[0])
            scale, translation = _transforms(node.metadata["coordinateTransformations"][0], output.tiles.dims)
            _close(scale, dict(zip("zyx", output.tiles.spacing)), j)
            _close(translation, dict(zip("zyx", synthetic.position)), j)


def _written_colors(path: Path) -> list[str]:
    """The channel colours (RRGGBB) in the omero metadata of the image at `path`, read as
    plain JSON from its zarr.json (zarr v3) or .zattrs (v2)."""
    v3 = path / "zarr.json"
    attrs = json.loads(v3.read_text())["attributes"] if v3.is_file() else json.loads((path / ".zattrs").read_text())
    return [channel["color"] for channel in attrs.get("ome", attrs)["omero"]["channels"]]


def _rgb(color: str) -> list[float]:
    """RRGGBB as the fractions of 255 napari takes."""
    return [int(color[i:i + 2], 16) / 255 for i in (0, 2, 4)]


def _check_ome_zarr_py_plate(output: Output) -> None:
    """The plate reader lays every well's field 0 out on the plate's row x column grid (2 x 3
    here: the smallest standard plate holding A01 and B02), which needs wells of one shape:
    ngff-fuse grows them to the largest (`convert.plate_grids`), at their far end."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Plate, Reader

    node = next(iter(Reader(parse_url(str(output.path)))()))
    assert any(isinstance(spec, Plate) for spec in node.specs)
    wells = [image.levels()[0][...] for image in output.images]
    assert wells[0].shape == wells[1].shape
    _, h, w = wells[0].shape
    grid = np.asarray(node.data[0])
    assert grid.shape == (2, 2 * h, 3 * w)
    np.testing.assert_array_equal(grid[:, :h, :w], wells[0])  # A01
    np.testing.assert_array_equal(grid[:, h:, w:2 * w], wells[1])  # B02
    assert not grid[:, :h, w:].any() and not grid[:, h:, :w].any()  # wells the plate lacks
    assert node.metadata["channel_names"] == list(output.images[0].channels)


def _check_ome_zarr_py_scene(output: Output) -> None:
    """ome-zarr-py's scene reader (0.21 and later, Python >= 3.12): the kept tiles, each
    placed in the scene's `stage` system at its stage position."""
    import ome_zarr

    if not hasattr(ome_zarr, "OMEZarrScene"):
        assert _version("ome-zarr") < (0, 21)  # known: no scene reader before 0.21
        return
    scene = ome_zarr.OMEZarrScene.from_ome_zarr(str(output.path))
    tiles = output.tiles.tiles
    assert sorted(scene.images) == sorted(f"tiles/{j}" for j in range(len(tiles)))
    assert [system.name for system in scene.coordinate_systems] == ["stage"]
    for transform in scene.coordinate_transformations:
        j = int(transform.input.path.split("/")[1])
        assert transform.output.name == "stage"
        np.testing.assert_array_equal(transform.translation, [0.0, *tiles[j].position])


# ---- ngff-zarr (images, and 0.6 scenes) --------------------------------------------------------

def _check_ngff_zarr_image(multiscales, image: Image) -> None:
    levels = image.levels()
    assert len(multiscales.images) == len(levels)
    for k, (level_image, level, (scale, translation)) in enumerate(
            zip(multiscales.images, levels, image.placement())):
        assert tuple(level_image.dims) == image.dims
        np.testing.assert_array_equal(np.asarray(level_image.data), level[...])
        _close(level_image.scale, scale, (image.path, k))
        _close(level_image.translation, translation, (image.path, k))


def test_ngff_zarr(output):
    ngff_zarr = pytest.importorskip("ngff_zarr", reason="install ngff-fuse[test]")
    if output.kind.scenes:
        with pytest.raises(ValueError, match="bioformats2raw container with 2 images"):
            ngff_zarr.from_ngff_zarr(str(output.path))  # known: the images are read by their path
    if output.kind.plate:
        plate = ngff_zarr.from_hcs_zarr(str(output.path), validate=True)
        assert [(w.path, w.rowIndex, w.columnIndex) for w in plate.wells] == [("A/1", 0, 0), ("B/2", 1, 1)]
        for (row, column), image in zip((("A", "1"), ("B", "2")), output.images):
            _check_ngff_zarr_image(plate.get_well(row, column).get_image(0), image)
    for image in output.images:
        if output.kind.ngff == "0.6" and output.kind.kept:
            # known: a group holding a scene is read only as the scene (its kept tiles), never as
            # the image it also is; the fused image is not reachable through ngff-zarr
            with pytest.raises(ValueError, match="holds a scene"):
                ngff_zarr.from_ngff_zarr(str(image.path))
            continue
        _check_ngff_zarr_image(ngff_zarr.from_ngff_zarr(str(image.path), validate=True), image)
    if output.tiles is None:
        return
    mosaic = output.tiles
    if output.kind.ngff == "0.6":
        scene = ngff_zarr.from_ngff_zarr(str(output.path), kind="scene", validate=True)
        assert sorted(scene.images) == sorted(f"tiles/{j}" for j in range(len(mosaic.tiles)))
        assert [system.name for system in scene.coordinateSystems] == ["stage"]
        for transform in scene.coordinateTransformations:
            j = int(transform.input.path.split("/")[1])
            assert (transform.input.name, transform.output.path, transform.output.name) == ("tile", None, "stage")
            np.testing.assert_array_equal(transform.translation, [0.0, *mosaic.tiles[j].position])
            tile = scene.images[transform.input.path].images[0]
            _close(tile.translation, {"z": 0.0, "y": 0.0, "x": 0.0}, j)  # in its own system
            _close(tile.scale, dict(zip("zyx", mosaic.spacing)), j)
        return
    for j, synthetic in enumerate(mosaic.tiles):  # 0.4 / 0.5: each tile image placed by itself
        tile = ngff_zarr.from_ngff_zarr(str(output.path / "tiles" / str(j)), validate=True).images[0]
        _close(tile.translation, dict(zip("zyx", synthetic.position)), j)
        np.testing.assert_array_equal(np.asarray(tile.data), synthetic.data[0])


# ---- tensorstore: every array, sharded or not, zarr v2 or v3 ----------------------------------

def test_tensorstore_reads_the_same_pixels(output):
    ts = pytest.importorskip("tensorstore", reason="install ngff-fuse[test]")
    arrays = [(name, array) for name, array in zarr.open_group(output.path, mode="r").members(max_depth=None)
              if isinstance(array, zarr.Array)]
    assert len(arrays) >= 3 * len(output.images)
    for name, array in arrays:
        driver = "zarr" if array.metadata.zarr_format == 2 else "zarr3"
        store = ts.open({"driver": driver, "kvstore": {"driver": "file", "path": str(output.path / name)}},
                        read=True).result()
        np.testing.assert_array_equal(store.read().result(), array[...], err_msg=name)
        codecs = store.spec().to_json()["metadata"].get("codecs", [{}])
        assert (codecs[0].get("name") == "sharding_indexed") == output.kind.sharded, name


# ---- bioio-ome-zarr -----------------------------------------------------------------------------

def test_bioio_ome_zarr(output):
    pytest.importorskip("bioio_ome_zarr", reason="install ngff-fuse[test]")
    from bioio import BioImage
    from bioio_base.exceptions import UnsupportedFileFormatError
    from bioio_ome_zarr import Reader

    if output.kind.scenes:
        with pytest.raises(UnsupportedFileFormatError):  # known: "does *not* support" the layout
            BioImage(str(output.path), reader=Reader)
    if output.kind.plate:
        # known: no plate support (no scenes, no dims); each well image is read by its path
        assert BioImage(str(output.path), reader=Reader).scenes == ()
    for image in output.images:
        bio = BioImage(str(image.path), reader=Reader)
        level0 = image.levels()[0][...]
        full = level0[tuple(slice(None) if ax in image.dims else None for ax in "tczyx")]
        np.testing.assert_array_equal(bio.get_image_dask_data("TCZYX").compute(), full)
        assert bio.channel_names == list(image.channels)
        assert len(bio.resolution_levels) == len(image.levels())
        sizes = bio.physical_pixel_sizes
        if output.kind.ngff == "0.6":
            assert sizes is None  # known: bioio-ome-zarr reads no 0.6 coordinate systems
            continue
        assert (sizes.Y, sizes.X) == (image.spacing["y"], image.spacing["x"])
        assert sizes.Z == image.spacing.get("z")


# ---- ome-zarr-models ------------------------------------------------------------------------------

def test_ome_zarr_models_validate(output):
    pytest.importorskip("ome_zarr_models", reason="install ngff-fuse[test]")
    version = output.kind.ngff.replace(".", "")
    if importlib.util.find_spec(f"ome_zarr_models.v{version}") is None:
        # known: 0.6 models need ome-zarr-models >= 1.8 (Python >= 3.12)
        assert version == "06" and _version("ome-zarr-models") < (1, 8)
        return
    models = importlib.import_module(f"ome_zarr_models.v{version}")
    if output.kind.scenes:
        models.BioFormats2Raw.from_zarr(zarr.open_group(output.path, mode="r"))
    if output.kind.plate:
        hcs = importlib.import_module(f"ome_zarr_models.v{version}.hcs").HCS.from_zarr(
            zarr.open_group(output.path, mode="r"))
        assert [w.path for w in hcs.ome_attributes.plate.wells] == ["A/1", "B/2"]
    for image in output.images:
        validated = models.Image.from_zarr(zarr.open_group(image.path, mode="r"))
        assert len(validated.ome_attributes.multiscales[0].datasets) == len(image.levels())
    if output.kind.kept and version == "06":
        from ome_zarr_models.v06.scene import Scene

        scene = Scene.from_zarr(zarr.open_group(output.path, mode="r"))
        assert [system.name for system in scene.ome_attributes.scene.coordinateSystems] == ["stage"]


def _version(package: str) -> tuple[int, ...]:
    return tuple(int(part) for part in importlib.metadata.version(package).split(".")[:2])


# ---- napari + napari-ome-zarr, headless -------------------------------------------------------

#: napari-ome-zarr releases known to misplace images: the NGFF versions whose translation they
#: drop (0.10 reads only the first transform of level 0, the scale; 0.11 applies no translation
#: at all). Any other release must place every output right.
NAPARI_DROPS_TRANSLATION = {(0, 10): {"0.4", "0.5"}, (0, 11): {"0.4", "0.5", "0.6"}}


@pytest.fixture(scope="module")
def napari_model():
    """A fresh headless viewer per call: napari's ViewerModel, the viewer without Qt or OpenGL
    (napari.Viewer needs an OpenGL context even with show=False), with its plugins found."""
    pytest.importorskip("napari_ome_zarr", reason="install ngff-fuse[test]")
    from napari.components import ViewerModel
    from napari.plugins import _initialize_plugins

    _initialize_plugins()
    return ViewerModel


def _open_in_napari(viewer_model, path: Path) -> list:
    return viewer_model().open(str(path), plugin="napari-ome-zarr")


def test_napari_ome_zarr_layers(output, napari_model):
    """One layer per channel (per scene: a multi-scene store is found through its OME-XML),
    with the pixel size as scale and the source's colours; the first pixel lands at its stage
    position, except where this napari-ome-zarr is known to drop the translation."""
    layers = _open_in_napari(napari_model, output.path)
    drops = output.kind.ngff in NAPARI_DROPS_TRANSLATION.get(_version("napari-ome-zarr"), set())
    if output.kind.plate:
        # the plate as one layer per channel (its wells on the plate grid), at the pixel size
        first = output.images[0]
        assert [layer.name for layer in layers] == [f"{first.name}: {c}" for c in first.channels]
        _, h, w = first.levels()[0].shape
        for layer in layers:
            np.testing.assert_allclose(layer.scale, [first.spacing["y"], first.spacing["x"]])
            assert layer.data[0].shape == (2 * h, 3 * w)
        return
    expected = [(image, channel) for image in output.images for channel in image.channels]
    assert len(layers) == len(expected)
    for layer, (image, channel) in zip(layers, expected):
        assert layer.name == f"{image.name}: {channel}"
        spatial = [ax for ax in image.dims if ax != "c"]
        np.testing.assert_allclose(layer.scale, [image.spacing[ax] for ax in spatial], rtol=1e-12)
        first = np.asarray(layer.data_to_world(np.zeros(len(spatial))))
        where = np.zeros(len(spatial)) if drops else [image.origin[ax] for ax in spatial]
        np.testing.assert_allclose(first, where, rtol=0, atol=1e-9, err_msg=f"{output.path} {layer.name}")
        assert len(layer.data) == len(image.levels())
    attrs = [zarr.open_group(image.path, mode="r").attrs.asdict() for image in output.images]
    colors = [c["color"] for a in attrs for c in (a.get("ome") or a)["omero"]["channels"]]
    assert len(colors) == len(layers)
    for layer, color in zip(layers, colors):
        rgb = [int(color[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        np.testing.assert_allclose(layer.colormap.colors[-1][:3], rgb, atol=1e-6)


def test_napari_draws_one_channel_in_its_colour(napari_model, tmp_path):
    """A single channel with a known colour is drawn in it, not white (`rdefs.model` "color")."""
    from ngff_fuse.fuse.core import fuse
    from ngff_fuse.testing import in_memory_tileset
    from ngff_fuse.writer import WriteOptions, write_ngff

    out = tmp_path / "red.ome.zarr"
    write_ngff(fuse(in_memory_tileset(synthetic_mosaic(grid=(1, 2), tile_shape=(30, 30)))), out,
               WriteOptions(chunk=16), ("FF0000",))
    [layer] = _open_in_napari(napari_model, out)
    np.testing.assert_allclose(layer.colormap.colors[-1][:3], [1.0, 0.0, 0.0])
