"""The whole pipeline as one call: read -> fuse -> write. The CLI is a thin layer on this."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
# Private, on purpose: no public dask API hands back the source behind a block, and the public
# graphs cost 2.2x or hide it (benchmarks/README.md, "Private APIs"); floor pinned in pyproject.
from dask._task_spec import DataNode, Task

from ngff_fuse.checks import check_arrangement, check_options, check_size
from ngff_fuse.describe import stage_z_metadata
from ngff_fuse.errors import InputError
from ngff_fuse.fingerprint import file_records
from ngff_fuse.fuse.blend import BlendMode
from ngff_fuse.fuse.core import fuse
from ngff_fuse.fuse.plan import output_grid
from ngff_fuse.illumination.options import IlluminationOptions
from ngff_fuse.illumination.files import GROUP as ILLUMINATION_GROUP, store_beside
from ngff_fuse.model import OutputGrid, Tile, TileSet
from ngff_fuse.orientation import Orientation, reorient
from ngff_fuse.output import Output, check_claim, check_folder, check_picture_output, claim_output
from ngff_fuse.progress import NoProgress, Progress
from ngff_fuse.readers import Reader, ReadOptions, read_with, reader_for
from ngff_fuse.readers.tiff_planes import TiffPlanes
from ngff_fuse.storage import Location, Remote, location
from ngff_fuse import kept_tiles_writer
from ngff_fuse.writer import Amend, SceneImage, WriteOptions, write_image, write_plate_images, write_scene_images

@dataclass(frozen=True)
class RegisterOptions:
    """Refining stage positions before fusing: from image content, or from a saved file."""

    register: bool = False
    channel: int | str = 0
    max_shift_px: float | None = None
    qc_plot: Path | None = None
    positions: Path | None = None  # a positions file written by `ngff-fuse register`

    def __post_init__(self) -> None:
        if self.register and self.positions is not None:
            raise InputError("--register measures positions and --positions reads them: pick one")


@dataclass(frozen=True)
class SceneResult:
    tileset: TileSet
    level_shapes: list[tuple[int, ...]]


@dataclass(frozen=True)
class ConvertResult:
    output: Location
    scenes: list[SceneResult]


def check_output_path(input_path: Location, output: Location, in_place: bool = False) -> None:
    """The output may not be, or lie inside, the input (unless it is a store re-fused in
    place), and its folder must be writable (its bucket must exist)."""
    resolved_in, resolved_out = input_path.resolve(), output.resolve()
    inside = resolved_out == resolved_in or (resolved_in.is_dir() and _within(resolved_out, resolved_in))
    if inside and not in_place:
        raise InputError(f"{output}: the output lies inside the input {input_path}; write it elsewhere")
    if isinstance(resolved_out, Remote) and _within(resolved_in, resolved_out):
        # a store there is replaced by deleting it first (no rename): never with its input in it
        raise InputError(f"{output}: holds the input {input_path}; write the output elsewhere")
    check_folder(output)


def _within(inner: Location, outer: Location) -> bool:
    if isinstance(inner, Path) and isinstance(outer, Path):
        return outer in inner.parents
    return type(inner) is type(outer) and str(inner).startswith(str(outer) + "/")


def re_fused_in_place(input_path: Location, output: Location, keep_tiles: bool) -> bool:
    """Whether `output` is the input store itself, re-fused with its tiles kept (`fuse-store STORE`)."""
    return keep_tiles and input_path.is_dir() and input_path.resolve() == output.resolve()


def check_output(input_path: str | Path, output: str | Location, write_options: WriteOptions,
                 keep_tiles: bool = False, progress: Progress | None = None) -> None:
    """Refuse what `convert` would refuse about `output` (another run writing it, an existing
    output without --overwrite or --resume, a missing folder), before any work: before a
    cluster is started or the input is read."""
    input_path, output = location(input_path), location(output)
    in_place = re_fused_in_place(input_path, output, keep_tiles)
    check_output_path(input_path, output, in_place)
    check_claim(output, write_options.overwrite, write_options.resume, in_place, progress)


def open_input(
    input_path: Path, read_options: ReadOptions, orientation: Orientation | None = None
) -> tuple[Reader, list[TileSet]]:
    """Read every selected scene and put its tiles in physical space; tiles piled onto one
    spot are refused, tiles far from the rest are named in a note."""
    reader = reader_for(input_path)
    orientation = orientation or Orientation()
    tilesets = [check_arrangement(reorient(ts, orientation), input_path)
                for ts in read_with(reader, input_path, read_options)]
    return reader, tilesets


def tile_files(tile: Tile) -> set[str]:
    """The files a tile's pixels are read from: its source file, and every TIFF its planes come
    from (a manifest tile, an ImageXpress site or a multi-file OME-TIFF image spans several).
    Found in its lazy array, where each file's planes are a `TiffPlanes` (see tiff_planes)."""
    files = set()
    for layer in tile.data.data.dask.layers.values():
        for task in layer.values():
            if isinstance(task, Task):
                files.update(arg.value.table.path for arg in task.args
                             if isinstance(arg, DataNode) and isinstance(arg.value, TiffPlanes))
    if os.path.isfile(tile.source.path):
        files.add(tile.source.path)
    return files


