"""OME-NGFF metadata, one object per version: axes or coordinate systems, per-level transforms,
omero channels, and (0.6) scenes.

0.4 and 0.5 lean on the libraries that define them (README, "NGFF: library and hand-built"):
ome-zarr-py's format objects give the version string, the zarr format, the axes (types and
the order rules) and check each level's transforms as its own writer does; ome-zarr-models
builds the bioformats2raw root and validates every image's attributes, omero included, before
they are written. The JSON itself stays ours: ome-zarr-py's `write_multiscales_metadata`
orders the keys otherwise, has no multiscale `type`, and writes `omero`, `version` and
`multiscales` one after another, where ngff-fuse writes them in one go with the
completeness marker (`writer._complete`). 0.6, which neither library writes, is hand-built.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from ngff_fuse.ngff.transforms import Linear, Transform, level_transformations
from ngff_fuse.ngff.versions import NGFF_VERSIONS
from ngff_fuse.version import VERSION

if TYPE_CHECKING:
    from ome_zarr.format import Format

#: Name of the physical coordinate system (micrometres, or pixels for uncalibrated input) in
#: which NGFF 0.6 outputs place the fused image, and kept tiles in a scene.
STAGE = "stage"

# Colours for channels the source gives none: one channel grey, else a distinct colour each.
_PALETTE = ("00FF00", "FF00FF", "00FFFF", "FF0000", "0000FF", "FFFF00", "FFFFFF")


@dataclass(frozen=True)
class Level:
    path: str
    scale: tuple[float, ...]  # per axis of the image, in axis order
    translation: tuple[float, ...]


@dataclass(frozen=True)
class ChannelDisplay:
    label: str
    color: str | None  # RRGGBB; None: chosen from the palette
    window: tuple[float, float, float, float]  # min, max, start, end


@dataclass(frozen=True)
class ImageMetadata:
    """What the NGFF attributes of one multiscale image say, independent of version."""

    name: str
    dims: tuple[str, ...]
    unit: str | None  # spatial unit; None for uncalibrated (pixel) data
    levels: tuple[Level, ...]
    channels: tuple[ChannelDisplay, ...]
    method: str  # downsampling method, for provenance
    default_z: int = 0
    extra: dict[str, Any] | None = None  # ngff-fuse provenance, under multiscales.metadata


def axes(dims: Sequence[str], unit: str | None, library: Format) -> list[dict[str, str]]:
    """The axes of an image: names and types as ome-zarr-py's `Axes` makes them (it refuses an
    order `library`'s version forbids), each spatial one in `unit` (None: uncalibrated pixels)."""
    from ome_zarr.axes import Axes

    out = Axes(list(dims), fmt=library).to_list(library)
    for entry in out:
        if unit and entry["type"] == "space":
            entry["unit"] = unit
    return out


def coordinate_system(name: str, dims: Sequence[str], unit: str | None) -> dict[str, Any]:
    """A named 0.6 coordinate system over the image's axes (no unit: uncalibrated pixels)."""
    return {"name": name, "axes": axes(dims, unit, FORMATS["0.6"].library)}


def _geometry_axes(meta: ImageMetadata, library: Format) -> dict[str, Any]:
    """0.4 / 0.5: `axes`, and per level a scale then a translation, checked by `library`'s
    own rule for them (one scale, first; at most one translation; one number per axis)."""
    datasets = [
        {
            "path": level.path,
            "coordinateTransformations": level_transformations(level.scale, level.translation, "0.4"),
        }
        for level in meta.levels
    ]
    library.validate_coordinate_transformations(
        len(meta.dims), len(datasets), [d["coordinateTransformations"] for d in datasets])
    return {"axes": axes(meta.dims, meta.unit, library), "datasets": datasets}


def _geometry_coordinate_systems(meta: ImageMetadata) -> dict[str, Any]:
    """0.6: one named physical coordinate system, STAGE, and per level one transformation
    from the level's array (`input.path`) to it (`output.name`)."""
    return {
        "coordinateSystems": [coordinate_system(STAGE, meta.dims, meta.unit)],
        "datasets": [
            {
                "path": level.path,
                "coordinateTransformations": level_transformations(
                    level.scale, level.translation, "0.6", input={"path": level.path}, output={"name": STAGE}),
            }
            for level in meta.levels
        ],
    }


def _multiscale(meta: ImageMetadata, geometry: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": meta.name,
        **geometry,
        "type": meta.method,
        "metadata": {"method": f"ngff_fuse.pyramid.{meta.method}", "version": VERSION,
                     **(meta.extra or {})},
    }


def channel_colors(given: Sequence[str | None]) -> list[str | None]:
    """Each channel's RRGGBB as written, from the source's (None where it gives none): a
    palette colour where there are several channels; None for one channel without (grey)."""
    several = len(given) > 1
    return [color or (_PALETTE[i % len(_PALETTE)] if several else None) for i, color in enumerate(given)]


