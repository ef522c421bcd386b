"""Writing to an object store: a real S3 server (SeaweedFS, `s3_server` in conftest) on
loopback, no mock. The oracle is a local convert of the same input: every object written to
S3 must be byte for byte the file written locally, under the same relative name."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

from ngff_fuse.cli import main
from ngff_fuse.output_lock import LOCK_SUFFIX
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.imagexpress import write_imagexpress
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from object_store_checks import check_one_writer

OPTIONS = ["--chunk", "32", "--quiet"]
KINDS = {
    "0.4": ["--ngff", "0.4"],
    "0.5-sharded": ["--ngff", "0.5", "--shard", "64"],
    "0.6-kept-tiles": ["--ngff", "0.6", "--keep-tiles"],
    "scenes-0.5": ["--ngff", "0.5", "--no-hcs"],  # the wells as bioformats2raw scenes
    "plate-0.5": ["--ngff", "0.5"],  # the wells as an NGFF HCS plate
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("object-store")
    tif = write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(90, 110), channels=2), folder / "tiles.ome.tif")
    wells = {well: synthetic_mosaic(grid=(2, 2), tile_shape=(41, 49), channels=2, seed=seed)
             for well, seed in (("A01", 11), ("B02", 12))}
    return {"tif": tif, "plate": write_imagexpress(wells, folder / "plate")}


def local_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def s3_files(server, url: str) -> dict[str, bytes]:
    fs = server.filesystem()
    root = url.removeprefix("s3://")
    return {key[len(root) + 1:]: fs.cat_file(key) for key in sorted(fs.find(root + "/"))
            if key.startswith(root + "/")}


def run(*args: str, kill_after: int | None = None) -> subprocess.CompletedProcess:
    """The CLI in a child process; `kill_after`: SIGKILLed once it has written that many blocks."""
    command = (["-m", "ngff_fuse.testing.crash", str(kill_after)] if kill_after is not None else
               ["-c", "import sys; from ngff_fuse.cli import main; sys.exit(main(sys.argv[1:]))"])
    return subprocess.run([sys.executable, *command, *args], capture_output=True, text=True,
                          timeout=180)


@pytest.mark.parametrize("kind", KINDS)
def test_every_output_kind_on_s3_is_byte_identical_to_a_local_convert(inputs, tmp_path, s3_server, bucket, kind):
    source = inputs["plate" if kind.startswith(("scenes", "plate")) else "tif"]
    options = [*OPTIONS, *KINDS[kind]]
    local = tmp_path / "out.ome.zarr"
    assert main(["convert", str(source), str(local), *options]) == 0
    url = f"{bucket}/out.ome.zarr"
    assert main(["convert", str(source), url, *options, *s3_server.cli_options()]) == 0
    expected, written = local_files(local), s3_files(s3_server, url)
    assert written.keys() == expected.keys()
    assert all(written[name] == expected[name] for name in expected)
    assert main(["validate", url, "--quiet", *s3_server.cli_options()]) == 0
    assert not s3_server.filesystem().exists(f"{url}{LOCK_SUFFIX}".removeprefix("s3://"))  # released


def test_illumination_profiles_go_into_the_store_on_s3_too(tmp_path, s3_server, bucket):
    """--flatfield auto --equalize: the image's illumination/ group (profiles, tile gains) is
    written through the store like everything else, byte for byte the local one."""
    from ngff_fuse.testing.illumination import vignetted_mosaic

    source = write_ome_tiff(vignetted_mosaic(grid=(4, 4), tile_shape=(64, 72), seed=3).mosaic,
                            tmp_path / "vignetted.ome.tif")
    options = [*OPTIONS, "--flatfield", "auto", "--equalize"]
    local, url = tmp_path / "flat.ome.zarr", f"{bucket}/flat.ome.zarr"
    assert main(["convert", str(source), str(local), *options]) == 0
    assert main(["convert", str(source), url, *options, *s3_server.cli_options()]) == 0
    expected, written = local_files(local), s3_files(s3_server, url)
    assert any(name.startswith("illumination/tile_gains/") for name in expected)
    assert written == expected


def test_credentials_and_endpoint_from_the_standard_aws_variables(inputs, tmp_path, s3_server, bucket,
                                                                  monkeypatch):
    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    url = f"{bucket}/env.ome.zarr"
    assert main(["convert", str(inputs["tif"]), url, *OPTIONS]) == 0
    local = tmp_path / "env.ome.zarr"
    assert main(["convert", str(inputs["tif"]), str(local), *OPTIONS]) == 0
    assert s3_files(s3_server, url) == local_files(local)


def test_validate_names_a_deleted_and_a_corrupt_object(inputs, s3_server, bucket, capsys):
    url = f"{bucket}/damaged.ome.zarr"
    assert main(["convert", str(inputs["tif"]), url, *OPTIONS, "--ngff", "0.4", *s3_server.cli_options()]) == 0
    fs, root = s3_server.filesystem(), url.removeprefix("s3://")
    fs.rm_file(f"{root}/0/0/0/1")
    fs.pipe_file(f"{root}/1/0/0/0", b"not a chunk" * 10)
    capsys.readouterr()
    assert main(["validate", url, *s3_server.cli_options()]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "0/0/0/1 missing" in out and "0/0/0 does not decode" in out


@pytest.mark.parametrize("layout", [["--ngff", "0.4"], ["--ngff", "0.5", "--shard", "64"]], ids=["0.4", "0.5-sharded"])
def test_killed_at_40_percent_then_resumed_on_s3_gives_the_local_bytes(inputs, tmp_path, s3_server, bucket, layout,
                                                                       capsys):
    options = [*OPTIONS, *layout]
    local = tmp_path / "out.ome.zarr"
    assert main(["convert", str(inputs["tif"]), str(local), *options]) == 0
    expected = local_files(local)
    blocks = sum(1 for name in expected if not name.split("/")[-1].startswith((".z", "zarr.json")))
    url = f"{bucket}/out.ome.zarr"
    killed = run("convert", str(inputs["tif"]), url, *options, *s3_server.cli_options(),
                 kill_after=max(1, blocks * 4 // 10))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    partial = s3_files(s3_server, url)
    assert 0 < len(partial) < len(expected)
    assert json.loads(partial["zarr.json" if "0.5" in layout else ".zattrs"].decode()).get(
        "attributes", {}).get("ngff_fuse", {}).get("status", "incomplete") == "incomplete"
    assert main(["convert", str(inputs["tif"]), url, *options, *s3_server.cli_options()]) == 2
    assert "it was left incomplete: --resume finishes it" in capsys.readouterr().err
    done = run("convert", str(inputs["tif"]), url, *options, "--resume", *s3_server.cli_options())
    assert done.returncode == 0, done.stderr
    assert s3_files(s3_server, url) == expected


def test_overwrite_replaces_only_our_own_stores(inputs, s3_server, bucket, capsys):
    fs = s3_server.filesystem()
    root = bucket.removeprefix("s3://")
    fs.pipe_file(f"{root}/theirs.ome.zarr/notes.txt", b"keep me")
    assert main(["convert", str(inputs["tif"]), f"{bucket}/theirs.ome.zarr", *OPTIONS, "--overwrite",
                 *s3_server.cli_options()]) == 2
    assert "not a zarr store ngff-fuse wrote" in capsys.readouterr().err
    assert fs.cat_file(f"{root}/theirs.ome.zarr/notes.txt") == b"keep me"
    url = f"{bucket}/ours.ome.zarr"
    assert main(["convert", str(inputs["tif"]), url, *OPTIONS, "--ngff", "0.4", *s3_server.cli_options()]) == 0
    fs.pipe_file(f"{root}/ours.ome.zarr/stray.txt", b"someone else's")
    assert main(["convert", str(inputs["tif"]), url, *OPTIONS, "--overwrite", *s3_server.cli_options()]) == 2
    assert "stray.txt, which ngff-fuse did not write" in capsys.readouterr().err
    fs.rm_file(f"{root}/ours.ome.zarr/stray.txt")
    assert main(["convert", str(inputs["tif"]), url, *OPTIONS, "--ngff", "0.5", "--overwrite",
                 *s3_server.cli_options()]) == 0
    names = s3_files(s3_server, url)
    assert "zarr.json" in names and ".zattrs" not in names  # the 0.4 store is gone, not merged into


def test_one_writer_a_lock_object_of_another_host_or_a_live_run_refuses(inputs, s3_server, bucket, capsys):
    fs = s3_server.filesystem()
    url = f"{bucket}/locked.ome.zarr"
    lock = f"{url}{LOCK_SUFFIX}".removeprefix("s3://")
    fs.pipe_file(lock, json.dumps({"pid": 1, "host": "elsewhere", "started": "now", "command": "x"}).encode())
    assert main(["convert", str(inputs["tif"]), url, *OPTIONS, *s3_server.cli_options()]) == 1
    assert "locked by a run on host elsewhere" in capsys.readouterr().err
    alive = {"pid": os.getpid(), "host": socket.gethostname(), "started": "now", "command": "pytest"}
    fs.pipe_file(lock, json.dumps(alive).encode())
    assert main(["convert", str(inputs["tif"]), url, *OPTIONS, *s3_server.cli_options()]) == 1
    assert "another ngff-fuse run is writing it" in capsys.readouterr().err
    assert not fs.exists(url.removeprefix("s3://") + "/zarr.json")


def test_a_second_lock_on_one_object_is_refused_by_the_conditional_put(s3_server, bucket):
    """Two runs racing: the store itself grants the lock object to one (If-None-Match)."""
    from ngff_fuse.storage import location

    check_one_writer(location(f"{bucket}/race.ome.zarr", s3_server.options))


def test_a_cluster_of_processes_writes_to_s3_the_bytes_of_an_in_process_run(inputs, tmp_path, s3_server, bucket):
    """No shared disk for the output: two worker processes, each in a working directory of its
    own, reached by --scheduler, write their blocks straight to the store; nothing of the store
    lands in their directories. Nor for the input: read from the store too, by range requests
    on the workers, it gives the same chunks."""
    from distributed import LocalCluster

    options = [*OPTIONS, "--ngff", "0.5", "--shard", "64"]
    local = tmp_path / "out.ome.zarr"
    assert main(["convert", str(inputs["tif"]), str(local), *options]) == 0
    url = f"{bucket}/out.ome.zarr"
    workers = tmp_path / "workers"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      local_directory=str(workers)) as cluster:
        assert len(cluster.workers) == 2
        assert main(["convert", str(inputs["tif"]), url, *options, "--scheduler", cluster.scheduler_address,
                     *s3_server.cli_options()]) == 0
        source = upload(s3_server, inputs["tif"], f"{bucket}/in/tiles.ome.tif")
        assert main(["convert", source, f"{bucket}/from-url.ome.zarr", *options, "--scheduler",
                     cluster.scheduler_address, *s3_server.cli_options()]) == 0
    assert s3_files(s3_server, url) == local_files(local)
    assert not [p for p in workers.rglob("*") if p.name == "zarr.json" or p.parent.name == "c"]
    assert pixel_files(s3_files(s3_server, f"{bucket}/from-url.ome.zarr")) == pixel_files(local)


def test_preview_of_a_url_draws_what_the_local_store_draws(inputs, tmp_path, s3_server, bucket):
    import matplotlib.image

    local = tmp_path / "out.ome.zarr"
    assert main(["convert", str(inputs["tif"]), str(local), *OPTIONS]) == 0
    url = f"{bucket}/out.ome.zarr"
    assert main(["convert", str(inputs["tif"]), url, *OPTIONS, *s3_server.cli_options()]) == 0
    assert main(["preview", str(local), str(tmp_path / "local.png"), "--quiet"]) == 0
    assert main(["preview", url, str(tmp_path / "s3.png"), "--quiet", *s3_server.cli_options()]) == 0
    drawn = [matplotlib.image.imread(tmp_path / name) for name in ("local.png", "s3.png")]
    assert drawn[0].std() > 0 and np.array_equal(*drawn)


def test_a_missing_bucket_and_an_unknown_scheme_are_refused_before_any_work(inputs, s3_server, capsys):
    assert main(["convert", str(inputs["tif"]), "s3://no-such-bucket-here/out.ome.zarr", *OPTIONS,
                 *s3_server.cli_options()]) == 2
    assert "no bucket no-such-bucket-here; create it first" in capsys.readouterr().err
    assert main(["convert", str(inputs["tif"]), "ftp://host/out.ome.zarr", *OPTIONS]) == 2
    assert "ftp:// is not a storage ngff-fuse writes" in capsys.readouterr().err


STOP_SERVER = """
import os, signal, sys
from ngff_fuse import pyramid_writer
from ngff_fuse.cli import main
write, written = pyramid_writer._write_block, []
def stopping(*args, **kwargs):
    result = write(*args, **kwargs)
    written.append(1)
    if len(written) == 3:
        os.kill({pid}, signal.SIGKILL)
    return result
