"""`--codec NAME[:LEVEL]` -> the compressor objects zarr v2 and v3 expect.

zarr and numcodecs are imported when compressors are built, not with this module: the CLI's
parser reads `CODECS` and `Codec.parse`, and `ngff-fuse --help` should not wait for zarr.
"""

from __future__ import annotations

from dataclasses import dataclass

from ngff_fuse.errors import InputError

# name -> (default level, highest level)
CODECS: dict[str, tuple[int, int]] = {
    "blosc-zstd": (1, 9),
    "blosc-lz4": (5, 9),
    "zstd": (3, 22),
    "gzip": (5, 9),
    "none": (0, 0),
}
#: The fastest zstd for a few % more bytes; lz4 is larger on fluorescence (figures from
#: benchmarks/bench_codecs.py: README, "How the defaults were chosen").
DEFAULT_CODEC = "blosc-zstd:1"


@dataclass(frozen=True)
class Codec:
    name: str
    level: int

    @classmethod
    def parse(cls, spec: str) -> Codec:
        name, _, level = spec.strip().lower().partition(":")
        if name not in CODECS:
            raise InputError(f"--codec {spec}: unknown codec; choose one of {', '.join(CODECS)}")
        default, highest = CODECS[name]
        try:
            value = int(level) if level else default
        except ValueError:
            raise InputError(f"--codec {spec}: the level must be a whole number") from None
        if not 0 <= value <= highest:
            raise InputError(f"--codec {spec}: level must be between 0 and {highest} for {name}")
        return cls(name, value)

    def __str__(self) -> str:
        return self.name if self.name == "none" else f"{self.name}:{self.level}"

    def zarr_v3(self, itemsize: int) -> tuple:
        """Compressors for zarr.create_array on a zarr v3 array: the codec, then a crc32c of its
        output, so damage inside a chunk fails to decode instead of reading as wrong pixels.
        Without it blosc-zstd and zstd decoded 36 and 32 of 40 single-byte flips in a chunk
        without an error (gzip, with its own CRC-32, caught all). crc32c is a core codec of the
        zarr v3 spec (sharded arrays' indexes carry one already); it costs 4 bytes a chunk and
        runs at ~20 GB/s on one core, within the noise of a whole convert (bench_fuse.py).
        zarr v2 (NGFF 0.4) gets none: no checksum codec is known to all its readers."""
        from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

        from ngff_fuse.gzip_codecs import DeterministicGzipCodec

        if self.name == "none":
            return (Crc32cCodec(),)
        if self.name.startswith("blosc-"):
            compressor = BloscCodec(cname=self.name[6:], clevel=self.level, shuffle="shuffle", typesize=itemsize)
        else:
            compressor = {"zstd": ZstdCodec, "gzip": DeterministicGzipCodec}[self.name](level=self.level)
        return (compressor, Crc32cCodec())

    def zarr_v2(self):
        import numcodecs

        from ngff_fuse.gzip_codecs import DeterministicGZip

        if self.name == "none":
            return None
        if self.name.startswith("blosc-"):
            return numcodecs.Blosc(cname=self.name[6:], clevel=self.level,
                                   shuffle=numcodecs.Blosc.SHUFFLE)
        return {"zstd": numcodecs.Zstd, "gzip": DeterministicGZip}[self.name](level=self.level)
