"""The whole pipeline as one call: read -> fuse -> write. The CLI is a thin layer on this."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ngff_fuse.errors import InputError
from ngff_fuse.fuse.blend import BlendMode
from ngff_fuse.fuse.core import fuse
from ngff_fuse.fuse.plan import output_grid, output_size_bytes
from ngff_fuse.model import TileSet
from ngff_fuse.progress import NoProgress, Progress
from ngff_fuse.readers import ReadOptions, reader_for
from ngff_fuse.writer import WriteOptions, write_ngff

#: Refuse outputs beyond this size before writing anything (a wrong unit or a stray position).
MAX_OUTPUT_BYTES = 1 << 50  # 1 PiB


@dataclass(frozen=True)
class ConvertResult:
    output: Path
    level_shapes: list[tuple[int, ...]]
    tileset: TileSet


def check_output_path(input_path: Path, output: Path) -> None:
    resolved_in, resolved_out = input_path.resolve(), output.resolve()
    folder = resolved_in if resolved_in.is_dir() else resolved_in.parent
    if resolved_out == resolved_in or (resolved_in.is_dir() and folder in resolved_out.parents):
        raise InputError(f"{output}: the output lies inside the input {input_path}; write it elsewhere")


def convert(
    input_path: str | Path,
    output: str | Path,
    read_options: ReadOptions = ReadOptions(),
    write_options: WriteOptions = WriteOptions(),
    blend: BlendMode | str = BlendMode.FEATHER,
    blend_width: float | None = None,
    progress: Progress | None = None,
) -> ConvertResult:
    """Fuse the tiles of `input_path` into a multiscale OME-Zarr image at `output`."""
    progress = progress or NoProgress()
    input_path, output = Path(input_path), Path(output)
    check_output_path(input_path, output)
    reader = reader_for(input_path)
    progress.note(f"reading {input_path} ({reader.description})")
    tilesets = reader.read(input_path, read_options)
    tileset = tilesets[0]
    if len(tilesets) > 1:
        progress.note(f"{input_path} holds {len(tilesets)} scenes; fusing the first, {tileset.name}")
    for note in tileset.notes:
        progress.note(note)
    grid = output_grid(tileset)
    size = output_size_bytes(grid, tileset)
    if size > MAX_OUTPUT_BYTES:
        raise InputError(
            f"{input_path}: the mosaic would be {size / 2**50:.1f} PiB; check the tile positions "
            "and their unit"
        )
    edge = write_options.block_edge()
    z = write_options.z_chunk(grid.shape[0])
    mosaic = fuse(tileset, blend=blend, chunk_size=(z, edge, edge), fill=write_options.fill,
                  blend_width=blend_width)
    provenance = {
        "source": str(input_path), "reader": reader.name, "blend": str(BlendMode(blend).value),
        "position_source": tileset.position_source, "codec": str(write_options.codec),
    }
    write_options = replace(write_options, extra_metadata={**provenance, **(write_options.extra_metadata or {})})
    shapes = write_ngff(mosaic, output, write_options, tileset.channel_colors, progress)
    return ConvertResult(output=output, level_shapes=shapes, tileset=tileset)
