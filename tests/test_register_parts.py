"""The parts of registration on their own: pair finding, the NCC search, the global solve."""

from __future__ import annotations

import tracemalloc
from itertools import combinations

import numpy as np
import pytest
from scipy import ndimage

from ngff_fuse.register.pairs import (
    MIN_MATCH_FRACTION, MIN_OVERLAP_FRACTION, Pair, candidate_pairs, overlapping_pairs, regions,
)
from ngff_fuse.register.pairwise import measure, ncc, ncc_surface
from ngff_fuse.register.solve import solve


def brute_force_pairs(positions: np.ndarray, shapes: np.ndarray) -> list[tuple[int, int]]:
    found = []
    for a, b in combinations(range(len(positions)), 2):
        low = np.maximum(positions[a], positions[b])
        high = np.minimum(positions[a] + shapes[a], positions[b] + shapes[b])
        overlap = np.prod(np.clip(high - low, 0, None))
        if overlap >= MIN_OVERLAP_FRACTION * min(np.prod(shapes[a]), np.prod(shapes[b])):
            found.append((a, b))
    return found


def test_pairs_match_brute_force_on_a_random_layout():
    rng = np.random.default_rng(0)
    shapes = np.column_stack([np.ones(300), rng.integers(50, 200, (300, 2))]).astype(np.int64)
    positions = np.column_stack([np.zeros(300), rng.uniform(0, 2000, (300, 2))])
    found = [(p.a, p.b) for p in overlapping_pairs(positions, shapes)]
    assert found == brute_force_pairs(positions, shapes) and len(found) > 100


