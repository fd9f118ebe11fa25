"""Time-budgeted paper-preset runs of separate GPU windows (decision D18): their tables, the stores
kept apart from results/, and the verdict notes that say what each window can decide."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gca_lite.experiments import ResultsStore, config_from_dict
from gca_lite.experiments.budget import budget_runs
from gca_lite.experiments.store import setting_hash
from gca_lite.results import rewrite_record

from conftest import REPO


# ------------------------------------------------------------------ time-budgeted runs (D18)
# paper-preset runs of later GPU windows, kept apart from results/: store -> (seeds, runs)
KEPT_APART = {REPO / "benchmarks" / "results" / "paper_shared_gpu": ({1, 2}, 12),
              REPO / "benchmarks" / "results" / "paper_one_window": (set(range(6)), 36)}


def _budgeted_copy(smoke_store, root: Path, variants: tuple[str, ...], minutes: float = 7.0) -> Path:
    """A copy of the smoke store whose runs of ``variants`` are re-keyed as time-budgeted runs."""
    shutil.copytree(smoke_store.root, root)
    for folder in ResultsStore(root).run_dirs():
        rec = json.loads((folder / "record.json").read_text())
        if rec["variant"] not in variants:
            continue
        rec["config"]["train"]["max_minutes"] = minutes
        rec["config_hash"] = ResultsStore.key(config_from_dict(rec["config"]))
        folder.rename(folder.parent / rec["config_hash"])
        rewrite_record(folder.parent / rec["config_hash"], rec)
    return root


def test_budget_runs_lists_only_time_budgeted_runs(smoke_store, tmp_path):
    records = [json.loads((f / "record.json").read_text()) for f in smoke_store.run_dirs()]
    gca = sorted({r["variant"] for r in records if r["variant"].startswith("GCA")})[0]
    root = _budgeted_copy(smoke_store, tmp_path / "budgeted", ("base", gca))
    frame = budget_runs({"plain": smoke_store, "budgeted": root})
    picked = [r for r in records if r["variant"] in ("base", gca)]
    assert len(picked) >= 4 and len(frame) == len(picked)
    assert set(frame["kept in"]) == {"budgeted"} and (frame["budget (min)"] == 7.0).all()
    # base first, then the GCA variant, seed by seed; every column comes from its own record
    assert list(frame["variant"]) == sorted(frame["variant"], key=lambda v: v != "base")
    for row in frame.itertuples(index=False):
        rec = json.loads((root / row.dataset / row.run / "record.json").read_text())
        assert (row.variant, row.seed) == (rec["variant"], rec["seed"])
        assert (row[frame.columns.get_loc("selected epoch")], row[frame.columns.get_loc("epochs run")]) == (
            rec["best_epoch"], rec["epochs_run"])
        assert row[frame.columns.get_loc("s / epoch")] == rec["epoch_seconds_mean"]
        assert row[frame.columns.get_loc("stopped by")] == rec["stop_reason"]
        assert row[frame.columns.get_loc("sampled B")] == rec["test"]["sampled"]["B/NDCG@10"]
    assert budget_runs({"plain": smoke_store}).empty
    with pytest.raises(ValueError, match="metric='NDCG@11'"):
        budget_runs({"budgeted": root}, metric="NDCG@11")
    # each seed's gap to the base of the same store and seed
    from gca_lite.experiments.budget import gaps_by_seed

    gaps = gaps_by_seed(frame, gca)
    assert len(gaps) == frame["seed"].nunique()
    for g in gaps.itertuples(index=False):
        one = frame[frame["seed"] == g.seed].set_index("variant")
        assert g[gaps.columns.get_loc("full A")] == pytest.approx(one.loc[gca, "full A"] - one.loc["base", "full A"])
        assert (g[gaps.columns.get_loc("base epochs")], g[gaps.columns.get_loc("variant epochs")]) == (
            one.loc["base", "epochs run"], one.loc[gca, "epochs run"])
    # two stores: rows keep the caller's order of stores, whatever their names sort to
    both = budget_runs({"zz first": root, "aa second": root})
    assert list(dict.fromkeys(both["kept in"])) == ["zz first", "aa second"]
    assert list(dict.fromkeys(gaps_by_seed(both, gca)["kept in"])) == ["zz first", "aa second"]
    assert gaps_by_seed(frame, "GCA[9]-sigmoid,True").empty


def test_budget_runs_names_a_missing_store(tmp_path):
    with pytest.raises(FileNotFoundError, match="'typo'.*nowhere"):
        budget_runs({"typo": tmp_path / "nowhere"})


@pytest.mark.parametrize("side", list(KEPT_APART), ids=lambda p: p.name)
def test_kept_apart_paper_runs_repeat_the_seed0_paper_setting(side):
    """Each run of a kept-apart store is the committed seed-0 paper run's setting, key for key, at
    that store's seeds, trained on a GPU to its 7-minute budget (what else differs, how many runs
    shared the machine and the code version, is in the store's README)."""
    main = {}
    for folder, record, _, _ in ResultsStore(REPO / "results").iter_runs(warn=False):
        cfg = config_from_dict(record["config"])
        if cfg.train.max_minutes:
            main[(cfg.data.dataset, cfg.model.variant_name, cfg.train.seed)] = setting_hash(cfg)
    kept = {}
    for folder, record, _, _ in ResultsStore(side).iter_runs(warn=False):
        cfg = config_from_dict(record["config"])
        assert record["device"].startswith("cuda") and record["stop_reason"] == "time_budget", folder
        kept[(cfg.data.dataset, cfg.model.variant_name, cfg.train.seed)] = setting_hash(cfg)
    seeds, n_runs = KEPT_APART[side]
    assert len(kept) == n_runs and {seed for *_, seed in kept} == seeds
    assert {(d, v) for d, v, _ in kept} == {(d, v) for d, v, _ in main}  # the same paper subset
    for (dataset, variant, seed), key in kept.items():
        assert (dataset, variant, 0) in main, f"no seed-0 paper run of {dataset} {variant} in results/"
        assert main[(dataset, variant, 0)] == key, (dataset, variant, seed)
    assert (side / "README.md").is_file()


