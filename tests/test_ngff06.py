"""NGFF 0.6 (`--ngff 0.6`): the fused image's coordinate system and per-level transforms, the
transform <-> affine helpers, and `validate` on 0.6 stores and the spec's conformance cases."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from shared_data import SHARED

from ngff_fuse import transforms
from ngff_fuse.cli import main
from ngff_fuse.errors import InputError
from ngff_fuse.fuse.core import fuse
from ngff_fuse.ngff.metadata import FORMATS, STAGE, SceneEntry, scene
from ngff_fuse.ngff.transforms import tile_transform, transform_matrix, transform_to_affine
from ngff_fuse.testing import SyntheticMosaic, in_memory_tileset, synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.testing.tile_files import write_tileconfig
from ngff_fuse.validate import schema_errors, validate_attributes, validate_store
from ngff_fuse.writer import SceneImage, WriteOptions, write_scenes

# Conformance cases are listed at collection time from where `shared_dir` points; each test
# still takes the fixture, so it skips (or fails with NGFF_FUSE_REQUIRE_SHARED=1) without it.
_RC = SHARED / "realdata" / "ngff-spec" / "0.6-dev"
_ZARR_CASES = sorted(p.relative_to(_RC / "tests" / "zarr").as_posix()
                     for p in (_RC / "tests" / "zarr").glob("*/*/*/*.ome.zarr")) or ["absent"]
_ATTRIBUTE_CASES = sorted(p.relative_to(_RC / "tests" / "attributes").as_posix()
                          for p in (_RC / "tests" / "attributes").glob("*/*/*/*.json")) or ["absent"]
#: Conformance cases marked valid (the schemas cannot see it) that break a MUST of the spec
#: text, so ngff-fuse's validator rejects them: "Parameter values MUST be compatible with input
#: and output space dimensionality" (a scale of 2 values for 3 axes), and "The value of `input`
#: MUST equal the value of `path`" (input "s1" for the dataset at path "1").
_SCALE_SHORTER = "dataset transformations: scale [0.13, 0.13] does not fit 3 axes: give one number per axis"
DELIBERATE_REJECTIONS = {
    "zarr/spec/valid/image/mismatch_axes_units.ome.zarr": _SCALE_SHORTER,
    "attributes/spec/valid/image/mismatch_axes_units.json": _SCALE_SHORTER,
    "attributes/strict/valid/image/multiscales_example.json":
        "level 1 transform input: {'path': 's1'} is not the dataset's path",
}


MOSAICS = {
    "2d": dict(grid=(2, 3), tile_shape=(70, 80)),
    "2d-3channels-2timepoints": dict(grid=(2, 2), tile_shape=(60, 70), channels=3, timepoints=2),
    "3d-2channels": dict(grid=(1, 2, 2), tile_shape=(12, 50, 60), channels=2),
}


@pytest.fixture(scope="module")
def spec(shared_dir) -> Path:
    return shared_dir / "realdata" / "ngff-spec"


@pytest.fixture(scope="module", params=sorted(MOSAICS))
def written(request, tmp_path_factory) -> tuple[SyntheticMosaic, Path]:
    """A synthetic acquisition (integer stage positions) converted with --ngff 0.6."""
    mosaic = synthetic_mosaic(**MOSAICS[request.param])
    folder = tmp_path_factory.mktemp(request.param)
    write_ome_tiff(mosaic, folder / "tiles.ome.tif")
    out = folder / "out.ome.zarr"
    argv = ["convert", str(folder / "tiles.ome.tif"), str(out), "--ngff", "0.6", "--chunk", "32", "--quiet"]
    assert main(argv) == 0
    return mosaic, out


def ome(path: Path) -> dict:
    return json.loads((path / "zarr.json").read_text())["attributes"]["ome"]


def test_output_validates_against_the_06_schemas(written, spec):
    mosaic, out = written
    report = validate_store(out, spec)
    assert report.ok, report.failed
    assert "NGFF 0.6 strict image JSON schema" in report.passed
    assert {"level 1 pixel centres on level 0's (block centres)", "level 1 is level 0 downsampled (mean, spot check)"} \
        <= set(report.passed)
    # the second, independent validator where it models 0.6 (ome-zarr-models >= 1.8, Python >= 3.12)
    models = importlib.util.find_spec("ome_zarr_models.v06") is not None
    assert ("ome-zarr-models 0.6 image" in report.passed) == models
    meta = ome(out)
    assert meta["version"] == "0.6"
    multiscale = meta["multiscales"][0]
    assert "axes" not in multiscale
    [system] = multiscale["coordinateSystems"]
    assert system["name"] == STAGE
    assert [a["name"] for a in system["axes"]] == list(mosaic.dims)
    assert [a.get("unit") for a in system["axes"]] == \
        ["micrometer" if ax in "zyx" else None for ax in mosaic.dims]
    for dataset in multiscale["datasets"]:
        [transform] = dataset["coordinateTransformations"]
        assert transform["input"] == {"path": dataset["path"]}
        assert transform["output"] == {"name": STAGE}
    assert [c["label"] for c in meta["omero"]["channels"]] == list(mosaic.channel_names)
    # the arrays name their dimensions as the coordinate system does
    assert zarr.open_array(out / "0", mode="r").metadata.dimension_names == tuple(mosaic.dims)


def test_levels_place_pixels_where_level_0_and_the_tiles_are(written):
    """Read back, each level's transform puts its pixel centres at the centres of the level-0
    blocks they average, and level 0 puts the tiles' pixels at their stage positions."""
    mosaic, out = written
    multiscale = ome(out)["multiscales"][0]
    dims = tuple(a["name"] for a in multiscale["coordinateSystems"][0]["axes"])
    affines = [transform_to_affine(d["coordinateTransformations"][0], dims) for d in multiscale["datasets"]]
    level0 = affines[0]
    # the mosaic's first pixel is the lowest tile corner, on every axis (z of 2-D stays 0)
    low = np.min([t.position for t in mosaic.tiles], axis=0)
    spatial = [i for i, ax in enumerate("zyx") if ax in dims]
    np.testing.assert_allclose(level0[spatial, 3], low[spatial], rtol=0, atol=1e-6)
    fused = zarr.open_array(out / "0", mode="r")
    for tile in mosaic.tiles:
        centre = np.array(tile.data.shape[2:]) // 2
        physical = transforms.apply(transforms.placement(mosaic.spacing, tile.position), centre)
        index = transforms.apply(np.linalg.inv(level0), physical)
        pixel = np.rint(index)
        np.testing.assert_allclose(transforms.apply(level0, pixel), physical, rtol=0, atol=1e-6)
        expected = tile.data[(..., *centre)]  # (t, c): the stage position shows the tile's pixel
        box = tuple(int(pixel[ "zyx".index(ax)]) for ax in dims if ax in "zyx")
        got = np.asarray(fused[(..., *box)]).reshape(expected.shape)
        np.testing.assert_array_equal(got, expected)
    for k, (affine, dataset) in enumerate(zip(affines[1:], multiscale["datasets"][1:]), start=1):
        shape = zarr.open_array(out / dataset["path"], mode="r").shape
        size = np.array([shape[dims.index(ax)] if ax in dims else 1 for ax in "zyx"])
        factor = np.diag(affine)[:3] / np.diag(level0)[:3]
        corners = transforms.box_corners(size)
        np.testing.assert_allclose(
            transforms.apply(affine, corners),
            transforms.apply(level0, corners * factor + (factor - 1) / 2), rtol=0, atol=1e-6,
            err_msg=f"level {k}")


