"""PNG and JPEG tiles, which Fiji's stitching examples and camera exports use and no bioio
plugin ngff-fuse installs reads: decoded with Pillow (a dependency of matplotlib).

Only the header is read when a tile is opened; a tile is decoded when fusion first reads it,
and the last few decoded tiles are kept per process. Every sample (R, G, B, alpha) is a channel.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from threading import Lock

import dask.array as da
import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.readers.samples import channel_labels
from ngff_fuse.readers.tiff_planes import index_ranges

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Pillow mode -> (dtype, samples) of the pixels as read; other modes (palette, CMYK, YCbCr,
#: ...) are converted to RGB, or RGBA where they carry transparency.
_MODES = {
    "1": (np.bool_, 1), "L": (np.uint8, 1), "LA": (np.uint8, 2), "RGB": (np.uint8, 3),
    "RGBA": (np.uint8, 4), "I;16": (np.uint16, 1), "I;16B": (np.uint16, 1), "I": (np.int32, 1),
    "F": (np.float32, 1),
}
_CACHED = 8  # decoded pictures kept per process


def _target_mode(picture) -> str:
    if picture.mode in _MODES:
        return picture.mode
    return "RGBA" if "transparency" in picture.info or picture.mode.endswith("A") else "RGB"


class PicturePixels:
    """A lazy (t, c, z, y, x) array over one PNG/JPEG, its samples as channels."""

    def __init__(self, path: Path, mode: str, height: int, width: int) -> None:
        dtype, samples = _MODES[mode]
        self.path, self.mode = str(path), mode
        self.shape = (1, samples, 1, height, width)
        self.dtype = np.dtype(dtype)
        self.ndim = 5

    def __getitem__(self, key) -> np.ndarray:
        ranges, squeeze = index_ranges(key, self.shape)
        pixels = _decoded(self.path, self.mode)  # (y, x) or (y, x, samples)
        planes = pixels.reshape(*pixels.shape[:2], -1)
        t, c, z, y, x = (np.asarray(r, dtype=np.intp) for r in ranges)
        block = planes[np.ix_(y, x, c)].transpose(2, 0, 1)  # (c, y, x); t and z hold one plane
        out = np.broadcast_to(block[None, :, None], (len(t), len(c), len(z), len(y), len(x))).copy()
        return out.squeeze(axis=tuple(squeeze)) if squeeze else out


_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
_cache_lock = Lock()


def _decoded(path: str, mode: str) -> np.ndarray:
    """The picture's pixels, decoded once while it is recently used and unchanged."""
    from PIL import Image

    stat = os.stat(path)
    key = (path, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    with Image.open(path) as picture:
        pixels = np.asarray(picture if picture.mode == mode else picture.convert(mode))
    with _cache_lock:
        _cache[key] = pixels
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return pixels


def read_picture(path: Path) -> tuple[da.Array, tuple[str, ...], tuple[str | None, ...]]:
    """Lazy pixels of a PNG or JPEG, and its channels' names and colours (R, G, B, A)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            mode, (width, height) = _target_mode(picture), picture.size
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; check the path") from None
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"{path}: cannot be read as a PNG or JPEG ({exc}); check that the file "
                         "is complete") from None
    pixels = PicturePixels(path, mode, height, width)
    data = da.from_array(pixels, chunks=pixels.shape, inline_array=True, meta=np.empty((0,) * 5, pixels.dtype))
    names, colors = channel_labels(1, pixels.shape[1])
    return data, names, colors
