"""`convert --keep-tiles` and `fuse-store`: the tiles kept beside the fused image, read back by
their stored transforms, fuse to the same bytes; they sit where the fused image says."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import xarray as xr
import zarr

from ngff_fuse import transforms
from ngff_fuse.cli import main
from ngff_fuse.fuse.core import fuse
from ngff_fuse.readers import read_input
from ngff_fuse.readers.kept_tiles import KeptTilesReader
from ngff_fuse.readers.base import ReadOptions
from ngff_fuse.testing import in_memory_tileset, synthetic_mosaic
from ngff_fuse.testing.imagexpress import write_imagexpress
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.kept_tiles_writer import as_stored, keep_tiles
from ngff_fuse.validate import schema_errors, validate_store
from ngff_fuse.writer import WriteOptions, write_ngff
from test_fuse import truth_on_grid
from test_resume import run_cli

VERSIONS = ["0.4", "0.5", "0.6"]
OPTIONS = ["--chunk", "32", "--quiet"]
MOSAICS = {
    "2d": dict(grid=(2, 3), tile_shape=(50, 60), subpixel=True, smooth=True, seed=4),
    "3d-2ch": dict(grid=(1, 2, 2), tile_shape=(6, 40, 48), subpixel=True, smooth=True, channels=2,
                   spacing=(1.0, 0.4, 0.4), seed=5),
    "2d-integer": dict(grid=(2, 2), tile_shape=(50, 60), subpixel=False, channels=2, seed=6),
}


@pytest.fixture(scope="module", params=list(MOSAICS))
def acquisition(request, tmp_path_factory):
    mosaic = synthetic_mosaic(**MOSAICS[request.param])
    path = write_ome_tiff(mosaic, tmp_path_factory.mktemp(request.param) / "tiles.ome.tif")
    return mosaic, path


def attrs(path) -> dict:
    return dict(zarr.open_group(path, mode="r").attrs)


def ome(path) -> dict:
    found = attrs(path)
    return found.get("ome", found)


def levels(path) -> dict[str, np.ndarray]:
    """The pyramid levels of the image at `path` (not its kept tiles)."""
    return {d["path"]: zarr.open_array(path / d["path"], mode="r")[:]
            for d in ome(path)["multiscales"][0]["datasets"]}


def level_matrix(transform, ndim: int) -> np.ndarray:
    """Homogeneous matrix of stored NGFF transforms, computed here from the JSON alone:
    0.4 / 0.5 write a list [scale, translation]; 0.6 one scale or sequence, or a scene's
    translation or affine."""
    if isinstance(transform, list):
        matrix = np.eye(ndim + 1)
        for step in transform:
            matrix = level_matrix(step, ndim) @ matrix
        return matrix
    matrix = np.eye(ndim + 1)
    kind = transform["type"]
    if kind == "sequence":
        return level_matrix(transform["transformations"], ndim)
    if kind == "scale":
        matrix[:ndim, :ndim] = np.diag(transform["scale"])
    elif kind == "translation":
        matrix[:ndim, ndim] = transform["translation"]
    elif kind == "affine":
        matrix[:ndim] = np.asarray(transform["affine"])[:ndim]
    else:
        raise AssertionError(f"unexpected transformation {kind}")
    return matrix


def tile_to_stage(store, j: int, level: int) -> tuple[np.ndarray, list[str]]:
    """Matrix from a kept tile's level-`level` pixel index to the fused image's coordinates,
    and the tile's axes, from the stored metadata as any NGFF reader would combine it."""
    tile = ome(store / "tiles" / str(j))["multiscales"][0]
    axes = [a["name"] for a in (tile.get("axes") or tile["coordinateSystems"][0]["axes"])]
    matrix = level_matrix(tile["datasets"][level]["coordinateTransformations"], len(axes))
    affine = (tile.get("metadata") or {}).get("ngff_fuse", {}).get("affine")
    if affine is not None:  # 0.4 / 0.5 cannot express it: the full (z, y, x) affine
        spatial = [i for i, ax in enumerate(axes) if ax in "zyx"]
        full = np.asarray(affine)
        keep = [("z", "y", "x").index(axes[i]) for i in spatial] + [3]
        level0 = level_matrix(tile["datasets"][0]["coordinateTransformations"], len(axes))
        stage = np.eye(len(axes) + 1)
        stage[np.ix_(spatial + [len(axes)], spatial + [len(axes)])] = full[np.ix_(keep, keep)]
        return stage @ np.linalg.inv(level0) @ matrix, axes
    scene = ome(store).get("scene")
    if scene is not None:
        [placed] = [t for t in scene["coordinateTransformations"] if t["input"]["path"] == f"tiles/{j}"]
        assert placed["input"]["name"] == tile["coordinateSystems"][0]["name"]
        assert placed["output"] == {"name": ome(store)["multiscales"][0]["coordinateSystems"][0]["name"]}
        # a scene end without a path names a system the scene itself declares (scene readers
        # look nowhere else): the fused image's own, declared again
        assert scene["coordinateSystems"] == ome(store)["multiscales"][0]["coordinateSystems"]
        matrix = level_matrix(placed, len(axes)) @ matrix
    return matrix, axes


