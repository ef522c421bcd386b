"""Molecular Devices ImageXpress / MetaXpress TIFF exports: each well is one mosaic of its sites.

An export (the plate folder MetaXpress writes) holds one TIFF per plane:

    [PLATE.HTD]
    [TimePoint_<t>/]                            when the plate was imaged more than once
        PLATE_<well>_s<site>_w<c><GUID>.tif     a plane (no _s for one site per well, no _w
                                                for one channel, no GUID from old MetaXpress)
        PLATE_<well>_s<site>_w<c>_thumb<GUID>.tif   a thumbnail: skipped
        [ZStep_<z>/the same names]              the planes of z stacks, z = 1..N
        [ZStep_0/the same names]                projections, in exports that file them there

Each TIFF's ImageDescription is MetaMorph "MetaSeries" XML: stage-position-x/y and z-position
(um), spatial-calibration-x/y with its units, wavelength (nm), _IllumSetting_ (the name of the
illumination setting, used as channel name; the wavelength gives the channel colour) and, for a
projection MetaXpress computed from a stack, "Z Projection Method".

Which images: a well gives up to two. "<plate>_<well>" holds its planes: the files of
ZStep_1..N at their z step, and a channel taken as a single plane (a 2-D channel) at its one
plane, the others left empty (0) rather than repeated; a 2-D plate has one plane. "<plate>_<well>
projection" holds the projections: the files in ZStep_0, and the files beside the ZStep folders
of channels with a z stack or whose XML names a Z Projection Method. A channel that exists only
as a projection is in the projection image only. `--scene` counts these images in plate order.
Channels that share a label (four "FITC_05") are told apart by what differs in their XML
(projection method, wavelength, exposure), else by the file name's w<N>.

z step: the median plane-to-plane difference of the planes' stage z over every site, channel
and timepoint of the well (autofocus moves a site's whole stack, not its steps), else the XML's
nominal Z Projection Step Size; a stack stored top-down has a negative step, which the tile set
turns into increasing z.

Placement: the stage position is the centre of the camera field (the sites of a well have
OffsetFromWellCenterUmX/Y of plus and minus half a field, and the well centre falls on their
seam). Stage x grows with image columns and stage y with image rows: in the real exports
(../shared/realdata/imagexpress) the last column of site 1 continues into the first column of
site 2 of each SingleChannel well (correlation 0.99 against ~0 for the other order), and in
1well-3C-2S-Zmix-T, whose sites stack in y, the FITC images show the well's rim as one circle
around the seam only with site 1 (the lower stage y) on top. Positions are rounded to whole
pixels of the well's first site: the stage reports 0.1 um steps and sites are meant to abut, so
sub-pixel offsets (0.07 px in the real data) would only resample every other site. Sites share
the first site's z: their differing autofocus heights are not part of the sample's geometry.
`--flip-x`, `--flip-y`, `--swap-xy` fix an instrument that counts otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import dask.array as da
import numpy as np
import tifffile

from ngff_fuse import transforms
from ngff_fuse._axes import MICROMETER, present_dims
from ngff_fuse.errors import InputError
from ngff_fuse.model import PlateWell, Tile, TileSet, TileSource, plate_size, tile_array
from ngff_fuse.readers._bioio_mosaic import wavelength_color
from ngff_fuse.readers.base import ReadOptions, pick_wells, well_position
from ngff_fuse.readers.fields import field_corners, rounding_note
from ngff_fuse.readers.metaseries import (
    MetaSeriesPlane, PlaneName, distinct_channel_labels, open_plane, parse_name, plane_damage,
    read_metaseries,
)
from ngff_fuse.readers.pixel_size import decide_pixel_size
from ngff_fuse.readers.planes import stack_planes

_TIMEPOINT = re.compile(r"TimePoint_(\d+)", re.IGNORECASE)
_ZSTEP = re.compile(r"ZStep_(\d+)", re.IGNORECASE)
_PROJECTION_STEP = 0  # ZStep_0 holds projections where an export files them in a folder
_SEARCH_DEPTH = 3  # date / plate-id folders MetaXpress nests an export in
_SEARCH_FOLDERS = 200  # folders looked into at most when searching for exports
_STAGE_Z_RESOLUTION = 0.01  # um: the focus drive's read-back; smaller steps are no steps
PLANES, PROJECTIONS = "planes", "projections"


@dataclass(frozen=True)
class _File:
    path: Path
    name: PlaneName
    timepoint: int  # TimePoint_<t> number, 1 without such folders
    zstep: int | None  # ZStep_<z> number; None for the files beside the ZStep folders


@dataclass(frozen=True)
class _Export:
    root: Path
    plate: str | None  # only this plate's files (from the .HTD or the TIFF opened)


class ImageXpressReader:
    """Lays out a MetaXpress export by its file names; positions from each site's MetaSeries XML."""

    name = "imagexpress"
    description = "ImageXpress / MetaXpress export (folder, .HTD or one of its TIFFs)"
    priority = 10  # its TIFFs are plain TIFFs that a generic TIFF reader would also claim

    def can_open(self, path: Path) -> bool:
        if path.is_dir():
            roots = _exports_at(path)
            return bool(roots) and _claims(_sample_tiff(roots[0]))
        return _locate_file(path) is not None

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        if path.is_dir():
            roots = _exports_at(path)
            if len(roots) > 1:
                listed = ", ".join(str(r) for r in roots[:4]) + (" ..." if len(roots) > 4 else "")
                raise InputError(f"{path}: holds {len(roots)} ImageXpress exports ({listed}); "
                                 "open one of them")
            export = _Export(roots[0], None) if roots else None
        else:
            export = _locate_file(path)
        if export is None:
            raise InputError(f"{path}: not an ImageXpress export; open the plate folder, its "
                             ".HTD file or one of its TIFFs")
        return _read_export(export, options)


