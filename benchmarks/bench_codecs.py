"""Which codec and chunk size by default? Speed, size and viewer cost, measured on real images.

Part 1, codecs: every codec ngff-fuse offers, at its useful levels, on real microscope tiles
from `../shared/realdata` (a Zeiss widefield CZI, ImageXpress fluorescence sites, a camera
photo) plus a synthetic 2048^2 fluorescence-like image: compression ratio, and compress and
decompress MB/s on ONE core (blosc pinned to one thread), the unit in which a conversion on N
cores scales.

Part 2, chunk edge: with the default codec, for 256..2048 px chunks: ratio, compressed bytes
and decode time per chunk, zarr files per GPix (plain and with 2 x 2-chunk shards), and what a
web viewer pays to draw one 1920 x 1080 screen at full resolution (chunk requests and MB
fetched, averaged over screen positions).

    python benchmarks/bench_codecs.py              # ~1 minute
    python benchmarks/bench_codecs.py --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numcodecs
import numpy as np

from ngff_fuse.codecs import DEFAULT_CODEC, Codec
from ngff_fuse.readers import ReadOptions, reader_for
from ngff_fuse.testing import ground_truth

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
REAL_INPUTS = {
    "widefield CZI (uint16)": "czi-convallaria/mosaic_test.czi",
    "ImageXpress (uint16)": "imagexpress/SingleChannel",
    "camera photo (uint8)": "fiji-tileconfig-graphpaper/tile_config.txt",
}
CODECS = ("blosc-lz4:5", "blosc-zstd:1", "blosc-zstd:3", "blosc-zstd:5", "zstd:3", "gzip:5", "none")
CHUNK_EDGES = (256, 512, 1024, 2048)
SCREEN = (1080, 1920)  # y, x pixels a viewer draws at full resolution


def real_images() -> dict[str, np.ndarray]:
    """Up to four tiles of each real acquisition found in ../shared, as 2-D planes."""
    images = {}
    for label, relative in REAL_INPUTS.items():
        path = SHARED / relative
        if not path.exists():
            continue
        tileset = reader_for(path).read(path, ReadOptions())[0]
        planes = [np.asarray(tile.data[0, 0, 0]) for tile in tileset.tiles[:4]]
        images[label] = np.stack(planes)
    return images


def synthetic_image(edge: int = 2048) -> np.ndarray:
    return ground_truth((1, 1, 1, edge, edge), seed=3)[0, 0]


def best_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def measure_codec(spec: str, pieces: list[np.ndarray], repeat: int) -> tuple[float, float, float]:
    """(ratio, compress MB/s, decompress MB/s) of one codec over the pieces, on one core."""
    codec = Codec.parse(spec).zarr_v2()
    raw = sum(p.nbytes for p in pieces)
    if codec is None:
        return 1.0, float("inf"), float("inf")
    encoded = [codec.encode(p) for p in pieces]
    size = sum(len(e) for e in encoded)
    encode_s = best_seconds(lambda: [codec.encode(p) for p in pieces], repeat)
    decode_s = best_seconds(lambda: [codec.decode(e) for e in encoded], repeat)
    return raw / size, raw / encode_s / 1e6, raw / decode_s / 1e6


def chunks_of(image: np.ndarray, edge: int) -> list[np.ndarray]:
    return [
        np.ascontiguousarray(image[y:y + edge, x:x + edge])
        for y in range(0, image.shape[0] - edge + 1, edge)
        for x in range(0, image.shape[1] - edge + 1, edge)
    ]


def screen_cost(edge: int, bytes_per_chunk: float) -> tuple[float, float]:
    """Mean chunk requests and MB a viewer fetches to draw one screen at full resolution,
    over every placement of the screen relative to the chunk grid."""
    requests = []
    for offset in range(0, edge, max(1, edge // 16)):
        per_axis = [(offset + n - 1) // edge + 1 for n in SCREEN]
        requests.append(per_axis[0] * per_axis[1])
    mean = statistics.fmean(requests)
    return mean, mean * bytes_per_chunk / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="best of R timings per figure")
    args = parser.parse_args()
    numcodecs.blosc.set_nthreads(1)  # per-core figures

    inputs = real_images()
    if not inputs:
        print(f"(no real images found under {SHARED}; synthetic only)")
    inputs["synthetic fluorescence (uint16)"] = synthetic_image()

    print("## Codecs (one core; ratio = raw / compressed)\n")
    print("| image | " + " | ".join(CODECS) + " |")
    print("|---|" + "---|" * len(CODECS))
    for label, stack in inputs.items():
        pieces = [np.ascontiguousarray(plane) for plane in stack]
        cells = []
        for spec in CODECS:
            ratio, enc, dec = measure_codec(spec, pieces, args.repeat)
            cells.append("raw" if spec == "none" else f"{ratio:.2f}x, {enc:.0f} / {dec:.0f} MB/s")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("\n(cells: ratio, compress / decompress MB/s per core)\n")

    image = inputs["synthetic fluorescence (uint16)"][0]
    default = Codec.parse(DEFAULT_CODEC)
    print(f"## Chunk edge ({default}, synthetic {image.shape[0]}^2 uint16)\n")
    print("| chunk | ratio | KB per chunk | decode ms per chunk | files per GPix (plain / 2x2 shards) "
          "| screen: requests, MB |")
    print("|---|---|---|---|---|---|")
    for edge in CHUNK_EDGES:
        pieces = chunks_of(image, edge)
        ratio, _, dec = measure_codec(str(default), pieces, args.repeat)
        per_chunk = edge * edge * image.itemsize / ratio
        decode_ms = edge * edge * image.itemsize / (dec * 1e6) * 1e3
        files = 1e9 / (edge * edge)
        requests, megabytes = screen_cost(edge, per_chunk)
        print(f"| {edge} | {ratio:.2f}x | {per_chunk / 1e3:.0f} | {decode_ms:.1f} | "
              f"{files:,.0f} / {files / 4:,.0f} | {requests:.1f}, {megabytes:.1f} |")


if __name__ == "__main__":
    main()
