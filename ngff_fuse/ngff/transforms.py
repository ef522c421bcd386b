"""NGFF coordinate transformations: small typed classes (Scale, Translation, Affine, Chain,
and Between for 0.6's input/output references) that serialise as each NGFF version writes them
(`json`, `level_transformations`), and stored JSON <-> 4x4 affines over (z, y, x).

ngff-fuse places everything by a 4x4 affine from pixel index (z, y, x) to physical
micrometres (`ngff_fuse.transforms`). NGFF 0.6 writes the same geometry as transformation
objects between named coordinate systems over all the image's axes (t, c, z, y, x as present).
This module converts both ways, exactly where the geometry allows it: a translation or
scale written by `tile_transform` / `scale_translation` and parsed back by
`transform_matrix` / `transform_to_affine` gives the identical float64 values (JSON keeps
every float64 by its shortest repr, and composing with 0 and 1 adds no rounding).

Shapes follow the released 0.6 spec: `affine` is a list of N rows of N + 1 numbers (the
homogeneous last row may be included, N + 1 rows); `rotation` is N x N; `sequence` applies its
`transformations` in list order; `input` / `output` reference a coordinate system by `name`
and/or a zarr node by `path`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ngff_fuse._axes import SPATIAL
from ngff_fuse.errors import InputError
from ngff_fuse.ngff.groups import NGFF_FUSE_KEY

#: A reference to a coordinate system or array: {"name": ...} and/or {"path": ...}.
Ref = dict[str, str]
#: A transformation as stored in JSON (what `transform_matrix` parses).
Transform = dict[str, Any]


@dataclass(frozen=True)
class Scale:
    scale: tuple[float, ...]

    def json(self) -> Transform:
        return {"type": "scale", "scale": [float(v) for v in self.scale]}


@dataclass(frozen=True)
class Translation:
    translation: tuple[float, ...]

    def json(self) -> Transform:
        return {"type": "translation", "translation": [float(v) for v in self.translation]}


@dataclass(frozen=True)
class Affine:
    rows: tuple[tuple[float, ...], ...]  # N rows of N + 1 numbers over the image's N axes

    def json(self) -> Transform:
        return {"type": "affine", "affine": [[float(v) for v in row] for row in self.rows]}


@dataclass(frozen=True)
class Chain:
    """Transformations applied in order: a 0.6 `sequence`, or the list 0.4 / 0.5 write."""

    transformations: tuple[Scale | Translation | Affine, ...]

    def json(self) -> Transform:
        return {"type": "sequence", "transformations": [t.json() for t in self.transformations]}


Linear = Scale | Translation | Affine | Chain


@dataclass(frozen=True)
class Between:
    """A 0.6 transformation from one coordinate system or array (`input`) to another."""

    transform: Linear
    input: Ref | None = None
    output: Ref | None = None

    def json(self) -> Transform:
        transform = self.transform.json()
        if self.input is not None:
            transform["input"] = dict(self.input)
        if self.output is not None:
            transform["output"] = dict(self.output)
        return transform


def _between(transform: Linear, input: Ref | None, output: Ref | None) -> Linear | Between:
    return transform if input is None and output is None else Between(transform, input, output)


def scale_translation(
    scale: Sequence[float], translation: Sequence[float],
    input: Ref | None = None, output: Ref | None = None,
) -> Linear | Between:
    """The transform of one pyramid level, in the only forms a 0.6 multiscale dataset allows:
    a `scale`, or a `sequence` of that scale then a translation when any offset is non-zero."""
    scale_part = Scale(tuple(float(s) for s in scale))
    if not any(translation):
        return _between(scale_part, input, output)
    return _between(Chain((scale_part, Translation(tuple(float(t) for t in translation)))), input, output)


def level_transformations(scale: Sequence[float], translation: Sequence[float], version: str,
                          input: Ref | None = None, output: Ref | None = None) -> list[Transform]:
    """A pyramid level's `coordinateTransformations` as `version` writes them: 0.4 / 0.5 a
    scale then a translation (no coordinate systems to name), 0.6 `scale_translation` from
    `input` to `output`."""
    if version in ("0.4", "0.5"):
        return [Scale(tuple(scale)).json(), Translation(tuple(translation)).json()]
    return [scale_translation(scale, translation, input, output).json()]


def tile_transform(
    affine: np.ndarray, dims: Sequence[str], spacing: Sequence[float],
    input: Ref | None = None, output: Ref | None = None,
) -> Linear | Between:
    """Where a tile lies in the stage coordinate system, as one 0.6 transformation from the
    tile image's own physical coordinate system (its pixels scaled by `spacing`, origin at
    its first pixel) to the stage.

    `affine` maps the tile's pixel index (z, y, x) to stage micrometres; `spacing` is the
    tile's pixel size (z, y, x), the scale its own multiscale writes. When the affine's linear
    part is exactly that per-axis scale (stage positions, translation-only registration) the
    result is a `translation`; otherwise (rotation, shear, other scale) an `affine` over all
    `dims`, identity on t and c. Only the spatial axes in `dims` are written: a 2-D tile's z
    row is dropped.
    """
    affine = np.asarray(affine, dtype=float)
    spacing = np.asarray(spacing, dtype=float)
    spatial = [SPATIAL.index(ax) for ax in dims if ax in SPATIAL]
    linear = affine[np.ix_(spatial, spatial)]
    if np.array_equal(linear, np.diag(spacing[spatial])):
        offset = tuple(float(affine[SPATIAL.index(ax), 3]) if ax in SPATIAL else 0.0 for ax in dims)
        return _between(Translation(offset), input, output)
    # physical-of-tile -> stage: undo the tile's own pixel scale, then apply the affine
    stage = affine @ np.diag([*(1.0 / spacing), 1.0])
    n = len(dims)
    matrix = np.eye(n + 1)
    for row, ax in enumerate(dims):
        if ax not in SPATIAL:
            continue
        i = SPATIAL.index(ax)
        for col, other in enumerate(dims):
            if other in SPATIAL:
                matrix[row, col] = stage[i, SPATIAL.index(other)]
        matrix[row, n] = stage[i, 3]
    return _between(Affine(tuple(tuple(float(v) for v in r) for r in matrix[:n])), input, output)


def transform_matrix(transform: Linear | Between | Transform | Sequence[Transform], ndim: int) -> np.ndarray:
    """The (ndim + 1) x (ndim + 1) homogeneous matrix of a transformation over `ndim` axes.

    Accepts identity, scale, translation, affine, rotation and sequence (nested too), and a
    list of transformations applied in order (how 0.4 / 0.5 datasets write scale then
    translation). Anything else, or parameters stored in a zarr array (`path`), raises
    InputError naming the transformation.
    """
    if hasattr(transform, "json"):  # a typed transformation of this module
        transform = transform.json()
    if isinstance(transform, (list, tuple)):
        matrix = np.eye(ndim + 1)
        for step in transform:
            matrix = transform_matrix(step, ndim) @ matrix
        return matrix
    kind = transform.get("type")
    if kind in ("scale", "translation", "affine", "rotation") and kind not in transform and "path" in transform:
        raise InputError(f"{kind} transformation with parameters in an array ({transform['path']}): "
                         "ngff-fuse reads inline parameters only; write them inline")
    matrix = np.eye(ndim + 1)
    if kind == "identity":
        return matrix
    if kind == "sequence":
        return transform_matrix(transform.get("transformations") or [], ndim)
    if kind == "scale":
        matrix[:ndim, :ndim] = np.diag(_vector(transform, "scale", ndim))
        return matrix
    if kind == "translation":
        matrix[:ndim, ndim] = _vector(transform, "translation", ndim)
        return matrix
    if kind == "rotation":
        rotation = np.asarray(transform.get("rotation"), dtype=float)
        if rotation.shape != (ndim, ndim):
            raise InputError(f"rotation {rotation.shape} does not fit {ndim} axes: it must be {ndim} x {ndim}")
        matrix[:ndim, :ndim] = rotation
        return matrix
    if kind == "affine":
        affine = np.asarray(transform.get("affine"), dtype=float)
        if affine.shape not in ((ndim, ndim + 1), (ndim + 1, ndim + 1)):
            raise InputError(f"affine {affine.shape} does not fit {ndim} axes: it must be "
                             f"{ndim} x {ndim + 1} (or {ndim + 1} x {ndim + 1})")
        matrix[:ndim] = affine[:ndim]
        return matrix
    raise InputError(f"{kind!r} transformation: ngff-fuse handles identity, scale, translation, "
                     "affine, rotation and sequence")


def _vector(transform: Transform, key: str, ndim: int) -> list[float]:
    values = transform.get(key)
    if not isinstance(values, list) or len(values) != ndim:
        raise InputError(f"{key} {values!r} does not fit {ndim} axes: give one number per axis")
    return [float(v) for v in values]


def transform_to_affine(transform: Linear | Between | Transform | Sequence[Transform],
                        dims: Sequence[str]) -> np.ndarray:
    """The 4x4 affine over (z, y, x) of a transformation over `dims` (the inverse of
    `tile_transform` and `scale_translation`). Axes absent from `dims` (z of a 2-D image)
    map to themselves. Raises InputError when the transformation mixes t or c into space."""
    full = transform_matrix(transform, len(dims))
    n = len(dims)
    spatial = [i for i, ax in enumerate(dims) if ax in SPATIAL]
    other = [i for i, ax in enumerate(dims) if ax not in SPATIAL]
    if np.any(full[np.ix_(spatial, other)]):
        raise InputError("the transformation moves space along t or c: ngff-fuse places images in space only")
    affine = np.eye(4)
    index = [SPATIAL.index(dims[i]) for i in spatial]
    affine[np.ix_(index, index)] = full[np.ix_(spatial, spatial)]
    affine[index, 3] = full[spatial, n]
    return affine


def tile_affine(tile_ome: dict, scene_transform: Linear | Transform | None, dims: tuple[str, ...],
                plane: tuple[float, float] | None) -> np.ndarray:
    """A kept tile's affine from its stored metadata (see `readers.kept_tiles`), shared by that
    reader and the writer, which checks that what it stores reads back as the same affine.

    `plane` is the z spacing and stage z of a 2-D tile, which its 2-D transforms leave out.
    """
    multiscale = tile_ome["multiscales"][0]
    kept = (multiscale.get("metadata") or {}).get(NGFF_FUSE_KEY) or {}
    if "affine" in kept:
        affine = np.asarray(kept["affine"], dtype=float)
        if plane is not None:
            affine[0, 3] = plane[1]
        return affine
    affine = transform_to_affine(multiscale["datasets"][0]["coordinateTransformations"], dims)
    if scene_transform is not None:
        affine = transform_to_affine(scene_transform, dims) @ affine
    if plane is not None:
        affine[0, 0], affine[0, 3] = plane
    return affine
