"""Independent checks of a written OME-Zarr: the spec's JSON schemas, ome-zarr-models, and
the readers napari (ome-zarr-py) and bioio use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from ngff_fuse.validate import schema_errors


def validate_json_schema(attrs: dict, version: str, spec_dir: Path) -> None:
    """Validate image attributes against the NGFF spec's own strict image schema."""
    errors = schema_errors(attrs, version, spec_dir)
    assert not errors, errors


def validate_models(path: Path, version: str):
    """ome-zarr-models' validation (also checks arrays against the metadata)."""
    group = zarr.open_group(path, mode="r")
    if version == "0.4":
        from ome_zarr_models.v04 import Image
    else:
        from ome_zarr_models.v05 import Image
    return Image.from_zarr(group)


def multiscale(path: Path) -> dict:
    attrs = dict(zarr.open_group(path, mode="r").attrs)
    attrs = attrs.get("ome", attrs)
    return attrs["multiscales"][0]


def read_with_ome_zarr(path: Path):
    """The reader napari-ome-zarr uses: returns (pyramid arrays, metadata) of the image node."""
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    node = next(iter(Reader(parse_url(str(path)))()))
    return [np.asarray(level) for level in node.data], node.metadata


def read_with_bioio(path: Path, level: int = 0):
    from bioio import BioImage
    from bioio_ome_zarr import Reader

    image = BioImage(str(path), reader=Reader)
    image.set_resolution_level(level)
    return image