def test_code_versions_of_the_lite_runs_are_as_the_results_page_says():
    """The results page states which lite runs are pooled across code versions; keep it true."""
    versions = {}
    for folder, record, _, _ in ResultsStore(REPO / "results").iter_runs(warn=False):
        if not record["config"]["train"]["max_minutes"]:
            versions.setdefault(record["code_version"].split("src.")[-1], []).append(
                (record["dataset"], record["variant"], record["seed"]))
    assert set(versions) == {"45987b37139d", "3493ef8ca19b"}
    assert sorted(versions["45987b37139d"]) == sorted(
        ("afk", v, s) for v in ("base", "GCA[1]-sigmoid,True") for s in (0, 1, 2))
    log = (REPO / "benchmarks/results/rerun_afk_gca1_seed2_migrated.log").read_text()
    assert "code 0.1.0+src.45987b37139d" in log and "now:    code 0.1.0+src.3493ef8ca19b" in log
    assert "IDENTICAL: every per-user rank" in log


def test_verdicts_on_time_budgeted_runs_of_separate_windows_say_so():
    """A judged verdict resting on time-budgeted runs of two code versions (two GPU windows) gets a
    note; one resting on a single version, an unjudged row and the |cos| range row do not."""
    import pandas as pd

    from gca_lite.experiments.budget import note_budget_windows
    from gca_lite.experiments.verdicts import RANGE_CLAIM

    runs = pd.DataFrame({"run": ["r1", "r2", "r3"], "code version": ["0.1.0", "e7598241a229", "0.1.0"]})
    verdicts = pd.DataFrame({
        "claim": ["a claim", "a claim", "a claim", RANGE_CLAIM],
        "verdict": ["partly (provisional)", "reproduced", "too few runs", "in range"],
        "rests_on": [["r1", "r2"], ["r1", "r3", "lite-run"], ["r1", "r2"], ["r1", "r2"]],
        "note": ["cut short", "", "", ""]})
    notes = list(note_budget_windows(verdicts, runs)["note"])
    assert notes[0] == ("cut short; compares time-budgeted runs from separate GPU windows "
                        "(code 0.1.0 and e7598241a229), not at equal time per epoch (D18)")
    assert notes[1:] == ["", "", ""]
    assert list(note_budget_windows(verdicts.drop(columns="note"), runs.iloc[:0])["note"]) == [""] * 4


