"""A conversion killed part-way resumes into exactly what an uninterrupted run writes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr

from damage import chunk_files, empty, files_state, flip, inner_grid, key, truncate
from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory):
    path = tmp_path_factory.mktemp("resume") / "tiles.ome.tif"
    write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(90, 110), channels=2), path)
    return path


def run_cli(*args: str, env: dict | None = None, kill_after: int | None = None) -> subprocess.CompletedProcess:
    """The CLI in a child process; `kill_after`: SIGKILLed once it has written that many blocks."""
    if kill_after is None:
        command = ["-c", "import sys; from ngff_fuse.cli import main; sys.exit(main(sys.argv[1:]))"]
    else:
        command = ["-m", "ngff_fuse.testing.crash", str(kill_after)]
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def arrays(path) -> dict[str, np.ndarray]:
    group = zarr.open_group(path, mode="r")
    return {name: array[:] for name, array in group.arrays()}


def marker(path) -> str:
    return dict(zarr.open_group(path, mode="r").attrs)["ngff_fuse"]["status"]


@pytest.mark.parametrize("layout", [["--ngff", "0.4"], ["--ngff", "0.5", "--shard", "64"]],
                         ids=["0.4", "0.5-sharded"])
def test_kill_and_resume_three_times_gives_the_same_bytes(acquisition, tmp_path, layout):
    options = ["--chunk", "32", "--quiet", *layout]
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(acquisition), str(reference), *options]) == 0
    out = tmp_path / "out.ome.zarr"
    first = run_cli("convert", str(acquisition), str(out), *options, kill_after=4)
    assert first.returncode == -signal.SIGKILL
    assert marker(out) == "incomplete"
    assert "multiscales" not in str(dict(zarr.open_group(out, mode="r").attrs))
    for cycle in range(2):  # killed again while resuming
        again = run_cli("convert", str(acquisition), str(out), *options, "--resume",
                        kill_after=3)
        assert again.returncode == -signal.SIGKILL, again.stderr
        assert marker(out) == "incomplete"
    done = run_cli("convert", str(acquisition), str(out), *options, "--resume")
    assert done.returncode == 0, done.stderr
    assert marker(out) == "complete"
    expected, got = arrays(reference), arrays(out)
    assert expected.keys() == got.keys()
    for name in expected:
        assert np.array_equal(expected[name], got[name]), name
    attrs, reference_attrs = (dict(zarr.open_group(p, mode="r").attrs) for p in (out, reference))
    assert attrs == reference_attrs


@pytest.mark.parametrize("layout", [["--ngff", "0.4"], ["--ngff", "0.5", "--shard", "64"]],
                         ids=["0.4", "0.5-sharded"])
def test_resume_builds_missing_upper_levels_from_the_written_level_0(acquisition, tmp_path, layout):
    """Upper levels are made in the same pass as level 0; a run stopped after writing level 0
    completes them from the stored level 0 without rewriting it."""
    options = ["--chunk", "32", "--quiet", *layout]
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(acquisition), str(reference), *options]) == 0
    out = tmp_path / "out.ome.zarr"
    shutil.copytree(reference, out)
    group = zarr.open_group(out, mode="r+")
    group.attrs.put({"ngff_fuse": {**group.attrs["ngff_fuse"], "status": "incomplete"}})
    metadata = {".zarray", ".zattrs", "zarr.json"}
    levels = sorted(int(name) for name, _ in group.arrays())
    assert len(levels) > 3
    for level in levels[1:]:
        blocks = sorted(p for p in (out / str(level)).rglob("*") if p.is_file() and p.name not in metadata)
        for block in blocks[::2] if level == 1 else blocks:  # level 1 half written, above it none
            block.unlink()
    level0 = {p: p.stat().st_mtime_ns for p in (out / "0").rglob("*") if p.is_file()}
    assert main(["convert", str(acquisition), str(out), *options, "--resume"]) == 0
    assert marker(out) == "complete"
    assert {p: p.stat().st_mtime_ns for p in (out / "0").rglob("*") if p.is_file()} == level0
    expected, got = arrays(reference), arrays(out)
    assert expected.keys() == got.keys()
    for name in expected:
        assert np.array_equal(expected[name], got[name]), name


def test_resume_refuses_a_different_request_and_skips_a_complete_one(acquisition, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    killed = run_cli("convert", str(acquisition), str(out), "--chunk", "32", "--quiet",
                     kill_after=2)
    assert killed.returncode == -signal.SIGKILL
    assert main(["convert", str(acquisition), str(out), "--chunk", "64", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "request differs" in err and "write.chunk: 32 then, 64 now" in err
    assert main(["convert", str(acquisition), str(out), "--chunk", "32", "--resume", "--quiet"]) == 0
    assert main(["convert", str(acquisition), str(out), "--chunk", "32", "--resume"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["convert", str(acquisition), str(out), "--resume", "--overwrite"]) == 2


def test_changed_input_is_refused(acquisition, tmp_path, capsys):
    copy = tmp_path / "copy.ome.tif"
    copy.write_bytes(acquisition.read_bytes())
    out = tmp_path / "out.ome.zarr"
    killed = run_cli("convert", str(copy), str(out), "--chunk", "32", "--quiet", kill_after=2)
    assert killed.returncode == -signal.SIGKILL
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert main(["convert", str(copy), str(out), "--chunk", "32", "--resume"]) == 2
    assert "modified_ns" in capsys.readouterr().err


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(acquisition, tmp_path):
    out = tmp_path / "out.ome.zarr"
    # Ctrl-C after the 5th of hundreds of blocks (chunk 16): still writing, however fast the machine
    process = subprocess.Popen(
        [sys.executable, "-m", "ngff_fuse.testing.crash", "--signal", "INT", "5",
         "convert", str(acquisition), str(out), "--chunk", "16"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    assert marker(out) == "incomplete"
    assert main(["convert", str(acquisition), str(out), "--chunk", "16", "--resume", "--quiet"]) == 0
    assert marker(out) == "complete"


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_resume_creates_the_levels_a_killed_run_never_created(acquisition, tmp_path, version):
    """A crash while the levels' arrays are being created leaves the upper ones out."""
    options = ["--chunk", "32", "--quiet", "--ngff", version]
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(acquisition), str(reference), *options]) == 0
    out = tmp_path / "out.ome.zarr"
    killed = run_cli("convert", str(acquisition), str(out), *options, kill_after=2)
    assert killed.returncode == -signal.SIGKILL and marker(out) == "incomplete"
    top = max(int(name) for name, _ in zarr.open_group(out, mode="r").arrays())
    shutil.rmtree(out / str(top))  # as if killed before creating the last level
    assert main(["convert", str(acquisition), str(out), *options, "--resume"]) == 0
    expected, got = arrays(reference), arrays(out)
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize("layout", [["--ngff", "0.4"], ["--ngff", "0.5", "--shard", "64"], ["--ngff", "0.6"]],
                         ids=["0.4", "0.5-sharded", "0.6"])
