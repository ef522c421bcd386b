"""Nikon ND2 through bioio-nd2 and the nd2 SDK, tested on stand-ins built from nd2's own
metadata structures: no ND2 file or writer is available, so the stand-ins describe a
synthetic multi-point acquisition the way NIS-Elements records one."""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from types import SimpleNamespace

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from bioio_base.types import PhysicalPixelSizes
from nd2.structures import (
    ChannelMeta, Color, Position, StagePosition, XYPosLoop, XYPosLoopParams, ZStackLoop,
    ZStackLoopParams,
)

import ngff_fuse.readers.nd2 as nd2_module
from ngff_fuse.errors import InputError
from ngff_fuse.fuse.core import fuse
from ngff_fuse.readers import reader_for
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.readers.nd2 import Nd2Reader, nd2_facts, nearest_orientation
from ngff_fuse.testing import synthetic_mosaic

ORIENTATIONS = {  # the camera-to-stage part of NIS's matrix: camera x, y -> stage x, y
    "same": [[1, 0], [0, 1]],
    "x reversed": [[-1, 0], [0, 1]],
    "both reversed": [[-1, 0], [0, -1]],
    "swapped": [[0, 1], [1, 0]],
    "swapped, y reversed": [[0, -1], [1, 0]],
}


def pixel_to_stage(orientation, spacing, shape, degrees=0.0):
    """The SDK's 2 x 3 matrix for a camera of `shape` (h, w): A = orientation x rotation x
    pixel size, t = -A @ (w / 2, h / 2), as nd2 builds it."""
    turn = math.radians(degrees)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    a = np.array(orientation, dtype=float) @ rotation @ np.diag([spacing[2], spacing[1]])
    t = -a @ np.array([shape[1] / 2, shape[0] / 2])
    return (a[0, 0], a[0, 1], t[0], a[1, 0], a[1, 1], t[1])


class StandInND2File:
    """What nd2_facts uses of nd2.ND2File: loop_indices, frame_metadata(i).channels[0]
    .position.stagePositionUm, experiment and metadata.channels."""

    def __init__(self, stage, matrix, depth=1, step=1.0, upwards=True, legacy=False):
        self.stage, self.depth, self.step, self.upwards, self.legacy = stage, depth, step, upwards, legacy
        self.loop_indices = tuple(
            {"P": p, "Z": z} if depth > 1 else {"P": p} for p in range(len(stage)) for z in range(depth)
        )
        points = [Position(StagePosition(*xyz)) for xyz in stage]
        self.experiment = [XYPosLoop(len(stage), 0, XYPosLoopParams(True, points))]
        if depth > 1:
            self.experiment.append(ZStackLoop(depth, 1, ZStackLoopParams(0, step, upwards)))
        volume = SimpleNamespace(pixelToStageTransformationMatrix=matrix, axesCalibrated=(True, True, True))
        self.metadata = SimpleNamespace(channels=[
            SimpleNamespace(channel=ChannelMeta("DAPI", 0, Color(0, 0, 0), emissionLambdaNm=455.0), volume=volume),
            SimpleNamespace(channel=ChannelMeta("GFP", 1, Color(0, 255, 0)), volume=volume),
        ])

    def frame_metadata(self, seq):
        if self.legacy:
            return {"nothing": "useful"}
        index = self.loop_indices[seq]
        x, y, z = self.stage[index["P"]]
        z += index.get("Z", 0) * self.step * (1 if self.upwards else -1)
        return SimpleNamespace(channels=[SimpleNamespace(position=Position(StagePosition(x, y, z)))])


