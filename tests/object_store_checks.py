"""Checks shared by the tests of every object store (S3, GCS, Azure)."""

from __future__ import annotations

import pytest

from ngff_fuse.errors import NgffFuseError
from ngff_fuse.output_lock import LOCK_SUFFIX, ObjectLock
from ngff_fuse.progress import NoProgress
from ngff_fuse.storage import Remote


def check_one_writer(target: Remote) -> None:
    """Two runs racing for `target`: the store's conditional create grants the lock object to
    exactly one (the first), the other run is refused while it is held, and releasing it
    removes the object."""
    first, second = ObjectLock(target), ObjectLock(target)
    assert [first.path.create(b"x"), second.path.create(b"y")] == [True, False]
    assert first.path.read_bytes() == b"x"
    first.path.unlink()
    first.acquire(NoProgress())
    with pytest.raises(NgffFuseError, match="another ngff-fuse run is writing it"):
        second.acquire(NoProgress())
    first.release()
    assert not target.with_name(target.name + LOCK_SUFFIX).exists()
