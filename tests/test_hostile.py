"""The hostile-input suite: every case is an input or a condition a careless user or a hostile
environment produces. Each must end in ONE line on stderr naming the file and what to do, exit
code 2 for a problem with the input or options, 1 for one of the environment, never a traceback
and never "unexpected error" (the CLI's last line of defence means a path nobody thought of).

Cases are a flat parametrised list, so each counts and the suite grows by adding one. Fuzzed
files are damaged at seeded-random places (the same places every run); a fuzzed file may also
still convert (bytes of pixel data flipped), but it never fails in any other way.
"""

from __future__ import annotations

import errno
import json
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from damage import empty, flip_bytes, truncate_at
from ngff_fuse.cli import main
from ngff_fuse.testing import synthetic_mosaic
from ngff_fuse.testing.ome_tiff import write_ome_tiff
from ngff_fuse.testing.tile_files import write_imagej_tiff, write_manifest, write_tileconfig

INPUT, ENVIRONMENT = 2, 1


def mosaic(channels: int = 1, grid=(1, 2), dtype=np.uint16):
    return synthetic_mosaic(grid=grid, tile_shape=(16, 20), channels=channels, dtype=dtype)


@dataclass(frozen=True)
class Outcome:
    """What a case must end in: `codes` allowed exit codes, `names` text the line must hold
    (the file, words of the fix)."""

    codes: tuple[int, ...]
    names: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()  # the line names at least one of these (the listing or a tile)


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refusing an option
        code = exc.code
    return code, capsys.readouterr().err


def check(code: int, err: str, outcome: Outcome) -> None:
    assert code in outcome.codes, (code, err)
    assert "unexpected error" not in err and "Traceback" not in err, err
    if code == 0:
        return
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for text in outcome.names:
        assert text.lower() in lines[0].lower(), (text, lines[0])
    assert not outcome.one_of or any(text in lines[0] for text in outcome.one_of), lines[0]


# --- inputs to spoil ------------------------------------------------------------------------

def manifest(folder: Path, kind: str = "json", **kw) -> Path:
    return write_manifest(mosaic(**kw), folder, kind=kind)


def tileconfig(folder: Path, **kw) -> Path:
    return write_tileconfig(mosaic(**kw), folder)


def ome_tiff(folder: Path, **kw) -> Path:
    return write_ome_tiff(mosaic(**kw), folder / "tiles.ome.tif")


def edit_json(path: Path, change: Callable[[dict], None]) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))  # NaN and Infinity as Python writes them
    return path


def set_tile(key: str, value, index: int = 1):
    def change(data):
        data["tiles"][index][key] = value
    return change


def edit_csv_cell(path: Path, column: str, value: str, row: int = 2) -> Path:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[row].split(",")
    cells[header.index(column)] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def edit_tileconfig_x(path: Path, value: str, line_of: str = "tile_001") -> Path:
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith(line_of):
            head, coords = line.split("(")
            values = coords.rstrip(")").split(",")
            values[0] = value
            line = head + "(" + ",".join(values) + ")"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    return path


def convert(source: Path, folder: Path, *extra: str) -> list[str]:
    return ["convert", str(source), str(folder / "out.ome.zarr"), "--quiet", *extra]


# --- the cases ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], list[str]]  # makes the inputs in a folder, returns the argv
    outcome: Outcome


CASES: list[Case] = []


def case(id: str, codes=(INPUT,), names=(), one_of=()):
    def register(build):
        CASES.append(Case(id, build, Outcome(tuple(codes), tuple(names), tuple(one_of))))
        return build
    return register


# positions no stage reaches, and numbers that are no numbers
for key in ("x", "y", "z"):
    for value in (1e308, -1e308, float("inf"), float("-inf"), float("nan")):
        @case(f"manifest-json-{key}={value}", names=("tile",))
        def _(folder, key=key, value=value):
            path = edit_json(manifest(folder), set_tile(key, value))
            return convert(path, folder)

for value in ("1e308", "-1e308", "inf", "nan", "1e999", "0x10", "", "--3"):
    @case(f"manifest-csv-x={value!r}", names=("tile_001.tif" if "e308" in value else "manifest.csv",))
    def _(folder, value=value):
        return convert(edit_csv_cell(manifest(folder, kind="csv"), "x", value), folder)

for value in ("1e308", "-1e308", "inf", "-inf", "nan", "1e400", "0x10", "--3", ""):
    @case(f"tileconfig-x={value!r}", names=("tile_001.tif" if "e308" in value else "TileConfiguration.txt",))
    def _(folder, value=value):
        return convert(edit_tileconfig_x(tileconfig(folder), value), folder)

for key, value in (("x", 0), ("x", -1), ("x", float("nan")), ("y", 1e-300), ("x", 1e308),
                   ("x", float("inf"))):
    @case(f"manifest-pixel_size.{key}={value}", names=("tile_00" if value == 1e-300 else "manifest.json",))
    def _(folder, key=key, value=value):
        return convert(edit_json(manifest(folder), lambda d: d["pixel_size"].update({key: value})), folder)

for option in ("0", "-1", "nan", "inf", "1e-300,1,1", "a,b"):
    @case(f"--pixel-size={option}")
    def _(folder, option=option):
        return convert(manifest(folder), folder, f"--pixel-size={option}")


# units: every OME UnitsLength value is read or refused in a line, never a crash
OME_UNITS = ("Ym", "Zm", "Em", "Pm", "Tm", "Gm", "Mm", "km", "hm", "dam", "m", "dm", "cm", "mm",
             "µm", "nm", "pm", "fm", "am", "zm", "ym", "Å", "thou", "li", "in", "ft", "yd", "mi",
             "ua", "ly", "pc", "pt", "pixel", "reference frame")
for unit in OME_UNITS:
    @case(f"ome-position-unit={unit}", codes=(0, INPUT), names=("tiles.ome.tif",))
    def _(folder, unit=unit):
        return convert(write_ome_tiff(mosaic(), folder / "tiles.ome.tif", position_unit=unit), folder)

for unit in ("reference frame", "pixel", "parsec", "furlong", ""):
    @case(f"manifest-position_unit={unit!r}", codes=(0, INPUT), names=("manifest.json",))
    def _(folder, unit=unit):
        return convert(edit_json(manifest(folder), lambda d: d.update(position_unit=unit)), folder)


# where the output goes
@case("output-in-missing-folder", names=("missing", "create"))
def _(folder):
    return ["convert", str(manifest(folder)), str(folder / "missing" / "out.ome.zarr"), "--quiet"]


@case("output-under-a-file", names=("afile",))
def _(folder):
    (folder / "afile").write_text("x")
    return ["convert", str(manifest(folder)), str(folder / "afile" / "out.ome.zarr"), "--quiet"]


