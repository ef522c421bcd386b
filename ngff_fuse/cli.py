"""ngff-fuse command line: `main(argv=None)` parses, calls the library, prints. Nothing else."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

# Only what the parser needs is imported here: `ngff-fuse --version` and `--help` stay as quick
# as Python importing numpy (benchmarks/bench_process.py); each command imports its own
# modules (dask, zarr, a reader's library) when it runs.
from ngff_fuse.codecs import CODECS, DEFAULT_CODEC, Codec
from ngff_fuse.errors import InputError, NgffFuseError, from_environment, one_line, reason
from ngff_fuse.fuse.blend import BlendMode
from ngff_fuse.ngff.versions import NGFF_VERSIONS
from ngff_fuse.pyramid import Downsample
from ngff_fuse.storage import connection_lost, location, storage_options, total_size
from ngff_fuse.version import VERSION

if TYPE_CHECKING:
    from rich.console import Console

    from ngff_fuse.convert import ConvertResult, RegisterOptions
    from ngff_fuse.illumination.options import IlluminationOptions
    from ngff_fuse.orientation import Orientation
    from ngff_fuse.readers import ReadOptions
    from ngff_fuse.writer import WriteOptions

EXAMPLES = """examples:
  ngff-fuse demo demo.ome.zarr
  ngff-fuse info slide.czi
  ngff-fuse layout slide.czi layout.png
  ngff-fuse convert slide.ome.tif slide.ome.zarr --preview slide.png
  ngff-fuse convert TileConfiguration.txt fused.ome.zarr --pixel-size 0.65 --register
  ngff-fuse convert tiles.json fused.ome.zarr --ngff 0.4 --blend max --chunk 512
  ngff-fuse register slide.czi --out positions.json --qc-plot qc.png
  ngff-fuse convert slide.czi slide.ome.zarr --positions positions.json --resume
  ngff-fuse validate slide.ome.zarr
  ngff-fuse convert slide.czi slide.ome.zarr --ngff 0.6 --keep-tiles
  ngff-fuse fuse-store slide.ome.zarr slide-max.ome.zarr --blend max
  ngff-fuse convert plate/ plate.ome.zarr --flatfield auto --equalize
  ngff-fuse illumination slide.czi --out profiles.ome.zarr --qc-plot illumination.png
