"""Fused pixels against the ground truth the tiles were cut from."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ngff_fuse import transforms
from ngff_fuse.fuse.core import fuse
from ngff_fuse.fuse.plan import output_grid, plan_fusion
from ngff_fuse.testing import SyntheticMosaic, in_memory_tileset, synthetic_mosaic

BLENDS = ["feather", "mean", "max", "first"]


AXES = ("t", "c", "z", "y", "x")


def as5d(fused) -> np.ndarray:
    """The fused values as (t, c, z, y, x), whatever axes the mosaic kept."""
    values = fused.transpose(*[ax for ax in AXES if ax in fused.dims]).values
    for ax in AXES:
        if ax not in fused.dims:
            values = np.expand_dims(values, AXES.index(ax))
    return values


def truth_on_grid(mosaic: SyntheticMosaic, fused) -> tuple[np.ndarray, np.ndarray]:
    """The ground truth sampled on the fused grid as (t, c, z, y, x), and the (z, y, x) mask
    of the grid pixels that some tile covers."""
    grid_origin = np.array([fused.coords[ax].values.reshape(-1)[0] for ax in ("z", "y", "x")])
    first = (grid_origin - np.array(mosaic.origin)) / np.array(mosaic.spacing)
    shape = [fused.sizes.get(ax, 1) for ax in ("z", "y", "x")]
    coords = np.stack(np.meshgrid(*[np.arange(n) + f for n, f in zip(shape, first)], indexing="ij"))
    covered = np.zeros(shape, dtype=bool)
    for tile in mosaic.tiles:
        inside = np.ones(shape, dtype=bool)
        for a in range(3):
            off, n = tile.pixel_offset[a], tile.data.shape[2 + a]
            # a tile covers the output pixels whose centres fall in its pixels' area
            inside &= (coords[a] >= off - 0.5 - 1e-6) & (coords[a] < off + n - 0.5 - 1e-6)
        covered |= inside
    t, c = mosaic.truth.shape[:2]
    truth = np.empty((t, c, *shape))
    for ti, ci in np.ndindex(t, c):
        truth[ti, ci] = ndimage.map_coordinates(mosaic.truth[ti, ci].astype(float), coords, order=1)
    if all(float(v).is_integer() for v in np.round(first, 9)):
        truth = np.rint(truth)  # integer grid: the samples are the truth pixels themselves
    return truth, covered


@pytest.mark.parametrize("blend", BLENDS)
@pytest.mark.parametrize("threed", [False, True], ids=["2d", "3d"])
def test_integer_positions_reproduce_the_truth_exactly(blend, threed):
    if threed:
        mosaic = synthetic_mosaic(grid=(2, 2, 2), tile_shape=(12, 40, 48), channels=2, timepoints=2)
    else:
        mosaic = synthetic_mosaic(grid=(3, 3), tile_shape=(50, 60), channels=3)
    tileset = in_memory_tileset(mosaic)
    reference = None
    for chunk in [(4, 16, 16), (5, 37, 23), (64, 1024, 1024)]:
        fused = fuse(tileset, blend=blend, chunk_size=chunk)
        values = as5d(fused)
        truth, covered = truth_on_grid(mosaic, fused)
        assert values.dtype == mosaic.truth.dtype
        assert np.array_equal(values[..., covered], truth[..., covered].astype(values.dtype))
        assert np.all(values[..., ~covered] == 0)
        if reference is None:
            reference = values
        assert np.array_equal(values, reference), f"chunk {chunk} changed the result"


def test_mosaic_dims_follow_the_source():
    two_d = fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 2), tile_shape=(30, 30))))
    assert two_d.dims == ("y", "x")
    stack = fuse(in_memory_tileset(synthetic_mosaic(grid=(1, 2, 2), tile_shape=(6, 30, 30), channels=2)))
    assert stack.dims == ("c", "z", "y", "x")
    assert list(stack.coords["c"].values) == ["Ch0-488", "Ch1-561"]


def test_physical_coordinates_start_at_the_lowest_tile():
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(40, 50), origin=(0.0, -987.25, -4321.5))
    fused = fuse(in_memory_tileset(mosaic))
    positions = np.array([t.position for t in mosaic.tiles])
    assert float(fused.coords["y"][0]) == pytest.approx(positions[:, 1].min(), abs=1e-9)
    assert float(fused.coords["x"][0]) == pytest.approx(positions[:, 2].min(), abs=1e-9)
    assert float(fused.coords["x"][1] - fused.coords["x"][0]) == pytest.approx(mosaic.spacing[2])


@pytest.mark.parametrize("blend", BLENDS)
def test_subpixel_positions_within_interpolation_error(blend):
    mosaic = synthetic_mosaic(grid=(3, 3), tile_shape=(64, 72), subpixel=True, smooth=True, channels=2)
    fused = fuse(in_memory_tileset(mosaic), blend=blend, chunk_size=(1, 48, 48))
    values = as5d(fused).astype(float)
    truth, covered = truth_on_grid(mosaic, fused)
    error = np.abs(values - truth)[..., covered]
    # Two linear resamplings (camera at a sub-pixel stage position, then fusion) of structure
    # down to 1.5 px: a mean error of 1 % and nothing beyond 4 % of the brightest truth.
    assert error.mean() < 0.01 * truth[..., covered].mean()
    assert error.max() < 0.04 * truth.max()
    assert np.all(values[..., ~covered] == 0)
    # and the result does not depend on the chunking
    again = as5d(fuse(in_memory_tileset(mosaic), blend=blend, chunk_size=(1, 1024, 1024)))
    assert np.array_equal(again, as5d(fused))


@pytest.mark.parametrize("blend", ["feather", "mean", "max"])
def test_tile_order_does_not_matter_for_symmetric_blends(blend):
    mosaic = synthetic_mosaic(grid=(3, 3), tile_shape=(40, 40), subpixel=True, jitter=5)
    order = list(np.random.default_rng(3).permutation(len(mosaic.tiles)))
    a = fuse(in_memory_tileset(mosaic), blend=blend).values
    b = fuse(in_memory_tileset(mosaic, order=order), blend=blend).values
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1  # float summation order only


def test_first_keeps_the_earlier_tile():
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(20, 30), overlap=0.3, jitter=0)
    tiles = list(mosaic.tiles)
    marked = tiles[1].data.copy()
    marked[:] = 7
    tiles[1] = type(tiles[1])(data=marked, position=tiles[1].position, pixel_offset=tiles[1].pixel_offset)
    fused = fuse(in_memory_tileset(type(mosaic)(mosaic.truth, tuple(tiles), mosaic.spacing,
                                                 mosaic.origin, mosaic.channel_names)), blend="first")
    values = fused.values
    overlap_start = int(tiles[1].pixel_offset[2] - tiles[0].pixel_offset[2])
    assert np.array_equal(values[:, :overlap_start], tiles[0].data[0, 0, 0][:, :overlap_start])
    assert np.array_equal(values[:, overlap_start:30], tiles[0].data[0, 0, 0][:, overlap_start:])
    assert np.all(values[:, 30:] == 7)


def test_feather_has_no_seam_where_tiles_disagree():
    """With a brightness step between two tiles, feather ramps across the overlap."""
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(16, 100), overlap=0.4, jitter=0)
    tiles = list(mosaic.tiles)
    flat = [np.full_like(t.data, 1000 + 1000 * i) for i, t in enumerate(tiles)]
    tiles = [type(t)(data=f, position=t.position, pixel_offset=t.pixel_offset) for t, f in zip(tiles, flat)]
    fused = fuse(in_memory_tileset(type(mosaic)(mosaic.truth, tuple(tiles), mosaic.spacing,
                                                 mosaic.origin, mosaic.channel_names)))
    row = fused.values[8].astype(int)
    steps = np.diff(row)
    assert row[0] == 1000 and row[-1] == 2000
    assert np.all(steps >= 0) and steps.max() < 100  # a smooth ramp, not a 1000-level jump


def test_fill_value_and_float_dtype():
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(30, 30), jitter=4, dtype=np.uint16)
    holes = fuse(in_memory_tileset(mosaic), fill=17).values
    _, covered = truth_on_grid(mosaic, fuse(in_memory_tileset(mosaic)))
    assert (~covered).any() and np.all(holes[~covered[0]] == 17)


def test_rotated_tiles_take_the_general_path():
    """Tiles placed by a small rotation: compare with scipy resampling the truth directly."""
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(60, 60), jitter=0, smooth=True)
    angle = np.deg2rad(2.0)
    rotation = np.eye(4)
    rotation[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    # Rotate the whole acquisition about the truth origin: tile pixel -> truth pixel stays a
    # translation, truth pixel -> physical becomes scale @ rotation.
    truth_to_phys = transforms.placement(mosaic.spacing, mosaic.origin) @ rotation
    affines = [truth_to_phys @ transforms.translation(t.pixel_offset) for t in mosaic.tiles]
    tileset = in_memory_tileset(mosaic, affines=affines)
    fused = fuse(tileset, chunk_size=(1, 32, 32))
    grid = output_grid(tileset)
    # grid pixel -> truth pixel
    grid_to_truth = np.linalg.inv(truth_to_phys) @ grid.affine
    zz, yy, xx = np.meshgrid(*[np.arange(n) for n in grid.shape], indexing="ij")
    points = transforms.apply(grid_to_truth, np.stack([zz, yy, xx], -1).reshape(-1, 3))
    expected = ndimage.map_coordinates(mosaic.truth[0, 0, 0].astype(float), points[:, 1:].T, order=1)
    expected = expected.reshape(grid.shape[1:])
    covered = np.zeros(grid.shape[1:], bool)
    for t in mosaic.tiles:
        ty, tx = points[:, 1] - t.pixel_offset[1], points[:, 2] - t.pixel_offset[2]
        covered |= ((ty >= -0.5) & (ty < 59.5) & (tx >= -0.5) & (tx < 59.5)).reshape(grid.shape[1:])
    inner = ndimage.binary_erosion(covered, iterations=2)
    assert not all(p.offset is not None for p in plan_fusion(tileset, (1, 32, 32)).placements)
    assert np.abs(fused.values.astype(float) - expected)[inner].max() <= 1.0
    assert np.all(fused.values[~covered] == 0)


def test_graph_grows_with_chunks_not_chunks_times_tiles():
    mosaic = synthetic_mosaic(grid=(6, 6), tile_shape=(32, 32), overlap=0.1)
    fused = fuse(in_memory_tileset(mosaic), chunk_size=(1, 16, 16), squeeze=False)
    graph = fused.data.__dask_graph__()
    chunks = int(np.prod(fused.data.numblocks))
    assert len(graph) <= chunks + 1  # one task per chunk plus one node holding the tiles