class StandInNd2Reader:
    """What the reader uses of bioio_nd2.Reader: one scene per position whose
    xarray_dask_data has nd2's axes (T, Z, C, Y, X), and physical_pixel_sizes."""

    def __init__(self, mosaic, upwards=True):
        self.mosaic, self.upwards = mosaic, upwards
        self.scenes = tuple(f"XY{p:02d}" for p in range(len(mosaic.tiles)))
        self.current = 0
        self.physical_pixel_sizes = PhysicalPixelSizes(*mosaic.spacing)

    def set_scene(self, index):
        self.current = index

    @property
    def xarray_dask_data(self):
        data = self.mosaic.tiles[self.current].data.transpose(0, 2, 1, 3, 4)  # t, z, c, y, x
        if not self.upwards:
            data = data[:, ::-1]  # plane 0 is the top one
        return xr.DataArray(da.from_array(data, chunks=(1, 1, -1, -1, -1)), dims=list("TZCYX"))


def stage_of(mosaic, matrix, depth=1, upwards=True):
    """Where NIS records each position: with the matrix, the stage point s whose first pixel
    P^T (s + t) is the tile's first pixel in the camera frame (s = P @ first - t); without
    it, the centre pixel's position. z is that of plane 0."""
    out = []
    for tile in mosaic.tiles:
        z, y, x = tile.position
        h, w = tile.data.shape[3:]
        if matrix is None:
            sx, sy = x + w // 2 * mosaic.spacing[2], y + h // 2 * mosaic.spacing[1]
        else:
            sx, sy = nearest_orientation(matrix)[0] @ np.array([x, y]) - np.array([matrix[2], matrix[5]])
        out.append((sx, sy, z if upwards else z + (depth - 1) * mosaic.spacing[0]))
    return out


@pytest.fixture
def nd2_path(tmp_path, monkeypatch):
    def install(mosaic, matrix, depth=1, upwards=True, legacy=False):
        path = tmp_path / "multipoint.nd2"
        path.write_bytes(b"\xda\xce\xbe\x0a")
        stage = stage_of(mosaic, matrix, depth, upwards)
        handle = StandInND2File(stage, matrix, depth, mosaic.spacing[0], upwards, legacy)
        reader = StandInNd2Reader(mosaic, upwards)
        monkeypatch.setattr(nd2_module, "open_bioimage", lambda p, r: SimpleNamespace(reader=reader))

        class Opened:
            def __init__(self, opened):
                assert opened == path

            def __enter__(self):
                return handle

            def __exit__(self, *exc):
                return False

        monkeypatch.setattr("nd2.ND2File", Opened)
        return path

    return install


def fused_equals_truth(tiles, mosaic):
    fused = fuse(tiles, blend="mean", chunk_size=(4, 32, 32), squeeze=False).values
    first, stop = mosaic.truth_extent()
    truth = mosaic.truth[(slice(None), slice(None), *(slice(a, b) for a, b in zip(first, stop)))]
    covered = fused > 0
    return fused.shape == truth.shape and covered.mean() > 0.9 and np.array_equal(fused[covered], truth[covered])


@pytest.mark.parametrize("orientation", [*ORIENTATIONS, None])
def test_every_stage_orientation_puts_the_positions_back(orientation, nd2_path):
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(40, 56), channels=2, seed=5)
    matrix = None if orientation is None else pixel_to_stage(ORIENTATIONS[orientation], mosaic.spacing, (40, 56))
    path = nd2_path(mosaic, matrix)
    assert isinstance(reader_for(path), Nd2Reader)
    (tiles,) = Nd2Reader().read(path, ReadOptions())
    assert tiles.name == "multipoint" and [t.name for t in tiles.tiles] == [f"XY{p:02d}" for p in range(6)]
    origins = np.array([t.origin for t in tiles.tiles])
    assert origins[:, 1:] == pytest.approx(np.array([t.position for t in mosaic.tiles])[:, 1:], abs=1e-6)
    assert fused_equals_truth(tiles, mosaic)
    assert tiles.channel_names == ("DAPI", "GFP")
    assert tiles.channel_colors == ("004CFF", "00FF00")  # black in the file: from 455 nm
    if orientation in ("x reversed", "swapped, y reversed"):
        assert "-stage" in tiles.position_source


