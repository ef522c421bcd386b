"""Do the hand-written readers earn their place? ngff-fuse's own TIFF plane reader
(`readers/tiff_planes.py`: strip offsets and `os.pread` for contiguous planes; for tiled or
compressed ones, `readers/tiff_segments.py`: only the segments under a region, decoded by
tifffile and kept in a bounded cache) and CZI parser
(`readers/czi_file.py`: the ZISRAW directory and subblocks read by hand) against the library
paths: tifffile (`imread`, `TiffFile.pages[k].asarray()`, `aszarr` + zarr, memmap) and
aicspylibczi / pylibCZIrw.

Every variant of a case runs in this one process, interleaved repeat by repeat (median
reported), after one untimed call whose result must equal the ngff-fuse path's pixel for pixel
(or, for open/metadata cases, the same shapes, tile boxes and stage positions): a faster
variant that returns other pixels would fail the run, not win it.

    python benchmarks/bench_readers.py                  # ~7 minutes on 2 busy cores
    python benchmarks/bench_readers.py --repeat 3 --files 2 --small-files 100   # quick look

TIFF inputs are written once into a temp dir (2048^2 uint16, microscopy-like texture): plain
strip TIFFs (uncompressed, and zlib strips), tiled TIFFs (512^2 tiles, zlib and lzw, as
Bio-Formats writes), a multi-series, multi-page OME-TIFF, and many small files for the open
cost. CZI inputs are the real files in ../shared/realdata. Files are in the page cache: the
figures are CPU and system-call costs, not the disk's. "kept" variants open the file (and
parse its header) before the clock, as a reader that keeps handles would; "per read" ones
open it inside, as ngff-fuse must when a listing names 10,000 tiles (its own reader parses
the header once at listing time and keeps no handle, only offsets).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import tifffile
import zarr

from ngff_fuse.readers import read_input
from ngff_fuse.readers import tiff_planes
from ngff_fuse.readers.czi import group_scene
from ngff_fuse.readers.czi_file import (
    CziTilePlanes, check_complete, read_directory, subblock_tags, tag_number,
)
from ngff_fuse.readers.image_file import read_image_file
from ngff_fuse.readers.tiff_planes import TiffPlanes, tiff_plane_table
from ngff_fuse.readers.tiff_segments import SegmentCache

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
CZI_FILES = (
    "czi-convallaria/mosaic_test.czi",
    "czi-zen-simulated/1_tileregion.czi",
    "czi-zen-simulated/S3_1Pos_2Mosaic_T2Z3_CH2_sm.czi",
)
TIFF_KINDS = {  # label -> tifffile.imwrite options
    "strips, uncompressed": {},
    "strips, zlib": {"compression": "zlib"},
    "tiles 512, uncompressed": {"tile": (512, 512)},
    "tiles 512, zlib": {"compression": "zlib", "tile": (512, 512)},
    "tiles 512, lzw": {"compression": "lzw", "tile": (512, 512)},
}
REGION = 256


@dataclass(frozen=True)
class Row:
    case: str
    variant: str
    seconds: float  # median per unit (a file, a read)
    ratio: float  # seconds / the first (ngff-fuse) variant's seconds


def compare(case: str, variants: dict[str, Callable[[], object]], repeat: int, units: int = 1,
            before: Callable[[], None] = lambda: None) -> list[Row]:
    """Time each variant (the first is ngff-fuse's path, the reference) interleaved, after
    checking that it returns what the reference returns. `before` runs untimed before every
    call (to empty ngff-fuse's decode cache, so each call starts cold as a fresh worker does)."""
    reference = None
    for label, fn in variants.items():
        before()
        result = fn()
        if reference is None:
            reference = result
        elif not _equal(result, reference):
            raise AssertionError(f"{case}: {label} returned other data than {next(iter(variants))}")
    # calls shorter than ~20 ms are repeated inside one timing, so the clock's grain and
    # the scheduler's hiccups on a shared machine do not decide the median
    inner = {label: max(1, min(200, int(0.02 / max(_once(fn, before), 1e-6)))) for label, fn in variants.items()}
    times: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(repeat):
        for label, fn in variants.items():
            spent = 0.0
            for _ in range(inner[label]):
                before()
                start = time.perf_counter()
                fn()
                spent += time.perf_counter() - start
            times[label].append(spent / inner[label] / units)
    medians = {label: statistics.median(t) for label, t in times.items()}
    first = next(iter(medians.values()))
    rows = [Row(case, label, s, s / first) for label, s in medians.items()]
    for row in rows:
        print(f"  {row.case:42s} {row.variant:44s} {row.seconds * 1e3:9.3f} ms  x{row.ratio:6.2f}", flush=True)
    return rows


def _once(fn: Callable[[], object], before: Callable[[], None]) -> float:
    before()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _equal(a, b) -> bool:
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return a == b


#: every segment cache a timed variant reads through, emptied before each call
CACHES: list[SegmentCache] = []


def _cold() -> None:
    for cache in CACHES:
        cache.clear()


def _reader_caches(lazy: da.Array) -> list[SegmentCache]:
    return [node.value.cache for task in dict(lazy.__dask_graph__()).values()
            for node in getattr(task, "args", ()) if isinstance(getattr(node, "value", None), TiffPlanes)]


# --- TIFF --------------------------------------------------------------------------------


def texture(edge: int, count: int) -> list[np.ndarray]:
    """`count` different microscopy-like uint16 planes (one ground truth, rolled)."""
    from ngff_fuse.testing import ground_truth

    base = ground_truth((1, 1, 1, edge, edge), seed=5)[0, 0, 0]
    return [np.roll(base, (i * 397, i * 211), axis=(0, 1)) for i in range(count)]


@dataclass(frozen=True)
class Plane:
    """One plane of a TIFF file: where it is, and ngff-fuse's lazy (t, c, z, y, x) pixels."""

    path: Path
    page: int  # its page (IFD) index
    lazy: da.Array  # ngff-fuse's tile data, 5-D
    index: tuple[int, int, int]  # its (t, c, z) in `lazy`


def region_variants(planes: list[Plane], boxes: list[tuple[slice, slice]], contiguous: bool,
                    naive: bool) -> tuple[dict[str, Callable[[], list[np.ndarray]]], list[tifffile.TiffFile]]:
    """Each way to read `boxes` of every plane; `naive`: also the whole-page decoders
    (imread, pages[k].asarray()), which decode the full page for every box. Also the open
    TiffFile handles the "kept" variants use, for the caller to close."""
    layouts, handles, arrays, maps = [], [], [], []
    for p in planes:
        with tifffile.TiffFile(p.path) as tif:
            series = next(i for i, s in enumerate(tif.series) if p.page in [pg.index for pg in s.pages])
            shape = tuple(int(n) for n in p.lazy.shape)
            layouts.append(tiff_plane_table(tif, series, shape))
        CACHES.extend(_reader_caches(p.lazy))
        tif = tifffile.TiffFile(p.path)
        handles.append(tif)
        arrays.append(zarr.open(tif.aszarr(key=p.page), mode="r"))
        if contiguous:
            page = tif.pages[p.page]
            maps.append(np.memmap(p.path, dtype=page.dtype.newbyteorder(tif.byteorder), mode="r",
                                  offset=page.dataoffsets[0], shape=page.shape))
    t_c_z = [p.index for p in planes]
    own = SegmentCache()
    CACHES.append(own)

    def each(read):
        return lambda: [read(i, ys, xs) for i in range(len(planes)) for ys, xs in boxes]

    variants = {
        "ngff-fuse TiffPlanes[...] (hand-written)": each(
            lambda i, ys, xs: TiffPlanes(layouts[i], own)[(*t_c_z[i], ys, xs)]),
        "ngff-fuse tile.data[...].compute() (+dask)": each(
            lambda i, ys, xs: planes[i].lazy[(*t_c_z[i], ys, xs)].compute(scheduler="synchronous")),
    }
    if naive:
        variants["tifffile.imread(key=k)[box] per read"] = each(
            lambda i, ys, xs: tifffile.imread(planes[i].path, key=planes[i].page)[ys, xs])
        variants["TiffFile kept: pages[k].asarray()[box]"] = each(
            lambda i, ys, xs: handles[i].pages[planes[i].page].asarray()[ys, xs])
    variants["aszarr + zarr kept: z[box]"] = each(lambda i, ys, xs: arrays[i][ys, xs])

    def aszarr_per_read(i, ys, xs):
        with tifffile.TiffFile(planes[i].path) as tif:
            return zarr.open(tif.aszarr(key=planes[i].page), mode="r")[ys, xs]

    variants["aszarr + zarr per read"] = each(aszarr_per_read)
    if contiguous and boxes == [(slice(None), slice(None))]:
        variants["sketch: os.preadv into the output"] = each(
            lambda i, ys, xs: _preadv_plane(layouts[i], t_c_z[i]))
    if contiguous:
        variants["np.memmap kept: np.array(m[box])"] = each(lambda i, ys, xs: np.array(maps[i][ys, xs]))
        variants["tifffile.memmap per read"] = each(lambda i, ys, xs: np.array(
            tifffile.memmap(planes[i].path, page=planes[i].page, mode="r")[ys, xs]))
    return variants, handles


def _preadv_plane(layout: tiff_planes.TiffPlaneTable, tcz: tuple[int, int, int]) -> np.ndarray:
    """Not ngff-fuse's code: a whole plane read straight into its numpy buffer (one
    allocation, no intermediate bytes object), to size that fix for `tiff_planes`' full-plane
    cost. Only the whole plane: for many small regions a fresh band buffer per read measured
    slower than today's band copy."""
    dtype = np.dtype(layout.dtype)
    out = np.empty(layout.shape[3:], dtype=dtype)
    fd = os.open(layout.path, os.O_RDONLY)
    try:
        if os.preadv(fd, [out], layout.offsets[layout.plane(*tcz)]) != out.nbytes:
            raise OSError(f"{layout.path}: truncated")
    finally:
        os.close(fd)
    return out


def region_cases(label: str, planes: list[Plane], edge: int, contiguous: bool, repeat: int) -> list[Row]:
    y0, x0 = edge // 2 + 37, edge // 4 + 11  # off the strip and tile grid, as fusion reads
    one = [(slice(y0, y0 + REGION), slice(x0, x0 + REGION))]
    full = [(slice(None), slice(None))]
    step = max(edge // 8, 1)
    grid = [(slice(y, y + step), slice(x, x + step)) for y in range(0, edge, step) for x in range(0, edge, step)]
    rows = []
    for what, boxes, naive in (("full plane", full, True), (f"{REGION}^2 region", one, True),
                               (f"plane as {len(grid)} regions", grid, False)):
        variants, handles = region_variants(planes, boxes, contiguous, naive)
        try:
            rows += compare(f"{label}: {what}", variants, repeat, units=len(planes), before=_cold)
        finally:
            for h in handles:
                h.close()
            CACHES.clear()
    return rows


def plain_tiffs(folder: Path, images: list[np.ndarray], repeat: int) -> list[Row]:
    rows = []
    for label, options in TIFF_KINDS.items():
        paths = []
        for i, image in enumerate(images):
            path = folder / f"{label.replace(' ', '').replace(',', '_')}_{i}.tif"
            tifffile.imwrite(path, image, photometric="minisblack", **options)
            paths.append(path)
        planes = [Plane(p, 0, read_image_file(p).data, (0, 0, 0)) for p in paths]
        rows += region_cases(label, planes, images[0].shape[0], not options, repeat)
    return rows


def ome_tiff(folder: Path, images: list[np.ndarray], repeat: int) -> list[Row]:
    """A multi-series OME-TIFF, one series per tile, 2 channels each (2 pages per series):
    read channel 1 of every series, so page k is not series k."""
    from ngff_fuse.testing import SyntheticMosaic, SyntheticTile
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    edge = images[0].shape[0]
    tiles = tuple(
        SyntheticTile(np.stack([im, im[::-1]])[None, :, None], (0.0, 0.0, i * edge * 0.5), (0.0, 0.0, i * edge))
        for i, im in enumerate(images)
    )
    mosaic = SyntheticMosaic(tiles[0].data, tiles, (1.0, 0.5, 0.5), (0.0, 0.0, 0.0), ("a", "b"))
    path = write_ome_tiff(mosaic, folder / "tiles.ome.tif")
    tileset = read_input(path)[0]
    with tifffile.TiffFile(path) as tif:
        pages = [s.pages[1].index for s in tif.series]
    planes = [Plane(path, pages[i], tile.data.data, (0, 1, 0)) for i, tile in enumerate(tileset.tiles)]
    rows = region_cases(f"OME-TIFF {len(planes)} series x 2 pages", planes, edge, True, repeat)

    def ngff_layouts():
        with tifffile.TiffFile(path) as tif:
            shapes = [s.shape for s in tif.series]
            return [tiff_planes.tiff_dask_array(tiff_plane_table(tif, i, (1, 2, 1, edge, edge)), SegmentCache()).shape
                    for i in range(len(shapes))]

    def aszarr_dask():
        with tifffile.TiffFile(path) as tif:
            return [da.from_zarr(zarr.open(tif.aszarr(series=i), mode="r"))[None, :, None].shape
                    for i in range(len(tif.series))]

    rows += compare("OME-TIFF open: lazy arrays of every series", {
        "ngff-fuse tiff_plane_table + tiff_dask_array": ngff_layouts,
        "tifffile aszarr + zarr + da.from_zarr": aszarr_dask,
        "ngff-fuse read_input (all, bioio+ome-types)": lambda: [t.data.shape for t in read_input(path)[0].tiles],
    }, repeat)
    return rows


def small_files(folder: Path, count: int, repeat: int) -> list[Row]:
    """Opening many small tile files, as a listing of 10,000 tiles does: per file."""
    image = texture(256, 1)[0]
    paths = []
    for i in range(count):
        path = folder / f"small_{i:05d}.tif"
        tifffile.imwrite(path, np.roll(image, i, axis=1), photometric="minisblack")
        paths.append(path)

    def ngff_layout(path):
        with tifffile.TiffFile(path, is_mmstack=False) as tif:
            table = tiff_plane_table(tif, 0, tiff_planes.tiff_series_shape(tif, 0))
        return tiff_planes.tiff_dask_array(table, SegmentCache()).shape

    def bare(path):
        with tifffile.TiffFile(path) as tif:
            return (1, 1, 1, *tif.series[0].shape)

    def aszarr(path):
        with tifffile.TiffFile(path) as tif:
            return (1, 1, 1, *da.from_zarr(zarr.open(tif.aszarr(), mode="r")).shape)

    def memmap(path):
        return (1, 1, 1, *tifffile.memmap(path, mode="r").shape)

    return compare(f"open {count} small TIFFs (per file)", {
        "ngff-fuse read_image_file": lambda: [read_image_file(p).data.shape for p in paths],
        "ngff-fuse tiff_plane_table + tiff_dask_array": lambda: [ngff_layout(p) for p in paths],
        "tifffile TiffFile + series (parse floor)": lambda: [bare(p) for p in paths],
        "tifffile aszarr + zarr + da.from_zarr": lambda: [aszarr(p) for p in paths],
        "tifffile.memmap": lambda: [memmap(p) for p in paths],
    }, repeat, units=count)


# --- CZI ---------------------------------------------------------------------------------


def czi_cases(path: Path, repeat: int) -> list[Row]:
    from aicspylibczi import CziFile

    name = path.name

    def ngff_tiles():
        blocks = read_directory(path)
        check_complete(path, blocks)
        found = []
        for s in sorted({b.index.get("S", 0) for b in blocks if b.layer0}):
            scene = group_scene(path, blocks, s)
            firsts = [t.planes[(0, 0, 0)] for t in scene.tiles]
            for tile, tags in zip(scene.tiles, subblock_tags(path, firsts)):
                found.append((s, tile.m, tile.box, _stage(tags)))
        return sorted(found)

    def aics_tiles():
        czi = CziFile(path)
        boxes = czi.get_all_tile_bounding_boxes()
        first: dict[tuple[int, int], tuple] = {}
        for info, box in boxes.items():
            d = info.dimension_coordinates
            key, plane = (d.get("S", 0), d.get("M", 0)), tuple(d.get(a, 0) for a in "TCZ")
            if key not in first or plane < first[key][0]:
                first[key] = (plane, d, (box.x, box.y, box.w, box.h))
        found = []
        for (s, m), (_, d, box) in first.items():
            xml = czi.read_subblock_metadata(**{k: v for k, v in d.items() if k not in "XY"})[0][1]
            root = ET.fromstring(xml)
            tags = {c.tag: (c.text or "").strip() for c in root.find("Tags")} if root.find("Tags") is not None else {}
            found.append((s, m, box, _stage(tags)))
        return sorted(found)

    def ngff_boxes():
        blocks = read_directory(path)
        return sorted((s, tile.m, tile.box) for s in sorted({b.index.get("S", 0) for b in blocks if b.layer0})
                      for tile in group_scene(path, blocks, s).tiles)

    reference = ngff_tiles()
    rows = compare(f"CZI {name}: tile boxes + stage positions", {
        "ngff-fuse czi_file (directory + tags)": ngff_tiles,
        "aicspylibczi boxes + subblock metadata": aics_tiles,
    }, repeat)
    rows += compare(f"CZI {name}: tile boxes only", {
        "ngff-fuse czi_file (directory)": ngff_boxes,
        "pylibCZIrw enumerate_subblocks": lambda: _pylibczi_boxes(path),
    }, repeat)
    rows += compare(f"CZI {name}: open (ngff read_input, all)", {
        "ngff-fuse read_input": lambda: [t.data.shape for ts in read_input(path) for t in ts.tiles],
    }, repeat)
    rows += czi_pixels(path, reference, repeat)
    return rows


def _pylibczi_boxes(path: Path) -> list[tuple]:
    """(scene, M, box) of the first (t, c, z) plane of every layer-0 tile, from pylibCZIrw."""
    from pylibCZIrw import czi as pyczi

    found: dict[tuple[int, int], tuple] = {}
    with pyczi.open_czi(str(path)) as czi:
        def visit(_, info):
            rect, c = info.logicalRect, info.coordinate.to_dict()
            if (rect.w, rect.h) == (info.physicalSize.w, info.physicalSize.h):
                key, plane = (c.get("S", 0), info.mIndex), tuple(c.get(a, 0) for a in "TCZ")
                if key not in found or plane < found[key][0]:
                    found[key] = (plane, (rect.x, rect.y, rect.w, rect.h))
            return True
        czi.enumerate_subblocks(visit)
    return sorted((s, m, box) for (s, m), (_, box) in found.items())


def _stage(tags: dict[str, str]) -> tuple[float, float]:
    x, y = tag_number(tags, "StageXPosition"), tag_number(tags, "StageYPosition")
    return (None if x != x else x, None if y != y else y)  # nan -> None, so tuples compare


def czi_pixels(path: Path, tiles: list[tuple], repeat: int) -> list[Row]:
    """Reads from the last tile of the last scene, in its last (t, c, z) plane: the whole
    tile, one region in its middle, and the tile as 4 x 4 regions (as fusion reads it).
    aicspylibczi `read_mosaic` and pylibCZIrw `read` return the mosaic's composite, not one
    tile: they are compared only where the composite is that tile's pixels (checked)."""
    from aicspylibczi import CziFile
    from pylibCZIrw import czi as pyczi

    s, m, box, _ = tiles[-1]
    tileset = read_input(path)[sorted({t[0] for t in tiles}).index(s)]
    lazy = next(t for t in tileset.tiles if t.name == f"M{m}").data.data
    planes = _planes_of(lazy)
    t, c, z = (n - 1 for n in lazy.shape[:3])
    index = dict(planes.table.planes[-1].index)  # the subblock of the last (t, c, z) plane
    plane = {ax: index.get(ax, 0) for ax in "TCZ"}
    x0, y0, w, h = box
    edge = min(REGION, w // 2, h // 2)
    qy, qx = h // 4, w // 4
    cases = {
        f"tile M{m} full ({w}x{h})": [(slice(0, h), slice(0, w))],
        f"{edge}^2 region of M{m}": [(slice((h - edge) // 2, (h - edge) // 2 + edge),
                                      slice((w - edge) // 2, (w - edge) // 2 + edge))],
        f"tile M{m} as 16 regions": [(slice(y, y + qy), slice(x, x + qx))
                                     for y in range(0, 4 * qy, qy) for x in range(0, 4 * qx, qx)],
    }
    rows = []
    with contextlib.ExitStack() as stack:
        kept_aics = CziFile(path)
        kept_py = stack.enter_context(pyczi.open_czi(str(path)))
        aics_plane = {k: v for k, v in index.items() if k in kept_aics.dims}
        mosaic_plane = {k: v for k, v in aics_plane.items() if k not in "MS"}

        def roi(ys, xs):
            return (x0 + xs.start, y0 + ys.start, xs.stop - xs.start, ys.stop - ys.start)

        for what, boxes in cases.items():
            def each(read):
                return lambda: [read(ys, xs) for ys, xs in boxes]

            variants = {
                "ngff-fuse CziTilePlanes[...] (hand-written)": each(lambda ys, xs: planes[t, c, z, ys, xs]),
                "ngff-fuse tile.data[...].compute() (+dask)": each(
                    lambda ys, xs: lazy[t, c, z, ys, xs].compute(scheduler="synchronous")),
                "aicspylibczi kept: read_image(M=..)[box]": each(
                    lambda ys, xs: kept_aics.read_image(**aics_plane)[0].reshape(h, w)[ys, xs]),
                "aicspylibczi per read: read_image(M=..)[box]": each(
                    lambda ys, xs: CziFile(path).read_image(**aics_plane)[0].reshape(h, w)[ys, xs]),
            }
            composite = {
                "aicspylibczi kept: read_mosaic(region)": each(lambda ys, xs: kept_aics.read_mosaic(
                    region=roi(ys, xs), scale_factor=1.0, **mosaic_plane).reshape(ys.stop - ys.start, -1)),
                "pylibCZIrw kept: read(roi, plane, scene)": each(
                    lambda ys, xs: kept_py.read(roi=roi(ys, xs), plane=plane, scene=s)[..., 0]),
                "pylibCZIrw per read: open + read(roi)": each(
                    lambda ys, xs: _pyczi_read(path, roi(ys, xs), plane, s)),
            }
            reference = variants["ngff-fuse CziTilePlanes[...] (hand-written)"]()
            for label, fn in composite.items():
                if _equal(fn(), reference):
                    variants[label] = fn
                else:
                    print(f"  {path.name} {what}: {label} returns the composite, not tile M{m}: not compared")
            rows += compare(f"CZI {path.name}: {what}", variants, repeat, units=len(boxes))
    return rows


def synthetic_czi(folder: Path, grid: int, edge: int, compression: str | None) -> Path:
    """A grid x grid mosaic of edge^2 uint16 tiles with 10 % overlap, written by pylibCZIrw:
    the many-tile CZI the real files are too small to be."""
    from ngff_fuse.testing import SyntheticMosaic, SyntheticTile
    from ngff_fuse.testing.czi import write_czi_mosaic

    step = edge * 9 // 10
    images = texture(edge, grid * grid)
    tiles = tuple(
        SyntheticTile(images[i][None, None, None], (0.0, iy * step * 0.5, ix * step * 0.5),
                      (0.0, float(iy * step), float(ix * step)))
        for i, (iy, ix) in enumerate(np.ndindex(grid, grid))
    )
    mosaic = SyntheticMosaic(tiles[0].data, tiles, (1.0, 0.5, 0.5), (0.0, 0.0, 0.0), ("a",))
    name = f"synthetic_{grid}x{grid}_{edge}_{(compression or 'raw').split(':')[0]}.czi"
    return write_czi_mosaic(mosaic, folder / name, compression=compression)


def _planes_of(lazy: da.Array) -> CziTilePlanes:
    """The CziTilePlanes inside a from_array graph (as a task argument)."""
    stack = list(lazy.dask.values())
    while stack:
        item = stack.pop()
        value = getattr(item, "value", item)
        if isinstance(value, CziTilePlanes):
            return value
        stack += list(getattr(item, "args", ())) + list(getattr(item, "dependencies", ()) and ())
    raise LookupError("no CziTilePlanes in the tile's graph")


def _pyczi_read(path: Path, roi, plane, scene) -> np.ndarray:
    from pylibCZIrw import czi as pyczi

    with pyczi.open_czi(str(path)) as czi:
        return czi.read(roi=roi, plane=plane, scene=scene)[..., 0]


# --- main --------------------------------------------------------------------------------


def markdown(rows: list[Row]) -> str:
    lines = ["| case | variant | ms | x ngff-fuse |", "|---|---|---:|---:|"]
    for row in rows:
        lines.append(f"| {row.case} | {row.variant} | {row.seconds * 1e3:.3f} | {row.ratio:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge", type=int, default=2048, help="TIFF plane edge (px)")
    parser.add_argument("--files", type=int, default=3, help="TIFF files (and OME-TIFF series) per case")
    parser.add_argument("--small-files", type=int, default=200)
    parser.add_argument("--czi-grid", type=int, default=8, help="synthetic CZI: N x N tiles of 1024^2")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", choices=("tiff", "czi", "open"), help="run one group only")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "tiff"):
            images = texture(args.edge, args.files)
            rows += plain_tiffs(folder, images, args.repeat)
            rows += ome_tiff(folder, images, args.repeat)
        if args.only in (None, "open"):
            rows += small_files(folder, args.small_files, args.repeat)
        if args.only in (None, "czi"):
            for compression in (None, "zstd1:ExplicitLevel=2"):
                rows += czi_cases(synthetic_czi(folder, args.czi_grid, 1024, compression), args.repeat)
    if args.only in (None, "czi"):
        for relative in CZI_FILES:
            if (SHARED / relative).exists():
                rows += czi_cases(SHARED / relative, args.repeat)
            else:
                print(f"  {relative}: not in ../shared/realdata, skipped")
    print()
    print(markdown(rows))


if __name__ == "__main__":
    main()