@case("output-is-a-file", names=("out.ome.zarr",))
def _(folder):
    (folder / "out.ome.zarr").write_text("not a store")
    return convert(manifest(folder), folder)


@case("preview-in-missing-folder", names=("missing",))
def _(folder):
    return convert(manifest(folder), folder, "--preview", str(folder / "missing" / "p.png"))


@case("preview-is-a-folder", names=("p.png",))
def _(folder):
    (folder / "p.png").mkdir()
    return convert(manifest(folder), folder, "--preview", str(folder / "p.png"))


@case("register-out-in-missing-folder", names=("missing",))
def _(folder):
    return ["register", str(manifest(folder)), "--out", str(folder / "missing" / "p.json"), "--quiet"]


@case("register-qc-plot-in-missing-folder", names=("missing",))
def _(folder):
    return ["register", str(manifest(folder)), "--out", str(folder / "p.json"),
            "--qc-plot", str(folder / "missing" / "qc.png"), "--quiet"]


@case("layout-png-in-missing-folder", names=("missing",))
def _(folder):
    return ["layout", str(manifest(folder)), str(folder / "missing" / "l.png"), "--quiet"]


@case("layout-png-is-a-folder", names=("l.png",))
def _(folder):
    (folder / "l.png").mkdir()
    return ["layout", str(manifest(folder)), str(folder / "l.png"), "--quiet"]


@case("preview-of-a-missing-store", names=("nothing.ome.zarr",))
def _(folder):
    return ["preview", str(folder / "nothing.ome.zarr"), str(folder / "p.png")]


@case("preview-of-a-file", names=("tiles.ome.tif",))
def _(folder):
    return ["preview", str(ome_tiff(folder)), str(folder / "p.png")]


@case("validate-a-file", codes=(ENVIRONMENT, INPUT), names=("tiles.ome.tif",))
def _(folder):
    return ["validate", str(ome_tiff(folder)), "--quiet"]


@case("fuse-store-of-a-tiff", names=("tiles.ome.tif",))
def _(folder):
    return ["fuse-store", str(ome_tiff(folder)), str(folder / "o.ome.zarr")]


# directories where files belong, and files where directories belong
@case("input-is-an-empty-folder", names=("empty",))
def _(folder):
    (folder / "empty").mkdir()
    return convert(folder / "empty", folder)


@case("manifest-tile-is-a-folder", names=("tile_001.tif",))
def _(folder):
    path = manifest(folder)
    (folder / "tile_001.tif").unlink()
    (folder / "tile_001.tif").mkdir()
    return convert(path, folder)


@case("tileconfig-tile-is-a-folder", names=("tile_001.tif",))
def _(folder):
    path = tileconfig(folder)
    (folder / "tile_001.tif").unlink()
    (folder / "tile_001.tif").mkdir()
    return convert(path, folder)


@case("positions-is-a-folder", names=("positions.json",))
def _(folder):
    (folder / "positions.json").mkdir()
    return convert(manifest(folder), folder, "--positions", str(folder / "positions.json"))


@case("positions-missing", names=("positions.json",))
def _(folder):
    return convert(manifest(folder), folder, "--positions", str(folder / "positions.json"))


@case("input-suffix-json-is-a-folder", names=("tiles.json",))
def _(folder):
    (folder / "tiles.json").mkdir()
    return convert(folder / "tiles.json", folder)


# empty files and nothing to fuse
for name in ("empty.json", "empty.csv", "TileConfiguration.txt", "empty.ome.tif", "empty.czi",
             "empty.lif", "empty.nd2", "empty.tif"):
    @case(f"empty-file-{name}", names=(name,))
    def _(folder, name=name):
        (folder / name).write_bytes(b"")
        return convert(folder / name, folder)


@case("empty-tile-file", names=("tile_001.tif",))
def _(folder):
    path = manifest(folder)
    (folder / "tile_001.tif").write_bytes(b"")
    return convert(path, folder)


@case("empty-positions-file", names=("positions.json",))
def _(folder):
    (folder / "positions.json").write_bytes(b"")
    return convert(manifest(folder), folder, "--positions", str(folder / "positions.json"))


@case("zero-tiles-json", names=("manifest.json",))
def _(folder):
    return convert(edit_json(manifest(folder), lambda d: d.update(tiles=[])), folder)


@case("zero-tiles-csv", names=("manifest.csv",))
def _(folder):
    path = manifest(folder, kind="csv")
    path.write_text(path.read_text().splitlines()[0] + "\n")
    return convert(path, folder)


@case("zero-tiles-tileconfig", names=("TileConfiguration.txt",))
def _(folder):
    (folder / "TileConfiguration.txt").write_text("# Define the number of dimensions\ndim = 2\n")
    return convert(folder / "TileConfiguration.txt", folder)


# tiles that do not belong together
@case("tiles-of-different-dtypes", names=("tile_001.tif",))
def _(folder):
    path = manifest(folder)
    write_imagej_tiff(folder / "tile_001.tif", np.zeros((1, 1, 1, 16, 20), np.float32))
    return convert(path, folder)


@case("tiles-of-different-channel-counts", names=("tile_001.tif", "channels"))
def _(folder):
    two = mosaic(channels=2)
    path = write_tileconfig(two, folder)
    write_imagej_tiff(folder / "tile_001.tif", np.zeros((1, 1, 1, 16, 20), np.uint16), two.spacing)
    return convert(path, folder)


@case("tiles-2d-and-3d", names=("tile_001.tif",))
def _(folder):
    path = manifest(folder)
    write_imagej_tiff(folder / "tile_001.tif", np.zeros((1, 1, 3, 16, 20), np.uint16))
    return convert(path, folder)


for dtype in ("bool", "complex64", "float16", "int64", "uint64"):
    @case(f"tiles-of-dtype-{dtype}", codes=(0, INPUT), names=("tile_000.tif",))
    def _(folder, dtype=dtype):
        path = manifest(folder)
        for name in ("tile_000.tif", "tile_001.tif"):
            tifffile.imwrite(folder / name, np.ones((16, 20), dtype))
        return convert(path, folder)


# ImageXpress sites cut short
def imagexpress(folder: Path, channels: int = 1) -> Path:
    from ngff_fuse.testing.imagexpress import write_imagexpress

    return write_imagexpress({"A01": mosaic(channels, grid=(1, 3))}, folder / "plate", guid=False,
                             htd=True)


def site_file(plate: Path) -> Path:
    return next(p for p in sorted(plate.rglob("*_s2*.tif")) if "thumb" not in p.name)