pyramid_writer._write_block = stopping
sys.exit(main(sys.argv[1:]))
"""


def test_a_lost_connection_fails_in_one_line_and_resume_finishes(inputs, tmp_path):
    """The server dies mid-run: one line naming the URL, exit 1; once it is back (same data,
    same ports), --resume finishes the store with the bytes of a local convert."""
    from ngff_fuse.testing.object_store import seaweedfs

    options = [*OPTIONS, "--ngff", "0.5", "--shard", "64"]
    local = tmp_path / "out.ome.zarr"
    assert main(["convert", str(inputs["tif"]), str(local), *options]) == 0
    folder, url = tmp_path / "server", "s3://lost/out.ome.zarr"
    with seaweedfs(folder) as server:
        server.filesystem().mkdir("lost")
        lost = subprocess.run([sys.executable, "-c", STOP_SERVER.format(pid=server.pid), "convert",
                               str(inputs["tif"]), url, *options, *server.cli_options(),
                               # a refused connection is not retried by botocore: the test needs no patience
                               "--storage-option", "config_kwargs.retries.max_attempts=1"],
                              capture_output=True, text=True, timeout=180)
    assert lost.returncode == 1, lost.stderr
    line = lost.stderr.strip()
    assert "\n" not in line and line.startswith(f"ngff-fuse: error: {url}: lost the connection") and "--resume" in line
    with seaweedfs(folder, server.ports) as again:
        assert main(["convert", str(inputs["tif"]), url, *options, "--resume", *again.cli_options()]) == 0
        assert s3_files(again, url) == local_files(local)


def test_kept_tiles_store_at_a_url_is_an_input_of_info_and_fuse_store(inputs, tmp_path, s3_server, bucket, capsys):
    """A store with kept tiles is read from the object store: `info` lists its tiles and
    `fuse-store` re-fuses them into another URL, as it does from a local copy."""
    options = [*OPTIONS, "--ngff", "0.5", "--keep-tiles"]
    kept = f"{bucket}/kept.ome.zarr"
    assert main(["convert", str(inputs["tif"]), kept, *options, *s3_server.cli_options()]) == 0
    local_kept = tmp_path / "kept.ome.zarr"
    assert main(["convert", str(inputs["tif"]), str(local_kept), *options]) == 0
    capsys.readouterr()
    assert main(["info", kept, "--json", "--no-orientation-check", *s3_server.cli_options()]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reader"] == "kept-tiles" and summary["scenes"][0]["tiles"] == 9
    refused = ["--blend", "max", *OPTIONS]
    assert main(["fuse-store", kept, f"{bucket}/max.ome.zarr", *refused, *s3_server.cli_options()]) == 0
    assert main(["fuse-store", str(local_kept), str(tmp_path / "max.ome.zarr"), *refused]) == 0
    got = s3_files(s3_server, f"{bucket}/max.ome.zarr")
    expected = local_files(tmp_path / "max.ome.zarr")
    assert got.keys() == expected.keys()
    chunks = [name for name in expected if "zarr.json" not in name]  # metadata names the source store
    assert chunks and all(got[name] == expected[name] for name in chunks)


def test_what_an_object_store_cannot_do_is_refused_in_one_line(inputs, s3_server, bucket, capsys):
    fs = s3_server.filesystem()
    root = bucket.removeprefix("s3://")
    fs.put_file(str(inputs["tif"]), f"{root}/tiles.czi")  # any bytes: refused by the suffix
    assert main(["convert", f"{bucket}/tiles.czi", f"{bucket}/out.ome.zarr", *OPTIONS,
                 *s3_server.cli_options()]) == 2
    err = capsys.readouterr().err
    assert f"{bucket}/tiles.czi: the library reading .czi files opens local files" in err
    assert "copy the input to a local disk" in err and err.count("\n") == 1
    kept = f"{bucket}/kept.ome.zarr"
    assert main(["convert", str(inputs["tif"]), kept, *OPTIONS, "--keep-tiles", *s3_server.cli_options()]) == 0
    assert main(["fuse-store", kept, *OPTIONS, *s3_server.cli_options()]) == 2
    assert "not re-fused in place; give an OUTPUT URL" in capsys.readouterr().err
    assert main(["fuse-store", kept, bucket + "/", "--overwrite", *OPTIONS, *s3_server.cli_options()]) == 2
    assert f"holds the input {kept}" in capsys.readouterr().err
    assert s3_server.filesystem().exists(kept.removeprefix("s3://") + "/zarr.json")


# --- inputs at URLs: the oracle is the local convert of the same file ---------------------------

def pixel_files(store: Path | dict) -> dict[str, bytes]:
    """The chunk (or shard) files of a store, by relative name: its metadata names the input,
    which differs between a URL and a local path."""
    files = store if isinstance(store, dict) else local_files(store)
    return {name: data for name, data in files.items()
            if name.rsplit("/", 1)[-1] not in ("zarr.json", ".zattrs", ".zgroup", ".zarray")}


def http_url(server, url: str) -> str:
    """The plain HTTP URL of an object of the test server (it serves anonymous GETs)."""
    return f"{server.endpoint}/{url.removeprefix('s3://')}"


def upload(server, local: Path, url: str) -> str:
    server.filesystem().put(str(local), url.removeprefix("s3://"), recursive=local.is_dir())
    return url


OME_TIFFS = {  # the layouts a reader meets: strips and TIFF tiles, raw and compressed, 2-D and 3-D
    "strips-2d": ({"grid": (2, 2), "tile_shape": (40, 50)}, {}),
    "tiled-zlib-2d": ({"grid": (2, 2), "tile_shape": (70, 90)}, {"tile": (32, 32), "compression": "zlib"}),
    "tiled-3d-2ch": ({"grid": (2, 2), "tile_shape": (3, 40, 50), "channels": 2}, {"tile": (16, 32)}),
    "strips-zlib-3d-2ch": ({"grid": (2, 2), "tile_shape": (2, 40, 50), "channels": 2}, {"compression": "zlib"}),
}


@pytest.mark.parametrize("case", OME_TIFFS)
def test_an_ome_tiff_at_a_url_converts_to_the_pixels_of_the_local_file(tmp_path, s3_server, bucket, case):
    """Header by tifffile through fsspec, pixels by range reads of the segments each task
    needs: every chunk byte for byte the local convert's, into a local and an S3 output."""
    mosaic, layout = OME_TIFFS[case]
    source = write_ome_tiff(synthetic_mosaic(**mosaic, seed=5), tmp_path / "tiles.ome.tif", **layout)
    url = upload(s3_server, source, f"{bucket}/in/tiles.ome.tif")
    local, from_url = tmp_path / "local.ome.zarr", tmp_path / "from-url.ome.zarr"
    assert main(["convert", str(source), str(local), *OPTIONS]) == 0
    assert main(["convert", url, str(from_url), *OPTIONS, *s3_server.cli_options()]) == 0
    expected = pixel_files(local)
    assert expected and pixel_files(from_url) == expected
    if case == "tiled-zlib-2d":
        out = f"{bucket}/out.ome.zarr"
        assert main(["convert", url, out, *OPTIONS, *s3_server.cli_options()]) == 0
        assert pixel_files(s3_files(s3_server, out)) == expected
        over_http = tmp_path / "over-http.ome.zarr"  # the same object by its plain HTTP URL
        assert main(["convert", http_url(s3_server, url), str(over_http), *OPTIONS]) == 0
        assert pixel_files(over_http) == expected


