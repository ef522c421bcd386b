"""Write synthetic acquisitions as a MetaXpress plate export, laid out like the real ones.

One TIFF per plane with MetaSeries XML in its ImageDescription, deflate-compressed as MetaXpress
writes them; each mosaic is one well and each of its tiles one site. Stage positions are the
field centres, rounded to 0.1 um like a real stage's; stage y grows with image rows. Each
site's stack starts at its own autofocus height; its planes step from there, read back by the
focus drive to 0.01 um.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import tifffile

from ngff_fuse.testing import SyntheticMosaic

#: MetaSeries "wavelength" (nm) and "_IllumSetting_" written for channels w1, w2, ...
WAVELENGTHS = (536.0, 593.0, 624.0, 452.0)
#: How a channel was acquired: every plane of the stack (and its projection), the projection
#: only, or a single plane (the stack's first).
STACK, PROJECTION_ONLY, SINGLE_PLANE = "stack", "projection", "plane"
#: Where projections go: beside the ZStep folders (MetaXpress' own export), in ZStep_0.
BESIDE, ZSTEP0 = "beside", "zstep0"
_THUMB_SHAPE = (16, 20)


def stage_centre(mosaic: SyntheticMosaic, tile: int) -> tuple[float, float]:
    """The (y, x) stage position MetaXpress would record for a tile: its field centre, in um."""
    data = mosaic.tiles[tile].data
    _, y0, x0 = mosaic.tiles[tile].position
    sy, sx = mosaic.spacing[1:]
    return (
        round(y0 + (data.shape[3] - 1) / 2 * sy, 1),
        round(x0 + (data.shape[4] - 1) / 2 * sx, 1),
    )


def write_imagexpress(
    wells: Mapping[str, SyntheticMosaic],
    folder: Path,
    plate: str = "Plate",
    guid: bool = True,
    projection: bool | str = True,
    htd: bool = False,
    channel_kinds: Sequence[str] | None = None,
    illumination: Sequence[str] | None = None,
    wavelengths: Sequence[float] | None = None,
    autofocus: float = 0.0,
    top_down: bool = False,
    seed: int = 0,
) -> Path:
    """Write each well's mosaic as its sites; returns the export folder.

    Timepoints go to TimePoint_<t> folders when there are several, z planes to ZStep_1..N
    folders (ZStep_1 the top plane with `top_down`) and their maximum projections beside them
    (`projection` True or BESIDE), into ZStep_0 (ZSTEP0), or nowhere (False). `channel_kinds`
    says per channel how it was acquired (STACK, PROJECTION_ONLY, SINGLE_PLANE; a single
    plane goes into ZStep_1 when other channels have stacks); a 2-D mosaic writes planes
    beside, PROJECTION_ONLY channels marked as projections. `illumination` names the channels
    (default: the mosaic's), `wavelengths` gives theirs (default: WAVELENGTHS); `autofocus`
    moves each site's stack by up to that many um. Every site also gets a `_thumb` file that
    the reader must skip; `htd` adds PLATE.HTD.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    where_projections = BESIDE if projection is True else projection
    rng = np.random.default_rng(seed)
    if htd:
        header = f'"HTSInfoFile", Version 1.0\n"Description", "{plate}"\n'
        (folder / f"{plate}.HTD").write_text(header)
    for well, mosaic in wells.items():
        t, c, z = mosaic.truth.shape[:3]
        kinds = list(channel_kinds or [STACK] * c)
        names = list(illumination or mosaic.channel_names)
        nm = list(wavelengths or [WAVELENGTHS[i % len(WAVELENGTHS)] for i in range(c)])
        stacks = z > 1 and STACK in kinds
        step = mosaic.spacing[0]
        for index, tile in enumerate(mosaic.tiles):
            centre = stage_centre(mosaic, index)
            focus = tile.position[0] + rng.uniform(-autofocus, autofocus)
            for ti in range(t):
                where = folder / f"TimePoint_{ti + 1}" if t > 1 else folder
                for ci, kind in enumerate(kinds):
                    stem = f"{plate}_{well}_s{index + 1}" + (f"_w{ci + 1}" if c > 1 else "")
                    base = dict(mosaic=mosaic, well=well, site=index + 1, centre=centre,
                                name=names[ci], wavelength=nm[ci])
                    planes = tile.data[ti, ci]
                    if z == 1:
                        _write_plane(where / _name(stem, guid), planes[0], z_position=focus,
                                     projected=step if kind == PROJECTION_ONLY else None, **base)
                        continue
                    order = list(range(z))[::-1] if top_down else list(range(z))
                    if kind == STACK:
                        for k, zi in enumerate(order, start=1):
                            _write_plane(where / f"ZStep_{k}" / _name(stem, guid), planes[zi],
                                         z_position=focus + zi * step, **base)
                    elif kind == SINGLE_PLANE:
                        target = where / "ZStep_1" if stacks else where
                        _write_plane(target / _name(stem, guid), planes[order[0]],
                                     z_position=focus + order[0] * step, **base)
                    if kind != SINGLE_PLANE and (where_projections or kind == PROJECTION_ONLY):
                        target = where / "ZStep_0" if where_projections == ZSTEP0 else where
                        _write_plane(target / _name(stem, guid), planes.max(axis=0),
                                     z_position=focus + (z - 1) / 2 * step, projected=step, **base)
                _write_plane(where / _name(f"{plate}_{well}_s{index + 1}_thumb", guid),
                             tile.data[ti, 0, 0, :_THUMB_SHAPE[0], :_THUMB_SHAPE[1]],
                             z_position=focus, thumbnail=True,
                             **{**base, "name": names[0], "wavelength": nm[0]})
    return folder


def _name(stem: str, guid: bool) -> str:
    return stem + (str(uuid.uuid4()).upper() if guid else "") + ".tif"


def _write_plane(path: Path, plane: np.ndarray, mosaic: SyntheticMosaic, well: str, site: int,
                 centre: tuple[float, float], z_position: float, name: str, wavelength: float,
                 projected: float | None = None, thumbnail: bool = False) -> None:
    sy, sx = mosaic.spacing[1:]
    if thumbnail:  # MetaXpress thumbnails are shrunk: another calibration, another size
        sy, sx = sy * 8, sx * 8
    props: list[tuple[str, str, object]] = [
        ("pixel-size-x", "int", plane.shape[1]),
        ("pixel-size-y", "int", plane.shape[0]),
        ("spatial-calibration-state", "bool", "on"),
        ("spatial-calibration-x", "float", sx),
        ("spatial-calibration-y", "float", sy),
        ("spatial-calibration-units", "string", "um"),
        ("stage-position-x", "float", centre[1]),
        ("stage-position-y", "float", centre[0]),
        ("stage-label", "string", f"{well} : Site {site}"),
        ("z-position", "float", round(z_position, 2)),
        ("wavelength", "float", wavelength),
        ("_IllumSetting_", "string", name),
    ]
    custom: list[tuple[str, str, object]] = [("Exposure Time", "string", "15 ms")]
    if projected is not None:
        custom += [("Z Projection Method", "string", "Maximum"),
                   ("Z Projection Step Size", "float", projected)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(
        path, plane, photometric="minisblack", compression="zlib", software="MetaSeries",
        description=_metaseries_xml(props, custom), metadata=None,
    )


def _metaseries_xml(props: Sequence[tuple[str, str, object]],
                    custom: Sequence[tuple[str, str, object]]) -> str:
    def line(tag: str, key: str, kind: str, value: object) -> str:
        return f"<{tag} id={quoteattr(key)} type={quoteattr(kind)} value={quoteattr(str(value))}/>"

    return "\n".join([
        "<MetaData>",
        line("prop", "Description", "string", "synthetic MetaXpress plane"),
        line("prop", "ApplicationName", "string", "MetaMorph"),
        "<PlaneInfo>",
        *(line("prop", *p) for p in props),
        *(line("custom-prop", *p) for p in custom),
        "</PlaneInfo>",
        "<SetInfo>",
        line("prop", "number-of-planes", "int", 1),
        "</SetInfo>",
        "</MetaData>",
    ])
