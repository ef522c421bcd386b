"""Regenerate the README's napari pictures in docs/ with the ngff-fuse plugin: a real CZI fused
on the fly with its tile outlines, and two scenes of a CZI converted into one store, each scene
at its stage position (its third scene lies 38 mm away). napari draws with OpenGL, so this needs a display (headless: `xvfb-run -a python
examples/make_napari_pictures.py`) and `pip install ngff-fuse[napari]`.
"""

import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import napari
from napari.qt import get_qapp

import ngff_fuse
from ngff_fuse.napari.reader import get_reader

SHARED = Path(__file__).resolve().parents[2] / "shared" / "realdata"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def picture(path: Path, png: Path, outlines: bool) -> None:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1100, 640)
    for data, kwargs, kind in get_reader(str(path))(str(path)):
        layer = getattr(viewer, f"add_{kind}")(data, **kwargs)
        if kind == "shapes":
            layer.visible = outlines
    viewer.reset_view()
    app = get_qapp()
    for _ in range(40):  # let the canvas draw the levels it asked for
        app.processEvents()
        time.sleep(0.05)
    iio.imwrite(png, viewer.screenshot(canvas_only=False))
    viewer.close()
    print(f"wrote {png}")


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"{SHARED}: the real-data folder is missing; these pictures show its files")
    DOCS.mkdir(exist_ok=True)
    picture(SHARED / "czi-convallaria" / "mosaic_test.czi", DOCS / "napari-lazy.png", outlines=True)
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "scenes.ome.zarr"
        ngff_fuse.convert(SHARED / "czi-zen-simulated" / "S3_1Pos_2Mosaic_T1_Z1_CH1.czi", store,
                          ngff_fuse.ReadOptions(scenes=(0, 2)))
        picture(store, DOCS / "napari-scenes.png", outlines=False)


if __name__ == "__main__":
    main()
