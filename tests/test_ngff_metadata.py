"""NGFF 0.4 / 0.5 metadata is made and checked by the libraries that define it before it is
written (ome-zarr-py's format objects and axes, ome-zarr-models' models): what they refuse
never reaches a store. End to end, every output is read back by them in test_interop.py."""

from __future__ import annotations

import json

import pytest

from ngff_fuse.ngff.metadata import FORMATS, ChannelDisplay, ImageMetadata, Level

VERSIONS = ["0.4", "0.5"]


def _metadata(dims=("c", "y", "x"), scale=(1.0, 0.5, 0.5), color="FF0000") -> ImageMetadata:
    level = Level("0", scale, (0.0,) * len(dims))
    channel = ChannelDisplay("DAPI", color, (0.0, 255.0, 3.0, 200.0))
    return ImageMetadata("image", dims, "micrometer", (level,), (channel,), "mean")


@pytest.mark.parametrize("version", VERSIONS)
def test_version_and_zarr_format_are_the_librarys(version):
    """Spelled out (choosing a format imports no library), and what ome-zarr-py says."""
    from ome_zarr.format import FormatV04, FormatV05

    library = {"0.4": FormatV04, "0.5": FormatV05}[version]()
    assert (FORMATS[version].version, FORMATS[version].zarr_format) == (library.version, library.zarr_format)
    assert type(FORMATS[version].library) is type(library)


@pytest.mark.parametrize("version", VERSIONS)
def test_axes_come_from_ome_zarr_py_with_its_order_rules(version):
    ome = FORMATS[version].attributes(_metadata())
    ome = ome.get("ome", ome)
    assert [(a["name"], a["type"], a.get("unit")) for a in ome["multiscales"][0]["axes"]] == [
        ("c", "channel", None), ("y", "space", "micrometer"), ("x", "space", "micrometer")]
    with pytest.raises(ValueError, match="'space' axes must come after 'channel'"):
        FORMATS[version].attributes(_metadata(dims=("y", "c", "x")))


@pytest.mark.parametrize("version", VERSIONS)
def test_level_transforms_are_checked_by_the_format(version):
    with pytest.raises(ValueError, match="must match number of image dimensions"):
        FORMATS[version].attributes(_metadata(scale=(0.5, 0.5)))


@pytest.mark.parametrize("version", VERSIONS)
def test_omero_is_validated_by_ome_zarr_models(version):
    with pytest.raises(ValueError, match="color"):
        FORMATS[version].attributes(_metadata(color="red"))


@pytest.mark.parametrize("version", VERSIONS)
def test_the_json_is_what_ome_zarr_py_writes_from_the_same_parts(version):
    """ngff-fuse writes its own JSON (one write, with the completeness marker): it is what
    ome-zarr-py's writer makes of the same datasets, axes, name, metadata and omero, but for
    the key order and the multiscale `type` (which that writer has no argument for)."""
    import zarr
    from ome_zarr.writer import write_multiscales_metadata

    fmt = FORMATS[version]
    ours = fmt.attributes(_metadata(dims=("c", "z", "y", "x"), scale=(1.0, 2.0, 0.5, 0.5)))
    ome = ours.get("ome", ours)
    multiscale = {k: v for k, v in ome["multiscales"][0].items() if k != "type"}
    group = zarr.open_group(zarr.storage.MemoryStore(), mode="w", zarr_format=fmt.zarr_format)
    write_multiscales_metadata(group, multiscale["datasets"], fmt.library, multiscale["axes"],
                               name=multiscale["name"],
                               metadata={**multiscale["metadata"], "omero": ome["omero"]})
    del ome["multiscales"][0]["type"]
    assert json.dumps(dict(group.attrs), sort_keys=True) == json.dumps(ours, sort_keys=True)


def test_ngff06_omero_is_validated_too():
    """0.6 keeps 0.5's omero: hand-built 0.6 metadata still goes through its model."""
    with pytest.raises(ValueError, match="color"):
        FORMATS["0.6"].attributes(_metadata(color="red"))
