"""Check a written OME-Zarr: metadata, levels, every chunk, pyramid and physical consistency.

Used by `ngff-fuse validate`; works on any NGFF 0.4 / 0.5 / 0.6 image, 0.6 scene, plate or
well, and bioformats2raw collection, with extra checks where ngff-fuse wrote it (its
completeness marker, its downsampling method). A release candidate ("0.6rc0") is checked as
the release it leads to, against its own schemas.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr

from ngff_fuse.errors import InputError
from ngff_fuse.ngff.groups import TILES_GROUP, TILES_KEY, is_zarr_group
from ngff_fuse.ngff.groups import attributes as group_attributes
from ngff_fuse.ngff.metadata import FORMATS
from ngff_fuse.ngff.transforms import transform_matrix
from ngff_fuse.progress import NoProgress, Progress
from ngff_fuse.pyramid import Downsample
from ngff_fuse.storage import Location, location, zarr_store
from ngff_fuse.writer import STATUS_KEY
from ngff_fuse.zarr_check import ChunkChecker, open_node, read_checked, scan, unreadable_metadata

#: Physical disagreement (um) tolerated between a level's pixel centre and level 0's.
PHYSICAL_TOLERANCE = 1e-6


@dataclass
class Report:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, ok: bool, what: str, why: str = "") -> bool:
        (self.passed if ok else self.failed).append(what if ok else f"{what}: {why}")
        return ok

    def merge(self, prefix: str, other: Report) -> None:
        self.passed += [f"{prefix}: {p}" for p in other.passed]
        self.failed += [f"{prefix}: {f}" for f in other.failed]

    @property
    def ok(self) -> bool:
        return not self.failed


def release_of(version: str | None) -> str | None:
    """The release a version string belongs to ("0.6" for "0.6" and "0.6rc0"); None when it
    is not a release or release candidate of a version ngff-fuse knows."""
    match = re.fullmatch(r"(\d+\.\d+)(rc\d+)?", str(version))
    return match.group(1) if match and match.group(1) in FORMATS else None


def _ome(attributes: dict) -> tuple[dict, str | None]:
    """The NGFF metadata of a group's attributes (under "ome" from 0.5 on) and its version."""
    if "ome" in attributes:
        return attributes["ome"], attributes["ome"].get("version")
    multiscales = attributes.get("multiscales") or [{}]
    version = multiscales[0].get("version") or attributes.get("omero", {}).get("version")
    for kind in ("plate", "well"):
        version = version or (attributes.get(kind) or {}).get("version")
    if version is None and ("bioformats2raw.layout" in attributes or "series" in attributes):
        version = "0.4"  # unversioned before 0.5: a collection outside "ome" is 0.4's layout
    return attributes, version


def _schema_names(attrs: dict, strict: bool) -> list[str]:
    """The spec schemas a group's metadata answers to, by what the group is; an image that
    also places other images (a fused image and its kept tiles) answers to two."""
    if "image-label" in attrs or "multiscales" in attrs:
        kind = "label" if "image-label" in attrs else "image"
    elif "plate" in attrs or "well" in attrs:
        kind = "plate" if "plate" in attrs else "well"
    elif "bioformats2raw.layout" in attrs or "series" in attrs:
        return ["bf2raw" if "bioformats2raw.layout" in attrs else "ome"] + (["scene"] if "scene" in attrs else [])
    else:
        kind = None
    names = [] if kind is None else [f"strict_{kind}" if strict else kind]
    return names + (["scene"] if "scene" in attrs else [])  # the spec has no strict scene schema


def validate_attributes(attributes: dict, schemas: Path | None = None, *, strict: bool = True) -> Report:
    """The checks one group's attributes (the "attributes" of its zarr.json) allow without
    opening anything: version, the spec's JSON schema for what the group is (an image, label,
    scene, plate, well or collection; `strict` picks the spec's strict schemas, what a writer
    should produce), and the coordinate systems and transformations making sense together."""
    report = Report()
    _check_metadata(attributes, schemas, strict, report)
    return report