def test_verdict_notes_carry_what_a_replicate_store_says():
    """note_replication: a row gets the replicate store's verdict and the first clause of its
    evidence for the same dataset, setting, protocol and claim; rows it cannot judge, rows without
    a counterpart and unjudged main rows ("no runs") stay as they were."""
    import pandas as pd

    from gca_lite.experiments.budget import note_replication

    key = {"dataset": "afk", "setting": "paper", "protocol": "full"}
    main = pd.DataFrame([{**key, "claim": "c1", "verdict": "partly", "note": "cut short"},
                         {**key, "claim": "c2", "verdict": "too few runs", "note": ""},
                         {**key, "claim": "c3", "verdict": "reproduced", "note": ""},
                         {**key, "claim": "c4", "verdict": "no runs", "note": ""}])
    rep = pd.DataFrame([{**key, "claim": "c1", "verdict": "not resolved (provisional)",
                         "evidence": "0 of 8 resolvably better, 0 resolvably worse (variant x domain)"},
                        {**key, "claim": "c2", "verdict": "reproduced", "evidence": "r = -0.9 [-1.0, -0.5] over 4 runs (x)"},
                        {**key, "claim": "c3", "verdict": "too few runs", "evidence": ""},
                        {**key, "claim": "c4", "verdict": "reproduced", "evidence": "r"}])
    notes = list(note_replication(main, rep, "seeds 1-2")["note"])
    assert notes == ["cut short; seeds 1-2: not resolved (provisional), 0 of 8 resolvably better, 0 resolvably worse",
                     "seeds 1-2: reproduced, r = -0.9 [-1.0, -0.5] over 4 runs", "", ""]
    assert list(note_replication(main, None, "x")["note"]) == list(main["note"])


def test_cross_window_names_variants_trained_apart_from_their_base():
    import pandas as pd

    from gca_lite.experiments.budget import cross_window

    runs = pd.DataFrame({"dataset": ["afk"] * 4 + ["abe"] * 2, "setting": ["paper"] * 6,
                         "variant": ["base", "GCA[1]", "GCA[0,1,2]", "GCA[0,1,2]", "base", "GCA[1]"],
                         "code version": ["0.1.0", "0.1.0", "e759", "3493", "e759", "e759"]})
    assert cross_window(runs, "afk", "paper") == {"GCA[0,1,2]": ("3493, e759", "0.1.0")}
    assert cross_window(runs, "abe", "paper") == {} and cross_window(runs, "afk", "lite") == {}
    assert cross_window(runs.iloc[:0], "afk", "paper") == {}


