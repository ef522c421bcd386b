"""Registration against known truth: synthetic mosaics with perturbed stage positions, and real
tiles (Fiji's graph paper, a Zeiss CZI) against what their other tools found."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ngff_fuse import transforms
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet
from ngff_fuse.register import apply_positions, qc_plot, register, write_positions
from ngff_fuse.register.pairs import overlapping_pairs, stage_pixels
from ngff_fuse.register.pairwise import ncc
from ngff_fuse.testing import SyntheticMosaic, SyntheticTile, in_memory_tileset, synthetic_mosaic


def noisy(mosaic: SyntheticMosaic, seed: int, empty: frozenset[int] = frozenset()) -> SyntheticMosaic:
    """Independent shot noise per tile, so overlaps agree in content but never in pixels;
    tiles in `empty` show background only (a constant level plus its noise)."""
    rng = np.random.default_rng(seed)
    tiles = tuple(
        SyntheticTile(
            rng.poisson(np.full_like(t.data, 200) if i in empty else t.data).astype(np.uint16),
            t.position, t.pixel_offset,
        )
        for i, t in enumerate(mosaic.tiles)
    )
    return SyntheticMosaic(mosaic.truth, tiles, mosaic.spacing, mosaic.origin, mosaic.channel_names)


def perturbed(mosaic: SyntheticMosaic, errors_px: np.ndarray) -> TileSet:
    """The mosaic's tiles at stage positions off the truth by `errors_px` (n, 3)."""
    spacing = np.asarray(mosaic.spacing)
    truth = np.array([t.position for t in mosaic.tiles])
    affines = [transforms.placement(mosaic.spacing, p + e * spacing) for p, e in zip(truth, errors_px)]
    return in_memory_tileset(mosaic, affines=affines)


def position_errors(tileset: TileSet, mosaic: SyntheticMosaic, tiles=None) -> np.ndarray:
    """(n, 3) px from the truth, the common offset removed (a mosaic's absolute position is
    not visible in its pixels; registration keeps the mean correction zero instead)."""
    spacing = np.asarray(mosaic.spacing)
    found = np.array([t.origin for t in tileset.tiles]) / spacing
    truth = np.array([t.position for t in mosaic.tiles]) / spacing
    error = found - truth
    tiles = range(len(error)) if tiles is None else tiles
    return error - error[list(tiles)].mean(axis=0)


def rms(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(errors**2, axis=1))))


def uniform_errors(n: int, reach: float, seed: int) -> np.ndarray:
    errors = np.random.default_rng(seed).uniform(-reach, reach, size=(n, 3))
    errors[:, 0] = 0.0  # 2-D
    return errors


@pytest.fixture(scope="module")
def grid():
    """6 x 6 tiles of 256^2, 15 % overlap (38 px), stage off the truth by up to +-25 px per axis
    per tile, so neighbours' stage offsets are wrong by up to 50 px per axis (70 px in all):
    more than the overlap itself."""
    mosaic = noisy(synthetic_mosaic(grid=(6, 6), tile_shape=(256, 256), overlap=0.15, smooth=True,
                                    seed=3), seed=5)
    tileset = perturbed(mosaic, uniform_errors(36, 25.0, seed=7))
    return mosaic, tileset, register(tileset, max_shift_px=75)


def test_perturbed_grid_registers_to_the_truth(grid):
    mosaic, stage, result = grid
    before, after = position_errors(stage, mosaic), position_errors(result.tileset, mosaic)
    assert rms(before) > 15
    # Measured 0.012 px RMS (0.021 px worst tile): the truth is integer pixels, so this is
    # what sub-pixel peak fitting adds on noisy overlaps.
    assert rms(after) < 0.1
    assert np.abs(after).max() < 0.3
    assert result.unlinked_tiles == 0
    # 4 of the 60 face-neighbour pairs do not overlap by their stage positions (the errors
    # eat the 38 px to under 2 % of a tile); compared because they come within the maximum
    # shift, all 60 are found.
    face = [link for link in result.links if (link.a, link.b) in face_pairs(6, 6)]
    assert all(link.accepted for link in face) and len(face) == 60
    overlapping = {(p.a, p.b) for p in overlapping_pairs(*stage_pixels(stage))}
    assert len(face_pairs(6, 6) - overlapping) == 4
    # Same tiles, pixels and channels: only the translations moved.
    for old, new in zip(stage.tiles, result.tileset.tiles):
        assert new.data is not old.data and new.data.data is old.data.data
        assert np.allclose(new.affine[:3, :3], old.affine[:3, :3])
        moved = new.data.coords["x"].values - old.data.coords["x"].values
        assert np.allclose(moved, new.origin[2] - old.origin[2])