def _check_metadata(attributes: dict, schemas: Path | None, strict: bool, report: Report):
    """Metadata checks; returns (NGFF metadata, release, image geometry or None), or None when
    the group is no NGFF group at all."""
    attrs, version = _ome(attributes)
    names = _schema_names(attrs, strict)
    if not names:
        report.check(False, "multiscales metadata", "absent: not an NGFF image")
        return None
    release = release_of(version)
    known = ", ".join(FORMATS)
    if report.check(release is not None, "NGFF version", f"{version!r} is not one of {known}"):
        if version != release:
            report.passed.append(f"NGFF version {version}: a release candidate of {release}, "
                                 "checked against its own schemas")
    if schemas is not None and release is not None:
        _check_schemas(attributes, str(version), names, schemas, report)
    geometry = None
    if "multiscales" in attrs:
        multiscale = (attrs.get("multiscales") or [{}])[0]
        if report.check(bool(multiscale.get("datasets")), "multiscales datasets", "none listed"):
            geometry = _geometry(multiscale, release, report)
    if "scene" in attrs:
        _check_scene(attrs, report)
    return attrs, release, geometry


def validate_store(path: Location | str, schemas: Path | None = None, *, strict: bool = True,
                   metadata_only: bool = False, decode: bool = True, progress: Progress | None = None) -> Report:
    """Every check on the store at `path`; collections, scenes, plates and wells check each
    image they reference. `strict`: see `validate_attributes`; `metadata_only` checks this
    group's metadata without opening arrays or child groups (the spec's conformance
    hierarchies hold no arrays). `decode` reads every chunk of every array checked, in
    parallel, counted on `progress`; without it chunks are only looked for. `path` may be an
    object-store URL (`storage.location`)."""
    path = location(path)
    if not path.exists():
        raise InputError(f"{path}: no such store; check the path")
    try:
        group = zarr.open_group(zarr_store(path), mode="r")
    except Exception:
        why = unreadable_metadata(path)
        raise InputError(f"{why}: not a zarr group that can be read, the store is damaged" if why
                         else f"{path}: not a zarr group; give the path of an OME-Zarr") from None
    stored: list[_Stored] = []
    report = _check_group(path, group, "", schemas, strict, metadata_only, stored)
    if stored:
        ours = bool(dict(group.attrs).get(STATUS_KEY))
        _check_chunks(stored, decode, ours, progress or NoProgress(), report)
    return report


@dataclass(frozen=True)
class _Stored:
    """An array whose chunks are read once every group's metadata is checked (one pass, one
    progress bar): what the report calls it, and its path in the store."""

    label: str
    path: str
    array: zarr.Array


def _check_group(path: Path, group, where: str, schemas: Path | None, strict: bool, metadata_only: bool,
                 stored: list[_Stored]) -> Report:
    """The checks of one group, and of the groups it references; its arrays join `stored`."""
    report = Report()
    marker = dict(group.attrs).get(STATUS_KEY) or {}
    if marker:
        report.check(marker.get("status") == "complete", "ngff-fuse completeness marker",
                     "marked incomplete: an interrupted conversion; finish it with `convert ... --resume`")
    checked = _check_metadata(dict(group.attrs), schemas, strict, report)
    if checked is None or metadata_only:
        return report
    attrs, release, geometry = checked
    if "plate" in attrs:
        _check_plate(path, attrs["plate"], report)
        if release is not None:
            _check_models(group, release, report, "hcs", "HCS", "plate")
    if "multiscales" in attrs:
        if release is not None:
            _check_models(group, release, report)
        if geometry is not None:
            _check_arrays(path, where, attrs["multiscales"][0], geometry, report, stored)
    try:
        if "scene" in attrs:
            _check_scene_targets(path, attrs["scene"], report)
        children = _children(path, attrs)
    except InputError as exc:
        report.check(False, "referenced groups", str(exc))
        return report
    for child in children:
        inside = f"{where}/{child}" if where else child
        try:
            child_group = open_node(path / child, "group")
        except InputError as exc:
            report.check(False, child, str(exc))
            continue
        report.merge(child, _check_group(path / child, child_group, inside, schemas, strict, False, stored))
    return report


