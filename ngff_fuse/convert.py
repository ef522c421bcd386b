"""The whole pipeline as one call: read -> fuse -> write. The CLI is a thin layer on this."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from ngff_fuse.errors import InputError
from ngff_fuse.fuse.blend import BlendMode
from ngff_fuse.fuse.core import fuse
from ngff_fuse.fuse.plan import output_grid, output_size_bytes
from ngff_fuse.model import TileSet
from ngff_fuse.progress import NoProgress, Progress
from ngff_fuse.layout import Orientation, reorient
from ngff_fuse.readers import Reader, ReadOptions, reader_for
from ngff_fuse.writer import SceneImage, WriteOptions, write_ngff, write_scenes

#: Refuse outputs beyond this size before writing anything (a wrong unit or a stray position).
MAX_OUTPUT_BYTES = 1 << 50  # 1 PiB


@dataclass(frozen=True)
class SceneResult:
    tileset: TileSet
    level_shapes: list[tuple[int, ...]]


@dataclass(frozen=True)
class ConvertResult:
    output: Path
    scenes: list[SceneResult]


def check_output_path(input_path: Path, output: Path) -> None:
    """The output may not be, or lie inside, the input, and its folder must be writable."""
    resolved_in, resolved_out = input_path.resolve(), output.resolve()
    if resolved_out == resolved_in or (resolved_in.is_dir() and resolved_in in resolved_out.parents):
        raise InputError(f"{output}: the output lies inside the input {input_path}; write it elsewhere")
    parent = resolved_out.parent
    if not parent.is_dir():
        raise InputError(f"{output}: folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{output}: folder {parent} is not writable; choose another output")


def open_input(
    input_path: Path, read_options: ReadOptions, orientation: Orientation = Orientation()
) -> tuple[Reader, list[TileSet]]:
    """Read every selected scene and put its tiles in physical space."""
    reader = reader_for(input_path)
    tilesets = [reorient(ts, orientation) for ts in reader.read(input_path, read_options)]
    return reader, tilesets


def _file_record(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "modified_ns": stat.st_mtime_ns}


def build_request(
    input_path: Path, tilesets: list[TileSet], read_options: ReadOptions,
    write_options: WriteOptions, blend: str, blend_width: float | None, orientation: Orientation,
) -> dict:
    """What was asked, recorded in the output: a resume must ask exactly the same."""
    files = {input_path.resolve()} if input_path.is_file() else set()
    for tileset in tilesets:
        for tile in tileset.tiles:
            candidate = Path(tile.source.split(" series ")[0])
            if candidate.is_file():
                files.add(candidate.resolve())
    return {
        "inputs": [_file_record(f) for f in sorted(files)],
        "input": str(input_path.resolve()),
        "read": {"pixel_size": read_options.pixel_size and list(read_options.pixel_size),
                 "scenes": read_options.scenes and list(read_options.scenes),
                 "orientation": str(orientation)},
        "fuse": {"blend": BlendMode(blend).value, "blend_width": blend_width},
        "write": {"ngff": write_options.ngff, "chunk": write_options.chunk,
                  "chunk_z": write_options.chunk_z, "shard": write_options.shard,
                  "levels": write_options.levels, "downsample": write_options.downsample.value,
                  "codec": str(write_options.codec), "fill": write_options.fill},
    }


def check_size(tileset: TileSet, input_path: Path) -> None:
    size = output_size_bytes(output_grid(tileset), tileset)
    if size > MAX_OUTPUT_BYTES:
        raise InputError(
            f"{input_path}: the mosaic would be {size / 2**50:.1f} PiB; check the tile positions "
            "and their unit"
        )


def convert(
    input_path: str | Path,
    output: str | Path,
    read_options: ReadOptions = ReadOptions(),
    write_options: WriteOptions = WriteOptions(),
    blend: BlendMode | str = BlendMode.FEATHER,
    blend_width: float | None = None,
    orientation: Orientation = Orientation(),
    progress: Progress | None = None,
) -> ConvertResult:
    """Fuse the tiles of `input_path` into a multiscale OME-Zarr at `output`: one image, or
    with several scenes one image per scene in the bioformats2raw layout."""
    progress = progress or NoProgress()
    input_path, output = Path(input_path), Path(output)
    check_output_path(input_path, output)
    reader, tilesets = open_input(input_path, read_options, orientation)
    progress.note(f"read {input_path} ({reader.description}): {len(tilesets)} scene(s)")
    for tileset in tilesets:
        check_size(tileset, input_path)
        for note in tileset.notes:
            progress.note(f"{tileset.name}: {note}")
    request = build_request(input_path, tilesets, read_options, write_options, blend, blend_width,
                            orientation)
    write_options = replace(write_options, request=request)
    provenance = {"source": str(input_path), "reader": reader.name,
                  "blend": BlendMode(blend).value, "codec": str(write_options.codec)}
    scenes = []
    for tileset in tilesets:
        edge = write_options.block_edge()
        z = write_options.z_chunk(output_grid(tileset).shape[0])
        mosaic = fuse(tileset, blend=blend, chunk_size=(z, edge, edge), fill=write_options.fill,
                      blend_width=blend_width)
        scenes.append((mosaic, tileset))
    images = [
        SceneImage(mosaic, tileset.channel_colors,
                   {**provenance, "position_source": tileset.position_source,
                    **(write_options.extra_metadata or {})})
        for mosaic, tileset in scenes
    ]
    if len(images) == 1:
        options = replace(write_options, extra_metadata=images[0].extra_metadata)
        shapes = [write_ngff(images[0].mosaic, output, options, images[0].channel_colors, progress)]
    else:
        shapes = write_scenes(images, output, write_options, progress)
    return ConvertResult(output, [SceneResult(ts, s) for (_, ts), s in zip(scenes, shapes)])
