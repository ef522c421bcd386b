"""ngff-fuse: fuse microscope tiles at their stage positions into a multiscale OME-Zarr."""

__version__ = "0.1.0"

from ngff_fuse.convert import convert  # noqa: E402
from ngff_fuse.fuse.core import fuse  # noqa: E402
from ngff_fuse.readers import ReadOptions, read_input  # noqa: E402
from ngff_fuse.writer import WriteOptions, write_ngff  # noqa: E402

__all__ = ["ReadOptions", "WriteOptions", "convert", "fuse", "read_input", "write_ngff"]
