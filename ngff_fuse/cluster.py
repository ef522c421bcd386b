"""Where the dask graph runs: in-process threads (default), a local cluster of worker
processes (`--workers N`), or any running dask.distributed scheduler (`--scheduler ADDRESS`:
dask-jobqueue, Kubernetes, Coiled...). The graph is the same in every case."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from ngff_fuse.errors import InputError, NgffFuseError

#: Seconds a `--scheduler` has to answer. dask's own client waits for ever on an address where
#: something accepts the connection but never speaks the dask protocol (an HTTP server, a
#: port forwarded to nothing), so every step of the first exchange is timed here.
CONNECT_TIMEOUT = 10.0


@contextlib.contextmanager
def compute_on(workers: int | None = None, scheduler: str | None = None) -> Iterator[str]:
    """Make dask compute on the chosen engine inside the block; yields a description of it.
    A scheduler that does not answer within `CONNECT_TIMEOUT` seconds is an error of the
    environment (exit 1), not a wait."""
    if workers is None and scheduler is None:
        import dask
        import dask.threaded

        # named, so dask does not import dask.distributed (~0.3 s) to look for a client
        with dask.config.set(scheduler=dask.threaded.get):
            yield "in-process threads"
        return
    if workers is not None and scheduler is not None:
        raise InputError("--workers starts a local cluster and --scheduler uses a running one: pick one")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--workers/--scheduler need dask.distributed: pip install 'ngff-fuse[distributed]'") from None
    if scheduler is not None:
        check_scheduler(scheduler, CONNECT_TIMEOUT)
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
        except OSError as exc:
            raise NgffFuseError(f"--scheduler {scheduler}: cannot connect ({exc}); check the address") from None
        with client, _worker_deaths():
            yield f"dask scheduler at {scheduler} ({len(client.scheduler_info()['workers'])} workers)"
        return
    if workers < 1:
        raise InputError(f"--workers {workers}: give at least 1")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client, _worker_deaths():
        yield f"local cluster of {workers} worker processes ({client.dashboard_link or 'no dashboard'})"


def check_scheduler(address: str, timeout: float) -> None:
    """Ask `address` who it is, all within `timeout` seconds; refuse anything but a dask
    scheduler in one line. Runs in a thread of its own, so a caller's event loop (Jupyter)
    does not matter."""
    with ThreadPoolExecutor(1) as pool:
        try:
            identity = pool.submit(asyncio.run, _identity(address, timeout)).result()
        except (asyncio.TimeoutError, TimeoutError):
            raise NgffFuseError(f"--scheduler {address}: no dask scheduler answered within {timeout:g} s; "
                                "check the address and that the scheduler runs") from None
        except Exception as exc:  # refused, unreachable, or not the dask protocol
            reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
            what = "cannot connect" if isinstance(exc, OSError) else "not a dask scheduler"
            raise NgffFuseError(f"--scheduler {address}: {what} ({reason}); "
                                "check the address and that the scheduler runs") from None
    kind = identity.get("type") if isinstance(identity, dict) else None
    if kind != "Scheduler":
        raise NgffFuseError(f"--scheduler {address}: answers as a dask {kind or 'peer of unknown kind'}, "
                            "not a scheduler; give the scheduler's address (tcp://host:8786)")


async def _identity(address: str, timeout: float) -> dict:
    from distributed.core import rpc
    from distributed.security import Security

    async def ask() -> dict:
        async with rpc(address, timeout=timeout,
                       connection_args=Security().get_connection_args("client")) as peer:
            return await peer.identity()

    return await asyncio.wait_for(ask(), timeout)


@contextlib.contextmanager
def _worker_deaths() -> Iterator[None]:
    """A task whose worker process died every time it ran (dask's KilledWorker) as the
    MemoryError it most often is, so it is reported as one, with what to do."""
    from distributed.scheduler import KilledWorker

    try:
        yield
    except KilledWorker as exc:
        raise MemoryError(f"a worker process died running task {exc.task!r}") from exc
