"""The flat-field and dark-field of one acquisition: one (y, x) profile of each per channel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Profiles:
    """`flat` (c, y, x): the relative sensitivity of each tile pixel, mean 1 per channel (so the
    correction keeps the mosaic's mean brightness); `dark` (c, y, x): the offset the camera adds
    whatever the light, in the tiles' own units. `method` says where each came from."""

    flat: np.ndarray
    dark: np.ndarray
    method: dict

    def __post_init__(self) -> None:
        flat = np.asarray(self.flat, dtype=np.float32)
        dark = np.broadcast_to(np.asarray(self.dark, dtype=np.float32), flat.shape)
        object.__setattr__(self, "flat", flat)
        object.__setattr__(self, "dark", np.ascontiguousarray(dark))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(n) for n in self.flat.shape[1:])

    @property
    def n_channels(self) -> int:
        return int(self.flat.shape[0])

    def summary(self) -> list[dict]:
        """Per channel: how far the profile falls from its brightest to its dimmest point (%),
        the corners' level relative to the brightest point, and the mean dark level."""
        out = []
        for flat, dark in zip(self.flat, self.dark):
            peak = float(flat.max())
            corners = float(np.mean([flat[0, 0], flat[0, -1], flat[-1, 0], flat[-1, -1]]))
            out.append({"falloff_percent": round(100 * (1 - float(flat.min()) / peak), 2),
                        "corners_percent": round(100 * corners / peak, 2),
                        "dark_level": round(float(dark.mean()), 3)})
        return out

