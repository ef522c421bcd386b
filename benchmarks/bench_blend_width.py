"""How wide the feather cross-fade should be: ghosting against seams, on real tiles.

Stage error makes overlapping tiles disagree on where things are; a wide cross-fade averages
both versions over its width (a ghost), a narrow one switches between them where their
intensities differ too (a seam). Measured side by side for several widths:

- ghost: in pixels covered by exactly two misplaced tiles, the mean distance of the fused
  value to the nearer of the two tiles' values over their mean disagreement. 0: every pixel
  shows one tile; 0.5: both averaged.
- seam: for tiles that differ only in illumination (vignetting, corners at 65 %, and a gain
  of 0.9-1.1 per tile, as lamp drift or bleaching gives), the steepest
  change of fused / true intensity, over the steepest change the vignetting itself makes
  inside a tile. 1: the seam is no steeper than the vignetting; a hard seam is far above.
Rows: feather (the cross-fade centred on each overlap) and linear (Fiji's and BigStitcher's
ramps from each tile's edge) at several widths, with mean and first (a hard seam) for scale.

- fiji: correlation with Fiji's own fusion of its graph-paper tiles at their nominal
  positions (stage error up to ~40 px in 50 % overlaps).

Inputs: `../shared/realdata` (Fiji graph paper, Zeiss Convallaria CZI) and tiles cut from the
real graph-paper image with known stage errors and vignetting. Run:

    python benchmarks/bench_blend_width.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tifffile

from ngff_fuse import fuse, read_input, transforms
from ngff_fuse.model import Tile, TileSet, TileSource, tile_array
from ngff_fuse.testing.blend_quality import ghost

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
WIDTHS = (5, 10, 20, 40, 60, 100)


def tiles_of(tileset: TileSet) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Each tile's first plane and its integer (y, x) pixel offset on the fused grid."""
    low = np.min([t.origin for t in tileset.tiles], axis=0)
    out = []
    for tile in tileset.tiles:
        offset = np.round((tile.origin - low) / np.asarray(tileset.spacing)).astype(int)
        out.append((np.asarray(tile.data[0, 0, 0]).astype(float), (int(offset[1]), int(offset[2]))))
    return out


def fused_plane(tileset: TileSet, blend: str, width: float | None) -> np.ndarray:
    mosaic = fuse(tileset, blend=blend, blend_width=width, chunk_size=(1, 2048, 2048), squeeze=False)
    return np.asarray(mosaic[0, 0, 0]).astype(float)


def tileset_from(arrays, offsets, name: str) -> TileSet:
    spacing = (1.0, 1.0, 1.0)
    tiles = []
    for i, (data, (y, x)) in enumerate(zip(arrays, offsets)):
        position = (0.0, float(y), float(x))
        tiles.append(Tile(data=tile_array(data[None, None, None], spacing, position, f"tile {i}"),
                          affine=transforms.placement(spacing, position), name=f"tile {i}",
                          source=TileSource(f"{name} tile {i}")))
    return TileSet(tiles=tuple(tiles), spacing=spacing, dims=("y", "x"), name=name, unit=None)


def cut(image: np.ndarray, tile: tuple[int, int], step: tuple[int, int], error: int, seed: int,
        gain: np.ndarray | None):
    """Tiles of `image` on a grid; reported positions off by up to `error` px; optional gain."""
    rng = np.random.default_rng(seed)
    arrays, reported = [], []
    for y in range(0, image.shape[0] - tile[0] + 1, step[0]):
        for x in range(0, image.shape[1] - tile[1] + 1, step[1]):
            data = image[y:y + tile[0], x:x + tile[1]].astype(np.float32)
            arrays.append(data * gain * rng.uniform(0.9, 1.1) if gain is not None else data)
            reported.append((y + int(rng.integers(-error, error + 1)), x + int(rng.integers(-error, error + 1))))
    low = np.min(reported, axis=0)
    return arrays, [tuple(int(v) for v in np.subtract(r, low)) for r in reported]


def vignetting(shape: tuple[int, int], corner: float) -> np.ndarray:
    yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    return (1 - (1 - corner) * (yy**2 + xx**2) / 2).astype(np.float32)


def seam(fused: np.ndarray, truth: np.ndarray, gain: np.ndarray) -> float:
    """Steepest change of fused / truth over the steepest change of the gain in one tile."""
    ratio = fused / np.maximum(truth, 1)
    inside = max(np.abs(np.diff(gain, axis=a)).max() for a in (0, 1))
    steepest = max(np.abs(np.diff(ratio, axis=a)).max() for a in (0, 1))
    return steepest / inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    paper = SHARED / "fiji-tileconfig-graphpaper"
    fiji = tifffile.imread(paper / "fiji-fused-nominal.tif").astype(float)
    real = read_input(paper / "tile_config.txt")[0]
    czi = read_input(SHARED / "czi-convallaria" / "mosaic_test.czi")[0]
    image = tifffile.imread(paper / "fiji-fused-registered.tif").astype(np.float32)[:, :2400] + 20
    tile, step = (320, 480), (260, 400)  # 60 and 80 px overlaps
    gain = vignetting(tile, 0.65)
    shaded, at = cut(image, tile, step, 0, 0, gain)
    shaded_set = tileset_from(shaded, at, "vignetted")
    moved = [cut(image, tile, step, 6, seed, None) for seed in range(args.seeds)]
    moved_sets = [(tileset_from(a, o, "misplaced"), list(zip([x.astype(float) for x in a], o))) for a, o in moved]
    real_tiles, czi_tiles = tiles_of(real), tiles_of(czi)

    rows = []
    runs = [("first (hard seam)", "first", None), ("mean", "mean", None)]
    for blend in ("feather", "linear"):
        runs += [(f"{blend}, default", blend, None), *[(f"{blend}, {w} px", blend, w) for w in WIDTHS]]
    for label, blend, width in runs:
        paper_fused = fused_plane(real, blend, width)
        czi_fused = fused_plane(czi, blend, width)
        shaded_fused = fused_plane(shaded_set, blend, width)
        moved_ghost = np.mean([ghost(fused_plane(s, blend, width), t) for s, t in moved_sets])
        rows.append((label, np.corrcoef(fiji.ravel(), paper_fused.ravel())[0, 1],
                     ghost(paper_fused, real_tiles), ghost(czi_fused, czi_tiles), moved_ghost,
                     seam(shaded_fused, image[: shaded_fused.shape[0], : shaded_fused.shape[1]], gain)))
        print(f"| {rows[-1][0]} | " + " | ".join(f"{v:.3f}" if i < 5 else f"{v:.1f}"
                                                  for i, v in enumerate(rows[-1][1:], 1)) + " |", flush=True)


if __name__ == "__main__":
    print("| blending | Fiji correlation | ghost, graph paper | ghost, Convallaria CZI | "
          "ghost, cut tiles +/-6 px | seam, vignetted tiles |")
    print("|---|---|---|---|---|---|")
    main()