def build_request(
    input_path: Path, tilesets: list[TileSet], read_options: ReadOptions,
    write_options: WriteOptions, blend: str, blend_width: float | None, orientation: Orientation,
    refine: RegisterOptions,
) -> dict:
    """What was asked, recorded in the output: a resume must ask exactly the same. Every file
    read is recorded with its size, mtime and content fingerprint (`fingerprint`)."""
    files = {input_path} if input_path.is_file() else set()
    if refine.positions is not None and Path(refine.positions).is_file():  # else refused when read
        files.add(str(refine.positions))
    for tileset in tilesets:
        for tile in tileset.tiles:
            files |= tile_files(tile)
    return {
        "inputs": file_records(files),
        "input": str(input_path.resolve()),
        "read": {"pixel_size": read_options.pixel_size and list(read_options.pixel_size),
                 "scenes": read_options.scenes and list(read_options.scenes),
                 "wells": read_options.wells and list(read_options.wells),
                 "orientation": str(orientation)},
        "fuse": {"blend": BlendMode(blend).value, "blend_width": blend_width},
        "register": {"register": refine.register, "channel": refine.channel,
                     "max_shift_px": refine.max_shift_px,
                     "positions": refine.positions and str(Path(refine.positions).resolve())},
        "write": {"ngff": write_options.ngff, "chunk": write_options.chunk,
                  "chunk_z": write_options.chunk_z, "shard": write_options.shard_edge(),
                  "levels": write_options.levels, "downsample": write_options.downsample.value,
                  "codec": str(write_options.codec), "fill": json_number(write_options.fill),
                  "hcs": write_options.hcs},
    }


def json_number(value: int | float) -> int | float | str:
    """A number as strict JSON holds it: NaN and the infinities, which JSON has not (and web
    viewers' JSON.parse rejects), as zarr writes them in fill_value: "NaN", "Infinity",
    "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return value


def refine_positions(
    tilesets: list[TileSet], options: RegisterOptions, progress: Progress
) -> tuple[list[TileSet], list[dict | None]]:
    """Apply a positions file or register each scene; returns the tile sets to fuse and, per
    scene, the registration report for the output's metadata."""
    if options.positions is None and not options.register:
        return tilesets, [None] * len(tilesets)
    # scipy's sparse solver and FFTs: imported only by the runs that register
    from ngff_fuse.register import apply_positions, qc_plot, register

    if options.positions is not None:
        if len(tilesets) > 1:
            raise InputError(f"{options.positions}: a positions file describes one scene; pick it with --scene N")
        return [apply_positions(tilesets[0], options.positions)], [None]
    refined, reports = [], []
    for index, tileset in enumerate(tilesets):
        registration = register(tileset, options.channel, options.max_shift_px, progress=progress)
        progress.note(
            f"{tileset.name}: {registration.accepted_links} of {len(registration.links)} links "
            f"accepted, {registration.unlinked_tiles} tiles placed by the stage model"
        )
        if options.qc_plot is not None:
            qc_plot(registration, scene_path(options.qc_plot, index, len(tilesets)))
        refined.append(registration.tileset)
        reports.append(registration.to_metadata())
    return refined, reports


