"""The OME-XML of a multi-scene store: `OME/METADATA.ome.xml` of the bioformats2raw layout, one
`Image` per scene, as bioformats2raw writes it. Readers of that layout find the scenes and their
names through it (napari-ome-zarr opens nothing without it; ome-zarr-py's finder names the
images from it; raw2ometiff needs it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ome_types import model, to_xml
from ome_types.model import UnitsLength

from ngff_fuse.errors import InputError
from ngff_fuse.version import VERSION

#: Where the layout keeps it, relative to the store's root.
METADATA_XML = "OME/METADATA.ome.xml"
_FLOAT_TYPES = {"float32": "float", "float64": "double"}
_INT_TYPES = ("int8", "int16", "int32", "uint8", "uint16", "uint32")


@dataclass(frozen=True)
class SceneDescription:
    """What the OME-XML says about one scene (image `i` of the store)."""

    name: str
    sizes: dict[str, int]  # per axis among t c z y x; absent axes are 1
    dtype: np.dtype
    spacing: dict[str, float]  # pixel size per spatial axis present
    unit: str | None  # NGFF length unit of `spacing`; None: uncalibrated pixels
    channels: tuple[tuple[str, str | None], ...]  # (name, RRGGBB or None) per channel


def pixel_type(dtype: np.dtype) -> str:
    """The OME pixel type of `dtype`; OME has none for 64-bit integers, booleans or complex."""
    name = np.dtype(dtype).name
    if name in _INT_TYPES:
        return name
    if name in _FLOAT_TYPES:
        return _FLOAT_TYPES[name]
    raise InputError(f"{name} pixels: OME-XML, which a multi-scene store needs, has no such pixel type; "
                     "convert the scenes one at a time with --scene N")


def metadata_xml(scenes: Sequence[SceneDescription]) -> str:
    """The OME-XML document: `Image:i` for the scene in group `i` (how the layout's readers
    map images to groups), named, with its pixel type, sizes, physical pixel sizes and
    channels; `MetadataOnly`, as the pixels are in the zarr arrays."""
    return to_xml(model.OME(creator=f"ngff-fuse {VERSION}",
                            images=[_image(i, scene) for i, scene in enumerate(scenes)]))


def _image(index: int, scene: SceneDescription) -> model.Image:
    size = {ax: scene.sizes.get(ax, 1) for ax in "tczyx"}
    physical = {}
    if scene.unit is not None:
        unit = UnitsLength[scene.unit.upper()]
        for ax, value in scene.spacing.items():
            physical[f"physical_size_{ax}"] = value
            physical[f"physical_size_{ax}_unit"] = unit
    channels = [
        model.Channel(id=f"Channel:{index}:{c}", name=name, samples_per_pixel=1,
                      **({"color": model.Color(f"#{color}")} if color else {}))
        for c, (name, color) in enumerate(scene.channels)
    ]
    pixels = model.Pixels(
        id=f"Pixels:{index}", dimension_order="XYZCT", type=pixel_type(scene.dtype),
        size_x=size["x"], size_y=size["y"], size_z=size["z"], size_c=size["c"], size_t=size["t"],
        channels=channels, metadata_only=True, **physical,
    )
    return model.Image(id=f"Image:{index}", name=scene.name, pixels=pixels)