def face_pairs(rows: int, columns: int) -> set[tuple[int, int]]:
    """Index pairs of the tiles side by side or one above the other in a row-major grid."""
    index = np.arange(rows * columns).reshape(rows, columns)
    return {(int(a), int(b)) for a, b in zip(index[:, :-1].ravel(), index[:, 1:].ravel())} | {
        (int(a), int(b)) for a, b in zip(index[:-1].ravel(), index[1:].ravel())}


def test_a_coarser_search_keeps_full_resolution_accuracy(grid):
    mosaic, stage, _ = grid
    result = register(stage, max_shift_px=75, downsample=8)  # searched on 8 x 8 px blocks
    # Measured 0.016 px RMS: the sub-pixel refinement is at full resolution either way.
    assert rms(position_errors(result.tileset, mosaic)) < 0.1
    assert result.accepted_links >= 75


def test_subpixel_truth_is_found_to_a_fraction_of_a_pixel():
    mosaic = noisy(synthetic_mosaic(grid=(6, 6), tile_shape=(256, 256), overlap=0.12, jitter=3,
                                    subpixel=True, smooth=True, seed=11), seed=12)
    result = register(perturbed(mosaic, uniform_errors(36, 25.0, seed=13)), max_shift_px=75)
    errors = position_errors(result.tileset, mosaic)
    # Measured 0.038 px RMS, 0.081 px worst; the tiles were resampled at fractional positions
    # by linear interpolation, which also blurs them, differently per tile.
    assert rms(errors) < 0.1
    assert np.abs(errors).max() < 0.3


def test_background_tiles_follow_their_neighbours_and_never_link_to_each_other():
    empty = frozenset({0, 10, 15, 17, 18, 21, 23, 25, 35})  # a quarter, corners and middle
    mosaic = noisy(synthetic_mosaic(grid=(6, 6), tile_shape=(256, 256), overlap=0.15, smooth=True,
                                    seed=3), seed=5, empty=empty)
    # A real stage: a systematic error (1 % scale, ~1 degree rotation: up to 18 px here) plus
    # +-2 px of random error per tile.
    spacing = np.asarray(mosaic.spacing)
    truth = np.array([t.position for t in mosaic.tiles]) / spacing
    systematic = np.array([[0, 0, 0], [0, 0.01, 0.02], [0, -0.02, 0.01]])
    errors = (truth - truth.mean(axis=0)) @ systematic.T + uniform_errors(36, 2.0, seed=8)
    result = register(perturbed(mosaic, errors))
    full = [i for i in range(36) if i not in empty]
    found = np.linalg.norm(position_errors(result.tileset, mosaic, tiles=full), axis=1)
    assert found[full].max() < 0.3
    # Measured 0.3 to 5.7 px, mean 3.1 (their stage errors: 4.2 to 18.2 px, mean 11.4); the
    # worst are corner tiles, which have only two neighbours to follow.
    stage = np.linalg.norm(errors - errors[full].mean(axis=0), axis=1)
    assert found[sorted(empty)].max() < 7
    assert found[sorted(empty)].mean() < 0.4 * stage[sorted(empty)].mean()
    assert result.unlinked_tiles == len(empty)
    between = [link for link in result.links if link.a in empty and link.b in empty]
    assert between and not any(link.accepted for link in between)
    assert all(link.score < result.score_threshold for link in between)
    assert not any(link.accepted for link in result.links if link.a in empty or link.b in empty)
    (note,) = [note for note in result.tileset.notes if "no accepted link" in note]
    assert "9 of 36 tiles" in note and note.startswith("warning:")
    assert note.endswith(", ".join(f"tile {i}" for i in sorted(empty)))
    assert [t.name for t in result.unlinked] == [f"tile {i}" for i in sorted(empty)]
    assert result.to_metadata()["unlinked_tiles"] == [f"tile {i}" for i in sorted(empty)]


