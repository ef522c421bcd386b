"""`ngff-fuse validate`: passes on what we write, names what is wrong otherwise."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.store import KILL_AFTER_ENV
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff


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
    assert "level 0 chunks all present: 1 missing, first 0/0/1" in failed
    assert "spot check" in failed
    main(["validate", str(out)])
    assert "FAIL" in capsys.readouterr().out


def test_interrupted_output_is_reported_incomplete(acquisition, tmp_path, capsys):
    out = tmp_path / "out.ome.zarr"
    code = "import sys; from ngff_fuse.cli import main; sys.exit(main(sys.argv[1:]))"
    killed = subprocess.run([sys.executable, "-c", code, "convert", str(acquisition), str(out), "--chunk", "32"],
                            env={**os.environ, KILL_AFTER_ENV: "2"}, capture_output=True, timeout=120)
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
