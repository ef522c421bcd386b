"""Hostile input and conditions: one line saying what is wrong and what to do, exit code 2
for bad input and 1 for a failure while running, no traceback, nothing that looks complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.tile_files import write_imagej_tiff, write_manifest, write_tileconfig

@pytest.fixture
def manifest_dir(tmp_path):
    write_manifest(synthetic_mosaic(grid=(2, 2), tile_shape=(30, 40)), tmp_path, kind="json")
    return tmp_path


def edit_manifest(folder: Path, change) -> Path:
    path = folder / "manifest.json"
    if not path.exists():
        path = next(folder.glob("*.json"))
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def fails(capsys, argv, code=2) -> str:
    assert main(argv) == code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_truncated_tiff_tile(manifest_dir, tmp_path, capsys):
    tile = manifest_dir / "tile_001.tif"
    tile.write_bytes(tile.read_bytes()[:200])
    out = tmp_path / "o.zarr"
    line = fails(capsys, ["convert", str(next(manifest_dir.glob("*.json"))), str(out)])
    assert "tile_001.tif" in line and "truncated" in line
    assert not out.exists()


def test_tile_that_is_not_an_image(manifest_dir, tmp_path, capsys):
    (manifest_dir / "tile_002.tif").write_text("this is a shopping list, not a TIFF")
    line = fails(capsys, ["convert", str(next(manifest_dir.glob("*.json"))), str(tmp_path / "o.zarr")])
    assert "tile_002.tif" in line and "cannot be read" in line


def test_duplicated_positions(manifest_dir, tmp_path, capsys):
    def duplicate(data):
        data["tiles"][1]["x"], data["tiles"][1]["y"] = data["tiles"][0]["x"], data["tiles"][0]["y"]
        data["tiles"][1]["tile"], data["tiles"][0]["tile"] = "b", "a"
    path = edit_manifest(manifest_dir, duplicate)
    line = fails(capsys, ["convert", str(path), str(tmp_path / "o.zarr")])
    assert "same position as" in line


def test_infinite_position_in_csv(tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(30, 40))
    path = write_manifest(mosaic, tmp_path, kind="csv")
    rows = path.read_text().splitlines()
    header = rows[0].split(",")
    cells = rows[1].split(",")
    cells[header.index("x")] = "inf"
    rows[1] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n")
    line = fails(capsys, ["convert", str(path), str(tmp_path / "o.zarr")])
    assert str(path) in line or path.name in line


def test_absurdly_far_apart_is_refused_before_writing(manifest_dir, tmp_path, capsys):
    def far(data):
        data["tiles"][-1]["x"] = 4e12  # 4,000 km away in micrometres
        data["tiles"][-1]["y"] = 4e12
    path = edit_manifest(manifest_dir, far)
    out = tmp_path / "o.zarr"
    line = fails(capsys, ["convert", str(path), str(out)])
    assert "tile_003.tif" in line and "check their positions" in line
    assert not out.exists()


def test_empty_and_schema_breaking_manifests(tmp_path, capsys):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"tiles": []}))
    assert "tiles" in fails(capsys, ["info", str(empty)])
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"tiles": [{"file": "a.tif", "x": "left", "y": 0}]}))
    assert "tiles[0].x" in fails(capsys, ["info", str(wrong)])


def test_mismatched_tiles(tmp_path, capsys):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(30, 40), channels=2)
    write_tileconfig(mosaic, tmp_path)
    config = next(tmp_path.glob("*.txt"))
    one_channel = np.zeros((1, 1, 1, 30, 40), np.uint16)
    write_imagej_tiff(tmp_path / "tile_001.tif", one_channel, spacing=mosaic.spacing)
    line = fails(capsys, ["convert", str(config), str(tmp_path / "o.zarr")])
    assert "channels" in line and "tile_001.tif" in line


def test_output_inside_the_input_and_output_is_input(tmp_path, capsys):
    folder = tmp_path / "export"
    folder.mkdir()
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(30, 40))
    config = write_tileconfig(mosaic, folder)
    assert "inside the input" in fails(capsys, ["convert", str(config), str(config)])
    assert "does not exist" in fails(capsys, ["convert", str(config), str(tmp_path / "no" / "o.zarr")])


def test_unreadable_input(tmp_path, monkeypatch, capsys):
    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(30, 40))
    config = write_tileconfig(mosaic, tmp_path)
    locked = tmp_path / "tile_001.tif"
    if os.geteuid() == 0:
        # root reads every file whatever its mode: make opening it fail as it would for a user
        real_open = open

        def denying_open(file, *args, **kwargs):
            if Path(str(file)) == locked:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr("builtins.open", denying_open)
    else:
        locked.chmod(0o000)
    line = fails(capsys, ["convert", str(config), str(tmp_path / "o.zarr")])
    assert "tile_001.tif" in line and "permission" in line.lower()


@contextlib.contextmanager
def tmpfs(options: str):
    """A small file system of its own, mounted for the test: read-only, or one that fills up."""
    mount = Path(tempfile.mkdtemp(prefix="ngff-fuse-tmpfs-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


@pytest.fixture
def read_only_folder():
    """A read-only file system: not even root may write there."""
    with tmpfs("ro,size=1m") as mount:
        yield mount


def test_read_only_output_folder(read_only_folder, tmp_path, capsys):
    config = write_tileconfig(synthetic_mosaic(grid=(1, 2), tile_shape=(30, 40)), tmp_path)
    line = fails(capsys, ["convert", str(config), str(read_only_folder / "o.zarr")])
    assert "not writable" in line


@pytest.fixture
def tiny_disk():
    """An 8 MiB file system: a disk that fills up mid-write."""
    with tmpfs("size=8m") as mount:
        yield mount


def test_full_disk_stops_clearly_and_resume_finishes(tiny_disk, tmp_path, capsys):
    source = tmp_path / "tiles.ome.tif"
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(300, 300), channels=2), source)
    ballast = tiny_disk / "ballast"
    ballast.write_bytes(b"\0" * (6 << 20))  # leave 2 MiB for a ~3.3 MB output
    out = tiny_disk / "out.ome.zarr"
    argv = ["convert", str(source), str(out), "--codec", "none", "--chunk", "128", "--quiet"]
    line = fails(capsys, argv, code=1)
    assert "No space left on device" in line and "--resume" in line
    assert dict(zarr.open_group(out, mode="r").attrs)["ngff_fuse"]["status"] == "incomplete"
    ballast.unlink()
    assert main([*argv, "--resume"]) == 0
    reference = tmp_path / "reference.ome.zarr"
    assert main(["convert", str(source), str(reference), "--codec", "none", "--chunk", "128", "--quiet"]) == 0
    for name in ("0", "1"):
        assert np.array_equal(zarr.open_array(out / name, mode="r")[:],
                              zarr.open_array(reference / name, mode="r")[:])