def test_positions_at_different_heights_and_downward_stacks(nd2_path):
    mosaic = synthetic_mosaic(grid=(2, 1, 2), tile_shape=(4, 30, 36), overlap=0.25, jitter=0, seed=6)
    assert len({t.position[0] for t in mosaic.tiles}) > 1  # positions at different heights
    matrix = pixel_to_stage(ORIENTATIONS["same"], mosaic.spacing, (30, 36))
    for upwards in (True, False):
        (tiles,) = Nd2Reader().read(nd2_path(mosaic, matrix, depth=4, upwards=upwards), ReadOptions())
        origins = np.array([t.origin for t in tiles.tiles])
        assert origins == pytest.approx(np.array([t.position for t in mosaic.tiles]), abs=1e-6)
        assert fused_equals_truth(tiles, mosaic)
        assert ("top to bottom" in " ".join(tiles.notes)) is not upwards


def test_camera_rotation_is_noted_and_legacy_files_use_planned_points(nd2_path):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(30, 30))
    matrix = pixel_to_stage(ORIENTATIONS["same"], mosaic.spacing, (30, 30), degrees=2.0)
    assert nearest_orientation(matrix)[1] == pytest.approx(2.0)
    (tiles,) = Nd2Reader().read(nd2_path(mosaic, matrix), ReadOptions())
    assert "turned 2.0 degrees" in tiles.notes[0]
    (legacy,) = Nd2Reader().read(nd2_path(mosaic, None, legacy=True), ReadOptions())
    origins = np.array([t.origin for t in legacy.tiles])
    assert origins[:, 1:] == pytest.approx(np.array([t.position for t in mosaic.tiles])[:, 1:])


def test_one_mosaic_per_file_and_positions_must_be_known(nd2_path):
    mosaic = synthetic_mosaic(grid=(1, 3), tile_shape=(20, 20))
    path = nd2_path(mosaic, None)
    assert len(Nd2Reader().read(path, ReadOptions(scenes=(0,)))) == 1
    with pytest.raises(InputError, match=r"no scene 1; its scenes are 0 \(all 3 positions as one mosaic\)"):
        Nd2Reader().read(path, ReadOptions(scenes=(1,)))
    handle = StandInND2File([(0.0, 0.0, 0.0), (math.nan, math.nan, 0.0), (1.0, 1.0, 0.0)], None)
    handle.experiment = []
    facts = nd2_facts(handle, 3)
    assert np.isnan(facts.stage[1, 0])
    with pytest.raises(InputError, match="position 1 has no stage position"):
        nd2_module.place_positions(facts, (1, 20, 20), (1.0, 1.0, 1.0), str(path))


def test_uncalibrated_files_need_the_pixel_size_option(nd2_path, monkeypatch):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(30, 30), seed=1)
    path = nd2_path(mosaic, None)
    real_facts = nd2_module.nd2_facts
    monkeypatch.setattr(nd2_module, "nd2_facts", lambda f, n: replace(real_facts(f, n), calibrated=False))
    with pytest.raises(InputError, match="pass --pixel-size"):
        Nd2Reader().read(path, ReadOptions())
    (tiles,) = Nd2Reader().read(path, ReadOptions(pixel_size=(1.0, 0.5, 0.5)))
    assert tiles.spacing == (1.0, 0.5, 0.5)


def test_missing_plugin_still_claims_nd2_and_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "multipoint.nd2"
    path.write_bytes(b"\xda\xce\xbe\x0a")
    monkeypatch.setitem(sys.modules, "bioio_nd2", None)
    assert Nd2Reader().can_open(path)
    with pytest.raises(InputError) as err:
        Nd2Reader().read(path, ReadOptions())
    assert str(err.value) == f"{path}: reading ND2 needs bioio-nd2: pip install 'ngff-fuse[nd2]'"