@case("imagexpress-site-missing-a-channel", names=("A01", "site 2"))
def _(folder):
    plate = imagexpress(folder, channels=2)
    site_file(plate).unlink()
    return convert(plate, folder)


for damage in ("truncated", "empty", "halved", "missing", "text"):
    @case(f"imagexpress-site-{damage}", names=("A01", "site 2") if damage == "missing" else ("A01_s2",))
    def _(folder, damage=damage):
        plate = imagexpress(folder)
        site = site_file(plate)
        data = site.read_bytes()
        {"truncated": lambda: site.write_bytes(data[:300]), "empty": lambda: site.write_bytes(b""),
         "halved": lambda: site.write_bytes(data[: len(data) // 2]), "missing": site.unlink,
         "text": lambda: site.write_text("not a TIFF")}[damage]()
        return convert(plate, folder)


# options out of range; the line names the option, or the word for it
OPTION_NAMED = {"--scene": "scene", "--fill": "fill", "--max-shift": "shift", "--register-channel": "channel",
                "--pixel-size": "pixel-size"}
for option in (("--chunk", "0"), ("--chunk", "-5"), ("--chunk-z", "0"), ("--levels", "0"),
               ("--levels", "-1"), ("--levels", "99999999"), ("--levels", "8"), ("--shard", "3"), ("--shard", "-1024"), ("--blend-width", "-1"),
               ("--blend-width", "nan"), ("--blend-width", "inf"), ("--fill", "1e400"), ("--fill", "nan"),
               ("--fill", "-1"), ("--fill", "70000"), ("--workers", "0"), ("--workers", "-2"),
               ("--codec", "foo"), ("--codec", "zstd:99"), ("--codec", "zstd:x"), ("--scene", "99"),
               ("--scene", "x"), ("--scene", "-1"), ("--max-shift", "-3"), ("--register-channel", "7"),
               ("--register-channel", "nosuch"), ("--register-channel", "-1"), ("--fill", "9" * 40),
               ("--pixel-size", "1,1,1,1"), ("--pixel-size", ""), ("--codec", "none:5"), ("--codec", ""),
               ("--ngff", "0.3"), ("--blend", "median"), ("--downsample", "bicubic")):
    @case(f"option{'='.join(option)}", names=(OPTION_NAMED.get(option[0], option[0]),))
    def _(folder, option=option):
        extra = ["--register"] if option[0] in ("--max-shift", "--register-channel") else []
        return convert(manifest(folder), folder, *option, *extra)


# saved positions that are not positions
def positions(folder: Path, suffix: str = ".json") -> tuple[Path, Path]:
    source = manifest(folder)
    saved = folder / f"positions{suffix}"
    assert main(["register", str(source), "--out", str(saved), "--quiet"]) == 0
    return source, saved


for seed in range(8):
    @case(f"positions-json-mangled-{seed}", codes=(0, INPUT), names=("positions.json",))
    def _(folder, seed=seed):
        source, saved = positions(folder)
        return convert(source, folder, "--positions", str(mangle_text(saved, seed)))

for seed in range(8):
    @case(f"positions-txt-mangled-{seed}", codes=(0, INPUT), names=("positions.txt",))
    def _(folder, seed=seed):
        source, saved = positions(folder, ".txt")
        return convert(source, folder, "--positions", str(mangle_text(saved, seed)))

for value in ("NaN", "Infinity", "1e308", '"left"', "null", "[]"):
    @case(f"positions-json-value-{value}", names=("positions.json",))
    def _(folder, value=value):
        source, saved = positions(folder)
        text = saved.read_text()
        data = json.loads(text)
        first = json.dumps(data["tiles"][0]) if isinstance(data.get("tiles"), list) else None
        assert first is not None, text[:200]
        tile = data["tiles"][0]
        key = next(k for k in ("x", "position", "offset") if k in tile)
        tile[key] = "__VALUE__"
        saved.write_text(json.dumps(data).replace('"__VALUE__"', value))
        return convert(source, folder, "--positions", str(saved))


# a kept-tiles store, damaged, re-fused
def kept_store(folder: Path) -> Path:
    store = folder / "kept.ome.zarr"
    assert main(["convert", str(manifest(folder)), str(store), "--keep-tiles", "--quiet"]) == 0
    return store


for damage in ("root-zarr.json-truncated", "root-zarr.json-empty", "root-zarr.json-not-json",
               "tiles-zarr.json-truncated", "tiles-removed", "a-tile-array-removed", "a-tile-chunk-flipped"):
    @case(f"fuse-store-{damage}", codes=(0, INPUT) if damage == "a-tile-chunk-flipped" else (INPUT,),
          names=("kept.ome.zarr",))
    def _(folder, damage=damage):
        import shutil

        store = kept_store(folder)
        root, tiles = store / "zarr.json", store / "tiles" / "zarr.json"
        arrays = sorted(p for p in (store / "tiles").iterdir() if p.is_dir())
        if damage == "root-zarr.json-truncated":
            truncate_at(root, 0.5)
        elif damage == "root-zarr.json-empty":
            root.write_bytes(b"")
        elif damage == "root-zarr.json-not-json":
            root.write_text("{ not json")
        elif damage == "tiles-zarr.json-truncated":
            truncate_at(tiles, 0.5)
        elif damage == "tiles-removed":
            shutil.rmtree(store / "tiles")
        elif damage == "a-tile-array-removed":
            shutil.rmtree(arrays[0])
        else:
            chunk = next(p for p in sorted(arrays[0].rglob("*")) if p.is_file() and p.name != "zarr.json")
            flip_bytes(chunk, lambda data: (0, len(data)), 0, count=16)
        return ["fuse-store", str(store), str(folder / "refused.ome.zarr"), "--quiet"]


# a fused store, damaged, previewed
def fused_store(folder: Path, *options: str) -> Path:
    store = folder / "fused.ome.zarr"
    assert main(["convert", str(manifest(folder)), str(store), "--quiet", *options]) == 0
    return store


for damage, options in (("level-0-chunk-flipped", ()), ("level-0-chunk-empty", ()),
                        ("level-0-shard-truncated", ()), ("root-zarr.json-truncated", ()),
                        ("level-0-zarr.json-not-json", ()), ("level-0-removed", ()),
                        ("level-0-chunk-flipped-v2", ("--ngff", "0.4")),
                        ("root-zattrs-truncated-v2", ("--ngff", "0.4"))):
    @case(f"preview-{damage}", codes=(0, INPUT, ENVIRONMENT), names=("fused.ome.zarr",))
    def _(folder, damage=damage, options=options):
        import shutil

        store = fused_store(folder, *options)
        last = sorted((store / "0").rglob("*"))
        chunk = [p for p in last if p.is_file() and p.name not in (".zarray", ".zattrs", "zarr.json")][-1]
        if damage.startswith("level-0-chunk-flipped"):
            flip_bytes(chunk, lambda data: (0, len(data)), 1, count=16)
        elif damage == "level-0-chunk-empty":
            chunk.write_bytes(b"")
        elif damage == "level-0-shard-truncated":
            truncate_at(chunk, 0.9)
        elif damage == "root-zarr.json-truncated":
            truncate_at(store / "zarr.json", 0.5)
        elif damage == "root-zattrs-truncated-v2":
            truncate_at(store / ".zattrs", 0.5)
        elif damage == "level-0-zarr.json-not-json":
            (store / "0" / "zarr.json").write_text("{")
        else:
            shutil.rmtree(store / "0")
        return ["preview", str(store), str(folder / "p.png"), "--quiet"]


# every reading command over a fuzzed OME-TIFF
for command in ("info", "layout", "register"):
    for seed in range(6):
        @case(f"{command}-of-a-fuzzed-ome-tiff-{seed}", codes=(0, INPUT), names=("tiles.ome.tif",))
        def _(folder, command=command, seed=seed):
            path = ome_tiff(folder)
            flip_bytes(path, anywhere, 100 + seed, count=4 + 8 * seed)
            out = {"info": [], "layout": [str(folder / "l.png")],
                   "register": ["--out", str(folder / "p.json")]}[command]
            return [command, str(path), *out, "--quiet"]


# pictures in formats nobody writes, sizes no picture has; checked before any work
@case("convert-preview-in-an-unknown-format", names=("p.xyz", ".png"))
def _(folder):
    return convert(manifest(folder), folder, "--preview", str(folder / "p.xyz"))


@case("layout-in-an-unknown-format", names=("l.xyz", ".png"))
def _(folder):
    return ["layout", str(manifest(folder)), str(folder / "l.xyz"), "--quiet"]


@case("preview-in-an-unknown-format", names=("p.xyz", ".png"))
def _(folder):
    return ["preview", str(fused_store(folder)), str(folder / "p.xyz"), "--quiet"]


@case("register-qc-plot-in-an-unknown-format", names=("q.xyz", ".png"))
def _(folder):
    return ["register", str(manifest(folder)), "--out", str(folder / "p.json"), "--qc-plot",
            str(folder / "q.xyz"), "--quiet"]


@case("convert-qc-plot-in-an-unknown-format", names=("q.xyz", ".png"))
def _(folder):
    return convert(manifest(folder), folder, "--register", "--qc-plot", str(folder / "q.xyz"))


for size in ("0", "-5", "x"):
    @case(f"preview-size={size}", names=("--size",))
    def _(folder, size=size):
        return ["preview", str(fused_store(folder)), str(folder / "p.png"), "--size", size]

for shift in ("1e308", "inf", "0"):
    @case(f"register-max-shift={shift}", names=("--max-shift",))
    def _(folder, shift=shift):
        return ["register", str(manifest(folder)), "--out", str(folder / "p.json"), "--max-shift", shift]


@case("tile-is-a-pipe", names=("tile_001.tif", "pipe"))
def _(folder):
    import os

    path = manifest(folder)
    (folder / "tile_001.tif").unlink()
    os.mkfifo(folder / "tile_001.tif")
    return convert(path, folder)


@case("input-is-a-device", names=("/dev/null",))
def _(folder):
    return convert(Path("/dev/null"), folder)


# pixels that are no numbers, tiles with nothing to match: fused, previewed and registered
# as they are, or refused in a line
for kind in ("all-nan", "inf-and-nan", "constant", "one-pixel"):
    @case(f"tiles-{kind}-registered-and-previewed", codes=(0, INPUT), names=("tile_00",))
    def _(folder, kind=kind):
        path = manifest(folder)
        for name in ("tile_000.tif", "tile_001.tif"):
            pixels = {"all-nan": lambda: np.full((16, 20), np.nan, np.float32),
                      "inf-and-nan": lambda: np.array([[np.inf, -np.inf], [np.nan, 1]], np.float32).repeat(8, 0).repeat(10, 1),
                      "constant": lambda: np.zeros((16, 20), np.uint16),
                      "one-pixel": lambda: np.ones((1, 1), np.uint16)}[kind]()
            tifffile.imwrite(folder / name, pixels)
        return convert(path, folder, "--register", "--preview", str(folder / "p.png"))


@case("input-is-a-pipe", names=("manifest.json", "pipe"))
def _(folder):
    import os

    os.mkfifo(folder / "manifest.json")
    return convert(folder / "manifest.json", folder)


# names that hold a newline: the error stays one line
@case("damaged-tile-named-with-a-newline", names=("tile\\n1.tif",))
def _(folder):
    path = manifest(folder)
    (folder / "tile\n1.tif").write_bytes((folder / "tile_001.tif").read_bytes()[:100])
    return convert(edit_json(path, set_tile("file", "tile\n1.tif")), folder)


@case("output-folder-named-with-a-newline", names=("new\\nfolder",))
def _(folder):
    return ["convert", str(manifest(folder)), str(folder / "new\nfolder" / "o.ome.zarr"), "--quiet"]


# multi-file OME-TIFF: its companion file mangled, one of its TIFFs gone or cut short
def companion(folder: Path, master: bool = False) -> tuple[Path, list[Path]]:
    from test_reader_ome_companion import write_multifile

    return write_multifile(mosaic(), folder / "set", master=master)


for seed in range(10):
    @case(f"companion-mangled-{seed}", codes=(0, INPUT), one_of=("mosaic.companion.ome", "tile"))
    def _(folder, seed=seed):
        xml, _ = companion(folder)
        return convert(mangle_text(xml, seed), folder)

for damage in ("missing", "truncated", "empty"):
    for master in (False, True):
        @case(f"companion-{'master' if master else 'xml'}-tiff-{damage}", one_of=("tile1_t0.ome.tif",))
        def _(folder, damage=damage, master=master):
            xml, tiffs = companion(folder, master)
            second = tiffs[1]
            if damage == "missing":
                second.unlink()
            elif damage == "truncated":
                truncate_at(second, 0.5)
            else:
                second.write_bytes(b"")
            return convert(xml, folder)


# options that contradict each other
for options in (("--resume", "--overwrite"), ("--shard", "2048", "--ngff", "0.4"),
                ("--workers", "1", "--scheduler", "tcp://127.0.0.1:1")):
    @case(f"options{'-'.join(options)}", names=(options[0],))
    def _(folder, options=options):
        return convert(manifest(folder), folder, *options)


# saved positions of another input, or files that are not positions
@case("positions-of-another-input", names=("positions.json", "tiles"))
def _(folder):
    _, saved = positions(folder / "other")
    source = write_manifest(mosaic(grid=(1, 3)), folder / "this")
    return convert(source, folder, "--positions", str(saved))


for name in ("manifest.json", "tile_000.tif"):
    @case(f"positions-is-{name}", names=(name,))
    def _(folder, name=name):
        return convert(manifest(folder), folder, "--positions", str(folder / name))


# commands given what they do not read
@case("validate-an-empty-folder", names=("e.zarr",))
def _(folder):
    (folder / "e.zarr").mkdir()
    return ["validate", str(folder / "e.zarr")]


for command in ("info", "layout"):
    @case(f"{command}-of-a-fused-store-without-tiles", names=("fused.ome.zarr", "--keep-tiles"))
    def _(folder, command=command):
        return [command, str(fused_store(folder)), *([str(folder / "l.png")] if command == "layout" else [])]


# a tile whose pixels are damaged (the header reads): found by whichever command reads them
def damaged_pixels(folder: Path, how: str) -> Path:
    """Two tiles that overlap (registration and the orientation check read the overlap)."""
    path = write_manifest(synthetic_mosaic(grid=(1, 2), tile_shape=(16, 20), overlap=0.4, jitter=0), folder)
    tile = folder / "tile_001.tif"
    if how == "compressed":
        tifffile.imwrite(tile, np.arange(320, dtype=np.uint16).reshape(16, 20), compression="zlib")
        data = bytearray(tile.read_bytes())
        start = tifffile.TiffFile(tile).pages.first.dataoffsets[0]
        data[start + 2:start + 12] = bytes(10)
        tile.write_bytes(bytes(data))
    else:
        truncate_at(tile, 0.6)
    return path


for how in ("compressed", "cut-short"):
    for command in ("convert", "convert-register", "register", "info", "layout"):
        @case(f"tile-pixels-{how}-{command}", codes=(0, INPUT) if command == "layout" else (INPUT,),
              names=("tile_001.tif",))
        def _(folder, how=how, command=command):
            path = damaged_pixels(folder, how)
            return {"convert": convert(path, folder),
                    "convert-register": convert(path, folder, "--register"),
                    "register": ["register", str(path), "--out", str(folder / "p.json")],
                    "info": ["info", str(path)],
                    "layout": ["layout", str(path), str(folder / "l.png")]}[command]


# an ImageXpress export with a damaged plate file, or strangers among its TIFFs
for seed in range(6):
    @case(f"imagexpress-htd-mangled-{seed}", codes=(0, INPUT), one_of=("Plate", "plate"))
    def _(folder, seed=seed):
        plate = imagexpress(folder)
        return convert(mangle_text(plate / "Plate.HTD", seed), folder)


@case("imagexpress-htd-empty", names=("Plate.HTD", "empty"))
def _(folder):
    plate = imagexpress(folder)
    (plate / "Plate.HTD").write_bytes(b"")
    return convert(plate / "Plate.HTD", folder)


for stranger in ("notes.txt", "Plate_A01_s9.tif", "Plate_A01_s2_w9.tif"):
    @case(f"imagexpress-stranger-{stranger}", codes=(0, INPUT), one_of=("plate", stranger))
    def _(folder, stranger=stranger):
        plate = imagexpress(folder)
        if stranger.endswith(".tif"):
            tifffile.imwrite(plate / stranger, np.zeros((16, 20), np.uint16))  # no MetaSeries XML
        else:
            (plate / stranger).write_text("acquired on Tuesday")
        return convert(plate, folder)


# tiles in every shape a TIFF takes: read, or refused naming the tile
def write_two_tiles(folder: Path, write: Callable[[Path], None]) -> Path:
    path = manifest(folder)
    for name in ("tile_000.tif", "tile_001.tif"):
        write(folder / name)
    return path


def pyramidal(path: Path) -> None:
    with tifffile.TiffWriter(path) as tif:
        tif.write(np.ones((32, 40), np.uint16), subifds=1)
        tif.write(np.ones((16, 20), np.uint16), subfiletype=1)


def png_named_tif(path: Path) -> None:
    import matplotlib.pyplot as plt

    plt.imsave(path.with_suffix(".png"), np.ones((16, 20)))
    path.with_suffix(".png").rename(path)


TILE_KINDS = {
    "six-axes": (lambda p: tifffile.imwrite(p, np.ones((2, 2, 2, 2, 16, 20), np.uint16)), (INPUT,)),
    "rgb": (lambda p: tifffile.imwrite(p, np.ones((16, 20, 3), np.uint8), photometric="rgb"), (0, INPUT)),
    "rgba": (lambda p: tifffile.imwrite(p, np.ones((16, 20, 4), np.uint8), photometric="rgb",
                                        extrasamples=["unassalpha"]), (0, INPUT)),
    "imagej-hyperstack": (lambda p: tifffile.imwrite(p, np.ones((2, 3, 2, 16, 20), np.uint16), imagej=True,
                                                     metadata={"axes": "TZCYX"}), (0, INPUT)),
    "pyramidal": (pyramidal, (0, INPUT)),
    "tiled-zlib": (lambda p: tifffile.imwrite(p, np.ones((64, 80), np.uint16), tile=(16, 16),
                                              compression="zlib"), (0, INPUT)),
    "jpeg": (lambda p: tifffile.imwrite(p, np.ones((16, 24), np.uint8), compression="jpeg"), (0, INPUT)),
    "png-named-tif": (png_named_tif, (INPUT,)),
}
for kind, (write, codes) in TILE_KINDS.items():
    @case(f"tiles-{kind}", codes=codes, names=("tile_000.tif",))
    def _(folder, write=write):
        return convert(write_two_tiles(folder, write), folder)


# --- fuzzed files: the same seeded damage every run -----------------------------------------

def header(_data: bytes) -> tuple[int, int]:
    return 0, 16


def ome_xml(data: bytes) -> tuple[int, int]:
    start = data.find(b"<OME")
    return start, data.find(b"</OME>", start) + 6


def ifds(data: bytes) -> tuple[int, int]:
    """The bytes after the OME-XML (tifffile writes the IFDs and pixels after it)."""
    return ome_xml(data)[1], len(data)


for fraction in np.linspace(0.02, 0.98, 25):
    @case(f"ome-tiff-truncated-at-{fraction:.2f}", names=("tiles.ome.tif",))
    def _(folder, fraction=fraction):
        path = ome_tiff(folder)
        truncate_at(path, fraction)
        return convert(path, folder)

def anywhere(data: bytes) -> tuple[int, int]:
    return 0, len(data)


for region in (header, ome_xml, ifds, anywhere):
    for seed in range(12):
        @case(f"ome-tiff-flipped-{region.__name__}-{seed}", codes=(0, INPUT), names=("tiles.ome.tif",))
        def _(folder, region=region, seed=seed):
            path = ome_tiff(folder)
            flip_bytes(path, region, seed, count=1 + seed * 3)
            return convert(path, folder)


def czi(folder: Path) -> Path:
    from ngff_fuse.testing.czi import write_czi_mosaic

    return write_czi_mosaic(mosaic(), folder / "slide.czi")


for fraction in (0.05, 0.3, 0.6, 0.95):
    @case(f"czi-truncated-at-{fraction}", names=("slide.czi",))
    def _(folder, fraction=fraction):
        path = czi(folder)
        truncate_at(path, fraction)
        return convert(path, folder)

for seed in range(6):
    @case(f"czi-flipped-{seed}", codes=(0, INPUT), names=("slide.czi",))
    def _(folder, seed=seed):
        path = czi(folder)
        flip_bytes(path, lambda data: (0, len(data)), seed, count=8)
        return convert(path, folder)


def mangle_text(path: Path, seed: int) -> Path:
    """Seeded edits a hand or a broken export makes: a character dropped, doubled, replaced."""
    text = list(path.read_text())
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(text))
        kind = rng.choice(("drop", "double", "replace"))
        if kind == "drop":
            del text[i]
        elif kind == "double":
            text.insert(i, text[i])
        else:
            text[i] = rng.choice("();,:{}[]\"'0.-eE\n\t x#é\x00")
    path.write_text("".join(text))
    return path


for seed in range(15):
    @case(f"tileconfig-mangled-{seed}", codes=(0, INPUT), names=("TileConfiguration.txt",))
    def _(folder, seed=seed):
        return convert(mangle_text(tileconfig(folder), seed), folder)

for seed in range(15):
    @case(f"manifest-json-mangled-{seed}", codes=(0, INPUT), names=("manifest.json",))
    def _(folder, seed=seed):
        return convert(mangle_text(manifest(folder), seed), folder)

for seed in range(10):
    @case(f"manifest-csv-mangled-{seed}", codes=(0, INPUT), names=("manifest.csv",))
    def _(folder, seed=seed):
        return convert(mangle_text(manifest(folder, kind="csv"), seed), folder)


# --- real files from ../shared, damaged in a copy -------------------------------------------

REAL = {"lif": "lif-tilescan/PR2729_frameOrderCombinedScanTypes.lif",
        "czi": "czi-zen-simulated/S3_1Pos_2Mosaic_T1_Z1_CH1.czi"}
REAL_DAMAGE = [(kind, "truncated", fraction) for kind in REAL for fraction in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)]
REAL_DAMAGE += [(kind, "flipped", seed) for kind in REAL for seed in range(8)]