@pytest.mark.parametrize("kind", ["json", "csv"])
def test_a_manifest_at_a_url_or_listing_urls_converts_to_the_pixels_of_the_local_one(tmp_path, s3_server, bucket,
                                                                                      kind):
    """A manifest at a URL with tile paths relative to it, and a local manifest listing the
    tiles' URLs: both give the local manifest's chunks."""
    from ngff_fuse.testing.tile_files import write_manifest

    mosaic = synthetic_mosaic(grid=(2, 2), tile_shape=(2, 40, 50), channels=2, seed=6)
    manifest = write_manifest(mosaic, tmp_path / "tiles", kind=kind)
    prefix = upload(s3_server, manifest.parent, f"{bucket}/tiles")
    local = tmp_path / "local.ome.zarr"
    assert main(["convert", str(manifest), str(local), *OPTIONS]) == 0
    expected = pixel_files(local)
    at_url = tmp_path / "at-url.ome.zarr"
    assert main(["convert", f"{prefix}/{manifest.name}", str(at_url), *OPTIONS, *s3_server.cli_options()]) == 0
    assert pixel_files(at_url) == expected
    if kind == "json":  # a manifest by its plain HTTP URL, its tiles beside it
        over_http = tmp_path / "over-http.ome.zarr"
        assert main(["convert", http_url(s3_server, f"{prefix}/{manifest.name}"), str(over_http), *OPTIONS]) == 0
        assert pixel_files(over_http) == expected
    listing = tmp_path / f"urls.{kind}"
    text = manifest.read_text(encoding="utf-8")
    for index in range(len(mosaic.tiles)):
        text = text.replace(f"tile_{index:03d}.tif", f"{prefix}/tile_{index:03d}.tif")
    listing.write_text(text, encoding="utf-8")
    listed = tmp_path / "listed.ome.zarr"
    assert main(["convert", str(listing), str(listed), *OPTIONS, *s3_server.cli_options()]) == 0
    assert pixel_files(listed) == expected