def test_resume_repairs_a_complete_store_and_touches_nothing_else(acquisition, tmp_path, capsys, layout):
    """`--resume` on a store marked complete rewrites exactly the chunks that are missing or do
    not decode, kept tiles included, back to the bytes an undamaged run wrote; every other file
    keeps its bytes and its modification time. A level-0 block rewritten gives the same
    pixels, so the levels above it stay as they are unless damaged themselves."""
    options = ["--chunk", "32", "--quiet", "--keep-tiles", *layout]
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(acquisition), str(out), *options]) == 0
    before = files_state(out)
    level0, level1, tile = chunk_files(out / "0"), chunk_files(out / "1"), chunk_files(out / "tiles" / "4" / "0")
    empty(level0[1])
    truncate(level0[-1])
    if inner_grid(out / "0"):  # zarr v3: a crc32c per chunk catches bytes flipped inside it
        flip(level0[2], 0, len(level0[2].read_bytes()) - 100)
    level1[0].unlink()
    truncate(tile[0])
    damaged = {key(out, f) for f in (level0[1], level0[-1], level1[0], tile[0])}
    if inner_grid(out / "0"):
        damaged.add(key(out, level0[2]))
    assert main(["validate", str(out), "--quiet"]) == 1
    capsys.readouterr()
    assert main(["convert", str(acquisition), str(out), *options, "--resume"]) == 0
    after = files_state(out)
    assert after.keys() == before.keys()
    for name, (mtime, data) in before.items():
        assert after[name][1] == data, name
        assert (after[name][0] != mtime) == (name in damaged), name
    assert marker(out) == "complete"
    assert main(["validate", str(out), "--quiet"]) == 0


