"""`ngff-fuse --version` and `--help` import nothing heavy: the CLI's parser loads only what it
needs, and each command its own libraries (timed in benchmarks/bench_process.py, not here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ngff_fuse

# the libraries a conversion needs, none of which the parser does
HEAVY = ("dask", "xarray", "zarr", "numcodecs", "bioio", "bioio_ome_tiff", "tifffile", "ome_types", "scipy",
         "pandas", "matplotlib", "rich", "aicspylibczi", "nd2", "readlif", "distributed", "jsonschema")

PROBE = """
import contextlib, io, json, sys
{code}
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""


def imported_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The `heavy` modules a fresh interpreter holds after running `code` (this source tree
    first on its path)."""
    root = str(Path(ngff_fuse.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=heavy)],
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--version"], ["convert", "--help"], ["--help"]])
def test_version_and_help_import_nothing_heavy(argv):
    code = ("from ngff_fuse.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            f"    main({argv!r})")
    assert imported_after(code) == []


def test_the_package_and_cli_import_nothing_heavy():
    assert imported_after("import ngff_fuse, ngff_fuse.cli; ngff_fuse.cli.build_parser()") == []


def test_the_package_names_load_on_first_use():
    """The lazy names are the functions, even after their same-named submodules were imported."""
    code = ("import ngff_fuse.convert, ngff_fuse.fuse.core, ngff_fuse.register\n"
            "import ngff_fuse\n"
            "assert callable(ngff_fuse.convert) and callable(ngff_fuse.fuse) and callable(ngff_fuse.register)\n"
            "from ngff_fuse import WriteOptions, write_ngff, read_input")
    assert "dask" in imported_after(code)  # they were loaded, and are what the names say
    for name in ngff_fuse.__all__:
        assert getattr(ngff_fuse, name) is not None
    assert ngff_fuse.convert.__module__ == "ngff_fuse.convert"
    assert ngff_fuse.fuse.__module__ == "ngff_fuse.fuse.core"


# what only one reader, or one kind of input, needs
VENDOR = ("aicspylibczi", "pylibCZIrw", "nd2", "readlif", "bioio", "bioio_ome_tiff", "bioio_czi", "bioio_lif",
          "bioio_nd2", "ome_types", "jsonschema", "PIL", "matplotlib", "scipy.ndimage", "scipy.spatial",
          "distributed")


def test_finding_a_reader_imports_no_reader_library():
    """Every reader module loads when a path is matched to a reader; each imports its own
    library (or bioio, ome-types, a schema validator) only when it reads."""
    root = str(Path(ngff_fuse.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    code = ("import json, sys\nfrom ngff_fuse.readers import available_readers\navailable_readers()\n"
            f"print(json.dumps([m for m in {VENDOR!r} if m in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []



# what only the metadata (written last) needs, and what only an illumination correction does
METADATA_LIBRARIES = ("ome_zarr", "ome_zarr_models", "pydantic", "skimage")
CORRECTION = ("ngff_fuse.illumination.estimate", "ngff_fuse.illumination.equalize", "ngff_fuse.register")


def test_a_conversion_imports_metadata_libraries_late_and_no_correction(tmp_path):
    """Importing the pipeline loads neither ome-zarr-py / ome-zarr-models (~0.5 s with the
    scikit-image they bring: loaded in a thread while the pixels are written) nor the
    illumination estimate or the registration; a conversion without a correction or
    registration never loads the latter, and its metadata is still made and checked by the
    former."""
    from ngff_fuse.testing import synthetic_mosaic
    from ngff_fuse.testing.tile_files import write_tileconfig

    late = METADATA_LIBRARIES + CORRECTION
    assert imported_after("import ngff_fuse.convert, ngff_fuse.cli", late) == []
    listing = write_tileconfig(synthetic_mosaic(grid=(2, 2)), tmp_path / "tiles")
    out = tmp_path / "out.ome.zarr"
    code = ("from ngff_fuse.cli import main\n"
            f"assert main(['convert', {str(listing)!r}, {str(out)!r}, '--quiet']) == 0")
    assert imported_after(code, late) == ["ome_zarr", "ome_zarr_models", "pydantic", "skimage"]
    assert (out / "zarr.json").is_file()