@pytest.mark.parametrize("kind, damage, amount", REAL_DAMAGE,
                         ids=[f"{k}-{d}-{a}" for k, d, a in REAL_DAMAGE])
def test_damaged_real_file(kind, damage, amount, shared_dir, tmp_path, capsys):
    source = shared_dir / "realdata" / REAL[kind]
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes())
    if damage == "truncated":
        truncate_at(path, amount)
    else:
        flip_bytes(path, anywhere, amount, count=2 + 6 * amount)
    capsys.readouterr()
    code, err = run(convert(path, tmp_path), capsys)
    check(code, err, Outcome((0, INPUT), (source.name,)))


# --- a hostile machine: disks that fill, memory that runs out, files that cannot be opened ----

@dataclass(frozen=True)
class Failure:
    """A failure of the machine injected at one step of a conversion of a tiny manifest:
    `inject(monkeypatch, folder)` makes the step fail; the line must name `names`."""

    id: str
    inject: Callable
    outcome: Outcome
    argv: tuple[str, ...] = ()
    source: Callable[[Path], Path] = manifest  # the input it converts


def failing_store_write(error: OSError, when: Callable[[str, bytes], bool]):
    """Make zarr's local store raise `error` when writing a file (its path, and bytes) that
    `when` picks."""
    def inject(monkeypatch, folder):
        from zarr.storage import LocalStore

        real = LocalStore.set

        async def set(self, key, value):
            if when(f"{self.root}/{key}", value.to_bytes()):
                raise error
            return await real(self, key, value)
        monkeypatch.setattr(LocalStore, "set", set)
    return inject