def test_inputs_at_urls_that_cannot_be_read_are_refused_in_one_line(tmp_path, s3_server, bucket, capsys):
    """A missing object, a listed tile that is missing, and a listed tile whose format's
    library opens local files (PNG): each one line naming the URL, exit 2."""
    options = [*OPTIONS, *s3_server.cli_options()]
    out = str(tmp_path / "out.ome.zarr")
    assert main(["convert", f"{bucket}/nothing.ome.tif", out, *options]) == 2
    err = capsys.readouterr().err
    assert f"{bucket}/nothing.ome.tif: no such object" in err and err.count("\n") == 1
    assert main(["info", f"{bucket}/nothing.ome.tif", *s3_server.cli_options()]) == 2
    assert f"{bucket}/nothing.ome.tif: no such object" in capsys.readouterr().err
    nothing = http_url(s3_server, f"{bucket}/nothing.ome.tif")
    assert main(["info", nothing]) == 2
    assert f"{nothing}: no such object" in capsys.readouterr().err
    assert main(["convert", str(tmp_path), f"{s3_server.endpoint}/out.ome.zarr", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "http:// is only read (inputs), never written" in err and err.count("\n") == 1
    s3_server.filesystem().pipe_file(f"{bucket.removeprefix('s3://')}/tile.png", b"\x89PNG\r\n\x1a\n" + bytes(40))
    manifest = tmp_path / "tiles.json"
    for listed, said in ((f"{bucket}/gone.tif", f"{bucket}/gone.tif: no such object"),
                         (f"{bucket}/tile.png", f"{bucket}/tile.png: the library reading .png files opens local files")):
        manifest.write_text(json.dumps({"position_unit": "px", "tiles": [{"file": listed, "x": 0, "y": 0}]}))
        assert main(["convert", str(manifest), out, *options]) == 2
        err = capsys.readouterr().err
        assert f"tiles[0]: {said}" in err and err.count("\n") == 1


def test_info_and_resume_of_an_ome_tiff_at_a_url_and_a_replaced_object_is_refused(tmp_path, s3_server, bucket,
                                                                                   capsys):
    """`info URL` reads the layout; an interrupted convert resumes; once the object is replaced
    with other bytes, its fingerprint (size, ETag, sampled CRC) refuses the resume."""
    source = write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(60, 70), seed=7), tmp_path / "a.ome.tif",
                            tile=(32, 32), compression="zlib")
    url = upload(s3_server, source, f"{bucket}/a.ome.tif")
    assert main(["info", url, "--json", "--no-orientation-check", *s3_server.cli_options()]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reader"] == "ome-tiff" and summary["scenes"][0]["tiles"] == 9
    options = [*OPTIONS, "--ngff", "0.4", *s3_server.cli_options()]
    local = tmp_path / "local.ome.zarr"
    assert main(["convert", str(source), str(local), *OPTIONS, "--ngff", "0.4"]) == 0
    expected = pixel_files(local)
    out = str(tmp_path / "out.ome.zarr")
    killed = run("convert", url, out, *options, kill_after=max(1, len(expected) // 3))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = run("convert", url, out, *options, "--resume")
    assert done.returncode == 0, done.stderr
    # a resumed run leaves out chunks of fill only, which a whole run writes: compare pixels
    assert np.array_equal(zarr.open_array(Path(out) / "0", mode="r")[:], zarr.open_array(local / "0", mode="r")[:])
    recorded = json.loads((Path(out) / ".zattrs").read_text())["ngff_fuse"]["request"]["inputs"]
    assert [(r["path"], r["bytes"], bool(r["version"])) for r in recorded] == [(url, source.stat().st_size, True)]
    killed = run("convert", url, out, *options, "--overwrite", kill_after=max(1, len(expected) // 3))
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    other = write_ome_tiff(synthetic_mosaic(grid=(3, 3), tile_shape=(60, 70), seed=8), tmp_path / "b.ome.tif",
                           tile=(32, 32), compression="zlib")
    upload(s3_server, other, url)
    refused = run("convert", url, out, *options, "--resume")
    assert refused.returncode == 2
    assert f"cannot resume, the request differs from the interrupted one ({url}: " in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_a_manifest_at_a_url_listing_ome_tiff_tiles_converts_to_the_local_pixels(tmp_path, s3_server, bucket):
    """OME-TIFF tile files (pixel size and channels in their OME-XML) listed by a manifest at a
    URL: the local manifest's chunks."""
    from dataclasses import replace

    mosaic = synthetic_mosaic(grid=(1, 2), tile_shape=(2, 40, 50), channels=2, seed=9)
    folder = tmp_path / "tiles"
    folder.mkdir()
    rows = []
    for index, tile in enumerate(mosaic.tiles):
        write_ome_tiff(replace(mosaic, tiles=(tile,)), folder / f"t{index}.ome.tif", tile=(16, 16),
                       compression="zlib")
        rows.append({"file": f"t{index}.ome.tif", "z": tile.position[0], "y": tile.position[1], "x": tile.position[2]})
    manifest = folder / "tiles.json"
    manifest.write_text(json.dumps({"position_unit": "micrometer", "tiles": rows}))
    prefix = upload(s3_server, folder, f"{bucket}/tiles")
    local, at_url = tmp_path / "local.ome.zarr", tmp_path / "at-url.ome.zarr"
    assert main(["convert", str(manifest), str(local), *OPTIONS]) == 0
    assert main(["convert", f"{prefix}/tiles.json", str(at_url), *OPTIONS, *s3_server.cli_options()]) == 0
    expected = pixel_files(local)
    assert expected and pixel_files(at_url) == expected