# ---- finding the export ------------------------------------------------------------------


def _locate_file(path: Path) -> _Export | None:
    """The export a file names: the plate's .HTD or one of its TIFFs."""
    if not path.is_file():
        return None
    if path.suffix.lower() == ".htd":
        return _Export(path.parent, path.stem)
    name = parse_name(path.name)
    if name is None or not _claims(path):
        return None
    root, _ = _export_of(path.parent)
    return _Export(root, name.plate)


def _exports_at(folder: Path) -> list[Path]:
    """The export a folder is (or is a TimePoint / ZStep folder of), else those below it."""
    root, _ = _export_of(folder)
    return [root] if _is_export(root) else _find_exports(folder)


def _export_of(folder: Path) -> tuple[Path, bool]:
    """The plate folder above a ZStep_<z> and TimePoint_<t> folder; whether it was in a ZStep."""
    in_zstep = bool(_ZSTEP.fullmatch(folder.name))
    if in_zstep:
        folder = folder.parent
    if _TIMEPOINT.fullmatch(folder.name):
        folder = folder.parent
    return folder, in_zstep


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        return []


def _is_layout_dir(entry: os.DirEntry) -> bool:
    return entry.is_dir() and bool(_TIMEPOINT.fullmatch(entry.name) or _ZSTEP.fullmatch(entry.name))


def _is_plane_file(entry: os.DirEntry) -> bool:
    name = parse_name(entry.name)
    return entry.is_file() and name is not None and not name.thumbnail


def _is_export(folder: Path) -> bool:
    return any(_is_layout_dir(e) or _is_plane_file(e) for e in _entries(folder))


def _find_exports(folder: Path) -> list[Path]:
    """Export folders at or below `folder` (MetaXpress nests them in date / plate-id folders)."""
    found, level, visited = [], [folder], 0
    for _ in range(_SEARCH_DEPTH + 1):
        below = []
        for current in level:
            visited += 1
            if visited > _SEARCH_FOLDERS:
                return found
            if _is_export(current):
                found.append(current)
            else:
                below += [Path(e.path) for e in _entries(current) if e.is_dir()]
        level = below
    return found


