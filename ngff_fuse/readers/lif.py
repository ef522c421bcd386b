"""Leica LIF: every image of the file is one mosaic; the tiles of a tile scan (bioio-lif's M
axis) sit at the stage positions its TileScanInfo lists.

TileScanInfo holds one <Tile FieldX FieldY PosX PosY PosZ> per tile, in M order, positions in
metres (liffile's `LifImage.tilescan`). FlipX / FlipY say that the stage counts against the
image's x / y, SwapXY that its axes are exchanged: x = -PosX with FlipX, y = -PosY with FlipY,
then x and y swapped with SwapXY, the rule under which positions reproduce LAS X's own merged
tile scans. LIF does not say which pixel PosX / PosY refer to; the centre pixel (index
size // 2) is assumed, as CZI and the nd2 SDK define it: only the mosaic's absolute translation
depends on that, never where tiles sit relative to each other. A scan whose tiles all share one
position though their fields differ (positions not recorded) is laid out on its field grid with
one pixel of overlap, as bioio-lif stitches it. z-stacks start at their tile's PosZ and run
downward where the z step is negative (stacks recorded top-down); the tile set turns such
stacks into increasing z. Images that are not tile scans of x, y, z, t and channels (lambda
scans, xz / xt line scans) are refused in one line: bioio-lif would silently drop their axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.model import TileSet
from ngff_fuse.readers._bioio_mosaic import (
    Placement, TileFacts, anchor, bioio_tiles, first_pixel, mosaic_tileset, pick_scenes,
    plugin, stack_z,
)
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.readers.image_file import open_bioimage
from ngff_fuse.readers.pixel_size import decide_pixel_size
from ngff_fuse.readers.samples import channel_labels

# LIF dimensions (liffile's letters) other than tiles, time, channels, samples, z, y, x: what
# they hold, for the one-line refusal of images ngff-fuse cannot represent
_OTHER_AXES = {
    "λ": "an emission wavelength axis (a lambda scan)",
    "Λ": "an excitation wavelength axis (a lambda scan)",
    "A": "a rotation axis",
    "N": "an XT-slices axis",
    "Q": "a T-slices axis",
    "L": "a loop axis",
    "H": "a TCSPC histogram axis (FLIM)",
}
_TILE_SCAN_AXES = frozenset("MTCZYXS")

# LAS X lookup-table names -> display colour
_LUT_COLORS = {
    "red": "FF0000", "green": "00FF00", "blue": "0000FF", "cyan": "00FFFF",
    "magenta": "FF00FF", "yellow": "FFFF00", "gray": "FFFFFF", "grey": "FFFFFF",
    "white": "FFFFFF",
}


def place_lif_tiles(
    scan, count: int, shape: tuple[int, int, int], spacing: tuple[float, float, float], where: str
) -> Placement:
    """First-pixel positions (um) of `count` tiles of `shape` (z, y, x) from a TileScanInfo
    (liffile's LifTileScanInfo: flip_x, flip_y, swap_xy and tiles with field_x, field_y,
    pos_x, pos_y, pos_z) or None when the image has none."""
    tiles = None if scan is None else scan.tiles
    if tiles is None or len(tiles) == 0:
        if count == 1:
            return Placement(np.zeros((1, 3)), "a single image without TileScanInfo, placed at 0", ())
        raise InputError(f"{where}: {count} tiles but no TileScanInfo, so where they go is unknown")
    if len(tiles) != count:
        raise InputError(
            f"{where}: TileScanInfo lists {len(tiles)} tiles but the image has {count}; "
            "the file is inconsistent, export the tile scan again from LAS X"
        )
    x, y = tiles["pos_x"] * 1e6, tiles["pos_y"] * 1e6
    fx, fy = tiles["field_x"].astype(float), tiles["field_y"].astype(float)
    if scan.flip_x:
        x, fx = -x, fx.max() - fx
    if scan.flip_y:
        y, fy = -y, fy.max() - fy
    if scan.swap_xy:
        x, y, fx, fy = y, x, fy, fx
    unrecorded = count > 1 and np.ptp(x) == 0 and np.ptp(y) == 0 and (np.ptp(fx) > 0 or np.ptp(fy) > 0)
    origins = np.zeros((count, 3))
    for axis, stage, field in ((2, x, fx), (1, y, fy)):
        size, step = shape[axis], spacing[axis]
        centre = np.full(count, np.nan) if unrecorded else stage
        # fallback: the field grid, neighbours sharing one pixel (bioio-lif's stitching)
        origins[:, axis] = anchor(first_pixel(centre, size, step), field * (size - 1) * step, np.inf).values
    z, known = stack_z(tiles["pos_z"] * 1e6, shape[0])
    origins[:, 0] = z
    notes = []
    source = "LIF TileScanInfo PosX/PosY (taken as each tile's centre pixel)"
    if unrecorded:
        notes.append("TileScanInfo has one position for every tile: tiles laid on their field grid")
        source = "LIF TileScanInfo FieldX/FieldY grid (no stage positions recorded)"
    flags = [n for n, on in (("FlipX", scan.flip_x), ("FlipY", scan.flip_y), ("SwapXY", scan.swap_xy)) if on]
    if flags:
        source += f", with {', '.join(flags)} applied"
    if shape[0] > 1 and known:
        source += "; z from PosZ"
    return Placement(origins, source, tuple(notes))


def unsupported_layout(sizes: dict[str, int]) -> str | None:
    """What makes a LIF image with these (liffile) axis sizes impossible to fuse as tiles of
    t, c, z, y, x, or None. liffile leaves out axes of length 1, so a line scan has no Y;
    bioio-lif would silently give any other axis length 1."""
    extra = [(axis, n) for axis, n in sizes.items() if axis not in _TILE_SCAN_AXES and n > 1]
    if extra:
        axis, n = extra[0]
        return f"{_OTHER_AXES.get(axis, f'an axis {axis!r}')} of {n}"
    if "Y" not in sizes and "X" in sizes:
        kind = "xz" if "Z" in sizes else "xt" if "T" in sizes else "x"
        return f"an {kind} line scan (one row per frame, no y axis)"
    return None


def lut_color(name: str | None) -> str | None:
    """A display colour from bioio-lif's channel name, which starts with the LAS X LUT name
    ('Green', or 'Green--TL-BF--...')."""
    return _LUT_COLORS.get((name or "").split("--")[0].strip().lower())


class LifReader:
    """Leica LIF files, one TileSet per image; tile scans become mosaics."""

    name = "lif"
    description = "Leica LIF (tile scans as mosaics)"

    def can_open(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == ".lif"

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        bioio_lif = plugin(path, "bioio_lif", "LIF", "bioio-lif", "lif")
        liffile = plugin(path, "liffile", "LIF", "bioio-lif", "lif")
        reader = open_bioimage(path, bioio_lif.Reader).reader
        names = list(reader.scenes)
        chosen = pick_scenes(path, names, options.scenes)
        with liffile.LifFile(path) as lif:
            layouts = [unsupported_layout(dict(image.sizes)) for image in lif.images]
            _refuse_unsupported(path, names, layouts, chosen)
            scans = {i: lif.images[i].tilescan for i in chosen}
        return [self._scene(path, reader, i, names[i], scans[i], options) for i in chosen]

    def _scene(self, path: Path, reader, index: int, name: str, scan, options: ReadOptions) -> TileSet:
        reader.set_scene(index)
        data = reader.xarray_dask_data  # lazy; only the XML has been read
        try:
            arrays, samples = bioio_tiles(data.data, [str(d) for d in data.dims])
        except ValueError as exc:
            raise InputError(f"{path}: image {name} has {exc}; ngff-fuse reads tiles of t, c, z, y, x") from None
        sizes = reader.physical_pixel_sizes
        depth = int(arrays[0].shape[2])
        calibration = decide_pixel_size((sizes.Z, sizes.Y, sizes.X), options.pixel_size, where=str(path),
                                        source="the metadata", has_depth=depth > 1)
        spacing, notes = calibration.spacing, calibration.notes
        placement = place_lif_tiles(scan, len(arrays), tuple(int(n) for n in arrays[0].shape[2:]),
                                    spacing, f"{path} image {name}")
        names = [str(c) for c in data.coords["C"].values] if "C" in data.coords else []
        channel_names, colors = channel_labels(len(names) or 1, samples, names, [lut_color(c) for c in names])
        tiles = [
            TileFacts(array, tuple(origin), f"M{m}")
            for m, (array, origin) in enumerate(zip(arrays, placement.origins))
        ]
        return mosaic_tileset(path, name, tiles, spacing, channel_names, colors,
                              placement.source, (*notes, *placement.notes))


def _refuse_unsupported(path: Path, names: list[str], layouts: list[str | None], chosen: list[int]) -> None:
    """One line for the first chosen image that is not a tile scan (nor a plain image), naming
    what it holds and which images of the file can be read instead."""
    bad = next((i for i in chosen if layouts[i] is not None), None)
    if bad is None:
        return
    readable = [i for i, layout in enumerate(layouts) if layout is None]
    fix = ("read the others with " + " ".join(f"--scene {i}" for i in readable[:8])
           if readable else "the file holds no image of x, y (z, t, channels) to fuse")
    raise InputError(
        f"{path}: image {bad} ({names[bad]}) has {layouts[bad]}, which ngff-fuse cannot fuse "
        f"(it fuses images and tile scans of x, y, z, t and channels); {fix}"
    )
