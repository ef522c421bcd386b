"""Writing to gs:// and az://: real emulators on loopback, no mock (fake-gcs-server for Google
Cloud Storage, Azurite for Azure Blob Storage; `ngff_fuse.testing.cloud_emulators`). The
oracle is a local convert of the same input: every object written must be byte for byte the
file written locally, under the same relative name."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from ngff_fuse.testing import cloud_emulators  # first: it keeps gcsfs off the GCS control plane
from ngff_fuse.cli import main
from ngff_fuse.output_lock import LOCK_SUFFIX
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from object_store_checks import check_one_writer

OPTIONS = ["--chunk", "32", "--quiet"]
LAYOUTS = {"0.4": ["--ngff", "0.4"], "0.5-sharded": ["--ngff", "0.5", "--shard", "64"]}


@pytest.fixture(scope="session")
def gs_server(tmp_path_factory):
    """fake-gcs-server for the session; the test extra installs it, so failing to start fails."""
    try:
        with cloud_emulators.fake_gcs(tmp_path_factory.mktemp("fake-gcs")) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(f"the GCS test server: {exc}")


@pytest.fixture(scope="session")
def az_server(tmp_path_factory):
    """Azurite for the session, installed with npm the first time; skipped only without npm."""
    try:
        with cloud_emulators.azurite(tmp_path_factory.mktemp("azurite")) as server:
            yield server
    except cloud_emulators.ToolMissing as exc:
        pytest.skip(str(exc))
    except RuntimeError as exc:
        pytest.fail(f"the Azure test server: {exc}")


@pytest.fixture(params=["gs", "az"])
def cloud(request) -> cloud_emulators.CloudServer:
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
def bucket(cloud, request) -> str:
    """A new, empty bucket (container) for one test: `SCHEME://NAME`."""
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    name = re.sub(r"-+", "-", name)  # Azure refuses consecutive dashes in a container name
    cloud.filesystem().mkdir(name)
    return f"{cloud.scheme}://{name}"


@pytest.fixture(scope="module")
def tif(tmp_path_factory) -> Path:
    return write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(90, 110), channels=2),
                          tmp_path_factory.mktemp("clouds") / "tiles.ome.tif")


def local_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def remote_files(cloud, url: str) -> dict[str, bytes]:
    fs, root = cloud.filesystem(), url.split("://", 1)[1]
    return {key[len(root) + 1:]: fs.cat_file(key) for key in sorted(fs.find(root + "/"))
            if key.startswith(root + "/")}


def local_convert(tif: Path, tmp_path: Path, options: list[str]) -> dict[str, bytes]:
    local = tmp_path / "local.ome.zarr"
    assert main(["convert", str(tif), str(local), *options]) == 0
    return local_files(local)


def run(*args: str, kill_after: int | None = None) -> subprocess.CompletedProcess:
    """The CLI in a child process; `kill_after`: SIGKILLed once it has written that many blocks."""
    command = (["-m", "ngff_fuse.testing.crash", str(kill_after)] if kill_after is not None else
               ["-c", "import sys; from ngff_fuse.cli import main; sys.exit(main(sys.argv[1:]))"])
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_convert_to_the_url_is_byte_identical_to_a_local_convert(tif, tmp_path, cloud, bucket, layout, capsys):
    options = [*OPTIONS, *LAYOUTS[layout]]
    expected = local_convert(tif, tmp_path, options)
    url = f"{bucket}/out.ome.zarr"
    assert main(["convert", str(tif), url, *options, *cloud.cli_options()]) == 0
    assert remote_files(cloud, url) == expected
    assert not cloud.filesystem().exists(f"{url}{LOCK_SUFFIX}".split("://", 1)[1])  # released
    assert main(["validate", url, "--quiet", *cloud.cli_options()]) == 0
    chunk = next(name for name in sorted(expected) if re.fullmatch(r"0/(c/)?0/0/0(/0)?", name))
    cloud.filesystem().rm_file(f"{url}/{chunk}".split("://", 1)[1])
    capsys.readouterr()
    assert main(["validate", url, *cloud.cli_options()]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "missing" in out


def test_credentials_and_endpoint_from_the_clouds_standard_variables(tif, tmp_path, cloud, bucket, monkeypatch):
    """STORAGE_EMULATOR_HOST (gcsfs) and AZURE_STORAGE_CONNECTION_STRING (adlfs), no option."""
    for name, value in cloud.environment.items():
        monkeypatch.setenv(name, value)
    url = f"{bucket}/env.ome.zarr"
    assert main(["convert", str(tif), url, *OPTIONS]) == 0
    assert remote_files(cloud, url) == local_convert(tif, tmp_path, OPTIONS)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_killed_at_40_percent_then_resumed_gives_the_local_bytes(tif, tmp_path, cloud, bucket, layout, capsys):
    options = [*OPTIONS, *LAYOUTS[layout]]
    expected = local_convert(tif, tmp_path, options)
    blocks = sum(1 for name in expected if not name.split("/")[-1].startswith((".z", "zarr.json")))
    url = f"{bucket}/out.ome.zarr"
    killed = run("convert", str(tif), url, *options, *cloud.cli_options(), kill_after=max(1, blocks * 4 // 10))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    partial = remote_files(cloud, url)
    assert 0 < len(partial) < len(expected)
    assert main(["convert", str(tif), url, *options, *cloud.cli_options()]) == 2
    assert "it was left incomplete: --resume finishes it" in capsys.readouterr().err
    done = run("convert", str(tif), url, *options, "--resume", *cloud.cli_options())
    assert done.returncode == 0, done.stderr
    assert remote_files(cloud, url) == expected


def test_overwrite_replaces_our_own_store_and_refuses_another(tif, cloud, bucket, capsys):
    fs, root = cloud.filesystem(), bucket.split("://", 1)[1]
    fs.pipe_file(f"{root}/theirs.ome.zarr/notes.txt", b"keep me")
    assert main(["convert", str(tif), f"{bucket}/theirs.ome.zarr", *OPTIONS, "--overwrite",
                 *cloud.cli_options()]) == 2
    assert "not a zarr store ngff-fuse wrote" in capsys.readouterr().err
    assert fs.cat_file(f"{root}/theirs.ome.zarr/notes.txt") == b"keep me"
    url = f"{bucket}/ours.ome.zarr"
    assert main(["convert", str(tif), url, *OPTIONS, "--ngff", "0.4", *cloud.cli_options()]) == 0
    assert main(["convert", str(tif), url, *OPTIONS, "--ngff", "0.5", "--overwrite", *cloud.cli_options()]) == 0
    names = remote_files(cloud, url)
    assert "zarr.json" in names and ".zattrs" not in names  # the 0.4 store is gone, not merged into


def test_the_store_grants_the_lock_object_to_one_of_two_writers(cloud, bucket):
    """The conditional create (ifGenerationMatch=0 on GCS, If-None-Match: * on Azure) is what
    the one-writer lock rests on: of two creates of one object exactly one succeeds."""
    from ngff_fuse.storage import location

    check_one_writer(location(f"{bucket}/race.ome.zarr", cloud.options))


def test_preview_of_the_url_draws_what_the_local_store_draws(tif, tmp_path, cloud, bucket):
    import matplotlib.image

    local = tmp_path / "out.ome.zarr"
    assert main(["convert", str(tif), str(local), *OPTIONS]) == 0
    url = f"{bucket}/out.ome.zarr"
    assert main(["convert", str(tif), url, *OPTIONS, *cloud.cli_options()]) == 0
    assert main(["preview", str(local), str(tmp_path / "local.png"), "--quiet"]) == 0
    assert main(["preview", url, str(tmp_path / "remote.png"), "--quiet", *cloud.cli_options()]) == 0
    drawn = [matplotlib.image.imread(tmp_path / name) for name in ("local.png", "remote.png")]
    assert drawn[0].std() > 0 and np.array_equal(*drawn)


def test_a_missing_bucket_is_refused_before_any_work(tif, cloud, capsys):
    url = f"{cloud.scheme}://no-such-bucket-here/out.ome.zarr"
    assert main(["convert", str(tif), url, *OPTIONS, *cloud.cli_options()]) == 2
    assert "no bucket no-such-bucket-here; create it first" in capsys.readouterr().err


def test_the_abfs_scheme_names_the_same_azure_container(tif, tmp_path, az_server):
    """abfs:// is adlfs's other name for az://: a store written through one is the other's."""
    name = f"abfs-{uuid.uuid4().hex[:8]}"
    az_server.filesystem().mkdir(name)
    assert main(["convert", str(tif), f"abfs://{name}/out.ome.zarr", *OPTIONS, *az_server.cli_options()]) == 0
    assert remote_files(az_server, f"az://{name}/out.ome.zarr") == local_convert(tif, tmp_path, OPTIONS)
    assert main(["validate", f"az://{name}/out.ome.zarr", "--quiet", *az_server.cli_options()]) == 0