def _sample_tiff(root: Path) -> Path | None:
    """One plane file of an export, from its top level or its first layout folder."""
    folders = [root]
    while folders:
        entries = _entries(folders.pop(0))
        for entry in entries:
            if _is_plane_file(entry):
                return Path(entry.path)
        folders += [Path(e.path) for e in entries if _is_layout_dir(e)][:1]
    return None


def _claims(path: Path | None) -> bool:
    """A MetaSeries TIFF, or one too damaged to tell: named as MetaXpress names its planes, it
    is claimed, so reading names the damage instead of calling the export unsupported."""
    if path is None:
        return False
    try:
        with tifffile.TiffFile(path) as tif:
            return tif.pages.first.is_metaseries or plane_damage(tif) is not None
    except (tifffile.TiffFileError, OSError, ValueError, IndexError):
        return True


def _index(export: _Export) -> list[_File]:
    """Every plane file of the export (thumbnails and other plates left out)."""
    timepoints = [
        (int(_TIMEPOINT.fullmatch(e.name).group(1)), Path(e.path))
        for e in _entries(export.root) if e.is_dir() and _TIMEPOINT.fullmatch(e.name)
    ] or [(1, export.root)]
    files = []
    for timepoint, folder in timepoints:
        for entry in _entries(folder):
            if _is_plane_file(entry):
                files.append(_File(Path(entry.path), parse_name(entry.name), timepoint, None))
            elif entry.is_dir() and _ZSTEP.fullmatch(entry.name):
                zstep = int(_ZSTEP.fullmatch(entry.name).group(1))
                files += [
                    _File(Path(e.path), parse_name(e.name), timepoint, zstep)
                    for e in _entries(Path(entry.path)) if _is_plane_file(e)
                ]
    plates = sorted({f.name.plate for f in files})
    if export.plate is not None:
        files = [f for f in files if f.name.plate.lower() == export.plate.lower()]
    elif len(plates) > 1:
        raise InputError(
            f"{export.root}: holds the plates {', '.join(plates)}; open one plate's .HTD file "
            "or one of its TIFFs"
        )
    if not files:
        raise InputError(f"{export.root}: no MetaXpress image files (PLATE_WELL_s1_w1.tif) "
                         f"{'of plate ' + export.plate + ' ' if export.plate else ''}found")
    return files


# ---- which files form which image --------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """One kind of image the wells of a plate have: their planes or their projections."""

    name: str  # PLANES or PROJECTIONS
    channels: tuple[int, ...]
    timepoints: tuple[int, ...]
    zsteps: tuple[int, ...]  # the ZStep numbers along z (planes of stacks); () when 2-D
    present: frozenset[tuple[int, int, int | None]]  # (t, c, zstep) somewhere in the plate
    single_plane: frozenset[int]  # 2-D channels beside the ZStep folders of a 3-D plate


def _layout(files: list[_File]) -> tuple[dict[Path, str], list[_Kind]]:
    """Each file's kind (PLANES or PROJECTIONS) and the kinds of image the plate has.

    ZStep_0 files are projections, ZStep_1..N files planes. A file beside the ZStep folders is
    a projection when its channel has a z stack, or when its channel's first such file names
    a Z Projection Method (MetaXpress acquires a channel one way across the plate; each file
    is checked again when it is opened); else it is the single plane of a 2-D channel."""
    stacked = {f.name.channel for f in files if f.zstep not in (None, _PROJECTION_STEP)}
    beside: dict[int, _File] = {}
    for f in files:
        if f.zstep is None:
            beside.setdefault(f.name.channel, f)
    projected = stacked | {c for c, f in beside.items()
                           if c not in stacked and read_metaseries(f.path).projection}
    kinds = {}
    for f in files:
        is_projection = f.zstep == _PROJECTION_STEP or (f.zstep is None and f.name.channel in projected)
        kinds[f.path] = PROJECTIONS if is_projection else PLANES
    found = []
    for kind in (PLANES, PROJECTIONS):
        chosen = [f for f in files if kinds[f.path] == kind]
        if not chosen:
            continue
        zsteps = tuple(sorted({f.zstep for f in chosen if f.zstep is not None})) if kind == PLANES else ()
        found.append(_Kind(
            name=kind,
            channels=tuple(sorted({f.name.channel for f in chosen})),
            timepoints=tuple(sorted({f.timepoint for f in chosen})),
            zsteps=zsteps,
            present=frozenset((f.timepoint, f.name.channel, f.zstep if zsteps else None) for f in chosen),
            single_plane=frozenset(f.name.channel for f in chosen if zsteps and f.zstep is None),
        ))
    return kinds, found


