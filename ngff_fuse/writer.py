"""Writes the fused image to zarr: the pyramid's arrays first, the NGFF metadata last. (The
other module that writes zarr is `kept_tiles_writer.py`, for the tiles `--keep-tiles` keeps beside it.)

A store is marked `ngff_fuse.status = "incomplete"` while its arrays are written; the
`multiscales` metadata that makes it an image appears only after every level is complete,
and only if the inputs recorded in the request are still what they were, so no reader ever
sees a valid multiscale image with missing chunks or made of files that changed meanwhile.
Where the store goes (a new one, one resumed, or one built beside a store it replaces) is
decided by `output.claim_output` before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from ngff_fuse._axes import SPATIAL
from ngff_fuse.codecs import DEFAULT_CODEC, Codec
from ngff_fuse.errors import InputError, NgffFuseError, from_environment
from ngff_fuse.fingerprint import changed_input
from ngff_fuse.gzip_codecs import deterministic
from ngff_fuse.model import PlateWell
from ngff_fuse.ngff.metadata import (
    FORMATS, ChannelDisplay, ImageMetadata, Level, channel_colors, level_transform, load_libraries,
)
from ngff_fuse.ngff.plate import WellImage, acquisition_names, plate_attributes, well_attributes, well_path
from ngff_fuse.output import STATUS_KEY, claim_output, status
from ngff_fuse.progress import NoProgress, Progress
from ngff_fuse.pyramid import Downsample, level_factors, plan_pyramid
from ngff_fuse.pyramid_writer import PyramidWrite, remove_partial_writes, store_pyramids, undone_blocks
from ngff_fuse.storage import Remote, location, zarr_store

if TYPE_CHECKING:
    from ngff_fuse.ome_xml import SceneDescription

#: Default shard edge of NGFF 0.5 outputs, in chunks: 4x fewer files than none at the same
#: speed, less memory than 4 x 4 (figures: README, "How the defaults were chosen").
SHARD_CHUNKS = 2


#: Writes what else belongs inside an image (its kept tiles) while the image is still marked
#: incomplete, and may add to its metadata: called with the image's path, the NGFF attributes
#: about to be written and whether this run resumes; returns the attributes to write.
Amend = Callable[[Path, dict, bool], dict]


@dataclass(frozen=True)
class WriteOptions:
    ngff: str = "0.5"
    chunk: int = 1024  # y/x edge of a zarr chunk
    chunk_z: int | None = None  # None: about 4 Mvoxel per chunk
    # y/x edge of a zarr v3 shard, a multiple of `chunk`; None: SHARD_CHUNKS chunks for zarr v3
    # (NGFF 0.5, 0.6) and none for 0.4; 0: no sharding. Kept as asked, never resolved here, so
    # copies made with `dataclasses.replace` (which runs __post_init__ again) mean the same.
    shard: int | None = None
    levels: int | None = None
    downsample: Downsample = Downsample.MEAN
    codec: Codec = field(default_factory=lambda: Codec.parse(DEFAULT_CODEC))
    fill: float = 0
    overwrite: bool = False
    resume: bool = False  # continue an interrupted write of the same request
    request: dict | None = None  # what was asked (inputs, options): recorded, compared on resume
    # fsspec options to read the request's inputs at URLs again before completing (set with
    # `request`); out of repr and comparisons: it may hold keys
    input_storage: dict = field(default_factory=dict, repr=False, compare=False)
    extra_metadata: dict | None = None
    hcs: bool = True  # mosaics of a plate's wells as an NGFF HCS plate; False: bioformats2raw's layout

    def __post_init__(self) -> None:
        if self.ngff not in FORMATS:
            raise InputError(f"--ngff {self.ngff}: choose one of {', '.join(FORMATS)}")
        if self.chunk < 1:
            raise InputError(f"--chunk {self.chunk}: must be a positive number of pixels")
        if self.chunk_z is not None and self.chunk_z < 1:
            raise InputError(f"--chunk-z {self.chunk_z}: must be a positive number of planes")
        if self.shard:
            if FORMATS[self.ngff].zarr_format != 3:
                v3 = " or ".join(v for v, f in FORMATS.items() if f.zarr_format == 3)
                raise InputError(f"--shard needs zarr v3: use it with --ngff {v3}")
            if self.shard < self.chunk or self.shard % self.chunk:
                raise InputError(f"--shard {self.shard}: must be a multiple of --chunk {self.chunk}")
        if self.levels is not None and self.levels < 1:
            raise InputError(f"--levels {self.levels}: must be at least 1")
        if self.resume and self.overwrite:
            raise InputError("--resume continues an output and --overwrite replaces it: pick one")

    def shard_edge(self) -> int | None:
        """y/x edge of the shards arrays are written with; None: unsharded."""
        if self.shard is None:
            return SHARD_CHUNKS * self.chunk if FORMATS[self.ngff].zarr_format == 3 else None
        return self.shard or None

    def block_edge(self) -> int:
        """y/x edge of one write task: a whole shard, so no two tasks share one."""
        return self.shard_edge() or self.chunk

    def z_chunk(self, depth: int) -> int:
        if self.chunk_z is not None:
            return max(1, min(self.chunk_z, depth))
        return max(1, min(depth, (4 << 20) // (self.chunk * self.chunk)))


def write_ngff(
    mosaic: xr.DataArray,
    path: str | Path,
    options: WriteOptions | None = None,
    channel_colors: tuple[str | None, ...] = (),
    progress: Progress | None = None,
    amend: Amend | None = None,
) -> list[tuple[int, ...]]:
    """Write a (lazy) mosaic as a multiscale OME-Zarr image; returns the shape of each level.

    The mosaic carries its geometry: dims among t c z y x, physical coordinates on its spatial
    axes (see `placement`), `attrs["units"]` ("pixel" for uncalibrated data). `amend` runs
    after the arrays and before the metadata (see `Amend`). The output is claimed first
    (`output.claim_output`): locked, and an existing one continued (`options.resume`) or
    replaced (`options.overwrite`) only if that is safe.
    """
    options = options or WriteOptions()
    with claim_output(location(path), options.overwrite, options.resume, progress=progress) as output:
        output.check_request(options.request)
        return write_image(mosaic, output.path, output.resuming, options, channel_colors, progress, amend)


def write_image(
    mosaic: xr.DataArray,
    path: Path,
    resuming: bool,
    options: WriteOptions,
    channel_colors: tuple[str | None, ...] = (),
    progress: Progress | None = None,
    amend: Amend | None = None,
) -> list[tuple[int, ...]]:
    """`write_ngff` into an output already claimed, or into an image inside one (a scene, a
    kept tile), continuing what is there when `resuming`. `options.request` is given for the
    store's root only: it is recorded there, and its inputs are checked before the metadata."""
    progress = progress or NoProgress()
    image = begin_image(mosaic, path, resuming, options, progress)
    write_pixels([image], progress, options.ngff)
    return end_image(image, options, channel_colors, amend)


