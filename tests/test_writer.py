"""Written stores, read back by independent readers and validated against the NGFF spec."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from ngff_fuse.codecs import Codec
from ngff_fuse.errors import InputError, NgffFuseError
from ngff_fuse.fuse.core import fuse
from ngff_fuse.pyramid import Downsample, level_factors
from ngff_fuse.testing import in_memory_tileset, synthetic_mosaic
from ngff_fuse.writer import WriteOptions, write_ngff
from ngff_checks import (
    multiscale, read_with_bioio, read_with_ome_zarr, validate_json_schema, validate_models,
)

CASES = {
    "0.4-2d": dict(ngff="0.4", threed=False, shard=None),
    "0.5-2d": dict(ngff="0.5", threed=False, shard=None),
    "0.5-3d-sharded": dict(ngff="0.5", threed=True, shard=64),
    "0.4-3d": dict(ngff="0.4", threed=True, shard=None),
}


def _mosaic(threed: bool):
    if threed:
        return synthetic_mosaic(grid=(1, 2, 3), tile_shape=(6, 60, 70), channels=2,
                                spacing=(1.0, 0.4, 0.4))
    return synthetic_mosaic(grid=(3, 3), tile_shape=(70, 80), channels=2, timepoints=2)


def _block_mean(level: np.ndarray, dims, step: dict) -> np.ndarray:
    """Oracle: pad by edge repetition to whole blocks, then average each block."""
    pad = [(0, (-n) % step.get(ax, 1)) for ax, n in zip(dims, level.shape)]
    padded = np.pad(level.astype(float), pad, mode="edge")
    shape = []
    for ax, n in zip(dims, padded.shape):
        shape += [n // step.get(ax, 1), step.get(ax, 1)]
    return np.rint(padded.reshape(shape).mean(axis=tuple(range(1, len(shape), 2))))


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_store_validates_and_reads_back(case, tmp_path, shared_dir):
    params = CASES[case]
    mosaic = _mosaic(params["threed"])
    tileset = in_memory_tileset(mosaic)
    options = WriteOptions(ngff=params["ngff"], chunk=32, shard=params["shard"])
    fused = fuse(tileset, chunk_size=(options.z_chunk(99), options.block_edge(), options.block_edge()))
    out = tmp_path / "out.ome.zarr"
    shapes = write_ngff(fused, out, options, ("FF0000", None))

    group = zarr.open_group(out, mode="r")
    assert group.metadata.zarr_format == (2 if params["ngff"] == "0.4" else 3)
    attrs = dict(group.attrs)
    validate_json_schema(attrs, params["ngff"], shared_dir / "realdata" / "ngff-spec")
    validate_models(out, params["ngff"])

    meta = multiscale(out)
    dims = fused.dims
    assert [a["name"] for a in meta["axes"]] == list(dims)
    assert all(a.get("unit") == "micrometer" for a in meta["axes"] if a["type"] == "space")
    spacing = dict(zip("zyx", mosaic.spacing))
    origin = {ax: float(fused.coords[ax].values.reshape(-1)[0]) for ax in "zyx"}
    levels, _ = read_with_ome_zarr(out)
    assert [lv.shape for lv in levels] == shapes
    assert np.array_equal(levels[0], fused.values)
    spatial = {ax: n for ax, n in zip(dims, fused.shape) if ax in "zyx"}
    factors = level_factors(spatial, spacing, 32, None)
    assert len(levels) == len(factors) > 2
    for k, (dataset, factor) in enumerate(zip(meta["datasets"], factors)):
        scale, translation = (t[t["type"]] for t in dataset["coordinateTransformations"])
        for i, ax in enumerate(dims):
            if ax in "zyx":
                f = factor[ax]
                assert scale[i] == pytest.approx(spacing[ax] * f, abs=1e-12)
                # the level's first pixel centre: (f - 1) / 2 level-0 pixels in
                assert translation[i] == pytest.approx(origin[ax] + (f - 1) / 2 * spacing[ax], abs=1e-9)
            else:
                assert (scale[i], translation[i]) == (1.0, 0.0)
        if k:
            step = {ax: factor[ax] // factors[k - 1][ax] for ax in factor}
            assert np.array_equal(levels[k], _block_mean(levels[k - 1], dims, step))
    if params["threed"]:
        # z (1.0 um) starts coarser than y/x (0.4 um): halved only once y/x (0.8 um) reach 1/1.5 of it
        assert factors[1]["z"] == 1 and factors[-1]["z"] > 1

    omero = (attrs.get("ome") or attrs)["omero"]
    assert [c["label"] for c in omero["channels"]] == list(mosaic.channel_names)
    assert omero["channels"][0]["color"] == "FF0000"
    assert omero["channels"][1]["color"] != "FF0000"
    for channel in omero["channels"]:
        window = channel["window"]
        assert 0 < window["start"] < window["end"] <= 65535

    image = read_with_bioio(out)
    assert image.physical_pixel_sizes.X == pytest.approx(mosaic.spacing[2])
    assert image.channel_names == list(mosaic.channel_names)
    assert len(image.resolution_levels) == len(shapes)
    if params["shard"]:
        array = zarr.open_array(out / "0", mode="r")
        assert array.shards[-2:] == (64, 64) and array.chunks[-2:] == (32, 32)


def test_downsample_methods_and_level_count(tmp_path):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(50, 50))
    fused = fuse(in_memory_tileset(mosaic))
    for method in Downsample:
        out = tmp_path / f"{method.value}.ome.zarr"
        write_ngff(fused, out, WriteOptions(chunk=16, levels=3, downsample=method))
        level0 = zarr.open_array(out / "0", mode="r")[:]
        level1 = zarr.open_array(out / "1", mode="r")[:]
        assert not (out / "3").exists() and (out / "2").exists()
        padded = np.pad(level0, [(0, n % 2) for n in level0.shape], mode="edge")
        blocks = padded.reshape(level1.shape[0], 2, level1.shape[1], 2)
        expected = {
            Downsample.MEAN: np.rint(blocks.mean(axis=(1, 3))),
            Downsample.NEAREST: blocks[:, 0, :, 0],
            Downsample.MAX: blocks.max(axis=(1, 3)),
            Downsample.MIN: blocks.min(axis=(1, 3)),
        }[method]
        assert np.array_equal(level1, expected)
        assert multiscale(out)["type"] == method.value


def test_codecs_are_written_as_asked(tmp_path):
    fused = fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 2), tile_shape=(40, 40))))
    for ngff in ("0.4", "0.5"):
        for spec in ("gzip:6", "blosc-lz4", "zstd:1", "none"):
            out = tmp_path / f"{ngff}-{spec.replace(':', '')}.ome.zarr"
            write_ngff(fused, out, WriteOptions(ngff=ngff, codec=Codec.parse(spec)))
            array = zarr.open_array(out / "0", mode="r")
            assert np.array_equal(array[:], fused.values)
            text = str(array.metadata.to_dict()).lower()
            name = Codec.parse(spec).name
            if name != "none":
                assert name.split("-")[-1] in text
    with pytest.raises(InputError, match="unknown codec"):
        Codec.parse("jpeg")
    with pytest.raises(InputError, match="between 0 and 9"):
        Codec.parse("gzip:12")


def test_existing_output_needs_overwrite_and_must_be_a_store(tmp_path):
    fused = fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 2), tile_shape=(30, 30))))
    out = tmp_path / "out.ome.zarr"
    write_ngff(fused, out)
    with pytest.raises(InputError, match="output exists; pass --overwrite"):
        write_ngff(fused, out)
    write_ngff(fused, out, WriteOptions(overwrite=True))
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "thesis.docx").write_text("years of work")
    with pytest.raises(InputError, match="not a zarr store"):
        write_ngff(fused, folder, WriteOptions(overwrite=True))
    assert (folder / "thesis.docx").exists()


def test_failed_write_never_looks_like_an_image(tmp_path):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(40, 40))
    fused = fuse(in_memory_tileset(mosaic), chunk_size=(1, 16, 16))

    def explode(block, block_info=None):
        if block_info[0]["chunk-location"][-1] == 2:
            raise OSError(28, "No space left on device")
        return block

    broken = fused.copy(data=fused.data.map_blocks(explode, dtype=fused.dtype))
    out = tmp_path / "out.ome.zarr"
    with pytest.raises(NgffFuseError, match="No space left on device.*incomplete"):
        write_ngff(broken, out, WriteOptions(chunk=16))
    attrs = dict(zarr.open_group(out, mode="r").attrs)
    assert attrs["ngff_fuse"]["status"] == "incomplete"
    assert "multiscales" not in attrs and "ome" not in attrs


def test_option_errors():
    with pytest.raises(InputError, match="--shard needs zarr v3"):
        WriteOptions(ngff="0.4", shard=2048)
    with pytest.raises(InputError, match="multiple of --chunk"):
        WriteOptions(chunk=1000, shard=1500)
    with pytest.raises(InputError, match="--ngff 0.3"):
        WriteOptions(ngff="0.3")
    with pytest.raises(InputError, match="at least 1"):
        WriteOptions(levels=0)


@pytest.mark.parametrize("ngff", ["0.4", "0.5"])
def test_several_scenes_use_the_bioformats2raw_layout(ngff, tmp_path):
    from ome_zarr_models.v04 import BioFormats2Raw as Bf2Raw04
    from ome_zarr_models.v05 import BioFormats2Raw as Bf2Raw05

    from ngff_fuse.writer import SceneImage, write_scenes

    first = fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 2), tile_shape=(40, 50), channels=2)))
    second = fuse(in_memory_tileset(synthetic_mosaic(grid=(1, 3), tile_shape=(30, 30), seed=5)))
    out = tmp_path / "scenes.ome.zarr"
    shapes = write_scenes(
        [SceneImage(first, ("00FF00", None), {"scene": "A"}), SceneImage(second, (), {"scene": "B"})],
        out, WriteOptions(ngff=ngff, chunk=32),
    )
    group = zarr.open_group(out, mode="r")
    (Bf2Raw04 if ngff == "0.4" else Bf2Raw05).from_zarr(group)
    attrs = dict(group.attrs)
    assert (attrs.get("ome") or attrs)["bioformats2raw.layout"] == 3
    series = dict(zarr.open_group(out / "OME", mode="r").attrs)
    assert (series.get("ome") or series)["series"] == ["0", "1"]
    for index, (mosaic, scene) in enumerate(((first, "A"), (second, "B"))):
        validate_models(out / str(index), ngff)
        levels, _ = read_with_ome_zarr(out / str(index))
        assert np.array_equal(levels[0], mosaic.values)
        assert [lv.shape for lv in levels] == shapes[index]
        assert multiscale(out / str(index))["metadata"]["scene"] == scene
    # each scene is a standard image that single-image readers open by its path
    assert read_with_bioio(out / "1").dims.X == second.sizes["x"]


def test_sharding_defaults(tmp_path):
    fused = fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 3), tile_shape=(70, 80))))
    cases = {"default-0.5": WriteOptions(chunk=32), "off": WriteOptions(chunk=32, shard=0),
             "0.4": WriteOptions(ngff="0.4", chunk=32)}
    shards = {}
    for name, options in cases.items():
        write_ngff(fused, tmp_path / name, options)
        array = zarr.open_array(tmp_path / name / "0", mode="r")
        assert array.chunks[-2:] == (32, 32)
        shards[name] = array.shards
    assert shards["default-0.5"][-2:] == (64, 64)
    assert shards["off"] is None and shards["0.4"] is None


def _arrays(path):
    """Every array of a store, however deep (levels, kept tiles, scenes)."""
    found = []
    for _, node in zarr.open_group(path, mode="r").members(max_depth=None):
        if isinstance(node, zarr.Array):
            found.append(node)
    return found


def test_shard_0_means_unsharded_on_every_path(tmp_path):
    """`--shard 0` survives every copy of the options: the CLI, `convert()`, one image,
    several scenes, kept tiles and `fuse-store` all write arrays without a sharding codec;
    without --shard, the same paths shard."""
    from ngff_fuse.cli import main
    from ngff_fuse.convert import convert
    from ngff_fuse.testing.imagexpress import write_imagexpress
    from ngff_fuse.testing.ome_tiff import write_ome_tiff
    from ngff_fuse.writer import SceneImage, write_scenes

    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(50, 60), channels=2)
    tif = write_ome_tiff(mosaic, tmp_path / "tiles.ome.tif")
    plate = write_imagexpress({"A01": synthetic_mosaic(grid=(2, 2), tile_shape=(40, 48), seed=2),
                               "B02": synthetic_mosaic(grid=(1, 2), tile_shape=(40, 48), seed=3)},
                              tmp_path / "plate")
    fused = fuse(in_memory_tileset(mosaic))
    options = ["--chunk", "16", "--quiet"]
    for ngff in ("0.5", "0.6"):
        out = tmp_path / ngff
        stores = {
            "cli": out / "cli.ome.zarr", "cli-kept": out / "kept.ome.zarr", "cli-scenes": out / "scenes.ome.zarr",
            "fuse-store": out / "refused.ome.zarr", "convert": out / "api.ome.zarr",
            "write_ngff": out / "image.ome.zarr", "write_scenes": out / "api-scenes.ome.zarr",
        }
        out.mkdir()
        unsharded = ["--ngff", ngff, "--shard", "0", *options]
        assert main(["convert", str(tif), str(stores["cli"]), *unsharded]) == 0
        assert main(["convert", str(tif), str(stores["cli-kept"]), *unsharded, "--keep-tiles"]) == 0
        assert main(["convert", str(plate), str(stores["cli-scenes"]), *unsharded]) == 0
        assert main(["fuse-store", str(stores["cli-kept"]), str(stores["fuse-store"]), *unsharded]) == 0
        write = WriteOptions(ngff=ngff, chunk=16, shard=0)
        convert(tif, stores["convert"], write_options=write, keep_tiles=True)
        write_ngff(fused, stores["write_ngff"], write)
        write_scenes([SceneImage(fused), SceneImage(fused)], stores["write_scenes"], write)
        for path, store in stores.items():
            arrays = _arrays(store)
            assert len(arrays) >= 3, path
            assert all(a.shards is None for a in arrays), (ngff, path, [a.shards for a in arrays])
    default = tmp_path / "default.ome.zarr"
    assert main(["convert", str(plate), str(default), "--keep-tiles", *options]) == 0
    arrays = _arrays(default)
    assert all(a.shards is not None for a in arrays)
    assert all(a.shards[-2:] == (32, 32) for a in arrays if min(a.shape[-2:]) > 16)


@pytest.mark.parametrize("sign", [1.0, -1.0], ids=["origin", "mirrored-origin"])
@pytest.mark.parametrize("threed", [False, True], ids=["2d", "3d"])
def test_a_selected_region_is_placed_by_its_own_first_pixel(threed, sign, tmp_path):
    """`write_ngff(mosaic.isel(...))` / `.sel(...)`: a region's level 0 sits at its own first
    pixel, i.e. the stage position of the mosaic's first pixel (the lowest tile corner) plus
    its start times the pixel size, with the pixel size times its step as scale (a strided
    selection is coarser); its levels keep pixel centres aligned. Origins of either sign on
    every axis (`sign` mirrors them); the coordinates alone place it (no attrs["origin"])."""
    if threed:
        mosaic = synthetic_mosaic(grid=(1, 2, 2), tile_shape=(6, 40, 48), channels=2, subpixel=True,
                                  spacing=(1.5, 0.4, 0.4), origin=(-3.25 * sign, -77.7 * sign, 12.3 * sign))
    else:
        mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(40, 48), subpixel=True,
                                  origin=(0.0, -1234.5 * sign, 56.78 * sign))
    fused = fuse(in_memory_tileset(mosaic))
    assert "origin" not in fused.attrs
    spacing = dict(zip("zyx", mosaic.spacing))
    low = dict(zip("zyx", np.min([tile.position for tile in mosaic.tiles], axis=0)))
    at = {ax: (lambda i, ax=ax: low[ax] + i * spacing[ax]) for ax in "zyx"}  # oracle: index -> um
    # region: (selection, {axis: (first index, step)} where it differs from (0, 1))
    regions = {
        "isel": (fused.isel(y=slice(7, 50), x=slice(13, None)), {"y": (7, 1), "x": (13, 1)}),
        "isel-strided": (fused.isel(y=slice(3, None, 2), x=slice(1, 60, 3)), {"y": (3, 2), "x": (1, 3)}),
        "sel": (fused.sel(y=slice(at["y"](11) - 1e-6, at["y"](40)), x=slice(at["x"](29) - 1e-6, None)),
                {"y": (11, 1), "x": (29, 1)}),
        "one-row": (fused.isel(y=slice(20, 21)), {"y": (20, 1)}),
    }
    if threed:
        regions["isel-z"] = (fused.isel(z=slice(2, 5), y=slice(9, 30)), {"z": (2, 1), "y": (9, 1)})
    for name, (region, cut) in regions.items():
        out = tmp_path / f"{name}.ome.zarr"
        write_ngff(region, out, WriteOptions(chunk=16))
        assert np.array_equal(zarr.open_array(out / "0", mode="r")[...], region.values), name
        for k, dataset in enumerate(multiscale(out)["datasets"]):
            scale, translation = (t[t["type"]] for t in dataset["coordinateTransformations"])
            for i, ax in enumerate(region.dims):
                if ax not in "zyx":
                    continue
                first, step = cut.get(ax, (0, 1))
                pixel = spacing[ax] * step
                factor = round(scale[i] / pixel)
                assert factor & (factor - 1) == 0 and (k > 0 or factor == 1), (name, k, ax)
                assert scale[i] == pytest.approx(pixel * factor, rel=1e-12), (name, k, ax)
                # level k's first pixel centre lies (f - 1) / 2 region pixels after the region's first
                assert translation[i] == pytest.approx(at[ax](first) + (factor - 1) / 2 * pixel, abs=1e-9), \
                    (name, k, ax)
    with pytest.raises(InputError, match="do not rise in equal steps"):
        write_ngff(fused.isel(x=[0, 1, 5, 6]), tmp_path / "uneven.ome.zarr")
    with pytest.raises(InputError, match="do not rise in equal steps"):
        write_ngff(fused.isel(x=slice(None, None, -1)), tmp_path / "reversed.ome.zarr")
    assert not (tmp_path / "uneven.ome.zarr").exists()


@pytest.mark.parametrize("colors, model, written", [
    (("FF0000",), "color", ["FF0000"]),  # one channel with a known colour keeps it
    ((None,), "greyscale", ["FFFFFF"]),  # one channel without: grey
    ((None, None), "color", None),  # several without: a palette colour each
    (("00FF00", None), "color", None),
])
def test_render_model_is_color_whenever_a_channel_has_a_colour(colors, model, written, tmp_path):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(30, 30), channels=len(colors))
    write_ngff(fuse(in_memory_tileset(mosaic)), tmp_path / "out.ome.zarr", WriteOptions(chunk=16), colors)
    attrs = dict(zarr.open_group(tmp_path / "out.ome.zarr", mode="r").attrs)
    omero = attrs["ome"]["omero"]
    assert omero["rdefs"]["model"] == model
    got = [c["color"] for c in omero["channels"]]
    if written is not None:
        assert got == written
    else:
        assert len(set(got)) == len(got) and "FFFFFF" not in got
        assert all(got[i] == c for i, c in enumerate(colors) if c)


def test_several_scenes_carry_their_ome_xml(tmp_path):
    """`OME/METADATA.ome.xml`: valid OME-XML (the 2016-06 schema) with one Image per scene,
    `Image:i` for group `i`, named, with the pixel type, sizes, physical pixel sizes and
    channels that the scene's NGFF metadata gives."""
    from ome_types import from_xml

    from ngff_fuse.writer import SceneImage, write_scenes

    first = fuse(in_memory_tileset(synthetic_mosaic(grid=(1, 2, 2), tile_shape=(3, 40, 50), channels=2,
                                                    spacing=(2.5, 0.4, 0.5))))
    second = fuse(in_memory_tileset(synthetic_mosaic(grid=(1, 3), tile_shape=(30, 30), seed=5,
                                                     dtype=np.uint8))).rename("slide B")
    out = tmp_path / "scenes.ome.zarr"
    write_scenes([SceneImage(first, ("FF0000", None)), SceneImage(second)], out, WriteOptions(chunk=32))
    ome = from_xml((out / "OME" / "METADATA.ome.xml").read_text(encoding="utf-8"), validate=True)
    assert [image.id for image in ome.images] == ["Image:0", "Image:1"]
    for index, (image, mosaic) in enumerate(zip(ome.images, (first, second))):
        attrs = dict(zarr.open_group(out / str(index), mode="r").attrs)["ome"]
        assert image.name == attrs["multiscales"][0]["name"] == mosaic.name
        pixels = image.pixels
        sizes = {ax: mosaic.sizes.get(ax, 1) for ax in "tczyx"}
        assert (pixels.size_t, pixels.size_c, pixels.size_z, pixels.size_y, pixels.size_x) == tuple(sizes.values())
        assert pixels.dimension_order.value == "XYZCT"  # the zarr arrays' t, c, z, y, x
        assert pixels.type.value == mosaic.dtype.name
        assert pixels.physical_size_x == attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0][
            "scale"][-1]
        assert pixels.physical_size_x_unit.value == "µm"
        assert [ch.name for ch in pixels.channels] == [c["label"] for c in attrs["omero"]["channels"]]
        # a channel without a colour reads back as OME's default, white: as omero says
        assert [ch.color.as_hex(format="long").upper().lstrip("#")[:6] for ch in pixels.channels] == \
            [c["color"] for c in attrs["omero"]["channels"]]
    assert ome.images[0].pixels.physical_size_z == 2.5
    assert ome.images[0].pixels.channels[0].color.as_rgb_tuple() == (255, 0, 0)
    assert ome.images[1].pixels.physical_size_z is None  # a 2-D scene