def _check_chunks(stored: list[_Stored], decode: bool, ours: bool, progress: Progress, report: Report) -> None:
    """Every chunk of every array there, and with `decode` readable. ngff-fuse writes every
    chunk, so in its stores a missing one is damage; other writers leave out chunks that hold
    only the fill value, which readers then fill in."""
    checkers = [ChunkChecker(s.array) for s in stored]
    found = scan(checkers, progress, "decoding chunks" if decode else "looking for chunks", decode)
    for item, checker, damage in zip(stored, checkers, found):
        total = len(checker.keys()) * checker.chunks_per_key
        absent = [] if ours else [d for d in damage if d.missing]
        bad = [d for d in damage if ours or not d.missing]
        if absent:
            report.passed.append(f"{item.label}: {len(absent)} of {total} chunks absent, read as the fill value "
                                 "(left out by their writer as empty)")
        named = "; ".join(f"{item.path}/{d}" for d in bad[:5]) + ("; ..." if len(bad) > 5 else "")
        if ours:
            what = f"{item.label} chunks all present" + (" and decode" if decode else "")
        else:
            what = f"{item.label} stored chunks all " + ("decode" if decode else "not empty")
        report.check(not bad, what, f"{len(bad)} of {total} damaged: {named}")


def _children(path: Path, attrs: dict) -> list[str]:
    """Groups this group's metadata says hold images: collection series, plate wells, well
    fields, the images a scene places, and an image's kept tiles."""
    if "bioformats2raw.layout" in attrs:
        series = _ome(dict(open_node(path / "OME", "group").attrs))[0].get("series") or []
        return [str(s) for s in series]
    if "plate" in attrs:
        return [w["path"] for w in attrs["plate"].get("wells", [])]
    if "well" in attrs:
        return [i["path"] for i in attrs["well"].get("images", [])]
    if "scene" in attrs:
        paths = [ref["path"] for t in attrs["scene"].get("coordinateTransformations", [])
                 for ref in (t.get("input"), t.get("output")) if isinstance(ref, dict) and ref.get("path")]
        return list(dict.fromkeys(paths))
    if "multiscales" in attrs and is_zarr_group(path / TILES_GROUP):  # 0.4 / 0.5 kept tiles
        listed = group_attributes(path / TILES_GROUP).get(TILES_KEY) or []
        return [f"{TILES_GROUP}/{tile['path']}" for tile in listed]
    return []


def _coordinate_system_names(attrs: dict) -> set[str]:
    names = {cs.get("name") for cs in (attrs.get("scene") or {}).get("coordinateSystems", [])}
    for multiscale in attrs.get("multiscales", []):
        names |= {cs.get("name") for cs in multiscale.get("coordinateSystems", [])}
    return names


def _scene_refs(scene: dict):
    """(transform index, "input"/"output", reference) of every scene transformation end."""
    for i, transform in enumerate(scene.get("coordinateTransformations", [])):
        for end in ("input", "output"):
            if isinstance(transform.get(end), dict):  # anything else, the schema reports
                yield i, end, transform[end]


def _check_scene(attrs: dict, report: Report) -> None:
    """Scene ends without a path name a coordinate system of the same metadata document (the
    scene's own, or its group's multiscales')."""
    own = _coordinate_system_names(attrs)
    for i, end, ref in _scene_refs(attrs["scene"]):
        if ref.get("path") is None:
            report.check(ref.get("name") in own, f"scene transform {i} {end} coordinate system",
                         f"{ref.get('name')!r} is not among the document's {sorted(own)}")


