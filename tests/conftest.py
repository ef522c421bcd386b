"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared_data import require_shared


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The real-data folder next to the repository; tests skip without it (saying what it is),
    or fail with NGFF_FUSE_REQUIRE_SHARED=1 (`shared_data`)."""
    return require_shared()