def _well_order(well: str) -> tuple[int, str, int]:
    """Plate order: rows A..Z then AA..AF, columns by number (bioio-imagexpress's order).
    Imported here, not at the top: the plugin loads bioio, half a second that can_open and
    every other input should not pay."""
    from bioio_imagexpress.acquisition import well_to_row_column

    row, column = well_to_row_column(well)
    return len(row), row, column


def _image_name(plate: str, well: str, kind: str) -> str:
    return f"{plate}_{well}" + (" projection" if kind == PROJECTIONS else "")


def _pick_images(images: list[tuple[str, _Kind]], plate: str, scenes: tuple[int, ...] | None,
                 root: Path) -> list[tuple[str, _Kind]]:
    if scenes is None:
        return images
    bad = [s for s in scenes if not 0 <= s < len(images)]
    if bad:
        listed = ", ".join(f"{i}: {_image_name(plate, w, k.name)}" for i, (w, k) in enumerate(images[:12]))
        raise InputError(f"{root}: no image {bad[0]}; the export has {len(images)} image(s), "
                         f"numbered from 0 ({listed}{' ...' if len(images) > 12 else ''}); "
                         "pick with --scene")
    return [images[s] for s in scenes]


# ---- building the tile sets --------------------------------------------------------------


def _read_export(export: _Export, options: ReadOptions) -> list[TileSet]:
    files = _index(export)
    kinds_of, kinds = _layout(files)
    plate = files[0].name.plate
    by_image: dict[tuple[str, str], dict[int, dict[tuple[int, int, int | None], Path]]] = {}
    for f in files:
        kind = kinds_of[f.path]
        key = (f.timepoint, f.name.channel, None if kind == PROJECTIONS or f.zstep is None else f.zstep)
        by_image.setdefault((f.name.well, kind), {}).setdefault(f.name.site, {})[key] = f.path
    wells = sorted({f.name.well for f in files}, key=_well_order)
    images = [(well, kind) for well in wells for kind in kinds if (well, kind.name) in by_image]
    on_plate = _plate_wells(export, plate, [well for well, _ in images], [kind for _, kind in images])
    chosen = pick_wells(export.root, on_plate, options.wells)
    images, on_plate = [images[i] for i in chosen], {images[i]: on_plate[i] for i in chosen}
    return [
        replace(_well_tileset(export, plate, well, kind, by_image[(well, kind.name)], options),
                well=on_plate[(well, kind)])
        for well, kind in _pick_images(images, plate, options.scenes, export.root)
    ]


def _plate_wells(export: _Export, plate: str, wells: Sequence[str], kinds: Sequence[_Kind]) -> list[PlateWell]:
    """Each image's place on the plate; the plate's size from its .HTD (XWells, YWells), else
    the smallest standard plate that holds the wells."""
    positions = []
    for well in wells:
        at = well_position(well)
        if at is None:
            raise InputError(f"{export.root}: well {well!r} in its file names is no plate well "
                             "(like B03); rename the files as MetaXpress names them")
        positions.append(at)
    size = _htd_plate_size(export.root / f"{plate}.HTD") or plate_size(
        max(r for r, _ in positions) + 1, max(c for _, c in positions) + 1)
    return [PlateWell(plate, row, column, *size, acquisition="" if kind.name == PLANES else kind.name)
            for (row, column), kind in zip(positions, kinds)]


