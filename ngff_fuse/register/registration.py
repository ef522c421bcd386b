"""register(tileset) -> Registration: refine the stage positions from the overlaps' content.

1. Pairs (`pairs.py`): tiles whose stage boxes come within the maximum shift of each other
   (so that true neighbours stay compared when the stage error is as large as the overlap),
   found with a k-d tree.
2. Pairwise (`pairwise.py`): for each pair, read only the overlap region (grown by the maximum
   shift) of the reference channel at the first timepoint from both tiles, and find their
   offset by an exhaustive normalised cross-correlation (NCC) search, refined to sub-pixel;
   the score is the NCC of the truly overlapping pixels. Pairs run on a thread pool (the FFTs
   release the GIL), a few regions in memory at a time.
3. Threshold: scores mean different things for different samples (noise, sparse labels,
   smooth or periodic structure), so the acceptance threshold comes from the data, as in
   ASHLAR: the score distribution of pairs that share texture but not content. Here those are
   real overlap regions matched against their neighbour's region turned by 180 degrees (same
   intensities, texture and noise as a real link, no correspondence). That works for any
   layout, even two tiles, and reads no extra pixels. Threshold = the NULL_PERCENTILE-th
   percentile of those null scores, and at least MIN_SCORE; a link must score above it by
   SCORE_MARGIN (a threshold of 1.0 accepts nothing, as on periodic content where every
   overlap matches its turned neighbour as well as its true one).
4. Global solve (`solve.py`): weighted least squares over the accepted links, inconsistent
   links dropped. Tiles without an accepted link, and groups of tiles linked to each other but
   not to the largest group, are placed by the stage model relative to their neighbours (or,
   with none, to the largest group), and named in the tile set's notes and the report.

The refined TileSet holds the same tiles with new translations, applied to every channel and
timepoint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import dask.system
import numpy as np

from ngff_fuse.errors import InputError
from ngff_fuse.model import Tile, TileSet, read_pixels
from ngff_fuse.progress import NoProgress, Progress
from ngff_fuse.register.pairs import Pair, Regions, candidate_pairs, padding_px, regions, stage_pixels
from ngff_fuse.register.pairwise import Measurement, measure
from ngff_fuse.register.solve import solve

#: Default maximum shift: this fraction of the largest in-plane tile edge, and at least
#: MIN_DEFAULT_MAX_SHIFT_PX. Stage errors beyond it are implausible and such links are dropped.
DEFAULT_MAX_SHIFT_FRACTION = 0.1
MIN_DEFAULT_MAX_SHIFT_PX = 50.0
#: Pairs measured a second time against their neighbour turned by 180 degrees (the null).
NULL_SAMPLES = 100
NULL_PERCENTILE = 99.0
#: No link below this NCC is ever accepted, whatever the null distribution says.
MIN_SCORE = 0.1
#: A link must score above the threshold by more than this: NCC differences this small are
#: rounding, not evidence (on periodic content every link and every null scores 0.99999...).
SCORE_MARGIN = 1e-3
_LABEL = "registering tile overlaps"


@dataclass(frozen=True)
class LinkResult:
    """One overlapping pair: what the stage said, what the pixels say, and the verdict."""

    a: int
    b: int
    stage_offset_px: tuple[float, float, float]  # b's first pixel in a's pixel frame, stage
    shift_px: tuple[float, float, float]  # measured offset minus the stage offset
    score: float  # NCC of the overlapping pixels at the measured offset
    accepted: bool  # used by the global solve
    reason: str  # why it was not accepted; "" when accepted
    residual_px: float  # |measured shift - (correction_b - correction_a)| after the solve

    @property
    def measured_offset_px(self) -> tuple[float, float, float]:
        return tuple(o + s for o, s in zip(self.stage_offset_px, self.shift_px))


@dataclass(frozen=True)
class TileCorrection:
    """How far registration moved one tile from its stage position."""

    index: int
    name: str
    correction_px: tuple[float, float, float]  # (z, y, x) pixels
    correction: tuple[float, float, float]  # the same in the tile set's unit (px if uncalibrated)
    residual_px: float | None  # RMS residual of its accepted links; None when it has none
    links: int  # accepted links that touch it
    group: int  # tiles joined by accepted links share a group; 0 is the largest


@dataclass(frozen=True)
class Registration:
    """The refined tile set and everything needed to judge and reproduce it."""

    tileset: TileSet  # the refined tiles
    stage: TileSet  # the input, at its stage positions
    links: tuple[LinkResult, ...]
    tiles: tuple[TileCorrection, ...]
    channel: int
    max_shift_px: float
    score_threshold: float
    threshold_source: str
    null_scores: tuple[float, ...]

    @property
    def accepted_links(self) -> int:
        return sum(link.accepted for link in self.links)

    @property
    def unlinked_tiles(self) -> int:
        return len(self.unlinked)

    @property
    def unlinked(self) -> tuple[TileCorrection, ...]:
        """Tiles without an accepted link: placed by the stage model."""
        return tuple(tile for tile in self.tiles if tile.links == 0)

    @property
    def detached_groups(self) -> tuple[tuple[TileCorrection, ...], ...]:
        """Groups of two or more tiles linked to each other but not to the largest group:
        placed by the stage model as a body, largest first."""
        groups: dict[int, list[TileCorrection]] = {}
        for tile in self.tiles:
            if tile.group != 0 and tile.links:
                groups.setdefault(tile.group, []).append(tile)
        return tuple(tuple(groups[g]) for g in sorted(groups))

    def to_metadata(self) -> dict:
        """A JSON-able summary for the output's attributes (details go in a positions file)."""
        corrections = np.array([t.correction_px for t in self.tiles])
        residuals = np.array([t.residual_px for t in self.tiles if t.residual_px is not None])
        return {
            "method": "exhaustive normalised cross-correlation of the tile overlaps (sub-pixel), "
                      "weighted least squares; tiles without accepted links and groups not "
                      "linked to the largest group are placed by the stage model relative to it",
            "channel": self.stage.channel_names[self.channel],
            "timepoint": 0,
            "max_shift_px": self.max_shift_px,
            "score_threshold": self.score_threshold,
            "threshold_source": self.threshold_source,
            "links": {"total": len(self.links), "accepted": self.accepted_links},
            "tiles": {"total": len(self.tiles), "without_links": self.unlinked_tiles},
            "unlinked_tiles": [tile.name for tile in self.unlinked],
            "detached_groups": [[tile.name for tile in group] for group in self.detached_groups],
            "correction_px": _summary(np.linalg.norm(corrections, axis=1)),
            "residual_px": _summary(residuals),
            "gauge": "the mean correction of all tiles is zero",
        }


