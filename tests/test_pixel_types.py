"""Every pixel type keeps its values: exactly where one tile covers a pixel, within one unit of
the exact blend where tiles overlap (no overflow at the extremes of the type, no rounding of
64-bit integers through float64), and pyramid levels are the exact rounded mean.

The oracle is Python's exact arithmetic (ints and Fractions) over the tiles' values."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest
import tifffile
import zarr

from ngff_fuse import ReadOptions, WriteOptions, convert
from ngff_fuse.cli import main
from ngff_fuse.fuse.core import fuse
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array
from ngff_fuse.preview import render
from ngff_fuse.transforms import placement

DTYPES = [np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64,
          np.float32, np.float64]
TILE = (8, 12)  # (y, x)
OFFSETS = [(0, 0), (2, 6)]  # tile b overlaps rows 2-7, columns 6-11 of tile a
MOSAIC = (10, 18)


def extremes(dtype) -> list:
    """The type's limits, values just inside them, and values float64 cannot hold exactly."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        big = float(np.finfo(dtype).max)
        candidates = [-big, -1.5, 0.0, float(np.finfo(dtype).tiny), 1 / 3, 2.0**53 + 1, 2.0**62 + 3, big]
        return [float(dtype.type(v)) for v in candidates]
    info = np.iinfo(dtype)
    candidates = [info.min, info.min + 1, -1, 0, 1, 2**53 + 1, 2**62 + 3, info.max - 1, info.max]
    return [v for v in candidates if info.min <= v <= info.max]


