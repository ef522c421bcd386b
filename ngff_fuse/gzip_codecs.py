"""gzip that writes the same bytes for the same pixels, in zarr v2 and v3, new or resumed."""

from __future__ import annotations

import gzip
from dataclasses import replace
from functools import cached_property

import numcodecs
import zarr
from numcodecs.compat import ensure_contiguous_ndarray
from zarr.codecs import GzipCodec, ShardingCodec


class DeterministicGZip(numcodecs.GZip):
    """numcodecs' GZip (which zarr v3's gzip codec calls too) stamps the time of writing into
    every chunk's gzip header, so converting the same input twice wrote different bytes. With
    mtime 0, as `gzip -n` does, a chunk depends on its pixels alone; it reads as any gzip."""

    def encode(self, buf) -> bytes:
        return gzip.compress(ensure_contiguous_ndarray(buf), compresslevel=self.level, mtime=0)


class DeterministicGzipCodec(GzipCodec):
    """zarr v3's gzip codec, compressing with `DeterministicGZip`; the same metadata."""

    @cached_property
    def _gzip_codec(self) -> numcodecs.GZip:
        return DeterministicGZip(self.level)


def deterministic(array: zarr.Array) -> zarr.Array:
    """`array`, opened from its stored metadata (as a resumed run opens it), writing gzip as a
    new array does: zarr rebuilds a stored gzip codec as the time-stamping one, so a resumed
    run would write other bytes than an uninterrupted one. The metadata is unchanged."""
    metadata = array.metadata
    if metadata.zarr_format == 2:
        if type(metadata.compressor) is not numcodecs.GZip:
            return array
        metadata = replace(metadata, compressor=DeterministicGZip(level=metadata.compressor.level))
    else:
        metadata = replace(metadata, codecs=_deterministic_codecs(metadata.codecs))
    stored = array.async_array
    return zarr.Array(zarr.AsyncArray(metadata, stored.store_path, stored.config))


def _deterministic_codecs(codecs: tuple) -> tuple:
    """zarr v3 codecs with every gzip (inside shards too) replaced by `DeterministicGzipCodec`."""
    swapped = []
    for codec in codecs:
        if type(codec) is GzipCodec:
            codec = DeterministicGzipCodec(level=codec.level)
        elif isinstance(codec, ShardingCodec):
            codec = replace(codec, codecs=_deterministic_codecs(codec.codecs))
        swapped.append(codec)
    return tuple(swapped)