@dataclass(frozen=True)
class ImageWrite:
    """An image between `begin_image` (arrays there, blocks to write known) and `end_image`
    (its metadata): several of them get their pixels in one graph (`write_pixels`)."""

    mosaic: xr.DataArray
    path: Path
    resuming: bool
    group: zarr.Group
    pixels: PyramidWrite
    factors: list[dict[str, int]]


def begin_image(mosaic: xr.DataArray, path: Path, resuming: bool, options: WriteOptions,
                progress: Progress) -> ImageWrite:
    """The image's group and level arrays, created (or, `resuming`, opened and checked for
    the blocks still to write), marked incomplete."""
    fmt = FORMATS[options.ngff]
    dims = tuple(mosaic.dims)
    spacing, _ = placement(mosaic)
    shape = dict(zip(dims, mosaic.shape))
    spatial_shape = {ax: n for ax, n in shape.items() if ax in SPATIAL}
    factors = level_factors(spatial_shape, spacing, options.chunk, options.levels)
    block = grid_shape(dims, shape, options.block_edge(), options)
    data = mosaic.data if isinstance(mosaic.data, da.Array) else da.from_array(mosaic.data)
    pyramid = plan_pyramid(data.shape, dims, factors, block, options.downsample)

    # a complete store is checked too: resuming rewrites whatever no longer reads
    complete = resuming and status(path).get("status") == "complete"
    if resuming:
        remove_partial_writes(path)
    group = zarr.open_group(zarr_store(path), mode="r+") if resuming else _new_group(path, fmt.zarr_format, options.request)
    # a run killed while creating the levels leaves some of them out: resuming creates those
    targets = [
        _existing_array(group, str(i), s, data.dtype) if resuming and str(i) in group
        else _create_array(group, str(i), s, data.dtype, dims, options)
        for i, s in enumerate(pyramid.shapes)
    ]
    blocks = [range(int(np.prod(pyramid.blocks(k)))) for k in range(len(targets))]
    pending = [
        undone_blocks(array, [pyramid.region(k, pyramid.index(k, j)) for j in blocks[k]], progress,
                      f"checking level {k}") if resuming else list(blocks[k])
        for k, array in enumerate(targets)
    ]
    if resuming:
        todo = sum(map(len, pending))
        if not complete:
            progress.note(f"{path}: resuming, {sum(map(len, blocks)) - todo} blocks already written")
        elif todo:
            progress.note(f"{path}: marked complete, but {todo} blocks are missing or do not decode: "
                          "rewriting them")
            group.attrs[STATUS_KEY] = _record("incomplete", options.request)
        else:
            progress.note(f"{path}: already complete, every block reads")
    return ImageWrite(mosaic, path, resuming, group,
                      PyramidWrite(data.rechunk(pyramid.grids[0]), pyramid, targets, pending), factors)