def is_image_metadata(path: str, value: bytes) -> bool:
    """The write that makes a store an image: the root metadata with its multiscales."""
    return path.endswith("zarr.json") and b"multiscales" in value


def is_chunk(path: str, _value: bytes) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "/c/" in path or (name[:1].isdigit() and not name.startswith((".z", "zarr")))


def failing_tile_read(error: BaseException):
    def inject(monkeypatch, folder):
        from ngff_fuse.fuse.pixels import TilePixels

        def read(self, index, key):
            raise error
        monkeypatch.setattr(TilePixels, "_read", read)
    return inject


def enospc(name="zarr.json"):
    return OSError(errno.ENOSPC, "No space left on device", name)


def two_wells(folder: Path) -> Path:
    """A plate of two wells: an HCS plate, or with --no-hcs a multi-scene output (bioformats2raw
    layout, OME-XML)."""
    from ngff_fuse.testing.imagexpress import write_imagexpress

    return write_imagexpress({"A01": mosaic(), "A02": mosaic()}, folder / "plate", guid=False)


def failing_text_write(error: OSError, name: str):
    """Make writing a text file called `name` raise `error` (the store's OME-XML)."""
    def inject(monkeypatch, folder):
        real = Path.write_text

        def write_text(self, *args, **kwargs):
            if self.name == name:
                raise error
            return real(self, *args, **kwargs)
        monkeypatch.setattr(Path, "write_text", write_text)
    return inject


