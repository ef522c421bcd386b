"""Fiji / BigStitcher TileConfiguration reader: positions, pixels, calibration, errors."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ngff_fuse.errors import InputError
from ngff_fuse.readers.base import Reader, ReadOptions
from ngff_fuse.readers.tileconfig import (
    TileConfigEntry,
    TileConfigReader,
    format_tileconfig,
    parse_tileconfig,
)
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.testing.tile_files import write_imagej_tiff, write_tileconfig

READER = TileConfigReader()


@pytest.fixture(scope="module")
def mosaic_2d():
    return synthetic_mosaic(grid=(2, 3), tile_shape=(32, 40), spacing=(1.0, 0.5, 0.5), seed=1)


@pytest.fixture(scope="module")
def mosaic_3d():
    return synthetic_mosaic(grid=(2, 2, 2), tile_shape=(4, 16, 20), channels=2, seed=2)


def _read(path, **options):
    (tileset,) = READER.read(path, ReadOptions(**options))
    return tileset


def _config(tmp_path, text, name="TileConfiguration.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _check_tiles(tileset, mosaic, spacing):
    assert len(tileset.tiles) == len(mosaic.tiles)
    for tile, truth in zip(tileset.tiles, mosaic.tiles):
        expected = np.asarray(truth.pixel_offset, dtype=float) * np.asarray(spacing)
        assert np.allclose(tile.origin, expected, atol=1e-9, rtol=0)
        assert tile.data.shape == truth.data.shape
        assert tile.data.dtype == truth.data.dtype
        np.testing.assert_array_equal(tile.data.values, truth.data)


def test_reader_protocol_and_can_open(tmp_path, mosaic_2d):
    path = write_tileconfig(mosaic_2d, tmp_path)
    assert isinstance(READER, Reader)
    assert READER.can_open(path)
    assert not READER.can_open(tmp_path / "tile_000.tif")
    assert not READER.can_open(_config(tmp_path, "just some notes\ndim = 2\n", "notes.txt"))
    assert READER.can_open(_config(tmp_path, "\ufeff# c\n\n  DIM=3\n", "bom.txt"))


def test_2d_calibrated(tmp_path, mosaic_2d):
    tileset = _read(write_tileconfig(mosaic_2d, tmp_path))
    assert tileset.unit == "micrometer"
    assert tileset.spacing == pytest.approx((1.0, 0.5, 0.5))
    assert tileset.dims == ("y", "x")
    assert tileset.n_channels == 1 and tileset.notes == ()
    _check_tiles(tileset, mosaic_2d, mosaic_2d.spacing)
    # Relative to the mosaic origin, the positions are the synthetic stage positions.
    for tile, truth in zip(tileset.tiles, mosaic_2d.tiles):
        assert np.allclose(tile.origin + mosaic_2d.origin, truth.position, atol=1e-9, rtol=0)
    assert [t.name for t in tileset.tiles] == [f"tile_{i:03d}" for i in range(6)]


def test_3d_two_channels(tmp_path, mosaic_3d):
    path = write_tileconfig(mosaic_3d, tmp_path)
    assert "dim = 3" in path.read_text()
    tileset = _read(path)
    assert tileset.dims == ("c", "z", "y", "x")
    assert tileset.n_channels == 2
    assert tileset.spacing == pytest.approx(mosaic_3d.spacing)
    assert any(tile.origin[0] > 0 for tile in tileset.tiles)
    _check_tiles(tileset, mosaic_3d, mosaic_3d.spacing)


def test_uncalibrated_positions_are_pixels_with_a_note(tmp_path, mosaic_2d):
    tileset = _read(write_tileconfig(mosaic_2d, tmp_path, calibrated=False))
    assert tileset.unit is None
    assert tileset.spacing == (1.0, 1.0, 1.0)
    assert len(tileset.notes) == 1
    assert "tile_000.tif has no pixel size" in tileset.notes[0]
    assert "--pixel-size" in tileset.notes[0]
    _check_tiles(tileset, mosaic_2d, (1.0, 1.0, 1.0))


def test_pixel_size_option_overrides_files(tmp_path, mosaic_2d):
    tileset = _read(write_tileconfig(mosaic_2d, tmp_path), pixel_size=(3.0, 0.2, 0.25))
    assert tileset.unit == "micrometer"
    assert tileset.spacing == (3.0, 0.2, 0.25)
    _check_tiles(tileset, mosaic_2d, (3.0, 0.2, 0.25))
    x = tileset.tiles[0].data.coords["x"].values
    assert np.allclose(np.diff(x), 0.25)


def test_series_of_a_multi_series_file(tmp_path):
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(32, 40), channels=2, seed=3)
    write_ome_tiff(mosaic, tmp_path / "scan.ome.tif")
    entries = [
        TileConfigEntry("scan.ome.tif", i, tuple(float(v) for v in t.pixel_offset[:0:-1]))
        for i, t in enumerate(mosaic.tiles)
    ]
    text = format_tileconfig(2, entries)
    assert "multiseries = true" in text
    tileset = _read(_config(tmp_path, text))
    assert tileset.channel_names == mosaic.channel_names
    assert [t.name for t in tileset.tiles] == [f"scan.ome series {i}" for i in range(4)]
    _check_tiles(tileset, mosaic, mosaic.spacing)

    missing = _config(tmp_path, "dim = 2\nscan.ome.tif; 9; (0, 0)\n", "bad.txt")
    with pytest.raises(InputError, match=r"bad\.txt, line 2: .*scan\.ome\.tif has no series 9"):
        READER.read(missing, ReadOptions())


def test_different_pixel_sizes_name_both_files(tmp_path, mosaic_2d):
    path = write_tileconfig(mosaic_2d, tmp_path)
    write_imagej_tiff(tmp_path / "tile_004.tif", mosaic_2d.tiles[4].data, (1.0, 0.3, 0.3))
    with pytest.raises(InputError, match=r"tile_004\.tif: pixel size .* differs .*tile_000\.tif"):
        READER.read(path, ReadOptions())
    # --pixel-size settles the disagreement.
    assert _read(path, pixel_size=(1.0, 0.5, 0.5)).spacing == (1.0, 0.5, 0.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"no 'dim = 2' or 'dim = 3' line"),
        ("# only a comment\n\n", r"no 'dim = 2' or 'dim = 3' line"),
        ("a.tif; ; (0, 0)\n", r"line 1: expected 'dim = 2' or 'dim = 3' before the tiles \(a Fiji TileConfiguration\)"),
        ("dim = 4\na.tif; ; (0, 0)\n", r"line 1: dim must be 2 or 3, found '4'"),
        ("dim = 2\n\na.tif ; (0, 0)\n",
         r"line 3: cannot read .*expected the form 'file\.tif; ; \(x, y\)'"),
        ("dim = 2\na.tif; ; 0, 0\n", r"line 2: cannot read .*'file\.tif; ; \(x, y\)'"),
        ("dim = 2\na.tif; ; (0, zero)\n", r"line 2: cannot read"),
        ("dim = 2\n; ; (0, 0)\n", r"line 2: cannot read"),
        ("dim = 3\na.tif; ; (0, 0)\n",
         r"line 2: 2 coordinates but dim = 3.*'file\.tif; ; \(x, y, z\)'"),
        ("dim = 2\na.tif; ; (0, 0, 0)\n", r"line 2: 3 coordinates but dim = 2"),
        ("dim = 2\na.tif; ; (nan, 0)\n", r"line 2: position \(nan, 0\) is not finite"),
        ("dim = 2\na.tif; ; (0, -inf)\n", r"line 2: position .* is not finite"),
        ("dim = 2\na.tif; two; (0, 0)\n", r"line 2: series 'two' is not a whole number"),
        ("dim = 2\na.tif; ; (0, 0)\nb.tif; ; (1, 0)\na.tif; ; (2, 0)\n",
         r"line 4: a\.tif is already listed on line 2; list every tile once"),
        ("dim = 2\na.tif; 1; (0, 0)\na.tif; 1; (2, 0)\n",
         r"line 3: a\.tif series 1 is already listed"),
    ],
)
def test_parse_errors_name_file_and_line(text, message):
    with pytest.raises(InputError, match=r"^conf\.txt\b.*" + message):
        parse_tileconfig(text, "conf.txt")


def test_parse_accepts_fiji_variants():
    text = (
        "\ufeff# Define the number of dimensions we are working on\r\n"
        "dim=2\r\nmultiseries = true\r\n\r\n"
        "# Define the image coordinates\r\n"
        "sub dir/a (1).tif;;(1.5,-2e3)\r\n"
        "  b.tif ; 0 ; ( 3 , 4 )  \r\n"
    )
    assert parse_tileconfig(text, "t.txt") == (
        2,
        [TileConfigEntry("sub dir/a (1).tif", None, (1.5, -2000.0)),
         TileConfigEntry("b.tif", 0, (3.0, 4.0))],
    )


def test_read_errors_name_the_config(tmp_path, mosaic_2d):
    with pytest.raises(InputError, match=r"empty\.txt: lists no tiles"):
        READER.read(_config(tmp_path, "dim = 2\n", "empty.txt"), ReadOptions())
    path = _config(tmp_path, "dim = 2\n\nmissing.tif; ; (0, 0)\n", "gone.txt")
    expected = r"gone\.txt, line 3: tile file 'missing\.tif' not found .*relative to the folder"
    with pytest.raises(InputError, match=expected):
        READER.read(path, ReadOptions())


def test_real_fiji_tileconfig(shared_dir):
    path = shared_dir / "realdata" / "fiji-tileconfig-graphpaper" / "tile_config.txt"
    assert READER.can_open(path)
    tileset = _read(path)
    assert len(tileset.tiles) == 10
    assert tileset.unit is None and tileset.spacing == (1.0, 1.0, 1.0)
    assert any("1.tif has no pixel size" in note for note in tileset.notes)
    for i, tile in enumerate(tileset.tiles):
        assert tile.name == str(i + 1)
        assert tile.data.shape == (1, 1, 1, 929, 594)
        assert tile.data.dtype == np.uint8
        assert np.allclose(tile.origin, (0.0, 0.0, 297.0 * i), atol=1e-9, rtol=0)
    assert tileset.tiles[0].data[0, 0, 0, :2, :2].values.dtype == np.uint8


def test_real_fiji_registered_tileconfig(shared_dir):
    path = shared_dir / "realdata" / "fiji-tileconfig-graphpaper" / "tile_config.registered.txt"
    dim, entries = parse_tileconfig(path.read_text(), str(path))
    assert dim == 2 and len(entries) == 10
    assert entries[-1] == TileConfigEntry("10.tif", None, (2651.0, -16.0))


_NAME_CHARS = st.characters(
    blacklist_characters=";", blacklist_categories=("Cc", "Cs", "Zl", "Zp")
)
_FILE_NAMES = st.text(_NAME_CHARS, min_size=1, max_size=20).filter(
    lambda s: s == s.strip() and not s.startswith("#") and s.splitlines() == [s]
)
_COORDS = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def _configs(draw):
    dim = draw(st.sampled_from([2, 3]))
    entries = draw(
        st.lists(
            st.builds(
                TileConfigEntry,
                _FILE_NAMES,
                st.none() | st.integers(0, 999_999_999),
                st.tuples(*[_COORDS] * dim),
            ),
            max_size=8,
            unique_by=lambda e: (e.file, e.series or 0),  # no series is series 0: listed twice
        )
    )
    return dim, entries


@settings(max_examples=200, deadline=None)
@given(_configs())
def test_format_parse_round_trip(config):
    dim, entries = config
    assert parse_tileconfig(format_tileconfig(dim, entries), "t.txt") == (dim, entries)


_FRAGMENTS = st.sampled_from(
    ["dim = 2", "dim = 3", "dim=", "#", "a.tif; ; (0, 1)", "a.tif; 3; (0, 1, 2)", "b; x; (1,",
     "; ;", "(nan, inf)", "multiseries = true", "c.tif;;(1e400, 0)", "\ufeff", "\r", "9" * 30]
)


@settings(max_examples=300, deadline=None)
@given(st.text() | st.lists(_FRAGMENTS | st.text(max_size=10), max_size=12).map("\n".join))
def test_parse_arbitrary_text_raises_only_input_error(text):
    try:
        dim, entries = parse_tileconfig(text, "fuzz.txt")
    except InputError as exc:
        assert str(exc).startswith("fuzz.txt")
        assert "\n" not in str(exc)
    else:
        assert dim in (2, 3)
        assert all(len(e.position) == dim for e in entries)
