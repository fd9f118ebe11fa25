"""Run configurations and grids: config dicts from YAML/JSON, grid expansion and its errors, the
shipped grids, and the real-data grid the sweep runs (its order, and the book chapters' reuse of it)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from gca_lite.config import ConfigError, ModelConfig, RunConfig, config_hash, preset, to_dict
from gca_lite.experiments import GridError, ResultsStore, config_from_dict, expand, load_grid

from conftest import PAPER, REPO, SMOKE


# ------------------------------------------------------------------------------ config dicts
def test_config_from_dict_round_trips_a_record_config():
    cfg = preset("lite", "synthetic-tiny")
    cfg = RunConfig(cfg.data, ModelConfig(gca_points=(0, 2), gca_gate="tanh"), cfg.train, cfg.eval)
    back = config_from_dict(json.loads(json.dumps(to_dict(cfg))))  # tuples became lists in JSON
    assert back == cfg and config_hash(back) == config_hash(cfg)
    assert isinstance(back.model.gca_points, tuple)


def test_config_from_dict_coerces_yaml_types():
    cfg = config_from_dict({"dataset": "synthetic-tiny", "model": {"gca_points": [1]}, "train.lr": 1})
    assert cfg.model.gca_points == (1,) and cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.model.d == preset("lite").model.d  # "dataset" alone starts from the lite preset


@pytest.mark.parametrize("bad, needle", [
    ({"model": {"gca_pointz": [1]}}, "model.gca_pointz"),
    ({"model.gca_pointz": [1]}, "gca_points"),  # suggestion
    ({"modle": {"d": 16}}, "'modle.d'"),
    ({"model": {"d": "16"}}, "model.d must be an integer"),
    ({"model": {"gca_layernorm": "yes"}}, "model.gca_layernorm must be true or false"),
    ({"model": {"gca_gate": "relu", "gca_points": [1]}}, "gca_gate"),
    ({"model": {"gca_points": [1], "matched_to": "x"}}, "matched_to"),  # impossible combination
    ({"model": {"d": 15}}, "divisible"),
    ({"train": {"seed": -1}}, "seed"),
])
def test_config_from_dict_errors_name_the_key(bad, needle):
    with pytest.raises(GridError, match=re.escape(needle)) as e:
        config_from_dict(bad, where="my.yaml")
    assert "my.yaml" in str(e.value) and isinstance(e.value, ConfigError)


# ------------------------------------------------------------------------------ grids
def _spec(**extra):
    spec = {"base": {"preset": "lite", "dataset": "synthetic-tiny", "model": {"d": 16}},
            "grid": {"model.gca_points": [[], [1]], "model.gca_gate": ["sigmoid", "tanh"],
                     "model.gca_layernorm": [True, False], "train.seed": [0, 1]}}
    spec.update(extra)
    return spec


def test_grid_cartesian_product_dedupes_base_models():
    configs = expand(_spec())
    names = [c.name for c in configs]
    assert len(names) == len(set(names)) == 2 + 1 * 2 * 2 * 2  # base once per seed, not per gate/LN
    assert sum(n.startswith("synthetic-tiny/base/") for n in names) == 2
    base = next(c for c in configs if not c.model.gca_points)
    assert base.model.gca_gate == "sigmoid" and base.model.gca_layernorm is True  # normalised
    assert all(c.model.d == 16 for c in configs)
    assert len({config_hash(c) for c in configs}) == len(configs)


def test_grid_include_entries_cross_the_axes_they_do_not_set():
    spec = _spec(grid={"train.seed": [0, 1, 2]},
                 include=[{"model.gca_points": [2], "model.gca_gate": "identity"},
                          {"model.gca_points": [2], "model.gca_gate": "identity", "train.seed": 7}])
    names = sorted(c.name for c in expand(spec))
    assert names == sorted([f"synthetic-tiny/base/seed{s}" for s in (0, 1, 2)]
                           + [f"synthetic-tiny/GCA[2]-identity,True/seed{s}" for s in (0, 1, 2, 7)])


def test_grid_list_of_products_and_dataset_axis_applies_preset_per_dataset():
    spec = {"base": {"preset": "paper"},
            "grid": [{"dataset": ["afk", "abe"]}, {"dataset": ["afk"], "train.seed": [5]}]}
    configs = expand(spec)
    by = {(c.data.dataset, c.train.seed): c for c in configs}
    assert set(by) == {("afk", 0), ("abe", 0), ("afk", 5)}
    assert by["afk", 0].model.rank_d == 16 and by["abe", 0].model.rank_d == 64  # paper preset per dataset


@pytest.mark.parametrize("spec, needle", [
    ({"base": {"dataset": "x"}, "gird": {}}, "unknown top-level key 'gird'"),
    ({"base": {"dataset": "x"}, "grid": {"train.seed": 3}}, "grid.train.seed must be a non-empty list"),
    ({"grid": {"train.seed": [0]}}, "no dataset given"),
    ({"base": {"dataset": "x", "model.gca_pointz": [1]}}, "model.gca_pointz"),
    ({"base": {"dataset": "x"}, "grid": {"model.gca_points": [[5]]}}, "gca_points"),
    ({"base": {"dataset": "x", "preset": "huge"}}, "unknown preset 'huge'"),
    ({"base": {"dataset": "x"}, "matched_bases": "yes"}, "matched_bases must be true or false"),
])
def test_grid_errors_name_file_and_key(tmp_path, spec, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(GridError, match=re.escape(needle)) as e:
        load_grid(path)
    assert str(path) in str(e.value)


def test_grid_file_errors(tmp_path):
    with pytest.raises(GridError, match="cannot read grid file"):
        load_grid(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("base: [unclosed\n")
    with pytest.raises(GridError, match="broken.yaml: invalid YAML"):
        load_grid(tmp_path / "broken.yaml")


def test_shipped_grids_expand():
    paper = yaml.safe_load(PAPER.read_text())
    assert paper["matched_bases"] is True
    configs = expand({**paper, "matched_bases": False}, str(PAPER))  # matching needs the real data
    assert len(configs) == 2 * (1 + 4 * 2 * 2) * 3
    variants = {c.model.variant_name for c in configs}
    assert {"base", "GCA[0]-sigmoid,True", "GCA[0,1,2]-tanh,False", "GCA[2]-tanh,True"} <= variants
    smoke = load_grid(SMOKE)
    assert len(smoke) == 10 and sum(bool(c.model.matched_to) for c in smoke) == 4


def test_grid_progress_needs_no_data(smoke_store, tmp_path):
    """The results page lists what the planned grid still misses without the data (matched bases
    are known by the size they match); the smoke store holds all of its grid."""
    from gca_lite.experiments import summary as S

    planned = S.planned_runs(REPO / "experiments" / "real_lite_grid.yaml")
    assert len(planned) == len(set(planned)) == 168
    assert sum(k[1] == "base~1xGCA,True" for k in planned) == 2 * 3
    assert sum(k[1] == "base~1xGCA,True, same-day shuffle" for k in planned) == 2 * 3
    progress = S.grid_progress(smoke_store, SMOKE)
    assert len(progress) == 5 and (progress["missing"] == "").all() and (progress["stored"] == "0,1").all()
    empty = S.grid_progress(tmp_path / "none", SMOKE)
    assert (empty["stored"] == "").all() and (empty["missing"] == "0,1").all()


def _load_run_real():
    """experiments/run_real.py, a script rather than a package module, loaded by path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_real", REPO / "experiments" / "run_real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.realdata