def test_uncalibrated_tiles_are_written_without_a_unit(tmp_path, spec):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(50, 60))
    config = write_tileconfig(mosaic, tmp_path / "tiles", calibrated=False)
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(config), str(out), "--ngff", "0.6", "--chunk", "32", "--quiet"]) == 0
    report = validate_store(out, spec)
    assert report.ok, report.failed
    multiscale = ome(out)["multiscales"][0]
    assert multiscale["coordinateSystems"][0]["axes"] == [
        {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    level0 = transform_to_affine(multiscale["datasets"][0]["coordinateTransformations"][0], ("y", "x"))
    np.testing.assert_array_equal(np.diag(level0), [1.0, 1.0, 1.0, 1.0])  # pixels, scale 1


def test_several_scenes_in_the_bioformats2raw_layout(tmp_path, spec):
    """A 0.6 collection: the bf2raw root and every scene image pass the 0.6 schemas, each
    scene in its own stage coordinate system with its own pixels."""
    first = fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 2), tile_shape=(40, 50), channels=2)))
    second = fuse(in_memory_tileset(synthetic_mosaic(grid=(1, 3), tile_shape=(30, 30), seed=5)))
    out = tmp_path / "scenes.ome.zarr"
    write_scenes([SceneImage(first), SceneImage(second)], out, WriteOptions(ngff="0.6", chunk=32))
    report = validate_store(out, spec)
    assert report.ok, report.failed
    assert {"NGFF 0.6 bf2raw JSON schema", "0: NGFF 0.6 strict image JSON schema",
            "1: NGFF 0.6 strict image JSON schema"} <= set(report.passed)
    assert ome(out) == {"version": "0.6", "bioformats2raw.layout": 3}
    assert ome(out / "OME") == {"version": "0.6", "series": ["0", "1"]}
    for index, mosaic in enumerate((first, second)):
        assert ome(out / str(index))["multiscales"][0]["coordinateSystems"][0]["name"] == STAGE
        np.testing.assert_array_equal(zarr.open_array(out / str(index) / "0", mode="r")[...], mosaic.values)


