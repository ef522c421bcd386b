"""What `convert` may do to an output: never delete what ngff-fuse did not write, replace a store
only by a complete one, one writer at a time, and fail (naming the file) when an input changes
under it. Every refusal is one line and comes before any work."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from ngff_fuse.cli import main
from ngff_fuse.errors import InputError
from ngff_fuse.output import check_resumable
from ngff_fuse.output_lock import lock_path
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.testing.tile_files import write_manifest
from test_bad_input import tmpfs
from test_resume import arrays, marker, run_cli

OPTIONS = ["--chunk", "16", "--quiet"]
CODE = "import sys; from ngff_fuse.cli import main; sys.exit(main(sys.argv[1:]))"


def tree(path: Path) -> dict[str, bytes]:
    """Every file under `path` (and where each symlink points), for byte-for-byte comparisons."""
    found = {}
    for item in sorted(path.rglob("*")):
        key = str(item.relative_to(path))
        if item.is_symlink():
            found[key] = os.readlink(item).encode()
        elif item.is_file():
            found[key] = item.read_bytes()
    return found


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture
def tiles(tmp_path) -> Path:
    """A tile manifest of 2 x 2 small TIFF tiles, each tile compressed (zlib) in its own file."""
    manifest = write_manifest(synthetic_mosaic(grid=(2, 2), tile_shape=(30, 40), seed=3), tmp_path / "in")
    for tile in sorted(manifest.parent.glob("tile_*.tif")):
        tifffile.imwrite(tile, tifffile.imread(tile), compression="zlib")
    return manifest


@pytest.fixture
def old_output(tiles, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """A finished output of `tiles` (max blend) and its bytes."""
    out = tmp_path / "out.ome.zarr"
    assert main(["convert", str(tiles), str(out), *OPTIONS, "--blend", "max"]) == 0
    return out, tree(out)


def convert_argv(tiles: Path, out: Path, *extra: str) -> list[str]:
    return ["convert", str(tiles), str(out), *OPTIONS, *extra]


# -- 1. data that is not ours is never deleted ----------------------------------------------------

@pytest.mark.parametrize("metadata", ["zarr.json", ".zattrs"])
def test_overwrite_never_deletes_a_folder_that_merely_holds_zarr_metadata(tiles, tmp_path, capsys, metadata):
    """A project folder with a stray zarr.json (or .zattrs) was deleted whole, raw data and
    analysis with it."""
    project = tmp_path / "project"
    (project / "raw").mkdir(parents=True)
    (project / "analysis").mkdir()
    (project / "raw" / "scan_001.tif").write_bytes(b"II*\0 raw pixels")
    (project / "analysis" / "results.csv").write_text("cell,area\n1,42\n")
    (project / metadata).write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}
                                               if metadata == "zarr.json" else {"note": "mine"}))
    before = tree(project)
    assert main(convert_argv(tiles, project, "--overwrite")) == 2
    line = one_line(capsys)
    assert str(project) in line and "will not delete" in line
    assert tree(project) == before


@pytest.mark.parametrize("added", ["analysis/results.csv", "notes.txt", "labels", "link"])
def test_overwrite_never_deletes_what_was_added_to_our_store(old_output, tiles, tmp_path, capsys, added):
    """ngff-fuse's own store, with something of the user's inside: a file, a folder, a labels
    group another tool wrote, a symbolic link to data elsewhere."""
    out, _ = old_output
    if added == "labels":
        zarr.open_group(out / "labels", mode="w", zarr_format=3).attrs["labels"] = ["cells"]
    elif added == "link":
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "data.tif").write_bytes(b"precious")
        (out / "link").symlink_to(tmp_path / "elsewhere")
    else:
        (out / added).parent.mkdir(exist_ok=True)
        (out / added).write_text("mine")
    before = tree(out)
    assert main(convert_argv(tiles, out, "--overwrite")) == 2
    line = one_line(capsys)
    assert added.split("/")[0] in line and "did not write" in line
    assert tree(out) == before


@pytest.mark.parametrize("where", ["tiles in a folder of the store", "tiles inside a level",
                                   "positions file inside"])
def test_overwrite_never_deletes_a_store_holding_the_input(old_output, tiles, tmp_path, capsys, where):
    """The input's tiles inside the old output were deleted, then --resume was suggested."""
    out, _ = old_output
    manifest = json.loads(tiles.read_text())
    extra = []
    if where == "positions file inside":
        positions = out / "0" / "positions.json"
        assert main(["register", str(tiles), "--out", str(tmp_path / "positions.json"), "--quiet"]) == 0
        positions.write_bytes((tmp_path / "positions.json").read_bytes())
        extra = ["--positions", str(positions)]
        source = tiles
    else:
        inner = out / ("raw" if where == "tiles in a folder of the store" else "0")
        inner.mkdir(exist_ok=True)
        for tile in manifest["tiles"]:
            (inner / tile["file"]).write_bytes((tiles.parent / tile["file"]).read_bytes())
            tile["file"] = str(inner / tile["file"])
        source = tmp_path / "inside.json"
        source.write_text(json.dumps(manifest))
    before = tree(out)
    assert main(convert_argv(source, out, "--overwrite", *extra)) == 2
    line = one_line(capsys)
    assert str(out) in line and "will not" in line
    assert tree(out) == before


