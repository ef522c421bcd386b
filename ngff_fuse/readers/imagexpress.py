"""Molecular Devices ImageXpress / MetaXpress TIFF exports: each well is one mosaic of its sites.

An export (the plate folder MetaXpress writes) holds one TIFF per plane:

    [PLATE.HTD]
    [TimePoint_<t>/]                            when the plate was imaged more than once
        PLATE_<well>_s<site>_w<c><GUID>.tif     a plane (no _s for one site per well, no _w
                                                for one channel, no GUID from old MetaXpress)
        PLATE_<well>_s<site>_w<c>_thumb<GUID>.tif   a thumbnail: skipped
        [ZStep_<z>/the same names]              the planes of z stacks

Each TIFF's ImageDescription is MetaMorph "MetaSeries" XML: stage-position-x/y and z-position
(um), spatial-calibration-x/y with its units, wavelength (nm) and _IllumSetting_ (the name of the
illumination setting, used as channel name; the wavelength gives the channel colour).

Which images: with ZStep_<z> folders, the files beside them are 2-D images: the projection
MetaXpress computed from each stack (MetaSeries "Z Projection Method") and the single plane of
channels taken without z. Opening the export folder (or its .HTD, or a TIFF inside a ZStep
folder) fuses the z stacks; opening one of the 2-D TIFFs fuses the 2-D images of every channel
instead. A channel with planes in only some z steps is left out of the z stacks (noted).

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
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import tifffile

from ngff_fuse import transforms
from ngff_fuse._axes import MICROMETER, present_dims
from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet, tile_array
from ngff_fuse.readers._bioio_mosaic import wavelength_color
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.readers.metaseries import MetaSeriesPlane, PlaneName, metaseries_plane, parse_name
from ngff_fuse.readers.tiff_planes import tiff_dask_array, tiff_layout

_TIMEPOINT = re.compile(r"TimePoint_(\d+)", re.IGNORECASE)
_ZSTEP = re.compile(r"ZStep_(\d+)", re.IGNORECASE)
_SEARCH_DEPTH = 3  # date / plate-id folders MetaXpress nests an export in
_SEARCH_FOLDERS = 200  # folders looked into at most when searching for exports


def read_metaseries(path: Path) -> MetaSeriesPlane:
    """The MetaSeries facts of one TIFF; InputError when it has no MetaSeries XML."""
    return _open_plane(path)[1]


@dataclass(frozen=True)
class _File:
    path: Path
    name: PlaneName
    timepoint: int  # TimePoint_<t> number, 1 without such folders
    zstep: int | None  # ZStep_<z> number; None for the 2-D images beside the ZStep folders


@dataclass(frozen=True)
class _Export:
    root: Path
    plate: str | None  # only this plate's files (from the .HTD or the TIFF opened)
    flat: bool  # the 2-D images rather than the z stacks


class ImageXpressReader:
    """Lays out a MetaXpress export by its file names; positions from each site's MetaSeries XML."""

    name = "imagexpress"
    description = "ImageXpress / MetaXpress export (folder, .HTD or one of its TIFFs)"
    priority = 10  # its TIFFs are plain TIFFs that a generic TIFF reader would also claim

    def can_open(self, path: Path) -> bool:
        if path.is_dir():
            roots = _exports_at(path)
            return bool(roots) and _is_metaseries(_sample_tiff(roots[0]))
        return _locate_file(path) is not None

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        if path.is_dir():
            roots = _exports_at(path)
            if len(roots) > 1:
                listed = ", ".join(str(r) for r in roots[:4]) + (" ..." if len(roots) > 4 else "")
                raise InputError(f"{path}: holds {len(roots)} ImageXpress exports ({listed}); "
                                 "open one of them")
            export = _Export(roots[0], None, False) if roots else None
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
        return _Export(path.parent, path.stem, False)
    name = parse_name(path.name)
    if name is None or not _is_metaseries(path):
        return None
    root, in_zstep = _export_of(path.parent)
    return _Export(root, name.plate, flat=not in_zstep)


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