def test_pairs_of_ten_thousand_tiles_are_found_without_comparing_all():
    grid = np.array(list(np.ndindex(100, 100)))
    positions = np.column_stack([np.zeros(len(grid)), grid * 460.0])  # 512 px tiles, 10 %
    shapes = np.tile([1, 512, 512], (len(grid), 1))
    tracemalloc.start()  # memory, not time: a noisy machine cannot make it fail or pass
    try:
        pairs = overlapping_pairs(positions, shapes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # all 5e7 pairs would need 900 MB for their two index arrays alone (numpy.triu_indices);
    # the sweep looks only at the ~200 boxes that start before each one stops (~200 MB)
    assert peak < 450e6
    # Face neighbours only: a corner of a 10 % overlap holds 1 % of a tile.
    assert len(pairs) == 2 * 100 * 99
    assert all(np.abs(p.stage_offset).sum() == 460 for p in pairs)


def test_candidate_pairs_are_those_an_offset_within_the_radius_can_overlap_enough():
    rng = np.random.default_rng(3)
    shapes = np.column_stack([np.ones(200), rng.integers(50, 200, (200, 2))]).astype(np.int64)
    positions = np.column_stack([np.zeros(200), rng.uniform(0, 2000, (200, 2))])
    radius = np.array([0, 30, 30])
    found = {(p.a, p.b) for p in candidate_pairs(positions, shapes, radius)}
    # Brute force: slide b over every whole offset within the radius, axis by axis (an
    # overlap is the product of its widths), and keep the largest overlap.
    a, b = np.array(list(combinations(range(len(positions)), 2))).T
    best = np.ones(len(a))
    for axis in (1, 2):
        moved = positions[b, axis][:, None] + np.arange(-30, 31)[None, :]
        high = np.minimum((positions[a, axis] + shapes[a, axis])[:, None], moved + shapes[b, axis][:, None])
        low = np.maximum(positions[a, axis][:, None], moved)
        best = best * np.clip(high - low, 0, None).max(axis=1)
    smaller = np.minimum(shapes[a].prod(axis=1), shapes[b].prod(axis=1))
    keep = best >= MIN_MATCH_FRACTION * smaller
    expected = set(zip(a[keep].tolist(), b[keep].tolist()))
    assert found == expected
    assert len(found - {(p.a, p.b) for p in overlapping_pairs(positions, shapes)}) > 20


def test_regions_of_tiles_apart_by_the_stage_hold_their_true_overlap():
    rng = np.random.default_rng(4)
    world = rng.random((1, 200, 500))
    tile_a, tile_b = world[:, 10:190, 0:245], world[:, 10:190, 240:485]  # 5 px overlap
    shape = np.array(tile_a.shape)
    # The stage puts b 25 px too far right: a 20 px gap between the boxes.
    cut = regions(Pair(0, 1, np.array([0, 0, 265])), shape, shape, padding=np.array([0, 50, 50]))
    a, b = tile_a[cut.box_a()], tile_b[cut.box_b()]
    found = measure(a, b, cut.expected, 50.0, np.ones(3), cut.min_overlap)
    assert found.within_limit and found.score > 0.999
    assert found.shift - cut.expected == pytest.approx((0, 0, -25), abs=0.05)


def test_regions_cut_the_same_content_from_both_tiles():
    rng = np.random.default_rng(1)
    world = rng.random((1, 300, 400))
    at_a, at_b = np.array([0, 20, 30]), np.array([0, 37, 221])  # b right of and below a
    shape = np.array([1, 200, 220])
    tile_a = world[0:1, 20:220, 30:250]
    tile_b = world[0:1, 37:237, 221:441 - 20]
    shape_b = np.array(tile_b.shape)
    cut = regions(Pair(0, 1, at_b - at_a), shape, shape_b, padding=np.array([0, 10, 10]))
    a, b = tile_a[cut.box_a()], tile_b[cut.box_b()]
    assert a.shape == b.shape == cut.shape
    # The overlap is 183 x 29 px; grown by 10 px on both sides, into each tile, as far as the
    # 200 px tall tiles allow.
    assert cut.shape == (1, 200, 49)
    shift = np.round(cut.expected).astype(int)
    ys, xs = np.meshgrid(np.arange(cut.shape[1]), np.arange(cut.shape[2]), indexing="ij")
    inside = (ys + shift[1] >= 0) & (ys + shift[1] < cut.shape[1])
    inside &= (xs + shift[2] >= 0) & (xs + shift[2] < cut.shape[2])
    assert inside.sum() > 1000
    assert np.array_equal(b[0][inside], a[0][ys[inside] + shift[1], xs[inside] + shift[2]])


@pytest.mark.parametrize("window", [None, [(0, 0), (-4, 9), (12, 20)]])
def test_ncc_surface_is_the_ncc_of_every_overlap(window):
    rng = np.random.default_rng(2)
    a, b = rng.random((1, 30, 40)), rng.random((1, 30, 40))
    b[0, :20, :25] = a[0, 5:25, 15:40]  # b[j] = a[j + (5, 15)]
    surface, count, grid = ncc_surface(a, b, window)
    for index in np.ndindex(surface.shape):
        shift = [int(g.ravel()[i]) for g, i in zip(grid, index)]
        box_a = tuple(slice(max(0, s), min(n, n + s)) for s, n in zip(shift, a.shape))
        box_b = tuple(slice(max(0, -s), min(n, n - s)) for s, n in zip(shift, a.shape))
        assert count[index] == a[box_a].size
        if a[box_a].size > 20:
            assert surface[index] == pytest.approx(ncc(a[box_a], b[box_b]), abs=1e-4)
    best = np.unravel_index(np.argmax(np.where(count > 100, surface, -1)), surface.shape)
    assert [int(g.ravel()[i]) for g, i in zip(grid, best)] == [0, 5, 15]


def smooth_field(shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(rng.standard_normal(shape), (0, 3, 3)) * 100 + 1000


@pytest.mark.parametrize("shift", [(0.0, 7.0, -12.0), (0.0, -3.4, 10.7), (0.0, 0.25, -0.6)])
def test_measure_finds_integer_and_subpixel_shifts(shift):
    world = smooth_field((1, 220, 260), seed=3)
    a = world[:, 20:180, 20:200]
    # b[j] = a[j + shift]: the world moved by -shift, sampled by band-limited interpolation.
    moved = np.fft.ifftn(ndimage.fourier_shift(np.fft.fftn(world), [-s for s in shift])).real
    b = moved[:, 20:180, 20:200]
    found = measure(a, b, np.zeros(3), 20.0, np.ones(3), a.size / 4)
    assert found.shift == pytest.approx(shift, abs=0.06)
    assert found.within_limit and found.score > 0.99
    unrelated = measure(a, smooth_field(a.shape, seed=4), np.zeros(3), 20.0, np.ones(3), a.size / 4)
    assert unrelated.score < 0.5


def test_measure_reports_a_match_beyond_the_maximum_shift():
    world = smooth_field((1, 200, 200), seed=5)
    a, b = world[:, 0:150, 0:150], world[:, 30:180, 0:150]  # b[j] = a[j + (30, 0)]
    found = measure(a, b, np.zeros(3), 20.0, np.ones(3), a.size / 4)
    assert not found.within_limit
    assert found.shift == pytest.approx((0, 30, 0), abs=0.1)
    flat = measure(a, np.full_like(b, 7.0), np.zeros(3), 20.0, np.ones(3), a.size / 4)
    assert flat.failure == "no contrast in the overlap" and flat.score == 0


def test_a_match_that_overlays_too_little_is_not_replaced_by_its_shoulder():
    world = smooth_field((1, 200, 200), seed=6)
    a, b = world[:, 0:100, 0:100], world[:, 70:170, 70:170]  # a 30 x 30 px corner in common
    found = measure(a, b, np.array([0, 60, 60]), 20.0, np.ones(3), 500)
    assert found.shift == pytest.approx((0, 70, 70), abs=0.05) and found.score > 0.99
    # Asked for 1000 px, the true offset (900 px) is no candidate; the best one that is, a
    # pixel or two inwards on the smooth content's slope, still scores 0.77 (at (68, 68)) but is
    # not the match.
    tight = measure(a, b, np.array([0, 60, 60]), 20.0, np.ones(3), 1000)
    assert tight.failure == "the best match overlays too little of the tiles"


def test_an_overlap_where_every_offset_matches_alike_measures_nothing():
    # A smooth ramp matches a ramp at every offset (NCC 1.0 everywhere): nothing is measured,
    # rather than an arbitrary offset with a perfect score.
    y, x = np.mgrid[0:120, 0:160]
    ramp = (3.0 * y + 2.0 * x)[None]
    found = measure(ramp[:, :100, :100], ramp[:, 10:110, 5:105], np.zeros(3), 20.0, np.ones(3), 2500)
    assert found.failure.startswith("featureless overlap") and found.score == 0


def grid_links(rows: int, cols: int) -> np.ndarray:
    index = np.arange(rows * cols).reshape(rows, cols)
    right = np.column_stack([index[:, :-1].ravel(), index[:, 1:].ravel()])
    down = np.column_stack([index[:-1].ravel(), index[1:].ravel()])
    return np.concatenate([right, down])


def test_solve_recovers_corrections_drops_an_outlier_and_carries_unlinked_tiles():
    rng = np.random.default_rng(6)
    truth = np.column_stack([np.zeros(25), rng.uniform(-20, 20, (25, 2))])
    links = grid_links(5, 5)
    shifts = truth[links[:, 1]] - truth[links[:, 0]] + rng.normal(0, 0.05, (len(links), 3))
    shifts[:, 0] = 0
    outlier = 5  # tiles 6 and 7, away from the edges
    shifts[outlier, 2] += 12.0
    accepted = np.ones(len(links), dtype=bool)
    centre = 12
    touching = (links == centre).any(axis=1)
    accepted[touching] = False  # the centre tile's overlaps are empty
    found = solve(25, links, shifts, np.ones(len(links)), accepted)
    assert not found.kept[outlier] and found.residuals[outlier] > 10
    assert found.kept.sum() == accepted.sum() - 1
    linked = [i for i in range(25) if i != centre]
    expected = truth - truth[linked].mean(axis=0)
    solved = found.corrections - found.corrections[linked].mean(axis=0)
    assert np.abs(solved[linked] - expected[linked]).max() < 0.25  # links carry 0.05 px noise
    # Unlinked, the centre tile keeps its stage offsets to its four neighbours on average.
    neighbours = links[touching][links[touching] != centre]
    assert found.corrections[centre] == pytest.approx(found.corrections[neighbours].mean(axis=0))
    assert np.allclose(found.corrections.mean(axis=0), 0)  # the gauge


def test_solve_moves_separate_islands_independently_and_leaves_lone_tiles():
    links = np.array([[0, 1], [2, 3]])
    shifts = np.array([[0, 4.0, 0], [0, 0, -6.0]])
    found = solve(5, links, shifts, np.ones(2), np.ones(2, dtype=bool))
    assert np.allclose(found.corrections, [[0, -2, 0], [0, 2, 0], [0, 0, 3], [0, 0, -3], [0, 0, 0]])