@pytest.mark.parametrize("grid3", [(2, 2, 2), (1, 3, 3)])
def test_3d_grid(grid3):
    mosaic = noisy(synthetic_mosaic(grid=grid3, tile_shape=(24, 64, 64), overlap=0.25, jitter=2,
                                    subpixel=True, smooth=True, seed=4), seed=1)
    n = len(mosaic.tiles)
    rng = np.random.default_rng(2)
    errors = np.column_stack([rng.uniform(-2, 2, n), rng.uniform(-6, 6, (n, 2))])
    if grid3[0] == 1:
        errors[:, 0] = 0.0  # one layer: no z overlap to measure z from
    result = register(perturbed(mosaic, errors), max_shift_px=20)
    found = position_errors(result.tileset, mosaic)
    # Measured 0.04 px RMS, 0.07 px worst (2 x 2 x 2); 0.03 px, 0.04 px (1 x 3 x 3).
    assert rms(found) < 0.25
    assert np.abs(found).max() < 0.5
    # Every face neighbour links; of the corner and edge neighbours, only those whose best
    # match overlays too little of the tiles to be measured (a corner of a corner) do not.
    cells = np.array(np.unravel_index(np.arange(n), grid3)).T
    face = [link for link in result.links if np.abs(cells[link.a] - cells[link.b]).sum() == 1]
    assert face and all(link.accepted for link in face)
    assert all(link.accepted or "overlays too little" in link.reason for link in result.links)


def test_positions_files_round_trip(grid, tmp_path):
    _, stage, result = grid
    refined = np.array([t.origin for t in result.tileset.tiles])
    from_json = apply_positions(stage, write_positions(result, tmp_path / "positions.json"))
    assert np.array_equal([t.origin for t in from_json.tiles], refined)
    from_txt = apply_positions(stage, write_positions(result, tmp_path / "positions.txt"))
    assert np.allclose([t.origin for t in from_txt.tiles], refined, rtol=0, atol=1e-9)

    document = json.loads((tmp_path / "positions.json").read_text())
    assert document["unit"] == "micrometer" and document["axes"] == ["z", "y", "x"]
    tile = document["tiles"][7]
    assert tile["position"] == list(result.tileset.tiles[7].origin)
    assert np.allclose(np.subtract(tile["position_px"], tile["stage_position_px"]),
                       tile["correction_px"])
    link = document["links"][0]
    assert link["accepted"] is result.links[0].accepted
    assert np.allclose(np.add(link["stage_offset_px"], link["shift_px"]), link["measured_offset_px"])
    assert document["registration"]["links"]["accepted"] == result.accepted_links
    json.dumps(result.to_metadata(), allow_nan=False)


def test_txt_positions_are_a_tileconfiguration_of_the_tiles(tmp_path):
    from ngff_fuse.readers import read_input
    from ngff_fuse.readers.tileconfig import TileConfigEntry, format_tileconfig, parse_tileconfig
    from ngff_fuse.testing.tile_files import write_tiff_tiles

    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(96, 128), overlap=0.2, spacing=(1.0, 0.5, 0.5))
    files = write_tiff_tiles(mosaic, tmp_path)
    off = uniform_errors(len(files), 6.0, seed=3)
    entries = [
        TileConfigEntry(f.name, None, (t.pixel_offset[2] + e[2], t.pixel_offset[1] + e[1]))
        for f, t, e in zip(files, mosaic.tiles, off)
    ]
    (tmp_path / "stage.txt").write_text(format_tileconfig(2, entries))
    (stage,) = read_input(tmp_path / "stage.txt")
    result = register(stage)
    assert rms(position_errors(result.tileset, mosaic)) < 0.1
    written = write_positions(result, tmp_path / "registered.txt")
    dim, listed = parse_tileconfig(written.read_text(), str(written))
    assert dim == 2 and [e.file for e in listed] == [f.name for f in files]
    # Fiji's format, read back by ngff-fuse's own TileConfiguration reader: the same placement.
    (again,) = read_input(written)
    assert np.allclose([t.origin for t in again.tiles], [t.origin for t in result.tileset.tiles],
                       rtol=0, atol=1e-9)


def test_positions_for_other_tiles_are_refused(grid, tmp_path):
    _, stage, result = grid
    path = write_positions(result, tmp_path / "p.json")
    fewer = TileSet(tiles=stage.tiles[:-1], spacing=stage.spacing, dims=stage.dims)
    with pytest.raises(InputError, match="lists 36 tiles but mosaic has 35"):
        apply_positions(fewer, path)
    swapped = TileSet(tiles=(stage.tiles[1], stage.tiles[0], *stage.tiles[2:]),
                      spacing=stage.spacing, dims=stage.dims)
    with pytest.raises(InputError, match="tile 0 is 'tile 0' there but 'tile 1'"):
        apply_positions(swapped, path)
    txt = write_positions(result, tmp_path / "p.txt")
    with pytest.raises(InputError, match="tile 0 is 'tile 0' there but 'tile 1'"):
        apply_positions(swapped, txt)
    coarser = TileSet(tiles=stage.tiles, spacing=(2.0, 1.3, 1.3), dims=stage.dims)
    with pytest.raises(InputError, match="pixel size"):
        apply_positions(coarser, path)
    with pytest.raises(InputError, match=r"\.txt .* or \.json"):
        write_positions(result, tmp_path / "p.csv")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(InputError, match="not an ngff-fuse positions file"):
        apply_positions(stage, tmp_path / "other.json")
    with pytest.raises(InputError, match="no such positions file"):
        apply_positions(stage, tmp_path / "missing.json")