def tiles_of(dtype, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    values = extremes(dtype)
    return [np.array([[values[i] for i in row] for row in rng.integers(0, len(values), TILE)], dtype=dtype)
            for _ in OFFSETS]


def tileset(tiles: list[np.ndarray]) -> TileSet:
    built = []
    for i, (data, (y, x)) in enumerate(zip(tiles, OFFSETS)):
        origin = (0.0, float(y), float(x))
        built.append(Tile(data=tile_array(data[None, None, None], (1, 1, 1), origin, f"t{i}"),
                          affine=placement((1, 1, 1), origin), name=f"t{i}", source=TileSource(f"tile {i}")))
    return TileSet(tiles=tuple(built), spacing=(1.0, 1.0, 1.0), dims=("y", "x"), unit=None)


WIDTH = 3  # blend width (px) the oracle's edge weights are computed for


def edge_weight(blend: str, t: int, n: int) -> float:
    """The documented weight along one axis of a tile of n pixels at pixel t, d being the
    distance to the nearer edge: feather e^(2x) (1 - e^(-3x))^2 with x = (d + 1) ln 9 /
    (2 width); linear 1/2 - cos(pi u) / 2 with u = min(1, (d + 1) / (width + 1)); 1 otherwise."""
    d = min(t, n - 1 - t)
    if blend == "feather":
        x = (d + 1) * math.log(9.0) / (2.0 * WIDTH)
        return math.exp(2 * x) * (1 - math.exp(-3 * x)) ** 2
    if blend == "linear":
        return 0.5 - 0.5 * math.cos(math.pi * min(1.0, (d + 1) / (WIDTH + 1)))
    return 1.0


def covering(tiles: list[np.ndarray], y: int, x: int, blend: str = "mean") -> list[tuple[Fraction, Fraction]]:
    """(value, weight under `blend`) of every tile over mosaic pixel (y, x); a pixel's weight
    is the product of its weights along y and x."""
    found = []
    for data, (oy, ox) in zip(tiles, OFFSETS):
        ty, tx = y - oy, x - ox
        if 0 <= ty < TILE[0] and 0 <= tx < TILE[1]:
            weight = Fraction(edge_weight(blend, ty, TILE[0])) * Fraction(edge_weight(blend, tx, TILE[1]))
            found.append((Fraction(data[ty, tx].item()), weight))
    return found


def oracle(tiles: list[np.ndarray], blend: str) -> list[list[tuple[Fraction, Fraction] | None]]:
    """The exact fused value of every mosaic pixel and how far the float64 precision of the
    edge weights alone may move it (0 for unweighted blends), None where no tile reaches."""
    rows = []
    for y in range(MOSAIC[0]):
        row = []
        for x in range(MOSAIC[1]):
            found = covering(tiles, y, x, blend)
            values = [v for v, _ in found]
            if not found:
                row.append(None)
            elif blend == "first":
                row.append((values[0], Fraction(0)))
            elif blend == "max":
                row.append((max(values), Fraction(0)))
            else:
                weights = [w for _, w in found]
                mean = sum(v * w for v, w in zip(values, weights)) / sum(weights)
                weighted = blend in ("feather", "linear")
                slack = (max(values) - min(values)) * Fraction(2) ** -45 if weighted else 0
                row.append((mean, Fraction(slack)))
        rows.append(row)
    return rows


def ulp(value: np.floating) -> Fraction:
    """The larger gap from `value` to its neighbouring floats (finite ones)."""
    with np.errstate(over="ignore"):  # the neighbours of the largest float are inf
        return max(abs(Fraction(n.item()) - Fraction(value.item()))
                   for n in (np.nextafter(value, -np.inf), np.nextafter(value, np.inf)) if np.isfinite(n))


def assert_within_one_unit(got: np.ndarray, expected, fill=0) -> None:
    """Integers: the exact value rounded, within 1; floats: within one unit in the last place."""
    bad = []
    for (y, x), value in np.ndenumerate(got):
        if expected[y][x] is None:
            ok = value == fill
        else:
            exact, slack = expected[y][x]
            if got.dtype.kind in "ui":
                ok = abs(int(value) - round(exact)) <= 1 + slack
            else:
                ok = abs(Fraction(value.item()) - exact) <= ulp(got.dtype.type(float(exact))) + slack
        if not ok:
            bad.append(((y, x), value.item(), expected[y][x]))
    assert not bad, bad[:5]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_extreme_values_are_copied_exactly_and_blended_within_one_unit(dtype):
    tiles = tiles_of(dtype)
    single = [[len(covering(tiles, y, x)) == 1 for x in range(MOSAIC[1])] for y in range(MOSAIC[0])]
    for blend in ("feather", "linear", "mean", "max", "first"):
        got = fuse(tileset(tiles), blend=blend, blend_width=WIDTH, chunk_size=(1, 6, 7)).values
        assert got.dtype == np.dtype(dtype) and got.shape == MOSAIC
        expected = oracle(tiles, blend)
        assert_within_one_unit(got, expected)
        for (y, x), value in np.ndenumerate(got):  # one tile: its value, bit for bit
            if single[y][x]:
                assert Fraction(value.item()) == expected[y][x][0], (blend, y, x)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_default_feather_keeps_single_tiles_exact_and_blends_between_the_tiles(dtype):
    """The default ramp (over the whole overlap, weights that are no binary fractions): a pixel
    of one tile is still its value; where two overlap the blend lies between them."""
    tiles = tiles_of(dtype, seed=1)
    got = fuse(tileset(tiles), chunk_size=(1, 5, 9)).values
    for (y, x), value in np.ndenumerate(got):
        values = [v for v, _ in covering(tiles, y, x)]
        if len(values) == 1:
            assert Fraction(value.item()) == values[0], (y, x)
        elif values:
            assert min(values) <= Fraction(value.item()) <= max(values), (y, x, value, values)


def write_tiles(folder, tiles: list[np.ndarray]):
    lines = ["dim = 2"]
    for i, (data, (y, x)) in enumerate(zip(tiles, OFFSETS)):
        tifffile.imwrite(folder / f"t{i}.tif", data, photometric="minisblack")
        lines.append(f"t{i}.tif; ; ({x}.0, {y}.0)")
    (folder / "TileConfiguration.txt").write_text("\n".join(lines) + "\n")
    return folder / "TileConfiguration.txt"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_tiff_tiles_of_every_type_convert_exactly_with_an_exact_pyramid(tmp_path, dtype):
    """Through files and the store: level 0 is the tiles' pixels (first tile wins), level 1 the
    exact mean of each 2 x 2 block, rounded half to even (integers) or to nearest (floats)."""
    tiles = tiles_of(dtype, seed=2)
    config = write_tiles(tmp_path, tiles)
    out = tmp_path / "out.ome.zarr"
    convert(config, out, ReadOptions(pixel_size=(1.0, 1.0, 1.0)),
            WriteOptions(levels=2, chunk=8), blend="first")
    group = zarr.open_group(out, mode="r")
    level0, level1 = group["0"][...], group["1"][...]
    assert level0.dtype == level1.dtype == np.dtype(dtype)
    expected = oracle(tiles, "first")
    exact0 = [[Fraction(0) if v is None else v[0] for v in row] for row in expected]
    assert [[Fraction(v.item()) for v in row] for row in level0] == exact0
    blocks = [[[exact0[2 * i + a][2 * j + b] for a in (0, 1) for b in (0, 1)]
               for j in range(MOSAIC[1] // 2)] for i in range(MOSAIC[0] // 2)]
    if level1.dtype.kind in "ui":
        assert [[int(v) for v in row] for row in level1] == [[round(sum(b) / 4) for b in row] for row in blocks]
        return
    for got, block in zip(level1.ravel(), (b for row in blocks for b in row)):
        # a float sum rounds at the scale of its largest member (2**62 vanishes beside 3e38)
        largest = dtype(float(max(abs(v) for v in block)))
        assert abs(Fraction(got.item()) - sum(block) / 4) <= ulp(largest), (got, [float(v) for v in block])


# ---- bool, complex, NaN and infinity ------------------------------------------------------

def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bool_tiles_are_written_as_uint8_zero_and_one(tmp_path, capsys):
    mask = np.random.default_rng(3).random(MOSAIC) > 0.5
    config = write_tiles(tmp_path, [mask[y:y + TILE[0], x:x + TILE[1]] for y, x in OFFSETS])
    assert tifffile.imread(tmp_path / "t0.tif").dtype == np.bool_
    out = tmp_path / "out.ome.zarr"
    for blend in ("feather", "max"):  # a blend of 0s and 1s of the same mask stays 0 or 1
        assert main(["convert", str(config), str(out), "--blend", blend, "--overwrite"]) == 0
        fused = zarr.open_group(out, mode="r")["0"][...]
        assert fused.dtype == np.uint8
        covered = np.zeros(MOSAIC, bool)
        for y, x in OFFSETS:
            covered[y:y + TILE[0], x:x + TILE[1]] = True
        assert np.array_equal(fused[covered], mask[covered].astype(np.uint8))
        assert not fused[~covered].any()
    assert "bool pixels written as uint8" in capsys.readouterr().out


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_tiles_are_refused_in_one_line_naming_the_file(tmp_path, capsys, dtype):
    values = (np.arange(np.prod(MOSAIC)).reshape(MOSAIC) * (1 + 2j)).astype(dtype)
    config = write_tiles(tmp_path, [values[y:y + TILE[0], x:x + TILE[1]] for y, x in OFFSETS])
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(config), str(out)]) == 2
    err = one_error_line(capsys)
    assert "t0.tif" in err and np.dtype(dtype).name in err and "unexpected" not in err
    assert not out.exists()


def strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"bare {constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("fill", ["0", "nan", "-inf"])
@pytest.mark.parametrize("ngff", ["0.4", "0.5"])
def test_nan_and_infinite_pixels_keep_every_metadata_file_strict_json(tmp_path, ngff, fill):
    """JSON has no NaN or Infinity (web viewers' JSON.parse rejects them): every metadata file
    parses strictly, fill values as zarr spells them ("NaN", "-Infinity"), and the display
    window spans the finite pixels only."""
    rng = np.random.default_rng(4)
    image = rng.normal(100, 10, MOSAIC).astype(np.float32)
    image[1, 1], image[2, 2], image[3, 3] = np.nan, np.inf, -np.inf
    image[6:, 12:] = np.nan
    config = write_tiles(tmp_path, [image[y:y + TILE[0], x:x + TILE[1]] for y, x in OFFSETS])
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(config), str(out), "--ngff", ngff, f"--fill={fill}", "--blend", "first"]) == 0
    names = {"zarr.json", ".zattrs", ".zarray", ".zgroup"}
    files = [p for p in out.rglob("*") if p.name in names or p.suffix == ".json"]
    assert len(files) >= 2  # the image's group and its one level at least
    documents = {p.relative_to(out).as_posix(): strict_json(p.read_text()) for p in files}
    level = documents["0/zarr.json" if ngff == "0.5" else "0/.zarray"]
    assert level["fill_value"] == {"0": 0.0, "nan": "NaN", "-inf": "-Infinity"}[fill]
    root = documents["zarr.json"]["attributes"]["ome"] if ngff == "0.5" else documents[".zattrs"]
    window = root["omero"]["channels"][0]["window"]
    fused = zarr.open_group(out, mode="r")["0"][...]
    assert fused[2, 2] == np.inf and fused[3, 3] == -np.inf and np.isnan(fused[1, 1])  # kept as they are
    finite = fused[np.isfinite(fused)]  # with a finite fill, the two corners no tile reaches
    assert (window["min"], window["max"]) == (float(finite.min()), float(finite.max()))
    pixels = image[np.isfinite(image)]
    assert pixels.min() <= window["start"] < window["end"] <= pixels.max()
    picture, _, _ = render(out)  # the preview draws NaN black, infinities at the window's ends
    assert np.isfinite(picture).all()
    assert (picture[1, 1] == 0).all() and picture[2, 2].max() == 1 and (picture[3, 3] == 0).all()