def _htd_plate_size(path: Path) -> tuple[int, int] | None:
    """(rows, columns) from a MetaXpress .HTD's "YWells" and "XWells" lines, if it has them."""
    try:
        text = path.read_text(encoding="latin-1")
    except OSError:
        return None
    found = dict(re.findall(r'^"([XY]Wells)",\s*(\d+)', text, flags=re.MULTILINE))
    if "XWells" in found and "YWells" in found and int(found["XWells"]) and int(found["YWells"]):
        return int(found["YWells"]), int(found["XWells"])
    return None


@dataclass(frozen=True)
class _Plane:
    """One file of a site: lazy (1, 1, 1, y, x) pixels and its MetaSeries facts."""

    path: Path
    data: da.Array
    meta: MetaSeriesPlane


@dataclass(frozen=True)
class _Site:
    number: int
    data: da.Array  # (t, c, z, y, x)
    first: _Plane  # at the first timepoint, lowest plane, first channel that has one
    channel_meta: tuple[MetaSeriesPlane, ...]  # of its first file of every channel
    steps: tuple[float, ...]  # plane-to-plane steps of stage z (um per ZStep) in its stacks
    placed: tuple[tuple[int, int], ...]  # (channel, ZStep) where its 2-D channels went


def _well_tileset(export: _Export, plate: str, well: str, kind: _Kind,
                  sites_files: dict[int, dict[tuple[int, int, int | None], Path]],
                  options: ReadOptions) -> TileSet:
    _check_sites_run_on(export, well, sorted(sites_files))
    sites = [_read_site(export, well, kind, number, sites_files[number])
             for number in sorted(sites_files)]
    first = sites[0]
    if options.pixel_size is None:
        z_step, z_note = _z_step(sites, kind)
        found = (z_step, *_site_pixel_size(sites))
    else:
        found, z_note = (None, None, None), None
    calibration = decide_pixel_size(found, options.pixel_size, has_depth=len(kind.zsteps) > 1,
                                    where=str(first.first.path), source="the MetaSeries XML")
    spacing = calibration.spacing
    pixel_size = spacing[1:]
    labels = distinct_channel_labels(first.channel_meta, kind.channels)
    z0 = first.first.meta.z_position or 0.0
    # stage position = field centre (stage y grows with image rows)
    corners, shift = field_corners([(s.first.meta.stage_y, s.first.meta.stage_x) for s in sites],
                                   [s.data.shape[3:] for s in sites], pixel_size)
    tiles = []
    for site, corner in zip(sites, corners):
        origin = (z0, *corner)
        name = f"{well} site {site.number}"
        tiles.append(Tile(
            data=tile_array(site.data, spacing, origin, name, labels),
            affine=transforms.placement(spacing, origin),
            name=name,
            source=TileSource(str(site.first.path)),
        ))
    return TileSet(
        tiles=tuple(tiles),
        spacing=spacing,
        dims=present_dims(tiles[0].data.shape),
        name=_image_name(plate, well, kind.name),
        unit=MICROMETER,
        channel_names=labels,
        channel_colors=tuple(wavelength_color(meta.wavelength) for meta in first.channel_meta),
        position_source=(
            "MetaSeries stage-position-x/y (um, field centre) in the first plane's TIFF of each "
            "site, rounded to whole pixels; stage y grows with image rows"
        ),
        notes=_notes(sites, shift, (z_note, *calibration.notes), kind, labels),
    )


def _check_sites_run_on(export: _Export, well: str, numbers: Sequence[int | None]) -> None:
    """MetaXpress numbers a well's sites 1, 2, 3, ...: a number missing in between is a site
    whose files are gone (a copy cut short), which would leave a hole in the mosaic."""
    numbered = [n for n in numbers if n is not None]
    missing = sorted(set(range(1, max(numbered, default=0) + 1)) - set(numbered))
    if missing:
        raise InputError(
            f"{export.root}: well {well} has no files of site {missing[0]} but has sites up to "
            f"{max(numbered)}; the export is incomplete, export it again"
        )


