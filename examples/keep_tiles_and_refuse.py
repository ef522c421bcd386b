"""Keep the raw tiles beside the fused image (NGFF 0.6 scene), then fuse them again from the
store alone, e.g. with another blend mode, without the vendor file.

    python examples/keep_tiles_and_refuse.py slide.czi fused.ome.zarr
"""

import sys

import ngff_fuse

source, output = sys.argv[1], sys.argv[2]
kept = output + ".kept.ome.zarr"
# the fused image plus every tile, unresampled, in <store>/tiles/<j>, placed by the scene
ngff_fuse.convert(source, kept, write_options=ngff_fuse.WriteOptions(ngff="0.6"), keep_tiles=True)

# the store is an input like any other: its tiles come back with their stored transforms
tileset = ngff_fuse.read_input(kept)[0]
print(f"{len(tileset.tiles)} tiles kept; positions from: {tileset.position_source}")
result = ngff_fuse.convert(kept, output, blend="max")  # what `ngff-fuse fuse-store` does
print(f"re-fused with max blending into {result.output}")
