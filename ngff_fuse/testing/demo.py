"""The demo acquisition: what a small widefield slide scan looks like when it leaves the scope."""

from __future__ import annotations

from pathlib import Path

from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff


def write_demo_acquisition(path: Path) -> Path:
    """3 x 4 tiles of 512 x 512, 2 channels, 10 % overlap, stage positions off by up to
    +/-4 px with sub-pixel parts, 0.65 um pixels, at a negative stage origin: ~4 MPix."""
    mosaic = synthetic_mosaic(
        grid=(3, 4), tile_shape=(512, 512), overlap=0.1, jitter=4.0, subpixel=True, channels=2,
        spacing=(1.0, 0.65, 0.65), origin=(0.0, -5210.4, 12873.9), seed=7,
    )
    return write_ome_tiff(mosaic, path)
