"""ngff-fuse: fuse microscope tiles at their stage positions into a multiscale OME-Zarr."""

__version__ = "0.1.0"

from ngff_fuse.convert import convert  # noqa: E402
from ngff_fuse.fuse.core import fuse  # noqa: E402
from ngff_fuse.layout_plot import layout_plot  # noqa: E402
from ngff_fuse.preview import write_preview  # noqa: E402
from ngff_fuse.readers import ReadOptions, read_input  # noqa: E402
from ngff_fuse.register import apply_positions, qc_plot, register, write_positions  # noqa: E402
from ngff_fuse.writer import WriteOptions, write_ngff  # noqa: E402

__all__ = [
    "ReadOptions", "WriteOptions", "apply_positions", "convert", "fuse", "layout_plot", "qc_plot",
    "read_input", "register", "write_ngff", "write_positions", "write_preview",
]