def test_validation_curves_trajectories_and_gaps_along_training(smoke_store, tmp_path):
    """Per-epoch validation rows come from each record's history; a run held by two stores is
    compared epoch by epoch (one changed score shows up, and only it); the gap along training is
    the variant's validation score minus the base's, taken from the first store in the caller's
    order; late_gap averages the last epochs."""
    from gca_lite.experiments.budget import gaps_along_training, late_gap, same_trajectory, validation_curves

    records = [json.loads((f / "record.json").read_text()) for f in smoke_store.run_dirs()]
    gca = sorted({r["variant"] for r in records if r["variant"].startswith("GCA")})[0]
    root = _budgeted_copy(smoke_store, tmp_path / "budgeted", ("base", gca))
    # a copy in which one epoch of one GCA run scored differently
    other = tmp_path / "other"
    shutil.copytree(root, other)
    changed = next(f for f in ResultsStore(other).run_dirs()
                   if json.loads((f / "record.json").read_text())["variant"] == gca)
    rec = json.loads((changed / "record.json").read_text())
    last = [h for h in rec["history"] if h.get("valid", {}).get("sampled")][-1]
    last["valid"]["sampled"]["A/NDCG@10"] += 0.25
    rewrite_record(changed, rec)

    curves = validation_curves({"zz first": root, "aa second": other})
    picked = [r for r in records if r["variant"] in ("base", gca)]
    validated = sum(1 for r in picked for h in r["history"] if h.get("valid", {}).get("sampled"))
    assert validated > 0 and len(curves) == 2 * validated
    assert list(dict.fromkeys(curves["kept in"])) == ["zz first", "aa second"]  # the caller's order
    twins = same_trajectory(curves).set_index(["variant", "seed"])
    assert len(twins) == len(picked) and (twins["stores"] == "zz first · aa second").all()
    hit = twins.loc[(gca, rec["seed"])]
    assert hit["epochs with another score"] == 1 and hit["max |Δ| score"] == pytest.approx(0.25)
    assert twins.drop(index=(gca, rec["seed"]))["epochs with another score"].eq(0).all()
    assert (twins["max |Δ| loss"] == 0).all()
    # the gap comes from "zz first", the store without the change
    gaps = gaps_along_training(curves, gca)
    first = curves[curves["kept in"] == "zz first"]
    for g in gaps.itertuples(index=False):
        at = first[(first["seed"] == g.seed) & (first["epoch"] == g.epoch) & (first["dataset"] == g.dataset)]
        at = at.set_index("variant")
        assert g.A == pytest.approx(at.loc[gca, "A"] - at.loc["base", "A"])
    # late_gap over the last epoch only is that epoch's gap
    tail = late_gap(gaps, epochs=1)
    for t in tail.itertuples(index=False):
        mine = gaps[(gaps["dataset"] == t.dataset) & (gaps["seed"] == t.seed)].sort_values("epoch")
        assert t[tail.columns.get_loc("last epoch")] == mine["epoch"].max()
        assert t.B == pytest.approx(mine["B"].iloc[-1])
    with pytest.raises(ValueError, match="epochs=0"):
        late_gap(gaps, epochs=0)
    with pytest.raises(ValueError, match="metric='NDCG@11'"):
        validation_curves({"one": root}, metric="NDCG@11")
    assert validation_curves({"plain": smoke_store}).empty  # no time-budgeted run: nothing, no error


def test_budget_tables_refuse_two_configs_under_one_key(smoke_store, tmp_path):
    """Two budgeted configurations that share dataset, setting label, variant and seed in one
    store would be paired as one run: refused, naming the store and both folders."""
    root = _budgeted_copy(smoke_store, tmp_path / "budgeted", ("base",))
    folder = next(f for f in ResultsStore(root).run_dirs()
                  if json.loads((f / "record.json").read_text())["variant"] == "base")
    rec = json.loads((folder / "record.json").read_text())
    rec["config"]["train"]["lr"] *= 2  # another configuration, the same setting label
    rec["config_hash"] = ResultsStore.key(config_from_dict(rec["config"]))
    twin = folder.parent / rec["config_hash"]
    shutil.copytree(folder, twin)
    rewrite_record(twin, rec)
    with pytest.raises(ValueError, match="'dup'.*two time-budgeted configurations") as err:
        budget_runs({"dup": root})
    assert folder.name in str(err.value) and twin.name in str(err.value)