def is_collection_metadata(path: str, value: bytes) -> bool:
    """The write that makes a multi-scene store complete: the root's bioformats2raw layout."""
    return path.endswith(("zarr.json", ".zattrs")) and b"bioformats2raw" in value


def is_plate_metadata(path: str, value: bytes) -> bool:
    """The write that makes a plate complete: the root's plate metadata."""
    return path.endswith(("zarr.json", ".zattrs")) and b'"plate"' in value and b'"wells"' in value


def is_well_metadata(path: str, value: bytes) -> bool:
    return path.endswith(("zarr.json", ".zattrs")) and b'"well"' in value and b'"images"' in value


def worker_killed(monkeypatch, folder):
    """A dask worker process that died under the task (KilledWorker), as an OOM kill does."""
    from distributed.scheduler import KilledWorker

    def store_pyramids(*args, **kwargs):
        raise KilledWorker("fuse-chunk-0", None, 3)
    monkeypatch.setattr("ngff_fuse.writer.store_pyramids", store_pyramids)


def is_kept_tile_chunk(path: str, value: bytes) -> bool:
    return "/tiles/" in path and is_chunk(path, value)


RESUME = "--resume"
FAILURES = [
    Failure("disk-full-writing-a-kept-tile", failing_store_write(enospc("tiles/0/0/c/0/0/0"), is_kept_tile_chunk),
            Outcome((ENVIRONMENT,), ("space", RESUME)), ("--keep-tiles",)),
    Failure("worker-process-killed", worker_killed,
            Outcome((ENVIRONMENT,), ("memory", "worker process died", "--workers", RESUME)),
            ("--workers", "1")),
    Failure("multi-scene-disk-full-at-the-ome-xml",
            failing_text_write(enospc("OME/METADATA.ome.xml"), "METADATA.ome.xml"),
            Outcome((ENVIRONMENT,), ("METADATA.ome.xml", "space", RESUME)), ("--no-hcs",), source=two_wells),
    Failure("multi-scene-disk-full-at-final-metadata", failing_store_write(enospc(), is_collection_metadata),
            Outcome((ENVIRONMENT,), ("space", RESUME)), ("--no-hcs",), source=two_wells),
    Failure("multi-scene-v2-disk-full-at-final-metadata",
            failing_store_write(enospc(".zattrs"), is_collection_metadata),
            Outcome((ENVIRONMENT,), ("space", RESUME)), ("--ngff", "0.4", "--no-hcs"), source=two_wells),
    Failure("plate-disk-full-at-final-metadata", failing_store_write(enospc(), is_plate_metadata),
            Outcome((ENVIRONMENT,), ("space", RESUME)), source=two_wells),
    Failure("plate-v2-disk-full-at-a-well", failing_store_write(enospc(".zattrs"), is_well_metadata),
            Outcome((ENVIRONMENT,), ("space", RESUME)), ("--ngff", "0.4"), source=two_wells),
    Failure("disk-full-at-final-metadata", failing_store_write(enospc(), is_image_metadata),
            Outcome((ENVIRONMENT,), ("space", RESUME))),
    Failure("disk-full-at-a-chunk", failing_store_write(enospc("0/c/0/0/0"), is_chunk),
            Outcome((ENVIRONMENT,), ("space", RESUME))),
    Failure("quota-full-at-final-metadata",
            failing_store_write(OSError(errno.EDQUOT, "Disk quota exceeded", "zarr.json"), is_image_metadata),
            Outcome((ENVIRONMENT,), ("quota", RESUME))),
    Failure("permission-denied-at-a-chunk",
            failing_store_write(PermissionError(errno.EACCES, "Permission denied", "0/c/0/0/0"), is_chunk),
            Outcome((ENVIRONMENT,), ("permission", RESUME))),
    Failure("read-only-at-final-metadata",
            failing_store_write(OSError(errno.EROFS, "Read-only file system", "zarr.json"), is_image_metadata),
            Outcome((ENVIRONMENT,), ("read-only", RESUME))),
    Failure("io-error-at-a-chunk",
            failing_store_write(OSError(errno.EIO, "Input/output error", "0/c/0/0/0"), is_chunk),
            Outcome((ENVIRONMENT,), ("input/output", RESUME))),
    Failure("out-of-memory-in-fusion", failing_tile_read(MemoryError()),
            Outcome((ENVIRONMENT,), ("memory", "--chunk", "--workers", RESUME))),
    Failure("out-of-memory-in-fusion-with-workers", failing_tile_read(MemoryError("cannot allocate")),
            Outcome((ENVIRONMENT,), ("memory", "--chunk", RESUME)), ("--chunk", "64")),
    Failure("io-error-reading-a-tile", failing_tile_read(OSError(errno.EIO, "Input/output error")),
            Outcome((ENVIRONMENT,), ("tile_00", "input/output", RESUME))),
    Failure("too-many-open-files-reading-a-tile",
            failing_tile_read(OSError(errno.EMFILE, "Too many open files")),
            Outcome((ENVIRONMENT,), ("tile_00", "ulimit", RESUME))),
    Failure("tile-deleted-while-fusing",
            failing_tile_read(FileNotFoundError(errno.ENOENT, "No such file or directory")),
            Outcome((ENVIRONMENT,), ("tile_00", "moved or deleted", RESUME))),
]