"""


def _pixel_size(text: str) -> tuple[float, float, float]:
    """`0.65` (x = y, z = 1), `0.65,0.65` (y,x) or `2,0.65,0.65` (z,y,x), in micrometres."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or a list z,y,x") from None
    if not values or len(values) > 3 or any(not 0 < v < math.inf for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: give 1 to 3 positive finite sizes (z,y,x)")
    if len(values) == 1:
        return (1.0, values[0], values[0])
    if len(values) == 2:
        return (1.0, *values)
    return tuple(values)


def _fill(text: str) -> int | float:
    """A whole number stays an int, so 64-bit fills keep every digit (a float holds 53 bits)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give a whole number of at least 1")
    return value


#: Largest --max-shift: 2^31 px, beyond any mosaic (larger values overflow the search).
_MAX_SHIFT_PX = float(1 << 31)


def _shift(text: str) -> float:
    """A registration shift limit: positive and finite, at most `_MAX_SHIFT_PX` pixels."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= _MAX_SHIFT_PX:
        raise argparse.ArgumentTypeError(f"{text}: give a number of pixels above 0 and at most 2^31")
    return value


def _codec(text: str) -> Codec:
    try:
        return Codec.parse(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_read_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input",
                        help="OME-TIFF, CZI, LIF, ND2, ImageXpress folder, TileConfiguration.txt, "
                             "tile manifest (.json/.csv), or a store with kept tiles; an OME-TIFF, a manifest "
                             "or a store may be at a URL (s3://, gs://, az://; http(s):// read only)")
    parser.add_argument("--pixel-size", type=_pixel_size, metavar="[Z,][Y,]X",
                        help="pixel size in micrometres, overriding (or supplying) the files' own")
    parser.add_argument("--scene", action="append", metavar="N|all",
                        help="scene (or well) to read, repeatable; 'all' (default) reads every one")
    parser.add_argument("--well", action="append", metavar="B03",
                        help="plate well to read (ImageXpress, CellVoyager), repeatable; default: every well")
    parser.add_argument("--flip-x", action="store_true", help="the stage counts x the other way")
    parser.add_argument("--flip-y", action="store_true", help="the stage counts y the other way")
    parser.add_argument("--swap-xy", action="store_true", help="the stage's x and y are swapped")


def _read_options(args: argparse.Namespace) -> ReadOptions:
    from ngff_fuse.readers import ReadOptions

    scenes = None
    if args.scene and "all" not in args.scene:
        try:
            scenes = tuple(sorted({int(s) for s in args.scene}))
        except ValueError:
            raise InputError(f"--scene {' '.join(args.scene)}: give scene numbers (from 0) or 'all'") from None
    wells = tuple(dict.fromkeys(args.well)) if getattr(args, "well", None) else None
    return ReadOptions(pixel_size=args.pixel_size, scenes=scenes, wells=wells,
                       storage_options=storage_options(getattr(args, "storage_option", None)))


def _orientation(args: argparse.Namespace) -> Orientation:
    from ngff_fuse.orientation import Orientation

    return Orientation(flip_x=args.flip_x, flip_y=args.flip_y, swap_xy=args.swap_xy)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error in one line like every other error (the usage is in
    --help); its subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ngff-fuse", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fuse microscope tiles at their stage positions into a multiscale OME-Zarr.",
        epilog=EXAMPLES,
    )
    parser.add_argument("--version", action="version", version=f"ngff-fuse {VERSION}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    conv = sub.add_parser("convert", help="fuse tiles into a multiscale OME-Zarr",
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog="example:\n  ngff-fuse convert slide.ome.tif slide.ome.zarr --ngff 0.5 --shard 4096")
    _add_read_options(conv)
    conv.add_argument("output", help="the OME-Zarr to write: a path (mosaic.ome.zarr) or an object-store "
                                    "URL (s3://bucket/mosaic.ome.zarr, gs://, az://, file://)")
    _add_write_options(conv)

    reg = _saving_command(sub, "register", "refine tile positions from the overlaps and save them",
                          "examples:\n  ngff-fuse register TileConfiguration.txt --out registered.txt\n"
                          "  ngff-fuse register slide.czi --out positions.json --qc-plot qc.png\n"
                          "  ngff-fuse convert slide.czi slide.ome.zarr --positions positions.json",
                          "FILE", ".txt (Fiji TileConfiguration, pixels) or .json (with units, quality, links)")
    _add_register_options(reg)
    _add_illumination_options(reg)

    illum = _saving_command(sub, "illumination", "estimate flat-field and dark-field profiles and save them",
                            "examples:\n  ngff-fuse illumination slide.czi --out profiles.ome.zarr --qc-plot qc.png\n"
                            "  ngff-fuse convert slide.czi slide.ome.zarr --flatfield profiles.ome.zarr "
                            "--darkfield profiles.ome.zarr",
                            "PROFILES", "where to save them: .zarr (NGFF images flatfield and darkfield, with a "
                            "channel axis) or .ome.tif (two images so named)")
    illum.add_argument("--darkfield", choices=["auto", "none"], default="auto",
                       help="estimate the dark offset too (default) or take none")
    illum.add_argument("--qc-plot", type=Path, metavar="PNG",
                       help="draw each channel's profile, its fall-off along y and x, and one seam before "
                            "and after")
    illum.add_argument("--ngff", choices=NGFF_VERSIONS, default="0.5", help="NGFF version of a .zarr output")

    info = sub.add_parser("info", help="show what would be fused: tiles, positions, extent",
                          epilog="example:\n  ngff-fuse info TileConfiguration.txt --json")
    _add_read_options(info)
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.add_argument("--no-orientation-check", action="store_true",
                      help="skip matching overlaps under flipped/swapped stage axes (reads overlaps)")

    demo = sub.add_parser("demo", help="write a synthetic acquisition (OME-TIFF) and convert it",
                          epilog="example:\n  ngff-fuse demo demo.ome.zarr && napari demo.ome.zarr")
    demo.add_argument("output", type=Path,
                      help="the OME-Zarr to write (the OME-TIFF it is made from is deleted after)")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing output")

    layout = sub.add_parser("layout", help="draw the tile layout (outlines, indices, overlaps) to a PNG",
                            epilog="example:\n  ngff-fuse layout slide.czi layout.png --scene 0")
    _add_read_options(layout)
    layout.add_argument("png", type=Path, help="the picture to write (.png, .svg or .pdf)")

    preview = sub.add_parser("preview", help="write a PNG thumbnail of an OME-Zarr image",
                             epilog="example:\n  ngff-fuse preview fused.ome.zarr fused.png")
    preview.add_argument("store", help="an OME-Zarr image (or a multi-scene store: image 0), a path or URL")
    preview.add_argument("png", type=Path, help="the PNG to write")
    preview.add_argument("--size", type=_positive_int, default=768, help="longer edge to aim for, in pixels")

    check = sub.add_parser("validate", help="check an OME-Zarr: metadata, levels, every chunk readable",
                           epilog="example:\n  ngff-fuse validate fused.ome.zarr --schemas ngff-spec/")
    check.add_argument("store", help="the OME-Zarr to check, a path or URL")
    check.add_argument("--schemas", type=Path, metavar="DIR",
                       help="also validate against the NGFF JSON schemas in DIR/<version>/schemas")
    check.add_argument("--json", action="store_true", help="print the checks as JSON")
    check.add_argument("--quick", action="store_true",
                       help="check the metadata and that every chunk is there, without decoding the chunks")

    refuse = sub.add_parser("fuse-store", help="re-fuse the tiles kept in an OME-Zarr (convert --keep-tiles)",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="examples:\n  ngff-fuse fuse-store slide.ome.zarr slide-max.ome.zarr --blend max\n"
                                   "  ngff-fuse fuse-store slide.ome.zarr slide-reg.ome.zarr --register")
    refuse.add_argument("input", metavar="STORE",
                        help="an OME-Zarr written with `ngff-fuse convert ... --keep-tiles`")
    refuse.add_argument("output", nargs="?",
                        help="the OME-Zarr to write (default: re-fuse STORE in place, keeping its "
                             "tiles and its NGFF version)")
    refuse.add_argument("--scene", action="append", metavar="N|all",
                        help="image of a multi-scene store to re-fuse, repeatable (default: all)")
    _add_write_options(refuse)
    # --ngff: 0.5 for a new output, the store's own version in place (see _run_fuse_store)
    refuse.set_defaults(pixel_size=None, flip_x=False, flip_y=False, swap_xy=False, ngff=None)

    for p in (conv, reg, info, layout, preview, check, refuse):
        p.add_argument("--storage-option", action="append", metavar="KEY=VALUE",
                       help="an option of the object store's file system, repeatable (e.g. "
                            "endpoint_url=http://host:9000, anon=true); credentials come from the "
                            "cloud's standard configuration")
    for p in (conv, reg, illum, info, demo, layout, preview, check, refuse):
        p.add_argument("--quiet", action="store_true", help="no progress output")
        p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return parser


