"""The package version, from the installed distribution's metadata (pyproject.toml is the one
place it is written); modules import it from here, not from the package root, which imports
them."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("ngff-fuse")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    VERSION = "0+unknown"