def test_qc_plot(grid, tmp_path):
    _, _, result = grid
    path = qc_plot(result, tmp_path / "registration.png")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000  # tiles, links and arrows drawn, not an empty frame


def test_bad_options_are_one_line_errors(grid):
    _, stage, _ = grid
    with pytest.raises(InputError, match=r"no channel 2 .* 0 \(Ch0-488\)"):
        register(stage, channel=2)
    with pytest.raises(InputError, match="maximum shift"):
        register(stage, max_shift_px=-1)
    rotated = stage.tiles[0]
    turn = np.eye(4)
    turn[1:3, 1:3] = [[0, -1], [1, 0]]
    tiles = (Tile(rotated.data, rotated.affine @ turn, rotated.name, rotated.source), *stage.tiles[1:])
    with pytest.raises(InputError, match="translations only"):
        register(TileSet(tiles=tiles, spacing=stage.spacing, dims=stage.dims))


class Recorder:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def start(self, label: str, total: int, unit: str = "") -> None:
        self.events.append(("start", total, unit))

    def advance(self, label: str, amount: int = 1) -> None:
        self.events.append(("advance", amount))

    def finish(self, label: str) -> None:
        self.events.append(("finish",))

    def note(self, message: str) -> None:
        self.events.append(("note", message))


def test_channel_by_name_progress_and_single_tile():
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(64, 64), channels=2)
    tileset = in_memory_tileset(mosaic)
    progress = Recorder()
    result = register(tileset, channel="Ch1-561", progress=progress)
    assert result.channel == 1 and len(result.links) == 1 and result.links[0].accepted
    assert progress.events == [("start", 1, "links"), ("advance", 1), ("finish",)]
    alone = TileSet(tiles=tileset.tiles[:1], spacing=tileset.spacing, dims=tileset.dims)
    single = register(alone)
    assert single.links == () and single.tiles[0].correction_px == (0.0, 0.0, 0.0)


# --- real data --------------------------------------------------------------------------------


def agreement(fused: np.ndarray, tileset: TileSet) -> np.ndarray:
    """Per tile: NCC of its pixels with the fused mosaic where it was placed. Where tiles
    disagree (doubled lines, ghosts) the blend matches neither of them."""
    spacing = np.asarray(tileset.spacing[1:])
    low = tileset.bounds()[0][1:] / spacing
    scores = []
    for tile in tileset.tiles:
        y, x = np.round(tile.origin[1:] / spacing - low).astype(int)
        pixels = tile.data.values[0, 0, 0]
        h, w = pixels.shape
        under = fused[max(y, 0) : y + h, max(x, 0) : x + w]
        own = pixels[max(-y, 0) :, max(-x, 0) :][: under.shape[0], : under.shape[1]]
        scores.append(ncc(under, own))
    return np.array(scores)