def write_pixels(images: list[ImageWrite], progress: Progress, ngff: str) -> None:
    """Fuse and write the pending blocks of every image, in one graph; meanwhile the libraries
    of the NGFF `ngff` metadata, written next, are imported beside it."""
    load_libraries(ngff)
    try:
        store_pyramids([image.pixels for image in images], progress)
    except OSError as exc:  # a chunk written, or a tile read (then named), failed
        raise from_environment(_naming(exc, images[0].path), resume_hint=True) from None


def end_image(image: ImageWrite, options: WriteOptions, channel_colors: tuple[str | None, ...] = (),
              amend: Amend | None = None) -> list[tuple[int, ...]]:
    """The image's NGFF metadata, written last (after `amend`); returns its level shapes."""
    mosaic, fmt = image.mosaic, FORMATS[options.ngff]
    dims = tuple(mosaic.dims)
    spacing, origin = placement(mosaic)
    unit = mosaic.attrs.get("units")
    meta = ImageMetadata(
        name=_image_name(mosaic, image.path),
        dims=dims,
        unit=None if unit in (None, "pixel") else unit,
        levels=tuple(
            Level(str(i), *level_transform(dims, spacing, origin, factor))
            for i, factor in enumerate(image.factors)
        ),
        channels=channel_displays(image.pixels.arrays[-1], dims, mosaic, _channel_colors(mosaic, channel_colors),
                                  options.fill),
        method=options.downsample.value,
        default_z=dict(zip(dims, mosaic.shape)).get("z", 1) // 2,
        extra=options.extra_metadata,
    )
    attributes = fmt.attributes(meta)
    if amend is not None:
        attributes = amend(image.path, attributes, image.resuming)
    _complete(image.group, image.path, attributes, options)
    return list(image.pixels.pyramid.shapes)


def placement(mosaic: xr.DataArray) -> tuple[dict[str, float], dict[str, float]]:
    """Pixel size and position of the first pixel on each spatial axis of `mosaic`, from its
    coordinates: a region cut out with `isel`/`sel` (any start, any step) is placed by its own
    first pixel. `attrs["spacing"]` (z, y, x) gives the pixel size of an axis one pixel long,
    which its coordinate cannot tell, and the exact pixel size where it agrees with the
    coordinates (their steps carry float noise). An axis NGFF cannot place by a scale and a
    translation (no coordinate, uneven or decreasing steps) is refused."""
    name = mosaic.name or "the mosaic"
    given = dict(zip(SPATIAL, mosaic.attrs.get("spacing", ())))
    spacing, origin = {}, {}
    for ax in (ax for ax in mosaic.dims if ax in SPATIAL):
        if ax not in mosaic.coords:
            raise InputError(f"{name}: axis {ax} has no coordinates, so nothing says where it lies; "
                             "give it its physical coordinates (assign_coords)")
        values = np.asarray(mosaic.coords[ax].values, dtype=float)
        origin[ax] = float(values[0])
        if len(values) == 1:
            if ax not in given:
                raise InputError(f"{name}: axis {ax} is one pixel long, so its coordinate does not give "
                                 "its pixel size; set attrs['spacing'] to (z, y, x)")
            spacing[ax] = float(given[ax])
            continue
        step = (values[-1] - values[0]) / (len(values) - 1)
        if not step > 0 or not np.allclose(np.diff(values), step, rtol=1e-6, atol=0):
            raise InputError(f"{name}: the coordinates of {ax} do not rise in equal steps, which an "
                             "NGFF scale and translation cannot place; select with slices, not index lists")
        spacing[ax] = float(given[ax]) if np.isclose(given.get(ax, 0), step, rtol=1e-9, atol=0) else float(step)
    return spacing, origin


