"""OME-NGFF metadata, one object per version: axes or coordinate systems, per-level transforms,
omero channels, and (0.6) scenes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ngff_fuse.ngff.transforms import Linear, Transform, level_transformations
from ngff_fuse.version import VERSION

#: Name of the physical coordinate system (micrometres, or pixels for uncalibrated input) in
#: which NGFF 0.6 outputs place the fused image, and kept tiles in a scene.
STAGE = "stage"

_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
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


def axes(dims: tuple[str, ...], unit: str | None) -> list[dict[str, str]]:
    out = []
    for ax in dims:
        entry = {"name": ax, "type": _AXIS_TYPES[ax]}
        if unit and _AXIS_TYPES[ax] == "space":
            entry["unit"] = unit
        out.append(entry)
    return out


def coordinate_system(name: str, dims: Sequence[str], unit: str | None) -> dict[str, Any]:
    """A named 0.6 coordinate system over the image's axes (no unit: uncalibrated pixels)."""
    return {"name": name, "axes": axes(tuple(dims), unit)}


def _geometry_axes(meta: ImageMetadata) -> dict[str, Any]:
    """0.4 / 0.5: `axes`, and per level a scale then a translation."""
    return {
        "axes": axes(meta.dims, meta.unit),
        "datasets": [
            {
                "path": level.path,
                "coordinateTransformations": level_transformations(level.scale, level.translation, "0.4"),
            }
            for level in meta.levels
        ],
    }


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


def _multiscale(meta: ImageMetadata, geometry=_geometry_axes) -> dict[str, Any]:
    return {
        "name": meta.name,
        **geometry(meta),
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


class Ngff04:
    version = "0.4"
    zarr_format = 2

    def attributes(self, meta: ImageMetadata) -> dict[str, Any]:
        return {"multiscales": [{"version": self.version, **_multiscale(meta)}],
                "omero": {"version": self.version, **_omero(meta)}}

    def collection_root(self) -> dict[str, Any]:
        return {"bioformats2raw.layout": BF2RAW_LAYOUT}

    def collection_series(self, paths: list[str]) -> dict[str, Any]:
        return {"series": paths}


class Ngff05:
    version = "0.5"
    zarr_format = 3

    def attributes(self, meta: ImageMetadata) -> dict[str, Any]:
        return {"ome": {"version": self.version, "multiscales": [_multiscale(meta)],
                        "omero": _omero(meta)}}

    def collection_root(self) -> dict[str, Any]:
        return {"ome": {"version": self.version, "bioformats2raw.layout": BF2RAW_LAYOUT}}

    def collection_series(self, paths: list[str]) -> dict[str, Any]:
        return {"ome": {"version": self.version, "series": paths}}


class Ngff06(Ngff05):
    """NGFF 0.6 (zarr v3): the 0.5 layout with named coordinate systems.

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

    def attributes(self, meta: ImageMetadata) -> dict[str, Any]:
        return {"ome": {"version": self.version,
                        "multiscales": [_multiscale(meta, _geometry_coordinate_systems)],
                        "omero": _omero(meta)}}

    def scene_root(self, entries: Sequence[SceneEntry], dims: Sequence[str], unit: str | None) -> dict[str, Any]:
        """Root `ome` attributes of a group whose images share the STAGE coordinate system."""
        return {"ome": {"version": self.version, "scene": scene(entries, dims, unit)}}


FORMATS = {"0.4": Ngff04(), "0.5": Ngff05(), "0.6": Ngff06()}


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
