"""Open a fused OME-Zarr, or the raw acquisition fused on the fly, in napari with ngff-fuse's
plugin (needs `pip install ngff-fuse[napari]`).

    python examples/open_in_napari.py fused.ome.zarr
    python examples/open_in_napari.py slide.czi
"""

import sys

import napari

viewer = napari.Viewer()
# one layer per channel, with the pyramid, names, colours, contrast limits, and the scale and
# translation of level 0: several scenes and kept tiles land at their stage positions
viewer.open(sys.argv[1], plugin="ngff-fuse")
napari.run()