@dataclass(frozen=True)
class SceneImage:
    """One scene of a multi-scene store: its mosaic, channel colours and provenance."""

    mosaic: xr.DataArray
    channel_colors: tuple[str | None, ...] = ()
    extra_metadata: dict | None = None
    amend: Amend | None = None


def write_scenes(
    scenes: list[SceneImage],
    path: str | Path,
    options: WriteOptions | None = None,
    progress: Progress | None = None,
) -> list[list[tuple[int, ...]]]:
    """Several mosaics (scenes) in one store, in the layout bioformats2raw writes (layout 3):
    image i in group `i`, the list of series in group `OME` and their OME-XML in
    `OME/METADATA.ome.xml`. Each `i` is a standard NGFF image that napari, bioio and web
    viewers open by its path. Returns each scene's level shapes."""
    options = options or WriteOptions()
    with claim_output(location(path), options.overwrite, options.resume, progress=progress) as output:
        output.check_request(options.request)
        return write_scene_images(scenes, output.path, output.resuming, options, progress)


def write_scene_images(scenes: list[SceneImage], path: Path, resuming: bool, options: WriteOptions,
                       progress: Progress | None = None) -> list[list[tuple[int, ...]]]:
    """`write_scenes` into an output already claimed, continuing what is there when `resuming`."""
    # ome-types takes ~0.6 s to import: only multi-scene stores need it
    from ngff_fuse.ome_xml import METADATA_XML, metadata_xml

    progress = progress or NoProgress()
    fmt = FORMATS[options.ngff]
    xml = metadata_xml([_describe(scene, path / str(i)) for i, scene in enumerate(scenes)])
    root = zarr.open_group(zarr_store(path), mode="r+") if resuming else _new_group(path, fmt.zarr_format, options.request)
    shapes = []
    for index, scene in enumerate(scenes):
        progress.note(f"scene {index}: {scene.mosaic.name}")
        scene_options = replace(options, overwrite=False, resume=False, request=None,
                                extra_metadata=scene.extra_metadata)
        shapes.append(write_image(scene.mosaic, path / str(index), resuming and (path / str(index)).exists(),
                                  scene_options, scene.channel_colors, progress, scene.amend))
    series = root.require_group("OME")  # a resume keeps it and its OME-XML
    series.attrs.put(fmt.collection_series([str(i) for i in range(len(scenes))]))
    written = path / METADATA_XML
    if not (written.is_file() and written.read_text(encoding="utf-8") == xml):  # a resume keeps it
        written.write_text(xml, encoding="utf-8")
    _complete(root, path, fmt.collection_root(), options)
    return shapes


def write_plate_images(scenes: list[SceneImage], wells: list[PlateWell], path: Path, resuming: bool,
                       options: WriteOptions, progress: Progress | None = None) -> list[list[tuple[int, ...]]]:
    """Mosaics of the wells of a plate as an NGFF HCS plate (`ngff.plate`), into an output
    already claimed: scene i is an image (field) of well `wells[i]`, fields numbered from 0 in
    the order given. Row, column and well groups come before the images, the well and plate
    metadata after them, the plate's last, as for any store. Every well's pixels are fused in
    one graph: wells of a block or two each still keep every core busy."""
    progress = progress or NoProgress()
    fmt = FORMATS[options.ngff]
    root = zarr.open_group(zarr_store(path), mode="r+") if resuming else _new_group(path, fmt.zarr_format, options.request)
    acquisitions = acquisition_names(wells)
    fields: dict[str, list[WellImage]] = {}
    begun = []
    for scene, well in zip(scenes, wells):
        where = well_path(well)
        images = fields.setdefault(where, [])
        images.append(WellImage(str(len(images)), acquisitions.index(well.acquisition or well.plate)))
        root.require_group(where)
        scene_options = replace(options, overwrite=False, resume=False, request=None,
                                extra_metadata=scene.extra_metadata)
        image_path = path / where / images[-1].path
        begun.append((begin_image(scene.mosaic, image_path, resuming and image_path.exists(), scene_options,
                                  progress), scene_options, scene))
    progress.note(f"{len(scenes)} image(s) of {len(fields)} well(s), fused in one pass")
    write_pixels([image for image, _, _ in begun], progress, options.ngff)
    shapes = [end_image(image, scene_options, scene.channel_colors, scene.amend)
              for image, scene_options, scene in begun]
    for where, images in fields.items():
        root[where].attrs.put(well_attributes(fmt.version, images))
    field_count = max(len(images) for images in fields.values())
    _complete(root, path, plate_attributes(fmt.version, wells, field_count), options)
    return shapes


