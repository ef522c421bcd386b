"""Write synthetic acquisitions as a MetaXpress plate export, laid out like the real ones.

One TIFF per plane with MetaSeries XML in its ImageDescription, deflate-compressed as MetaXpress
writes them; each mosaic is one well and each of its tiles one site. Stage positions are the
field centres, rounded to 0.1 um like a real stage's; stage y grows with image rows.
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
    projection: bool = True,
    htd: bool = False,
) -> Path:
    """Write each well's mosaic as its sites; returns the export folder.

    Timepoints go to TimePoint_<t> folders when there are several, z planes to ZStep_<z>
    folders with the maximum projection beside them (unless `projection` is off). Every site
    also gets a `_thumb` file that the reader must skip; `htd` adds PLATE.HTD.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if htd:
        header = f'"HTSInfoFile", Version 1.0\n"Description", "{plate}"\n'
        (folder / f"{plate}.HTD").write_text(header)
    for well, mosaic in wells.items():
        t, c, z = mosaic.truth.shape[:3]
        for index, tile in enumerate(mosaic.tiles):
            centre = stage_centre(mosaic, index)
            for ti in range(t):
                where = folder / f"TimePoint_{ti + 1}" if t > 1 else folder
                for ci in range(c):
                    stem = f"{plate}_{well}_s{index + 1}" + (f"_w{ci + 1}" if c > 1 else "")
                    base = dict(mosaic=mosaic, well=well, site=index + 1, channel=ci, centre=centre)
                    planes = tile.data[ti, ci]
                    z0 = tile.position[0]
                    if z == 1:
                        _write_plane(where / _name(stem, guid), planes[0], z_position=z0, **base)
                        continue
                    for zi in range(z):
                        _write_plane(where / f"ZStep_{zi + 1}" / _name(stem, guid), planes[zi],
                                     z_position=z0 + zi * mosaic.spacing[0], **base)
                    if projection:
                        _write_plane(where / _name(stem, guid), planes.max(axis=0),
                                     z_position=z0 + (z - 1) / 2 * mosaic.spacing[0],
                                     projected=mosaic.spacing[0], **base)
                _write_plane(where / _name(f"{plate}_{well}_s{index + 1}_thumb", guid),
                             tile.data[ti, 0, 0, :_THUMB_SHAPE[0], :_THUMB_SHAPE[1]],
                             z_position=tile.position[0], thumbnail=True, **{**base, "channel": 0})
    return folder


def _name(stem: str, guid: bool) -> str:
    return stem + (str(uuid.uuid4()).upper() if guid else "") + ".tif"


def _write_plane(path: Path, plane: np.ndarray, mosaic: SyntheticMosaic, well: str, site: int,
                 channel: int, centre: tuple[float, float], z_position: float,
                 projected: float | None = None, thumbnail: bool = False) -> None:
    sy, sx = mosaic.spacing[1:]
    if thumbnail:  # MetaXpress thumbnails are shrunk: another calibration, another size
        sy, sx = sy * 8, sx * 8
    wavelength = WAVELENGTHS[channel % len(WAVELENGTHS)]
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
        ("_IllumSetting_", "string", mosaic.channel_names[channel]),
    ]
    custom: list[tuple[str, str, object]] = []
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
