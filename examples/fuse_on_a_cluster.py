"""Run the same conversion on a dask.distributed cluster: a local one here; pass the address
of a running scheduler (dask-jobqueue, Kubernetes, Coiled...) as a third argument instead.

    python examples/fuse_on_a_cluster.py slide.ome.tif slide.ome.zarr [tcp://scheduler:8786]
"""

import sys

from distributed import Client, LocalCluster

import ngff_fuse


def main(source: str, output: str, scheduler: str | None = None) -> None:
    if scheduler:
        client = Client(scheduler)
    else:
        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None))
    with client:
        ngff_fuse.convert(source, output)  # dask computes on the client's cluster in this block
    print(f"wrote {output}")


if __name__ == "__main__":  # worker processes re-import this file: start the cluster once
    main(*sys.argv[1:4])