def plate_grids(tilesets: list[TileSet]) -> list[OutputGrid]:
    """Each well's output grid, grown at its far end to the largest y and x (and z, where every
    well is 3-D) of the wells of its acquisition: plate readers (ome-zarr-py, napari-ome-zarr,
    vizarr) lay the wells out as one grid of equal images, and a site's stage error makes
    otherwise alike wells differ by a pixel. Each well keeps its origin, so its placement."""
    grids = [output_grid(tileset) for tileset in tilesets]
    by_acquisition: dict[str, list[int]] = {}
    for index, tileset in enumerate(tilesets):
        by_acquisition.setdefault(tileset.well.acquisition, []).append(index)
    for members in by_acquisition.values():
        largest = np.max([grids[i].shape for i in members], axis=0)
        all_3d = all(tilesets[i].is_3d for i in members)
        for i in members:
            z = int(largest[0]) if all_3d else grids[i].shape[0]
            grids[i] = replace(grids[i], shape=(z, int(largest[1]), int(largest[2])))
    return grids


def scene_path(path: Path, index: int, scenes: int) -> Path:
    """`path` itself for one scene, `name-<index>.suffix` for each of several."""
    return path if scenes == 1 else path.with_name(f"{path.stem}-{index}{path.suffix}")


def convert(
    input_path: str | Path,
    output: str | Location,
    read_options: ReadOptions | None = None,
    write_options: WriteOptions | None = None,
    blend: BlendMode | str = BlendMode.FEATHER,
    blend_width: float | None = None,
    orientation: Orientation | None = None,
    refine: RegisterOptions | None = None,
    progress: Progress | None = None,
    keep_tiles: bool = False,
    illumination: IlluminationOptions | None = None,
) -> ConvertResult:
    """Fuse the tiles of `input_path` into a multiscale OME-Zarr at `output`: one image, or
    with several scenes one image per scene in the bioformats2raw layout. `keep_tiles` also
    writes every tile into its image (`kept_tiles_writer`), for viewing in place and re-fusing.

    The output is checked and claimed before the input is read (`output.claim_output`).
    `output` may be `input_path` itself when that is a store re-fused with its tiles kept
    (`fuse-store STORE`): the new store is built beside it and takes its place when complete.
    `illumination` corrects the tiles as they are fused (flat-field, dark-field, tile gains).
    """
    progress = progress or NoProgress()
    read_options, write_options = read_options or ReadOptions(), write_options or WriteOptions()
    orientation, refine = orientation or Orientation(), refine or RegisterOptions()
    input_path, output = location(input_path, read_options.storage_options), location(output)
    in_place = re_fused_in_place(input_path, output, keep_tiles)
    check_output_path(input_path, output, in_place)
    if refine.qc_plot is not None:
        check_picture_output(refine.qc_plot)
    with claim_output(output, write_options.overwrite, write_options.resume, in_place, progress) as claimed:
        scenes = _convert_into(claimed, input_path, read_options, write_options, blend, blend_width,
                               orientation, refine, progress, keep_tiles, illumination or IlluminationOptions())
    return ConvertResult(output, scenes)