def test_a_symlinked_output_is_followed_to_our_store_and_never_to_a_foreign_one(old_output, tiles, tmp_path,
                                                                                   capsys):
    """OUTPUT -> our store: the store behind the link is replaced, the link stays a link.
    OUTPUT -> someone's folder: refused, nothing deleted, the link left as it was."""
    out, _ = old_output
    link = tmp_path / "current.ome.zarr"
    link.symlink_to(out)
    assert main(convert_argv(tiles, link, "--overwrite", "--blend", "mean")) == 0
    assert link.is_symlink() and link.resolve() == out
    attrs = dict(zarr.open_group(out, mode="r").attrs)
    assert attrs["ngff_fuse"]["status"] == "complete"
    assert attrs["ome"]["multiscales"][0]["metadata"]["blend"] == "mean"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current.ome.zarr", "in", "out.ome.zarr"]

    foreign = tmp_path / "someone"
    foreign.mkdir()
    (foreign / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
    (foreign / "thesis.docx").write_text("years of work")
    other = tmp_path / "other.ome.zarr"
    other.symlink_to(foreign)
    before = tree(foreign)
    assert main(convert_argv(tiles, other, "--overwrite")) == 2
    assert "will not delete" in one_line(capsys)
    assert other.is_symlink() and tree(foreign) == before


# -- replaced only by a complete store -------------------------------------------------------------

def test_killed_overwrite_leaves_the_old_output_and_resume_swaps_the_new_one_in(old_output, tiles, tmp_path,
                                                                                capsys):
    out, before = old_output
    killed = run_cli(*convert_argv(tiles, out, "--overwrite"), kill_after=3)
    assert killed.returncode == -signal.SIGKILL
    assert tree(out) == before
    staging = out.with_name(out.name + ".ngff-fuse-staging")
    assert marker(staging) == "incomplete"
    # a run without --resume or --overwrite is told what is there
    assert main(convert_argv(tiles, out)) == 2
    assert "--resume" in one_line(capsys)
    assert main(convert_argv(tiles, out, "--resume")) == 0
    reference = tmp_path / "reference.ome.zarr"
    assert main(convert_argv(tiles, reference)) == 0
    assert marker(out) == "complete"
    expected, got = arrays(reference), arrays(out)
    assert expected.keys() == got.keys() and all(np.array_equal(expected[k], got[k]) for k in expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.ome.zarr", "reference.ome.zarr"]


def test_corrupt_tile_fails_naming_it_and_leaves_the_old_output(old_output, tiles, capsys):
    """A tile whose compressed pixels do not decode is found mid-run: one line naming it
    (not "unexpected error: DeflateError"), and the old output as it was."""
    out, before = old_output
    broken = tiles.parent / "tile_002.tif"
    with tifffile.TiffFile(broken) as tif:
        start, length = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    data = bytearray(broken.read_bytes())
    data[start + length // 3: start + length // 3 + 64] = bytes(range(64))
    broken.write_bytes(bytes(data))
    assert main(convert_argv(tiles, out, "--overwrite")) == 2
    line = one_line(capsys)
    assert "tile_002.tif" in line and "unexpected" not in line and "unchanged" in line
    assert tree(out) == before


@pytest.fixture
def tiny_disk():
    with tmpfs("size=8m") as mount:
        yield mount


def test_full_disk_during_overwrite_leaves_the_old_output_and_resume_finishes(tiny_disk, tmp_path, capsys):
    source = write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(300, 300), channels=2),
                            tmp_path / "tiles.ome.tif")
    argv = ["convert", str(source), str(tiny_disk / "out.ome.zarr"), "--codec", "none", "--chunk", "128",
            "--quiet"]
    out = tiny_disk / "out.ome.zarr"
    assert main([*argv, "--levels", "1"]) == 0  # ~3.3 MB
    before = tree(out)
    ballast = tiny_disk / "ballast"
    ballast.write_bytes(b"\0" * (3 << 20))  # ~1.5 MiB left for a ~3.5 MB replacement
    assert main([*argv, "--overwrite"]) == 1
    line = one_line(capsys)
    assert "No space left on device" in line and "--resume" in line and "unchanged" in line
    assert tree(out) == before
    ballast.unlink()
    assert main([*argv, "--resume"]) == 0
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(source), str(reference), "--codec", "none", "--chunk", "128", "--quiet"]) == 0
    expected, got = arrays(reference), arrays(out)
    assert expected.keys() == got.keys() and all(np.array_equal(expected[k], got[k]) for k in expected)
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["out.ome.zarr"]