@pytest.mark.parametrize("version", VERSIONS)
def test_kept_tiles_refuse_to_the_same_bytes(acquisition, version, tmp_path, shared_dir):
    mosaic, source = acquisition
    options = [*OPTIONS, "--ngff", version]
    store, again = tmp_path / "kept.ome.zarr", tmp_path / "again.ome.zarr"
    assert main(["convert", str(source), str(store), *options, "--keep-tiles"]) == 0
    assert main(["fuse-store", str(store), str(again), *options]) == 0
    fused, refused = levels(store), levels(again)
    assert fused.keys() == refused.keys() and len(fused) > 1
    for name in fused:
        assert fused[name].tobytes() == refused[name].tobytes(), f"level {name}"

    # the tiles: the source's pixels exactly, and its affines bit for bit
    source_tiles = read_input(source)[0].tiles
    kept = KeptTilesReader().read(store, ReadOptions())[0]
    assert [t.name for t in kept.tiles] == [t.name for t in source_tiles]
    for j, (original, back) in enumerate(zip(source_tiles, kept.tiles)):
        assert back.affine.tobytes() == original.affine.tobytes()
        stored = zarr.open_array(store / "tiles" / str(j) / "0", mode="r")[:]
        source_pixels = np.asarray(original.data)
        assert stored.dtype == source_pixels.dtype
        assert np.array_equal(stored, source_pixels.reshape(stored.shape))
    listing = attrs(store / "tiles")
    assert [e["path"] for e in listing["tiles"]] == [str(j) for j in range(len(mosaic.tiles))]

    # the store validates, tiles included; 0.6 also as a scene
    spec = shared_dir / "realdata" / "ngff-spec"
    for image in [store, *(store / "tiles" / e["path"] for e in listing["tiles"])]:
        report = validate_store(image, spec)
        assert report.ok, (image, report.failed)
    if version == "0.6":
        assert schema_errors(attrs(store), "0.6", spec, schema="scene") == []
    else:
        assert "scene" not in ome(store)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("threed", [False, True], ids=["2d", "3d"])