def test_fiji_graph_paper(shared_dir):
    from ngff_fuse.fuse.core import fuse
    from ngff_fuse.readers import read_input
    from ngff_fuse.readers.tileconfig import parse_tileconfig

    folder = shared_dir / "realdata" / "fiji-tileconfig-graphpaper"
    (nominal,) = read_input(folder / "tile_config.txt")
    result = register(nominal)
    _, listed = parse_tileconfig((folder / "tile_config.registered.txt").read_text(), "fiji")
    fiji = np.array([[0.0, e.position[1], e.position[0]] for e in listed])
    # Every pair of neighbours is matched. Tiles two apart abut by the stage, so they are
    # compared too, and linked only where Fiji's positions make them overlap (measured: 5-7 and
    # 8-10, by 12 and 31 px there; 3-5 and 4-6 overlap by 78 and 110 px there, but we measure
    # them beyond the maximum shift); where Fiji puts them 38-80 px apart, no link (a sliver of
    # graph paper matching a sliver elsewhere is refused).
    neighbours = [link for link in result.links if link.b == link.a + 1]
    assert len(neighbours) == 9 and all(link.accepted for link in neighbours)
    apart = [link for link in result.links if link.b == link.a + 2]
    width = nominal.tiles[0].spatial_shape[2]
    overlap_in_fiji = [fiji[link.b, 2] - fiji[link.a, 2] < width for link in apart]
    assert len(apart) == 8 and sum(overlap_in_fiji) == 4
    assert all(fiji_overlap for link, fiji_overlap in zip(apart, overlap_in_fiji) if link.accepted)
    assert sum(link.accepted for link in apart) == 2
    ours = np.array([t.origin for t in result.tileset.tiles])
    difference = (ours - fiji) - (ours - fiji).mean(axis=0)
    # Per tile (y, x) px from Fiji, common offset removed (measured):
    #   (5.9, 10.1) (2.3, 3.1) (1.5, 2.5) (1.4, 2.0) (1.4, 1.6)
    #   (0.0, -5.1) (0.6, -10.2) (-4.2, 7.7) (-4.0, -1.8) (-4.9, -9.9)
    # The tiles are hand-held photos of paper: perspective and lens distortion differ from
    # tile to tile, so no translation fits a whole 50 % overlap and the best one depends on
    # what dominates the overlap; differences of a few px per link accumulate along the row.
    # The 18 px jump between tiles 7 and 8 is Fiji's link 7.tif-8.tif (334 px vs our 352 px):
    # the NCC of that overlap is 0.52 at Fiji's offset and 0.61 at ours.
    assert np.abs(difference).max() < 12
    # The links of tiles two apart close loops, which no translation satisfies exactly on
    # these photos: ours overlays each neighbour pair within 0.01 NCC of Fiji's (measured: at
    # worst 0.781 vs 0.789, pair 5-6) and all of them together better (6.80 vs 6.69).
    scores = []
    for a in range(9):
        fiji_offset, our_offset = fiji[a + 1] - fiji[a], ours[a + 1] - ours[a]
        pixels = [t.data.values[0, 0, 0].astype(float) for t in nominal.tiles[a : a + 2]]
        scores.append([overlap_ncc(*pixels, offset[1:]) for offset in (fiji_offset, our_offset)])
    scores = np.array(scores)
    assert np.all(scores[:, 1] >= scores[:, 0] - 0.01) and scores[:, 1].sum() > scores[:, 0].sum()
    # Fused: at the nominal positions the neighbour that shows across the middle of each 50 %
    # overlap is ~40 px off, so each tile agrees poorly with the mosaic over it (0.65 at
    # worst, mean 0.77); refined, every tile agrees as well as with Fiji's registered
    # positions (measured 0.816 at worst, mean 0.879; Fiji's positions in our fusion: 0.822, 0.875).
    before = agreement(fuse(nominal).values, nominal)
    after = agreement(fuse(result.tileset).values, result.tileset)
    fiji_placed = nominal.moved_to(fiji, "Fiji")
    reference = agreement(fuse(fiji_placed).values, fiji_placed)
    assert before.min() < 0.7 and after.min() > 0.8
    assert after.mean() > before.mean() + 0.08
    assert after.mean() > reference.mean() - 0.01


def overlap_ncc(a: np.ndarray, b: np.ndarray, offset) -> float:
    """NCC of two tiles' common pixels, b's first pixel at `offset` (y, x) px of a's frame."""
    dy, dx = (int(round(v)) for v in offset)
    h, w = a.shape
    return ncc(a[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)],
               b[max(-dy, 0) : h - max(dy, 0), max(-dx, 0) : w - max(dx, 0)])


def test_czi_convallaria_two_tiles(shared_dir):
    from ngff_fuse.readers import read_input

    (tileset,) = read_input(shared_dir / "realdata" / "czi-convallaria" / "mosaic_test.czi")
    result = register(tileset)
    (link,) = result.links
    # The stage centres are 900.9 um = 831.6 px apart; the pixels say the second tile sits
    # (-1.69, -6.59) px (y, x) from there: 825.0 px, so the tiles overlap by 99 px, not 92.
    # NCC of the overlap: 0.965 at the measured offset, 0.126 at the stage's.
    assert link.accepted
    assert link.stage_offset_px[1:] == pytest.approx((0.0, 831.6), abs=0.01)
    assert link.shift_px[1:] == pytest.approx((-1.69, -6.59), abs=0.1)
    a, b = (t.data.values[0, 0, 0].astype(float) for t in tileset.tiles)
    before = overlap_ncc(a, b, link.stage_offset_px[1:])
    after = overlap_ncc(a, b, link.measured_offset_px[1:])
    assert before < 0.2 and after > 0.95
    assert link.score == pytest.approx(after, abs=0.01)
