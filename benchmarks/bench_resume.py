"""What does resumability cost? `ngff-fuse convert` (which records the request, writes every
chunk, and writes block by block so a resume can skip what is done) against the same pipeline
written with a plain `dask.array.store`, and a resume of a run killed half-way.

    python benchmarks/bench_resume.py                 # 5 x 5 tiles of 2048^2: ~86 MPix
    python benchmarks/bench_resume.py --grid 3 --tile-size 1024
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fuse  # noqa: E402  (this folder's shared machinery: input, child processes)



def plain_write(input_path: str, output: str) -> None:
    """The baseline: the same fused pyramid, stored with one da.store and no bookkeeping."""
    import dask.array as da
    import zarr

    from ngff_fuse import fuse, read_input
    from ngff_fuse.codecs import Codec, DEFAULT_CODEC
    import numpy as np

    from ngff_fuse.pyramid import level_factors

    tileset = read_input(input_path)[0]
    mosaic = fuse(tileset, chunk_size=(1, bench_fuse.CHUNK, bench_fuse.CHUNK))
    dims = mosaic.dims
    shape = dict(zip(dims, mosaic.shape))
    factors = level_factors(shape, dict(zip("zyx", tileset.spacing)), bench_fuse.CHUNK, None)
    levels = [mosaic.data]
    for low, high in zip(factors, factors[1:]):  # dask coarsen of the level above, edges padded
        axes = {i: high[ax] // low[ax] for i, ax in enumerate(dims) if high.get(ax, 1) > low.get(ax, 1)}
        level = da.pad(levels[-1], [(0, (-n) % axes.get(i, 1)) for i, n in enumerate(levels[-1].shape)],
                       mode="edge").rechunk({i: 2 * bench_fuse.CHUNK for i in axes})
        levels.append(da.coarsen(np.mean, level, axes).round().astype(level.dtype))
    group = zarr.open_group(output, mode="w", zarr_format=3)
    codec = Codec.parse(DEFAULT_CODEC).zarr_v3(2)
    targets = []
    for i, level in enumerate(levels):
        block = tuple(min(bench_fuse.CHUNK, n) for n in level.shape)
        level = level.rechunk(block)
        levels[i] = level
        targets.append(group.create_array(str(i), shape=level.shape, dtype=level.dtype,
                                          chunks=block, compressors=codec))
    da.store(levels, targets, lock=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=5)
    parser.add_argument("--tile-size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    with tempfile.TemporaryDirectory(prefix="bench-resume-") as folder:
        work = Path(folder)
        mosaic = bench_fuse.make_mosaic(args.grid, args.tile_size, 0.1)
        tiff = str(write_ome_tiff(mosaic, work / "tiles.ome.tif"))
        first, stop = mosaic.truth_extent()
        mpix = float((stop - first)[1] * (stop - first)[2]) / 1e6
        del mosaic
        plain = bench_fuse.Run("plain da.store, no bookkeeping", {
            "kind": "call", "module": "bench_resume", "function": "plain_write",
            "kwargs": {"input_path": tiff, "output": str(work / "plain.zarr")},
            "output": str(work / "plain.zarr")})
        ours = bench_fuse.Run("ngff-fuse convert", {
            "kind": "ngff-fuse", "output": str(work / "ours.ome.zarr"),
            "argv": ["convert", tiff, str(work / "ours.ome.zarr"), "--quiet", "--overwrite"]})
        resumed_out = work / "resumed.ome.zarr"
        resumed = bench_fuse.Run("resume after a kill at 50 %", {
            "kind": "ngff-fuse", "output": str(resumed_out),
            "argv": ["convert", tiff, str(resumed_out), "--quiet", "--resume"]})
        results: dict[str, list] = {r.label: [] for r in (plain, ours, resumed)}
        for _ in range(args.repeat):
            results[plain.label].append(bench_fuse.measure(plain))
            results[ours.label].append(bench_fuse.measure(ours))
            blocks = _blocks(work / "ours.ome.zarr")
            bench_fuse.remove(resumed_out)
            killed = subprocess.run(
                [sys.executable, "-m", "ngff_fuse.testing.crash", str(blocks // 2), "convert", tiff,
                 str(resumed_out), "--quiet"], capture_output=True)
            assert killed.returncode < 0, killed.stderr
            results[resumed.label].append(bench_fuse.measure(resumed, fresh=False))
        medians = {label: bench_fuse.median_result(rs) for label, rs in results.items()}
        base = medians[plain.label].seconds
        print(f"mosaic: {mpix:.1f} MPix, {blocks} blocks in all levels; repeats: {args.repeat}")
        print(f"{'run':<32} {'seconds':>8} {'x plain':>8} {'peak RSS MB':>12}")
        for label, r in medians.items():
            print(f"{label:<32} {r.seconds:>8.2f} {r.seconds / base:>8.2f} {r.peak_rss_mb:>12.0f}")


def _blocks(store: Path) -> int:
    """Write blocks (shards, or chunks when unsharded) over all levels of a store."""
    import zarr

    group = zarr.open_group(store, mode="r")
    return sum(math.prod(-(-n // c) for n, c in zip(a.shape, a.shards or a.chunks)) for _, a in group.arrays())


if __name__ == "__main__":
    main()
