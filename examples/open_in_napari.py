"""Open a fused OME-Zarr in napari (needs `pip install napari[all] napari-ome-zarr`).

    python examples/open_in_napari.py fused.ome.zarr
"""

import sys

import napari

viewer = napari.Viewer()
# the pyramid, channels, colours and scale come along; napari-ome-zarr drops the translation of
# NGFF 0.4 / 0.5 images (README, Viewers), so the image starts at 0, not at its stage position
viewer.open(sys.argv[1], plugin="napari-ome-zarr")
napari.run()
