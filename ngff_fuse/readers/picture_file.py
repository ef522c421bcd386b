"""PNG and JPEG tiles, which Fiji's stitching examples and camera exports use and no bioio
plugin ngff-fuse installs reads.

PNG is decoded by imagecodecs (libpng: 16-bit RGB kept 16-bit, which Pillow reduces to 8 bits
without a word; palettes expanded to RGB, transparency to an alpha sample), JPEG by Pillow
(which turns YCbCr and CMYK into RGB). Only the header is read when a tile is opened; a tile is
decoded when fusion first reads it, and the last few decoded tiles are kept per process. Every
sample (R, G, B, alpha) is a channel.
"""

from __future__ import annotations

import os
import struct
from collections import OrderedDict
from pathlib import Path
from threading import Lock

import dask.array as da
import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.readers.samples import channel_labels
from ngff_fuse.readers.raster_reads import index_ranges

PNG_SUFFIXES = (".png",)
JPEG_SUFFIXES = (".jpg", ".jpeg")
PICTURE_SUFFIXES = PNG_SUFFIXES + JPEG_SUFFIXES
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_SAMPLES = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> samples (palette: expanded to RGB)
_CACHED = 8  # decoded pictures kept per process


def _png_header(path: Path) -> tuple[int, int, np.dtype, int]:
    """(height, width, dtype, samples) of the pixels libpng decodes, from the chunks before the
    image data: IHDR, and a tRNS chunk (transparency, decoded as one more sample)."""
    with open(path, "rb") as handle:
        if handle.read(8) != _PNG_SIGNATURE:
            raise ValueError("not a PNG file")
        header, transparent = None, False
        while True:
            length, kind = struct.unpack(">I4s", handle.read(8))
            if kind == b"IHDR":
                header = struct.unpack(">IIBB", handle.read(10))
                handle.seek(length - 10 + 4, os.SEEK_CUR)
            elif kind in (b"IDAT", b"IEND") or length > 1 << 31:
                break
            else:
                transparent |= kind == b"tRNS"
                handle.seek(length + 4, os.SEEK_CUR)
    if header is None or header[3] not in _PNG_SAMPLES:
        raise ValueError("no valid IHDR chunk")
    width, height, depth, color = header
    samples = _PNG_SAMPLES[color] + (transparent and color in (0, 2, 3))
    dtype = np.uint16 if depth == 16 else np.bool_ if (depth, samples) == (1, 1) else np.uint8
    return height, width, np.dtype(dtype), samples


def _jpeg_header(path: Path) -> tuple[int, int, np.dtype, int]:
    from PIL import Image

    with Image.open(path) as picture:
        if picture.format != "JPEG":
            raise ValueError(f"a {picture.format} file, not a JPEG")
        width, height = picture.size
        return height, width, np.dtype(np.uint8), 1 if picture.mode == "L" else 3


class PicturePixels:
    """A lazy (t, c, z, y, x) array over one PNG/JPEG, its samples as channels."""

    def __init__(self, path: Path, height: int, width: int, dtype: np.dtype, samples: int) -> None:
        self.path = str(path)
        self.shape = (1, samples, 1, height, width)
        self.dtype = dtype
        self.ndim = 5

    def __getitem__(self, key) -> np.ndarray:
        ranges, squeeze = index_ranges(key, self.shape)
        pixels = _decoded(self.path, self.shape, self.dtype)  # (y, x, samples)
        t, c, z, y, x = (np.asarray(r, dtype=np.intp) for r in ranges)
        block = pixels[np.ix_(y, x, c)].transpose(2, 0, 1)  # (c, y, x); t and z hold one plane
        out = np.broadcast_to(block[None, :, None], (len(t), len(c), len(z), len(y), len(x))).copy()
        return out.squeeze(axis=tuple(squeeze)) if squeeze else out


_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
_cache_lock = Lock()


def _decode(path: str) -> np.ndarray:
    if path.lower().endswith(PNG_SUFFIXES):
        import imagecodecs

        return imagecodecs.png_decode(Path(path).read_bytes())
    from PIL import Image

    with Image.open(path) as picture:
        return np.asarray(picture if picture.mode == "L" else picture.convert("RGB"))


def _decoded(path: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The picture's (y, x, samples) pixels, decoded once while recently used and unchanged;
    a picture that decodes to other than its header said (rewritten meanwhile) is refused."""
    stat = os.stat(path)
    key = (path, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    pixels = _decode(path)
    pixels = pixels.reshape(*pixels.shape[:2], -1)
    if dtype == np.bool_:
        pixels = pixels > 0  # libpng spreads 1-bit pixels over 0..255
    if pixels.shape != (shape[3], shape[4], shape[1]) or pixels.dtype != dtype:
        raise InputError(f"{path}: decodes to {pixels.dtype} {pixels.shape} but its header says {dtype} "
                         f"{(shape[3], shape[4], shape[1])}; the file changed or is damaged")
    with _cache_lock:
        _cache[key] = pixels
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return pixels


def read_picture(path: Path) -> tuple[da.Array, tuple[str, ...], tuple[str | None, ...]]:
    """Lazy pixels of a PNG or JPEG, and its channels' names and colours (R, G, B, A)."""
    header = _png_header if path.suffix.lower() in PNG_SUFFIXES else _jpeg_header
    try:
        height, width, dtype, samples = header(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except (OSError, ValueError, struct.error) as exc:
        raise InputError(f"{path}: cannot be read as a {path.suffix[1:].upper()} ({exc}); check that "
                         "the file is complete") from None
    pixels = PicturePixels(path, height, width, dtype, samples)
    data = da.from_array(pixels, chunks=pixels.shape, inline_array=True, meta=np.empty((0,) * 5, dtype))
    names, colors = channel_labels(1, samples)
    return data, names, colors