def test_disk_full_at_the_final_metadata_write_is_one_line_and_resumable(tiles, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.ome.zarr"
    real_put = zarr.core.attributes.Attributes.put

    def full(self, attributes):
        if (attributes.get("ngff_fuse") or {}).get("status") == "complete":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_put(self, attributes)

    monkeypatch.setattr(zarr.core.attributes.Attributes, "put", full)
    assert main(convert_argv(tiles, out)) == 1
    line = one_line(capsys)
    assert "No space left on device" in line and "--resume" in line and "unexpected" not in line
    assert marker(out) == "incomplete"
    monkeypatch.setattr(zarr.core.attributes.Attributes, "put", real_put)
    assert main(convert_argv(tiles, out, "--resume")) == 0
    assert marker(out) == "complete"


def test_fuse_store_in_place_never_deletes_what_was_added_to_the_store(tmp_path, capsys):
    source = write_ome_tiff(synthetic_mosaic(grid=(1, 2), tile_shape=(30, 40)), tmp_path / "tiles.ome.tif")
    store = tmp_path / "kept.ome.zarr"
    assert main(["convert", str(source), str(store), *OPTIONS, "--keep-tiles"]) == 0
    (store / "analysis").mkdir()
    (store / "analysis" / "results.csv").write_text("cell,area\n")
    before = tree(store)
    assert main(["fuse-store", str(store), *OPTIONS, "--blend", "max"]) == 2
    assert "analysis" in one_line(capsys)
    assert tree(store) == before


def test_fuse_store_in_place_killed_leaves_the_store_and_resume_replaces_it(tmp_path, capsys):
    """In-place re-fusion shares the staging of --overwrite: killed, the store is as it was;
    --resume finishes the replacement."""
    source = write_ome_tiff(synthetic_mosaic(grid=(2, 2), tile_shape=(40, 50)), tmp_path / "tiles.ome.tif")
    store = tmp_path / "kept.ome.zarr"
    assert main(["convert", str(source), str(store), *OPTIONS, "--keep-tiles"]) == 0
    before = tree(store)
    killed = run_cli("fuse-store", str(store), *OPTIONS, "--blend", "max", kill_after=3)
    assert killed.returncode == -signal.SIGKILL
    assert tree(store) == before
    assert main(["fuse-store", str(store), *OPTIONS, "--blend", "max"]) == 2
    assert "--resume" in one_line(capsys)
    assert main(["fuse-store", str(store), *OPTIONS, "--blend", "max", "--resume"]) == 0
    attrs = dict(zarr.open_group(store, mode="r").attrs)
    assert attrs["ngff_fuse"]["status"] == "complete"
    assert attrs["ome"]["multiscales"][0]["metadata"]["blend"] == "max"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.ome.zarr", "tiles.ome.tif"]


# -- 2. one writer per output ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def acquisition(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lock") / "tiles.ome.tif"
    write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(90, 110), channels=2), path)
    return path


