"""NGFF high-content screening (HCS) metadata: a plate of wells, each well's images (fields).

The layout is plate group -> row group ("B") -> column group ("3") -> image group per field
("0", "1", ...), as bioformats2raw, ome-zarr-py and Fractal write it and vizarr draws a plate.
The attributes of NGFF 0.4 and 0.5 are built by ome-zarr-py's own writers
(`write_plate_metadata`, `write_well_metadata`), which validate rows, columns, well paths and
indices as they build; they write into an in-memory group here, so ngff-fuse keeps writing
the metadata last (`writer._complete`). NGFF 0.6 keeps 0.5's plate and well objects under its
own version (ome-zarr-py has no 0.6 format on the Python versions we support).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import zarr

from ngff_fuse.model import PlateWell, row_name


@dataclass(frozen=True)
class WellImage:
    """One image of a well: its path in the well group and the id of its acquisition."""

    path: str
    acquisition: int


def well_path(well: PlateWell) -> str:
    """"B/3": the row and column groups a well's images live in (column numbers unpadded, as
    bioformats2raw names them)."""
    return f"{row_name(well.row)}/{well.column + 1}"


def acquisition_names(wells: Sequence[PlateWell]) -> list[str]:
    """The plate's acquisitions in order of first appearance, "" (the plate's one) named
    after the plate."""
    return list(dict.fromkeys(w.acquisition or w.plate for w in wells))


def plate_attributes(version: str, wells: Sequence[PlateWell], field_count: int) -> dict[str, Any]:
    """The plate group's NGFF attributes for the images placed at `wells` (one entry per image)."""
    first = wells[0]
    paths = list(dict.fromkeys(well_path(w) for w in wells))
    acquisitions = [{"id": i, "name": name} for i, name in enumerate(acquisition_names(wells))]
    return _built(version, lambda group, fmt: _writer().write_plate_metadata(
        group, rows=[row_name(r) for r in range(first.rows)],
        columns=[str(c + 1) for c in range(first.columns)], wells=paths, fmt=fmt,
        acquisitions=acquisitions, field_count=field_count, name=first.plate,
    ))


def well_attributes(version: str, images: Sequence[WellImage]) -> dict[str, Any]:
    """A well group's NGFF attributes listing its images."""
    listed = [{"path": image.path, "acquisition": image.acquisition} for image in images]
    return _built(version, lambda group, fmt: _writer().write_well_metadata(group, listed, fmt=fmt))


def _writer():
    """ome-zarr-py's writer module, imported when a plate is written (it imports dask and
    scikit-image, which nothing else at start-up needs)."""
    from ome_zarr import writer

    return writer


def _built(version: str, write) -> dict[str, Any]:
    """What ome-zarr-py's `write` puts into a group's attributes for NGFF `version`."""
    from ome_zarr.format import FormatV04, FormatV05

    fmt = FormatV04() if version == "0.4" else FormatV05()
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=2 if version == "0.4" else 3)
    write(group, fmt)
    attributes = dict(group.attrs)
    return attributes if version in ("0.4", "0.5") else _renamed(attributes, fmt.version, version)


def _renamed(value: Any, old: str, new: str) -> Any:
    """`value` with every "version" field that says `old` saying `new`."""
    if isinstance(value, dict):
        return {k: (new if k == "version" and v == old else _renamed(v, old, new)) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value
