"""Samples of a pixel (RGB, RGBA, any samples per pixel) become channels of their own.

NGFF has no samples axis: an RGB image is three channels, coloured red, green and blue, so
viewers composite them back into the picture. Keeping only the first sample (bioio's default
for "TCZYX") silently drops two thirds of the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import dask.array as da

#: Names and display colours of the samples of RGB and RGBA pixels, in file order.
RGB_NAMES = ("R", "G", "B")
RGB_COLORS = ("FF0000", "00FF00", "0000FF")
_ALPHA = ("A", "FFFFFF")


def sample_labels(samples: int) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """Names and colours of `samples` samples per pixel: R, G, B (and A); S0, S1, ... with no
    colour for other counts (two samples, multispectral pixels)."""
    if samples == 3:
        return RGB_NAMES, RGB_COLORS
    if samples == 4:
        return (*RGB_NAMES, _ALPHA[0]), (*RGB_COLORS, _ALPHA[1])
    return tuple(f"S{i}" for i in range(samples)), (None,) * samples


def channel_labels(
    channels: int, samples: int, names: Sequence[str] = (), colors: Sequence[str | None] = ()
) -> tuple[tuple[str, ...], tuple[str | None, ...]]:
    """Names and colours of the channels * samples channels `samples_as_channels` makes: the
    samples' own (R, G, B) for one channel, else "<channel> R" and so on, coloured as the
    samples. With one sample the channels keep the names and colours given (none: ())."""
    if samples == 1:
        return tuple(names), tuple(colors)
    labels, sample_colors = sample_labels(samples)
    if channels == 1:
        return labels, sample_colors
    names = tuple(names) if len(names) == channels else tuple(f"Channel {i}" for i in range(channels))
    return tuple(f"{n} {label}" for n in names for label in labels), sample_colors * channels


def samples_as_channels(data: da.Array) -> da.Array:
    """(t, c, z, y, x, s) pixels as (t, c * s, z, y, x): channel c sample s is channel c * s + s
    (named by `channel_labels`)."""
    t, c, z, y, x, s = data.shape
    if s == 1:
        return data[..., 0]
    return da.moveaxis(data, 5, 2).reshape((t, c * s, z, y, x))