def test_a_second_writer_is_refused_naming_the_first(acquisition, tmp_path, capsys):
    """Two converts into one output both exited 0 (A's metadata on B's pixels), and --overwrite
    under a running convert left a "complete" store without level 0."""
    out = tmp_path / "out.ome.zarr"
    first = subprocess.Popen([sys.executable, "-c", CODE, "convert", str(acquisition), str(out), "--chunk", "16"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in first.stdout:
            if line.startswith("writing level 0: 0/"):
                break
        first.send_signal(signal.SIGSTOP)  # paused mid-write, holding the output
        for extra in ([], ["--overwrite"], ["--resume"]):
            assert main(["convert", str(acquisition), str(out), "--chunk", "16", "--quiet", *extra]) == 1
            line = one_line(capsys)
            assert f"pid {first.pid} on {socket.gethostname()}" in line and "another ngff-fuse run" in line
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(acquisition), str(reference), "--chunk", "16", "--quiet"]) == 0
    assert dict(zarr.open_group(out, mode="r").attrs) == dict(zarr.open_group(reference, mode="r").attrs)
    expected, got = arrays(reference), arrays(out)
    assert all(np.array_equal(expected[k], got[k]) for k in expected)
    assert not lock_path(out).exists()


def test_the_lock_of_a_killed_run_is_taken_over(acquisition, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    killed = run_cli("convert", str(acquisition), str(out), *OPTIONS, kill_after=3)
    assert killed.returncode == -signal.SIGKILL
    record = json.loads(lock_path(out).read_text())
    assert record["host"] == socket.gethostname() and record["pid"] != os.getpid()
    # taken over (and said so), then the output that is there is refused: --resume finishes it
    assert main(["convert", str(acquisition), str(out), "--chunk", "16"]) == 2
    captured = capsys.readouterr()
    assert f"pid {record['pid']}" in captured.out and "--resume" in captured.err
    assert not lock_path(out).exists()
    killed = run_cli("convert", str(acquisition), str(out), *OPTIONS, "--resume", kill_after=3)
    assert killed.returncode == -signal.SIGKILL and lock_path(out).exists()
    assert main(["convert", str(acquisition), str(out), *OPTIONS, "--resume"]) == 0
    assert marker(out) == "complete" and not lock_path(out).exists()


def test_a_lock_from_another_host_is_left_to_the_user(acquisition, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    lock = lock_path(out)
    lock.write_text(json.dumps({"pid": 4242, "host": "microscope-pc", "started": "2025-01-01 09:00:00",
                                "command": "ngff-fuse convert a.czi out.ome.zarr"}))
    assert main(["convert", str(acquisition), str(out), *OPTIONS]) == 1
    line = one_line(capsys)
    assert "microscope-pc" in line and str(lock) in line
    assert not out.exists()
    lock.unlink()
    assert main(["convert", str(acquisition), str(out), *OPTIONS]) == 0


def test_without_flock_the_record_decides(acquisition, tmp_path, monkeypatch, capsys):
    """File systems without flock (Lustre's default): a lock naming a live process of this host
    holds, one naming a process that is gone is taken over."""
    import fcntl

    def no_flock(fd, operation):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    out = tmp_path / "out.ome.zarr"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        for pid, code in ((sleeper.pid, 1), (gone.pid, 0)):
            lock_path(out).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                                  "started": "2025-01-01 09:00:00", "command": "ngff-fuse"}))
            assert main(["convert", str(acquisition), str(out), *OPTIONS]) == code
            if code:
                assert f"pid {pid}" in one_line(capsys)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert marker(out) == "complete" and not lock_path(out).exists()


# -- inputs checked at the end and on resume --------------------------------------------------------

@pytest.fixture
def plain_tiles(tmp_path) -> Path:
    """A tile manifest of 2 x 2 small uncompressed TIFF tiles."""
    return write_manifest(synthetic_mosaic(grid=(2, 2), tile_shape=(30, 40), seed=3), tmp_path / "plain")


def rewrite(tile: Path, keep_mtime: bool) -> None:
    """Other pixels in the same file, of the same size: a tile exported again, its mtime kept
    (`cp -p`, a restored backup) or not."""
    stat = tile.stat()
    with tifffile.TiffFile(tile) as tif:
        start, length = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    data = bytearray(tile.read_bytes())
    data[start:start + length] = bytes(255 - b for b in data[start:start + length])
    tile.write_bytes(bytes(data))
    later = stat.st_mtime_ns + (0 if keep_mtime else 10**9)
    os.utime(tile, ns=(stat.st_atime_ns, later))
    assert tile.stat().st_size == stat.st_size and (tile.stat().st_mtime_ns == stat.st_mtime_ns) == keep_mtime