def test_a_run_in_a_process_of_its_own_prints_nothing_but_its_one_line(tif, cloud, bucket):
    """gcsfs's and adlfs's asynchronous clients could not be closed at exit once zarr's loop
    was gone: every run ended with a traceback, even after a one-line refusal."""
    url = f"{bucket}/out.ome.zarr"
    first = run("convert", str(tif), url, *OPTIONS, "--ngff", "0.5", "--shard", "64", *cloud.cli_options())
    assert (first.returncode, first.stderr) == (0, "")
    again = run("convert", str(tif), url, *OPTIONS, *cloud.cli_options())
    assert (again.returncode, again.stderr) == (
        2, f"ngff-fuse: error: {url}: output exists; pass --overwrite or choose another path\n")


def test_a_cluster_of_processes_writes_the_bytes_of_an_in_process_run(tif, tmp_path, cloud, bucket):
    """The store, its client and the credentials travel to two worker processes, which write
    their blocks straight to the URL."""
    from distributed import LocalCluster

    options = [*OPTIONS, "--ngff", "0.5", "--shard", "64"]
    expected = local_convert(tif, tmp_path, options)
    url = f"{bucket}/out.ome.zarr"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      local_directory=str(tmp_path / "workers")) as cluster:
        assert main(["convert", str(tif), url, *options, "--scheduler", cluster.scheduler_address,
                     *cloud.cli_options()]) == 0
    assert remote_files(cloud, url) == expected