def _saving_command(sub, name: str, help: str, epilog: str, metavar: str, out: str) -> argparse.ArgumentParser:
    """A command that reads an input and saves what it finds to --out."""
    parser = sub.add_parser(name, help=help, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog)
    _add_read_options(parser)
    parser.add_argument("--out", type=Path, required=True, metavar=metavar, help=out)
    return parser


def _add_register_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--register-channel", default="0", metavar="C",
                        help="reference channel for registration, index or name (default 0)")
    parser.add_argument("--max-shift", type=_shift, metavar="PX",
                        help="largest correction of a link, in pixels, and the search radius: tiles "
                             "whose stage boxes come this close are compared (default: 10%% of the "
                             "tile, >= 50)")
    parser.add_argument("--qc-plot", type=Path, metavar="PNG",
                        help="draw the layout, links coloured by quality, tiles by residual")


def _register_options(args: argparse.Namespace) -> RegisterOptions:
    from ngff_fuse.convert import RegisterOptions

    channel = args.register_channel
    return RegisterOptions(
        register=getattr(args, "register", True), channel=int(channel) if channel.isdigit() else channel,
        max_shift_px=args.max_shift, qc_plot=args.qc_plot, positions=getattr(args, "positions", None),
    )


def _add_illumination_options(parser: argparse.ArgumentParser, equalize: bool = True) -> None:
    parser.add_argument("--flatfield", metavar="auto|FILE",
                        help="correct vignetting: 'auto' estimates the flat-field of each channel from the "
                             "tiles and their overlaps; FILE is a profile image (TIFF, OME-TIFF or NGFF, one "
                             "plane per channel, e.g. BaSiC's)")
    parser.add_argument("--darkfield", metavar="auto|FILE|none",
                        help="the camera's dark offset, subtracted before the flat-field: 'auto' estimates "
                             "it, FILE is an image, 'none' subtracts nothing (default: auto with "
                             "--flatfield auto, else none)")
    if equalize:
        parser.add_argument("--equalize", action="store_true",
                            help="also give each tile its own gain and offset, solved from the overlaps "
                                 "(lamp drift, bleaching between tiles)")


