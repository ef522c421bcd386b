"""Refine the stage positions from the overlaps, look at the QC plot, then fuse.

    python examples/register_and_fuse.py TileConfiguration.txt fused.ome.zarr
"""

import sys

import ngff_fuse

source, output = sys.argv[1], sys.argv[2]
tileset = ngff_fuse.read_input(source)[0]
registration = ngff_fuse.register(tileset, channel=0)
print(f"{registration.accepted_links} of {len(registration.links)} links accepted")
ngff_fuse.qc_plot(registration, output + ".qc.png")
ngff_fuse.write_positions(registration, output + ".positions.json")  # reuse with --positions
mosaic = ngff_fuse.fuse(registration.tileset, blend="feather", chunk_size=(1, 1024, 1024))
ngff_fuse.write_ngff(mosaic, output)  # channel names and colours travel with the mosaic
ngff_fuse.write_preview(output, output + ".png")
