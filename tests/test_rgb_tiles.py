"""RGB, RGBA and multi-sample tiles keep every sample as a channel, through every reader that
can deliver samples: plain TIFF and OME-TIFF tiles (tifffile's samples axis S), listed by a
TileConfiguration or a manifest. Tiles are cut from real images (three different real graph
paper tiles as R, G and B, so a swapped or dropped sample shows), and the fused mosaic must
equal that picture, sample by sample."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr

from ngff_fuse import ReadOptions, WriteOptions, convert
from ngff_fuse.cli import main

TILE = (70, 90)
OFFSETS = [(0, 0), (0, 70), (50, 0), (50, 70)]  # (y, x): 20 px overlaps
SHAPE = (120, 160)
OMERO_COLORS = {"R": "FF0000", "G": "00FF00", "B": "0000FF", "A": "FFFFFF"}


@pytest.fixture(scope="module")
def picture(shared_dir) -> np.ndarray:
    """(y, x, 4) uint8: four different real tiles as R, G, B and A."""
    folder = shared_dir / "realdata" / "fiji-tileconfig-graphpaper"
    planes = [tifffile.imread(folder / f"{i}.tif")[300:300 + SHAPE[0], 200:200 + SHAPE[1]] for i in (1, 4, 7, 10)]
    assert len({p.tobytes() for p in planes}) == 4
    return np.stack(planes, axis=-1)


def cut(image: np.ndarray) -> list[np.ndarray]:
    return [image[y:y + TILE[0], x:x + TILE[1]] for y, x in OFFSETS]


def write_tileconfig(folder, tiles: list[np.ndarray], **options):
    lines = ["dim = 2"]
    for i, (tile, (y, x)) in enumerate(zip(tiles, OFFSETS)):
        tifffile.imwrite(folder / f"tile{i}.tif", tile, **options)
        lines.append(f"tile{i}.tif; ; ({x}.0, {y}.0)")
    path = folder / "TileConfiguration.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def level0(out) -> tuple[np.ndarray, list[tuple[str, str]]]:
    group = zarr.open_group(out, mode="r")
    channels = group.attrs["ome"]["omero"]["channels"]
    return group["0"][...], [(c["label"], c["color"]) for c in channels]


@pytest.mark.parametrize("samples", [3, 4], ids=["rgb", "rgba"])
def test_rgb_tiff_tiles_through_the_cli_keep_every_sample(picture, tmp_path, samples, capsys):
    image = picture[..., :samples]
    extra = {"extrasamples": ["unassalpha"]} if samples == 4 else {}
    config = write_tileconfig(tmp_path, cut(image), photometric="rgb", **extra)
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(config), str(out), "--pixel-size", "0.5"]) == 0
    fused, channels = level0(out)
    assert fused.shape == (samples, *SHAPE)
    for s in range(samples):  # every sample, in its own channel, exactly
        assert np.array_equal(fused[s], image[..., s]), s
    labels = "RGBA"[:samples]
    assert channels == [(label, OMERO_COLORS[label]) for label in labels]
    capsys.readouterr()
    assert main(["info", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scenes"][0]["channels"] == list(labels)


def test_rgb_ome_tiff_series_through_the_api_keep_every_sample(picture, tmp_path):
    image = picture[..., :3]
    path = tmp_path / "slide.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for tile, (y, x) in zip(cut(image), OFFSETS):
            tif.write(tile, photometric="rgb", metadata={
                "axes": "YXS", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                "Plane": {"PositionX": [x * 0.5], "PositionY": [y * 0.5],
                          "PositionXUnit": ["µm"], "PositionYUnit": ["µm"]},
            })
    out = tmp_path / "out.ome.zarr"
    convert(path, out)
    fused, channels = level0(out)
    assert np.array_equal(fused, np.moveaxis(image, 2, 0))
    assert channels == [("R", "FF0000"), ("G", "00FF00"), ("B", "0000FF")]


def test_several_rgb_channels_in_a_manifest_become_channel_times_sample(picture, tmp_path):
    """Two channels of RGB pixels (axes CYXS): six channels, "<channel> R" and so on."""
    stacked = np.stack([picture[..., :3], picture[..., 1:]])  # (c, y, x, s)
    rows = []
    for i, (y, x) in enumerate(OFFSETS):
        tifffile.imwrite(tmp_path / f"tile{i}.tif", stacked[:, y:y + TILE[0], x:x + TILE[1]],
                         photometric="rgb", metadata={"axes": "CYXS"})
        rows.append({"file": f"tile{i}.tif", "x": float(x), "y": float(y)})
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"version": "1", "position_unit": "pixel", "tiles": rows}))
    out = tmp_path / "out.ome.zarr"
    convert(manifest, out, ReadOptions(pixel_size=(1.0, 0.5, 0.5)), WriteOptions())
    fused, channels = level0(out)
    assert np.array_equal(fused, np.moveaxis(stacked, 3, 1).reshape(6, *SHAPE))
    names = [f"Channel {c} {s}" for c in range(2) for s in "RGB"]
    assert channels == [(n, OMERO_COLORS[n[-1]]) for n in names]


def write_picture(path, tile: np.ndarray, kind: str) -> np.ndarray:
    """Write `tile` as `kind`; returns what the file holds, read back by an independent decoder
    where the format changes the pixels (JPEG's artefacts, a palette's colours)."""
    import imagecodecs
    import imageio.v3 as iio
    from PIL import Image

    if kind == "png-rgb16":  # Pillow (and so imageio) cannot write or read 16-bit RGB
        path.write_bytes(imagecodecs.png_encode(tile))
        return tile
    if kind == "png-palette":  # 5 colours and a transparent one: RGBA
        Image.fromarray(tile).quantize(6).save(path, transparency=0)
        return np.asarray(Image.open(path).convert("RGBA"))
    if kind == "png-1bit":
        Image.fromarray(tile > 127).save(path)
        return (tile > 127).astype(np.uint8)  # bool pixels are written as 0 and 1
    iio.imwrite(path, tile)
    return iio.imread(path)


KINDS = {  # kind: (source picture, suffix, channel labels)
    "png-rgb": (lambda p: p[..., :3], ".png", "RGB"),
    "png-rgba": (lambda p: p, ".png", "RGBA"),
    "png-gray16": (lambda p: p[..., 0].astype(np.uint16) * 257, ".png", ""),
    "png-rgb16": (lambda p: p[..., :3].astype(np.uint16) * 257 + np.arange(3, dtype=np.uint16), ".png", "RGB"),
    "png-palette": (lambda p: p[..., :3], ".png", "RGBA"),
    "png-1bit": (lambda p: p[..., 0], ".png", ""),
    "jpeg-rgb": (lambda p: p[..., :3], ".jpg", "RGB"),
    "jpeg-gray": (lambda p: p[..., 0], ".jpg", ""),
}


@pytest.mark.parametrize("kind", KINDS)
def test_png_and_jpeg_tiles_keep_every_sample(picture, tmp_path, kind, capsys):
    """PNG and JPEG tiles listed by a TileConfiguration: with `first`, every pixel is the first
    listed tile's as the file holds it, sample by sample (16 bits kept, palettes as RGBA)."""
    source, suffix, labels = KINDS[kind]
    image = source(picture)
    lines, held = ["dim = 2"], []
    for i, (tile, (y, x)) in enumerate(zip(cut(image), OFFSETS)):
        held.append(write_picture(tmp_path / f"tile{i}{suffix}", tile, kind))
        lines.append(f"tile{i}{suffix}; ; ({x}.0, {y}.0)")
    (tmp_path / "TileConfiguration.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(tmp_path / "TileConfiguration.txt"), str(out), "--blend", "first"]) == 0
    fused, channels = level0(out)
    expected = np.zeros(SHAPE + held[0].shape[2:], held[0].dtype)
    for tile, (y, x) in reversed(list(zip(held, OFFSETS))):  # the first tile painted last wins
        expected[y:y + TILE[0], x:x + TILE[1]] = tile
    expected = np.moveaxis(expected, 2, 0) if expected.ndim == 3 else expected
    assert fused.dtype == expected.dtype and np.array_equal(fused, expected)
    if labels:
        assert channels == [(label, OMERO_COLORS[label]) for label in labels]
    assert "has no pixel size" in capsys.readouterr().out


def test_a_damaged_png_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "tile0.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "TileConfiguration.txt").write_text("dim = 2\ntile0.png; ; (0.0, 0.0)\n")
    assert main(["convert", str(tmp_path / "TileConfiguration.txt"), str(tmp_path / "out.ome.zarr")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tile0.png" in err and "PNG" in err, err


@pytest.mark.parametrize("dims", ["MTCZYXS", "TCZYXS", "MCYXS", "TZYXS", "MTCZYX"])
def test_vendor_reader_arrays_put_each_sample_of_each_channel_in_its_own_channel(dims):
    """bioio's arrays of LIF and ND2 tiles (M tiles; S the samples of RGB pixels): channel
    c * samples + s of tile m is sample s of channel c, whatever the axis order; names and
    colours follow (`channel_labels`)."""
    import dask.array as da

    from ngff_fuse.readers._bioio_mosaic import bioio_tiles
    from ngff_fuse.readers.samples import channel_labels

    sizes = {"M": 2, "T": 2, "C": 2, "Z": 3, "Y": 5, "X": 4, "S": 3}
    shape = tuple(sizes[d] for d in dims)
    values = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    tiles, samples = bioio_tiles(da.from_array(values, chunks=2), list(dims))
    assert samples == sizes["S"] if "S" in dims else samples == 1
    assert len(tiles) == (sizes["M"] if "M" in dims else 1)
    channels = sizes["C"] if "C" in dims else 1
    for m, tile in enumerate(tiles):
        got = tile.compute()
        assert got.shape == tuple(sizes[d] if d in dims else 1 for d in "T") + (channels * samples,) + \
            tuple(sizes[d] if d in dims else 1 for d in "ZYX")
        for t, c, s, z in np.ndindex(got.shape[0], channels, samples, got.shape[2]):
            where = {"M": m, "T": t, "C": c, "Z": z, "S": s}
            index = tuple(where[d] if d in where else slice(None) for d in dims)
            assert np.array_equal(got[t, c * samples + s, z], values[index]), (t, c, s, z)
    names, colors = channel_labels(channels, samples, ["DAPI", "GFP"][:channels])
    if samples == 3 and channels == 2:
        assert names == ("DAPI R", "DAPI G", "DAPI B", "GFP R", "GFP G", "GFP B")
        assert colors == ("FF0000", "00FF00", "0000FF") * 2
    elif samples == 3:
        assert names == ("R", "G", "B")
    else:
        assert names == ("DAPI", "GFP")[:channels]
