"""Where the dask graph runs: in-process threads (default), a local cluster of worker
processes (`--workers N`), or any running dask.distributed scheduler (`--scheduler ADDRESS`:
dask-jobqueue, Kubernetes, Coiled...). The graph is the same in every case."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ngff_fuse.errors import InputError


@contextlib.contextmanager
def compute_on(workers: int | None = None, scheduler: str | None = None) -> Iterator[str]:
    """Make dask compute on the chosen engine inside the block; yields a description of it."""
    if workers is None and scheduler is None:
        yield "in-process threads"
        return
    if workers is not None and scheduler is not None:
        raise InputError("--workers starts a local cluster and --scheduler uses a running one: pick one")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--workers/--scheduler need dask.distributed: pip install 'ngff-fuse[distributed]'") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise InputError(f"--scheduler {scheduler}: cannot connect ({exc}); check the address") from None
        with client, _worker_deaths():
            yield f"dask scheduler at {scheduler} ({len(client.scheduler_info()['workers'])} workers)"
        return
    if workers < 1:
        raise InputError(f"--workers {workers}: give at least 1")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client, _worker_deaths():
        yield f"local cluster of {workers} worker processes ({client.dashboard_link or 'no dashboard'})"


@contextlib.contextmanager
def _worker_deaths() -> Iterator[None]:
    """A task whose worker process died every time it ran (dask's KilledWorker) as the
    MemoryError it most often is, so it is reported as one, with what to do."""
    from distributed.scheduler import KilledWorker

    try:
        yield
    except KilledWorker as exc:
        raise MemoryError(f"a worker process died running task {exc.task!r}") from exc