def test_nan_and_infinite_pixels_neither_break_registration_nor_the_orientation_check(shared_dir):
    """Real graph paper tiles as float32 with 1 % NaN and some infinities, at stage positions
    off the truth by up to 7 px: every tile registers back to the truth, and the orientation
    check still recognises the layout (a NaN used to make every correlation NaN)."""
    from ngff_fuse.orientation import check_orientation
    from ngff_fuse.register import register

    image = tifffile.imread(shared_dir / "realdata" / "fiji-tileconfig-graphpaper" / "1.tif").astype(np.float32)
    truth = [(0, 0), (0, 150), (160, 0), (160, 150)]
    errors = [(0, 0), (5, -7), (-6, 4), (3, 6)]
    rng = np.random.default_rng(5)
    tiles = []
    for i, ((y, x), (ey, ex)) in enumerate(zip(truth, errors)):
        data = image[300 + y:300 + y + 220, 100 + x:100 + x + 210].copy()
        data[rng.random(data.shape) < 0.01] = np.nan
        data[rng.random(data.shape) < 0.002] = np.inf
        origin = (0.0, float(y + ey), float(x + ex))
        tiles.append(Tile(data=tile_array(data[None, None, None], (1, 1, 1), origin, f"t{i}"),
                          affine=placement((1, 1, 1), origin), name=f"t{i}", source=TileSource(f"tile {i}")))
    stage = TileSet(tiles=tuple(tiles), spacing=(1.0, 1.0, 1.0), dims=("y", "x"), unit=None)
    assert check_orientation(stage).verdict().startswith("as recorded")
    result = register(stage, max_shift_px=20)
    assert result.unlinked_tiles == 0 and result.accepted_links >= 4
    found = np.array([tile.origin[1:] for tile in result.tileset.tiles])
    found -= found[0]
    assert np.abs(found - np.array(truth)).max() < 0.5, found
