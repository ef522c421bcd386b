"""Where a store lives: a local folder (a `Path`) or an object-store URL (a `Remote`).

`Remote` answers the part of `pathlib.Path` the writer, the resume checks, `validate` and the
readers of URL inputs use (`/`, name, suffix, exists, open, read_bytes, iterdir...), through
fsspec, so one code path serves both; the
few things an object store cannot do the way a file system does (rename, flock, partial
files) are decided where they are used (`output`, `output_lock`, `pyramid_writer`).

Credentials and endpoint come from each cloud's standard configuration (for S3:
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL, profiles), plus the
options given with `--storage-option KEY=VALUE`, passed to the fsspec file system as they are.
Listings are never cached: a resume or a second run must see what is there now.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from ngff_fuse.errors import InputError, NgffFuseError, reason

#: URL schemes read and written through fsspec, and the package each needs.
SCHEMES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
           "abfss": "adlfs"}
#: URL schemes only read (inputs): plain HTTP has range requests but no listing and no writes.
READ_SCHEMES = {"http": "aiohttp", "https": "aiohttp"}
#: The ngff-fuse extra that installs each package.
_EXTRAS = {"s3fs": "s3", "gcsfs": "gcs", "adlfs": "azure"}
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
#: Schemes whose fsspec driver cannot read an object's last N bytes (`suffix_reads`).
_NO_SUFFIX_READS = frozenset({"az", "abfs", "abfss"})
#: Schemes whose asynchronous client, used on zarr's event loop, cannot be closed once that loop
#: is gone: at every exit adlfs's finalizer raised "Loop is not running" and gcsfs's closed the
#: session on another loop, each printing a traceback (adlfs#495, zarr-python#4221). zarr is
#: given their synchronous client instead, which lives on fsspec's own loop.
_SYNC_CLIENT = frozenset({"gs", "gcs", "az", "abfs", "abfss"})


class Remote:
    """An object (or prefix of objects) in an object store, used like a `Path`."""

    def __init__(self, protocol: str, path: str, options: dict | None = None) -> None:
        self.protocol = protocol
        self.path = path.strip("/")
        self.options = dict(options or {})

    # --- naming ---------------------------------------------------------------------------
    def __str__(self) -> str:
        return f"{self.protocol}://{self.path}"

    def __repr__(self) -> str:
        return f"Remote({str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Remote) and (self.protocol, self.path) == (other.protocol, other.path)

    def __hash__(self) -> int:
        return hash((self.protocol, self.path))

    def __truediv__(self, name: str) -> Remote:
        """The object `name` under this prefix; `..` and `.` in it are resolved, as an object store
        has no folders to walk (a manifest's `../tiles/a.tif`)."""
        joined = posixpath.normpath(f"{self.path}/{str(name).strip('/')}")
        return Remote(self.protocol, joined.lstrip("/"), self.options)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def parent(self) -> Remote:
        return Remote(self.protocol, self.path.rsplit("/", 1)[0] if "/" in self.path else "", self.options)

    @property
    def key(self) -> str:
        """The object's name as its file system takes it: the path, or the whole URL for HTTP
        (whose file system needs the scheme and host)."""
        return str(self) if self.protocol in READ_SCHEMES else self.path

    @property
    def bucket(self) -> str:
        return self.path.split("/", 1)[0]

    def with_name(self, name: str) -> Remote:
        return self.parent / name

    def resolve(self) -> Remote:
        return self

    def relative_to(self, other: Remote) -> PurePosixPath:
        return PurePosixPath(self.path).relative_to(other.path)

    # --- reading and writing ----------------------------------------------------------------
    @property
    def fs(self):
        """The synchronous fsspec file system (instances are cached by fsspec)."""
        import fsspec

        return fsspec.filesystem(self.protocol, **self.client_options())

    def client_options(self) -> dict:
        """The file system's options: those given, over ngff-fuse's defaults. Listings are not
        cached (a resume must see what is there now). s3fs reads a whole object by asking its
        size first (HEAD, then a LIST when it is missing) unless max_concurrency is 1: zarr reads
        every shard before writing it, so that made 3 requests of each block write; our objects
        are below s3fs's 50 MB concurrent-read threshold anyway."""
        defaults: dict = {"use_listings_cache": False}
        if self.protocol in ("s3", "s3a"):
            defaults["max_concurrency"] = 1
        return {**defaults, **self.options}

    def is_symlink(self) -> bool:
        return False

    def is_file(self) -> bool:
        return self.fs.isfile(self.key)

    def is_dir(self) -> bool:
        """A prefix with objects under it. Object stores have no folders; some (SeaweedFS, MinIO)
        keep listing a prefix whose objects were all deleted, which is not taken for one. Plain
        HTTP lists nothing: never a folder there."""
        return bool(self.path) and self.protocol not in READ_SCHEMES and bool(self.keys(limit=1))

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def keys(self, limit: int | None = None) -> list[str]:
        """Paths of the objects under this prefix (at most `limit`, for an existence test: one
        request)."""
        base = self.path + "/"
        if limit is not None and self.protocol in ("s3", "s3a"):
            bucket, _, key = base.partition("/")
            found = self.fs.call_s3("list_objects_v2", Bucket=bucket, Prefix=key, MaxKeys=limit)
            return [f"{bucket}/{item['Key']}" for item in found.get("Contents", [])]
        return [key for key in self.fs.find(base) if key.startswith(base)][:limit]

    def children(self) -> dict[str, str]:
        """What is directly under this prefix, by name: "file" or "dir" (only prefixes holding
        objects), from one recursive listing."""
        found: dict[str, str] = {}
        start = len(self.path) + 1
        for key in self.keys():
            name, sep, _ = key[start:].partition("/")
            found[name] = "dir" if sep else found.get(name, "file")
        return dict(sorted(found.items()))

    def iterdir(self):
        for name in self.children():
            yield self / name

    def size(self) -> int:
        """Bytes of the object (FileNotFoundError when there is none)."""
        return int(self.fs.info(self.key)["size"])

    def open(self, mode: str = "rb", **options):
        """The object as an fsspec file (text when `mode` says so: encoding, newline...)."""
        return self.fs.open(self.key, mode, **options)

    def read_bytes(self) -> bytes:
        return self.fs.cat_file(self.key)

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> None:
        self.fs.pipe_file(self.path, data)

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.rm_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def create(self, data: bytes) -> bool:
        """Write the object only if there is none (a conditional put, If-None-Match: *); False
        when one is there already. The one atomic test-and-set an object store offers."""
        try:
            self.fs.pipe_file(self.path, data, mode="create")
        except FileExistsError:
            return False
        except OSError as exc:  # s3fs reports HTTP 412 Precondition Failed as EINVAL
            if "pre-condition" in str(exc).lower() or "precondition" in str(exc).lower():
                return False
            raise
        return True


Location = Path | Remote


def is_url(text: str | Path) -> bool:
    return isinstance(text, str) and _URL.match(text) is not None


def location(where: str | Path | Remote, options: dict | None = None) -> Location:
    """`where` as a local Path (plain paths and file:// URLs) or a Remote (an object store URL,
    with `options` for its file system); an unknown scheme, or one whose package is missing,
    is refused in one line."""
    if isinstance(where, Remote):
        return where
    if isinstance(where, Path) or not is_url(where):
        return Path(where)
    parts = urlsplit(where)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return Path(parts.path)
    packages = {**SCHEMES, **READ_SCHEMES}
    if scheme not in packages:
        raise InputError(f"{where}: {scheme}:// is not a storage ngff-fuse writes; give a local path or an "
                         f"{', '.join(s + '://' for s in ('s3', 'gs', 'az', 'file'))} URL")
    try:
        import fsspec

        fsspec.get_filesystem_class(scheme)
    except ImportError:
        needed = packages[scheme]
        package = f"'ngff-fuse[{_EXTRAS[needed]}]'" if needed in _EXTRAS else needed
        raise InputError(f"{where}: {scheme}:// needs the package {needed}: pip install {package}") from None
    if scheme in READ_SCHEMES and parts.query:
        raise InputError(f"{where}: a URL with a query (a presigned URL) is not read; give the object's plain URL, "
                         "or an s3://, gs://, az:// URL with --storage-option credentials")
    path = (parts.netloc + parts.path).strip("/")
    if not parts.netloc:
        raise InputError(f"{where}: no bucket in the URL; give {scheme}://BUCKET/PATH")
    return Remote(scheme, path, options)


def storage_options(pairs: list[str] | None) -> dict:
    """`--storage-option KEY=VALUE` pairs as fsspec options; `true`/`false` and numbers are
    converted, a nested key `client_kwargs.region_name=X` is nested."""
    options: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--storage-option {pair}: give KEY=VALUE (e.g. endpoint_url=http://host:9000)")
        target = options
        *outer, last = key.split(".")
        for part in outer:
            target = target.setdefault(part, {})
        target[last] = _value(value)
    return options


def _value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def zarr_store(where: Location, read_only: bool = False):
    """What zarr opens for `where`: the path itself, or an FsspecStore on the URL."""
    if isinstance(where, Remote):
        if where.protocol in _NO_SUFFIX_READS:
            from ngff_fuse.suffix_reads import SuffixByOffsetStore as FsspecStore
        else:
            from zarr.storage import FsspecStore

        if where.protocol in _SYNC_CLIENT:
            from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

            client = AsyncFileSystemWrapper(where.fs, asynchronous=True)
            return FsspecStore(client, path=where.path, read_only=read_only)
        return FsspecStore.from_url(str(where), storage_options=where.client_options(), read_only=read_only)
    return where


def store_location(store_path) -> Location:
    """Where a zarr node (its `store_path`) lives: the inverse of `zarr_store`."""
    store = store_path.store
    if hasattr(store, "fs"):
        fs = getattr(store.fs, "sync_fs", store.fs)  # the client `zarr_store` wrapped
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        options = {k: v for k, v in fs.storage_options.items() if k != "asynchronous"}
        options.pop("use_listings_cache", None)
        remote = Remote(protocol, store.path, options)
        return remote / store_path.path if store_path.path else remote
    return Path(str(store.root)) / store_path.path


def remove_tree(where: Location) -> None:
    """Delete a store and everything in it."""
    if isinstance(where, Remote):
        where.fs.rm(where.path, recursive=True)
    else:
        import shutil

        shutil.rmtree(where)


def total_size(where: Location) -> int:
    """Bytes stored under `where`."""
    if isinstance(where, Remote):
        return int(where.fs.du(where.path))
    return sum(f.stat().st_size for f in where.rglob("*") if f.is_file())


#: What the clients of object stores (botocore, aiohttp) raise when the store cannot be
#: reached or drops the connection, by class name: their modules need not be imported to tell.
_CONNECTION_ERRORS = frozenset({
    "EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError", "ReadTimeoutError",
    "HTTPClientError", "ClientConnectorError", "ClientConnectionError", "ServerDisconnectedError",
    "ClientOSError", "ServerTimeoutError",
})


def connection_lost(exc: BaseException) -> BaseException | None:
    """The error in `exc`'s chain saying the store could not be reached, or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionError) or _CONNECTION_ERRORS & {c.__name__ for c in type(exc).__mro__}:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


@contextmanager
def reaching(where: Location, resume_hint: bool) -> Iterator[None]:
    """A lost connection to the store of `where` inside the block as one line naming the URL;
    with `resume_hint`, saying that --resume finishes the output."""
    try:
        yield
    except NgffFuseError:
        raise
    except Exception as exc:
        lost = connection_lost(exc) if isinstance(where, Remote) else None
        if lost is None:
            raise
        hint = ("; the output is left incomplete: once the store answers, run the same command with "
                "--resume to finish it") if resume_hint else "; check the endpoint and the network"
        raise NgffFuseError(f"{where}: lost the connection to the object store ({reason(lost)}){hint}") from exc


def check_bucket(where: Remote) -> None:
    """The bucket (or container) of an output URL exists: checked before any work. An HTTP URL
    is refused: it is read, never written."""
    if where.protocol in READ_SCHEMES:
        raise InputError(f"{where}: {where.protocol}:// is only read (inputs), never written; write the "
                         "output to a local path or an s3://, gs://, az:// URL")
    with reaching(where, resume_hint=False):
        try:
            found = where.fs.exists(where.bucket)
        except PermissionError as exc:
            raise NgffFuseError(f"{where}: access denied ({exc}); check the credentials") from None
    if not found:
        raise InputError(f"{where}: no bucket {where.bucket}; create it first")