def _omero(meta: ImageMetadata) -> dict[str, Any]:
    colors = channel_colors([ch.color for ch in meta.channels])
    channels = []
    for ch, color in zip(meta.channels, colors):
        color = color or "FFFFFF"
        lo, hi, start, end = ch.window
        channels.append({
            "label": ch.label, "color": color, "active": True, "coefficient": 1.0,
            "family": "linear", "inverted": False,
            "window": {"min": lo, "max": hi, "start": start, "end": end},
        })
    return {
        "name": meta.name,
        "channels": channels,
        # greyscale makes viewers (napari-ome-zarr, OMERO) draw every channel white
        "rdefs": {"model": "color" if any(colors) else "greyscale", "defaultT": 0,
                  "defaultZ": meta.default_z},
    }


#: bioformats2raw layout version written for several scenes in one store.
BF2RAW_LAYOUT = 3


def _models(version: str, module: str):
    """ome-zarr-models' `module` for `version` ("0.4", "image" -> `ome_zarr_models.v04.image`),
    imported when first used: pydantic would add ~0.4 s to every CLI start."""
    return importlib.import_module(f"ome_zarr_models.v0{version[-1]}.{module}")


def _validated(version: str, ome: dict[str, Any]) -> dict[str, Any]:
    """`ome` (an image's NGFF attributes) once ome-zarr-models accepts it: its image model
    where it has one for `version` (0.4, 0.5), and its omero model, the same in every version
    (which its 0.5 image model leaves unchecked). Raises pydantic's ValidationError, naming
    the key, for metadata the spec forbids: a bug, never written."""
    if version in ("0.4", "0.5"):
        _models(version, "image").ImageAttrs.model_validate(ome)
    importlib.import_module("ome_zarr_models.common.omero").Omero.model_validate(ome["omero"])
    return ome


@cache
def _library(version: str) -> Format:
    """ome-zarr-py's format object for "0.4" or "0.5"."""
    from ome_zarr.format import FormatV04, FormatV05

    return {"0.4": FormatV04, "0.5": FormatV05}[version]()


def load_libraries(version: str) -> None:
    """Import ome-zarr-py and ome-zarr-models for `version` in a thread of their own. They
    take ~0.5 s to import (ome-zarr-py brings scikit-image) and are needed only for the
    metadata, written last: `writer.write_pixels` starts this as the pixels are being
    written, when the dask threads spend their time in numpy and the codecs, outside the GIL."""
    def load() -> None:
        with contextlib.suppress(Exception):  # a failing import fails again where it is used, and says so
            _library(version if version in ("0.4", "0.5") else "0.5")
            importlib.import_module("ome_zarr_models.common.omero")
            if version in ("0.4", "0.5"):
                _models(version, "image")

    threading.Thread(target=load, name="ngff-fuse metadata libraries", daemon=True).start()


class Ngff04:
    """NGFF 0.4 (zarr v2), as ome-zarr-py's FormatV04 and ome-zarr-models' v04 define it.
    `version` and `zarr_format` are the library's (tests/test_ngff_metadata.py), spelled out
    so that choosing a format imports no library."""

    version = "0.4"
    zarr_format = 2

    @property
    def library(self) -> Format:
        return _library("0.4")

    def attributes(self, meta: ImageMetadata) -> dict[str, Any]:
        return _validated(self.version, {
            "multiscales": [{"version": self.version, **_multiscale(meta, _geometry_axes(meta, self.library))}],
            "omero": {"version": self.version, **_omero(meta)}})

    def collection_root(self) -> dict[str, Any]:
        attrs = _models(self.version, "bioformats2raw").BioFormats2RawAttrs(bioformats2raw_layout=BF2RAW_LAYOUT)
        return attrs.model_dump(by_alias=True, exclude_none=True)

    def collection_series(self, paths: list[str]) -> dict[str, Any]:
        return {"series": paths}


class Ngff05:
    """NGFF 0.5 (zarr v3, attributes under `ome`), as ome-zarr-py's FormatV05 and
    ome-zarr-models' v05 define it."""

    version = "0.5"
    zarr_format = 3

    @property
    def library(self) -> Format:
        return _library("0.5")

    def attributes(self, meta: ImageMetadata) -> dict[str, Any]:
        return {"ome": _validated(self.version, {
            "version": self.version, "multiscales": [_multiscale(meta, _geometry_axes(meta, self.library))],
            "omero": _omero(meta)})}

    def collection_root(self) -> dict[str, Any]:
        attrs = _models(self.version, "bioformats2raw").BioFormats2RawAttrs(
            version=self.version, bioformats2raw_layout=BF2RAW_LAYOUT)
        return {"ome": attrs.model_dump(by_alias=True, exclude_none=True)}

    def collection_series(self, paths: list[str]) -> dict[str, Any]:
        return {"ome": {"version": self.version, "series": paths}}