@pytest.mark.parametrize("failure", [f for f in FAILURES if f.source is manifest and not f.argv],
                         ids=[f.id for f in FAILURES if f.source is manifest and not f.argv])
def test_hostile_machine_during_a_replacement(failure: Failure, tmp_path, monkeypatch, capsys):
    """The same failures while --overwrite builds a replacement: the old output stays as it
    was, and --resume (in place of --overwrite) finishes the new one."""
    argv = convert(manifest(tmp_path), tmp_path)
    assert main(argv) == 0
    out = tmp_path / "out.ome.zarr"
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    failure.inject(monkeypatch, tmp_path)
    capsys.readouterr()
    code, err = run([*argv, "--overwrite", "--codec", "zstd"], capsys)
    check(code, err, failure.outcome)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    monkeypatch.undo()
    code, err = run([*argv, "--resume", "--codec", "zstd"], capsys)
    assert code == 0, err
    assert main(["validate", str(out), "--quiet"]) == 0
    assert json.loads((out / "0" / "zarr.json").read_text())["codecs"] != json.loads(
        before[Path("0/zarr.json")])["codecs"]  # the replacement took the old one's place


@pytest.mark.parametrize("failure", FAILURES, ids=[f.id for f in FAILURES])
def test_hostile_machine(failure: Failure, tmp_path, monkeypatch, capsys):
    argv = convert(failure.source(tmp_path), tmp_path, *failure.argv)
    failure.inject(monkeypatch, tmp_path)
    capsys.readouterr()
    code, err = run(argv, capsys)
    check(code, err, failure.outcome)
    monkeypatch.undo()  # the machine recovers: the hinted --resume finishes the output
    code, err = run([*argv, "--resume"], capsys)
    assert code == 0, err
    assert main(["validate", str(tmp_path / "out.ome.zarr"), "--quiet"]) == 0


@pytest.mark.parametrize("hostile", CASES, ids=[c.id for c in CASES])
def test_hostile_input(hostile: Case, tmp_path, capsys):
    argv = hostile.build(tmp_path)
    capsys.readouterr()
    code, err = run(argv, capsys)
    check(code, err, hostile.outcome)


# --- a full disk when a picture or a positions file is written: one line, exit 1 -----------

