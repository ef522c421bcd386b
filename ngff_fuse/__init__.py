"""ngff-fuse: fuse microscope tiles at their stage positions into a multiscale OME-Zarr."""

__version__ = "0.1.0"