def _read_site(export: _Export, well: str, kind: _Kind, number: int,
               files: dict[tuple[int, int, int | None], Path]) -> _Site:
    """Open every file of one site: lazy (t, c, z, y, x) pixels and the facts needed. A plane
    the plate has nowhere stays empty; one it has for other sites but not this one is an
    incomplete export."""
    planes: dict[tuple[int, int, int | None], _Plane] = {}
    for t in kind.timepoints:
        for c in kind.channels:
            for z in kind.zsteps or (None,):
                key = (t, c, None if c in kind.single_plane else z)
                if key in planes or key not in kind.present:
                    continue
                path = files.get(key)
                if path is None:
                    where = "" if key[2] is None else f", z step {z}"
                    raise InputError(
                        f"{export.root}: well {well} site {number} has no "
                        f"{'plane' if kind.name == PLANES else 'projection'} of channel w{c} at "
                        f"timepoint {t}{where}; the export is incomplete, export it again"
                    )
                planes[key] = _Plane(path, *open_plane(path))
                _check_kind(planes[key], kind)
    at, placed = _plane_indices(kind, planes)
    data = stack_planes(
        {(kind.timepoints.index(t), kind.channels.index(c), z): plane for (t, c, z), plane in at.items()},
        (len(kind.timepoints), len(kind.channels), max(len(kind.zsteps), 1)),
        f"{export.root}: well {well} site {number}", "export them at one binning and bit depth",
        fill_missing=True,  # a plane the plate has nowhere stays empty (checked above)
    )
    t0 = kind.timepoints[0]
    first = next(planes[k] for k in sorted(planes, key=lambda k: (k[0] != t0, k[2] is None, k[2] or 0, k[1])))
    if first.meta.stage_x is None or first.meta.stage_y is None:
        raise InputError(f"{first.path}: no stage-position-x/y in its MetaSeries XML; give the site "
                         "positions with a tile manifest instead")
    channel_meta = tuple(
        next(planes[k].meta for k in sorted(planes, key=lambda k: (k[0], k[2] or 0)) if k[1] == c)
        for c in kind.channels
    )
    return _Site(number, data, first, channel_meta, _stack_steps(planes), placed)


def _check_kind(plane: _Plane, kind: _Kind) -> None:
    """A file beside the ZStep folders must be what its channel's first one said it was."""
    is_projection = plane.meta.projection is not None
    if kind.name == PLANES and is_projection:
        raise InputError(
            f"{plane.path}: a projection ({plane.meta.projection}) among single planes of its "
            "channel; the export mixes projections and planes in one channel, export it again"
        )


def _plane_indices(kind: _Kind, planes: dict[tuple[int, int, int | None], _Plane]
                   ) -> tuple[dict[tuple[int, int, int], da.Array], tuple[tuple[int, int], ...]]:
    """Each file's (t, c, z index), and where the single planes of 2-D channels went: at the
    plane whose stage z is nearest theirs (same timepoint), the plane of a 2-D plate at 0."""
    at, placed = {}, []
    for (t, c, z), plane in planes.items():
        if z is not None:
            at[(t, c, kind.zsteps.index(z))] = plane.data
            continue
        if not kind.zsteps:
            at[(t, c, 0)] = plane.data
            continue
        heights = {}
        for (t2, _, z2), other in planes.items():
            if t2 == t and z2 is not None and other.meta.z_position is not None:
                heights.setdefault(kind.zsteps.index(z2), other.meta.z_position)
        own = plane.meta.z_position
        index = 0 if own is None or not heights else min(heights, key=lambda i: abs(heights[i] - own))
        at[(t, c, index)] = plane.data
        placed.append((c, kind.zsteps[index]))
    return at, tuple(dict.fromkeys(placed))