def _illumination_options(args: argparse.Namespace) -> IlluminationOptions:
    from ngff_fuse.illumination.options import IlluminationOptions

    return IlluminationOptions(flatfield=args.flatfield, darkfield=args.darkfield,
                               equalize=getattr(args, "equalize", False))


def _add_write_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ngff", choices=NGFF_VERSIONS, default="0.5",
                        help="NGFF version: 0.4 (zarr v2), 0.5 (zarr v3; default) or 0.6 "
                             "(zarr v3, named coordinate systems)")
    parser.add_argument("--blend", choices=[m.value for m in BlendMode], default="feather",
                        help="how overlapping tiles combine: feather (cross-fade centred on each "
                             "overlap), linear (Fiji/BigStitcher: ramps from each tile's edge), mean, "
                             "max, first (default: feather)")
    parser.add_argument("--blend-width", type=float, metavar="PX",
                        help="width in pixels of the cross-fade between overlapping tiles: feather "
                             "fades over it across the middle of each overlap, linear ramps over it "
                             "from each tile's edge (default: 40, or the overlap where narrower)")
    parser.add_argument("--chunk", type=int, default=1024, metavar="N",
                        help="y/x edge of a zarr chunk in pixels (default: 1024)")
    parser.add_argument("--chunk-z", type=int, metavar="N", help="z edge of a chunk (default: ~4 Mvoxel chunks)")
    parser.add_argument("--shard", type=int, metavar="N",
                        help="y/x edge of a zarr v3 shard, a multiple of --chunk (NGFF 0.5 and 0.6 only; "
                             "default 2 x --chunk, 0 for none)")
    parser.add_argument("--levels", type=int, metavar="N",
                        help="number of pyramid levels (default: down to about one chunk)")
    parser.add_argument("--downsample", choices=[m.value for m in Downsample], default="mean",
                        help="pyramid downsampling method (default: mean)")
    parser.add_argument("--codec", type=_codec, default=Codec.parse(DEFAULT_CODEC), metavar="NAME[:LEVEL]",
                        help=f"compression: {', '.join(CODECS)} (default: {DEFAULT_CODEC})")
    parser.add_argument("--fill", type=_fill, default=0, metavar="VALUE",
                        help="value of pixels no tile covers (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--register", action="store_true",
                        help="refine the stage positions from the tile overlaps before fusing")
    parser.add_argument("--positions", type=Path, metavar="FILE",
                        help="use positions saved by `ngff-fuse register` (.txt or .json)")
    _add_register_options(parser)
    _add_illumination_options(parser)
    parser.add_argument("--preview", type=Path, metavar="PNG",
                        help="also write a thumbnail of the result (channel colours, scale bar)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="run on a local dask.distributed cluster of N worker processes")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a running dask.distributed scheduler (e.g. tcp://host:8786)")
    parser.add_argument("--keep-tiles", action="store_true",
                        help="also write every tile, with its own small pyramid, into OUTPUT/tiles, "
                             "placed where the fused image puts it (re-fuse with `fuse-store`)")
    parser.add_argument("--no-hcs", action="store_true",
                        help="write the wells of a plate as a list of images (bioformats2raw's "
                             "layout) instead of an NGFF HCS plate")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted conversion into the same OUTPUT (same inputs "
                             "and options), skipping the chunks already written")


