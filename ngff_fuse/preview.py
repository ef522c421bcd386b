"""A thumbnail of an OME-Zarr image: each channel in its colour, a sensible contrast window,
and a scale bar in physical units, from a low pyramid level (a few MB read at most); of a
plate, its well grid with a thumbnail per well."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from ngff_fuse.errors import InputError
from ngff_fuse.ngff.groups import NGFF_FUSE_KEY, image_axes
from ngff_fuse.ngff.transforms import transform_to_affine
from ngff_fuse.storage import location, zarr_store
from ngff_fuse.zarr_check import open_node, read_checked, unreadable_metadata

_NICE = (1, 2, 5)


def _image_group(path: Path) -> tuple[Path, dict, bool]:
    """Where the image is (image 0 of a multi-scene store), its NGFF metadata, and whether
    ngff-fuse wrote it (then every chunk must be there)."""
    try:
        group = zarr.open_group(zarr_store(path), mode="r")
    except Exception:
        why = unreadable_metadata(path)
        raise InputError(f"{why}; the store is damaged" if why
                         else f"{path}: not an OME-Zarr; give the path of a fused image") from None
    attrs = dict(group.attrs)
    meta = attrs.get("ome", attrs)
    if "multiscales" not in meta:
        if "bioformats2raw.layout" in meta:
            return _image_group(path / "0")
        raise InputError(f"{path}: has no multiscales metadata (incomplete or not an image)")
    return path, meta, NGFF_FUSE_KEY in attrs


def pick_level(shapes: list[tuple[int, ...]], size: int) -> int:
    """The smallest level whose longer y/x edge is still at least `size` (else level 0)."""
    for index in range(len(shapes) - 1, -1, -1):
        if max(shapes[index][-2:]) >= size:
            return index
    return 0


def nice_length(span: float) -> float:
    """A round scale-bar length near a fifth of `span`: 1, 2 or 5 times a power of ten."""
    target = span / 5
    power = 10 ** np.floor(np.log10(target))
    return max(m * power for m in _NICE if m * power <= target) if target >= power else power


def render(path: Path, size: int = 768) -> tuple[np.ndarray, float, str]:
    """RGB float image in [0, 1], the physical size of one of its pixels, and the unit."""
    image, meta, ours = _image_group(location(path))
    multiscale = meta["multiscales"][0]
    axes = [a["name"] for a in image_axes(multiscale)]
    datasets = multiscale["datasets"]
    arrays = [open_node(image / d["path"]) for d in datasets]
    level = pick_level([a.shape for a in arrays], size)
    array = arrays[level]
    index = tuple(
        slice(None) if ax in ("c", "y", "x") else (array.shape[i] // 2 if ax == "z" else 0)
        for i, ax in enumerate(axes)
    )
    pixels = read_checked(array, index, missing_ok=not ours).astype(np.float64)
    kept = [ax for ax in axes if ax in ("c", "y", "x")]
    if "c" not in kept:
        pixels = pixels[None]
    channels = meta.get("omero", {}).get("channels", [])
    rgb = np.zeros((*pixels.shape[1:], 3))
    for c, plane in enumerate(pixels):
        info = channels[c] if c < len(channels) else {}
        window = info.get("window", {})
        start, end = window.get("start"), window.get("end")
        if start is None or end is None or end <= start:
            start, end = np.percentile(plane, (0.1, 99.9))
        scaled = np.clip((plane - start) / max(end - start, 1e-12), 0, 1)
        scaled[np.isnan(scaled)] = 0  # NaN pixels black; infinities are clipped to the ends
        color = info.get("color") or ("FFFFFF" if len(pixels) == 1 else "00FF00")
        rgb += scaled[..., None] * (np.array([int(color[i:i + 2], 16) for i in (0, 2, 4)]) / 255)
    scale = transform_to_affine(datasets[level]["coordinateTransformations"], tuple(axes))[2, 2]
    unit = next((a.get("unit") for a in image_axes(multiscale) if a["name"] == "x"), None) or "pixel"
    # a pyramid may stop well above `size`: average blocks down to it
    factor = max(1, int(np.ceil(max(rgb.shape[:2]) / size)))
    if factor > 1:
        h, w = (n // factor * factor for n in rgb.shape[:2])
        rgb = rgb[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))
    return np.clip(rgb, 0, 1), float(scale) * factor, unit


def plate_layout(path: Path) -> dict | None:
    """The NGFF plate metadata of the group at `path`, or None when it is no plate."""
    try:
        attrs = dict(zarr.open_group(zarr_store(path), mode="r").attrs)
    except Exception:
        return None  # `render` says what is wrong with it
    return attrs.get("ome", attrs).get("plate")


def render_plate(path: Path, plate: dict, size: int = 768) -> tuple[np.ndarray, list[tuple[str, int, int]], int]:
    """The plate as one RGB picture: each well's first image in its cell of the row x column
    grid (empty wells dark grey), cells of at least 48 px; also each well's (name, row,
    column) and the cell edge."""
    rows, columns = len(plate["rows"]), len(plate["columns"])
    cell = max(48, size // max(rows, columns))
    canvas = np.full((rows * cell, columns * cell, 3), 0.12)
    labels = []
    for well in plate["wells"]:
        r, c = int(well["rowIndex"]), int(well["columnIndex"])
        attrs = dict(zarr.open_group(zarr_store(path / well["path"]), mode="r").attrs)
        images = attrs.get("ome", attrs).get("well", {}).get("images", [])
        if not images:
            raise InputError(f"{path / well['path']}: a well without images listed; the store is damaged")
        rgb, _, _ = render(path / well["path"] / images[0]["path"], cell - 4)
        # nearest pixels to fill the cell along the longer side, square pixels kept
        zoom = (cell - 4) / max(rgb.shape[:2])
        rows, cols = (np.minimum((np.arange(int(n * zoom)) / zoom).astype(int), n - 1) for n in rgb.shape[:2])
        rgb = rgb[rows][:, cols]
        y, x = r * cell + 2, c * cell + 2
        canvas[y: y + rgb.shape[0], x: x + rgb.shape[1]] = rgb
        labels.append((f"{plate['rows'][r]['name']}{int(plate['columns'][c]['name']):02d}"
                       if plate["columns"][c]["name"].isdigit() else well["path"].replace("/", ""), r, c))
    return canvas, labels, cell


def write_preview(path: Path, png: Path, size: int = 768) -> Path:
    """Write the thumbnail with a scale bar, or for a plate the well grid with each well
    labelled; returns the PNG path. A bare Figure, drawn by savefig's Agg canvas: the caller's
    pyplot backend and figures are left alone."""
    from matplotlib.figure import Figure

    plate = plate_layout(location(path))
    if plate is not None:
        canvas, labels, cell = render_plate(location(path), plate, size)
        fig = Figure(figsize=(canvas.shape[1] / 100, canvas.shape[0] / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.imshow(canvas, interpolation="nearest")
        ax.set_axis_off()
        for name, r, c in labels:
            ax.text(c * cell + 4, r * cell + 4, name, color="white", ha="left", va="top",
                    fontsize=max(6, cell / 8))
        fig.savefig(Path(png), dpi=100)
        return Path(png)
    rgb, pixel, unit = render(path, size)
    height, width = rgb.shape[:2]
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(rgb, interpolation="nearest")
    ax.set_axis_off()
    length = nice_length(width * pixel)
    bar = length / pixel
    x0, y0 = width * 0.04, height * 0.95
    ax.plot([x0, x0 + bar], [y0, y0], color="white", linewidth=max(2, height / 120),
            solid_capstyle="butt")
    symbol = {"micrometer": "µm", "millimeter": "mm", "nanometer": "nm"}.get(unit, unit)
    ax.text(x0 + bar / 2, y0 - height * 0.02, f"{length:g} {symbol}", color="white",
            ha="center", va="bottom", fontsize=max(8, height / 50))
    png = Path(png)
    fig.savefig(png, dpi=100)
    return png