def _is_metaseries(path: Path | None) -> bool:
    if path is None:
        return False
    try:
        with tifffile.TiffFile(path) as tif:
            return tif.pages.first.is_metaseries
    except (tifffile.TiffFileError, OSError, ValueError):
        return False


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


# ---- which planes form the tiles ---------------------------------------------------------


@dataclass(frozen=True)
class _Selection:
    """The planes chosen for the mosaics and what was left out on the way."""

    plate: str
    files: list[_File]
    timepoints: list[int]
    channels: list[int]
    zsteps: list[int | None]
    notes: tuple[str, ...]


def _select(export: _Export, files: list[_File]) -> _Selection:
    stacked = [f for f in files if f.zstep is not None]
    flat = [f for f in files if f.zstep is None]
    notes: list[str] = []
    if stacked and not export.flat:
        chosen = stacked
        zsteps = sorted({f.zstep for f in stacked})
        if flat:
            notes.append("fused the z stacks of the ZStep folders; open one of the TIFFs beside "
                         "them to fuse the 2-D images (projections) of every channel instead")
        steps_of: dict[int, set[int]] = {}
        for f in stacked:
            steps_of.setdefault(f.name.channel, set()).add(f.zstep)
        only_flat = sorted({f.name.channel for f in flat} - set(steps_of))
        if only_flat:
            notes.append(f"left out channel(s) {', '.join(f'w{c}' for c in only_flat)}: "
                         "2-D only, no z stack")
        partial = sorted(c for c, steps in steps_of.items() if len(steps) < len(zsteps))
        if partial and len(partial) < len(steps_of):
            chosen = [f for f in stacked if f.name.channel not in partial]
            notes.append(f"left out channel(s) {', '.join(f'w{c}' for c in partial)}: planes in "
                         f"only some of the {len(zsteps)} z steps")
    else:
        chosen, zsteps = flat, [None]
        if stacked:
            notes.append("fused the 2-D images beside the ZStep folders; open the export folder "
                         "to fuse the z stacks instead")
    if not chosen:
        raise InputError(f"{export.root}: no image files to fuse; open the plate folder")
    return _Selection(
        plate=chosen[0].name.plate,
        files=chosen,
        timepoints=sorted({f.timepoint for f in chosen}),
        channels=sorted({f.name.channel for f in chosen}),
        zsteps=zsteps,
        notes=tuple(notes),
    )


def _well_order(well: str) -> tuple[int, str, int]:
    """Plate order: rows A..Z then AA..AF, columns by number (bioio-imagexpress's order).
    Imported here, not at the top: the plugin loads bioio, half a second that can_open and
    every other input should not pay."""
    from bioio_imagexpress.acquisition import well_to_row_column

    row, column = well_to_row_column(well)
    return len(row), row, column


def _pick_wells(wells: list[str], scenes: tuple[int, ...] | None, root: Path) -> list[str]:
    if scenes is None:
        return wells
    bad = [s for s in scenes if not 0 <= s < len(wells)]
    if bad:
        listed = ", ".join(f"{i}: {w}" for i, w in enumerate(wells[:12]))
        raise InputError(f"{root}: no well {bad[0]}; the export has {len(wells)} well(s), "
                         f"numbered from 0 ({listed}{' ...' if len(wells) > 12 else ''})")
    return [wells[s] for s in scenes]


# ---- building the tile sets --------------------------------------------------------------


def _read_export(export: _Export, options: ReadOptions) -> list[TileSet]:
    files = _index(export)
    selection = _select(export, files)
    wells = sorted({f.name.well for f in selection.files}, key=_well_order)
    by_site: dict[tuple[str, int], dict[tuple[int, int, int | None], Path]] = {}
    for f in selection.files:
        key = (f.timepoint, f.name.channel, f.zstep)
        by_site.setdefault((f.name.well, f.name.site), {})[key] = f.path
    flat_files = {(f.name.well, f.name.site, f.name.channel, f.timepoint): f.path
                  for f in files if f.zstep is None}
    return [
        _well_tileset(export, selection, well, by_site, flat_files, options)
        for well in _pick_wells(wells, options.scenes, export.root)
    ]


