"""Property tests of the plan and the samplers: random tile sizes, offsets (whole, sub-pixel
and dyadic fractions that land exactly on pixel edges), small rotations and shears, and chunk
sizes. Every output pixel must be covered by exactly the tiles a brute-force test of its
centre against every tile's footprint finds, chunk edges or not."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ngff_fuse import fuse, transforms
from ngff_fuse.fuse.plan import output_grid
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array

SPACING = (1.0, 1.0, 1.0)


@st.composite
def layouts(draw):
    is_3d = draw(st.booleans())
    n = draw(st.integers(1, 4))
    depth = draw(st.integers(2, 5)) if is_3d else 1  # 2-D tiles and z-stacks do not mix
    tiles = []
    for _ in range(n):
        shape = (depth, draw(st.integers(1, 12)), draw(st.integers(1, 12)))
        # eighths of a pixel: many offsets put a footprint edge exactly on a pixel centre
        offset = [draw(st.integers(-40, 40)) / 8 for _ in range(3)]
        if not is_3d:
            offset[0] = 0.0
        angle = draw(st.sampled_from([0.0, 0.0, 0.05, -0.2]))
        shear = draw(st.sampled_from([0.0, 0.0, 0.1]))
        linear = np.eye(3)
        linear[1:, 1:] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        linear[1, 2] += shear
        tiles.append((shape, offset, linear))
    assume(len({tuple(offset) for _, offset, _ in tiles}) == n)  # one tile per position
    chunk = (draw(st.integers(1, 4)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    return is_3d, tiles, chunk


def tileset_of(is_3d, tiles, lit: int) -> TileSet:
    """Tile `lit` has pixels 1, the others 0."""
    built = []
    for i, (shape, offset, linear) in enumerate(tiles):
        affine = transforms.translation(offset)
        affine[:3, :3] = linear
        data = np.full((1, 1, *shape), 1.0 if i == lit else 0.0, dtype=np.float32)
        built.append(Tile(data=tile_array(data, SPACING, offset, f"t{i}"), affine=affine,
                          name=f"t{i}", source=TileSource(f"memory {i}")))
    return TileSet(tiles=tuple(built), spacing=SPACING, dims=("z", "y", "x") if is_3d else ("y", "x"),
                   name="random", unit=None)


def brute_force_cover(tileset: TileSet) -> tuple[np.ndarray, np.ndarray]:
    """Per tile: which grid pixel centres its footprint [-1/2, n - 1/2) holds, and which lie
    within 1e-4 px of its edge (where rounding may decide either way)."""
    grid = output_grid(tileset)
    centres = np.stack(np.meshgrid(*[np.arange(n) for n in grid.shape], indexing="ij"), -1)
    physical = transforms.apply(grid.affine, centres.reshape(-1, 3).astype(float))
    covers, edges = [], []
    for tile in tileset.tiles:
        s = transforms.apply(np.linalg.inv(tile.affine), physical)
        n = np.asarray(tile.spatial_shape, dtype=float)
        if not tileset.is_3d:
            s[:, 0] = 0.0  # 2-D: every tile is fused into the one plane
        inside = np.all((s >= -0.5) & (s < n - 0.5), axis=1)
        near = np.any((np.abs(s + 0.5) < 1e-4) | (np.abs(s - (n - 0.5)) < 1e-4), axis=1)
        covers.append(inside.reshape(grid.shape))
        edges.append(near.reshape(grid.shape))
    return np.array(covers), np.array(edges)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_every_pixel_is_covered_by_exactly_the_tiles_brute_force_finds(layout):
    is_3d, tiles, chunk = layout
    covers, edges = brute_force_cover(tileset_of(is_3d, tiles, lit=-1))
    for k in range(len(tiles)):
        fused = np.asarray(fuse(tileset_of(is_3d, tiles, lit=k), blend="max", fill=-1.0,
                                chunk_size=chunk, squeeze=False)[0, 0])
        decided = ~edges[k]
        # 1 where tile k covers the pixel, 0 where only others do, -1 where none does
        assert np.array_equal(fused[decided] == 1, covers[k][decided])
        nobody = ~covers.any(axis=0) & ~edges.any(axis=0)
        assert np.all(fused[nobody] == -1)