def _image_name(mosaic: xr.DataArray, path: Path) -> str:
    return str(mosaic.name or path.name.split(".")[0])


def _channel_names(mosaic: xr.DataArray) -> list[str]:
    return [str(c) for c in mosaic.coords["c"].values.reshape(-1)] if "c" in mosaic.coords else ["Channel 0"]


def _channel_colors(mosaic: xr.DataArray, given: tuple[str | None, ...]) -> tuple[str | None, ...]:
    """The colours given, else those the mosaic carries along `c` (`fuse` sets them)."""
    if given or "color" not in mosaic.coords:
        return tuple(given)
    return tuple(mosaic.coords["color"].values.reshape(-1).tolist())


def _describe(scene: SceneImage, path: Path) -> SceneDescription:
    """What the store's OME-XML says about a scene: what its NGFF metadata says."""
    from ngff_fuse.ome_xml import SceneDescription

    mosaic = scene.mosaic
    names = _channel_names(mosaic)
    given = _channel_colors(mosaic, scene.channel_colors)
    colors = channel_colors([given[i] if i < len(given) else None for i in range(len(names))])
    unit = mosaic.attrs.get("units")
    return SceneDescription(
        name=_image_name(mosaic, path), sizes=dict(mosaic.sizes), dtype=mosaic.dtype,
        spacing=placement(mosaic)[0], unit=None if unit in (None, "pixel") else unit,
        channels=tuple(zip(names, colors)),
    )


def _new_group(path: Path, zarr_format: int, request: dict | None):
    """A new group, marked incomplete (with what was asked, at the root) until its metadata
    comes last. Never over an existing one: the claim made way for it (`w-`, not `w`, which
    would delete whatever is at `path`)."""
    try:
        # an object store may list a prefix emptied by --overwrite as not empty, which `w-`
        # refuses: the claim (under the lock) found no object there
        mode = "a" if isinstance(path, Remote) else "w-"
        group = zarr.open_group(zarr_store(path), mode=mode, zarr_format=zarr_format)
        group.attrs[STATUS_KEY] = _record("incomplete", request)
    except OSError as exc:
        raise NgffFuseError(f"{path}: cannot create the output ({exc.strerror}); check the folder") from None
    return group


def _record(state: str, request: dict | None) -> dict:
    return {"status": state, **({"request": request} if request is not None else {})}


def _complete(group, path: Path, attributes: dict, options: WriteOptions) -> None:
    """Write the metadata that makes `path` an image (or a collection of them): last, and at a
    store's root only if every input is still what the request recorded."""
    request = options.request
    changed = changed_input((request or {}).get("inputs") or [], options.input_storage)
    if changed:
        raise InputError(f"{changed}: the input changed while it was converted; the output is left "
                         "incomplete: run the conversion again with --overwrite once the input is final")
    try:
        group.attrs.put({**attributes, STATUS_KEY: _record("complete", request)})
    except OSError as exc:
        raise from_environment(_naming(exc, path), resume_hint=True) from None


def _naming(exc: OSError, path: Path) -> OSError:
    """`exc`, naming `path` when it names no file."""
    return exc if exc.filename is not None else OSError(exc.errno, exc.strerror or str(exc), str(path))


def _existing_array(group, name: str, shape: tuple[int, ...], dtype: np.dtype):
    array = deterministic(group[name])  # resumed chunks are the bytes a whole run writes
    if array.shape != shape or array.dtype != dtype:
        raise InputError(
            f"{group.store_path}: level {name} is {array.shape} {array.dtype} but this run makes "
            f"{shape} {dtype}; use --overwrite to start again"
        )
    return array


