"""Tiled and compressed TIFF planes read segment by segment (`readers/tiff_segments.py`): every
region equals tifffile's own whole-page read, the oracle, for tiles and strips, compressed or
not, with samples interleaved or planar and edges that cut tiles; the decode cache stays
within its bound and is one cache across pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import tifffile

from ngff_fuse.errors import DamagedFile
from ngff_fuse.readers.image_file import read_image_file
from ngff_fuse.readers.tiff_planes import TiffPlanes
from ngff_fuse.readers.tiff_segments import SegmentCache

RNG = np.random.default_rng(3)
GRAY = RNG.integers(0, 60000, (150, 230), dtype=np.uint16)  # not a multiple of any tile edge
RGB = RNG.integers(0, 255, (150, 230, 3), dtype=np.uint8)

KINDS = {
    "tiles 64, uncompressed": (GRAY, {"tile": (64, 64)}),
    "tiles 32x48, zlib": (GRAY, {"tile": (32, 48), "compression": "zlib"}),
    "strips of 7 rows, zlib": (GRAY, {"compression": "zlib", "rowsperstrip": 7}),
    "strips, lzw with predictor": (GRAY, {"compression": "lzw", "predictor": True}),
    "RGB interleaved, tiles 64, zlib": (RGB, {"tile": (64, 64), "compression": "zlib", "photometric": "rgb"}),
    "RGB planar, tiles 64": (np.moveaxis(RGB, -1, 0), {"tile": (64, 64), "photometric": "rgb",
                                                        "planarconfig": "separate"}),
}
REGIONS = [(slice(None), slice(None)), (slice(40, 41), slice(0, 230)), (slice(63, 130), slice(47, 200)),
           (slice(149, 150), slice(229, 230)), (slice(3, 140, 5), slice(200, 10, -7))]


def planes(kind: str, tmp_path) -> tuple[TiffPlanes, np.ndarray]:
    """Our lazy planes of the written file, and tifffile's (c, y, x) pixels of it."""
    data, options = KINDS[kind]
    path = tmp_path / "tile.tif"
    tifffile.imwrite(path, data, **({"photometric": "minisblack"} | options))
    truth = tifffile.imread(path)
    truth = truth[None] if truth.ndim == 2 else (np.moveaxis(truth, -1, 0) if truth.shape[-1] == 3 else truth)
    graph = read_image_file(path).data.__dask_graph__()
    lazy = next(node.value for task in dict(graph).values() for node in getattr(task, "args", ())
                if isinstance(getattr(node, "value", None), TiffPlanes))
    return lazy, truth


@pytest.mark.parametrize("kind", list(KINDS))
def test_regions_read_as_tifffile_reads_the_page(kind, tmp_path):
    lazy, truth = planes(kind, tmp_path)
    assert lazy.table.offsets[0] < 0  # read by segments, not as one contiguous band
    for c in range(truth.shape[0]):
        for ys, xs in REGIONS:
            np.testing.assert_array_equal(lazy[0, c, 0, ys, xs], truth[c, ys, xs], err_msg=f"{kind} {ys} {xs}")


def test_the_cache_keeps_decoded_segments_within_its_bound(tmp_path):
    lazy, truth = planes("tiles 32x48, zlib", tmp_path)
    segment_bytes = 32 * 48 * 2
    bounded = TiffPlanes(lazy.table, SegmentCache(limit=5 * segment_bytes))
    np.testing.assert_array_equal(bounded[0, 0, 0], truth[0])  # 25 segments through room for 5
    assert 0 < bounded.cache.nbytes <= 5 * segment_bytes
    again = TiffPlanes(lazy.table, SegmentCache())
    np.testing.assert_array_equal(again[0, 0, 0, 10:20, 10:20], truth[0, 10:20, 10:20])
    assert again.cache.nbytes == segment_bytes  # one segment decoded for a region inside it