def test_resume_of_a_sound_complete_store_writes_nothing(acquisition, tmp_path, capsys):
    options = ["--chunk", "32", "--ngff", "0.5", "--shard", "64", "--keep-tiles"]
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(acquisition), str(out), *options, "--quiet"]) == 0
    before = files_state(out)
    capsys.readouterr()
    assert main(["convert", str(acquisition), str(out), *options, "--resume"]) == 0
    assert "already complete, every block reads" in capsys.readouterr().out
    assert files_state(out) == before
    # the request is still checked
    assert main(["convert", str(acquisition), str(out), "--chunk", "64", "--resume"]) == 2
    assert "request differs" in capsys.readouterr().err


def test_resume_repairs_every_scene_of_a_complete_store(tmp_path):
    from ngff_fuse.fuse.core import fuse
    from ngff_fuse.testing import in_memory_tileset
    from ngff_fuse.writer import SceneImage, WriteOptions, write_scenes

    scenes = [SceneImage(fuse(in_memory_tileset(synthetic_mosaic(grid=(2, 2), tile_shape=(40, 40), seed=s))))
              for s in (1, 2)]
    out = tmp_path / "scenes.ome.zarr"
    write_scenes(scenes, out, WriteOptions(chunk=16))
    before = files_state(out)
    damaged = chunk_files(out / "1" / "0")[2]
    truncate(damaged)
    write_scenes(scenes, out, WriteOptions(chunk=16, resume=True))
    after = files_state(out)
    assert {name: data for name, (_, data) in after.items()} == {name: data for name, (_, data) in before.items()}
    assert [name for name in before if after[name][0] != before[name][0]] == [key(out, damaged)]
    assert marker(out) == "complete"


@pytest.mark.parametrize("layout", [["--ngff", "0.4"], ["--ngff", "0.5", "--shard", "64"]],
                         ids=["0.4", "0.5-sharded"])
def test_a_resumed_gzip_output_is_the_bytes_of_an_uninterrupted_one(acquisition, tmp_path, layout):
    """A resumed run opens its arrays from their stored metadata, where zarr rebuilds gzip as the
    codec that stamps each chunk with the time of writing: the chunks it adds must still be
    the bytes an uninterrupted run writes."""
    options = ["--chunk", "32", "--codec", "gzip", "--quiet", *layout]
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(acquisition), str(reference), *options]) == 0
    out = tmp_path / "out.ome.zarr"
    killed = run_cli("convert", str(acquisition), str(out), *options, kill_after=4)
    assert killed.returncode == -signal.SIGKILL
    time.sleep(1.1)  # gzip stamps whole seconds: the resumed chunks are written in another one
    done = run_cli("convert", str(acquisition), str(out), *options, "--resume")
    assert done.returncode == 0, done.stderr
    expected, got = ({key(store, f): f.read_bytes() for f in chunk_files(store)} for store in (reference, out))
    assert len(expected) > 8 and expected.keys() == got.keys()
    assert [name for name in expected if expected[name] != got[name]] == []
    if layout[1] == "0.4":  # bare gzip chunks: the header's MTIME field is 0 in every one
        assert all(data[4:8] == b"\0\0\0\0" for data in got.values())


@pytest.mark.parametrize("ngff", ["0.4", "0.5"])
def test_partial_chunk_writes_of_a_killed_run_are_gone_after_resume(acquisition, tmp_path, ngff):
    """zarr writes a chunk to `<key>.<uuid>.partial` and renames it; a run killed meanwhile
    leaves that file. The resumed store holds exactly the files an uninterrupted run writes."""
    import uuid

    options = ["--chunk", "32", "--quiet", "--ngff", ngff]
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(acquisition), str(reference), *options]) == 0
    out = tmp_path / "out.ome.zarr"
    assert run_cli("convert", str(acquisition), str(out), *options, kill_after=3).returncode == -signal.SIGKILL
    level0 = out / "0"
    left = [level0 / f"leftover.{uuid.uuid4().hex}.partial", out / f"zarr.json.{uuid.uuid4().hex}.partial"]
    for path in left:
        path.write_bytes(b"half a chunk")
    kept = level0 / "notes.partial"  # not zarr's pattern: not ours to remove
    kept.write_bytes(b"")
    done = run_cli("convert", str(acquisition), str(out), *options, "--resume")
    assert done.returncode == 0, done.stderr
    assert not any(path.exists() for path in left) and kept.exists()
    kept.unlink()
    files = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    assert files == {p.relative_to(reference) for p in reference.rglob("*") if p.is_file()}
