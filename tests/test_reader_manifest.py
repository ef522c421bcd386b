"""Tile manifest reader (JSON and CSV): schema, stacking of split files, calibration, errors."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from ngff_fuse.errors import InputError
from ngff_fuse.readers.base import Reader, ReadOptions
from ngff_fuse.readers.manifest import (
    CSV_COLUMNS,
    Manifest,
    ManifestReader,
    manifest_from_csv,
    manifest_schema,
    validate_manifest,
)
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.tile_files import write_imagej_tiff, write_manifest

READER = ManifestReader()


@pytest.fixture(scope="module")
def mosaic_2d():
    return synthetic_mosaic(grid=(2, 2), tile_shape=(32, 40), channels=3, seed=4)


@pytest.fixture(scope="module")
def mosaic_3d():
    return synthetic_mosaic(grid=(2, 2, 2), tile_shape=(4, 16, 20), channels=2, seed=5)


def _read(path, **options):
    (tileset,) = READER.read(path, ReadOptions(**options))
    return tileset


def _check_positions_and_pixels(tileset, truths):
    """Each tile sits at its synthetic stage position and holds the synthetic pixels."""
    for tile, truth in zip(tileset.tiles, truths, strict=True):
        assert np.allclose(tile.origin, truth.position, atol=1e-9, rtol=0)
        assert tile.data.shape == truth.data.shape
        assert tile.data.dtype == truth.data.dtype
        np.testing.assert_array_equal(tile.data.values, truth.data)


def _assert_same(a, b):
    assert (a.spacing, a.unit, a.dims, a.name) == (b.spacing, b.unit, b.dims, b.name)
    assert (a.channel_names, a.notes) == (b.channel_names, b.notes)
    for ta, tb in zip(a.tiles, b.tiles, strict=True):
        assert ta.name == tb.name
        np.testing.assert_array_equal(ta.affine, tb.affine)
        np.testing.assert_array_equal(ta.data.values, tb.data.values)


def _edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def _write_csv(path, rows, delimiter=","):
    with path.open("w", newline="") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def test_schema_is_valid_and_documents_every_field():
    schema = manifest_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"

    def walk(node, where):
        for name, sub in node.get("properties", {}).items():
            assert sub.get("title") and sub.get("description"), f"{where}.{name}"
            walk(sub, f"{where}.{name}")
        for sub in node.get("oneOf", []):
            walk(sub, where)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{where}[]")

    walk(schema, "")
    tile_fields = set(schema["properties"]["tiles"]["items"]["properties"])
    assert tile_fields == set(CSV_COLUMNS)


def test_reader_protocol_and_can_open(tmp_path, mosaic_2d):
    json_path = write_manifest(mosaic_2d, tmp_path / "j")
    csv_path = write_manifest(mosaic_2d, tmp_path / "c", kind="csv")
    assert isinstance(READER, Reader)
    assert READER.can_open(json_path) and READER.can_open(csv_path)
    (tmp_path / "other.json").write_text('{"images": []}')
    (tmp_path / "broken.json").write_text("{tiles")
    _write_csv(tmp_path / "other.csv", [["file", "stage_x", "stage_y"]])
    for name in ("other.json", "broken.json", "other.csv"):
        assert not READER.can_open(tmp_path / name)
    assert not READER.can_open(tmp_path / "j" / "tile_000.tif")


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("unit", ["micrometer", "px", "nm"])
def test_json_and_csv_give_the_mosaic_positions(tmp_path, mosaic_2d, split, unit):
    from_json = _read(write_manifest(mosaic_2d, tmp_path / "j", "json", split, unit))
    from_csv = _read(write_manifest(mosaic_2d, tmp_path / "c", "csv", split, unit))
    _assert_same(from_json, from_csv)
    assert from_json.unit == "micrometer"
    assert from_json.spacing == pytest.approx(mosaic_2d.spacing)
    assert from_json.dims == ("c", "y", "x")
    assert from_json.n_channels == 3
    _check_positions_and_pixels(from_json, mosaic_2d.tiles)
    assert unit in from_json.position_source


def test_3d_split_channels(tmp_path, mosaic_3d):
    path = write_manifest(mosaic_3d, tmp_path, split_channels=True)
    tileset = _read(path)
    assert tileset.dims == ("c", "z", "y", "x")
    assert tileset.spacing == pytest.approx(mosaic_3d.spacing)
    assert tileset.channel_names == ("Channel 0", "Channel 1")
    assert [t.name for t in tileset.tiles] == [f"tile_{i:03d}" for i in range(8)]
    _check_positions_and_pixels(tileset, mosaic_3d.tiles)


def test_files_grouped_by_position_without_tile_ids(tmp_path, mosaic_3d):
    grouped = _read(write_manifest(mosaic_3d, tmp_path / "ids", split_channels=True))
    path = write_manifest(mosaic_3d, tmp_path / "at", split_channels=True)
    _edit_json(path, lambda d: [row.pop("tile") for row in d["tiles"]])
    by_position = _read(path)
    assert [t.name for t in by_position.tiles] == [f"tile_{i:03d}_c0" for i in range(8)]
    for a, b in zip(grouped.tiles, by_position.tiles, strict=True):
        np.testing.assert_array_equal(a.affine, b.affine)
        np.testing.assert_array_equal(a.data.values, b.data.values)


def test_timepoints_and_z_planes_stack_from_single_plane_files(tmp_path):
    mosaic = synthetic_mosaic(grid=(1, 2, 2), tile_shape=(3, 16, 20), timepoints=2, channels=2, seed=6)
    rows = []
    for i, tile in enumerate(mosaic.tiles):
        z, y, x = tile.position
        for t in range(2):
            for zi in range(3):
                file = f"t{i}_{t}_{zi}.tif"
                write_imagej_tiff(tmp_path / file, tile.data[t : t + 1, :, zi : zi + 1])
                rows.append({"file": file, "x": x, "y": y, "z": z, "tile": i, "t": t})
                rows[-1]["z_index"] = zi
    manifest = {"position_unit": "um", "pixel_size": {"x": 0.65, "y": 0.65, "z": 2.0},
                "channel_names": ["GFP", "RFP"], "tiles": rows[::-1]}
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    tileset = _read(tmp_path / "m.json")
    assert tileset.dims == ("t", "c", "z", "y", "x")
    assert tileset.channel_names == ("GFP", "RFP")
    assert [t.name for t in tileset.tiles] == ["3", "2", "1", "0"]
    _check_positions_and_pixels(tileset, mosaic.tiles[::-1])


def test_missing_combination_is_named(tmp_path, mosaic_2d):
    path = write_manifest(mosaic_2d, tmp_path, split_channels=True)
    _edit_json(path, lambda d: d["tiles"].pop(4))  # tile_001, channel 1
    expected = r"manifest\.json: there is no file for tile 'tile_001' \(channel 1\)"
    with pytest.raises(InputError, match=expected):
        READER.read(path, ReadOptions())


def test_pixel_size_precedence(tmp_path, mosaic_2d):
    path = write_manifest(mosaic_2d, tmp_path / "m", position_unit="px")
    # The manifest's pixel size beats the files' (0.65) ...
    _edit_json(path, lambda d: d.update(pixel_size=0.5))
    tileset = _read(path)
    assert tileset.spacing == (0.5, 0.5, 0.5)
    for tile, truth in zip(tileset.tiles, mosaic_2d.tiles):
        expected = np.array(truth.position) / mosaic_2d.spacing * 0.5
        assert np.allclose(tile.origin, expected, atol=1e-9, rtol=0)
    # ... in its own unit ...
    _edit_json(
        path, lambda d: d.update(pixel_size={"x": 650, "y": 650, "z": 2000}, pixel_size_unit="nm")
    )
    _check_positions_and_pixels(_read(path), mosaic_2d.tiles)
    # ... and --pixel-size beats both.
    assert _read(path, pixel_size=(1.0, 0.25, 0.25)).spacing == (1.0, 0.25, 0.25)
    # Without a manifest pixel size the files' calibration is used.
    _edit_json(path, lambda d: [d.pop("pixel_size"), d.pop("pixel_size_unit")])
    assert _read(path).spacing == pytest.approx((1.0, 0.65, 0.65))


def test_uncalibrated_files(tmp_path, mosaic_2d):
    for i, tile in enumerate(mosaic_2d.tiles):
        write_imagej_tiff(tmp_path / f"tile_{i:03d}.tif", tile.data)
    rows = [{"file": f"tile_{i:03d}.tif", "x": t.pixel_offset[2], "y": t.pixel_offset[1]}
            for i, t in enumerate(mosaic_2d.tiles)]
    (tmp_path / "px.json").write_text(json.dumps({"position_unit": "px", "tiles": rows}))
    tileset = _read(tmp_path / "px.json")
    assert tileset.unit is None and tileset.spacing == (1.0, 1.0, 1.0)
    assert any("tile_000.tif has no pixel size" in n and "--pixel-size" in n for n in tileset.notes)
    for tile, truth in zip(tileset.tiles, mosaic_2d.tiles):
        assert np.allclose(tile.origin, truth.pixel_offset, atol=1e-9, rtol=0)

    (tmp_path / "um.json").write_text(json.dumps({"tiles": rows}))
    with pytest.raises(InputError, match=r"um\.json: positions are in micrometer but no pixel"):
        READER.read(tmp_path / "um.json", ReadOptions())
    tileset = _read(tmp_path / "um.json", pixel_size=(1.0, 2.0, 2.0))
    assert "um.json gives no position_unit: assumed micrometer" in tileset.notes


def test_channel_names_count_must_match(tmp_path, mosaic_2d):
    path = write_manifest(mosaic_2d, tmp_path)
    _edit_json(path, lambda d: d.update(channel_names=["a", "b", "c"]))
    assert _read(path).channel_names == ("a", "b", "c")
    _edit_json(path, lambda d: d.update(channel_names=["a"]))
    with pytest.raises(InputError, match=r"channel_names has 1 names but the tiles have 3 chan"):
        READER.read(path, ReadOptions())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["tiles"][3].update(x="abc"), r"tiles\[3\]\.x: 'abc' is not of type 'number'"),
        (lambda d: d["tiles"][1].pop("file"), r"tiles\[1\]: 'file' is a required property"),
        (lambda d: d.update(pixelsize=1), r"\(top level\): Additional properties are not allowed"),
        (lambda d: d.update(pixel_size=-1), r"pixel_size: "),
        (lambda d: d["tiles"].clear(), r"tiles: \[\] should be non-empty"),
        (lambda d: d.update(position_unit="parsec"), r"position_unit: 'parsec' is not a known"),
        (lambda d: d.update(pixel_size=1, pixel_size_unit="px"), r"pixel_size_unit: 'px' is not"),
        (lambda d: d["tiles"][2].update(y=float("nan")), r"tiles\[2\]\.y: nan is not a finite"),
        (lambda d: d["tiles"][2].update(x=d["tiles"][0]["x"], y=d["tiles"][0]["y"]),
         r"tiles\[2\] and tiles\[0\] are both tile 'tile_000'"),
        (lambda d: d["tiles"][1].update(channel=0), r"tiles\[0\] has no channel but tiles\[1\]"),
        (lambda d: [r.update(tile="one") for r in d["tiles"]], r"tiles\[1\] of tile 'one' is at"),
        (lambda d: d["tiles"][0].update(file="nowhere.tif"),
         r"tiles\[0\]: tile file 'nowhere\.tif' not found .*relative to the folder of manifest"),
        (lambda d: [r.update(channel=1) for r in d["tiles"]],
         r"tiles\[0\]: gives channel 1 but tile_000\.tif holds 3"),
    ],
)
def test_json_errors_name_file_and_field(tmp_path, mosaic_2d, change, message):
    path = _edit_json(write_manifest(mosaic_2d, tmp_path), change)
    with pytest.raises(InputError, match=r"manifest\.json: " + message):
        READER.read(path, ReadOptions())


def test_json_syntax_error(tmp_path):
    (tmp_path / "bad.json").write_text('{"tiles": [\n  {"file": "a.tif",}\n]}')
    with pytest.raises(InputError, match=r"bad\.json: not valid JSON .* line 2"):
        READER.read(tmp_path / "bad.json", ReadOptions())


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["file", "x", "y"], ["a.tif", "0", "0"], ["b.tif", "abc", "0"]],
         r": tiles\[1\]\.x: 'abc' is not of type 'number' \(CSV line 3\)"),
        ([["file", "x", "y", "channel"], ["a.tif", "0", "0", "1.5"]],
         r": tiles\[0\]\.channel: 1\.5 is not of type 'integer' \(CSV line 2\)"),
        ([["file", "x", "y", "colour"], ["a.tif", "0", "0", "red"]],
         r": unknown column\(s\) 'colour' in the header; the columns are file, x, y plus any of z,"),
        ([["file", "x"], ["a.tif", "0"]], r": the header lacks the column\(s\) y \(found 'file', 'x'\)"),
        ([["file", "x", "y", "x"], ["a.tif", "0", "0", "1"]], r": the header names the column 'x' twice"),
        ([["file", "x", "y", "pixel_size_x"], ["a.tif", "0", "0", "0.5"], ["b", "1", "0", "0.6"]],
         r", line 3: pixel_size_x is '0\.6' but '0\.5' on line 2; pixel_size_x must be the same"),
        ([["file", "x", "y"], ["a.tif", "0", "0", "extra"]], r", line 2: more cells than the"),
        ([["file", "x", "y"]], r": tiles: \[\] should be non-empty"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path, rows, message):
    path = _write_csv(tmp_path / "m.csv", rows)
    with pytest.raises(InputError, match=r"m\.csv" + message):
        READER.read(path, ReadOptions())


def test_csv_constant_columns_become_manifest_fields():
    text = (
        "file,x,y,position_unit,pixel_size_x,pixel_size_y,name\r\n"
        "\r\n"
        "a.tif,1,2,px,0.5,0.5,scan\r\n"
    )
    data, lines = manifest_from_csv(text, "m.csv")
    assert data == {
        "tiles": [{"file": "a.tif", "x": 1.0, "y": 2.0}],
        "position_unit": "px", "pixel_size": {"x": 0.5, "y": 0.5}, "name": "scan",
    }
    assert lines == [3]
    manifest = validate_manifest(data, "m.csv", lines)
    assert manifest.position_um is None and manifest.pixel_size == (None, 0.5, 0.5)


_SCALARS = (
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=8)
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_TILE_KEYS = st.sampled_from([*CSV_COLUMNS, "other"])
_TILE = st.dictionaries(_TILE_KEYS, _SCALARS | st.integers(0, 3), max_size=9)
_TOP = st.fixed_dictionaries(
    {"tiles": st.lists(_TILE, max_size=5) | _JSON},
    optional={
        "position_unit": st.sampled_from(["px", "um", "nm", "µm", "furlong", ""]) | _SCALARS,
        "pixel_size": _SCALARS | st.dictionaries(st.sampled_from("xyz"), _SCALARS),
        "pixel_size_unit": st.sampled_from(["nm", "px"]) | _SCALARS,
        "channel_names": _JSON,
        "version": _SCALARS,
        "name": _SCALARS,
    },
)


@settings(max_examples=300, deadline=None)
@given(_JSON | _TOP)
def test_validation_raises_only_input_error(data):
    # Integers are bounded: Python's json refuses integers of more than 4300 digits anyway.
    try:
        manifest = validate_manifest(data, "fuzz.json")
    except InputError as exc:
        assert str(exc).startswith("fuzz.json")
        assert "\n" not in str(exc)
    else:
        assert isinstance(manifest, Manifest) and manifest.tiles


@settings(max_examples=200, deadline=None)
@given(
    st.text()
    | st.lists(
        st.lists(st.sampled_from([*CSV_COLUMNS, "name", "1", "-2.5", "nan", "a.tif", "", "\""])
                 | st.text(max_size=5), max_size=6).map(",".join),
        max_size=5,
    ).map("\n".join)
)
def test_csv_conversion_raises_only_input_error(text):
    try:
        data, lines = manifest_from_csv(text, "fuzz.csv")
        validate_manifest(data, "fuzz.csv", lines)
    except InputError as exc:
        assert str(exc).startswith("fuzz.csv")
        assert "\n" not in str(exc)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        # a comma missing after "a.tif": the next token is at line 2, column 20
        ("tiles.json", b'{"tiles": [\n  {"file": "a.tif" "x": 1, "y": 2}\n]}',
         r"not valid JSON \(Expecting ',' delimiter at line 2, column 20\); fix the syntax"),
        ("tiles.json", b'{"tiles": [{"file": "\xe9.tif", "x": 1, "y": 2}]}', r"not UTF-8 text"),
        ("tiles.csv", b"file,x,y\n\xe9.tif,1,2\n", r"not UTF-8 text"),
        ("tiles.json", b'{"images": []}', r"'tiles' is a required property"),
        ("tiles.csv", b"file,x\na.tif,1\n", r"the header lacks the column\(s\) y"),
        ("tiles.csv", b"name;stage_x;stage_y\na.tif;1;2\n",
         r"the header lacks the column\(s\) file, x, y \(found 'name', 'stage_x', 'stage_y'\)"),
        ("notes.txt", b"a.tif; ; (0, 0)\n", r"expected 'dim = 2' or 'dim = 3' before the tiles \(a Fiji TileConfiguration\)"),
    ],
)
def test_a_file_meant_for_one_reader_gets_that_readers_reason(tmp_path, capsys, name, content, message):
    """A .json, .csv or .txt that no reader can open is meant for the manifest or
    TileConfiguration reader: its error says what is wrong, not "not a supported input" and
    the list of every format."""
    from ngff_fuse.cli import main

    path = tmp_path / name
    path.write_bytes(content)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a supported input" not in err
    assert re.search(f"^ngff-fuse: error: {re.escape(str(path))}(, line [0-9]+)?: .*{message}", err), err


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_csv_separated_by_semicolons_or_tabs_reads_as_with_commas(tmp_path, mosaic_2d, delimiter):
    """Spreadsheets where the comma is the decimal mark save CSV with semicolons: the header
    tells the separator, and the tiles are those of the comma-separated file."""
    path = write_manifest(mosaic_2d, tmp_path, kind="csv")
    with_commas = _read(path)
    _write_csv(path, list(csv.reader(path.open(newline=""))), delimiter=delimiter)
    assert delimiter in path.read_text().splitlines()[0] and READER.can_open(path)
    _assert_same(_read(path), with_commas)
    _check_positions_and_pixels(_read(path), mosaic_2d.tiles)


def test_a_decimal_comma_is_refused_not_guessed(tmp_path):
    """`0,65` in a semicolon file may be 0.65 or (a thousands separator) 65 times more: named
    with its line and the fix, never read either way."""
    path = tmp_path / "m.csv"
    path.write_text("file;x;y\na.tif;0;0\nb.tif;1,5;0\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"m\.csv, line 3: x is '1,5', with a decimal comma; write 1\.5"):
        READER.read(path, ReadOptions())
