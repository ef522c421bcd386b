"""What `--flatfield`, `--darkfield` and `--equalize` ask for: apart from the estimation, so a
convert that asks for none imports none of it (scipy's solvers and filters)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ngff_fuse.errors import InputError
from ngff_fuse.fingerprint import file_records

#: Fewest tiles `auto` estimates from: the median over tiles must see the scene vary. On the
#: real 2-tile CZI and ImageXpress sets the estimate followed the scene (a "fall-off" of 75-83 %)
#: and made their seams worse (contrast 1.2 -> 1.5, 2.4 -> 2.7).
MIN_TILES = 10


@dataclass(frozen=True)
class IlluminationOptions:
    """What `--flatfield`, `--darkfield` and `--equalize` ask for. `flatfield`: "auto" or a
    profile file; `darkfield`: "auto", "none" or a file (None: "auto" with an estimated
    flat-field, "none" otherwise)."""

    flatfield: str | Path | None = None
    darkfield: str | Path | None = None
    equalize: bool = False
    max_tiles: int = 200

    def __post_init__(self) -> None:
        if self.flatfield is None and str(self.darkfield) == "auto":
            raise InputError("--darkfield auto: the offset is found through the flat-field it darkens unevenly; "
                             "add --flatfield auto (or FILE), or give --darkfield FILE")
        if self.max_tiles < MIN_TILES:
            raise InputError(f"max_tiles {self.max_tiles}: sample at least {MIN_TILES} tiles")

    @property
    def dark(self) -> str | Path:
        if self.darkfield is not None:
            return self.darkfield
        return "auto" if self.flatfield == "auto" else "none"

    @property
    def profiles_wanted(self) -> bool:
        return self.flatfield is not None or self.dark != "none"

    def to_metadata(self, records: bool = False) -> dict:
        """The options as recorded; with `records`, each profile file as `fingerprint` records
        it (a resume must read the same profiles)."""
        out = {"flatfield": None if self.flatfield is None else str(self.flatfield),
               "darkfield": str(self.dark), "equalize": self.equalize, "max_tiles": self.max_tiles}
        if records:
            files = [str(Path(v).resolve()) for v in (self.flatfield, self.dark)
                     if v is not None and str(v) not in ("auto", "none") and Path(v).is_file()]
            out["files"] = file_records(set(files))
        return out
