"""The v2 runner (experiments/v2_run.py): it runs the registered items in order, with the seeds the
cut rule keeps, makes the reading choice only on a complete screen, and the grid files it writes
expand to exactly the runs the budget counted. Training is replaced by a recorder here."""

from __future__ import annotations

import shutil

import pytest

from gca_lite.experiments import prereg
from gca_lite.experiments import v2_budget as B
from gca_lite.experiments import v2_progress as P
from gca_lite.experiments import v2_run as R
from gca_lite.experiments.grid import load_grid
from gca_lite.experiments.sweep import SweepSummary
from test_preregistration import REPO, _data_dir

COSTS = B.load_costs(REPO / "benchmarks/results/throughput.json", REPO / "benchmarks/results/epoch_time.json")
needs_data = pytest.mark.skipif(_data_dir() is None, reason="expanding the registered grids needs the afk and abe data")


def test_slug_names_an_item_file():
    assert R.slug("variant table, today's reading") == "variant-table-todays-reading"
    assert len({R.slug(item.name) for item in B.ITEMS}) == len(B.ITEMS)


@pytest.fixture
def repo_copy(tmp_path):
    shutil.copytree(REPO / "experiments" / "v2", tmp_path / "experiments" / "v2",
                    ignore=shutil.ignore_patterns("as_run"))
    return tmp_path


def _recorder(calls):
    def fake_sweep(configs, store, **kw):
        calls.append((kw["desc"], list(configs)))
        return SweepSummary(total=len(configs))
    return fake_sweep


@needs_data
def test_the_runner_stops_at_the_choice_while_the_screen_is_incomplete(repo_copy):
    calls, said = [], []
    code = R.run(repo_copy / "store", COSTS, _data_dir(), repo_copy, say=said.append, train=_recorder(calls))
    assert code == 2 and [c[0] for c in calls] == [B.ITEMS[0].name, B.ITEMS[1].name]
    assert "stopping here: readings screen incomplete" in said[-1]
    assert prereg.read_choice(repo_copy / "store") is None  # nothing chosen, the seal holds


@needs_data
def test_after_the_choice_every_item_runs_in_order_with_the_runs_the_budget_counted(repo_copy):
    store = repo_copy / "store"
    store.mkdir()
    seeds = P.registered_seeds(COSTS, _data_dir(), REPO, ("cross_ffn4", "out"))  # as choose(record=True) does
    prereg.record_choice(store, ("cross_ffn4", "out"), {}, 50, seeds)
    calls, said = [], []
    assert R.run(store, COSTS, _data_dir(), repo_copy, say=said.append, train=_recorder(calls)) == 0
    kept = [item.name for item in B.ITEMS if seeds.get(item.name) != 0]
    assert [c[0] for c in calls] == kept  # the registered order, the dropped items skipped
    from gca_lite.config import config_hash

    for (name, configs), step in zip(calls, [s for s in R.steps(store, COSTS, _data_dir(), repo_copy) if s.grid]):
        item = next(i for i in B.ITEMS if i.name == name)
        reading = ("cross_ffn4", "out") if item.reading == B.CHOSEN else item.reading
        counted = B._expand(item.grid, reading, seeds.get(name), _data_dir(), str(REPO))
        assert sorted(map(config_hash, configs)) == sorted(map(config_hash, counted)), name
        if step.spec is not None:  # the file written is the file that was run, and it says so
            written = repo_copy / step.grid
            assert written.read_text().startswith("# v2 item") and len(load_grid(written, _data_dir())) == len(configs)
    chosen = [c for n, c in calls if n == "primary endpoint, chosen reading"][0]
    assert {c.model.gca_block for c in chosen if c.model.gca_points} == {"cross_ffn4"}


def test_the_choice_is_made_once_on_a_complete_screen_and_recorded(monkeypatch, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    gains = {r: 0.0 for r in prereg.accepted_readings()}
    monkeypatch.setattr(R, "steps", lambda *a, **k: [R.Step(B.ITEMS[2], None, note="waits")]
                        if prereg.read_choice(store) is None else [R.Step(B.ITEMS[2], None, note="dropped")])
    picks = []

    def fake_choose(store, record=False, **kw):
        picks.append(record)
        if record:
            prereg.record_choice(store, prereg.TODAY, gains, 50)
        return prereg.TODAY, gains, 50

    monkeypatch.setattr(R, "choose", fake_choose)
    monkeypatch.setattr(P, "snapshot", lambda *a, **k: {"written": True})
    said = []
    assert R.run(store, COSTS, None, tmp_path, dry_run=True, say=said.append) == 1  # the chosen items: to run
    assert picks == [False] and prereg.read_choice(store) is None and "not recorded" in said[0]
    assert R.run(store, COSTS, None, tmp_path, say=said.append) == 0
    assert picks == [False, True] and prereg.read_choice(store)["chosen"] == "attn,pre"
    assert (store / P.SNAPSHOT).read_text().startswith('{\n "written": true')  # the book sees the choice at once


@needs_data
def test_every_committed_as_run_grid_is_the_file_the_runner_writes():
    """A grid file behind stored runs is never edited by hand: each one in experiments/v2/as_run is
    exactly what the runner writes for its item under the store's recorded choice."""
    files = sorted((REPO / R.AS_RUN).glob("*.yaml"))
    if not files:
        pytest.skip("the runner has written no grid file yet")
    expected = {s.grid: R.grid_text(s) for s in R.steps(REPO / "results_v2", COSTS, _data_dir(), REPO) if s.spec}
    for path in files:
        rel = str(path.relative_to(REPO))
        assert rel in expected, f"{rel}: no item of the plan runs this file"
        assert path.read_text() == expected[rel], f"{rel}: differs from what the runner writes"


@needs_data
def test_the_cut_rule_applied_at_the_choice_uses_the_chosen_readings_costs():
    """Registered: before the choice the chosen reading is priced as the costliest one; at the choice the
    rule is applied once more with the reading chosen. Today's reading shares its runs with today's items,
    so nothing needs cutting then; the costliest reading gives the registered cut."""
    registered = P.registered_seeds(COSTS, _data_dir(), REPO)
    assert P.registered_seeds(COSTS, _data_dir(), REPO, B.costliest_reading(COSTS)) == registered
    assert registered["variant table, chosen reading"] == 3
    assert P.registered_seeds(COSTS, _data_dir(), REPO, prereg.TODAY) == {}
