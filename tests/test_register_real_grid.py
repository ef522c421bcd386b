"""Registration when the stage error is as large as the overlap, on real tiles (issue 12.1).

A real widefield image (the Convallaria CZI of ../shared) is cut into a 5 x 5 grid of
122 x 245 px tiles with uneven overlaps of 4-15 px, so the truth is exact, and the tiles are
put at stage positions off by up to +-20 px (+-30 px with a maximum shift of 80 px): true
neighbours then often do not overlap by the stage at all. Every tile must come back within
1 px of the truth; what the images cannot place is named and placed by the stage model.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ngff_fuse.register import qc_plot, register
from ngff_fuse.register.pairs import overlapping_pairs, stage_pixels
from ngff_fuse.testing import SyntheticMosaic
from ngff_fuse.testing.real_grid import convallaria, cut_grid, errors_px, jittered

GRID, TILE, OVERLAPS = (5, 5), (122, 245), (4, 15)


@pytest.fixture(scope="module")
def image(shared_dir) -> np.ndarray:
    return convallaria(shared_dir / "realdata" / "czi-convallaria" / "mosaic_test.czi")


def face_pairs(rows: int, columns: int) -> set[tuple[int, int]]:
    index = np.arange(rows * columns).reshape(rows, columns)
    return {(int(a), int(b)) for a, b in zip(index[:, :-1].ravel(), index[:, 1:].ravel())} | {
        (int(a), int(b)) for a, b in zip(index[:-1].ravel(), index[1:].ravel())}


@pytest.mark.parametrize(("error", "max_shift", "seed"), [
    (20.0, None, 0), (20.0, None, 1), (20.0, None, 2), (30.0, 80.0, 3), (30.0, 80.0, 4),
])
def test_every_real_tile_lands_within_a_pixel_of_the_truth(image, error, max_shift, seed):
    mosaic = cut_grid(image, GRID, TILE, OVERLAPS, seed=seed)
    stage = jittered(mosaic, error, seed=100 + seed)
    # The hard case: neighbours that the stage puts apart (or nearly) and tiles far off.
    by_stage = {(p.a, p.b) for p in overlapping_pairs(*stage_pixels(stage))}
    assert face_pairs(*GRID) - by_stage
    assert errors_px(stage, mosaic).max() > error / 2
    result = register(stage, max_shift_px=max_shift)
    assert errors_px(result.tileset, mosaic).max() <= 1.0
    assert result.unlinked_tiles == 0 and not result.detached_groups
    assert not result.tileset.notes[len(stage.notes):]


def blanked(mosaic: SyntheticMosaic, boxes: dict[int, list[tuple[slice, slice]]]) -> SyntheticMosaic:
    """The mosaic with these (y, x) boxes of these tiles set to a constant (a dark, empty or
    saturated field: no feature to match)."""
    tiles = list(mosaic.tiles)
    for index, cuts in boxes.items():
        data = tiles[index].data.copy()
        for box in cuts:
            data[(..., *box)] = 500
        tiles[index] = replace(tiles[index], data=data)
    return replace(mosaic, tiles=tuple(tiles))


def corrections(result) -> np.ndarray:
    return np.array([t.correction_px for t in result.tiles])


def test_a_featureless_tile_is_named_and_placed_by_the_stage_model(image):
    everything = (slice(None), slice(None))
    mosaic = blanked(cut_grid(image, GRID, TILE, OVERLAPS, seed=5), {12: [everything]})
    result = register(jittered(mosaic, 20.0, seed=105))
    assert not any(link.accepted for link in result.links if 12 in (link.a, link.b))
    assert [t.name for t in result.unlinked] == ["tile 12"]
    (note,) = result.tileset.notes
    assert note.startswith("warning:") and note.endswith("relative to their neighbours: tile 12")
    assert result.to_metadata()["unlinked_tiles"] == ["tile 12"]
    # The others are where they belong; tile 12 keeps its stage offsets to the tiles it was
    # compared with, on average (its correction is theirs, averaged).
    distance = errors_px(result.tileset, mosaic)
    assert np.delete(distance, 12).max() <= 1.0
    compared = [link.b if link.a == 12 else link.a for link in result.links if 12 in (link.a, link.b)]
    assert len(compared) == 8  # four faces, four corners
    assert corrections(result)[12] == pytest.approx(corrections(result)[compared].mean(axis=0))


def test_a_group_linked_only_within_itself_is_named_and_kept_on_the_stage_model(image, tmp_path):
    # Tiles 4 and 9 (top right) match each other, but their edges facing the rest are blank.
    left, bottom = (slice(None), slice(0, 60)), (slice(-60, None), slice(None))
    mosaic = blanked(cut_grid(image, GRID, TILE, OVERLAPS, seed=6), {4: [left], 9: [left, bottom]})
    stage = jittered(mosaic, 20.0, seed=106)
    result = register(stage)
    assert [[t.name for t in group] for group in result.detached_groups] == [["tile 4", "tile 9"]]
    assert result.unlinked_tiles == 0
    assert result.to_metadata()["detached_groups"] == [["tile 4", "tile 9"]]
    (note,) = result.tileset.notes
    assert "not to the largest group" in note and note.endswith("tile 4, tile 9")
    distance = errors_px(result.tileset, mosaic)
    assert np.delete(distance, [4, 9]).max() <= 1.0
    # Within the group the images hold: 4 and 9 sit right relative to each other.
    truth = np.array([t.position for t in mosaic.tiles])
    found = np.array([t.origin for t in result.tileset.tiles])
    assert np.linalg.norm((found[9] - found[4]) - (truth[9] - truth[4])) <= 1.0
    # As a body, the group keeps its stage offsets to the tiles around it on average: no
    # drift, so it is off by no more than the stage errors are.
    across = [(l.a, l.b) if l.a in (4, 9) else (l.b, l.a)
              for l in result.links if (l.a in (4, 9)) != (l.b in (4, 9))]
    moved = corrections(result)
    assert np.mean([moved[g] - moved[o] for g, o in across], axis=0) == pytest.approx(0, abs=1e-9)
    assert distance[[4, 9]].max() <= 2 * np.sqrt(2) * 20.0
    # ... and the QC plot names them (SVG with text kept as text, to read it back).
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = qc_plot(result, tmp_path / "qc.svg").read_text()
    assert "not linked to the largest group: tile 4, tile 9" in svg


def test_periodic_content_with_a_threshold_of_one_accepts_nothing():
    # A perfect lattice: every overlap matches its neighbour's turned by 180 degrees as well as
    # its true neighbour (NCC 1.0 at every period), so the learnt threshold is 1.0 and no link
    # may equal its way past it.
    y, x = np.mgrid[0:700, 0:1300]
    lattice = (1000 + 400 * np.cos(2 * np.pi * y / 16) + 400 * np.cos(2 * np.pi * x / 16))
    mosaic = cut_grid(lattice.astype(np.uint16), (3, 3), TILE, OVERLAPS, seed=0)
    result = register(jittered(mosaic, 10.0, seed=0))
    assert result.score_threshold == pytest.approx(1.0, abs=1e-5)
    assert max(link.score for link in result.links) == pytest.approx(1.0, abs=1e-5)
    assert result.accepted_links == 0 and result.unlinked_tiles == 9
    assert np.allclose(corrections(result), 0)  # every tile keeps its stage position
    assert result.tileset.notes == (
        "warning: registration: no overlap matched, every tile keeps its stage position: "
        + ", ".join(f"tile {i}" for i in range(9)),
    )
