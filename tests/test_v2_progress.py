"""Where the v2 runs stand (experiments/v2_progress.py): the committed snapshot the book reads is
the state of the committed store, and the counts follow the stored records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gca_lite.experiments import v2_budget as B
from gca_lite.experiments import v2_progress as P
from gca_lite.experiments.store import ResultsStore
from test_preregistration import REPO, STORE, _data_dir

COSTS = B.load_costs(REPO / "benchmarks/results/throughput.json", REPO / "benchmarks/results/epoch_time.json")
needs_data = pytest.mark.skipif(_data_dir() is None, reason="counting the registered runs needs the afk and abe data")


@needs_data
def test_the_committed_snapshot_is_the_state_of_the_store():
    fresh = P.snapshot(STORE, COSTS, _data_dir(), REPO)
    committed = P.read_snapshot(STORE)
    assert committed is not None, f"{STORE / P.SNAPSHOT} missing: python -m gca_lite.experiments.v2_progress --write"
    assert json.loads(json.dumps(fresh)) == committed, (
        f"{STORE / P.SNAPSHOT} is stale: python -m gca_lite.experiments.v2_progress --data-dir DATA --write")


@needs_data
def test_progress_counts_a_stored_run_under_the_first_item_that_needs_it(tmp_path):
    # a base run: the first item (the primary endpoint) needs every stored base seed; any other run
    # could belong to a later item (the screen's readings), which the first item does not count
    records = [p for p in sorted(STORE.glob("afk/*/record.json"))
               if json.loads(p.read_text())["variant"] == "base"]
    if not records:
        pytest.skip("no v2 base run stored yet")
    one = records[0].parent
    shutil.copytree(one, tmp_path / "afk" / one.name)
    rows = P.progress(tmp_path, COSTS, _data_dir(), REPO)
    assert [r["item"] for r in rows] == [it.name for it in B.ITEMS]
    assert rows[0]["stored"] == 1 and all(r["stored"] in (0, None) for r in rows[1:])
    assert rows[0]["hours left"] < P.progress(tmp_path / "empty", COSTS, _data_dir(), REPO)[0]["hours left"]
    chosen = [r for r in rows if r["reading"] == "chosen (not yet)"]
    assert chosen and all(r["stored"] is None and r["runs"] > 0 for r in chosen)  # no choice recorded here
    dropped = [r for r in rows if r["note"] == "dropped by the cut rule"]
    assert all(r["runs"] == 0 for r in dropped)


def test_spent_adds_the_stored_runs_wall_time_per_thread():
    walls = [record["wall_seconds"] for _, record, _, _ in ResultsStore(STORE).iter_runs(warn=False)]
    cost = P.spent(STORE)
    assert cost["runs"] == len(walls) and cost["gpu_hours"] == 0  # every v2 run so far is a CPU run
    if walls:  # one thread each
        assert cost["cpu_hours"] == pytest.approx(sum(walls) / 3600)
        assert min(walls) / 60 <= cost["median_minutes"] <= max(walls) / 60
    assert P._THREADS.search("Xeon; 2 cores; torch 2.13.0+cpu (2 threads, AVX512); Python 3.11")[1] == "2"


@needs_data
def test_an_empty_store_has_exactly_the_pages_registered_plan_to_go(tmp_path):
    """The progress table counts what book/preregistration.md's budget block registered after the cut rule."""
    from test_preregistration import PAGE, _block

    page_rows = [line.split("|")[1:-1] for line in _block(PAGE.read_text(), "budget").splitlines()[2:11]]
    rows = P.progress(tmp_path, COSTS, _data_dir(), REPO)
    assert [r["item"] for r in rows] == [cells[1].strip() for cells in page_rows]
    assert [r["runs"] for r in rows] == [int(cells[6]) for cells in page_rows]
    assert [f"{r['hours left']:.1f}" for r in rows] == [cells[7].strip() for cells in page_rows]