def _write_options(args: argparse.Namespace) -> WriteOptions:
    from ngff_fuse.writer import WriteOptions

    return WriteOptions(
        ngff=args.ngff, chunk=args.chunk, chunk_z=args.chunk_z, shard=args.shard, levels=args.levels,
        downsample=Downsample(args.downsample), codec=args.codec, fill=args.fill,
        overwrite=args.overwrite, resume=args.resume, hcs=not getattr(args, "no_hcs", False),
    )


def _summary(console: Console, result: ConvertResult, seconds: float) -> None:
    from ngff_fuse._axes import SPATIAL
    from ngff_fuse.fuse.plan import output_grid
    from ngff_fuse.stage_clock import CLOCK, shares

    size = total_size(result.output)
    mpix = sum(math.prod(scene.level_shapes[0]) for scene in result.scenes if scene.level_shapes) / 1e6
    console.print(f"wrote {result.output} in {seconds:.1f} s, {mpix / max(seconds, 1e-9):.1f} MPix/s "
                  f"({size / 1e6:.1f} MB stored)")
    spent = shares(CLOCK.seconds())
    if spent:
        console.print(f"  time in the worker threads: {spent}")
    for index, scene in enumerate(result.scenes):
        tileset = scene.tileset
        where = f"image {index} " if len(result.scenes) > 1 else ""
        grid = output_grid(tileset)
        unit = "µm" if tileset.unit == "micrometer" else "px"
        spans = [(ax, grid.origin[i], grid.origin[i] + (grid.shape[i] - 1) * grid.spacing[i])
                 for i, ax in enumerate(SPATIAL) if ax in tileset.dims]
        console.print(f"  {where}{tileset.name}: {len(tileset.tiles)} tiles, pixel size "
                      f"{tileset.spacing[-1]:g} {unit}; extent "
                      + ", ".join(f"{ax} {lo:.2f} to {hi:.2f}" for ax, lo, hi in spans) + f" {unit}")
        for level, shape in enumerate(scene.level_shapes):
            console.print(f"    level {level}: {' x '.join(map(str, shape))}")
    console.print(f"open it: napari --plugin napari-ome-zarr {result.output}")


def _run_convert(args, console: Console) -> int:
    from ngff_fuse.cluster import compute_on
    from ngff_fuse.console import ConsoleProgress
    from ngff_fuse.convert import check_output, convert
    from ngff_fuse.output import check_picture_output
    from ngff_fuse.preview import write_preview

    from ngff_fuse.stage_clock import CLOCK

    started = time.monotonic()
    CLOCK.reset()
    progress = ConsoleProgress(console, quiet=args.quiet)
    if args.preview:
        check_picture_output(args.preview)
    read_options, write_options, refine = _read_options(args), _write_options(args), _register_options(args)
    illumination = _illumination_options(args)
    # an output that would be refused is refused before a cluster starts or the input is read
    check_output(args.input, args.output, write_options, args.keep_tiles, progress)
    with compute_on(args.workers, args.scheduler) as engine:
        progress.note(f"computing on {engine}")
        result = convert(
            args.input, args.output, read_options, write_options,
            blend=args.blend, blend_width=args.blend_width, orientation=_orientation(args),
            refine=refine, progress=progress, keep_tiles=args.keep_tiles,
            illumination=illumination,
        )
    if args.preview:
        write_preview(result.output, args.preview)
    if not args.quiet:
        _summary(console, result, time.monotonic() - started)
        if args.preview:
            console.print(f"preview: {args.preview}")
    return 0


def _run_fuse_store(args, console: Console) -> int:
    """`convert` with the tiles kept in a store as its input."""
    from ngff_fuse.ngff.groups import is_zarr_group, ngff_version

    if not is_zarr_group(args.input):
        raise InputError(f"{args.input}: not an OME-Zarr store; fuse-store re-fuses the tiles of a store "
                         "written by `ngff-fuse convert INPUT STORE.ome.zarr --keep-tiles`")
    if args.output is not None:
        args.ngff = args.ngff or "0.5"
        return _run_convert(args, console)
    # in place: the store keeps its tiles (re-placed if re-registered) and its version; the new
    # store is built beside it and takes its place when complete (see convert)
    args.ngff = args.ngff or ngff_version(args.input)
    args.keep_tiles = True
    args.output = args.input
    return _run_convert(args, console)


