"""Where the tests find real acquisitions: `../shared`, a folder beside the repository that is
not part of it (see its README.md: what each file is and where it comes from)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
#: Set to 1 (as `.ci/run` does) to make a missing `../shared` fail the tests that need it.
REQUIRE_ENV = "NGFF_FUSE_REQUIRE_SHARED"


def require_shared(path: Path = SHARED) -> Path:
    """`path` if it is there; else skip the calling test, saying what is missing and how to get
    it, or fail it when NGFF_FUSE_REQUIRE_SHARED=1 (a run that must test the real files)."""
    if path.is_dir():
        return path
    why = (f"needs {path} (../shared beside the repository): the real acquisitions these tests read "
           "(Zeiss CZI, Leica LIF, ImageXpress and CellVoyager exports, Fiji tiles, the NGFF spec's "
           "test suites), kept outside the repository; put that folder there, or a symbolic link to it")
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{why} ({REQUIRE_ENV}=1: its absence is a failure)")
    pytest.skip(why)
