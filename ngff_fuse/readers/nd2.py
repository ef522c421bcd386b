"""Nikon ND2 multi-point acquisitions: every XY position (a scene in bioio-nd2) is one tile,
and all positions of the file make one mosaic.

Where a tile goes. The nd2 SDK states the pixel -> stage relation of every frame,

    stage(x_px, y_px) = A @ (x_px, y_px) + t + stagePositionUm,

A and t being pixelToStageTransformationMatrix (2 x 3), with t = -A @ (w / 2, h / 2): the stage
position is that of the centre pixel. A also says how the stage's axes lie against the
camera's; NIS stages often count x or y the other way, or swap them. Positions are taken into
the camera's orientation, u = P^T stage, P being the signed permutation nearest to A (P^T A is
then diagonal, the pixel size), so tiles keep the image's orientation and sit where NIS
puts them; a camera rotation of more than 0.5 degrees is noted, not applied. Without the matrix
(older files) stage and camera axes are assumed to agree, the stage position still being the
centre pixel's.

Stage positions are each position's recorded ones, from its first frame's metadata, else the
XYPosLoop's planned points. Positions may lie at different heights: a z-stack starts at its
lowest plane (stacks taken top to bottom, ZStackLoop bottomToTop false, are turned lazily to
run upwards); single planes all sit at z = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.model import TileSet
from ngff_fuse.readers._bioio_mosaic import (
    Placement, TileFacts, bioio_tiles, first_pixel, mosaic_tileset, pick_scenes, plugin,
    stack_z, wavelength_color,
)
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.readers.image_file import open_bioimage
from ngff_fuse.readers.pixel_size import decide_pixel_size
from ngff_fuse.readers.samples import channel_labels

_ROTATION_NOTE = 0.5  # degrees of camera rotation worth telling the user about


@dataclass(frozen=True)
class Nd2Facts:
    """What an ND2 file says about its positions and channels (see `nd2_facts`)."""

    stage: np.ndarray  # (n, 3) stage x, y, z (um) of each position's first plane; nan: unknown
    z_rising: bool  # the z-stacks run upwards, plane 0 lowest (ZStackLoop bottomToTop)
    pixel_to_stage: tuple[float, ...] | None  # the SDK's 2 x 3 matrix, row-major
    calibrated: bool  # the pixel size is a calibration, not the SDK's default of 1
    channels: tuple[tuple[str | None, str | None], ...]  # (name, display colour "RRGGBB")


def nd2_facts(f, count: int) -> Nd2Facts:
    """Gather the facts from an open nd2.ND2File (or anything with its attributes)."""
    stage = np.full((count, 3), np.nan)
    for p, seq in _first_frames(f.loop_indices, count).items():
        stage[p] = _frame_position(f, seq)
    loops = {getattr(loop, "type", None): loop for loop in f.experiment or ()}
    if "XYPosLoop" in loops:
        planned = [tuple(pt.stagePositionUm) for pt in loops["XYPosLoop"].parameters.points]
        for p in range(min(count, len(planned))):
            if not np.all(np.isfinite(stage[p, :2])):
                stage[p] = planned[p]
    rising = bool(getattr(getattr(loops.get("ZStackLoop"), "parameters", None), "bottomToTop", True))
    described = getattr(f.metadata, "channels", None) or []  # legacy files: no such list
    channels = []
    for channel in described:
        meta, color = channel.channel, channel.channel.color
        hex_color = f"{color.r:02X}{color.g:02X}{color.b:02X}" if color and any(color[:3]) else None
        channels.append((meta.name or None, hex_color or wavelength_color(meta.emissionLambdaNm)))
    volume = described[0].volume if described else None
    matrix = volume.pixelToStageTransformationMatrix if volume else None
    calibrated = all(volume.axesCalibrated[:2]) if volume else True
    return Nd2Facts(stage, rising, None if matrix is None else tuple(matrix), calibrated, tuple(channels))


def _first_frames(loop_indices: Sequence[dict[str, int]], count: int) -> dict[int, int]:
    """Position -> number of its first frame (every other loop at index 0)."""
    found = {}
    for seq, index in enumerate(loop_indices):
        p = index.get("P", 0)
        if p < count and not any(v for k, v in index.items() if k not in ("P", "C")):
            found.setdefault(p, seq)
    return found


def _frame_position(f, seq: int) -> tuple[float, float, float]:
    try:
        position = f.frame_metadata(seq).channels[0].position.stagePositionUm
        return float(position.x), float(position.y), float(position.z)
    except (AttributeError, IndexError, TypeError):  # legacy files: a plain dict, no positions
        return (math.nan,) * 3


def nearest_orientation(matrix: Sequence[float]) -> tuple[np.ndarray, float]:
    """(P, angle): the signed permutation P nearest to the matrix's 2 x 2 part A (pixel x, y
    -> stage x, y), and how many degrees A turns beyond it."""
    a = np.array([[matrix[0], matrix[1]], [matrix[3], matrix[4]]], dtype=float)
    rows = np.argmax(np.abs(a), axis=0)
    if rows[0] == rows[1]:  # 45 degrees: no axis is nearer, keep the identity
        rows = np.array([0, 1])
    p = np.zeros((2, 2))
    angles = []
    for col, row in enumerate(rows):
        p[row, col] = np.sign(a[row, col]) or 1.0
        angles.append(math.degrees(math.atan2(abs(a[1 - row, col]), abs(a[row, col]))))
    return p, max(angles)


def place_positions(
    facts: Nd2Facts, shape: tuple[int, int, int], spacing: tuple[float, float, float], where: str
) -> tuple[Placement, bool]:
    """First-pixel positions (um) of the positions' tiles, and whether the stacks run
    downwards (their z axis is then reversed, so plane 0 is the lowest)."""
    stage = facts.stage
    unknown = [p for p in range(len(stage)) if not np.all(np.isfinite(stage[p, :2]))]
    if unknown:
        raise InputError(
            f"{where}: position {unknown[0]} has no stage position in the file, so where its "
            "tile goes is unknown"
        )
    depth, height, width = shape
    origins = np.zeros((len(stage), 3))
    notes = []
    if facts.pixel_to_stage is None:
        origins[:, 2] = first_pixel(stage[:, 0], width, spacing[2])
        origins[:, 1] = first_pixel(stage[:, 1], height, spacing[1])
        source = ("ND2 stage positions (each tile's centre pixel; no pixel-to-stage matrix, "
                  "stage axes taken to follow the camera's)")
    else:
        p, angle = nearest_orientation(facts.pixel_to_stage)
        corner = stage[:, :2] + np.array([facts.pixel_to_stage[2], facts.pixel_to_stage[5]])
        camera = corner @ p  # rows: P^T applied to each stage point
        origins[:, 2], origins[:, 1] = camera[:, 0], camera[:, 1]
        source = "ND2 stage positions through the pixel-to-stage matrix"
        if not np.allclose(p, np.eye(2)):
            source += f" (camera x = {_axis(p[:, 0])}, camera y = {_axis(p[:, 1])})"
        if angle > _ROTATION_NOTE:
            notes.append(f"the camera is turned {angle:.1f} degrees against the stage; "
                         "tiles are placed without that rotation")
    turned = depth > 1 and not facts.z_rising
    z, known = stack_z(stage[:, 2] - (depth - 1) * spacing[0] * turned, depth)
    origins[:, 0] = z
    if not known:
        notes.append("z of some positions unknown: every z-stack starts at z = 0")
    elif depth > 1:
        source += "; z from each stack's lowest plane"
    if turned:
        notes.append("the z-stacks were taken top to bottom: their planes are read in reverse")
    return Placement(origins, source, tuple(notes)), turned


def _axis(column: np.ndarray) -> str:
    """'stage x', '-stage y': which stage axis a camera axis follows."""
    row = int(np.argmax(np.abs(column)))
    return ("-" if column[row] < 0 else "") + ("stage x", "stage y")[row]


class Nd2Reader:
    """Nikon ND2 files: all XY positions as the tiles of one mosaic."""

    name = "nd2"
    description = "Nikon ND2 (multi-point positions as one mosaic)"

    def can_open(self, path: Path) -> bool:
        return path.is_file() and path.suffix.lower() == ".nd2"

    def read(self, path: Path, options: ReadOptions) -> list[TileSet]:
        bioio_nd2 = plugin(path, "bioio_nd2", "ND2", "bioio-nd2", "nd2")
        nd2 = plugin(path, "nd2", "ND2", "bioio-nd2", "nd2")
        reader = open_bioimage(path, bioio_nd2.Reader).reader
        positions = list(reader.scenes)
        pick_scenes(path, [f"all {len(positions)} positions as one mosaic"], options.scenes)
        with nd2.ND2File(path) as f:
            facts = nd2_facts(f, len(positions))
        return [mosaic_from_positions(path, reader, positions, facts, options)]


def mosaic_from_positions(
    path: Path, reader, positions: Sequence[str], facts: Nd2Facts, options: ReadOptions
) -> TileSet:
    """One TileSet whose tiles are the positions (`reader`: a bioio-nd2 Reader)."""
    arrays, samples = [], 1
    for p in range(len(positions)):
        reader.set_scene(p)
        data = reader.xarray_dask_data  # lazy; nd2 reads frames only when computed
        try:
            (array,), samples = bioio_tiles(data.data, [str(d) for d in data.dims])
        except ValueError as exc:
            raise InputError(f"{path}: position {p} has {exc}; ngff-fuse reads tiles of t, c, z, y, x") from None
        arrays.append(array)
    shape = tuple(int(n) for n in arrays[0].shape[2:])
    sizes = reader.physical_pixel_sizes
    found = (sizes.Z, sizes.Y, sizes.X) if facts.calibrated else (None, None, None)
    calibration = decide_pixel_size(found, options.pixel_size, where=str(path), source="the metadata",
                                    has_depth=shape[0] > 1)
    spacing, notes = calibration.spacing, calibration.notes
    placement, turned = place_positions(facts, shape, spacing, str(path))
    if turned:
        arrays = [a[:, :, ::-1] for a in arrays]
    names = [str(n) for n in positions]
    if len(set(names)) != len(names) or not all(names):
        names = [f"P{p}" for p in range(len(positions))]
    count = arrays[0].shape[1] // samples
    channel_names, colors = channel_labels(count, samples, [name for name, _ in facts.channels][:count],
                                           [color for _, color in facts.channels][:count])
    tiles = [TileFacts(a, tuple(o), n) for a, o, n in zip(arrays, placement.origins, names)]
    return mosaic_tileset(path, path.stem, tiles, spacing, channel_names, colors,
                          placement.source, (*notes, *placement.notes))