class Ngff06(Ngff05):
    """NGFF 0.6 (zarr v3): the 0.5 layout with named coordinate systems, hand-built (neither
    ome-zarr-py nor the ome-zarr-models that installs on Python 3.11 has a 0.6 format).

    Written as the released spec (ome/ngff-spec tag 0.6) says: version "0.6", schema `$id`s
    under `/0.6/`. The release candidate kept in `ngff-spec/0.6-dev` says "0.6rc0" in both
    places; for what ngff-fuse writes (image, bioformats2raw collection, scene) nothing else
    differs in what could be compared: the stored copy of the tag's `scene.schema` (its first
    ~2,000 characters) equals the rc's but for those strings, and the rc's image schema, examples and attribute-level conformance cases
    already use the released shape (`coordinateSystems` instead of `axes`; one transform per
    dataset, a scale or a sequence of scale then translation; `input`/`output` as objects).
    `validate.load_schemas` therefore checks "0.6" documents against the rc schemas with the
    version renamed. The rc's zarr conformance hierarchies for valid images still write
    `input`/`output` as strings (the 0.6.dev drafts' form), which the rc's own image schema
    rejects: see tests/test_ngff06.py.
    """

    version = "0.6"
    # inherited `library` (FormatV05): ome-zarr-py has no 0.6 format; 0.6 axes are 0.5's axis
    # objects, checked by its 0.5 rules (which the t, c, z, y, x order meets in every version)

    def attributes(self, meta: ImageMetadata) -> dict[str, Any]:
        return {"ome": _validated(self.version, {
            "version": self.version, "multiscales": [_multiscale(meta, _geometry_coordinate_systems(meta))],
            "omero": _omero(meta)})}

    def collection_root(self) -> dict[str, Any]:
        return {"ome": {"version": self.version, "bioformats2raw.layout": BF2RAW_LAYOUT}}

    def scene_root(self, entries: Sequence[SceneEntry], dims: Sequence[str], unit: str | None) -> dict[str, Any]:
        """Root `ome` attributes of a group whose images share the STAGE coordinate system."""
        return {"ome": {"version": self.version, "scene": scene(entries, dims, unit)}}


FORMATS = dict(zip(NGFF_VERSIONS, (Ngff04(), Ngff05(), Ngff06()), strict=True))


@dataclass(frozen=True)
class SceneEntry:
    """One image of a 0.6 scene: the image group's `path` (relative to the scene's group),
    the `name` of its coordinate system the transform starts from, and the transformation
    (typed, as from `ngff.transforms.tile_transform`, or its JSON; its input/output are set
    by `scene`)."""

    path: str
    coordinate_system: str
    transform: Linear | Transform


def scene(entries: Sequence[SceneEntry | tuple[str, str, dict]], dims: Sequence[str],
          unit: str | None) -> dict[str, Any]:
    """The `scene` object of a 0.6 group: the STAGE coordinate system (axes `dims`, `unit`;
    None for pixels) and, per entry, its transform from
    {"path": entry.path, "name": entry.coordinate_system} to {"name": STAGE}.

    STAGE is declared in the scene even when the group's own multiscales declares it too (a
    scene inside the fused image's group, the same system): scene readers (ngff-zarr,
    ome-zarr-py) resolve a scene end without a path among the scene's own systems only."""
    transforms = []
    for entry in entries:
        entry = entry if isinstance(entry, SceneEntry) else SceneEntry(*entry)
        transform = entry.transform.json() if hasattr(entry.transform, "json") else entry.transform
        transform = {k: v for k, v in transform.items() if k not in ("input", "output")}
        transform["input"] = {"path": entry.path, "name": entry.coordinate_system}
        transform["output"] = {"name": STAGE}
        transforms.append(transform)
    return {"coordinateSystems": [coordinate_system(STAGE, dims, unit)], "coordinateTransformations": transforms}


def level_transform(
    dims: tuple[str, ...], spacing: dict[str, float], origin: dict[str, float], factor: dict[str, int],
    digits: int | None = 9,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Scale and translation of a level downsampled by `factor` from level 0.

    A level pixel averages `f` level-0 pixels, so its centre sits (f - 1) / 2 level-0 pixels
    after the first one: pixel centres stay physically aligned across levels. Rounded to
    `digits` decimals (1e-9 um, a femtometre step no microscope has, drops float noise);
    `digits=None` keeps the exact floats, for transforms that must read back bit for bit.
    """
    def rounded(value: float) -> float:
        return float(value) if digits is None else round(value, digits)

    scale, translation = [], []
    for ax in dims:
        if ax in spacing:
            f = factor.get(ax, 1)
            scale.append(rounded(spacing[ax] * f))
            translation.append(rounded(origin[ax] + (f - 1) / 2 * spacing[ax]))
        else:
            scale.append(1.0)
            translation.append(0.0)
    return tuple(scale), tuple(translation)