def _run_layout(args, console: Console) -> int:
    from ngff_fuse.convert import open_input, scene_path
    from ngff_fuse.layout_plot import layout_plot
    from ngff_fuse.output import check_picture_output

    check_picture_output(args.png)
    _, tilesets = open_input(args.input, _read_options(args), _orientation(args))
    for index, tileset in enumerate(tilesets):
        out = layout_plot(tileset, scene_path(args.png, index, len(tilesets)))
        if not args.quiet:
            console.print(f"wrote {out}")
    return 0


def _run_preview(args, console: Console) -> int:
    from ngff_fuse.output import check_picture_output
    from ngff_fuse.preview import write_preview

    check_picture_output(args.png)
    write_preview(args.store, args.png, args.size)
    if not args.quiet:
        console.print(f"wrote {args.png}")
    return 0


def _scenes_to_save(args) -> list:
    """The input's scenes, once --out and --qc-plot are known to be writable (before any work)."""
    from ngff_fuse.convert import open_input
    from ngff_fuse.output import check_file_output, check_picture_output

    check_file_output(args.out)
    if args.qc_plot is not None:
        check_picture_output(args.qc_plot)
    return open_input(args.input, _read_options(args), _orientation(args))[1]


def _run_register(args, console: Console) -> int:
    from ngff_fuse.console import ConsoleProgress
    from ngff_fuse.convert import scene_path
    from ngff_fuse.illumination.correct import corrected_tiles
    from ngff_fuse.illumination.prepare import prepare_correction
    from ngff_fuse.register import qc_plot, register, write_positions

    progress = ConsoleProgress(console, quiet=args.quiet)
    tilesets = _scenes_to_save(args)
    for index, tileset in enumerate(tilesets):
        correction = prepare_correction(tileset, _illumination_options(args), progress)
        if correction is not None:  # overlaps compared as they will be fused
            tileset = corrected_tiles(tileset, correction)
        registration = register(tileset, _register_options(args).channel, args.max_shift,
                                progress=progress)
        out = write_positions(registration, scene_path(args.out, index, len(tilesets)))
        if args.qc_plot:
            qc_plot(registration, scene_path(args.qc_plot, index, len(tilesets)))
        for note in registration.tileset.notes:
            progress.note(f"{tileset.name}: {note}")
        if not args.quiet:
            console.print(f"{tileset.name}: {registration.accepted_links} of {len(registration.links)} "
                          f"links accepted, {registration.unlinked_tiles} tiles without links; "
                          f"wrote {out}", markup=False)
    return 0


def _run_illumination(args, console: Console) -> int:
    from ngff_fuse.console import ConsoleProgress
    from ngff_fuse.convert import scene_path
    from ngff_fuse.illumination.files import write_profiles
    from ngff_fuse.illumination.options import IlluminationOptions
    from ngff_fuse.illumination.prepare import prepare_correction
    from ngff_fuse.illumination.qc_plot import illumination_plot

    progress = ConsoleProgress(console, quiet=args.quiet)
    tilesets = _scenes_to_save(args)
    options = IlluminationOptions(flatfield="auto", darkfield=args.darkfield)
    for index, tileset in enumerate(tilesets):
        correction = prepare_correction(tileset, options, progress)
        out = write_profiles(correction.profiles, scene_path(args.out, index, len(tilesets)),
                             tileset.channel_names, args.ngff)
        if args.qc_plot:
            illumination_plot(tileset, correction, scene_path(args.qc_plot, index, len(tilesets)))
        if not args.quiet:
            for name, summary in zip(tileset.channel_names, correction.profiles.summary()):
                console.print(f"{tileset.name}: {name}: falls {summary['falloff_percent']:.1f} % to the "
                              f"dimmest pixel, corners at {summary['corners_percent']:.1f} %, dark level "
                              f"{summary['dark_level']:g}", markup=False)
            console.print(f"wrote {out}", markup=False)
    return 0


