"""A test that needs ../shared says what it is when it is missing, or fails when it must run."""

from __future__ import annotations

import pytest

from shared_data import REQUIRE_ENV, require_shared


def test_a_missing_shared_folder_is_named_and_explained(tmp_path, monkeypatch):
    absent = tmp_path / "shared"
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_shared(absent)
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_shared(absent)
    for reason in (str(skipped.value), str(failed.value)):
        assert f"needs {absent} (../shared beside the repository)" in reason
        assert "real acquisitions" in reason and "put that folder there" in reason
    assert REQUIRE_ENV in str(failed.value)


def test_a_present_shared_folder_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv(REQUIRE_ENV, "1")
    assert require_shared(tmp_path) == tmp_path
