"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The real-data folder next to the repository; tests skip without it, unless required."""
    path = Path(__file__).resolve().parents[1].parent / "shared"
    if not path.is_dir():
        if os.environ.get("NGFF_FUSE_REQUIRE_SHARED") == "1":
            pytest.fail(f"{path} not present but NGFF_FUSE_REQUIRE_SHARED=1")
        pytest.skip("../shared not present")
    return path