def _summary(values: np.ndarray) -> dict:
    if not len(values):
        return {"max": None, "rms": None}
    return {"max": float(values.max()), "rms": float(np.sqrt(np.mean(values**2)))}


def channel_index(tileset: TileSet, channel: int | str) -> int:
    """The channel by index or name; InputError naming the choices otherwise."""
    if isinstance(channel, str) and channel in tileset.channel_names:
        return tileset.channel_names.index(channel)
    if isinstance(channel, int) and 0 <= channel < tileset.n_channels:
        return channel
    names = ", ".join(f"{i} ({n})" for i, n in enumerate(tileset.channel_names))
    raise InputError(
        f"{tileset.name}: no channel {channel!r} to register on; choose one of {names}"
    )


def default_max_shift(tileset: TileSet) -> float:
    edge = max(max(tile.spatial_shape[1:]) for tile in tileset.tiles)
    return max(MIN_DEFAULT_MAX_SHIFT_PX, DEFAULT_MAX_SHIFT_FRACTION * edge)


def read_region(tile: Tile, channel: int, box: tuple[slice, slice, slice]) -> np.ndarray:
    """Only this (z, y, x) box of the first timepoint, as float32; NaN and infinite pixels
    take the mean of the finite ones (0 if none), which no correlation notices: one NaN would
    make every score NaN, and the tiles unlinkable."""
    values = np.asarray(read_pixels(tile.data.data, (0, channel, *box)), dtype=np.float32)
    bad = ~np.isfinite(values)
    if bad.any():
        values = np.where(bad, values[~bad].mean() if not bad.all() else 0.0, values).astype(np.float32)
    return values


@dataclass(frozen=True)
class _Job:
    pair: Pair
    regions: Regions
    null: bool  # also measure the region against the point reflection of its neighbour's


def _null_pairs(n_pairs: int, samples: int, seed: int = 0) -> set[int]:
    """Which pairs also give a null score: a fixed random choice, so results are repeatable."""
    order = np.random.default_rng(seed).permutation(n_pairs)
    return {int(i) for i in order[:samples]}