def _stack_steps(planes: dict[tuple[int, int, int | None], _Plane]) -> tuple[float, ...]:
    """Stage z differences between consecutive planes of each (timepoint, channel) stack, per
    ZStep: what autofocus cannot change, as it moves a site's whole stack."""
    stacks: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for (t, c, z), plane in planes.items():
        if z is not None and plane.meta.z_position is not None:
            stacks.setdefault((t, c), []).append((z, plane.meta.z_position))
    steps = []
    for stack in stacks.values():
        stack.sort()
        steps += [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(stack, stack[1:])]
    return tuple(steps)


def _site_pixel_size(sites: Sequence[_Site]) -> tuple[float | None, float | None]:
    """(y, x) um: the MetaSeries calibration every site must share, (None, None) without."""
    first = sites[0].first
    if first.meta.pixel_size is None:
        return None, None
    for site in sites[1:]:
        size = site.first.meta.pixel_size
        if size is None or not np.allclose(size, first.meta.pixel_size, rtol=1e-6):
            raise InputError(
                f"{site.first.path}: pixel size {size} um differs from "
                f"{first.meta.pixel_size} um of {first.path}; pass --pixel-size"
            )
    return first.meta.pixel_size


def _z_step(sites: Sequence[_Site], kind: _Kind) -> tuple[float | None, str | None]:
    """The z step (um) and where it came from: the median plane-to-plane step of the planes'
    stage z (rounded to the focus drive's 0.01 um); the XML's nominal projection step; None."""
    if len(kind.zsteps) < 2:
        return None, None
    steps = [s for site in sites for s in site.steps]
    step = round(float(np.median(steps)), 2) if steps else 0.0  # the drive reads back 0.01 um
    if abs(step) >= _STAGE_Z_RESOLUTION:
        order = " (ZStep_1 is the top plane)" if step < 0 else ""
        return step, (f"z step {abs(step):g} um{order}: the median plane-to-plane step of the "
                      f"planes' stage z ({len(steps)} steps in {len(sites)} site(s))")
    nominal = next((m.projection_step for site in sites for m in site.channel_meta
                    if m.projection_step), None)
    if nominal:
        return nominal, (f"z step {nominal:g} um: the MetaSeries Z Projection Step Size (the planes' "
                         "stage z does not step)")
    return None, None


def _notes(sites: Sequence[_Site], shift: float, z_notes: Sequence[str | None], kind: _Kind,
           labels: Sequence[str]) -> tuple[str, ...]:
    notes = [note for note in z_notes if note]
    notes += rounding_note(shift, "site")
    heights = [s.first.meta.z_position for s in sites if s.first.meta.z_position is not None]
    if len(heights) > 1 and max(heights) - min(heights) > 0:
        notes.append(f"sites placed at one z; their autofocus z-positions differ by up to "
                     f"{max(heights) - min(heights):.2f} um")
    described = {c: label for c, label in zip(kind.channels, labels)}
    if kind.name == PROJECTIONS:
        methods = [f"w{c} ({described[c]}): {meta.projection or 'unnamed'}"
                   for c, meta in zip(kind.channels, sites[0].channel_meta)]
        notes.append(f"projections of z stacks, one image per well beside its planes: {'; '.join(methods)}")
    steps = max(len(kind.zsteps), 1)
    for c in kind.channels:
        have = sorted({z for (t, c2, z) in kind.present if c2 == c and z is not None})
        if c in kind.single_plane:
            where = sorted({z for site in sites for c2, z in site.placed if c2 == c})
            notes.append(f"w{c} ({described[c]}) is a single plane, put at z step "
                         f"{', '.join(map(str, where))} (nearest stage z); its other planes are empty (0)")
        elif kind.zsteps and len(have) < steps:
            notes.append(f"w{c} ({described[c]}) has planes at z step(s) {', '.join(map(str, have))} "
                         f"of {steps} only; its other planes are empty (0)")
    missing_t = [c for c in kind.channels
                 if len({t for (t, c2, _) in kind.present if c2 == c}) < len(kind.timepoints)]
    if missing_t:
        notes.append(f"channel(s) {', '.join(f'w{c}' for c in missing_t)} imaged at only some "
                     "timepoints; the others are empty (0)")
    return tuple(notes)