def _check_scene_targets(path: Path, scene: dict, report: Report) -> None:
    """Scene ends with a path name a coordinate system of the group at that path."""
    for i, end, ref in _scene_refs(scene):
        where = ref.get("path")
        if where is None:
            continue
        target = path / where
        names = (_coordinate_system_names(_ome(dict(open_node(target, "group").attrs))[0])
                 if (target / "zarr.json").exists() else set())
        report.check(ref.get("name") in names, f"scene transform {i} {end} {where}:{ref.get('name')}",
                     f"{where} has no coordinate system {ref.get('name')!r}")


def _geometry(multiscale: dict, release: str | None, report: Report) -> tuple[list[str], list[np.ndarray]] | None:
    """Axis names and, per dataset, the homogeneous matrix from array index to the physical
    coordinate system; None (with the reason reported) when they cannot be read."""
    if release == "0.6":
        systems = {cs.get("name"): cs for cs in multiscale.get("coordinateSystems", [])}
        outputs = {_ref_name(t.get("output")) for d in multiscale["datasets"]
                   for t in d.get("coordinateTransformations", [])}
        if not report.check(len(outputs) == 1 and outputs <= set(systems), "datasets' output coordinate system",
                            f"outputs {sorted(map(str, outputs))} must be one of the coordinate systems {sorted(systems)}"):
            return None
        axes = [a.get("name") for a in systems[outputs.pop()].get("axes", [])]
        for d in multiscale["datasets"]:
            for t in d.get("coordinateTransformations", []):
                report.check(_ref_path(t.get("input")) in (None, d.get("path")), f"level {d.get('path')} transform input",
                             f"{t.get('input')!r} is not the dataset's path")
    else:
        axes = [a.get("name") for a in multiscale.get("axes", [])]
    try:
        return axes, [transform_matrix(d["coordinateTransformations"], len(axes)) for d in multiscale["datasets"]]
    except (InputError, KeyError, TypeError) as exc:
        report.check(False, "dataset transformations", str(exc))
        return None


def _ref_name(ref) -> str | None:
    return ref.get("name") if isinstance(ref, dict) else ref


def _ref_path(ref) -> str | None:
    return ref.get("path") if isinstance(ref, dict) else ref


def _check_arrays(path: Path, where: str, multiscale: dict, geometry, report: Report,
                  stored: list[_Stored]) -> None:
    """Each level's array against the metadata: dimensions, shape by scale, dtype, pixel
    centres on level 0's, and level 1 as level 0 downsampled; its chunks join `stored`."""
    axes, matrices = geometry
    arrays = []
    for dataset, matrix in zip(multiscale["datasets"], matrices):
        name = dataset["path"]
        try:
            array = open_node(path / name)
        except InputError as exc:
            report.check(False, f"level {name}", str(exc))
            return
        report.check(array.ndim == len(axes), f"level {name} dimensions",
                     f"{array.ndim} dims but {len(axes)} axes")
        arrays.append((name, array, np.diag(matrix)[:-1]))
    if any(array.ndim != len(axes) for _, array, _ in arrays):
        return
    base_shape, base_scale = arrays[0][1].shape, arrays[0][2]
    for name, array, scale in arrays:
        factor = np.asarray(scale) / np.asarray(base_scale)
        expected = tuple(int(np.ceil(n / f - 1e-9)) for n, f in zip(base_shape, factor))
        report.check(tuple(array.shape) == expected, f"level {name} shape {array.shape}",
                     f"scale says {expected}")
        report.check(array.dtype == arrays[0][1].dtype, f"level {name} dtype",
                     f"{array.dtype} differs from level 0's {arrays[0][1].dtype}")
        inside = f"{where}/{name}" if where else name
        stored.append(_Stored(f"{where}: level {name}" if where else f"level {name}", inside, array))
    for (name, array, _), matrix in list(zip(arrays, matrices))[1:]:
        _check_alignment(name, array.shape, matrix, matrices[0], axes, report)
    if len(arrays) > 1:
        _check_downsampling(arrays[0], arrays[1], multiscale.get("type"), report)


