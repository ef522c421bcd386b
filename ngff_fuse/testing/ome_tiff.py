"""Write a synthetic acquisition as one multi-series OME-TIFF, as many microscopes export it."""

from __future__ import annotations

from pathlib import Path

import tifffile

from ngff_fuse.testing import SyntheticMosaic

# OME colours (signed RGBA int), one per channel: green, magenta, cyan, red.
_OME_COLORS = (0x00FF00FF, 0xFF00FFFF, 0x00FFFFFF, 0xFF0000FF)


def write_ome_tiff(
    mosaic: SyntheticMosaic, path: Path, position_unit: str = "µm", scale: float = 1.0,
    tile: tuple[int, int] | None = None, compression: str | None = None,
) -> Path:
    """One series per tile; Plane PositionX/Y/Z give each plane's stage position.

    `scale` converts micrometres into `position_unit` (e.g. 1e-3 for "mm"), so tests can check
    that readers convert units. PositionZ steps with the z plane, as on a real stage. Planes are
    stored in strips, or in `tile`-sized TIFF tiles as Bio-Formats writes them; `compression`
    is tifffile's (e.g. "zlib").
    """
    path = Path(path)
    with tifffile.TiffWriter(path, ome=True, bigtiff=True) as tif:
        for index, one in enumerate(mosaic.tiles):
            t, c, z, _, _ = one.data.shape
            z0, y0, x0 = one.position
            planes = [(ti, ci, zi) for ti in range(t) for ci in range(c) for zi in range(z)]
            metadata = {
                "axes": "TCZYX",
                "Name": f"tile {index}",
                "PhysicalSizeX": mosaic.spacing[2],
                "PhysicalSizeXUnit": "µm",
                "PhysicalSizeY": mosaic.spacing[1],
                "PhysicalSizeYUnit": "µm",
                "Channel": {
                    "Name": list(mosaic.channel_names[:c]),
                    "Color": [_signed(_OME_COLORS[i % 4]) for i in range(c)],
                },
                "Plane": {
                    "TheT": [p[0] for p in planes],
                    "TheC": [p[1] for p in planes],
                    "TheZ": [p[2] for p in planes],
                    "PositionX": [x0 * scale] * len(planes),
                    "PositionXUnit": [position_unit] * len(planes),
                    "PositionY": [y0 * scale] * len(planes),
                    "PositionYUnit": [position_unit] * len(planes),
                    "PositionZ": [(z0 + p[2] * mosaic.spacing[0]) * scale for p in planes],
                    "PositionZUnit": [position_unit] * len(planes),
                },
            }
            if z > 1:
                metadata["PhysicalSizeZ"] = mosaic.spacing[0]
                metadata["PhysicalSizeZUnit"] = "µm"
            tif.write(one.data, metadata=metadata, photometric="minisblack", tile=tile, compression=compression)
    return path


def _signed(rgba: int) -> int:
    return rgba - (1 << 32) if rgba >= 1 << 31 else rgba