@pytest.mark.parametrize("kept", [True, False], ids=["size-and-mtime-kept", "mtime-changed"])
def test_a_tile_rewritten_during_the_run_fails_it_naming_the_tile(plain_tiles, tmp_path, monkeypatch, capsys,
                                                                  kept):
    out = tmp_path / "out.ome.zarr"
    from ngff_fuse import writer

    real = writer.store_pyramids

    def then_rewrite(*args, **kwargs):
        real(*args, **kwargs)
        rewrite(plain_tiles.parent / "tile_001.tif", kept)

    monkeypatch.setattr(writer, "store_pyramids", then_rewrite)
    assert main(convert_argv(plain_tiles, out)) == 2
    line = one_line(capsys)
    assert "tile_001.tif" in line and "changed while it was converted" in line
    assert ("content fingerprint" in line) == kept
    assert marker(out) == "incomplete"
    assert "multiscales" not in str(dict(zarr.open_group(out, mode="r").attrs))


def test_resume_refuses_an_input_whose_content_changed_with_size_and_mtime_kept(plain_tiles, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    killed = run_cli(*convert_argv(plain_tiles, out), kill_after=3)
    assert killed.returncode == -signal.SIGKILL
    rewrite(plain_tiles.parent / "tile_003.tif", keep_mtime=True)
    assert main(convert_argv(plain_tiles, out, "--resume")) == 2
    line = one_line(capsys)
    assert "tile_003.tif" in line and "content fingerprint" in line
    assert marker(out) == "incomplete"


def test_resume_refusal_is_one_short_line_however_many_inputs(tiles, tmp_path, capsys):
    """The refusal printed the whole input list twice: 1.96 MB for 10,000 tiles."""
    out = tmp_path / "out.ome.zarr"
    killed = run_cli(*convert_argv(tiles, out), kill_after=3)
    assert killed.returncode == -signal.SIGKILL
    group = zarr.open_group(out, mode="r+")
    record = group.attrs["ngff_fuse"]
    inputs = record["request"]["inputs"]
    first = inputs[0]
    many = [{**first, "path": str(tiles.parent / f"tile_{i:05d}.tif")} for i in range(10_000)]
    group.attrs["ngff_fuse"] = {**record, "request": {**record["request"], "inputs": inputs + many}}
    assert main(convert_argv(tiles, out, "--resume")) == 2
    line = one_line(capsys)
    assert len(line) < 400 and "tile_00000.tif" in line
    # and an option: named with its two values
    request = dict(record["request"])
    with pytest.raises(InputError) as refused:
        check_resumable(out, {**request, "inputs": inputs + many, "write": {**request["write"], "chunk": 64}})
    assert "write.chunk: 16 then, 64 now" in str(refused.value) and len(str(refused.value)) < 400


# -- the output is checked before the input is read -------------------------------------------------

@pytest.fixture
def reading_forbidden(monkeypatch):
    def read(*args, **kwargs):
        raise AssertionError("the input was read before the output was checked")

    # (the package exports the function `convert`, which hides the module of that name; the
    # CLI imports `open_input` from that module when a command runs, so this patches it too)
    monkeypatch.setattr(sys.modules["ngff_fuse.convert"], "open_input", read)


@pytest.mark.parametrize("case", ["output exists", "missing folder", "preview in a missing folder",
                                  "register --out in a missing folder", "layout in a missing folder"])
def test_outputs_are_checked_before_the_input_is_read(old_output, tiles, tmp_path, capsys, case, request):
    out, _ = old_output
    missing = tmp_path / "no" / "such"
    argv = {
        "output exists": convert_argv(tiles, out),
        "missing folder": convert_argv(tiles, missing / "o.zarr"),
        "preview in a missing folder": convert_argv(tiles, tmp_path / "new.zarr", "--preview", str(missing / "p.png")),
        "register --out in a missing folder": ["register", str(tiles), "--out", str(missing / "p.json")],
        "layout in a missing folder": ["layout", str(tiles), str(missing / "layout.png")],
    }[case]
    request.getfixturevalue("reading_forbidden")
    assert main(argv) == 2
    assert ("exists" if case == "output exists" else "does not exist") in one_line(capsys)


def test_unwritable_output_folder_is_refused_before_the_input_is_read(tiles, reading_forbidden, capsys):
    with tmpfs("ro,size=1m") as mount:
        assert main(convert_argv(tiles, mount / "o.zarr")) == 2
        assert "not writable" in one_line(capsys)
