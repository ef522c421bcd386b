"""The few OME-XML fields that place tiles (sizes, pixel sizes, plane positions, channels), read
with the standard library.

ome-types builds the whole OME model and takes ~0.6 s to import (pydantic), bioio-ome-tiff
~1.1 s: more than fusing a 100 MPix mosaic takes beyond reading it (benchmarks/bench_process.py).
The attribute names and defaults are ome-types' (absent units: um for sizes, "reference frame"
for positions; absent colour: white), so `ome_tiff.ome_tileset` reads either.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ngff_fuse.errors import InputError

_SIZE_UNIT = "µm"  # OME's default PhysicalSize unit
_POSITION_UNIT = "reference frame"  # OME's default Plane Position unit
_WHITE = -1  # OME's default channel colour: signed RGBA 0xFFFFFFFF


@dataclass(frozen=True)
class OmeColor:
    """An OME colour: a signed 32-bit RGBA integer."""

    rgba: int

    def as_rgb_tuple(self, alpha: bool = False) -> tuple[int, ...]:
        value = self.rgba & 0xFFFFFFFF
        rgba = tuple((value >> shift) & 0xFF for shift in (24, 16, 8, 0))
        return rgba if alpha else rgba[:3]


@dataclass(frozen=True)
class OmePlane:
    the_t: int
    the_c: int
    the_z: int
    position_x: float | None
    position_y: float | None
    position_z: float | None
    position_x_unit: str
    position_y_unit: str
    position_z_unit: str


@dataclass(frozen=True)
class OmeChannel:
    name: str | None
    color: OmeColor
    samples_per_pixel: int | None


@dataclass(frozen=True)
class OmePixels:
    size_t: int
    size_c: int
    size_z: int
    size_y: int
    size_x: int
    physical_size_x: float | None
    physical_size_y: float | None
    physical_size_z: float | None
    physical_size_x_unit: str
    physical_size_y_unit: str
    physical_size_z_unit: str
    channels: tuple[OmeChannel, ...]
    planes: tuple[OmePlane, ...]


@dataclass(frozen=True)
class OmeImage:
    name: str | None
    pixels: OmePixels


@dataclass(frozen=True)
class OmeImages:
    """The images of one OME-XML document, as `ome_types.OME.images` lists them."""

    images: tuple[OmeImage, ...]


def _local(tag: str) -> str:
    """An element's name without its namespace (OME's schema year varies: 2010-06 to 2016-06)."""
    return tag.rpartition("}")[2]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _number(element: ET.Element, key: str, kind: type, default=None):
    text = element.get(key)
    if text is None:
        return default
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{_local(element.tag)} {key}={text!r} is not a number") from None


def _plane(element: ET.Element) -> OmePlane:
    return OmePlane(
        *(_number(element, key, int, 0) for key in ("TheT", "TheC", "TheZ")),
        *(_number(element, f"Position{ax}", float) for ax in "XYZ"),
        *(element.get(f"Position{ax}Unit", _POSITION_UNIT) for ax in "XYZ"),
    )


def _channel(element: ET.Element) -> OmeChannel:
    return OmeChannel(element.get("Name"), OmeColor(_number(element, "Color", int, _WHITE)),
                      _number(element, "SamplesPerPixel", int))


def _pixels(element: ET.Element) -> OmePixels:
    sizes = [_number(element, f"Size{ax}", int) for ax in "TCZYX"]
    if None in sizes:
        raise ValueError("a Pixels element lacks one of SizeT/C/Z/Y/X")
    return OmePixels(
        *sizes,
        *(_number(element, f"PhysicalSize{ax}", float) for ax in "XYZ"),
        *(element.get(f"PhysicalSize{ax}Unit", _SIZE_UNIT) for ax in "XYZ"),
        channels=tuple(_channel(c) for c in _children(element, "Channel")),
        planes=tuple(_plane(p) for p in _children(element, "Plane")),
    )


def parse_ome_images(xml: str, where: Path) -> OmeImages:
    """The images `xml` describes; one line naming `where` if it does not parse."""
    try:
        root = ET.fromstring(xml)
        images = []
        for image in _children(root, "Image"):
            pixels = _children(image, "Pixels")
            if len(pixels) != 1:
                raise ValueError(f"image {len(images)} has {len(pixels)} Pixels elements, not one")
            images.append(OmeImage(image.get("Name"), _pixels(pixels[0])))
    except (ET.ParseError, ValueError) as exc:
        raise InputError(f"{where}: cannot read its OME-XML ({exc}); the file may be damaged, "
                         "copy it again") from None
    return OmeImages(tuple(images))