def _orientation_report(tileset) -> dict:
    from ngff_fuse.errors import DamagedFile
    from ngff_fuse.orientation import check_orientation

    try:
        check = check_orientation(tileset)
    except DamagedFile:  # a tile that does not read is no orientation question
        raise
    except InputError as exc:  # rotated tiles: orientation is the affine's business
        return {"verdict": f"not checked: {exc}", "decided": False, "scores": {}, "pairs": 0}
    return {"verdict": check.verdict(), "decided": check.decided, "scores": check.scores,
            "pairs": check.pairs}


def _run_info(args, console: Console) -> int:
    from rich.table import Table

    from ngff_fuse.convert import open_input
    from ngff_fuse.describe import describe

    reader, tilesets = open_input(args.input, _read_options(args), _orientation(args))
    summary = describe(str(args.input), reader.name, tilesets)
    if not args.no_orientation_check:
        for scene, tileset in zip(summary["scenes"], tilesets):
            scene["orientation"] = _orientation_report(tileset)
    if args.json:
        console.out(json.dumps(summary, indent=2))
        return 0
    wells = [scene["well"] for scene in summary["scenes"] if "well" in scene]
    if wells:
        names = list(dict.fromkeys(w["well"] for w in wells))
        console.print(f"[bold]{summary['input']}[/bold] ({summary['reader']}): plate {wells[0]['plate']}, "
                      f"{len(names)} well(s): {', '.join(names)}; {len(wells)} image(s), at most "
                      f"{max(w['field'] for w in wells) + 1} field(s) per well")
    for scene in summary["scenes"]:
        mosaic = scene["mosaic"]
        unit = scene["unit"]
        console.print(f"[bold]{summary['input']}[/bold] ({summary['reader']}), scene {scene['name']}")
        console.print(f"  {scene['tiles']} tiles of {' x '.join(map(str, scene['tile_shape']))} "
                      f"({', '.join(scene['dims'])}), {scene['dtype']}, channels: {', '.join(scene['channels'])}")
        console.print("  pixel size: " + ", ".join(f"{k} {v:g}" for k, v in scene["pixel_size"].items()) + f" {unit}")
        console.print(f"  {len(scene['overlaps'])} overlapping tile pairs")
        if "well" in scene:
            well = scene["well"]
            console.print(f"  well {well['well']}, field {well['field']} ({well['acquisition']}): "
                          f"{well['path']} in the HCS plate convert writes")
        console.print(f"  positions from: {scene['position_source']}")
        console.print(f"  mosaic: {' x '.join(str(v) for v in mosaic['shape'].values())} px, from "
                      f"{tuple(mosaic['origin'].values())} to {tuple(mosaic['end'].values())} {unit}, "
                      f"{mosaic['bytes'] / 1e6:.1f} MB uncompressed")
        for note in scene["notes"]:
            console.print(f"  note: {note}", markup=False)
        if "orientation" in scene:
            console.print(f"  stage orientation: {scene['orientation']['verdict']}", markup=False)
        focus = len({tile.get("stage_z") for tile in scene["tile_positions"]}) > 1  # 2-D, z differs
        table = Table("#", "tile", *[f"{ax} ({unit})" for ax in scene["pixel_size"]],
                      *([f"stage z ({unit})"] if focus else []), "source")
        for i, tile in enumerate(scene["tile_positions"]):
            table.add_row(str(i), tile["name"], *[f"{v:.3f}" for v in tile["position"].values()],
                          *([f"{tile['stage_z']:.3f}"] if focus else []), tile["source"])
        console.print(table)
    return 0


def _run_demo(args, console: Console) -> int:
    """A synthetic acquisition, written to a temporary folder (deleted after) and converted:
    the demo leaves nothing behind but OUTPUT."""
    from ngff_fuse.output import check_claim, check_folder
    from ngff_fuse.testing.demo import write_demo_acquisition

    check_folder(args.output)
    check_claim(args.output, args.overwrite, resume=False)  # refuse before any work
    with tempfile.TemporaryDirectory(prefix="ngff-fuse-demo-") as folder:
        acquisition = Path(folder) / "demo-acquisition.ome.tif"
        if not args.quiet:
            console.print("writing a synthetic 3 x 4 tile, 2-channel acquisition to a temporary folder")
        write_demo_acquisition(acquisition)
        argv = ["convert", str(acquisition), str(args.output)]
        argv += [f"--{flag}" for flag in ("overwrite", "quiet", "debug") if getattr(args, flag)]
        return _run_convert(build_parser().parse_args(argv), console)