def _run(
    job: _Job, tiles: tuple[Tile, ...], channel: int, max_shift: float, axis_scale, factors
) -> tuple[Measurement, float | None]:
    a = read_region(tiles[job.pair.a], channel, job.regions.box_a())
    b = read_region(tiles[job.pair.b], channel, job.regions.box_b())
    expected = job.regions.expected
    found = measure(a, b, expected, max_shift, axis_scale, job.regions.min_overlap, factors)
    if not job.null:
        return found, None
    # Point reflection: every axis flipped, so no line or edge keeps its direction and place
    # (a mirror along one axis would leave stripes along the other in register).
    turned = b[::-1, ::-1, ::-1]
    return found, measure(
        a, turned, expected, max_shift, axis_scale, job.regions.min_overlap, factors
    ).score


def _bounded_map(function: Callable, items: Iterable, workers: int) -> Iterator:
    """function(item) for every item on a thread pool, in order, with few tasks in flight,
    so memory holds a handful of overlap regions, not all of them."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[Future] = []
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def _threshold(null_scores: list[float]) -> tuple[float, str]:
    if not null_scores:
        return MIN_SCORE, f"no overlaps to sample a null distribution from; the floor {MIN_SCORE}"
    value = float(np.percentile(null_scores, NULL_PERCENTILE))
    source = (
        f"{NULL_PERCENTILE:g}th percentile of the scores of {len(null_scores)} overlaps matched "
        f"against their neighbour's overlap turned by 180 degrees (same texture, no shared "
        f"content)"
    )
    if value < MIN_SCORE:
        return MIN_SCORE, f"the floor {MIN_SCORE} (above the {source}: {value:.3f})"
    return value, source


def register(
    tileset: TileSet,
    channel: int | str = 0,
    max_shift_px: float | None = None,
    downsample: int | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> Registration:
    """Refine every tile's position from the image content of its overlaps.

    `channel` (index or name) is the reference, measured at the first timepoint; the refined
    positions apply to all channels and timepoints. `max_shift_px` bounds how far (in x pixels)
    a pair may sit from where the stage put it (default: 10 % of the largest tile edge, at
    least 50 px). `downsample` forces the block-mean factor of the coarse search (default: the
    smallest that keeps a region under pairwise.COARSE_BUDGET pixels); the sub-pixel
    refinement is always at full resolution. `workers`: threads (default: one per core).
    """
    progress = progress or NoProgress()
    channel = channel_index(tileset, channel)
    max_shift = default_max_shift(tileset) if max_shift_px is None else float(max_shift_px)
    if not (math.isfinite(max_shift) and max_shift > 0):
        raise InputError(f"maximum shift {max_shift_px!r} px: give a positive number of pixels")
    if downsample is not None and downsample < 1:
        raise InputError(f"downsample factor {downsample!r}: give a whole number of at least 1")
    positions, shapes = stage_pixels(tileset)
    spacing = np.asarray(tileset.spacing, dtype=float)
    axis_scale = spacing / spacing[2]
    factors = None if downsample is None else (
        max(1, round(downsample / axis_scale[0])), downsample, downsample
    )
    padding = padding_px(max_shift, spacing)
    pairs = candidate_pairs(positions, shapes, padding)
    nulls = _null_pairs(len(pairs), NULL_SAMPLES)
    jobs = [
        _Job(pair, regions(pair, shapes[pair.a], shapes[pair.b], padding), i in nulls)
        for i, pair in enumerate(pairs)
    ]
    progress.start(_LABEL, len(jobs), "links")
    measured: list[Measurement] = []
    null_scores: list[float] = []

    def run(job: _Job):
        return _run(job, tileset.tiles, channel, max_shift, axis_scale, factors)

    for found, null in _bounded_map(run, jobs, workers or dask.system.CPU_COUNT):
        measured.append(found)
        if null is not None:
            null_scores.append(null)
        progress.advance(_LABEL)
    progress.finish(_LABEL)
    threshold, source = _threshold(null_scores)
    return _result(tileset, pairs, jobs, measured, threshold, source, null_scores, channel, max_shift)


def _verdict(found: Measurement, deviation: np.ndarray, threshold: float, max_shift: float,
             axis_scale: np.ndarray) -> str:
    if found.failure:
        return found.failure
    if not found.within_limit:
        size = float(np.linalg.norm(deviation * axis_scale))
        return f"shift {size:.1f} px exceeds the maximum shift {max_shift:g} px"
    if not found.score > threshold + SCORE_MARGIN:
        return f"score {found.score:.4f} not above the threshold {threshold:.4f}"
    return ""


def _result(tileset, pairs, jobs, measured, threshold, source, null_scores, channel, max_shift):
    """Solve globally and assemble the Registration."""
    n = len(tileset.tiles)
    spacing = np.asarray(tileset.spacing, dtype=float)
    axis_scale = spacing / spacing[2]
    deviations = np.array([
        found.shift - job.regions.expected for found, job in zip(measured, jobs)
    ]).reshape(-1, 3)
    reasons = [
        _verdict(found, dev, threshold, max_shift, axis_scale)
        for found, dev in zip(measured, deviations)
    ]
    accepted = np.array([not r for r in reasons], dtype=bool)
    links = np.array([(p.a, p.b) for p in pairs], dtype=np.int64).reshape(-1, 2)
    scores = np.array([m.score for m in measured])
    solution = solve(n, links, deviations, np.clip(scores, 1e-3, None), accepted)
    for i in np.flatnonzero(accepted & ~solution.kept):
        reasons[i] = (
            f"inconsistent with the other links (residual {solution.residuals[i]:.1f} px)"
        )
    link_results = tuple(
        LinkResult(
            a=p.a, b=p.b,
            stage_offset_px=tuple(float(v) for v in p.stage_offset),
            shift_px=tuple(float(v) for v in dev),
            score=float(m.score), accepted=bool(kept), reason=reason,
            residual_px=float(res),
        )
        for p, m, dev, kept, reason, res in zip(
            pairs, measured, deviations, solution.kept, reasons, solution.residuals
        )
    )
    tiles = _tile_corrections(tileset, solution, links, spacing)
    origins = np.array([t.origin for t in tileset.tiles]) + solution.corrections * spacing
    kept = int(solution.kept.sum())
    registration = Registration(
        tileset=tileset, stage=tileset, links=link_results, tiles=tiles, channel=channel,
        max_shift_px=max_shift, score_threshold=threshold, threshold_source=source,
        null_scores=tuple(float(s) for s in null_scores),
    )
    refined = tileset.moved_to(
        origins,
        f"{tileset.position_source}; refined by registration ({kept} of {len(pairs)} compared "
        "pairs matched)",
        _notes(registration),
    )
    return replace(registration, tileset=refined)


def _group_labels(groups: np.ndarray) -> np.ndarray:
    """Groups renumbered by size, largest first (0), ties in tile order."""
    sizes = np.bincount(groups)
    first = np.full(len(sizes), len(groups))
    np.minimum.at(first, groups, np.arange(len(groups)))
    order = sorted(range(len(sizes)), key=lambda g: (-sizes[g], first[g]))
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[order] = np.arange(len(sizes))
    return rank[groups]


def _tile_corrections(tileset, solution, links, spacing) -> tuple[TileCorrection, ...]:
    n = len(tileset.tiles)
    squared = np.zeros(n)
    counts = np.zeros(n, dtype=np.int64)
    for (a, b), residual in zip(links[solution.kept], solution.residuals[solution.kept]):
        for i in (a, b):
            squared[i] += residual**2
            counts[i] += 1
    groups = _group_labels(solution.groups)
    return tuple(
        TileCorrection(
            index=i, name=tile.name,
            correction_px=tuple(float(v) for v in solution.corrections[i]),
            correction=tuple(float(v) for v in solution.corrections[i] * spacing),
            residual_px=float(math.sqrt(squared[i] / counts[i])) if counts[i] else None,
            links=int(counts[i]),
            group=int(groups[i]),
        )
        for i, tile in enumerate(tileset.tiles)
    )


def _notes(registration: Registration) -> tuple[str, ...]:
    """Warnings naming every tile the images could not place: the stage model placed them."""
    notes = []
    unlinked = registration.unlinked
    if unlinked and len(unlinked) < len(registration.tiles):
        notes.append(
            f"warning: registration: {len(unlinked)} of {len(registration.tiles)} tiles have no "
            f"accepted link and are placed by the stage model relative to their neighbours: "
            + ", ".join(tile.name for tile in unlinked)
        )
    elif unlinked and len(registration.tiles) > 1:
        notes.append(
            "warning: registration: no overlap matched, every tile keeps its stage position: "
            + ", ".join(tile.name for tile in unlinked)
        )
    for group in registration.detached_groups:
        notes.append(
            f"warning: registration: {len(group)} tiles are linked to each other but not to the "
            f"largest group, and are placed as one by the stage model relative to it: "
            + ", ".join(tile.name for tile in group)
        )
    return tuple(notes)