def test_scenes_of_a_pixel_type_ome_xml_lacks_are_refused_before_writing(tmp_path):
    import xarray as xr

    from ngff_fuse.writer import SceneImage, write_scenes

    plain = xr.DataArray(np.zeros((4, 5), np.int64), dims=("y", "x"), attrs={"units": "pixel"},
                         coords={"y": np.arange(4.0), "x": np.arange(5.0)})
    with pytest.raises(InputError, match="int64 pixels: OME-XML.*has no such pixel type.*--scene N"):
        write_scenes([SceneImage(plain), SceneImage(plain)], tmp_path / "out.ome.zarr")
    assert not (tmp_path / "out.ome.zarr").exists()
    write_scenes([SceneImage(plain.astype(np.float64)), SceneImage(plain.astype(np.int8))],
                 tmp_path / "ok.ome.zarr")
    xml = (tmp_path / "ok.ome.zarr" / "OME" / "METADATA.ome.xml").read_text()
    assert 'Type="double"' in xml and 'Type="int8"' in xml and "PhysicalSize" not in xml  # uncalibrated


@pytest.mark.parametrize("channels", [1, 2])
def test_fused_mosaic_carries_its_channel_colours_to_the_written_image(tmp_path, channels):
    """fuse() -> write_ngff(mosaic, path) with nothing beside it: the omero colours are the
    tile set's, for one channel (squeezed away) or several; colours given explicitly win."""
    from dataclasses import replace

    colors = ("FF00FF", "00FFFF")[:channels]
    tileset = replace(in_memory_tileset(synthetic_mosaic(grid=(1, 2), tile_shape=(20, 30), channels=channels)),
                      channel_colors=colors)
    mosaic = fuse(tileset)
    for name, given, expected in [("carried", (), colors), ("given", ("FFFF00",) * channels, ("FFFF00",) * channels)]:
        out = tmp_path / f"{name}.ome.zarr"
        write_ngff(mosaic, out, WriteOptions(ngff="0.4"), channel_colors=given)
        omero = zarr.open_group(out, mode="r").attrs["omero"]
        assert tuple(c["color"] for c in omero["channels"]) == expected
        assert [c["label"] for c in omero["channels"]] == list(tileset.channel_names)
