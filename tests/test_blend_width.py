"""The cross-fade between tiles that disagree: where it is centred and how wide it is.

Two flat tiles of different brightness overlap; the fused profile across the overlap is read
off and compared with what each blend mode promises, not with its formula: feather's 10 % and
90 % points lie `width` px apart, centred on the middle of the overlap, whatever the overlap;
linear averages both tiles wherever both are `width` px or more inside (Fiji's and
BigStitcher's rule); the default width is 40 px or the overlap where narrower.
"""

from __future__ import annotations

import numpy as np
import pytest

from ngff_fuse import fuse, transforms
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array

LOW, HIGH = 1000.0, 3000.0


def two_tiles(overlap: int, axis: int, length: int = 300, dtype=np.float32, rotate: bool = False,
              values: tuple[float, float] = (LOW, HIGH)) -> TileSet:
    """Two flat tiles meeting along `axis` (0 z, 1 y, 2 x) with `overlap` px."""
    shape = [1, 8, 8]
    shape[axis] = length
    spacing = (1.0, 1.0, 1.0)
    tiles = []
    for i, value in enumerate(values):
        position = [0.0, 0.0, 0.0]
        position[axis] = float(i * (length - overlap))
        affine = transforms.placement(spacing, position)
        if rotate:  # a tiny shear sends the tiles through the general (affine) sampler
            affine = affine @ np.array([[1, 0, 0, 0], [0, 1, 1e-4, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
        data = np.full((1, 1, *shape), value, dtype=dtype)
        tiles.append(Tile(data=tile_array(data, spacing, position, f"t{i}"), affine=affine,
                          name=f"t{i}", source=TileSource(f"memory {i}")))
    dims = ("z", "y", "x") if axis == 0 else ("y", "x")
    return TileSet(tiles=tuple(tiles), spacing=spacing, dims=dims, name="pair", unit=None)


def profile(tileset: TileSet, axis: int, **options) -> np.ndarray:
    fused = np.asarray(fuse(tileset, squeeze=False, chunk_size=(64, 64, 64), **options)[0, 0])
    index = [fused.shape[0] // 2, 4, 4]
    index[axis] = slice(None)
    return fused[tuple(index)].astype(float)


def crossing(values: np.ndarray, level: float) -> float:
    """Where a rising profile crosses `level`, interpolated between pixel centres."""
    i = int(np.argmax(values >= level))
    return i - 1 + (level - values[i - 1]) / (values[i] - values[i - 1])


@pytest.mark.parametrize("axis", [2, 1, 0])
@pytest.mark.parametrize("overlap,width", [(120, 10), (150, 40), (90, 25), (200, 40)])
def test_feather_fades_over_its_width_centred_on_the_overlap(axis, overlap, width):
    length = 300
    values = profile(two_tiles(overlap, axis, length), axis, blend_width=width)
    fraction = (values - LOW) / (HIGH - LOW)
    assert np.all(np.diff(values) >= -1e-3)  # monotone: no ringing, no step back
    middle = (length - overlap) + (overlap - 1) / 2  # overlap's middle, in pixel centres
    low, high = crossing(fraction, 0.1), crossing(fraction, 0.9)
    assert abs((low + high) / 2 - middle) < 0.5
    assert abs((high - low) - width) < 1.0
    # Beyond the fade each tile shows itself (not an average of both).
    assert np.all(fraction[: int(middle - 1.5 * width)] < 0.01)
    assert np.all(fraction[int(np.ceil(middle + 1.5 * width)):] > 0.99)


@pytest.mark.parametrize("rotate", [False, True])
@pytest.mark.parametrize("overlap", [4, 12, 30])
def test_overlaps_narrower_than_the_width_fade_smoothly_over_all_of_them(overlap, rotate):
    length = 120
    values = profile(two_tiles(overlap, 2, length, rotate=rotate), 2)
    start = length - overlap
    assert np.all(values[: start - 1] == LOW) if not rotate else np.allclose(values[: start - 1], LOW)
    assert np.allclose(values[start + overlap + 1:], HIGH)
    assert np.all(np.diff(values) >= -1e-3)
    # no hard seam: the largest step is a fraction of the jump, spread across the overlap
    assert np.diff(values).max() < (HIGH - LOW) * min(0.6, 3.0 / overlap)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64])
def test_default_width_is_40_px_or_the_overlap(dtype):
    values = (10, 250) if dtype == np.uint8 else (LOW, HIGH)
    tileset = two_tiles(200, 2, dtype=dtype, values=values)
    default = profile(tileset, 2)
    explicit = profile(tileset, 2, blend_width=40)
    # (the tiles span no seam across y, so there the default adds no weight at all)
    assert np.allclose(default, explicit, rtol=1e-9, atol=0.5)
    assert np.abs(default - profile(tileset, 2, blend_width=60)).max() > (values[1] - values[0]) / 50
    narrow = two_tiles(24, 2, dtype=dtype, values=values)
    assert np.allclose(profile(narrow, 2), profile(narrow, 2, blend_width=24), rtol=1e-9, atol=0.5)


def test_linear_averages_where_both_tiles_are_past_their_ramps():
    length, overlap, width = 300, 160, 30
    values = profile(two_tiles(overlap, 2, length), 2, blend="linear", blend_width=width)
    start = length - overlap
    inner = values[start + width + 1: start + overlap - width - 1]
    assert inner.size > 50 and np.allclose(inner, (LOW + HIGH) / 2)
    assert np.all(np.diff(values) >= -1e-3)
    assert values[start - 1] == LOW and values[start + overlap] == HIGH
