"""The pieces every reader shares, tested directly: stacking planes into (t, c, z, y, x), and
deciding the pixel size. Oracles: numpy's own indexing of a known 5-D array, and the rule
written out case by case."""

from __future__ import annotations

import itertools
import random

import dask.array as da
import numpy as np
import pytest

from ngff_fuse._axes import MICROMETER
from ngff_fuse.errors import InputError
from ngff_fuse.readers.pixel_size import decide_pixel_size
from ngff_fuse.readers.planes import stack_planes


def _truth(sizes, block=(1, 1, 1), dtype=np.uint16, seed=0):
    """A (t, c, z, y, x) image and its parts: the blocks of `block` planes at each grid index."""
    shape = tuple(n * b for n, b in zip(sizes, block)) + (5, 7)
    truth = np.random.default_rng(seed).integers(0, 60000, shape).astype(dtype)
    parts = {
        index: da.from_array(truth[tuple(slice(i * b, (i + 1) * b) for i, b in zip(index, block))])
        for index in np.ndindex(*sizes)
    }
    return truth, parts


@pytest.mark.parametrize("sizes", [(1, 1, 1), (1, 1, 4), (2, 3, 1), (3, 2, 5), (2, 1, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int32])
def test_planes_given_in_any_order_stack_to_the_image(sizes, dtype):
    truth, parts = _truth(sizes, dtype=dtype)
    shuffled = list(parts.items())
    random.Random(sum(sizes)).shuffle(shuffled)  # z (and t, c) in any order
    stacked = stack_planes(dict(shuffled), sizes, "img", "fix it")
    assert stacked.shape == truth.shape and stacked.dtype == truth.dtype
    assert np.array_equal(stacked.compute(), truth)


def test_blocks_of_several_planes_stack_too():
    """A manifest file may hold a whole stack: the grid is of blocks, not single planes."""
    truth, parts = _truth((2, 1, 3), block=(1, 2, 4))
    stacked = stack_planes(parts, (2, 1, 3), "img", "fix it")
    assert stacked.shape == (2, 2, 12, 5, 7)
    assert np.array_equal(stacked.compute(), truth)


def test_a_single_part_is_the_image_itself():
    _, parts = _truth((1, 1, 1))
    assert stack_planes(parts, (1, 1, 1), "img", "fix it") is parts[(0, 0, 0)]


@pytest.mark.parametrize("sizes", [(1, 1, 3), (2, 2, 2)])
def test_a_missing_plane_is_refused_naming_it(sizes):
    _, parts = _truth(sizes)
    for gone in itertools.islice(np.ndindex(*sizes), 0, None, 3):
        rest = {k: v for k, v in parts.items() if k != gone}
        with pytest.raises(InputError, match=rf"^tile\.tif: has no plane at \(t, c, z\) = "
                                             rf"\({gone[0]}, {gone[1]}, {gone[2]}\) \(1 of "
                                             rf"{int(np.prod(sizes))} missing\); add it$"):
            stack_planes(rest, sizes, "tile.tif", "add it")


def test_missing_planes_may_be_left_empty():
    truth, parts = _truth((2, 2, 3))
    gone = [(0, 1, 2), (1, 0, 0), (1, 0, 1)]
    stacked = stack_planes({k: v for k, v in parts.items() if k not in gone}, (2, 2, 3), "img", "x",
                           fill_missing=True).compute()
    for t, c, z in gone:
        truth[t, c, z] = 0
    assert stacked.dtype == truth.dtype and np.array_equal(stacked, truth)


def test_planes_that_differ_or_lie_outside_are_refused():
    _, parts = _truth((1, 1, 2))
    with pytest.raises(InputError, match=r"^img: its planes differ in shape or dtype \(float32 .*, "
                                         r"uint16 .*\); fix it$"):
        stack_planes({**parts, (0, 0, 1): parts[(0, 0, 1)].astype(np.float32)}, (1, 1, 2), "img", "fix it")
    with pytest.raises(InputError, match="differ in shape"):
        stack_planes({**parts, (0, 0, 1): parts[(0, 0, 1)][..., :4]}, (1, 1, 2), "img", "fix it")
    with pytest.raises(InputError, match=r"a plane at \(t, c, z\) = \(0, 0, 2\) lies outside its 1 x 1 x 2"):
        stack_planes({**parts, (0, 0, 2): parts[(0, 0, 0)]}, (1, 1, 2), "img", "fix it")
    with pytest.raises(InputError, match="^img: has no planes; fix it$"):
        stack_planes({}, (1, 1, 1), "img", "fix it")


# ---- pixel size ----------------------------------------------------------------------------

def _decide(found, override=None, has_depth=True, **kw):
    return decide_pixel_size(found, override, has_depth=has_depth, where="in.tif", source="its XML", **kw)


@pytest.mark.parametrize("found", [(2.0, 0.5, 0.25), (None, 0.5, 0.25), (None, None, None), (-2.0, 0.5, 0.5)])
def test_the_option_wins_over_the_file_keeping_its_direction(found):
    got = _decide(found, (3.0, 0.4, 0.2))
    signs = [-1 if v is not None and v < 0 else 1 for v in found]
    assert got.spacing == tuple(s * v for s, v in zip(signs, (3.0, 0.4, 0.2)))
    assert got.unit == MICROMETER and got.notes == ()


def test_the_file_calibration_is_used_as_found():
    got = _decide((2.0, 0.5, 0.25))
    assert got.spacing == (2.0, 0.5, 0.25) and got.unit == MICROMETER and got.notes == ()


@pytest.mark.parametrize("has_depth", [False, True])
def test_a_missing_z_step_is_1_um_said_only_when_there_is_depth(has_depth):
    got = _decide((None, 0.5, 0.25), has_depth=has_depth)
    assert got.spacing == (1.0, 0.5, 0.25) and got.unit == MICROMETER
    said = ("no z step in its XML: assumed 1 micrometer; pass --pixel-size to set it",)
    assert got.notes == (said if has_depth else ())


@pytest.mark.parametrize("found", [(1.0, None, 0.5), (1.0, 0.5, None), (None, None, None)])
def test_no_pixel_size_is_refused_or_uncalibrated(found):
    with pytest.raises(InputError, match=r"^in\.tif: no pixel size in its XML, .*; pass --pixel-size$"):
        _decide(found)
    got = _decide(found, uncalibrated_ok=True, why=" (72 dpi)")
    assert got.spacing == (1.0, 1.0, 1.0) and got.unit is None
    assert got.notes == ("its XML has no pixel size (72 dpi): assumed 1 pixel = 1 unit (uncalibrated); "
                         "pass --pixel-size to set it",)
