"""Stage axes that disagree with the image: flips and swaps re-arrange tiles, not pixels."""

from __future__ import annotations

import numpy as np
import pytest

from ngff_fuse.fuse.core import fuse
from ngff_fuse.orientation import Orientation, reorient
from ngff_fuse.testing import in_memory_tileset, synthetic_mosaic


@pytest.mark.parametrize("orientation", [
    Orientation(flip_x=True), Orientation(flip_y=True), Orientation(flip_x=True, flip_y=True),
    Orientation(swap_xy=True),
])
def test_reorient_undoes_a_mirrored_stage(orientation):
    mosaic = synthetic_mosaic(grid=(3, 3), tile_shape=(40, 40), overlap=0.2, jitter=0)
    truth = in_memory_tileset(mosaic)
    wrong = reorient(truth, orientation)  # what a stage counting the other way records
    fixed = reorient(wrong, orientation)  # each of these orientations is its own inverse
    for a, b in zip(truth.tiles, fixed.tiles):
        assert np.allclose(a.affine, b.affine, atol=1e-9)
    assert np.array_equal(fuse(fixed).values, fuse(truth).values)
    assert not np.array_equal(fuse(wrong).values, fuse(truth).values)
    assert "re-oriented" in fixed.notes[-1]


def test_flip_keeps_the_mosaic_in_place_and_pixels_untouched():
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(30, 40), jitter=0, origin=(0.0, -500.0, 900.0))
    tileset = in_memory_tileset(mosaic)
    flipped = reorient(tileset, Orientation(flip_x=True))
    low, high = tileset.bounds()
    flow, fhigh = flipped.bounds()
    assert np.allclose(low, flow) and np.allclose(high, fhigh)
    xs = [t.origin[2] for t in tileset.tiles]
    fxs = [t.origin[2] for t in flipped.tiles]
    assert np.argmin(fxs) == np.argmax(xs)  # the leftmost tile became the rightmost
    assert all(np.array_equal(a.data.values, b.data.values) for a, b in zip(tileset.tiles, flipped.tiles))
    assert np.allclose(flipped.tiles[0].data.coords["x"][0], flipped.tiles[0].origin[2])


def test_orientation_matrix_and_text():
    assert str(Orientation()) == "as recorded"
    assert str(Orientation(flip_x=True, swap_xy=True)) == "--swap-xy --flip-x"
    assert np.allclose(Orientation(swap_xy=True).matrix() @ [1, 2, 3], [1, 3, 2])


def test_orientation_check_finds_a_mirrored_stage():
    from ngff_fuse.orientation import check_orientation

    mosaic = synthetic_mosaic(grid=(3, 3), tile_shape=(100, 120), overlap=0.2, jitter=3)
    truth = in_memory_tileset(mosaic)
    assert check_orientation(truth).verdict().startswith("as recorded")
    for wrong_way in (Orientation(flip_x=True), Orientation(swap_xy=True),
                      Orientation(flip_y=True, flip_x=True)):
        check = check_orientation(reorient(truth, wrong_way))
        assert check.best == str(wrong_way), check.scores
        assert "far better with " + str(wrong_way) in check.verdict()
        assert check.scores[str(wrong_way)] > 0.9 > check.recorded


def _with_pixels(tileset, make):
    """The same tiles and positions with the pixels `make(index, tile)` returns instead."""
    from dataclasses import replace

    from ngff_fuse.model import tile_array

    tiles = tuple(
        replace(tile, data=tile_array(make(i, tile)[None, None, None], tileset.spacing, tile.origin,
                                      tile.name, tileset.channel_names))
        for i, tile in enumerate(tileset.tiles)
    )
    return replace(tileset, tiles=tiles)


@pytest.mark.parametrize("recorded", ["as recorded", "--flip-y"])
def test_orientation_check_is_undecided_when_mirrors_match_alike(recorded):
    """A grid whose overlaps all look alike (a y-mirrored grid of identical overlaps scores 1.0
    as recorded and with --flip-y): the check must say it cannot tell, whichever was recorded,
    and name both candidates."""
    from ngff_fuse.orientation import ORIENTATIONS, OrientationCheck

    scores = {str(o): 0.1 for o in ORIENTATIONS}
    scores["as recorded"] = scores["--flip-y"] = 1.0
    scores[recorded] = 0.97
    check = OrientationCheck(scores=scores, pairs=7)
    assert not check.decided
    verdict = check.verdict()
    assert verdict.startswith("could not decide") and "as recorded (" in verdict
    assert "--flip-y (" in verdict and "--flip-x" not in verdict.split(";")[0]
    scores["--flip-y"] = 0.8  # a clear margin decides
    assert OrientationCheck(scores=scores, pairs=7).verdict().startswith("as recorded")


def test_orientation_check_is_undecided_when_nothing_matches():
    """Tiles that share no content (independent noise) score ~0 under every orientation."""
    from ngff_fuse.orientation import check_orientation

    tileset = in_memory_tileset(synthetic_mosaic(grid=(2, 3), tile_shape=(50, 60), jitter=0))
    rng = np.random.default_rng(7)
    noise = _with_pixels(tileset, lambda i, t: rng.integers(0, 4000, (50, 60)).astype(np.uint16))
    check = check_orientation(noise)
    assert max(check.scores.values()) < 0.3
    assert not check.decided
    assert "could not decide: no orientation matches" in check.verdict()


def test_orientation_check_decides_a_single_row():
    """In one row a flip across y moves no tile: one arrangement, not a tie."""
    from ngff_fuse.orientation import check_orientation

    truth = in_memory_tileset(synthetic_mosaic(grid=(1, 4), tile_shape=(80, 100), jitter=2))
    check = check_orientation(truth)
    assert check.same_as["--flip-y"] == "as recorded"
    assert check.decided and check.verdict().startswith("as recorded"), check.verdict()
    flipped = check_orientation(reorient(truth, Orientation(flip_x=True)))
    assert flipped.decided and flipped.best in ("--flip-x", "--flip-x --flip-y")