def test_04_and_05_options_are_unchanged_and_shard_names_the_v3_versions():
    with pytest.raises(InputError, match="--shard needs zarr v3: use it with --ngff 0.5 or 0.6"):
        WriteOptions(ngff="0.4", shard=64)
    assert WriteOptions(ngff="0.6").shard_edge() == WriteOptions(ngff="0.5").shard_edge() == 2048
    assert WriteOptions(ngff="0.4").shard_edge() is None
    assert FORMATS["0.6"].zarr_format == 3


# ---- transformation dicts <-> affines --------------------------------------------------------

def test_a_stage_translation_survives_json_bit_for_bit():
    spacing = (2.0, 0.65, 0.65)
    origin = (10.000000000000002, -1234.5 + 1e-7, 5678.25 / 3)
    affine = transforms.placement(spacing, origin)
    dims = ("t", "c", "z", "y", "x")
    written = tile_transform(affine, dims, spacing, {"path": "tiles/0", "name": "physical"}, {"name": STAGE}).json()
    assert written["type"] == "translation"
    assert written["translation"] == [0.0, 0.0, *origin]
    parsed = transform_to_affine(json.loads(json.dumps(written)), dims)
    assert np.array_equal(parsed[:3, 3], np.asarray(origin))  # identical float64, no drift
    # the tile's own physical frame (scaled by its spacing) then the translation is its affine
    assert np.array_equal(parsed @ transforms.scaling(spacing), affine)