@dataclass(frozen=True)
class _Site:
    number: int
    data: da.Array  # (t, c, z, y, x)
    first: Path  # the file of its first plane
    meta: MetaSeriesPlane  # of its first plane
    channel_meta: tuple[MetaSeriesPlane, ...]  # of its first plane of every channel
    z_positions: tuple[float | None, ...]  # of its first channel's planes at the first timepoint


def _well_tileset(export: _Export, selection: _Selection, well: str, by_site, flat_files,
                  options: ReadOptions) -> TileSet:
    site_numbers = sorted(site for w, site in by_site if w == well)
    sites = [_read_site(export, selection, well, s, by_site[(well, s)]) for s in site_numbers]
    first = sites[0]
    pixel_size = _pixel_size(sites, options)
    z_step, z_note = _z_step(selection, first, flat_files.get(
        (well, first.number, selection.channels[0], selection.timepoints[0])), options)
    spacing = (z_step, *pixel_size)
    names = tuple(_channel_name(meta, c) for meta, c in zip(first.channel_meta, selection.channels))
    tiles, shifts = [], []
    z0 = first.meta.z_position or 0.0
    anchor = None
    for site in sites:
        ny, nx = site.data.shape[3:]
        # Stage position = field centre; the first pixel's centre is (n - 1) / 2 pixels before.
        centre = np.array([site.meta.stage_y, site.meta.stage_x])
        corner = centre - (np.array([ny, nx]) - 1) / 2 * np.array(pixel_size)
        anchor = corner if anchor is None else anchor
        steps = (corner - anchor) / np.array(pixel_size)
        shifts.append(float(np.max(np.abs(steps - np.round(steps)))))
        origin = (z0, *(anchor + np.round(steps) * np.array(pixel_size)))
        name = f"{well} site {site.number}"
        tiles.append(Tile(
            data=tile_array(site.data, spacing, origin, name, names),
            affine=transforms.placement(spacing, origin),
            name=name,
            source=str(site.first),
        ))
    return TileSet(
        tiles=tuple(tiles),
        spacing=spacing,
        dims=present_dims(tiles[0].data.shape),
        name=f"{selection.plate}_{well}",
        unit=MICROMETER,
        channel_names=names,
        channel_colors=tuple(wavelength_color(meta.wavelength) for meta in first.channel_meta),
        position_source=(
            "MetaSeries stage-position-x/y (um, field centre) in the first plane's TIFF of each "
            "site, rounded to whole pixels; stage y grows with image rows"
        ),
        notes=selection.notes + _placement_notes(sites, shifts, z_note, selection),
    )


def _read_site(export: _Export, selection: _Selection, well: str, number: int,
               planes: dict[tuple[int, int, int | None], Path]) -> _Site:
    """Open every plane file of one site: lazy pixels and the MetaSeries facts needed."""
    arrays, metas = {}, {}
    for t in selection.timepoints:
        for c in selection.channels:
            for z in selection.zsteps:
                path = planes.get((t, c, z))
                if path is None:
                    where = "" if z is None else f", z step {z}"
                    raise InputError(
                        f"{export.root}: well {well} site {number} has no plane of channel w{c} "
                        f"at timepoint {t}{where}; the export is incomplete, export it again"
                    )
                arrays[(t, c, z)], metas[(t, c, z)] = _open_plane(path)
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) > 1:
        raise InputError(f"{export.root}: the planes of well {well} site {number} differ in size "
                         f"({sorted(s[3:] for s in shapes)}); export them at one binning")
    t0, c0, z0 = selection.timepoints[0], selection.channels[0], selection.zsteps[0]
    data = da.concatenate([
        da.concatenate([
            da.concatenate([arrays[(t, c, z)] for z in selection.zsteps], axis=2)
            for c in selection.channels
        ], axis=1)
        for t in selection.timepoints
    ], axis=0)
    meta = metas[(t0, c0, z0)]
    first = planes[(t0, c0, z0)]
    if meta.stage_x is None or meta.stage_y is None:
        raise InputError(f"{first}: no stage-position-x/y in its MetaSeries XML; give the site "
                         "positions with a tile manifest instead")
    return _Site(
        number=number,
        data=data,
        first=first,
        meta=meta,
        channel_meta=tuple(metas[(t0, c, z0)] for c in selection.channels),
        z_positions=tuple(metas[(t0, c0, z)].z_position for z in selection.zsteps),
    )