def _convert_into(
    claimed: Output, input_path: Path, read_options: ReadOptions, write_options: WriteOptions,
    blend: BlendMode | str, blend_width: float | None, orientation: Orientation,
    refine: RegisterOptions, progress: Progress, keep_tiles: bool, illumination: IlluminationOptions,
) -> list[SceneResult]:
    """`convert`, into an output it has claimed."""
    progress.start(f"reading {input_path.name}", 1, "input")
    reader, tilesets = open_input(input_path, read_options, orientation)
    progress.finish(f"reading {input_path.name}")
    progress.note(f"read {input_path} ({reader.description}): {len(tilesets)} scene(s), "
                  f"{sum(len(ts.tiles) for ts in tilesets)} tiles")
    request = build_request(input_path, tilesets, read_options, write_options, blend, blend_width,
                            orientation, refine)
    if keep_tiles:
        request["write"]["keep_tiles"] = True
    if illumination.profiles_wanted or illumination.equalize:
        request["illumination"] = illumination.to_metadata(records=True)
    claimed.check_request(request)
    for tileset in tilesets:  # before registration reads any pixels
        check_size(tileset, input_path)
        check_options(tileset, blend_width, write_options.fill)
    tilesets, registrations = refine_positions(tilesets, refine, progress)
    if keep_tiles:  # fuse the affines the kept tiles will be read back with
        tilesets = [kept_tiles_writer.as_stored(tileset, write_options.ngff) for tileset in tilesets]
    for tileset in tilesets:
        for note in tileset.notes:
            progress.note(f"{tileset.name}: {note}")
    storage = {**read_options.storage_options, **(input_path.options if isinstance(input_path, Remote) else {})}
    write_options = replace(write_options, request=request, input_storage=storage)
    provenance = {"source": str(input_path), "reader": reader.name,
                  "blend": BlendMode(blend).value, "codec": str(write_options.codec)}
    # read before planning: each correction reads (a sample of) the tiles once
    corrections = _corrections(tilesets, illumination, progress)
    scenes = []
    wells = [tileset.well for tileset in tilesets]
    as_plate = write_options.hcs and all(wells)
    grids = plate_grids(tilesets) if as_plate else [output_grid(tileset) for tileset in tilesets]
    progress.start("planning", len(tilesets), "scenes")
    for tileset, grid, correction in zip(tilesets, grids, corrections):
        edge = write_options.block_edge()
        z = write_options.z_chunk(grid.shape[0])
        mosaic = fuse(tileset, blend=blend, chunk_size=(z, edge, edge), fill=write_options.fill,
                      blend_width=blend_width, grid=grid, transform=correction)
        scenes.append((mosaic, tileset))
        progress.advance("planning")
    progress.finish("planning")
    images = [
        SceneImage(mosaic, tileset.channel_colors,
                   {**provenance, "position_source": tileset.position_source,
                    **stage_z_metadata(tileset),
                    **({"registration": report} if report else {}),
                    **({"illumination": {**correction.metadata(), "stored": ILLUMINATION_GROUP}}
                       if correction else {}),
                    **(write_options.extra_metadata or {})},
                   _amends(kept_tiles_writer.keep_tiles(tileset, write_options, progress) if keep_tiles else None,
                           store_beside(correction, tileset.channel_names, write_options.ngff)
                           if correction else None))
        for (mosaic, tileset), report, correction in zip(scenes, registrations, corrections)
    ]
    if as_plate:
        shapes = write_plate_images(images, wells, claimed.path, claimed.resuming, write_options, progress)
    elif len(images) == 1:
        options = replace(write_options, extra_metadata=images[0].extra_metadata)
        shapes = [write_image(images[0].mosaic, claimed.path, claimed.resuming, options,
                              images[0].channel_colors, progress, images[0].amend)]
    else:
        shapes = write_scene_images(images, claimed.path, claimed.resuming, write_options, progress)
    return [SceneResult(ts, s) for (_, ts), s in zip(scenes, shapes)]



def _corrections(tilesets: list[TileSet], illumination: IlluminationOptions, progress: Progress) -> list:
    """Each tile set's illumination correction, None where none is asked for; the estimation
    (scipy's solvers and filters, ~0.1 s to import) is imported only when one is."""
    if not (illumination.profiles_wanted or illumination.equalize):
        return [None] * len(tilesets)
    from ngff_fuse.illumination.prepare import prepare_correction

    return [prepare_correction(tileset, illumination, progress) for tileset in tilesets]

def _amends(*hooks: Amend | None) -> Amend | None:
    """The image's `Amend` hooks run one after the other (kept tiles, illumination profiles)."""
    hooks = [h for h in hooks if h is not None]
    if len(hooks) < 2:
        return hooks[0] if hooks else None

    def amend(image: Path, attributes: dict, resuming: bool) -> dict:
        for hook in hooks:
            attributes = hook(image, attributes, resuming)
        return attributes

    return amend
