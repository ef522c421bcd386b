"""ngff-fuse: fuse microscope tiles at their stage positions into a multiscale OME-Zarr.

The public names load on first use (PEP 562): `import ngff_fuse.cli` for `ngff-fuse --version`
must not pay for dask, xarray and zarr, which these names import (benchmarks/bench_process.py).
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType

from ngff_fuse.version import VERSION as __version__

# public name -> the module that defines it
_HOMES = {
    "convert": "ngff_fuse.convert", "fuse": "ngff_fuse.fuse.core", "layout_plot": "ngff_fuse.layout_plot",
    "write_preview": "ngff_fuse.preview", "ReadOptions": "ngff_fuse.readers", "read_input": "ngff_fuse.readers",
    "apply_positions": "ngff_fuse.register", "qc_plot": "ngff_fuse.register", "register": "ngff_fuse.register",
    "write_positions": "ngff_fuse.register", "WriteOptions": "ngff_fuse.writer", "write_ngff": "ngff_fuse.writer",
}

__all__ = [
    "ReadOptions", "WriteOptions", "__version__", "apply_positions", "convert", "fuse", "layout_plot", "qc_plot",
    "read_input", "register", "write_ngff", "write_positions", "write_preview",
]


def _public(name: str) -> property:
    """`ngff_fuse.<name>`, imported on first use. Three names are also submodules
    (`convert`, `fuse`, `register`): the import system binds each such submodule on the package
    when it loads, which the setter ignores, so the name stays the function, as it was when
    this file imported everything."""

    def get(_package: ModuleType):
        return getattr(import_module(_HOMES[name]), name)

    def set_(_package: ModuleType, value) -> None:
        if not isinstance(value, ModuleType):
            raise TypeError(f"ngff_fuse.{name} is read-only; patch {_HOMES[name]}.{name}")

    return property(get, set_)


class _Package(ModuleType):
    """The package module, with each public name a lazy property."""


for _name in _HOMES:
    setattr(_Package, _name, _public(_name))


sys.modules[__name__].__class__ = _Package
