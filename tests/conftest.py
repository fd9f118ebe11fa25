"""Shared fixtures. Real data lives outside the repo (../shared/data, or $GCA_LITE_DATA); tests that
need it are marked ``realdata`` and skip when it is absent, unless GCA_LITE_REQUIRE_REALDATA=1 (as in
CI), where a missing folder is a failure, not a silent skip. The experiments layer's tests share one
smoke sweep (``smoke_store``) and the helpers that drive the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from book_build import book_root, built_html, train_root  # noqa: F401  (the book tests' shared build)
from gca_lite.experiments import ResultsStore

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "experiments" / "smoke_grid.yaml"
PAPER = REPO / "experiments" / "paper_grid.yaml"
METRIC_COLS = ["NDCG@1", "NDCG@5", "NDCG@10", "HR@10", "MRR", "AUC"]


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


# ------------------------------------------------------------------ the experiments layer's smoke sweep
def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    """The real console entry point in a child process (as a user would run it)."""
    return subprocess.run([sys.executable, "-m", "gca_lite.cli", *args], capture_output=True, text=True,
                          cwd=REPO, **kw)


def _summary(text: str) -> dict[str, int]:
    m = re.search(r"(\d+) configs: (\d+) already stored, (\d+) trained, (\d+) finished elsewhere, "
                  r"(\d+) busy .*?, (\d+) failed", text)
    assert m, text
    return dict(zip(("total", "already", "trained", "loaded", "busy", "failed"), map(int, m.groups())))


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.glob("*/*/record.json")}


def _metrics(store: ResultsStore):
    frame = store.to_frame()
    return frame[["config_hash", "protocol", "domain", *METRIC_COLS]].sort_values(
        ["config_hash", "protocol", "domain"], ignore_index=True)


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory) -> ResultsStore:
    """The smoke sweep (experiments/smoke_grid.yaml, 10 tiny runs), trained once per test session
    through the command line; the experiments layer's training tests share it and compare every other
    store they build with it. Acceptance: it finishes in under 3 minutes on 2 cores."""
    root = tmp_path_factory.mktemp("smoke") / "store"
    t0 = time.perf_counter()
    out = _cli("sweep", str(SMOKE), "--store", str(root), "--workers", "2", "--threads", "1", timeout=300)
    seconds = time.perf_counter() - t0
    assert out.returncode == 0, out.stdout + out.stderr
    s = _summary(out.stdout)
    assert s == {"total": 10, "already": 0, "trained": 10, "loaded": 0, "busy": 0, "failed": 0}
    assert seconds < 180, f"smoke sweep took {seconds:.0f} s"
    print(f"smoke sweep: {seconds:.1f} s")
    return ResultsStore(root)