def _run_validate(args, console: Console) -> int:
    from ngff_fuse.console import ConsoleProgress
    from ngff_fuse.validate import validate_store

    progress = ConsoleProgress(console, quiet=args.quiet or args.json)
    report = validate_store(args.store, args.schemas, decode=not args.quick, progress=progress)
    if args.json:
        console.out(json.dumps({"store": str(args.store), "ok": report.ok, "passed": report.passed,
                                "failed": report.failed}, indent=2))
    else:
        for line in report.passed:
            console.print(f"  ok    {line}", markup=False)
        for line in report.failed:
            console.print(f"  FAIL  {line}", markup=False)
        verdict = "valid" if report.ok else f"{len(report.failed)} check(s) failed"
        console.print(f"{args.store}: {verdict}", markup=False)
    return 0 if report.ok else 1


COMMANDS = {
    "convert": _run_convert, "register": _run_register, "illumination": _run_illumination, "info": _run_info, "demo": _run_demo,
    "layout": _run_layout, "preview": _run_preview,
    "validate": _run_validate, "fuse-store": _run_fuse_store,
}


# Libraries whose log lines (a parse error inside a damaged file, version notes) would bury
# ngff-fuse's one-line message; --debug lets them through.
_CHATTY_LOGGERS = ("tifffile", "bioio", "bioio_base", "ome_zarr", "ome_types", "xmlschema",
                   "aicspylibczi", "nd2", "readlif", "distributed")


@contextlib.contextmanager
def _quiet_libraries(quiet: bool) -> Iterator[None]:
    """Library warnings and chatty loggers silenced while a command runs, and only then: a
    script or notebook that calls `main` keeps its own warning filters and logger levels."""
    if not quiet:
        yield
        return
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _left_incomplete(args: argparse.Namespace) -> bool:
    from ngff_fuse.output import left_incomplete

    output = getattr(args, "output", None)
    return args.command in ("convert", "fuse-store") and output is not None and left_incomplete(output)


def _locate(args: argparse.Namespace) -> None:
    """The stores and inputs named on the command line as local paths or object-store URLs,
    the latter with the --storage-option given."""
    options = storage_options(getattr(args, "storage_option", None))
    for name in ("input", "output", "store"):
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, location(value, options))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ngff_fuse.console import stdout_console, terminal_console

    console = stdout_console()
    errors = terminal_console(sys.stderr)
    try:
        with _quiet_libraries(not args.debug):
            _locate(args)
            return COMMANDS[args.command](args, console)
    except NgffFuseError as exc:
        if args.debug:
            raise
        errors.print(f"ngff-fuse: error: {one_line(str(exc))}", markup=False)
        return exc.exit_code
    except (OSError, MemoryError) as exc:  # the machine's failures no code path expected
        if args.debug:
            raise
        error = from_environment(exc, _left_incomplete(args))
        errors.print(f"ngff-fuse: error: {one_line(str(error))}", markup=False)
        return error.exit_code
    except KeyboardInterrupt:
        hint = " (the output is marked incomplete: run the same command with --resume to finish it)" \
            if args.command in ("convert", "fuse-store") else ""
        errors.print(f"ngff-fuse: interrupted{hint}", markup=False)
        return 130
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if args.debug:
            raise
        lost = connection_lost(exc)
        if lost is not None:  # outside a write (validate, preview, info): nothing to resume
            errors.print(f"ngff-fuse: error: lost the connection to the object store ({one_line(reason(lost))}); "
                         "check the endpoint and the network", markup=False)
            return 1
        errors.print(f"ngff-fuse: unexpected error: {type(exc).__name__}: {one_line(str(exc))} "
                     "(rerun with --debug for the traceback)", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