def test_real_grid_and_its_priority_order(shared_data):
    """Issue 6's grid: 28 configs x 2 datasets x 3 seeds (with the shuffled GCA[1]'s own matched
    base), and the runner's order puts complete paired seed-0 sets of both datasets first."""
    from gca_lite.config import config_hash
    from gca_lite.experiments import load_grid

    run_real = _load_run_real()
    configs = load_grid(run_real.GRID, shared_data)
    assert len(configs) == 168 and len({config_hash(c) for c in configs}) == 168
    names = {c.model.variant_name for c in configs}
    assert {"GCA[0,0,0]-sigmoid,True", "GCA[0,1]-sigmoid,True", "base~2xGCA,True", "base~3xGCA,False"} <= names
    assert sum(c.data.tie_shuffle_seed is not None for c in configs) == 3 * 2 * 3
    ordered = sorted(configs, key=run_real.priority)
    first = [(c.data.dataset, c.model.variant_name, c.train.seed) for c in ordered[:8]]
    assert {s for *_, s in first} == {0} and {d for d, *_ in first} == {"afk", "abe"}
    assert {v for _, v, _ in first} == set(run_real.TIERS[0])
    last = {c.model.variant_name for c in ordered[-12:]}
    assert last == set(run_real.LAST)  # the near-duplicate matched bases come last


@pytest.mark.realdata
def test_run_real_from_end_takes_the_order_backwards(shared_data, tmp_path, monkeypatch, capsys):
    """--from-end (a second host) lists the missing runs in exactly the reverse of the default order,
    so two hosts started from the two ends meet without training the same run twice."""
    import sys

    run_real = _load_run_real()

    def listed(*flags):
        monkeypatch.setattr(sys, "argv", ["run_real.py", "--data-dir", str(shared_data),
                                          "--store", str(tmp_path / "empty"), "--dry-run", *flags])
        run_real.main()
        return [line for line in capsys.readouterr().out.splitlines() if line.startswith("missing")]

    forward, backward = listed(), listed("--from-end")
    assert len(forward) == 168 and backward == forward[::-1]
    assert backward[0].split()[1].split("/")[1] in run_real.LAST


@pytest.mark.realdata
def test_book_chapters_on_real_data_reuse_the_grid_runs(shared_data, tmp_path):
    """rerun.md's promise: built with the real data, the lite preset and its full epoch budget, the
    chapters ask for exactly the grid's configurations (same content hashes, matched bases too), so
    they load what results/ holds and train only what it lacks."""
    from gca_lite.analysis import Setup, all_variants

    grid = {ResultsStore.key(c) for c in load_grid(REPO / "experiments" / "real_lite_grid.yaml", shared_data)}
    for dataset in ("afk", "abe"):
        setup = Setup(dataset=dataset, data_dir=str(shared_data), store=str(tmp_path), preset="lite", epochs=150)
        cfgs = setup.configs(all_variants(), [0, 1, 2])  # base and the 16 variants
        cfgs += [setup.config("GCA[1]-sigmoid,True", s, **{"data.tie_shuffle_seed": 1}) for s in (0, 1, 2)]
        scaling = ["GCA[0,0]-sigmoid,True", "GCA[0,0,0]-sigmoid,True", "GCA[0,1]-sigmoid,True"]
        cfgs += setup.configs(scaling, [0, 1, 2])
        cfgs += [setup.matched(v, s) for v in ("GCA[0]-sigmoid,True", "GCA[0,1,2]-tanh,False", *scaling)
                 for s in (0, 2)]
        missing = [c.name for c in cfgs if ResultsStore.key(c) not in grid]
        assert not missing, f"chapter configs outside the grid: {missing[:3]}"
