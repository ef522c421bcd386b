"""napari plugin for ngff-fuse: tile acquisitions fused lazily, and ngff-fuse outputs, placed in micrometres.

Only the modules that napari loads import napari; `multiscale` is plain ngff-fuse."""
