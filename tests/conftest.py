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


def random_splits(n_items_a: int, n_items_b: int, max_len: int, n_users: int = 12, seed: int = 0,
                  min_len: int = 5):
    """Leave-one-out splits of random mixed sequences (no repeats per user) for model tests."""
    import numpy as np

    from gca_lite.data.dataset import from_sequences
    from gca_lite.data.splits import make_splits

    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_users):
        n = int(rng.integers(min_len, 17))
        seqs.append((rng.choice(np.arange(1, n_items_a + n_items_b + 1), size=n, replace=False), np.arange(n)))
    return make_splits(from_sequences("syn", n_items_a, n_items_b, seqs), max_len)