def test_a_pickled_cache_is_the_same_cache_in_this_process():
    cache = SegmentCache(limit=1234)
    copy = pickle.loads(pickle.dumps(cache))
    assert copy is cache
    name = cache.name
    del cache, copy
    fresh = pickle.loads(pickle.dumps(SegmentCache(limit=99, name=name)))
    assert fresh.limit == 99 and fresh.nbytes == 0


def test_a_rewritten_file_is_decoded_again(tmp_path):
    lazy, truth = planes("tiles 32x48, zlib", tmp_path)
    np.testing.assert_array_equal(lazy[0, 0, 0], truth[0])
    tifffile.imwrite(tmp_path / "tile.tif", GRAY[::-1].copy(), tile=(32, 48), compression="zlib",
                     photometric="minisblack")
    np.testing.assert_array_equal(lazy[0, 0, 0], GRAY[::-1])


def test_a_damaged_segment_is_refused_naming_the_file(tmp_path):
    lazy, _ = planes("tiles 32x48, zlib", tmp_path)
    path = tmp_path / "tile.tif"
    raw = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        start = tif.pages[0].dataoffsets[7]
    raw[start:start + 16] = b"\xff" * 16
    path.write_bytes(bytes(raw))
    with pytest.raises(DamagedFile, match=r"tile\.tif: plane 0 does not decode"):
        lazy[0, 0, 0, 32:64, 0:230]  # segment 7: the third of the second row


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_tiff_at_a_url_reads_each_region_from_the_ranges_of_the_segments_under_it(kind, tmp_path, monkeypatch):
    """The same file as an object at a URL (fsspec's in-memory file system stands in for a
    store): every region as tifffile reads it, fetched by range requests within the segments
    (TIFF tiles or strips) under it only, never the whole object; a compressed segment is
    fetched whole, once."""
    import fsspec

    from ngff_fuse.storage import Remote

    _, truth = planes(kind, tmp_path)
    remote = Remote("memory", f"segments/{tmp_path.name}/tile.tif")
    remote.write_bytes((tmp_path / "tile.tif").read_bytes())
    with tifffile.TiffFile(tmp_path / "tile.tif") as tif:
        page = tif.pages[0]
        spans = [(o, o + n) for o, n in zip(page.dataoffsets, page.databytecounts)]
        planar = page.planarconfig == tifffile.PLANARCONFIG.SEPARATE and page.samplesperpixel > 1
        (tall, wide), (down, across) = page.chunks[-2:] if planar else page.chunks[:2], \
            page.chunked[1:3] if planar else page.chunked[:2]
        compressed = page.compression != tifffile.COMPRESSION.NONE
    asked: list[tuple[int, int]] = []
    fs_class = type(fsspec.filesystem("memory"))
    real = fs_class.cat_ranges

    def cat_ranges(self, paths, starts, ends, **options):
        asked.extend(zip(starts, ends))
        return real(self, paths, starts, ends, **options)

    monkeypatch.setattr(fs_class, "cat_ranges", cat_ranges)
    for c in range(truth.shape[0]):
        for ys, xs in REGIONS[:3]:
            over_url = read_image_file(remote).data  # a cache of its own: nothing decoded yet
            asked.clear()
            np.testing.assert_array_equal(over_url[0, c, 0, ys, xs].compute(), truth[c, ys, xs],
                                          err_msg=f"{kind} {ys} {xs}")
            rows, cols = range(*ys.indices(truth.shape[1])), range(*xs.indices(truth.shape[2]))
            first = c * down * across if planar else 0
            under = {spans[first + r * across + k] for r in range(rows[0] // tall, rows[-1] // tall + 1)
                     for k in range(cols[0] // wide, cols[-1] // wide + 1)}
            assert asked and all(any(a >= s and b <= e for s, e in under) for a, b in asked), f"{kind} {ys} {xs}"
            if compressed:
                assert sorted(asked) == sorted(under), f"{kind} {ys} {xs}"