def full_disk_at_savefig(monkeypatch):
    from matplotlib.figure import Figure

    def savefig(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))
    monkeypatch.setattr(Figure, "savefig", savefig)


def full_disk_at_text(monkeypatch):
    def write_text(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_text", write_text)


FILE_WRITES = {
    "layout-png": (full_disk_at_savefig, lambda folder: ["layout", str(manifest(folder)), str(folder / "l.png")], "l.png"),
    "preview-png": (full_disk_at_savefig, lambda folder: ["preview", str(fused_store(folder)), str(folder / "p.png")], "p.png"),
    "convert-preview": (full_disk_at_savefig, lambda folder: convert(manifest(folder), folder, "--preview", str(folder / "p.png")), "p.png"),
    "register-qc-plot": (full_disk_at_savefig, lambda folder: ["register", str(manifest(folder)), "--out", str(folder / "p.json"),
                                                               "--qc-plot", str(folder / "q.png")], "q.png"),
    "register-out-json": (full_disk_at_text, lambda folder: ["register", str(manifest(folder)), "--out", str(folder / "p.json")], "p.json"),
    "register-out-txt": (full_disk_at_text, lambda folder: ["register", str(manifest(folder)), "--out", str(folder / "p.txt")], "p.txt"),
}


@pytest.mark.parametrize("name", list(FILE_WRITES))
def test_full_disk_writing_a_file(name, tmp_path, monkeypatch, capsys):
    inject, build, written = FILE_WRITES[name]
    argv = [*build(tmp_path), "--quiet"]
    inject(monkeypatch)
    capsys.readouterr()
    code, err = run(argv, capsys)
    check(code, err, Outcome((ENVIRONMENT,), (written, "space")))


# --- the real command, in its own process: what a shell sees ---------------------------------

REPO = Path(__file__).resolve().parents[1]
SUBPROCESS = {
    "truncated-ome-tiff": (lambda folder: convert(damaged(ome_tiff(folder), truncate_at, 0.5), folder),
                           Outcome((INPUT,), ("tiles.ome.tif",))),
    "output-in-missing-folder": (lambda folder: ["convert", str(manifest(folder)),
                                                 str(folder / "missing" / "o.ome.zarr")],
                                 Outcome((INPUT,), ("missing",))),
    "option-out-of-range": (lambda folder: convert(manifest(folder), folder, "--chunk", "x"),
                            Outcome((INPUT,), ("--chunk",))),
    "empty-input": (lambda folder: convert(damaged(folder / "slide.czi", empty), folder),
                    Outcome((INPUT,), ("slide.czi", "empty"))),
    "ome-tiff-without-position-units": (lambda folder: convert(unitless_ome_tiff(folder), folder),
                                        Outcome((0,))),
}


def damaged(path: Path, damage: Callable, *args) -> Path:
    """`path` after `damage(path, *args)`."""
    damage(path, *args)
    return path


def unitless_ome_tiff(folder: Path) -> Path:
    """Two tiles whose OME-XML Plane positions carry no unit (OME's "reference frame")."""
    path = folder / "unitless.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tif:
        for x in (0.0, 9.0):
            tif.write(np.full((16, 20), 7, np.uint16), metadata={
                "axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
                "Plane": {"PositionX": [x], "PositionY": [0.0]}})
    return path


@pytest.mark.parametrize("name", list(SUBPROCESS))
def test_hostile_input_in_a_shell(name, tmp_path):
    build, outcome = SUBPROCESS[name]
    argv = build(tmp_path)
    done = subprocess.run([sys.executable, "-m", "ngff_fuse.cli", *argv], capture_output=True,
                          text=True, cwd=tmp_path, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          timeout=120)
    check(done.returncode, done.stderr, outcome)


def test_unitless_positions_are_micrometres(tmp_path, capsys):
    """OME's "reference frame" (no unit): read as micrometres, and said so."""
    path = unitless_ome_tiff(tmp_path)
    assert main(["info", str(path), "--json", "--no-orientation-check"]) == 0
    scene = json.loads(capsys.readouterr().out)["scenes"][0]
    xs = sorted(tile["position"]["x"] for tile in scene["tile_positions"])
    assert xs == [0.0, 9.0] and scene["unit"] == "micrometer"
    assert any("reference frame" in note for note in scene["notes"])


@pytest.mark.parametrize("unit, um", [("Mm", 1e12), ("mm", 1e3), ("Pm", 1e21), ("pm", 1e-6),
                                      ("thou", 25.4), ("pt", 25400 / 72), ("Å", 1e-4), ("pixel", 0.65)])
def test_ome_position_units_convert(unit, um, tmp_path):
    """Every OME UnitsLength is converted by its own size (case tells Mm from mm); a position in
    pixels is multiplied by the pixel size: positions written in `unit` come back in um."""
    from ngff_fuse.readers.ome_tiff import OmeTiffReader
    from ngff_fuse.readers.base import ReadOptions

    m = mosaic()
    path = write_ome_tiff(m, tmp_path / "tiles.ome.tif", position_unit=unit, scale=1 / um)
    tiles = OmeTiffReader().read(path, ReadOptions())[0].tiles
    got = np.array([tile.origin for tile in tiles])
    want = np.array([tile.position for tile in m.tiles])
    assert np.allclose(got[:, 1:], want[:, 1:], rtol=1e-6)


# --- hypothesis: text a hand or a broken export writes ---------------------------------------

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                    st.text(max_size=6), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))


@SETTINGS
@given(values=st.lists(NUMBERS, min_size=3, max_size=3))
def test_manifest_positions_of_any_kind(values, tmp_path_factory):
    folder = tmp_path_factory.mktemp("manifest")
    path = manifest(folder)
    edit_json(path, lambda data: data["tiles"][1].update(dict(zip("xyz", values))))
    code, err = run_quietly(["info", str(path), "--json", "--no-orientation-check"])
    check(code, err, Outcome((0, INPUT), one_of=("manifest.json", "tile_00")))


LINE = st.text(alphabet=st.sampled_from("tile_0001.tif;,() -+.eE5x#\t\nnaif=dim3"), max_size=40)


@SETTINGS
@given(lines=st.lists(LINE, max_size=4))
def test_tileconfiguration_of_any_text(lines, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tileconfig")
    path = tileconfig(folder)
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:4] + lines + text[4:]) + "\n")
    code, err = run_quietly(["info", str(path), "--json", "--no-orientation-check"])
    check(code, err, Outcome((0, INPUT), one_of=("TileConfiguration.txt", "tile_00")))


def run_quietly(argv: list[str]) -> tuple[int, str]:
    """`main`, its stderr captured (hypothesis runs many examples in one test: no capsys)."""
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()