def _check_models(group, release: str, report: Report, module: str = "", model: str = "Image",
                  kind: str = "image") -> None:
    """ome-zarr-models' own validation of an image (or with `module` "hcs", `model` "HCS", a
    plate); it also checks arrays against the metadata. For 0.6 only where its public `v06`
    exists (ome-zarr-models >= 1.8, which needs Python >= 3.12): 1.7's private `_v06` models an
    earlier 0.6 draft (`axes`, a scale first) and rejects the released layout, so it is not used."""
    try:
        Model = getattr(importlib.import_module(".".join(filter(None, (f"ome_zarr_models.v0{release[-1]}", module)))), model)
    except ImportError:
        if release == "0.6":
            return
        raise
    try:
        Model.from_zarr(group)
        report.check(True, f"ome-zarr-models {release} {kind}")
    except Exception as exc:  # the validator's own exception types vary by version
        report.check(False, f"ome-zarr-models {release} {kind}", str(exc).splitlines()[0])


def _check_plate(path: Path, plate: dict, report: Report) -> None:
    """What a plate's metadata says against its wells: each well's path names the row and
    column its indices point at, its group lists its images (fields), no well has more than
    the plate's field_count, and every acquisition a well image names is the plate's."""
    rows = [r.get("name") for r in plate.get("rows", [])]
    columns = [c.get("name") for c in plate.get("columns", [])]
    acquisitions = {a.get("id") for a in plate.get("acquisitions", [])}
    misplaced, unlisted, fields = [], [], 0
    for well in plate.get("wells", []):
        r, c = well.get("rowIndex"), well.get("columnIndex")
        named = (f"{rows[r]}/{columns[c]}" if isinstance(r, int) and isinstance(c, int)
                 and 0 <= r < len(rows) and 0 <= c < len(columns) else None)
        if named != well.get("path"):
            misplaced.append(f"{well.get('path')} (rowIndex {r}, columnIndex {c}: {named})")
        try:
            images = _ome(group_attributes(path / str(well.get("path"))))[0].get("well", {}).get("images", [])
        except InputError:
            continue  # the well's own checks say it is missing
        fields = max(fields, len(images))
        if acquisitions:
            unlisted += [f"{well.get('path')}/{i.get('path')} ({i.get('acquisition')})"
                         for i in images if "acquisition" in i and i["acquisition"] not in acquisitions]
    report.check(not misplaced, "plate wells at their row and column", "; ".join(misplaced[:5]))
    count = plate.get("field_count")
    report.check(count is None or fields <= count, "plate field_count",
                 f"a well has {fields} images but field_count is {count}")
    report.check(not unlisted, "well images' acquisitions listed by the plate",
                 "not in the plate's acquisitions: " + "; ".join(unlisted[:5]))


def _check_alignment(name: str, shape, matrix: np.ndarray, base: np.ndarray, axes: list[str],
                     report: Report) -> None:
    """A level pixel stands for a block of `f` level-0 pixels per axis. Its physical centre
    must sit on that block's centre (index i -> level-0 index i * f + (f - 1) / 2: averaged
    levels, what ngff-fuse writes) or, for strided pyramids that keep each block's first pixel,
    on that pixel (i * f). Checked at the first and last pixel of the level on every axis."""
    scale, base_scale = np.diag(matrix)[:-1], np.diag(base)[:-1]
    factor = scale / base_scale
    spatial = [i for i, ax in enumerate(axes) if ax not in ("t", "c")]

    def worst(offset: np.ndarray) -> float:
        error = 0.0
        for corner in ([0] * len(shape), [n - 1 for n in shape]):
            index = np.asarray(corner, dtype=float)
            here = matrix @ np.append(index, 1.0)
            there = base @ np.append(index * factor + offset, 1.0)
            error = max(error, float(np.abs(here[spatial] - there[spatial]).max(initial=0.0)))
        return error

    centred, strided = worst((factor - 1) / 2), worst(np.zeros_like(factor))
    how = "block centres" if centred <= PHYSICAL_TOLERANCE else "first pixel of each block"
    report.check(min(centred, strided) <= PHYSICAL_TOLERANCE, f"level {name} pixel centres on level 0's ({how})",
                 f"off by up to {centred:g} (physical units) from the centres of the level-0 blocks "
                 f"they cover, and by {strided:g} from their first pixels")


