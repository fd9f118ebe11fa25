"""The v2 pre-registration (book/preregistration.md, issue 24): the page, its grid files, the
reading-choice rule, the budget and the rule that every v2 run is stored after the page's commit."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from gca_lite.config import RunConfig, preset, to_dict
from gca_lite.experiments import prereg, v2_budget
from gca_lite.experiments.grid import expand, read_grid_spec

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / prereg.PAGE
V2 = REPO / "experiments" / "v2"
GRIDS = sorted(V2.glob("*.yaml"))
STORE = REPO / "results_v2"


def _block(text: str, name: str) -> str:
    found = re.search(rf"<!-- {name}:begin -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert found, f"{PAGE}: no {name} block"
    return found.group(1)


def _data_dir() -> str | None:
    for candidate in (os.environ.get("GCA_LITE_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "afk").is_dir():
            return str(candidate)
    return None


# ------------------------------------------------------------------------------ the page
def test_page_links_the_verdict_rules_and_the_decisions_page_has_them():
    text = PAGE.read_text()
    decisions = (REPO / "book" / "decisions.md").read_text()
    for anchor in ("d14", "d16"):
        assert f'href="decisions.html#{anchor}"' in text
        assert f'<span id="{anchor}"></span>' in decisions
    assert "v1: attention-only module, LayerNorm before the attention" in text


def test_page_lists_exactly_the_readings_config_validation_accepts():
    listed = re.findall(r"^- `([^`]+)`$", _block(PAGE.read_text(), "readings"), re.M)
    assert listed == prereg.screen_variants()
    # the enumeration asks the validation: today's reading stays, inert placements are refused
    assert prereg.accepted_readings() == [("attn", "pre"), ("attn", "out"), ("self_cross_ffn", "out"),
                                          ("cross_ffn4", "out")]


def _expand(path: Path, reading=None):
    """A grid file expanded (under ``reading`` if given; matched bases need the data)."""
    return expand(prereg.instantiate(read_grid_spec(path), reading), str(path), _data_dir())


def test_screen_grid_runs_exactly_the_accepted_readings_with_five_seeds():
    configs = _expand(V2 / "screen.yaml")
    for ds in prereg.SCREEN_DATASETS:
        names = {c.model.variant_name for c in configs if c.data.dataset == ds}
        assert names == set(prereg.screen_variants())
        seeds = {c.train.seed for c in configs if c.data.dataset == ds}
        assert seeds == set(prereg.SCREEN_SEEDS)


def test_primary_grid_has_ten_seeds_and_the_headline_variant():
    configs = _expand(V2 / "primary.yaml")
    for ds in ("afk", "abe"):
        part = [c for c in configs if c.data.dataset == ds]
        assert {c.model.variant_name for c in part} == {"base", "GCA[1]-sigmoid,True"}
        assert {c.train.seed for c in part} == set(range(10))


def test_grid_files_have_the_registered_seeds():
    registered = {"primary": 10, "screen": 5, "table": 5, "scaling": 5, "shuffle": 10}
    assert sorted(p.stem for p in GRIDS) == sorted(registered)
    for path in GRIDS:
        for block in read_grid_spec(path)["grid"]:
            assert block["train.seed"] == list(range(registered[path.stem])), path.name


@pytest.mark.parametrize("path", GRIDS, ids=[p.name for p in GRIDS])
def test_every_grid_file_loads_and_validates_under_every_reading(path):
    spec = read_grid_spec(path)
    assert spec["base"]["preset"] == v2_budget.PRESET
    if spec.get("matched_bases") and _data_dir() is None:
        pytest.skip("matched bases need the real data (../shared/data or $GCA_LITE_DATA)")
    readings = [None] if path.name == "screen.yaml" else [None, *prereg.accepted_readings()]
    for reading in readings:
        configs = expand(prereg.instantiate(spec, reading), str(path), _data_dir())
        assert configs and all(isinstance(c.validate(), RunConfig) for c in configs)
        assert all(c.train.patience == 0 for c in configs)  # a fixed budget: no early stopping


# ------------------------------------------------------------------------------ the preset block
def _preset_rows(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\| `(\w+\.\w+)` \| ([^|]+?) \|", _block(text, "preset"), re.M))


def _mismatches(rows: dict[str, str], cfg: RunConfig) -> list[str]:
    """Rows of the page's preset block whose value is not the preset's (TODO is a mismatch)."""
    bad = []
    for key, stated in rows.items():
        section, field = key.split(".")
        actual = getattr(getattr(cfg, section), field)
        same = (float(stated) == float(actual) if isinstance(actual, (int, float)) and
                re.fullmatch(r"[-+0-9.e]+", stated) else stated == str(actual))
        if not same:
            bad.append(f"{key}: page {stated!r}, preset {actual!r}")
    return bad


def test_preset_block_check_catches_a_wrong_value():
    v2 = preset("lite_v2", "afk")
    right = {"train.epochs": "60", "train.lr": "1e-3", "train.lr_schedule": "wsd", "eval.every": "2"}
    assert _mismatches(right, v2) == []
    assert _mismatches({**right, "train.epochs": "90"}, v2) == ["train.epochs: page '90', preset 60"]
    assert _mismatches({"train.warmup_epochs": "TODO"}, v2)


def test_preset_block_names_real_fields():
    rows = _preset_rows(PAGE.read_text())
    assert {"train.epochs", "train.warmup_epochs", "train.lr", "train.lr_schedule", "train.patience",
            "eval.every", "eval.select_protocol"} <= set(rows)
    cfg = RunConfig()
    for key in rows:
        section, field = key.split(".")
        assert hasattr(getattr(cfg, section), field), key


@pytest.mark.parametrize("dataset", ["afk", "abe"])
def test_preset_block_states_lite_v2(dataset):
    assert _mismatches(_preset_rows(PAGE.read_text()), preset(v2_budget.PRESET, dataset)) == []


# ------------------------------------------------------------------------------ the choice rule
class _NoTest(dict):
    """A record whose ``test`` must not be read by the reading-choice rule."""

    def __getitem__(self, key):
        if key == "test":
            raise AssertionError("the reading-choice rule read a test score")
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key == "test":
            raise AssertionError("the reading-choice rule read a test score")
        return super().get(key, default)


def _record(dataset, seed, score, reading=None, layernorm=True, shuffled=False):
    model = {} if reading is None else dict(gca_points=(1,), gca_block=reading[0], gca_ln=reading[1],
                                            gca_layernorm=layernorm)
    cfg = preset("lite", dataset)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, **model),
                              train=dataclasses.replace(cfg.train, seed=seed),
                              data=dataclasses.replace(cfg.data, tie_shuffle_seed=1 if shuffled else None))
    # test scores that would choose differently: the rule must not see them
    return _NoTest(config=to_dict(cfg), valid={"full": {"A/MRR": score / 2, "B/MRR": score / 2},
                                               "sampled": {"A/MRR": 1.0, "B/MRR": 1.0}},
                   test={"full": {"A/NDCG@10": -score}})


def _screen(gains: dict, datasets=("afk", "abe"), seeds=prereg.SCREEN_SEEDS, skip=()):
    """Synthetic screen records: the base scores 0.1 (+ a seed effect); a reading scores base + its
    gain for the dataset (``gains``: {reading: {dataset: gain}})."""
    records = []
    for ds in datasets:
        for s in seeds:
            base = 0.1 + 0.01 * s
            records.append(_record(ds, s, base))
            records.append(_record(ds, s, base + 0.5, shuffled=True))  # a shuffled run must not count
            for reading, by_ds in gains.items():
                if (ds, s, reading) not in skip:
                    records.append(_record(ds, s, base + by_ds[ds], reading))
    return records


def test_choice_takes_the_largest_pooled_validation_gain_and_never_reads_test():
    gains = {("attn", "pre"): {"afk": 0.001, "abe": 0.001}, ("attn", "out"): {"afk": 0.004, "abe": -0.003},
             ("self_cross_ffn", "out"): {"afk": 0.002, "abe": 0.002}, ("cross_ffn4", "out"): {"afk": -0.01, "abe": 0.0}}
    rows = prereg.screen_rows(_screen(gains))
    pooled = prereg.reading_gains(rows)
    assert pooled[("attn", "out")] == pytest.approx(0.0005)  # datasets weighed equally
    assert prereg.choose_reading(rows) == ("self_cross_ffn", "out")


def test_choice_tie_goes_to_todays_reading_and_a_missing_run_stops_it():
    gains = {r: {"afk": 0.002, "abe": 0.002} for r in prereg.accepted_readings()}
    gains[("cross_ffn4", "out")] = {"afk": 0.001, "abe": 0.001}
    assert prereg.choose_reading(prereg.screen_rows(_screen(gains))) == prereg.TODAY
    incomplete = _screen(gains, skip={("abe", 4, ("attn", "out"))})
    with pytest.raises(ValueError, match=r"incomplete: no run of abe/GCA\[1\]-sigmoid,True\{out\}/seed4"):
        prereg.choose_reading(prereg.screen_rows(incomplete))


def test_instantiate_changes_only_the_reading_and_the_seeds():
    spec = read_grid_spec(V2 / "table.yaml")
    out = prereg.instantiate(spec, ("cross_ffn4", "out"), seeds=3)
    on, off = out["grid"][1], out["grid"][2]
    assert on["model.gca_block"] == ["cross_ffn4"] and on["model.gca_ln"] == ["out"]
    assert off["model.gca_block"] == ["cross_ffn4"] and "model.gca_ln" not in off
    assert all(block["train.seed"] == [0, 1, 2] for block in out["grid"])
    assert spec["grid"][1]["model.gca_block"] == ["attn"]  # the file's spec is left as it was
    with pytest.raises(ValueError, match="not accepted"):
        prereg.instantiate(spec, ("cross_ffn4", "pre"))


# ------------------------------------------------------------------------------ the budget
def _tiny_grid(tmp_path, name, points, seeds, extra=""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"base: {{preset: lite, dataset: synthetic-tiny}}\n"
                    f"grid:\n  - {{train.seed: {seeds}, model.gca_points: [[]]}}\n"
                    f"  - {{train.seed: {seeds}, model.gca_points: [{points}], model.gca_block: [attn]{extra}}}\n")
    return str(path.relative_to(tmp_path))


def test_budget_counts_shared_runs_once_and_prices_modules(tmp_path):
    costs = v2_budget.Costs({"synthetic-tiny": 3600.0}, {"attn": 0.5, "self_cross_ffn": 1.0, "cross_ffn4": 1.0}, "test")
    items = [v2_budget.Item("first", _tiny_grid(tmp_path, "a", "[1]", "[0, 1]")),
             v2_budget.Item("second", _tiny_grid(tmp_path, "b", "[0, 0]", "[0, 1, 2]"), floor=1)]
    rows = v2_budget.plan(items, costs, root=tmp_path)
    assert [r["runs"] for r in rows] == [4, 4]  # the second's bases at seeds 0 and 1 are the first's
    # one base hour and 1.5 h per one-module run, two runs at a time: (2 + 3) / 2; (1 + 3 x 2) / 2
    assert [r["hours"] for r in rows] == pytest.approx([2.5, 3.5])
    cut_rows = v2_budget.plan(items, costs, {"second": 1}, root=tmp_path)
    assert [r["runs"] for r in cut_rows] == [4, 1]
    assert [r["runs"] for r in v2_budget.plan(items, costs, {"second": 0}, root=tmp_path)] == [4, 0]


def test_budget_prices_a_widened_base_like_its_gca_size():
    cfg = preset("lite", "afk")
    wide = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, matched_to="2xGCA,True{cross_ffn4}"))
    assert v2_budget.modules(wide) == (2, "cross_ffn4")
    stack = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, gca_points=(0, 1, 2)))
    assert v2_budget.modules(stack) == (3, "attn") and v2_budget.modules(cfg) == (0, "attn")


def test_cut_rule_reduces_then_drops_from_the_end_and_refills_in_order():
    Item = v2_budget.Item
    items = [Item("primary", "p"), Item("table", "t", floor=3, drop_pass=3),
             Item("scaling", "c", floor=3, drop_pass=3), Item("old table", "o", floor=3, drop_pass=2),
             Item("shuffle", "s", floor=5, drop_pass=3)]
    hours = {"primary": 10, "table": 20, "scaling": 10, "old table": 20, "shuffle": 10}
    reduced = {"table": 12, "scaling": 6, "old table": 12, "shuffle": 5}

    def hours_of(seeds):
        return sum(0 if seeds.get(n) == 0 else reduced[n] if n in seeds else h for n, h in hours.items())

    assert v2_budget.cut(items, hours_of, limit=70) == ({}, [])
    seeds, steps = v2_budget.cut(items, hours_of, limit=46)  # 70 -> 65 -> 57 -> 53 -> 45
    assert seeds == {"shuffle": 5, "old table": 3, "scaling": 3, "table": 3}
    assert steps == ["shuffle: 5 seeds", "old table: 3 seeds", "scaling: 3 seeds", "table: 3 seeds"]
    seeds, steps = v2_budget.cut(items, hours_of, limit=25)  # 33 after dropping the old table; refill:
    assert seeds == {"table": 3, "scaling": 0, "old table": 0, "shuffle": 0}  # 10 + 12 = 22; +6 > 25; +5 > 25
    assert steps[-2:] == ["scaling: dropped", "shuffle: dropped"]
    seeds, _ = v2_budget.cut(items, hours_of, limit=21)  # the table does not fit, the scaling curves do
    assert seeds == {"table": 0, "scaling": 3, "old table": 0, "shuffle": 5}  # 10 + 6 + 5
    assert "primary" not in v2_budget.cut(items, hours_of, limit=1)[0]  # never cut, even over the limit


def test_costs_read_the_benchmarks_and_use_the_fallback_only_without_v2_seconds(tmp_path):
    throughput = {"epochs": {"afk/lite": {"base": {"train_seconds": 10.0}, "GCA[1]-sigmoid,True": {"train_seconds": 11.0}},
                             "abe/lite": {"base": {"train_seconds": 10.0}, "GCA[1]-sigmoid,True": {"train_seconds": 13.0}}}}
    lite = lambda q: {"presets": {"lite": {"ratio_to_attn": {"attn": 1.0, "self_cross_ffn": q}}}}  # noqa: E731
    epoch_time = {"gca_compositions": {"threads_1": lite(1.1), "threads_2": lite(1.3)}}
    t, e = tmp_path / "t.json", tmp_path / "e.json"
    t.write_text(json.dumps(throughput))
    e.write_text(json.dumps(epoch_time))
    with pytest.raises(ValueError, match="no v2_run_seconds"):
        v2_budget.load_costs(t, e)
    costs = v2_budget.load_costs(t, e, fallback={"afk": 100.0})
    assert costs.source.startswith("FALLBACK") and costs.base_seconds == {"afk": 100.0}
    assert costs.module_extra == pytest.approx({"attn": 0.2, "self_cross_ffn": 1.2 * 1.3 - 1})
    t.write_text(json.dumps({**throughput, "v2_run_seconds": {"afk": 50.0, "abe": 40.0}}))
    assert v2_budget.load_costs(t, e, fallback={"afk": 100.0}).base_seconds == {"afk": 50.0, "abe": 40.0}


def test_write_block_replaces_only_the_marked_block(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("a\n<!-- budget:begin -->\nold\n<!-- budget:end -->\nb\n")
    v2_budget.write_block(page, "new\n")
    assert page.read_text() == "a\n<!-- budget:begin -->\nnew\n<!-- budget:end -->\nb\n"
    page.write_text("no block\n")
    with pytest.raises(ValueError, match="needs exactly one"):
        v2_budget.write_block(page, "new\n")


# ------------------------------------------------------------------------------ stored after the page
def _git(repo, *args, date="2026-12-07T12:00:00+00:00"):
    env = {**os.environ, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_page_dating_on_a_tiny_repository(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "book").mkdir()
    (tmp_path / "other.md").write_text("x")
    _git(tmp_path, "add", "other.md")
    _git(tmp_path, "commit", "-qm", "other", date="2026-12-01T09:00:00+00:00")
    assert prereg.added_at(prereg.PAGE, tmp_path) is None  # not committed yet: nothing may be stored
    (tmp_path / prereg.PAGE).write_text("page")
    _git(tmp_path, "add", prereg.PAGE)
    _git(tmp_path, "commit", "-qm", "add", date="2026-12-07T12:00:00+00:00")
    (tmp_path / prereg.PAGE).write_text("page, edited")
    _git(tmp_path, "commit", "-qam", "edit", date="2026-12-09T12:00:00+00:00")
    when = prereg.added_at(prereg.PAGE, tmp_path)
    assert when == datetime(2026, 12, 7, 12, tzinfo=timezone.utc)  # the adding commit, not the edit
    records = [("early", {"stored_at": "2026-12-07T11:59:59Z"}), ("late", {"stored_at": "2026-12-07T12:00:01Z"}),
               ("undated", {})]
    assert prereg.stored_before(records, when) == ["early (stored_at 2026-12-07T11:59:59Z)",
                                                   "undated (stored_at missing)"]


def test_every_v2_record_was_stored_after_the_page_was_committed():
    records = [(str(p.parent.relative_to(REPO)), json.loads(p.read_text())) for p in sorted(STORE.glob("*/*/record.json"))]
    if not records:
        pytest.skip("no v2 records yet (results_v2/); the dating logic is tested on a tiny repository above")
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the page's commit cannot be dated")
    when = prereg.added_at(prereg.PAGE, REPO)
    assert when is not None, f"{prereg.PAGE} is not committed, yet results_v2/ holds {len(records)} runs"
    assert prereg.stored_before(records, when) == []


# ------------------------------------------------------------------------------ the seal
def test_a_sealed_store_refuses_its_test_scores_until_the_choice_is_recorded(tmp_path, capsys):
    from gca_lite.cli import main
    from gca_lite.experiments.report import collect
    from gca_lite.experiments.store import ResultsStore

    (tmp_path / prereg.SEAL).write_text("{}")
    with pytest.raises(prereg.SealedError, match="sealed until the reading is chosen"):
        collect(ResultsStore(tmp_path))
    assert main(["report", "--store", str(tmp_path)]) != 0
    assert "sealed until the reading is chosen" in capsys.readouterr().err
    gains = {("attn", "pre"): 0.001, ("cross_ffn4", "out"): 0.002}
    entry = prereg.record_choice(tmp_path, ("cross_ffn4", "out"), gains, runs=50)
    assert prereg.read_choice(tmp_path) == entry and entry["chosen"] == "cross_ffn4,out"
    assert prereg.sealed(tmp_path) == "" and collect(ResultsStore(tmp_path)) == {}
    assert prereg.record_choice(tmp_path, ("cross_ffn4", "out"), gains, runs=50) == entry  # same choice: kept
    with pytest.raises(ValueError, match="made once"):
        prereg.record_choice(tmp_path, ("attn", "pre"), gains, runs=50)


def test_the_v2_store_is_sealed_until_its_choice():
    store = STORE
    assert (store / prereg.SEAL).exists(), "results_v2 must carry the seal (book/preregistration.md)"
    assert bool(prereg.sealed(store)) == (prereg.read_choice(store) is None)


def test_a_broken_choice_file_keeps_the_store_sealed(tmp_path):
    (tmp_path / prereg.SEAL).write_text("{}")
    (tmp_path / prereg.CHOICE).write_text('{"chosen": "attn,p')  # a write cut short
    assert "unreadable" in prereg.sealed(tmp_path)
    (tmp_path / prereg.CHOICE).write_text('{"chosen": "attn,nowhere"}')
    assert "not an accepted reading" in prereg.sealed(tmp_path)
    (tmp_path / prereg.CHOICE).unlink()
    with pytest.raises(ValueError, match="not one the screen runs"):
        prereg.record_choice(tmp_path, ("attn", "nowhere"), {}, 50)
    prereg.record_choice(tmp_path, prereg.TODAY, {}, 50, seeds={"variant table, chosen reading": 5})
    assert prereg.sealed(tmp_path) == "" and prereg.read_choice(tmp_path)["seeds"] == {"variant table, chosen reading": 5}
