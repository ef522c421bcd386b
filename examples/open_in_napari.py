"""Open a fused OME-Zarr in napari (needs `pip install napari[all] napari-ome-zarr`).

    python examples/open_in_napari.py fused.ome.zarr
"""

import sys

import napari

viewer = napari.Viewer()
viewer.open(sys.argv[1], plugin="napari-ome-zarr")  # the pyramid, channels and scale come along
napari.run()