def _check_downsampling(level0, level1, method: str | None, report: Report) -> None:
    """Spot check: a central level-0 region, downsampled by the recorded method, is level 1."""
    _, a0, s0 = level0
    _, a1, s1 = level1
    factor = [int(round(b / a)) for a, b in zip(s0, s1)]
    centre = [max(0, (n // f) // 2 - 8) for n, f in zip(a1.shape, factor)]
    size = [min(16, n - c) for n, c in zip(a1.shape, centre)]
    what = "level 1 is level 0 downsampled (spot check)"
    try:  # a damaged chunk is named by the chunk checks
        small = read_checked(a1, tuple(slice(c, c + s) for c, s in zip(centre, size)), missing_ok=True)
        big = read_checked(a0, tuple(slice(c * f, (c + s) * f) for c, s, f in zip(centre, size, factor)),
                           missing_ok=True)
    except InputError:
        report.check(False, what, "not done: a chunk it reads is damaged")
        return
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


def schema_folder(schemas: Path, version: str) -> Path | None:
    """Where a checkout of the spec's schemas keeps those of `version`: `<version>/schemas`,
    else, for a release, its development copy `<release>-dev/schemas`."""
    release = release_of(version) or version
    for name in dict.fromkeys((version, release, f"{release}-dev")):
        folder = schemas / name / "schemas"
        if folder.is_dir():
            return folder
    return None


def load_schemas(folder: Path, version: str) -> dict[str, dict]:
    """The schemas in `folder` by file stem, made to answer for `version`.

    A release checked against its release candidate's schemas (0.6 against the "0.6rc0" ones
    in `ngff-spec/0.6-dev`) reads the candidate's version string as the release's, in the
    `_version.schema` enum and in every `$id` / `$ref` (`/0.6rc0/` -> `/0.6/`), the one
    difference found between the rc and the release for what ngff-fuse writes (see
    `ngff_fuse.ngff.Ngff06`)."""
    texts = {f.stem: f.read_text() for f in sorted(folder.glob("*.schema"))}
    candidates = json.loads(texts["_version"])["enum"] if "_version" in texts else []
    if candidates and version not in candidates:
        for candidate in candidates:
            if release_of(candidate) == version:
                texts = {k: t.replace(f'"{candidate}"', f'"{version}"').replace(f"/{candidate}/", f"/{version}/")
                         for k, t in texts.items()}
                break
    return {k: json.loads(t) for k, t in texts.items()}


def schema_errors(attrs: dict, version: str, schemas: Path, schema: str = "strict_image") -> list[str]:
    """Errors of a group's attributes against one of the spec's JSON schemas (`schema`, a
    file stem such as "strict_image" or "scene"), from a checkout of the NGFF spec's schemas
    (`schemas/<version>/schemas/*.schema`, or `<release>-dev` for a release)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    folder = schema_folder(schemas, version)
    if folder is None:
        raise InputError(f"{schemas}: no NGFF {version} schemas (looked for {version}/schemas); "
                         "give a checkout of the ngff-spec schemas")
    loaded = load_schemas(folder, version)
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s, default_specification=DRAFT202012)) for s in loaded.values()
    )
    validator = Draft202012Validator(loaded[schema], registry=registry)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(attrs)]


def _check_schemas(attrs: dict, version: str, names: list[str], schemas: Path, report: Report) -> None:
    folder = schema_folder(schemas, version)
    if not report.check(folder is not None, f"NGFF {version} JSON schemas", f"none for {version} under {schemas}"):
        return
    for name in names:
        exists = (folder / f"{name}.schema").exists()
        errors = schema_errors(attrs, version, schemas, name) if exists else [f"no {name}.schema in {folder}"]
        report.check(not errors, f"NGFF {version} {name.replace('_', ' ')} JSON schema", "; ".join(errors[:3]))