def test_tiles_sit_where_the_fused_image_says(version, threed, tmp_path):
    """For points of every tile, at level 0 and level 1: the stored tile transforms put them
    where the tile's true affine does (1e-6 um); the fused image's level-0 and level-1
    transforms give the same point consistent pixel indices, and at level 0 (integer stage
    positions) a pixel centre holding the tile's value."""
    mosaic = synthetic_mosaic(grid=(1, 2, 2) if threed else (2, 2), channels=2, seed=7,
                              tile_shape=(6, 40, 52) if threed else (40, 52), spacing=(0.5, 0.4, 0.4))
    source = write_ome_tiff(mosaic, tmp_path / "tiles.ome.tif")
    store = tmp_path / "kept.ome.zarr"
    assert main(["convert", str(source), str(store), *OPTIONS, "--chunk", "16", "--ngff", version,
                 "--keep-tiles"]) == 0
    spatial = ["z", "y", "x"] if threed else ["y", "x"]
    n = 1 + len(spatial)
    fused = ome(store)["multiscales"][0]
    fused_level = [level_matrix(d["coordinateTransformations"], n) for d in fused["datasets"]]
    level0 = zarr.open_array(store / "0", mode="r")[:]
    for j, original in enumerate(read_input(source)[0].tiles):
        pixels = np.asarray(original.data)[0].reshape(level0.shape[:1] + original.data.shape[-n + 1:])
        for level, factor in ((0, 1), (1, 2)):
            matrix, axes = tile_to_stage(store, j, level)
            assert axes == ["c", *spatial]
            last = [-(-size // factor) - 1 for size in pixels.shape[1:]]
            for index in [[0] * len(last), last, [v // 2 for v in last], [v // 3 for v in last]]:
                stage = (matrix @ [0, *index, 1])[1:n]
                centre = [factor * i + (factor - 1) / 2 for i in index]
                truth = transforms.apply(original.affine, [0] * (3 - len(centre)) + centre)[3 - len(centre):]
                assert np.abs(stage - truth).max() < 1e-6
                q0 = (np.linalg.inv(fused_level[0]) @ [0, *stage, 1])[1:n]
                qk = (np.linalg.inv(fused_level[level]) @ [0, *stage, 1])[1:n]
                steps = np.abs(fused_level[level][1:n, 1:n].diagonal() / fused_level[0][1:n, 1:n].diagonal())
                assert np.abs((steps * qk + (steps - 1) / 2 - q0) * mosaic.spacing[1]).max() < 1e-6
                if level == 0:  # integer positions: a fused pixel centre, holding the tile's value
                    assert np.abs(q0 - np.rint(q0)).max() * mosaic.spacing[1] < 1e-6
                    where = tuple(np.rint(q0).astype(int))
                    assert np.array_equal(level0[(slice(None), *where)], pixels[(slice(None), *index)])


def truth_error(mosaic, store) -> tuple[np.ndarray, np.ndarray]:
    """|fused level 0 - ground truth| over the covered pixels of a 2-D single-channel store,
    placed by its stored transforms, and the truth there."""
    values = levels(store)["0"]
    multiscale = ome(store)["multiscales"][0]
    matrix = level_matrix(multiscale["datasets"][0]["coordinateTransformations"], 2)
    grid = xr.DataArray(values, dims=("y", "x"), coords={
        ax: matrix[i, 2] + matrix[i, i] * np.arange(values.shape[i]) for i, ax in enumerate("yx")})
    truth, covered = truth_on_grid(mosaic, grid.expand_dims(z=[mosaic.origin[0]]))
    truth = truth[0, 0, 0][covered[0]]
    return np.abs(values[covered[0]].astype(float) - truth), truth


def test_another_blend_refuses_differently_and_still_right(tmp_path):
    mosaic = synthetic_mosaic(**MOSAICS["2d"])
    source = write_ome_tiff(mosaic, tmp_path / "tiles.ome.tif")
    store, maxed = tmp_path / "kept.ome.zarr", tmp_path / "max.ome.zarr"
    assert main(["convert", str(source), str(store), *OPTIONS, "--keep-tiles"]) == 0
    assert main(["fuse-store", str(store), str(maxed), *OPTIONS, "--blend", "max", "--ngff", "0.4"]) == 0
    feathered, values = levels(store)["0"], levels(maxed)["0"]
    assert feathered.shape == values.shape and not np.array_equal(feathered, values)
    error, truth = truth_error(mosaic, maxed)
    assert error.mean() < 0.01 * truth.mean() and error.max() < 0.04 * truth.max()
    multiscale = ome(maxed)["multiscales"][0]
    assert multiscale["metadata"]["blend"] == "max" and multiscale["metadata"]["reader"] == "kept-tiles"


@pytest.mark.parametrize("version", VERSIONS)
def test_validate_checks_the_kept_tiles_too(version, tmp_path):
    source = write_ome_tiff(synthetic_mosaic(**MOSAICS["2d"]), tmp_path / "tiles.ome.tif")
    store = tmp_path / "kept.ome.zarr"
    assert main(["convert", str(source), str(store), *OPTIONS, "--keep-tiles", "--ngff", version]) == 0
    report = validate_store(store)
    assert report.ok, report.failed
    assert sum("tiles/5" in line for line in report.passed) > 3  # the last tile's own checks
    chunk = next(p for p in sorted((store / "tiles" / "5" / "0").rglob("*")) if p.is_file()
                 and p.name not in ("zarr.json", ".zarray", ".zattrs"))
    chunk.unlink()
    report = validate_store(store)
    assert not report.ok and any("tiles/5" in line for line in report.failed)


@pytest.mark.parametrize("version", ["0.4", "0.6"])
def test_fuse_store_without_an_output_refuses_the_store_in_place(version, tmp_path):
    """`fuse-store STORE`: the store ends as a fresh fusion of its own tiles (same version,
    tiles kept), exactly what fusing into a new output gives; nothing is left beside it."""
    mosaic = synthetic_mosaic(**MOSAICS["2d"])
    source = write_ome_tiff(mosaic, tmp_path / "tiles.ome.tif")
    store, elsewhere = tmp_path / "kept.ome.zarr", tmp_path / "max.ome.zarr"
    assert main(["convert", str(source), str(store), *OPTIONS, "--keep-tiles", "--ngff", version]) == 0
    tiles_before = {j: zarr.open_array(store / "tiles" / str(j) / "0", mode="r")[:] for j in range(6)}
    assert main(["fuse-store", str(store), str(elsewhere), *OPTIONS, "--blend", "max",
                 "--ngff", version]) == 0
    assert main(["fuse-store", str(store), *OPTIONS, "--blend", "max"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.ome.zarr", "max.ome.zarr", "tiles.ome.tif"]
    assert ome(store)["multiscales"][0]["metadata"]["blend"] == "max"
    assert (ome(store).get("version") or ome(store)["multiscales"][0]["version"]) == version
    for name, values in levels(elsewhere).items():
        np.testing.assert_array_equal(levels(store)[name], values)
    for j, pixels in tiles_before.items():
        np.testing.assert_array_equal(zarr.open_array(store / "tiles" / str(j) / "0", mode="r")[:], pixels)
    assert validate_store(store).ok
    # and again: the re-fused store still holds everything fuse-store needs
    assert main(["fuse-store", str(store), *OPTIONS]) == 0
    assert ome(store)["multiscales"][0]["metadata"]["blend"] == "feather"
    # where the positions came from is said once, however often the store was re-fused
    assert read_input(store)[0].position_source.count("tiles kept in") == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_a_rotated_tile_round_trips_exactly(version, tmp_path):
    """A registered affine that is no scale + translation: 0.4 / 0.5 keep it whole in the
    metadata, 0.6 writes it as the scene's affine; re-fusing gives the same bytes."""
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(48, 56), subpixel=True, smooth=True, seed=8)
    angle = np.deg2rad(2.0)
    rotation = np.eye(4)
    rotation[1:3, 1:3] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    affines = [transforms.placement(mosaic.spacing, t.position) for t in mosaic.tiles]
    affines[3] = affines[3] @ transforms.translation((0, 24, 28)) @ transforms.scaling(
        1 / np.asarray(mosaic.spacing)) @ rotation @ transforms.scaling(mosaic.spacing) @ \
        transforms.translation((0, -24, -28))
    tileset = in_memory_tileset(mosaic, affines=affines)
    options = WriteOptions(ngff=version, chunk=32)
    stored = as_stored(tileset, version)
    assert np.allclose(stored.tiles[3].affine, affines[3], rtol=1e-15, atol=0)
    # at this angle 0.6's affine (tile um -> stage um) reads back an ulp off the original: the
    # case as_stored is for; the fused image is made from the affine the store gives back
    assert np.array_equal(stored.tiles[3].affine, affines[3]) == (version != "0.6")
    store = tmp_path / "rotated.ome.zarr"
    mosaic_data = fuse(stored, chunk_size=(1, options.block_edge(), options.block_edge()))
    write_ngff(mosaic_data, store, options, amend=keep_tiles(stored, options))
    kept = KeptTilesReader().read(store, ReadOptions())[0]
    for written, back in zip(stored.tiles, kept.tiles):
        assert back.affine.tobytes() == written.affine.tobytes()
    if version == "0.6":
        [placed] = [t for t in ome(store)["scene"]["coordinateTransformations"]
                    if t["input"]["path"] == "tiles/3"]
        assert placed["type"] == "affine"
    else:
        assert "affine" in ome(store / "tiles" / "3")["multiscales"][0]["metadata"]["ngff_fuse"]
    again = tmp_path / "again.ome.zarr"
    assert main(["fuse-store", str(store), str(again), *OPTIONS, "--ngff", version]) == 0
    fused, refused = levels(store), levels(again)
    assert fused.keys() == refused.keys()
    for name in fused:
        assert fused[name].tobytes() == refused[name].tobytes(), f"level {name}"


@pytest.mark.parametrize("problem", ["no tiles", "incomplete", "foreign", "not zarr", "scene lost"])
def test_fuse_store_refuses_a_store_without_tiles(problem, tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(30, 40))
    source = write_ome_tiff(mosaic, tmp_path / "tiles.ome.tif")
    store = tmp_path / "store.ome.zarr"
    if problem == "not zarr":
        store = source
    else:
        assert main(["convert", str(source), str(store), *OPTIONS, "--ngff", "0.6",
                     *(["--keep-tiles"] if problem != "no tiles" else [])]) == 0
        group = zarr.open_group(store, mode="r+")
        if problem == "scene lost":
            group.attrs["ome"] = {k: v for k, v in group.attrs["ome"].items() if k != "scene"}
        if problem == "incomplete":
            group.attrs["ngff_fuse"] = {**group.attrs["ngff_fuse"], "status": "incomplete"}
        if problem == "foreign":
            del group.attrs["ngff_fuse"]
    capsys.readouterr()
    out = tmp_path / "out.ome.zarr"
    assert main(["fuse-store", str(store), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(store) in err
    assert ("--resume" if problem == "incomplete" else "--keep-tiles") in err
    assert not out.exists()


def all_arrays(path) -> dict[str, np.ndarray]:
    members = zarr.open_group(path, mode="r").members(max_depth=None)
    return {name: node[:] for name, node in members if isinstance(node, zarr.Array)}


def _marked_complete(image) -> bool:
    """A tile image the killed run finished; its folder may exist before its group does."""
    try:
        return attrs(image)["ngff_fuse"]["status"] == "complete"
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError):
        return False


@pytest.mark.parametrize("version", ["0.4", "0.6"])
def test_resume_finishes_the_kept_tiles(version, tmp_path):
    """Killed while writing the tiles, the store stays incomplete; --resume skips the finished
    tiles and ends with exactly what an uninterrupted run writes."""
    mosaic = synthetic_mosaic(grid=(2, 3), tile_shape=(40, 50), channels=1, seed=9)
    source = write_ome_tiff(mosaic, tmp_path / "tiles.ome.tif")
    options = [*OPTIONS, "--chunk", "16", "--ngff", version, "--keep-tiles"]
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(source), str(reference), *options]) == 0
    blocks = [sum(int(np.prod([-(-n // c) for n, c in zip(a.shape, a.shards or a.chunks)]))
                  for a in (zarr.open_array(image / d["path"], mode="r")
                            for d in ome(image)["multiscales"][0]["datasets"]))
              for image in (reference, reference / "tiles" / "0", reference / "tiles" / "1")]
    out = tmp_path / "out.ome.zarr"
    killed = run_cli("convert", str(source), str(out), *options,
                     kill_after=sum(blocks) + 1)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert attrs(out)["ngff_fuse"]["status"] == "incomplete"
    assert "multiscales" not in str(attrs(out)) and "tiles" not in attrs(out / "tiles")
    finished = [j for j in range(6) if _marked_complete(out / "tiles" / str(j))]
    assert finished and len(finished) < 6  # tiles are written side by side: which ones varies
    with pytest.raises(Exception):
        KeptTilesReader().read(out, ReadOptions())
    done = run_cli("convert", str(source), str(out), *options, "--resume")
    assert done.returncode == 0, done.stderr
    expected, got = all_arrays(reference), all_arrays(out)
    assert expected.keys() == got.keys() and any(k.startswith("tiles/") for k in got)
    for name in expected:
        assert np.array_equal(expected[name], got[name]), name
    for part in ["", "tiles", *(f"tiles/{j}" for j in range(6))]:
        assert attrs(out / part) == attrs(reference / part), part


def test_register_and_positions_work_on_a_store(tmp_path):
    """The kept tiles are an input like any other: `register` measures positions from them, and
    `fuse-store --positions` fuses what `convert --positions` fuses from the vendor file."""
    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(64, 72), subpixel=True, seed=10)
    source = write_ome_tiff(mosaic, tmp_path / "tiles.ome.tif")
    store = tmp_path / "kept.ome.zarr"
    assert main(["convert", str(source), str(store), *OPTIONS, "--keep-tiles"]) == 0
    positions = tmp_path / "positions.json"
    assert main(["register", str(store), "--out", str(positions), "--quiet"]) == 0
    report = json.loads(positions.read_text())["registration"]
    assert report["links"]["accepted"] > 0 and report["correction_px"]["max"] < 0.5  # stage was right
    out, direct = tmp_path / "registered.ome.zarr", tmp_path / "direct.ome.zarr"
    assert main(["fuse-store", str(store), str(out), *OPTIONS, "--positions", str(positions)]) == 0
    assert main(["convert", str(source), str(direct), *OPTIONS, "--positions", str(positions)]) == 0
    assert not np.array_equal(levels(out)["0"], levels(store)["0"])
    assert levels(out)["0"].tobytes() == levels(direct)["0"].tobytes()
    # --register on the kept tiles measures what it measures on the vendor file's
    out, direct = tmp_path / "reregistered.ome.zarr", tmp_path / "direct-registered.ome.zarr"
    assert main(["fuse-store", str(store), str(out), *OPTIONS, "--register"]) == 0
    assert main(["convert", str(source), str(direct), *OPTIONS, "--register"]) == 0
    assert levels(out)["0"].tobytes() == levels(direct)["0"].tobytes()
    assert ome(out)["multiscales"][0]["metadata"]["reader"] == "kept-tiles"


@pytest.mark.parametrize("hcs", [True, False])
def test_each_scene_keeps_its_tiles(tmp_path, hcs):
    """Several scenes (a plate: its wells, or with --no-hcs the bioformats2raw layout): each
    image keeps its tiles in <image>/tiles; fuse-store re-fuses every scene, or the one
    --scene picks, to the same bytes and the same layout."""
    wells = {"A01": synthetic_mosaic(grid=(2, 2), tile_shape=(40, 48), seed=11),
             "B02": synthetic_mosaic(grid=(1, 3), tile_shape=(40, 48), seed=12)}
    export = write_imagexpress(wells, tmp_path / "plate")
    store, again, one = (tmp_path / f"{n}.ome.zarr" for n in ("kept", "again", "one"))
    layout = [] if hcs else ["--no-hcs"]
    images = ["A/1/0", "B/2/0"] if hcs else ["0", "1"]
    assert main(["convert", str(export), str(store), *OPTIONS, "--keep-tiles", "--ngff", "0.6", *layout]) == 0
    assert [len(attrs(store / i / "tiles")["tiles"]) for i in images] == [4, 3]
    assert main(["fuse-store", str(store), str(again), *OPTIONS, "--ngff", "0.6", *layout]) == 0
    assert main(["fuse-store", str(store), str(one), *OPTIONS, "--ngff", "0.6", "--scene", "1", *layout]) == 0
    for image in images:
        fused, refused = levels(store / image), levels(again / image)
        assert fused.keys() == refused.keys()
        assert all(fused[k].tobytes() == refused[k].tobytes() for k in fused)
    if hcs:
        assert ome(again)["plate"] == ome(store)["plate"]
    # a well fused alone is not grown to the plate's largest well (see convert.plate_grids)
    picked = levels(one / "B/2/0" if hcs else one)["0"]
    assert np.array_equal(picked, levels(store / images[1])["0"][tuple(slice(0, n) for n in picked.shape)])
