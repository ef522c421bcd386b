"""`ngff-fuse validate`: passes on what we write, names what is wrong otherwise."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import zarr

from damage import chunk_files, empty, flip, flip_inner_chunk, inner_grid, key, truncate
from ngff_fuse.cli import main
from ngff_fuse.codecs import Codec
from ngff_fuse.fuse.core import fuse
from ngff_fuse.testing import in_memory_tileset, synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.validate import validate_store
from ngff_fuse.writer import SceneImage, WriteOptions, write_ngff, write_scenes


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory):
    path = tmp_path_factory.mktemp("validate") / "tiles.ome.tif"
    write_ome_tiff(synthetic_mosaic(grid=(2, 3), tile_shape=(70, 80), channels=2), path)
    return path


def checks(capsys, *argv) -> tuple[int, dict]:
    code = main(["validate", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("layout", [["--ngff", "0.4"], ["--ngff", "0.5", "--shard", "64"]])
def test_our_output_is_valid(acquisition, tmp_path, capsys, shared_dir, layout):
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(acquisition), str(out), "--chunk", "32", "--quiet", *layout]) == 0
    code, report = checks(capsys, str(out), "--schemas", str(shared_dir / "realdata" / "ngff-spec"))
    assert code == 0 and report["ok"], report["failed"]
    assert any("JSON schema" in p for p in report["passed"])
    assert any("spot check" in p for p in report["passed"])
    assert any("chunks all present" in p for p in report["passed"])


def test_damage_is_reported(acquisition, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(acquisition), str(out), "--chunk", "32", "--quiet", "--ngff", "0.4"]) == 0
    (out / "0" / "0" / "0" / "1").unlink()  # level 0's chunk (c, y, x) = (0, 0, 1)
    level1 = zarr.open_array(out / "1", mode="r+")
    level1[0, 2, 2] = level1[0, 2, 2] + 500  # a pyramid that no longer matches
    level1[1, 3:6, 4:8] = 7
    code, report = checks(capsys, str(out))
    assert code == 1
    failed = " | ".join(report["failed"])
    assert "level 0 chunks all present and decode: 1 of 70 damaged: 0/0/0/1 missing" in failed
    assert "spot check" in failed
    main(["validate", str(out)])
    printed = capsys.readouterr().out
    assert "FAIL" in printed and "decoding chunks: 104/104 done" in printed  # the progress, counted in chunks


def test_interrupted_output_is_reported_incomplete(acquisition, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    killed = subprocess.run([sys.executable, "-m", "ngff_fuse.testing.crash", "2", "convert", str(acquisition),
                             str(out), "--chunk", "32"], capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    status, report = checks(capsys, str(out))
    assert status == 1
    assert any("marked incomplete" in f and "--resume" in f for f in report["failed"])
    assert any("multiscales metadata" in f for f in report["failed"])


def test_not_a_store(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nothing.zarr")]) == 2
    assert "no such store" in capsys.readouterr().err


@pytest.mark.parametrize(("shift", "verdict"), [
    (0.0, "first pixel of each block"),  # a strided pyramid: level 1 starts on level 0's pixel
    (0.1, None),  # neither convention: pixels misplaced by a fraction of a pixel
])
def test_level_alignment_takes_both_conventions_and_nothing_else(acquisition, tmp_path, capsys, shift, verdict):
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(acquisition), str(out), "--chunk", "32", "--quiet", "--ngff", "0.5"]) == 0
    meta = json.loads((out / "zarr.json").read_text())
    datasets = meta["attributes"]["ome"]["multiscales"][0]["datasets"]
    level0, level1 = (d["coordinateTransformations"][1]["translation"] for d in datasets[:2])
    level1[:] = [t + shift for t in level0]
    (out / "zarr.json").write_text(json.dumps(meta))
    code, report = checks(capsys, str(out))
    if verdict:
        assert code == 0 and f"level 1 pixel centres on level 0's ({verdict})" in report["passed"]
    else:
        assert code != 0 and any(f.startswith("level 1 pixel centres on level 0's") for f in report["failed"])


# Every layout ngff-fuse writes. zarr v2 (0.4) carries no checksum: bytes flipped inside a
# blosc chunk decode to wrong pixels unseen (README), so 0.4 meets flips with gzip, whose own
# CRC-32 catches them.
DAMAGE_LAYOUTS = {
    "0.4": (dict(ngff="0.4"), ("empty", "truncated", "missing")),
    "0.4-gzip": (dict(ngff="0.4", codec=Codec.parse("gzip")), ("empty", "flipped", "truncated", "missing")),
    "0.5-sharded": (dict(ngff="0.5", shard=64), ("empty", "flipped", "truncated", "missing")),
    "0.5": (dict(ngff="0.5", shard=0), ("empty", "flipped", "truncated", "missing")),
    "0.6": (dict(ngff="0.6", shard=64), ("empty", "flipped", "truncated", "missing")),
}


def damage_level(store, level: str, kinds) -> dict[str, str]:
    """Damage one chunk file of `level` per kind; what validate must say about each, by key."""
    files = chunk_files(store / level)
    grid = inner_grid(store / level)
    expected = {}
    for kind, file in zip(kinds, files[1::3]):  # apart, so each is its own key
        name = key(store, file)
        if kind == "empty":
            empty(file)
            expected[name] = f"{name} is an empty file"
        elif kind == "flipped" and grid:
            last = tuple(n - 1 for n in grid)
            flip_inner_chunk(file, grid, last)
            expected[name] = f"{name} inner chunk ({','.join(map(str, last))}) does not decode"
        elif kind == "flipped":
            flip(file)
            expected[name] = f"{name} does not decode"
        elif kind == "truncated":
            truncate(file)
            expected[name] = f"{name} has a shard index that does not decode" if grid else f"{name} does not decode"
        else:
            file.unlink()
            expected[name] = f"{name} missing"
    return expected


@pytest.mark.parametrize("layout", list(DAMAGE_LAYOUTS))
def test_every_damaged_chunk_is_named(tmp_path, capsys, layout):
    """A zero-byte chunk, bytes flipped inside a compressed chunk, a truncated chunk or shard and
    a deleted one: each makes validate fail, naming the chunk (and the inner chunk of a shard)
    and nothing else; --quick only looks for chunks, so it sees the missing and empty ones."""
    options, kinds = DAMAGE_LAYOUTS[layout]
    out = tmp_path / "out.ome.zarr"
    mosaic = fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 3), tile_shape=(70, 80), channels=2)))
    write_ngff(mosaic, out, WriteOptions(chunk=32, **options))
    assert (inner_grid(out / "0") is not None) == layout.endswith(("sharded", "0.6"))
    assert checks(capsys, str(out))[0] == 0
    expected = damage_level(out, "0", kinds)
    code, report = checks(capsys, str(out))
    assert code == 1
    failed = " | ".join(report["failed"])
    for says in expected.values():
        assert says in failed, (says, report["failed"])
    assert f"level 0 chunks all present and decode: {len(kinds)} of" in failed
    assert not [line for line in report["failed"] if "chunks all present" in line and "level 0" not in line]
    code, quick = checks(capsys, str(out), "--quick")
    assert code == 1
    quick_failed = " | ".join(quick["failed"])
    for name, says in expected.items():
        assert (name in quick_failed) == ("empty file" in says or "missing" in says), (name, quick["failed"])


def test_damaged_kept_tile_is_named_everywhere(tmp_path, capsys):
    """A kept tile is an input of `fuse-store` and `info`: damage there is named in one line
    (exit 2), never read as pixels; validate names it among the store's chunks."""
    source = write_ome_tiff(synthetic_mosaic(grid=(2, 2), tile_shape=(60, 70)), tmp_path / "t.ome.tif")
    store = tmp_path / "kept.ome.zarr"
    assert main(["convert", str(source), str(store), "--chunk", "32", "--shard", "64", "--quiet",
                 "--keep-tiles"]) == 0
    flipped = chunk_files(store / "tiles" / "2" / "0")[0]
    grid = inner_grid(store / "tiles" / "2" / "0")
    flip_inner_chunk(flipped, grid, tuple(n - 1 for n in grid))
    code, report = checks(capsys, str(store))
    assert code == 1 and any(f"{key(store, flipped)} inner chunk" in line for line in report["failed"])
    assert main(["fuse-store", str(store), str(tmp_path / "again.ome.zarr"), "--chunk", "32", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not decode" in err, err
    assert f"{store / 'tiles' / '2' / '0'}: chunk {key(store / 'tiles' / '2' / '0', flipped)}" in err
    deleted = chunk_files(store / "tiles" / "1" / "0")[0]
    deleted.unlink()
    for command in (["info", str(store)], ["fuse-store", str(store), str(tmp_path / "b.ome.zarr"), "--quiet"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert f"{store / 'tiles' / '1' / '0'}: chunk {key(store / 'tiles' / '1' / '0', deleted)} missing" in err


def test_every_scene_is_decoded(tmp_path):
    first = fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 2), tile_shape=(40, 40))))
    second = fuse(in_memory_tileset(synthetic_mosaic(grid=(1, 2), tile_shape=(30, 50), seed=3)))
    out = tmp_path / "scenes.ome.zarr"
    write_scenes([SceneImage(first), SceneImage(second)], out, WriteOptions(chunk=16))
    assert validate_store(out).ok
    file = chunk_files(out / "1" / "0")[-1]
    grid = inner_grid(out / "1" / "0")
    flip_inner_chunk(file, grid, (0,) * len(grid))
    report = validate_store(out)
    inner = ",".join("0" * len(grid))
    assert any("1: level 0 chunks all present and decode: 1 of" in line
               and f"{key(out, file)} inner chunk ({inner}) does not decode" in line
               for line in report.failed), report.failed