def test_a_rotated_tile_becomes_an_affine_over_all_axes():
    spacing = (1.0, 0.5, 0.5)
    angle = np.deg2rad(3.0)
    rotation = np.eye(4)
    rotation[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    affine = transforms.translation((0.0, 100.0, -20.0)) @ rotation @ transforms.scaling(spacing)
    dims = ("c", "y", "x")
    written = tile_transform(affine, dims, spacing).json()
    assert written["type"] == "affine" and "input" not in written
    matrix = np.asarray(written["affine"])
    assert matrix.shape == (3, 4)
    np.testing.assert_array_equal(matrix[0], [1, 0, 0, 0])  # identity on c
    parsed = transform_to_affine(written, dims)
    np.testing.assert_allclose(parsed @ transforms.scaling(spacing), affine, rtol=0, atol=1e-12)


def test_parsing_every_linear_kind():
    dims = ("z", "y", "x")
    sequence = {"type": "sequence", "transformations": [
        {"type": "scale", "scale": [2.0, 0.5, 0.25]},
        {"type": "translation", "translation": [1.0, 2.0, 3.0]},
        {"type": "identity"},
        {"type": "rotation", "rotation": [[1, 0, 0], [0, 0, -1], [0, 1, 0]]},
        {"type": "affine", "affine": [[1, 0, 0, 5], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
    ]}
    point = np.array([1.0, 4.0, 8.0])
    moved = np.array([2.0 * 1 + 1, 0.5 * 4 + 2, 0.25 * 8 + 3])  # scaled, then translated
    expected = np.array([moved[0] + 5, -moved[2], moved[1]])  # y/x turned 90 degrees, z moved
    np.testing.assert_allclose(transforms.apply(transform_to_affine(sequence, dims), point), expected)
    # a 0.4 / 0.5 list of scale then translation is read as that sequence
    listed = [{"type": "scale", "scale": [1.0, 2.0]}, {"type": "translation", "translation": [3.0, 4.0]}]
    np.testing.assert_array_equal(transform_matrix(listed, 2), [[1, 0, 3], [0, 2, 4], [0, 0, 1]])


@pytest.mark.parametrize("transform, message", [
    ({"type": "mapAxis", "mapAxis": [1, 0]}, "'mapAxis' transformation"),
    ({"type": "scale", "path": "scales/0"}, "parameters in an array"),
    ({"type": "scale", "scale": [1.0]}, "does not fit 2 axes"),
    ({"type": "affine", "affine": [[1, 0], [0, 1]]}, "must be 2 x 3"),
])
def test_transformations_ngff_fuse_cannot_place_say_why(transform, message):
    with pytest.raises(InputError, match=message):
        transform_to_affine(transform, ("y", "x"))


def test_space_moved_along_channels_is_refused():
    shear = {"type": "affine", "affine": [[1, 0, 0, 0], [0.5, 1, 0, 0], [0, 0, 1, 0]]}
    with pytest.raises(InputError, match="moves space along t or c"):
        transform_to_affine(shear, ("c", "y", "x"))


def test_scene_of_tiles_validates_against_the_scene_schema(spec):
    dims, spacing = ("c", "y", "x"), (1.0, 0.65, 0.65)
    entries = [SceneEntry("fused", STAGE, {"type": "identity"})] + [
        SceneEntry(f"tiles/{i}", "physical",
                   tile_transform(transforms.placement(spacing, (0.0, 40.0 * i, 7.5)), dims, spacing))
        for i in range(3)
    ]
    attrs = FORMATS["0.6"].scene_root(entries, dims, "micrometer")
    assert schema_errors(attrs, "0.6", spec, "scene") == []
    report = validate_attributes(attrs, spec)
    assert report.ok and "NGFF 0.6 scene JSON schema" in report.passed, report.failed
    made = scene([("tiles/1", "physical", {"type": "translation", "translation": [0.0, 40.0, 7.5],
                                           "input": {"name": "ignored"}})], dims, None)
    assert made["coordinateTransformations"][0]["input"] == {"path": "tiles/1", "name": "physical"}
    assert made["coordinateTransformations"][0]["output"] == {"name": STAGE}
    assert made["coordinateSystems"] == [{"name": STAGE, "axes": [
        {"name": "c", "type": "channel"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]}]


def test_a_scene_inside_the_fused_image_declares_its_stage_system(written, spec):
    """The fused image's group may also hold the scene placing other images: both schemas
    apply, and the scene declares the STAGE system its transforms output to (the same system
    as the multiscales'), as scene readers look for it among the scene's own systems."""
    mosaic, out = written
    attributes = json.loads((out / "zarr.json").read_text())["attributes"]
    entry = SceneEntry("tiles/0", "tile", {"type": "translation", "translation": [0.0] * len(mosaic.dims)})
    attributes["ome"]["scene"] = scene([entry], mosaic.dims, "micrometer")
    assert attributes["ome"]["scene"]["coordinateSystems"] == \
        attributes["ome"]["multiscales"][0]["coordinateSystems"]
    report = validate_attributes(attributes, spec)
    assert report.ok, report.failed
    assert {"NGFF 0.6 strict image JSON schema", "NGFF 0.6 scene JSON schema",
            "scene transform 0 output coordinate system"} <= set(report.passed)
    attributes["ome"]["scene"]["coordinateTransformations"][0]["output"] = {"name": "world"}
    assert validate_attributes(attributes, spec).failed == [
        "scene transform 0 output coordinate system: 'world' is not among the document's ['stage']"]


# ---- the spec's conformance cases ---------------------------------------------------------------

def _conformance(attributes: dict, default: bool) -> tuple[bool, bool]:
    """(expected valid, strict schema) of a conformance case."""
    conformance = attributes.get("_conformance", {})
    return conformance.get("valid", default), "strict" in conformance.get("schema", {}).get("id", "")


def _refs_as_objects(ome_attrs: dict) -> dict:
    """The 0.6 form of an older draft's string references: a dataset transform's input is
    the array's {"path"}, every other end a coordinate system's {"name"}."""
    out = json.loads(json.dumps(ome_attrs))
    for multiscale in out.get("multiscales", []):
        for dataset in multiscale.get("datasets", []):
            for t in dataset.get("coordinateTransformations", []):
                if isinstance(t.get("input"), str):
                    t["input"] = {"path": t["input"]}
                if isinstance(t.get("output"), str):
                    t["output"] = {"name": t["output"]}
        for t in multiscale.get("coordinateTransformations", []):
            for end in ("input", "output"):
                if isinstance(t.get(end), str):
                    t[end] = {"name": t[end]}
    return out


@pytest.mark.parametrize("case", _ZARR_CASES)
def test_conformance_hierarchies(case, spec):
    """Every zarr hierarchy of the 0.6 release candidate (images, labels, plates, wells;
    strict and not): the valid ones are accepted, the invalid ones rejected. The rc's valid
    image hierarchies still write input/output as strings, a form of the 0.6.dev drafts that
    the rc's own image.schema (and its attribute-level copies of the same cases) replaced by
    objects: they are rejected as written and accepted in the rc's form."""
    path = spec / "0.6-dev" / "tests" / "zarr" / case
    mode, verdict = case.split("/")[:2]
    try:
        attributes = json.loads((path / "zarr.json").read_text())["attributes"]
    except json.JSONDecodeError:  # invalid/label/colors_rgba_length: unparseable on purpose
        assert verdict == "invalid"
        with pytest.raises(InputError, match="not a zarr group"):
            validate_store(path, spec, metadata_only=True)
        return
    expected, strict = _conformance(attributes, verdict == "valid")
    strict = strict or mode == "strict"
    report = validate_store(path, spec, strict=strict, metadata_only=True)
    rc_form = {**attributes, **({"ome": _refs_as_objects(attributes["ome"])} if "ome" in attributes else {})}
    if rc_form != attributes:  # rejected as written (strings), judged in the rc's form
        assert not report.ok
        assert all("is not valid under any of the given schemas" in f or "is not of type 'object'" in f
                   for f in report.failed if "JSON schema" in f), report.failed
        report = validate_attributes(rc_form, spec, strict=strict)
    if f"zarr/{case}" in DELIBERATE_REJECTIONS:
        assert expected and report.failed == [DELIBERATE_REJECTIONS[f"zarr/{case}"]]
        return
    assert report.ok == expected, report.failed or report.passed


@pytest.mark.parametrize("case", _ATTRIBUTE_CASES)
def test_conformance_attributes(case, spec):
    """The rc's attribute-level conformance cases (images, labels, plates, wells, scenes and
    images with every kind of transformation): accepted when valid, rejected when not."""
    attributes = json.loads((spec / "0.6-dev" / "tests" / "attributes" / case).read_text())
    expected, strict = _conformance(attributes, case.split("/")[1] == "valid")
    report = validate_attributes(attributes, spec, strict=strict)
    if f"attributes/{case}" in DELIBERATE_REJECTIONS:
        assert expected and report.failed == [DELIBERATE_REJECTIONS[f"attributes/{case}"]]
        return
    assert report.ok == expected, report.failed or report.passed
