"""ngff-fuse: fuse microscope tiles at their stage positions into a multiscale OME-Zarr."""

from ngff_fuse.convert import convert
from ngff_fuse.fuse.core import fuse
from ngff_fuse.layout_plot import layout_plot
from ngff_fuse.preview import write_preview
from ngff_fuse.readers import ReadOptions, read_input
from ngff_fuse.register import apply_positions, qc_plot, register, write_positions
from ngff_fuse.version import VERSION as __version__
from ngff_fuse.writer import WriteOptions, write_ngff

__all__ = [
    "__version__", "ReadOptions", "WriteOptions", "apply_positions", "convert", "fuse", "layout_plot", "qc_plot",
    "read_input", "register", "write_ngff", "write_positions", "write_preview",
]