def grid_shape(dims, shape: dict[str, int], edge: int, options: WriteOptions) -> tuple[int, ...]:
    """Chunk, shard or write-block shape: `edge` on y/x, one plane of t and c, z by options."""
    sizes = {"t": 1, "c": 1, "z": options.z_chunk(shape.get("z", 1)), "y": edge, "x": edge}
    return _clip(tuple(sizes[ax] for ax in dims), tuple(shape[ax] for ax in dims))


def _clip(block: tuple[int, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(max(1, min(b, n)) for b, n in zip(block, shape))


def _create_array(group, name: str, level_shape: tuple[int, ...], dtype: np.dtype, dims,
                  options: WriteOptions):
    shape = dict(zip(dims, level_shape))
    chunks = grid_shape(dims, shape, options.chunk, options)
    # Every chunk is written, even where no tile reaches: a missing chunk then always means an
    # unfinished write, which `validate` and --resume rely on.
    common = dict(name=name, shape=level_shape, dtype=dtype, chunks=chunks,
                  fill_value=np.array(options.fill).astype(dtype).item(), overwrite=True,
                  config={"write_empty_chunks": True})
    if group.metadata.zarr_format == 2:
        return group.create_array(
            **common, compressors=options.codec.zarr_v2(),
            chunk_key_encoding={"name": "v2", "separator": "/"},
        )
    shards = None
    if options.shard_edge():
        # A shard holds whole chunks, even where the level is smaller than one shard.
        edges = grid_shape(dims, shape, options.shard_edge(), options)
        shards = tuple(-(-s // c) * c for s, c in zip(edges, chunks))
    return group.create_array(
        **common, shards=shards, compressors=options.codec.zarr_v3(dtype.itemsize),
        dimension_names=dims,
    )


def _sample(array, dims: tuple[str, ...], per_axis: int = 4) -> np.ndarray:
    """Up to `per_axis` evenly spread chunks along y and x (the middle z chunk), all t and c:
    enough pixels for display percentiles without reading back a large level."""
    picks = []
    for ax, n, chunk in zip(dims, array.shape, array.chunks):
        starts = range(0, n, chunk)
        if ax in ("y", "x"):
            chosen = sorted({starts[i] for i in np.linspace(0, len(starts) - 1, per_axis).astype(int)})
        elif ax == "z":
            chosen = [starts[len(starts) // 2]]
        else:
            chosen = [None]
        picks.append([slice(None) if s is None else slice(s, min(s + chunk, n)) for s in chosen])
    blocks = [np.asarray(array[box]) for box in product(*picks)]
    # put every block's pixels on the last axis, keeping t and c apart
    keep = [i for i, ax in enumerate(dims) if ax in ("t", "c")]
    flat = [b.transpose(*keep, *[i for i in range(b.ndim) if i not in keep]).reshape(
        *[b.shape[i] for i in keep], -1) for b in blocks]
    return np.concatenate(flat, axis=-1)


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    """The 0.1 and 99.9 percentiles of finite `values`; between float64 extremes interpolating
    overflows to inf, so there the nearest pixel values are taken."""
    with np.errstate(over="ignore", invalid="ignore"):
        found = np.percentile(values, (0.1, 99.9))
    if not np.isfinite(found).all():
        found = np.percentile(values, (0.1, 99.9), method="nearest")
    return float(found[0]), float(found[1])


def channel_displays(
    smallest, dims, mosaic: xr.DataArray, colors, fill: float
) -> tuple[ChannelDisplay, ...]:
    """Display windows from robust percentiles (0.1, 99.9) of the smallest level. NaN and
    infinite pixels are left out: the window stays finite, as JSON (and so every web viewer)
    has no NaN or Infinity."""
    pixels = _sample(smallest, dims)
    channel_axis = [ax for ax in dims if ax in ("t", "c")].index("c") if "c" in dims else None
    names = _channel_names(mosaic)
    dtype = mosaic.dtype
    finite = pixels[np.isfinite(pixels)]
    lo, hi = (np.iinfo(dtype).min, np.iinfo(dtype).max) if dtype.kind in "ui" else (
        (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    )
    displays = []
    for i, name in enumerate(names):
        values = pixels if channel_axis is None else np.take(pixels, i, axis=channel_axis)
        values = values[np.isfinite(values) & (values != fill)]  # pixels no tile covers would drag the window down
        start, end = _percentiles(values) if values.size else (lo, hi)
        if end <= start:
            end = start + 1
        color = colors[i] if i < len(colors) else None
        displays.append(ChannelDisplay(name, color, (float(lo), float(hi), start, end)))
    return tuple(displays)
