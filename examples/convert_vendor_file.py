"""Convert a microscope file (CZI, LIF, ND2, OME-TIFF, ImageXpress folder...) to OME-Zarr.

    python examples/convert_vendor_file.py slide.czi slide.ome.zarr
"""

import sys

import ngff_fuse

source, output = sys.argv[1], sys.argv[2]
for tileset in ngff_fuse.read_input(source):
    print(f"{tileset.name}: {len(tileset.tiles)} tiles, positions from {tileset.position_source}")
result = ngff_fuse.convert(source, output, write_options=ngff_fuse.WriteOptions(ngff="0.5"))
for scene in result.scenes:
    print(f"{scene.tileset.name}: levels {scene.level_shapes}")
