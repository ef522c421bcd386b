"""Write synthetic acquisitions as a Yokogawa CellVoyager measurement, laid out like the real ones.

One TIFF per plane named <plate>_<well>_T<t>F<field>L01A<action>Z<z>C<ch>.tif, a
MeasurementData.mlf with one record per image (X/Y the field centre with Y up the plate, in
0.1 um steps; Z the plane's stage height), a MeasurementDetail.mrf with the channels' pixel size
and image size, and a measurement setting (.mes) with their labels and colours. Each channel is
its own action, as the instrument's default setting acquires them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import tifffile

from ngff_fuse.readers.cellvoyager import MEASUREMENT_DATA, MEASUREMENT_DETAIL
from ngff_fuse.testing import SyntheticMosaic

_BTS = 'xmlns:bts="http://www.yokogawa.co.jp/BTS/BTSSchema/1.0"'
#: (Target laser nm, Acquisition filter, Color #AARRGGBB) of channels 1, 2, ...
CHANNELS = (("405", "BP445/45", "#FF002FFF"), ("488", "BP525/50", "#FF00FFA1"),
            ("561", "BP600/37", "#FFFF8200"), ("640", "BP676/29", "#FFFF1B00"))


def stage_xy(mosaic: SyntheticMosaic, tile: int) -> tuple[float, float]:
    """The (X, Y) a CellVoyager records for a tile: its field centre, Y pointing up."""
    data = mosaic.tiles[tile].data
    _, y0, x0 = mosaic.tiles[tile].position
    sy, sx = mosaic.spacing[1:]
    return (round(x0 + (data.shape[4] - 1) / 2 * sx, 1), round(-(y0 + (data.shape[3] - 1) / 2 * sy), 1))


def write_cellvoyager(
    wells: Mapping[str, SyntheticMosaic],
    folder: Path,
    plate: str = "Plate",
    top_down: bool = False,
    failed: Sequence[tuple[str, int, int, int, int]] = (),
    setting: bool = True,
    pixel_sizes: Sequence[float] | None = None,
) -> Path:
    """Write each well's mosaic as its fields; returns the measurement folder.

    `top_down`: ZIndex 1 is the top plane (stage Z falls with ZIndex). `failed` lists images
    recorded as errors, (well, field, t, ch, z) 1-based, written as ERR records without a file.
    `setting`: write the .mes. `pixel_sizes`: the .mrf's per channel (default: the mosaic's).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    first = next(iter(wells.values()))
    channels = first.truth.shape[1]
    for well, mosaic in wells.items():
        row, column = ord(well[0]) - 64, int(well[1:])
        t_count, c_count, z_count = mosaic.truth.shape[:3]
        step = mosaic.spacing[0]
        for index, tile in enumerate(mosaic.tiles):
            x, y = stage_xy(mosaic, index)
            for t in range(t_count):
                for c in range(c_count):
                    for z in range(z_count):
                        zi = z_count - 1 - z if top_down else z
                        height = round(tile.position[0] + zi * step, 2)
                        key = (well, index + 1, t + 1, c + 1, z + 1)
                        attrs = (f'bts:Type="{"ERR" if key in failed else "IMG"}" bts:Column="{column}" '
                                 f'bts:Row="{row}" bts:TimePoint="{t + 1}" bts:FieldIndex="{index + 1}" '
                                 f'bts:ZIndex="{z + 1}" bts:TimelineIndex="1" bts:ActionIndex="{c + 1}" '
                                 f'bts:Action="3D" bts:X="{x}" bts:Y="{y}" bts:Z="{height}" bts:Ch="{c + 1}"')
                        if key in failed:
                            records.append(f"<bts:MeasurementRecord {attrs} />")
                            continue
                        name = (f"{plate}_{well}_T{t + 1:04d}F{index + 1:03d}L01A{c + 1:02d}"
                                f"Z{z + 1:02d}C{c + 1:02d}.tif")
                        tifffile.imwrite(folder / name, tile.data[t, c, zi], compression="zlib")
                        records.append(f"<bts:MeasurementRecord {attrs}>{name}</bts:MeasurementRecord>")
    (folder / MEASUREMENT_DATA).write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<bts:MeasurementData bts:Version="1.0" {_BTS}>\n'
        + "\n".join(records) + "\n</bts:MeasurementData>\n", encoding="utf-8")
    ny, nx = first.tiles[0].data.shape[3:]
    sizes = pixel_sizes or [first.spacing[2]] * channels
    described = "\n".join(
        f'  <bts:MeasurementChannel bts:Ch="{c + 1}" bts:HorizontalPixelDimension="{sizes[c]}" '
        f'bts:VerticalPixelDimension="{sizes[c]}" bts:HorizontalPixels="{nx}" bts:VerticalPixels="{ny}" />'
        for c in range(channels))
    (folder / MEASUREMENT_DETAIL).write_text(
        f'\ufeff<?xml version="1.0" encoding="utf-8"?>\n<bts:MeasurementDetail bts:Version="1.0" '
        f'bts:Title="{plate}" bts:MeasurementSettingFileName="setting.mes" bts:ColumnCount="12" '
        f'bts:RowCount="8" {_BTS}>\n  <bts:MeasurementSamplePlate bts:Name="{plate}" />\n'
        f"{described}\n</bts:MeasurementDetail>\n", encoding="utf-8")
    if setting:
        listed = "\n".join(
            f'    <bts:Channel bts:Ch="{c + 1}" bts:Target="{target}" bts:Acquisition="{band}" '
            f'bts:Color="{color}" bts:Fluorophore="" />'
            for c, (target, band, color) in zip(range(channels), CHANNELS * 4))
        (folder / "setting.mes").write_text(
            f'<?xml version="1.0" encoding="utf-8"?>\n<bts:MeasurementSetting {_BTS}>\n'
            f"  <bts:ChannelList>\n{listed}\n  </bts:ChannelList>\n</bts:MeasurementSetting>\n",
            encoding="utf-8")
    return folder


def channel_labels(channels: int) -> tuple[str, ...]:
    """The labels the reader gives channels written with a setting: laser and filter."""
    return tuple(f"{target} nm {band}" for (target, band, _), _ in zip(CHANNELS * 4, range(channels)))

