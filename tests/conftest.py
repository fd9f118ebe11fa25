"""Shared fixtures. Real data lives outside the repo (../shared/data, or $GCA_LITE_DATA); tests that
need it are marked ``realdata`` and skip when it is absent, unless GCA_LITE_REQUIRE_REALDATA=1 (as in
CI), where a missing folder is a failure, not a silent skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    for candidate in (os.environ.get("GCA_LITE_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "afk").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = _shared_data()
    if path is None:
        if os.environ.get("GCA_LITE_REQUIRE_REALDATA") == "1":
            pytest.fail("GCA_LITE_REQUIRE_REALDATA=1 but no real data at ../shared/data or $GCA_LITE_DATA")
        pytest.skip("real afk/abe data not found (../shared/data or $GCA_LITE_DATA)")
    return path
