"""The same convert to local disk and to a loopback S3 server (SeaweedFS), side by side.

    python benchmarks/bench_object_store.py                  # 7 x 7 tiles of 2048^2: ~172 MPix
    python benchmarks/bench_object_store.py --grid 3 --tile-size 1024 --repeat 3
    python benchmarks/bench_object_store.py --store-layer    # FsspecStore vs obstore (pip install obstore)
    DASK_NUM_WORKERS=3 python benchmarks/bench_object_store.py --pin   # server on a core of its own

Each convert runs in a child process of its own; the S3 one counts every request s3fs sends,
by operation, so the table shows requests per block written (a block is one shard, or one
chunk when unsharded: the unit a write task puts). The server runs on this machine, so it
competes with ngff-fuse for the same cores: the ratio is an upper bound of what the protocol
costs, not a network measurement.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fuse  # noqa: E402  (this folder's shared machinery: the input mosaic)


def child(spec: dict) -> dict:
    """Run one convert here; its wall time and, for S3, the requests by operation."""
    import s3fs

    from ngff_fuse.cli import main

    counts: collections.Counter = collections.Counter()
    call = s3fs.S3FileSystem._call_s3

    async def counted(self, method, *args, **kwargs):
        counts[method] += 1
        return await call(self, method, *args, **kwargs)

    s3fs.S3FileSystem._call_s3 = counted
    for name in bench_fuse.READER_IMPORTS:
        __import__(name)
    started, cpu = time.perf_counter(), time.process_time()
    code = main(spec["argv"])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    if code:
        sys.exit(code)
    return {"seconds": seconds, "cpu_seconds": cpu, "requests": dict(counts)}


def blocks(store: Path) -> int:
    """Write blocks (shards, or chunks when unsharded) over all levels of a local store."""
    import zarr

    group = zarr.open_group(store, mode="r")
    return sum(math.prod(-(-n // c) for n, c in zip(a.shape, a.shards or a.chunks)) for _, a in group.arrays())


def run_child(argv: list[str], cores: set[int] | None = None) -> dict:
    """One convert in a child process; on `cores` only, when given (Linux)."""
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps({"argv": argv})],
                          capture_output=True, text=True, preexec_fn=pin)
    if done.returncode:
        sys.exit(f"{' '.join(argv[:3])} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def benchmark(args: argparse.Namespace, work: Path) -> None:
    import psutil

    from ngff_fuse.testing.object_store import seaweedfs
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    mosaic = bench_fuse.make_mosaic(args.grid, args.tile_size, 0.1)
    tiff = str(write_ome_tiff(mosaic, work / "tiles.ome.tif"))
    first, stop = mosaic.truth_extent()
    mpix = float((stop - first)[1] * (stop - first)[2]) / 1e6
    del mosaic
    extra = args.options.split() if args.options else []
    with seaweedfs(work / "seaweedfs") as server:
        server.filesystem().mkdir("bench")
        local, url = work / "out.ome.zarr", "s3://bench/out.ome.zarr"
        runs: dict[str, list[dict]] = {"local disk": [], "loopback S3": []}
        weed = psutil.Process(server.pid)
        cores = None
        if args.pin:  # the server on the last core, both converts on the others
            *cores, last = sorted(os.sched_getaffinity(0))
            cores = set(cores)
            for process in [weed, *weed.children(recursive=True)]:
                for thread in process.threads():
                    os.sched_setaffinity(thread.id, {last})
        for _ in range(args.repeat):
            bench_fuse.remove(local)
            runs["local disk"].append(run_child(["convert", tiff, str(local), "--quiet", *extra], cores))
            before = sum(weed.cpu_times()[:2])
            runs["loopback S3"].append(run_child(["convert", tiff, url, "--quiet", "--overwrite", *extra,
                                                  *server.cli_options()], cores))
            runs["loopback S3"][-1]["server_cpu"] = sum(weed.cpu_times()[:2]) - before
        count = blocks(local)
    base = statistics.median(r["seconds"] for r in runs["local disk"])
    print(f"mosaic: {mpix:.1f} MPix, {count} blocks in all levels, options: {' '.join(extra) or 'defaults'}, "
          f"repeats: {args.repeat}, load: {bench_fuse.load()}"
          + (f"; the server pinned to core {max(os.sched_getaffinity(0))}, ngff-fuse to the others" if args.pin else ""))
    print(f"{'run':<14} {'seconds':>8} {'MPix/s':>8} {'x local':>8} {'CPU s':>8}")
    for label, results in runs.items():
        seconds = statistics.median(r["seconds"] for r in results)
        cpu = statistics.median(r["cpu_seconds"] for r in results)
        print(f"{label:<14} {seconds:>8.2f} {mpix / seconds:>8.1f} {seconds / base:>8.2f} {cpu:>8.2f}")
    server_cpu = statistics.median(r["server_cpu"] for r in runs["loopback S3"])
    print(f"the S3 server's own CPU time during the S3 convert: {server_cpu:.2f} s "
          f"({'on a core of its own' if args.pin else 'on the same cores'})")
    requests = runs["loopback S3"][-1]["requests"]
    puts = requests.get("put_object", 0)
    print(f"S3 requests of one convert ({sum(requests.values())} in all; {puts / count:.2f} PUT per block): "
          + ", ".join(f"{op} {n}" for op, n in sorted(requests.items(), key=lambda kv: -kv[1])))


def store_layer(work: Path, repeat: int) -> None:
    """The store layer alone: the same 64 MPix uint16 array, 16 shards of 2048^2 in chunks of
    1024^2, written through zarr's FsspecStore (s3fs, what ngff-fuse uses) and its ObjectStore
    (obstore), read back and compared, runs interleaved."""
    import numpy as np
    import zarr
    from obstore.store import S3Store
    from zarr.storage import ObjectStore

    from ngff_fuse.storage import location, zarr_store
    from ngff_fuse.testing.object_store import seaweedfs

    data = np.random.default_rng(0).normal(1000, 50, (8192, 8192)).astype("uint16")
    with seaweedfs(work / "seaweedfs") as server:
        server.filesystem().mkdir("bench")
        stores = {
            "FsspecStore (s3fs)": lambda name: zarr_store(location(f"s3://bench/{name}", server.options)),
            "ObjectStore (obstore)": lambda name: ObjectStore(S3Store(
                "bench", prefix=name, endpoint=server.endpoint, access_key_id=server.key,
                secret_access_key=server.secret, region="us-east-1", client_options={"allow_http": True})),
        }
        seconds: dict[str, list[float]] = {label: [] for label in stores}
        for index in range(repeat):
            for label, store in stores.items():
                name = f"{label.split()[0]}-{index}.zarr"
                array = zarr.open_group(store(name), mode="w", zarr_format=3).create_array(
                    "0", shape=data.shape, chunks=(1024, 1024), shards=(2048, 2048), dtype="uint16")
                started = time.perf_counter()
                array[:] = data
                seconds[label].append(time.perf_counter() - started)
                assert np.array_equal(zarr.open_group(store(name), mode="r")["0"][:], data)
    print(f"64 MPix uint16, 16 shards; median of {repeat}; load: {bench_fuse.load()}")
    for label, times in seconds.items():
        median = statistics.median(times)
        print(f"{label:<22} {median:>6.2f} s {data.size / 1e6 / median:>6.0f} MPix/s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=7)
    parser.add_argument("--tile-size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--options", default="", help="more convert options for both runs, e.g. '--shard 0'")
    parser.add_argument("--store-layer", action="store_true",
                        help="compare zarr's FsspecStore and ObjectStore (obstore) writing shards, nothing else")
    parser.add_argument("--pin", action="store_true",
                        help="the server on the last core and ngff-fuse on the others (Linux): the server's work off "
                        "ngff-fuse's cores, as a store on another machine would be")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-object-store-") as folder:
        if args.store_layer:
            store_layer(Path(folder), max(args.repeat, 3))
        else:
            benchmark(args, Path(folder))


if __name__ == "__main__":
    main()
