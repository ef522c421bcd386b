"""Write a synthetic acquisition as loose TIFF tiles plus a Fiji TileConfiguration or a tile
manifest, the two ways users hand ngff-fuse tiles that no microscope file describes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import tifffile

from ngff_fuse._axes import PIXEL_UNITS, length_in_um
from ngff_fuse.readers.manifest import CSV_COLUMNS
from ngff_fuse.readers.tileconfig import TileConfigEntry, format_tileconfig
from ngff_fuse.testing import SyntheticMosaic


def write_imagej_tiff(path: Path, data: np.ndarray, spacing=None) -> Path:
    """One (t, c, z, y, x) array as an ImageJ hyperstack; calibrated in microns if `spacing`.

    Like ImageJ, the z step is only stored for stacks of more than one plane.
    """
    options = {}
    metadata = {"axes": "TZCYX"}  # ImageJ's own axis order
    if spacing is not None:
        options["resolution"] = (1 / spacing[2], 1 / spacing[1])
        metadata["unit"] = "micron"
        if data.shape[2] > 1:
            metadata["spacing"] = spacing[0]
    tifffile.imwrite(
        path, data.transpose(0, 2, 1, 3, 4), imagej=True, photometric="minisblack",
        metadata=metadata, **options,
    )
    return path


def write_tiff_tiles(mosaic: SyntheticMosaic, folder: Path, calibrated: bool = True) -> list[Path]:
    """`tile_000.tif`, `tile_001.tif`, ...: one ImageJ hyperstack per tile."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    spacing = mosaic.spacing if calibrated else None
    return [
        write_imagej_tiff(folder / _tile_file(i), tile.data, spacing)
        for i, tile in enumerate(mosaic.tiles)
    ]


def write_tileconfig(
    mosaic: SyntheticMosaic,
    folder: Path,
    name: str = "TileConfiguration.txt",
    calibrated: bool = True,
) -> Path:
    """The TIFF tiles plus a TileConfiguration with their pixel offsets from the mosaic origin."""
    folder = Path(folder)
    write_tiff_tiles(mosaic, folder, calibrated)
    dim = 3 if "z" in mosaic.dims else 2
    entries = [
        TileConfigEntry(_tile_file(i), None, tuple(float(v) for v in tile.pixel_offset[::-1][:dim]))
        for i, tile in enumerate(mosaic.tiles)
    ]
    path = folder / name
    path.write_text(format_tileconfig(dim, entries), encoding="utf-8")
    return path


def write_manifest(
    mosaic: SyntheticMosaic,
    folder: Path,
    kind: str = "json",
    split_channels: bool = False,
    position_unit: str = "micrometer",
) -> Path:
    """TIFF tiles plus `manifest.json` / `manifest.csv` giving their (z, y, x) stage positions.

    With `split_channels`, each channel of a tile is its own single-channel TIFF
    (`tile_000_c1.tif`) and the files of one tile share its `tile` id.
    """
    if kind not in ("json", "csv"):
        raise ValueError(f"kind must be 'json' or 'csv', not {kind!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, tile in enumerate(mosaic.tiles):
        position = _in_unit(tile.position, mosaic.spacing, position_unit)
        where = {"x": position[2], "y": position[1], "z": position[0]}
        if not split_channels:
            write_imagej_tiff(folder / _tile_file(i), tile.data, mosaic.spacing)
            rows.append({"file": _tile_file(i), **where})
            continue
        for c in range(tile.data.shape[1]):
            file = f"tile_{i:03d}_c{c}.tif"
            write_imagej_tiff(folder / file, tile.data[:, c : c + 1], mosaic.spacing)
            rows.append({"file": file, **where, "tile": f"tile_{i:03d}", "channel": c})
    pixel_size = {"x": mosaic.spacing[2], "y": mosaic.spacing[1], "z": mosaic.spacing[0]}
    path = folder / f"manifest.{kind}"
    if kind == "json":
        manifest = {
            "version": "1", "position_unit": position_unit, "pixel_size": pixel_size, "tiles": rows,
        }
        path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return path
    constants = {"position_unit": position_unit}
    constants |= {f"pixel_size_{k}": v for k, v in pixel_size.items()}
    columns = [c for c in CSV_COLUMNS if any(c in row for row in rows)] + list(constants)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(row | constants for row in rows)
    return path


def _tile_file(index: int) -> str:
    return f"tile_{index:03d}.tif"


def _in_unit(position, spacing, unit: str) -> tuple[float, float, float]:
    """A physical (z, y, x) position in um expressed in `unit` (pixels: divide by the spacing)."""
    if unit.strip().lower() in PIXEL_UNITS:
        return tuple(p / s for p, s in zip(position, spacing))
    return tuple(p / length_in_um(unit) for p in position)
