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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 server (SeaweedFS) on loopback for the whole session, stopped after. The test
    extra installs it, so a server that cannot start fails the tests that need it."""
    from ngff_fuse.testing.object_store import seaweedfs

    try:
        with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(f"the S3 test server: {exc}")


@pytest.fixture
def bucket(s3_server, request) -> str:
    """A new, empty bucket for one test: `s3://NAME`."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    s3_server.filesystem().mkdir(name)
    return f"s3://{name}"
