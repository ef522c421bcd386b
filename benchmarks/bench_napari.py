"""Time to the first full view in napari: the raw acquisition fused lazily by the ngff-fuse
plugin, against the OME-Zarr `convert` wrote from it (target: within 3x).

    python benchmarks/bench_napari.py                 # 7 x 7 tiles of 2048^2 uint16: ~172 MPix
    python benchmarks/bench_napari.py --grid 3 --tile-size 1024 --repeat 3   # quick check

The input is bench_fuse's (a multi-series OME-TIFF of jittered overlapping tiles), and so are
the options (--grid, --tile-size, --overlap, --subpixel, --codec, --repeat, --workdir, --keep). Each open
runs in a child process with napari and the plugin imported before the clock: the time covers
reading the metadata, building the levels, the contrast limits and the first slice napari
takes of a new layer (the whole mosaic at the coarsest level, as a fit-to-window view shows it),
in a headless ViewerModel. Bytes read are the process's read(2)/pread(2) bytes (/proc/self/io
rchar), page cache included: the input was just written, so this measures work, not the disk.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = """
import json, sys, time
from napari.components import ViewerModel
from ngff_fuse.napari.reader import get_reader

def rchar():
    return int(next(l for l in open('/proc/self/io') if l.startswith('rchar')).split()[1])

path = sys.argv[1]
viewer = ViewerModel()
before, started = rchar(), time.perf_counter()
for data, kwargs, kind in get_reader(path)(path):
    getattr(viewer, f"add_{kind}")(data, **kwargs)
seconds = time.perf_counter() - started
levels = [layer.data_level for layer in viewer.layers if layer._type_string == "image"]
print(json.dumps({"seconds": seconds, "bytes": rchar() - before, "levels": levels}))
"""


def open_once(path: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    import bench_fuse

    from ngff_fuse.cli import main as cli
    from ngff_fuse.testing.ome_tiff import write_ome_tiff

    args = bench_fuse.parse_args(argv, __doc__, repeat=3)
    with bench_fuse.workdir(args, "bench-napari-") as work:
        mosaic = bench_fuse.make_mosaic(args.grid, args.tile_size, args.overlap, args.subpixel)
        tiff = write_ome_tiff(mosaic, work / "tiles.ome.tif")
        first, stop = mosaic.truth_extent()
        mpix = float((stop - first)[1] * (stop - first)[2]) / 1e6
        del mosaic
        store = work / "converted.ome.zarr"
        started = time.perf_counter()
        assert cli(["convert", str(tiff), str(store), "--codec", args.codec, "--quiet"]) == 0
        print(f"input: {args.grid} x {args.grid} tiles of {args.tile_size}^2 uint16, {mpix:.0f} MPix mosaic, "
              f"OME-TIFF {tiff.stat().st_size / 1e6:.0f} MB; convert took {time.perf_counter() - started:.1f} s")
        runs = {"raw, fused lazily": tiff, "converted OME-Zarr": store}
        results: dict[str, list[dict]] = {name: [] for name in runs}
        for _ in range(args.repeat):  # interleaved, so load from other work hits both alike
            for name, path in runs.items():
                results[name].append(open_once(path))
        print(f"{'open':<20} {'seconds':>8} {'MB read':>8}  level shown")
        medians = {}
        for name, found in results.items():
            medians[name] = statistics.median(r["seconds"] for r in found)
            megabytes = statistics.median(r["bytes"] for r in found) / 1e6
            print(f"{name:<20} {medians[name]:>8.2f} {megabytes:>8.1f}  {found[0]['levels']}")
        ratio = medians["raw, fused lazily"] / medians["converted OME-Zarr"]
        print(f"raw / converted: {ratio:.1f}x (target: within 3x)")


if __name__ == "__main__":
    main()
