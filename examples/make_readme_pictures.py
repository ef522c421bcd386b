"""Regenerate the README pictures in docs/: a layout plot and a preview of the demo mosaic.

    python examples/make_readme_pictures.py
"""

import tempfile
from pathlib import Path

import ngff_fuse
from ngff_fuse.testing.demo import write_demo_acquisition

docs = Path(__file__).resolve().parents[1] / "docs"
docs.mkdir(exist_ok=True)
with tempfile.TemporaryDirectory() as folder:
    acquisition = write_demo_acquisition(Path(folder) / "demo.ome.tif")
    ngff_fuse.layout_plot(ngff_fuse.read_input(acquisition)[0], docs / "layout.png")
    output = Path(folder) / "demo.ome.zarr"
    ngff_fuse.convert(acquisition, output)
    ngff_fuse.write_preview(output, docs / "preview.png", size=320)
print(f"wrote {docs / 'layout.png'} and {docs / 'preview.png'}")
