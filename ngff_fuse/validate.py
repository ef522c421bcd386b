"""Check a written OME-Zarr: metadata, levels, chunks and pyramid consistency.

Used by `ngff-fuse validate`; works on any NGFF 0.4/0.5 image or bioformats2raw collection,
with extra checks where ngff-fuse wrote it (its completeness marker, its downsampling method).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import zarr

from ngff_fuse.errors import InputError
from ngff_fuse.pyramid import Downsample
from ngff_fuse.writer import STATUS_KEY


@dataclass
class Report:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str, why: str = "") -> bool:
        (self.passed if ok else self.failed).append(what if ok else f"{what}: {why}")
        return ok

    @property
    def ok(self) -> bool:
        return not self.failed


def _attrs(group) -> tuple[dict, str | None]:
    attrs = dict(group.attrs)
    if "ome" in attrs:
        return attrs["ome"], attrs["ome"].get("version")
    multiscales = attrs.get("multiscales") or [{}]
    return attrs, multiscales[0].get("version") or attrs.get("omero", {}).get("version")


def validate_store(path: Path, schemas: Path | None = None) -> Report:
    """Every check on the store at `path`; a bioformats2raw collection checks each image."""
    if not path.exists():
        raise InputError(f"{path}: no such store; check the path")
    try:
        group = zarr.open_group(path, mode="r")
    except Exception:
        raise InputError(f"{path}: not a zarr group; give the path of an OME-Zarr") from None
    report = Report()
    marker = dict(group.attrs).get(STATUS_KEY) or {}
    if marker:
        report.check(marker.get("status") == "complete", "ngff-fuse completeness marker",
                     "marked incomplete: an interrupted conversion; finish it with `convert ... --resume`")
    attrs, _ = _attrs(group)
    if "bioformats2raw.layout" in attrs:
        series = _attrs(zarr.open_group(path / "OME", mode="r"))[0].get("series") or []
        report.check(bool(series), "bioformats2raw series list", "OME/ lists no series")
        for name in series:
            sub = validate_store(path / name, schemas)
            report.passed += [f"{name}: {p}" for p in sub.passed]
            report.failed += [f"{name}: {f}" for f in sub.failed]
        return report
    _validate_image(path, group, report, schemas)
    return report


def _validate_image(path: Path, group, report: Report, schemas: Path | None) -> None:
    attrs, version = _attrs(group)
    if not report.check(bool(attrs.get("multiscales")), "multiscales metadata", "absent: not an NGFF image"):
        return
    report.check(version in ("0.4", "0.5"), "NGFF version", f"{version!r} is not 0.4 or 0.5")
    try:
        if version == "0.4":
            from ome_zarr_models.v04 import Image
        else:
            from ome_zarr_models.v05 import Image
        Image.from_zarr(group)
        report.check(True, f"ome-zarr-models {version} image")
    except Exception as exc:  # the validator's own exception types vary by version
        report.check(False, f"ome-zarr-models {version} image", str(exc).splitlines()[0])
    if schemas is not None:
        _check_schema(dict(group.attrs), version, schemas, report)
    multiscale = attrs["multiscales"][0]
    axes = [a["name"] for a in multiscale.get("axes", [])]
    arrays = []
    for dataset in multiscale["datasets"]:
        name = dataset["path"]
        try:
            array = zarr.open_array(path / name, mode="r")
        except Exception:
            report.check(False, f"level {name}", "missing array")
            return
        report.check(array.ndim == len(axes), f"level {name} dimensions",
                     f"{array.ndim} dims but {len(axes)} axes")
        arrays.append((name, array, _scale(dataset)))
    base_shape, base_scale = arrays[0][1].shape, arrays[0][2]
    for name, array, scale in arrays:
        factor = np.asarray(scale) / np.asarray(base_scale)
        expected = tuple(int(np.ceil(n / f - 1e-9)) for n, f in zip(base_shape, factor))
        report.check(tuple(array.shape) == expected, f"level {name} shape {array.shape}",
                     f"scale says {expected}")
        report.check(array.dtype == arrays[0][1].dtype, f"level {name} dtype",
                     f"{array.dtype} differs from level 0's {arrays[0][1].dtype}")
        missing = _missing_chunks(path / name, array)
        report.check(not missing, f"level {name} chunks all present",
                     f"{len(missing)} missing, first {missing[0] if missing else ''}")
    if len(arrays) > 1:
        _check_downsampling(arrays[0], arrays[1], multiscale.get("type"), report)


def _scale(dataset: dict) -> list[float]:
    for transform in dataset.get("coordinateTransformations", []):
        if transform["type"] == "scale":
            return transform["scale"]
    return []


def _missing_chunks(path: Path, array) -> list[str]:
    """Store keys of the chunk (or shard) grid that are absent on disk."""
    grid = array.shards or array.chunks
    counts = [int(np.ceil(n / g)) for n, g in zip(array.shape, grid)]
    missing = []
    for coords in product(*(range(c) for c in counts)):
        key = array.metadata.encode_chunk_key(coords)
        if not os.path.exists(path / key):
            missing.append(key)
    return missing


def _check_downsampling(level0, level1, method: str | None, report: Report) -> None:
    """Spot check: a central level-0 region, downsampled by the recorded method, is level 1."""
    _, a0, s0 = level0
    _, a1, s1 = level1
    factor = [int(round(b / a)) for a, b in zip(s0, s1)]
    centre = [max(0, (n // f) // 2 - 8) for n, f in zip(a1.shape, factor)]
    size = [min(16, n - c) for n, c in zip(a1.shape, centre)]
    small = a1[tuple(slice(c, c + s) for c, s in zip(centre, size))]
    big = a0[tuple(slice(c * f, (c + s) * f) for c, s, f in zip(centre, size, factor))]
    pad = [(0, s * f - n) for s, f, n in zip(size, factor, big.shape)]
    big = np.pad(big, pad, mode="edge")
    blocks = big.reshape([v for s, f in zip(size, factor) for v in (s, f)])
    axes = tuple(range(1, blocks.ndim, 2))
    known = {m.value for m in Downsample}
    kind = method if method in known else "mean"
    expected = {
        "mean": lambda: blocks.mean(axis=axes), "max": lambda: blocks.max(axis=axes),
        "min": lambda: blocks.min(axis=axes),
        "nearest": lambda: blocks[tuple(slice(None) if i % 2 == 0 else 0 for i in range(blocks.ndim))],
    }[kind]()
    tolerance = 1.0 if kind == "mean" and a0.dtype.kind in "ui" else 1e-6 * max(1.0, float(np.abs(expected).max()))
    worst = float(np.abs(small.astype(float) - expected).max())
    report.check(worst <= tolerance, f"level 1 is level 0 downsampled ({kind}, spot check)",
                 f"differs by up to {worst:g}")


def schema_errors(attrs: dict, version: str, schemas: Path) -> list[str]:
    """Errors of image attributes against the spec's strict image schema, from a checkout of
    the NGFF spec's schemas (`schemas/<version>/schemas/*.schema`)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    folder = schemas / version / "schemas"
    resources = []
    for file in sorted(folder.glob("*.schema")):
        schema = json.loads(file.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)))
    schema = json.loads((folder / "strict_image.schema").read_text())
    validator = Draft202012Validator(schema, registry=Registry().with_resources(resources))
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(attrs)]


def _check_schema(attrs: dict, version: str | None, schemas: Path, report: Report) -> None:
    folder = schemas / str(version) / "schemas"
    if report.check(folder.is_dir(), f"NGFF {version} JSON schemas", f"{folder} not found"):
        errors = schema_errors(attrs, str(version), schemas)
        report.check(not errors, f"NGFF {version} strict image JSON schema", "; ".join(errors[:3]))