def test_unreadable_metadata_is_named_in_one_line(acquisition, tmp_path, capsys):
    """Metadata that is not JSON or an array that is gone: validate names the file among its
    failures (exit 1); a root it cannot read at all is one line (exit 2), as for every command
    given a damaged store; never a traceback."""
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(acquisition), str(out), "--chunk", "32", "--quiet", "--keep-tiles"]) == 0
    (out / "1" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "array",')
    shutil.rmtree(out / "2")
    (out / "tiles" / "zarr.json").write_text("{ not json")
    code, report = checks(capsys, str(out))
    assert code == 1
    failed = " | ".join(report["failed"])
    assert f"level 1: {out / '1' / 'zarr.json'}: not valid JSON" in failed
    assert f"referenced groups: {out / 'tiles' / 'zarr.json'}: not valid JSON" in failed
    for command in (["info", str(out)], ["fuse-store", str(out), str(tmp_path / "again.ome.zarr")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{out / 'tiles' / 'zarr.json'}: not valid JSON" in err, err
    (out / "1" / "zarr.json").unlink()
    code, report = checks(capsys, str(out))
    assert f"level 1: {out / '1'}: no zarr array there" in " | ".join(report["failed"])
    old = tmp_path / "old.ome.zarr"
    assert main(["convert", str(acquisition), str(old), "--chunk", "32", "--quiet", "--ngff", "0.4"]) == 0
    (old / ".zattrs").write_text('{"multiscales": [}')
    for command in (["validate", str(old)], ["preview", str(old), str(tmp_path / "p.png")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{old / '.zattrs'}: not valid JSON" in err, err


def test_a_store_another_writer_left_empty_chunks_out_of_is_valid(tmp_path, capsys):
    """ome-zarr-py (through zarr) leaves out chunks that hold only the fill value, which
    readers fill in: absent chunks are counted, not failed; a stored chunk that does not decode
    still is, by its key."""
    from ome_zarr.format import FormatV04
    from ome_zarr.writer import write_image

    pixels = np.zeros((2, 300, 400), dtype="uint16")
    pixels[:, 50:200, 60:300] = np.arange(150 * 240, dtype="uint16").reshape(150, 240)
    out = tmp_path / "foreign.ome.zarr"
    write_image(pixels, zarr.open_group(out, mode="w", zarr_format=2), axes="cyx", fmt=FormatV04(),
                storage_options={"chunks": (1, 64, 64)})
    code, report = checks(capsys, str(out))
    assert code == 0, report["failed"]
    absent = [line for line in report["passed"] if line.startswith("level s0:") and "absent" in line]
    assert absent and absent[0].startswith("level s0: 30 of 70 chunks absent, read as the fill value")
    stored = chunk_files(out / "s0")[5]
    truncate(stored)
    code, report = checks(capsys, str(out))
    assert code == 1
    assert len(report["failed"]) == 1
    assert report["failed"][0].startswith(f"level s0 stored chunks all decode: 1 of 70 damaged: {key(out, stored)} "
                                          "does not decode (")


@pytest.mark.parametrize("ngff", ["0.4", "0.5", "0.6"])
def test_multi_scene_output_is_valid(ngff, tmp_path, capsys):
    """A collection (bioformats2raw layout) of every version validates: in 0.4 its root holds
    no version (only its images do), which validate once reported as version None."""
    from ngff_fuse.testing.imagexpress import write_imagexpress

    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(16, 20))
    plate = write_imagexpress({"A01": mosaic, "A02": mosaic}, tmp_path / "plate", guid=False)
    out = tmp_path / "plate.ome.zarr"
    assert main(["convert", str(plate), str(out), "--ngff", ngff, "--quiet"]) == 0
    capsys.readouterr()
    code, report = checks(capsys, str(out))
    assert code == 0 and report["ok"], report["failed"]
