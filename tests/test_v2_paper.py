"""The v2 paper-preset item (book/preregistration.md, "Paper preset" and addition 5): its grid
file, the budget the page states, and the device script's choice of runs (the reading recorded in
the store's choice.json, one dataset per call)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from gca_lite.config import preset
from gca_lite.experiments import prereg
from gca_lite.experiments.grid import expand, read_grid_spec

REPO = Path(__file__).resolve().parents[1]
GRID = REPO / "experiments" / "device" / "v2_paper.yaml"
SCRIPT = REPO / "experiments" / "device" / "v2_paper_run.py"


@pytest.mark.parametrize("reading", prereg.accepted_readings(), ids=",".join)
def test_paper_grid_is_the_primary_endpoint_at_abxis_size_on_a_fixed_budget(reading):
    configs = expand(prereg.instantiate(read_grid_spec(GRID), reading), str(GRID), None)
    assert len(configs) == 20
    for ds in ("afk", "abe"):
        part = [c for c in configs if c.data.dataset == ds]
        assert {c.model.variant_name for c in part} == {"base", prereg.reading_variant(reading)}
        assert sorted(c.train.seed for c in part) == sorted(2 * list(prereg.SCREEN_SEEDS))
        paper = preset("paper", ds)
        for c in part:
            c.validate()
            assert c.model.d == paper.model.d and c.model.rank_d == paper.model.rank_d
            assert (c.train.lr, c.train.weight_decay, c.train.warmup_epochs, c.train.plateau_patience) == \
                (paper.train.lr, paper.train.weight_decay, paper.train.warmup_epochs, paper.train.plateau_patience)
            # the budget addition 5 states: 60 epochs, no early stop, no wall clock, per-position negatives
            assert (c.train.epochs, c.train.patience, c.train.max_minutes, c.train.neg_mode) == \
                (60, 0, 0.0, "per_position")


def test_page_states_the_paper_budget_and_names_the_files():
    text = (REPO / prereg.PAGE).read_text()
    assert "**60 epochs**" in text and "experiments/device/v2_paper.yaml" in text
    assert "experiments/device/v2_paper_window.sh" in text and "results_v2_paper/" in text


def _script(monkeypatch, store: Path):
    spec = importlib.util.spec_from_file_location("v2_paper_run_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "GRID", str(GRID))
    monkeypatch.setattr(module, "V2_STORE", str(store))
    return module


def test_device_script_runs_the_recorded_reading_only(monkeypatch, tmp_path, capsys):
    script = _script(monkeypatch, tmp_path)
    with pytest.raises(SystemExit, match="choice.json missing"):
        script.configs("afk")
    prereg.record_choice(tmp_path, ("self_cross_ffn", "out"), {}, runs=50)
    found = script.configs("abe")
    assert len(found) == 10 and {c.data.dataset for c in found} == {"abe"}
    assert {c.model.variant_name for c in found} == {"base", "GCA[1]-sigmoid,True{self_cross_ffn,out}"}
    with pytest.raises(SystemExit, match="dataset 'xyz'"):
        script.configs("xyz")
    assert script.main(["list", "abe", str(tmp_path / "paper")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and all(line.split()[1] == "missing" for line in lines)
    with pytest.raises(SystemExit, match="INDEX 10"):
        script.main(["run", "abe", "10", str(tmp_path / "paper")])


def test_the_results_page_row_counts_the_paper_runs_stored(tmp_path, monkeypatch):
    """v2_view.paper_item: the item's 20 runs under the chosen reading, as many stored as the store
    holds (none in a missing store), so the results page says what ran where."""
    from gca_lite.experiments import v2_view
    from gca_lite.experiments.store import ResultsStore

    row = v2_view.paper_item("cross_ffn4,out", grid=str(GRID), store=str(tmp_path / "missing"))
    assert (row["runs"], row["stored"], row["hours left"]) == (20, 0, None) and "lent GPU" in row["note"]
    frame = v2_view.status_frame({"items": [{"item": "primary endpoint, chosen reading", "reading": "attn,pre",
                                             "runs": 0, "stored": 0, "hours left": 0.0, "note": ""}]}, [row])
    assert list(frame["stored"]) == ["0 of 0", "0 of 20"] and list(frame["hours left"]) == ["0.0", "—"]
    assert frame["note"][0].startswith("no runs of its own")
    # a stored run counts when the store has its config (ResultsStore.has, keyed on the config)
    configs = expand(prereg.instantiate(read_grid_spec(GRID), ("cross_ffn4", "out")), str(GRID), ".")
    (tmp_path / "store").mkdir()
    monkeypatch.setattr(ResultsStore, "has", lambda self, cfg, warn=True: cfg.name == configs[3].name)
    assert v2_view.paper_item("cross_ffn4,out", grid=str(GRID), store=str(tmp_path / "store"))["stored"] == 1
