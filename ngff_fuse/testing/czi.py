"""Write a synthetic acquisition as a Zeiss CZI mosaic with pylibCZIrw, as ZEN stores tiles.

Every tile becomes one M-tile subblock per (t, c, z) plane, at its pixel offset in the file's
pixel frame. pylibCZIrw writes no stage positions into subblock metadata (it has no way to), so
a reader places these tiles by their pixel boxes: tile positions come back as
pixel_offset x spacing, the truth's origin itself being lost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ngff_fuse.testing import SyntheticMosaic


def write_czi_mosaic(
    mosaic: SyntheticMosaic, path: Path, compression: str | None = None, rgb: bool = False
) -> Path:
    """One scene of M tiles; `compression` is a libCZI option string such as
    "zstd1:ExplicitLevel=2" (None: uncompressed); `rgb` stores channels 0, 1, 2 as one Bgr
    channel. A tile plane above 10 MB would be split by pylibCZIrw into several subblocks."""
    from pylibCZIrw import czi as pyczi

    path = Path(path)
    offsets = np.array([tile.pixel_offset for tile in mosaic.tiles])
    if not np.allclose(offsets, np.round(offsets)) or np.any(offsets[:, 0] != 0):
        raise ValueError("CZI pixel boxes are whole pixels in y, x only: use integer offsets, no z offset")
    t, c, z = mosaic.truth.shape[:3]
    if rgb and c != 3:
        raise ValueError("an RGB CZI needs exactly 3 channels")
    with pyczi.create_czi(str(path), exist_ok=True, compression_options=compression) as czi:
        for ti in range(t):
            for ci in range(1 if rgb else c):
                for zi in range(z):
                    for tile, (_, oy, ox) in zip(mosaic.tiles, offsets.astype(int)):
                        # pylibCZIrw stores an (h, w, 3) plane as is, and CZI keeps blue first
                        plane = tile.data[ti, ::-1, zi].transpose(1, 2, 0) if rgb else tile.data[ti, ci, zi]
                        czi.write(np.ascontiguousarray(plane), location=(int(ox), int(oy)),
                                  plane={"T": ti, "C": ci, "Z": zi})
        # Scaling values land verbatim in Scaling/Items/Distance/Value, which CZI keeps in metres
        czi.write_metadata(
            document_name=path.stem,
            channel_names={} if rgb else dict(enumerate(mosaic.channel_names)),
            scale_x=mosaic.spacing[2] * 1e-6,
            scale_y=mosaic.spacing[1] * 1e-6,
            scale_z=mosaic.spacing[0] * 1e-6 if z > 1 else 0.0,
            display_settings=None if rgb else {
                i: pyczi.ChannelDisplaySettingsDataClass(
                    True, pyczi.TintingMode.Color, pyczi.Rgb8Color(*map(np.uint8, rgb_color)), 0.0, 1.0,
                )
                for i, rgb_color in enumerate(_colors(c))
            },
        )
    return path


def _colors(count: int) -> list[tuple[int, int, int]]:
    """Display colours for the channels: green, red, blue, then repeating."""
    palette = [(0, 255, 0), (255, 0, 0), (0, 0, 255)]
    return [palette[i % len(palette)] for i in range(count)]