def _open_plane(path: Path) -> tuple[da.Array, MetaSeriesPlane]:
    """A plane file's lazy (1, 1, 1, y, x) pixels and its MetaSeries facts, opening it once."""
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            layout = tiff_layout(tif, 0, (1, 1, 1, *page.shape)) if page.ndim == 2 else None
            meta = tif.metaseries_metadata if page.is_metaseries else None
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as a TIFF ({exc}); check that the file is "
                         "complete") from None
    if meta is None:
        raise InputError(f"{path}: no MetaSeries XML in its ImageDescription, so no stage "
                         "position; give the positions with a tile manifest instead")
    if layout is None:
        raise InputError(f"{path}: not one grayscale plane, as MetaXpress writes; export the "
                         "plate again without colour composites")
    return tiff_dask_array(layout), metaseries_plane(meta)


def _pixel_size(sites: Sequence[_Site], options: ReadOptions) -> tuple[float, float]:
    """(y, x) um: the user's, else the MetaSeries calibration every site must share."""
    if options.pixel_size is not None:
        return options.pixel_size[1], options.pixel_size[2]
    first = sites[0]
    if first.meta.pixel_size is None:
        raise InputError(f"{first.first}: no spatial calibration in its MetaSeries XML, so stage "
                         "positions cannot be turned into pixels; pass --pixel-size")
    for site in sites[1:]:
        if site.meta.pixel_size is None or not np.allclose(site.meta.pixel_size,
                                                           first.meta.pixel_size, rtol=1e-6):
            raise InputError(
                f"{site.first}: pixel size {site.meta.pixel_size} um differs from "
                f"{first.meta.pixel_size} um of {first.first}; pass --pixel-size"
            )
    return first.meta.pixel_size


def _z_step(selection: _Selection, first: _Site, flat_file: Path | None,
            options: ReadOptions) -> tuple[float, str | None]:
    """The z step (um) and where it came from: the user, the projection's nominal step, else
    the measured z-position steps of the first site (the focus drive's read-back, less exact)."""
    if options.pixel_size is not None:
        return options.pixel_size[0], None
    if len(selection.zsteps) < 2:
        return 1.0, None
    if flat_file is not None:
        nominal = read_metaseries(flat_file).projection_step
        if nominal:
            return nominal, f"z step {nominal:g} um: the Z Projection Step Size of {flat_file.name}"
    z = first.z_positions
    if all(v is not None for v in z):
        step = float(np.median(np.diff(z)))
        if step > 0:
            return round(step, 3), (f"z step {round(step, 3):g} um: the median step of the "
                                    f"z-position of {first.first.name}'s planes")
    return 1.0, "no z step in the MetaSeries XML: assumed 1 micrometer; pass --pixel-size to set it"


def _placement_notes(sites: Sequence[_Site], shifts: Sequence[float], z_note: str | None,
                     selection: _Selection) -> tuple[str, ...]:
    notes = []
    if z_note:
        notes.append(z_note)
    if max(shifts) >= 0.005:
        notes.append(f"site positions rounded to whole pixels (at most {max(shifts):.2f} px)")
    heights = [s.meta.z_position for s in sites if s.meta.z_position is not None]
    if len(heights) > 1 and max(heights) - min(heights) > 0:
        notes.append(f"sites placed at one z; their autofocus z-positions differ by up to "
                     f"{max(heights) - min(heights):.2f} um")
    projected = [
        f"w{c} ({meta.illumination or 'unnamed'}) is a {meta.projection} projection"
        for c, meta in zip(selection.channels, sites[0].channel_meta) if meta.projection
    ]
    if projected and selection.zsteps == [None]:
        notes.append(f"2-D images computed from z stacks: {'; '.join(projected)}")
    return tuple(notes)


def _channel_name(meta: MetaSeriesPlane, channel: int) -> str:
    """The illumination setting's name, else the wavelength, else the file name's w<N>."""
    if meta.illumination:
        return meta.illumination
    return f"{meta.wavelength:g} nm" if meta.wavelength else f"w{channel}"
