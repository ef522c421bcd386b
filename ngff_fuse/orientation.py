"""The tile set in physical space: fixing stage axes that disagree with the image axes.

Many stages count x or y the other way round from the camera, or swap them. The tiles' pixels
are right; only their arrangement is mirrored or transposed. Re-orienting mirrors (or swaps)
the tile centres about the mosaic's centre, so the mosaic stays where the stage put it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ngff_fuse.model import TileSet


@dataclass(frozen=True)
class Orientation:
    flip_x: bool = False
    flip_y: bool = False
    swap_xy: bool = False

    def __str__(self) -> str:
        parts = [name for name, on in (("--swap-xy", self.swap_xy), ("--flip-x", self.flip_x),
                                       ("--flip-y", self.flip_y)) if on]
        return " ".join(parts) or "as recorded"

    @property
    def is_identity(self) -> bool:
        return not (self.flip_x or self.flip_y or self.swap_xy)

    def matrix(self) -> np.ndarray:
        """Applied to (z, y, x) offsets from the mosaic centre: swap first, then flip."""
        m = np.eye(3)
        if self.swap_xy:
            m = m[[0, 2, 1]]
        flips = np.diag([1.0, -1.0 if self.flip_y else 1.0, -1.0 if self.flip_x else 1.0])
        return flips @ m


def reorient(tileset: TileSet, orientation: Orientation) -> TileSet:
    """The same tiles with their stage arrangement mirrored/swapped as `orientation` says."""
    if orientation.is_identity:
        return tileset
    centres = np.array([np.mean(tile.physical_bounds(), axis=0) for tile in tileset.tiles])
    middle = (centres.min(axis=0) + centres.max(axis=0)) / 2
    moved = (centres - middle) @ orientation.matrix().T + middle
    return tileset.moved(moved - centres, notes=(f"stage axes re-oriented as asked: {orientation}",))


#: Every way a stage's x/y can disagree with the camera's: swaps and mirrors.
ORIENTATIONS = tuple(
    Orientation(flip_x=fx, flip_y=fy, swap_xy=sw)
    for sw in (False, True) for fx in (False, True) for fy in (False, True)
)
#: How much better (in overlap NCC) one arrangement must match than every other to be chosen.
_MARGIN = 0.1
#: Below this NCC the overlaps do not match under any arrangement: nothing to decide from.
_MIN_SCORE = 0.3


@dataclass(frozen=True)
class OrientationCheck:
    """How well the tile overlaps match under each orientation of the stage axes.

    Orientations that put every tile at the same place (a flip across a single row, say) are
    one arrangement: they score alike by construction and never make the check undecided.
    """

    scores: dict[str, float]  # str(orientation) -> the worst axis's median NCC of its overlaps
    pairs: int  # overlapping pairs sampled (as recorded)
    same_as: dict[str, str] = field(default_factory=dict)  # orientation -> first equivalent one

    @property
    def recorded(self) -> float:
        return self.scores[str(Orientation())]

    @property
    def best(self) -> str:
        return max(self._distinct(), key=lambda k: self.scores[k])

    def _distinct(self) -> list[str]:
        return [k for k in self.scores if self.same_as.get(k, k) == k]

    @property
    def decided(self) -> bool:
        """One arrangement matches, and clearly better than every other."""
        ranked = sorted((self.scores[k] for k in self._distinct()), reverse=True)
        if not self.pairs or ranked[0] < _MIN_SCORE:
            return False
        return len(ranked) == 1 or ranked[0] >= ranked[1] + _MARGIN

    def verdict(self) -> str:
        if not self.pairs:
            return "not checked: no tiles overlap"
        best, top = self.best, self.scores[self.best]
        if not self.decided:
            rivals = [k for k in self._distinct() if self.scores[k] > top - _MARGIN]
            why = (f"no orientation matches the overlaps (best NCC {top:.2f})" if top < _MIN_SCORE
                   else "overlaps match alike with " + ", ".join(
                       f"{k} ({self.scores[k]:.2f})" for k in rivals))
            return (f"could not decide: {why}; the positions are used as recorded, check the "
                    "layout picture (ngff-fuse layout) or pass --flip-x/--flip-y/--swap-xy")
        if best == self.same_as.get(str(Orientation()), str(Orientation())):
            return f"as recorded (overlaps match with NCC {self.recorded:.2f})"
        return (f"overlaps match far better with {best} (NCC {top:.2f} vs {self.recorded:.2f} "
                "as recorded): pass it if the stage counts that way")


def check_orientation(tileset: TileSet, channel: int = 0, max_pairs: int = 8) -> OrientationCheck:
    """Score every distinct arrangement of the tiles by the best-match NCC of up to
    `max_pairs` overlaps, shared among the axes the neighbours sit along; reads only those
    overlap regions, and changes nothing."""
    from ngff_fuse.register.pairs import overlapping_pairs, padding_px, regions, stage_pixels
    from ngff_fuse.register.pairwise import measure
    from ngff_fuse.register.registration import default_max_shift, read_region

    spacing = np.asarray(tileset.spacing, dtype=float)
    axis_scale = spacing / spacing[2]
    max_shift = default_max_shift(tileset)
    scores, same_as, arrangements, sampled = {}, {}, {}, 0
    for orientation in ORIENTATIONS:
        candidate = reorient(tileset, orientation)
        positions, shapes = stage_pixels(candidate)
        key = next((k for k, seen in arrangements.items() if np.allclose(seen, positions, atol=0.5)),
                   None)
        if key is not None:  # the same arrangement as an orientation already scored
            scores[str(orientation)], same_as[str(orientation)] = scores[key], key
            continue
        arrangements[str(orientation)] = positions
        pairs = overlapping_pairs(positions, shapes)
        # An arrangement is right only if neighbours match along every axis, so the score is
        # the worst axis's median: a flip of y leaves the pairs side by side in x matching.
        along = [int(np.argmax(np.abs(pair.stage_offset))) for pair in pairs]
        per_axis = []
        for axis in sorted(set(along)):
            chosen = [pair for pair, a in zip(pairs, along) if a == axis]
            share = max(1, max_pairs // len(set(along)))
            chosen = chosen[:: max(1, len(chosen) // share)][:share]
            found = []
            for pair in chosen:
                box = regions(pair, shapes[pair.a], shapes[pair.b], padding_px(max_shift, spacing))
                a = read_region(candidate.tiles[pair.a], channel, box.box_a())
                b = read_region(candidate.tiles[pair.b], channel, box.box_b())
                match = measure(a, b, box.expected, max_shift, axis_scale, box.min_overlap)
                found.append(match.score if match.within_limit and not match.failure else 0.0)
            per_axis.append(float(np.median(found)))
            if orientation.is_identity:
                sampled += len(chosen)
        scores[str(orientation)] = min(per_axis) if per_axis else 0.0
    return OrientationCheck(scores=scores, pairs=sampled, same_as=same_as)
