"""Experiments layer: config dicts, YAML grids, the results store, locks, sweeps (local pool and
Dask), resumption after a kill, corruption handling, and the report.

The training tests (marked ``slow``; about 80 s in all on 2 cores) share one smoke sweep
(experiments/smoke_grid.yaml, 10 tiny runs) made once per module through the command line; every
other store built here is compared with it, metric for metric.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import yaml

from gca_lite.config import ConfigError, ModelConfig, RunConfig, config_hash, preset, to_dict
from gca_lite.experiments import (GridError, ResultsStore, RunLock, StoreWarning, config_from_dict, expand,
                                  load_grid, normalize, report_frame, run_or_load, sweep, to_markdown)
from gca_lite.experiments.budget import budget_runs
from gca_lite.experiments.store import setting_hash
from gca_lite.experiments.sweep import run_task

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "experiments" / "smoke_grid.yaml"
PAPER = REPO / "experiments" / "paper_grid.yaml"
METRIC_COLS = ["NDCG@1", "NDCG@5", "NDCG@10", "HR@10", "MRR", "AUC"]

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


# ------------------------------------------------------------------------------ locks
def test_lock_is_exclusive_and_released_only_by_its_owner(tmp_path):
    a, b = RunLock(tmp_path / "lock"), RunLock(tmp_path / "lock")
    assert a.acquire() and not b.acquire()
    b.release()  # not b's lock: must not remove it
    assert (tmp_path / "lock").exists() and not b.acquire()
    a.release()
    assert not (tmp_path / "lock").exists()
    with b as got:
        assert got and not a.acquire()
    assert a.acquire()


def test_stale_locks_are_broken(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "lock"
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "token": "x"}))
    assert RunLock(path).acquire()  # owner process no longer exists

    path.write_text(json.dumps({"host": "some-other-host", "pid": 1, "token": "x"}))
    assert not RunLock(path).acquire()  # cannot check another host's pids: respected while fresh
    old = time.time() - 2 * 3600
    os.utime(path, (old, old))
    assert not RunLock(path, stale_after=3 * 3600).acquire()
    assert RunLock(path, stale_after=3600).acquire()  # older than stale_after

    path.write_text("")  # owner died between create and write
    assert not RunLock(path).acquire()
    os.utime(path, (old, old))
    assert RunLock(path).acquire()


def test_an_owner_killed_while_locking_leaves_no_lock(tmp_path, monkeypatch):
    import gca_lite.experiments.lock as lock_module

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # stands in for SIGKILL while the lock's content is being written

    path = tmp_path / "run" / "lock"
    with monkeypatch.context() as m:
        m.setattr(lock_module.json, "dump", killed)
        m.setattr(lock_module.json, "dumps", killed)
        with pytest.raises(KeyboardInterrupt):
            RunLock(path).acquire()
    assert list(path.parent.iterdir()) == []  # no empty lock (it would block the config for a minute)
    assert RunLock(path).acquire() and json.loads(path.read_text())["pid"] == os.getpid()
    assert [p.name for p in path.parent.iterdir()] == ["lock"]  # the private copy is gone


def test_lock_works_without_hard_links(tmp_path, monkeypatch):
    import gca_lite.experiments.lock as lock_module

    def no_links(*args, **kwargs):
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(lock_module.os, "link", no_links)
    a, b = RunLock(tmp_path / "lock"), RunLock(tmp_path / "lock")
    assert a.acquire() and not b.acquire() and a.owner()["token"] == a.token
    a.release()
    assert b.acquire() and [p.name for p in tmp_path.iterdir()] == ["lock"]


# ------------------------------------------------------------------------------ sweeps
@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory) -> ResultsStore:
    """Acceptance: the smoke sweep through the CLI finishes in under 3 minutes on 2 cores."""
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


@pytest.mark.slow
def test_rerun_trains_nothing_and_is_fast(smoke_store):
    before = _mtimes(smoke_store.root)
    assert len(before) == 10
    t0 = time.perf_counter()
    out = _cli("sweep", str(SMOKE), "--store", str(smoke_store.root), "--workers", "2", timeout=120)
    seconds = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert _summary(out.stdout)["already"] == 10 and _summary(out.stdout)["trained"] == 0
    assert _mtimes(smoke_store.root) == before
    assert seconds < 30, f"re-running a complete sweep took {seconds:.0f} s"


@pytest.mark.slow
def test_killed_sweep_resumes_with_only_the_rest(tmp_path, smoke_store):
    root = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "gca_lite.cli", "sweep", str(SMOKE), "--store", str(root),
                             "--workers", "1", "--threads", "1", "--quiet"], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(root.glob("*/*/record.json")):
        assert proc.poll() is None and time.time() < deadline, "sweep ended before its first record"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker, mid-run, leaving a lock behind
    proc.wait()
    done = _mtimes(root)
    assert 0 < len(done) < 10
    summary = sweep(load_grid(SMOKE), root, workers=2, threads=1, progress=False)
    assert summary.ok and summary.already == len(done)
    assert summary.counts["trained"] == 10 - len(done) and summary.counts["busy"] == 0
    now = _mtimes(root)
    assert len(now) == 10 and all(now[k] == v for k, v in done.items())  # nothing re-trained
    assert not list(root.glob("*/*/lock"))
    assert _metrics(ResultsStore(root)).equals(_metrics(smoke_store))  # deterministic results


@pytest.mark.slow
def test_max_runs_leaves_the_rest_for_later(tmp_path):
    configs = load_grid(SMOKE)[:2]
    first = sweep(configs, tmp_path, max_runs=1, progress=False)
    assert first.counts["trained"] == 1 and first.not_submitted == 1
    second = sweep(configs, tmp_path, progress=False)
    assert second.already == 1 and second.counts["trained"] == 1


@pytest.mark.slow
def test_dask_local_cluster_gives_identical_metrics(tmp_path, smoke_store):
    distributed = pytest.importorskip("distributed")
    store = ResultsStore(tmp_path / "dask")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        summary = sweep(load_grid(SMOKE), store, scheduler=client, threads=1, progress=False)
    assert summary.ok and summary.counts["trained"] == 10
    assert _metrics(store).equals(_metrics(smoke_store))


# ------------------------------------------------------------------------------ store
@pytest.mark.slow
def test_corrupt_and_partial_records_warn_and_are_rerun(tmp_path, smoke_store):
    root = tmp_path / "store"
    shutil.copytree(smoke_store.root, root)
    store = ResultsStore(root)
    configs = load_grid(SMOKE)
    broken = [store.path(c) for c in configs[:3]]
    ranks = (broken[0] / "ranks.npz").read_bytes()
    (broken[0] / "ranks.npz").write_bytes(ranks[: len(ranks) // 2])  # truncated ranks
    (broken[1] / "record.json").unlink()  # partial: ranks without the record that vouches for them
    (broken[2] / "record.json").write_text("{not json")  # garbage record
    for c in configs[:3]:
        with pytest.warns(StoreWarning, match="corrupt or partial"):
            assert not store.has(c)
    failing = normalize(preset("lite", "synthetic-tiny"))
    failing = config_from_dict({"train": {"n_neg": 10_000, "epochs": 1}}, base=failing)  # > items per domain
    with pytest.warns(StoreWarning):
        summary = sweep([*configs, failing], store, workers=1, threads=1, progress=False)
    assert summary.counts["trained"] == 3 and summary.already == 10 - 3
    assert not summary.ok and summary.failures[0][0] == failing.name and "n_neg" in summary.failures[0][1]
    assert "Traceback" in store.failure(failing)["traceback"]
    assert _metrics(store).equals(_metrics(smoke_store))  # the re-runs reproduce the lost results


@pytest.mark.slow
def test_failed_sweep_exits_nonzero(tmp_path):
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(
        {"base": {"dataset": "synthetic-tiny", "train": {"n_neg": 10_000, "epochs": 1}}}))
    out = _cli("sweep", str(tmp_path / "g.yaml"), "--store", str(tmp_path / "s"), "--quiet", timeout=120)
    assert out.returncode == 1 and "FAILED synthetic-tiny/base/seed0" in out.stdout


@pytest.mark.slow
def test_run_or_load_loads_without_training(smoke_store, monkeypatch):
    import gca_lite.train

    def boom(*a, **k):
        raise AssertionError("must not train a stored config")

    monkeypatch.setattr(gca_lite.train, "run", boom)
    cfg = load_grid(SMOKE)[3]
    result = run_or_load(cfg, store=smoke_store.root)
    assert result.record["config_hash"] == smoke_store.key(cfg) == smoke_store.path(cfg).name
    assert set(result.test_counts) == {"full", "sampled"}


def test_locked_config_is_not_trained_twice(tmp_path):
    cfg = load_grid(SMOKE)[0]
    store = ResultsStore(tmp_path)
    with store.lock(cfg) as got:  # "another worker" holds it
        assert got
        out = run_task(cfg, str(tmp_path))
    assert out["status"] == "busy" and not store.has(cfg)


@pytest.mark.slow
def test_tidy_table_and_export(smoke_store, tmp_path):
    import pandas as pd

    frame = smoke_store.to_frame()
    assert len(frame) == 10 * 2 * 2  # runs x protocols x domains
    for col in ("dataset", "variant", "seed", "protocol", "domain", *METRIC_COLS, "code_version",
                "data_sha256", "wall_seconds", "machine", "config_hash", "setting", "cfg.model.gca_points"):
        assert col in frame.columns, col
    assert frame["data_sha256"].nunique() == 1 and frame["wall_seconds"].gt(0).all()
    pq, csv = smoke_store.export(tmp_path / "runs")
    assert pd.read_parquet(pq).shape == frame.shape and pd.read_csv(csv).shape == frame.shape


# ------------------------------------------------------------------------------ report
@pytest.mark.slow
def test_report_tables(smoke_store):
    frame = report_frame(smoke_store, n_boot=200)
    variants = ["base", "GCA[1]-sigmoid,True", "GCA[0,1,2]-tanh,False",
                "base~1xGCA,True", "base~3xGCA,False"]
    assert list(dict.fromkeys(frame["variant"])) == variants
    assert len(frame) == len(variants) * 2 * 2 * len(METRIC_COLS)  # variants x protocols x domains x metrics
    assert (frame["ci_lo"] <= frame["mean"]).all() and (frame["mean"] <= frame["ci_hi"]).all()
    assert (frame["n_seeds"] == 2).all()
    is_base = frame["variant"] == "base"
    assert frame.loc[is_base, "vs_base_p"].isna().all() and frame.loc[~is_base, "vs_base_p"].between(0, 1).all()
    has_matched = frame["variant"].str.startswith("GCA")
    assert frame.loc[has_matched, "vs_matched_p"].notna().all()
    text = to_markdown(frame)
    assert text.count("### ") == 6  # (means, vs base, vs matched) x 2 protocols
    assert "| synthetic-tiny | GCA[1]-sigmoid,True | 2 |" in text and "A NDCG@10" in text
    assert "Code version: " in text and "synthetic-tiny data SHA-256: " in text
    assert "several code versions" not in text
    # the sampled title names the runs' candidate count (the smoke grid samples 99), not an option name
    assert "the target against 99 sampled same-domain negatives" in text and "eval.n_candidates" not in text


def test_family_labels_matched_bases_and_clashes():
    """A matched base (wider, so its own label may read "d72") is labelled by its setting's other
    runs; a family of matched bases alone (their GCA runs not stored yet) keeps the plain label of
    its setting instead of renaming it; two real settings with one label get hash suffixes."""
    from gca_lite.experiments.report import _family_labels, _Group

    def group(fam, variant, label, dataset="afk"):
        return (dataset, fam, variant), _Group(dataset, fam, variant, label=label)

    groups = dict([group("f1", "base", "lite"), group("f1", "GCA[0]-sigmoid,True", "lite"),
                   group("f1", "base~1xGCA,True", "d72"),  # widened: its own label differs
                   group("f2", "base~3xGCA,True", "lite"),  # orphan: no GCA run of its size stored
                   group("g1", "base", "lite", "abe"), group("g2", "base", "lite", "abe")])
    labels = _family_labels(groups)
    assert labels[("afk", "f1")] == "lite" and labels[("afk", "f2")] == "lite"
    assert {labels[("abe", "g1")], labels[("abe", "g2")]} == {"lite [g1]", "lite [g2]"}


def test_report_labels_settings_readably():
    """The committed store mixes presets and the same-day shuffle: its rows are labelled by setting
    (a matched base by the setting it was matched in, not by its own wider backbone), and the
    markdown shows those labels, not hash prefixes."""
    frame = report_frame(ResultsStore(REPO / "results"), metrics=("NDCG@10",), n_boot=20)
    labels = frame.groupby(["dataset", "setting"])["setting_label"].unique()
    assert (labels.str.len() == 1).all(), "one label per setting"
    assert set(frame["setting_label"]) <= {"lite", "paper, 7-min budget", "lite, same-day shuffle"}
    matched = frame[frame["variant"].str.startswith("base~")]  # wider than lite, labelled as its setting
    assert set(matched["setting_label"]) <= {"lite", "lite, same-day shuffle"} and len(matched)
    text = to_markdown(frame)
    assert "| abe | paper, 7-min budget | base |" in text
    assert not any(f"| {h} |" in text for h in frame["setting"].unique())


@pytest.mark.slow
def test_report_and_sweep_cli(smoke_store, tmp_path):
    out = _cli("report", "--store", str(smoke_store.root), "--n-boot", "100", "--format", "csv",
               "--export", str(tmp_path / "runs"), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("protocol,dataset,variant") and (tmp_path / "runs.parquet").exists()
    # markdown: the tables, then the results page's "In short", verdicts and evidence (unless --no-verdicts)
    md = _cli("report", "--store", str(smoke_store.root), "--n-boot", "100", timeout=120)
    assert md.returncode == 0, md.stderr
    heads = [line for line in md.stdout.splitlines() if line.startswith("### ")]
    assert heads[0].startswith("### full ranking: mean over seeds")
    assert heads[-3:] == ["### In short", "### Verdicts, claim by claim: synthetic-tiny",
                          "### The evidence behind each verdict"]
    assert "| GCA variants improve NDCG@10 and AUC over the base model |" in md.stdout
    bare = _cli("report", "--store", str(smoke_store.root), "--n-boot", "100", "--no-verdicts", timeout=120)
    assert "### In short" not in bare.stdout and bare.stdout == md.stdout[:len(bare.stdout)]
    dry = _cli("sweep", str(SMOKE), "--store", str(smoke_store.root), "--dry-run", timeout=60)
    assert dry.stdout.count("done ") == 10
    missing = _cli("report", "--store", str(tmp_path / "nope"), timeout=60)
    assert missing.returncode == 2 and "no such folder" in missing.stderr


def test_cli_help(capsys):
    from gca_lite import cli

    parser = cli.build_parser()
    for name in ("sweep", "report"):
        with pytest.raises(SystemExit) as e:
            parser.parse_args([name, "--help"])
        assert e.value.code == 0
        assert "--store" in capsys.readouterr().out


# ------------------------------------------------------------------------------------ verdicts
def _comp(diff, lo, hi):
    return {"diff": diff, "lo": lo, "hi": hi}


@pytest.mark.parametrize("comps,expected", [
    ([], "no runs"),
    ([_comp(.02, .01, .03), _comp(.01, .001, .02)], "reproduced"),
    ([_comp(.02, .01, .03), _comp(.0, -.01, .01)], "partly"),
    ([_comp(.02, .01, .03), _comp(-.02, -.03, -.01)], "mixed"),  # one each way
    ([_comp(.02, .01, .03), _comp(-.02, -.03, -.01), _comp(-.01, -.02, -.005)], "not reproduced"),
    ([_comp(.02, .01, .03), _comp(.01, .005, .02), _comp(-.01, -.02, -.005)], "partly"),
    ([_comp(.01, -.01, .03), _comp(-.01, -.03, .01)], "not resolved"),
    ([_comp(-.02, -.03, -.01), _comp(.0, -.01, .01)], "not reproduced"),
])
def test_verdict_rules(comps, expected):
    from gca_lite.experiments.verdicts import judge

    assert judge(comps) == expected
    flipped = [_comp(-c["diff"], -c["hi"], -c["lo"]) for c in comps]
    assert judge(flipped, direction=-1) == expected  # "lower is better" claims mirror the rule


def test_pearson_with_fisher_interval():
    from gca_lite.experiments.verdicts import pearson

    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = -x + 0.5 * rng.normal(size=200)
    r, lo, hi, n = pearson(x, y)
    assert n == 200 and -1 < lo < r < hi < 0 and r == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert hi - lo == pytest.approx(0.06, abs=0.03)  # Fisher z: +-1.96/sqrt(197) around r = -0.89
    assert np.isnan(pearson([1, 2, 3], [3, 2, 1])[0])  # fewer than 4 points: no interval
    # after removing group means the interval is wider (fewer degrees of freedom); NaN pairs drop out
    r2, lo2, hi2, n2 = pearson(np.append(x, np.nan), np.append(y, 1.0), groups=4)
    assert n2 == n and r2 == pytest.approx(r) and lo2 < lo and hi2 > hi
    assert np.isnan(pearson([1, 1, 1, 1], [1, 2, 3, 4])[0])  # constant x


def test_within_variant_r_sees_only_the_seed_to_seed_variation():
    import numpy as np

    from gca_lite.experiments.verdicts import pearson, within_variant_r

    rng = np.random.default_rng(0)
    # two variants far apart (the more orthogonal one more accurate: pooled r < 0), while inside
    # each variant a higher |cos| goes with a higher score
    x0, x1 = rng.normal(0.3, 0.02, 6), rng.normal(0.5, 0.02, 6)
    y0, y1 = 0.20 + (x0 - 0.3) + rng.normal(0, 0.002, 6), 0.10 + (x1 - 0.5) + rng.normal(0, 0.002, 6)
    x, y, labels = np.r_[x0, x1, 0.4], np.r_[y0, y1, 0.15], ["a"] * 6 + ["b"] * 6 + ["single"]
    assert pearson(x, y)[0] < -0.9
    r, lo, hi, n, k = within_variant_r(x, y, labels)
    assert (n, k) == (12, 2) and r > 0.9 and lo > 0  # the single-run variant is left out
    centred = np.r_[x0 - x0.mean(), x1 - x1.mean()], np.r_[y0 - y0.mean(), y1 - y1.mean()]
    assert r == pytest.approx(np.corrcoef(*centred)[0, 1])
    assert math.isnan(within_variant_r([0.1, 0.2], [0.3, 0.4], ["a", "b"])[0])  # no variant with two runs


def test_verdicts_from_the_smoke_store(smoke_store):
    import numpy as np

    from gca_lite.experiments.report import report_frame
    from gca_lite.experiments.verdicts import CHECK_VERDICTS, RANGE_VERDICTS, VERDICTS, verdict_frame

    v = verdict_frame(smoke_store, n_boot=200)
    assert set(v["protocol"]) == {"full", "sampled"} and set(v["dataset"]) == {"synthetic-tiny"}
    assert all(x.split(" (")[0] in VERDICTS + CHECK_VERDICTS + RANGE_VERDICTS for x in v["verdict"])
    assert all("(provisional)" in x for x in v["verdict"] if x not in ("no runs", "too few runs"))  # 2 seeds
    assert not v["verdict"].str.startswith("too few runs (").any()  # nothing judged: nothing provisional
    first = v[(v["protocol"] == "full") & v["claim"].str.startswith("GCA variants improve")].iloc[0]
    assert "of 8 resolvably better" in first["evidence"]  # 2 variants x 2 domains x 2 metrics
    # the matched-base verdict quotes the same paired difference as the report
    rep = report_frame(smoke_store, metrics=("NDCG@10",), n_boot=200)
    row = rep[(rep["protocol"] == "full") & (rep["variant"] == "GCA[1]-sigmoid,True") & (rep["domain"] == "A")]
    claim = v[(v["protocol"] == "full") & v["claim"].str.contains("parameter-matched base .NDCG@10, domain A")]
    assert claim.iloc[0]["verdict"].startswith("no runs")  # the smoke grid has no GCA_early/stack model
    assert np.isfinite(row["vs_matched_diff"].iloc[0])
    # |cos| vs NDCG@10 over runs of two variants would compare the two variants' means, whatever the
    # number of seeds: the smoke store's 4 runs (2 variants x 2 seeds) are too few
    corr = v[v["claim"].str.startswith("lower |cos(X, X')| goes with higher NDCG@10")]
    assert len(corr) == 4 and (corr["verdict"] == "too few runs").all()
    assert all("4 GCA runs of 2 variants (r needs 4 runs of 4 variants)" == e for e in corr["evidence"])


def _fake_shuffled_copies(root: Path, variants=("base", "GCA[1]-sigmoid,True")) -> int:
    """Store each run of ``variants`` again as if trained on same-day-shuffled data (same ranks, so
    every shuffled-minus-original difference is exactly 0)."""
    from gca_lite.experiments.grid import config_from_dict

    made = 0
    for folder in ResultsStore(root).run_dirs():
        rec = json.loads((folder / "record.json").read_text())
        if rec["variant"] not in variants:
            continue
        rec["config"]["data"]["tie_shuffle_seed"] = 1
        rec["config_hash"] = ResultsStore.key(config_from_dict(rec["config"]))
        twin = folder.parent / rec["config_hash"]
        twin.mkdir()
        shutil.copy(folder / "ranks.npz", twin / "ranks.npz")
        (twin / "record.json").write_text(json.dumps(rec))
        made += 1
    return made


def test_ordering_artefact_checks_from_the_smoke_store(smoke_store, tmp_path):
    """The sweep stores the data's test strata; with them the verdicts carry the untied-target
    check, and shuffled runs are attached to their original setting for the shuffle check. Every
    run is dated for the sweep's wall time."""
    from gca_lite.data import load_dataset
    from gca_lite.experiments import summary as S
    from gca_lite.experiments.artefact import artefact_frame, strata_path
    from gca_lite.experiments.verdicts import contexts, verdict_frame

    root = tmp_path / "store"
    shutil.copytree(smoke_store.root, root)

    def checks(v):
        return v[v["claim"].str.startswith("check")].set_index(["protocol", "claim"])

    strata = strata_path(root, "synthetic-tiny", load_dataset("synthetic-tiny").checksum)
    assert strata.is_file()  # written by the sweep
    strata.rename(strata.with_suffix(".away"))
    before = checks(verdict_frame(root, n_boot=100))
    assert set(before["verdict"]) == {"no runs"}  # no strata stored, no shuffled runs
    assert before["evidence"].str.contains("no test strata stored|no same-day-shuffle runs").all()
    strata.with_suffix(".away").rename(strata)

    assert _fake_shuffled_copies(root) == 4  # base and GCA[1] x 2 seeds
    ctxs = contexts(root)
    assert len(ctxs) == 1 and sorted(ctxs[0].shuffled) == ["GCA[1]-sigmoid,True", "base"]
    assert ctxs[0].strata is not None
    v = checks(verdict_frame(root, n_boot=100, ctxs=ctxs)).reset_index()
    untied = v[v["claim"].str.contains("do not share")]
    gained = [c for p in ("full", "sampled") for var in ("GCA[1]-sigmoid,True", "GCA[0,1,2]-tanh,False")
              for dom in (0, 1) if (c := ctxs[0].compare(var, "base", p, dom, "NDCG@10", 100)) and c["lo"] > 0]
    if not gained:  # 2-epoch models rarely resolve a gain: then there is nothing to check
        assert (untied["verdict"] == "not resolved (provisional)").all()
    shuffle = v[v["claim"].str.contains("shuffle")]
    assert len(shuffle) == 2 and shuffle["evidence"].str.contains("users whose target keeps its domain").all()
    art = artefact_frame(ctxs, n_boot=100)
    assert len(art) == 2 * 2 and art["shuffled − original"].str.startswith("+0.0000 [+0.0000, +0.0000]").all()
    assert (art["training seeds (shuffled runs)"] == "0,1").all()
    wall = S.sweep_wall(root)
    assert wall["timed runs"].sum() == len(ResultsStore(root).run_dirs()) and (wall["untimed runs"] == 0).all()
    assert 0 < wall["wall hours"].sum() <= wall["run hours"].sum()


def test_sweep_wall_counts_runs_side_by_side_once_and_the_stretches_apart(monkeypatch):
    import pandas as pd

    from gca_lite.experiments import summary as S

    # cuda: 0-10 and 5-15 min overlap (one stretch), 60-70 min is a second one; cpu: undated
    runs = pd.DataFrame({"device": ["cuda"] * 3 + ["cpu"],
                         "stored_at": ["2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z", "2026-01-01T01:10:00Z", None],
                         "wall_seconds": [600.0, 600.0, 600.0, 60.0]})
    monkeypatch.setattr(S, "run_table", lambda store: runs)
    wall = S.sweep_wall("unused").set_index("device")
    assert wall.loc["cuda", "stretches"] == 2 and wall.loc["cuda", "timed runs"] == 3
    assert wall.loc["cuda", "wall hours"] == pytest.approx(25 / 60) and wall.loc["cuda", "run hours"] == pytest.approx(0.5)
    assert wall.loc["cpu", "stretches"] == 0 and math.isnan(wall.loc["cpu", "wall hours"])
    assert wall.loc["cpu", "untimed runs"] == 1


def test_rerun_reproduces_a_stored_run_exactly(smoke_store, tmp_path):
    """Acceptance (issue 6): one command re-trains a stored config and gets its metrics back
    bit for bit; a run whose stored numbers do not belong to its config is reported as different."""
    import json
    import shutil

    run_dir = next(d for d in smoke_store.run_dirs()
                   if json.loads((d / "record.json").read_text())["variant"] == "GCA[1]-sigmoid,True")
    out = _cli("rerun", str(run_dir), "--quiet", "--threads", "2", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "IDENTICAL" in out.stdout and "!=" not in out.stdout and "note:" not in out.stdout
    # the same stored ranks under another training seed: must not pass
    fake = tmp_path / "fake"
    shutil.copytree(run_dir, fake)
    rec = json.loads((fake / "record.json").read_text())
    rec["config"]["train"]["seed"] += 7
    # ... stored as if trained on a GPU to a time budget: the rerun says up front why it may differ
    rec["config"]["train"]["max_minutes"] = 5.0
    rec.update(stop_reason="time_budget", device="cuda (NVIDIA H200)")
    (fake / "record.json").write_text(json.dumps(rec))
    out = _cli("rerun", str(fake), "--quiet", timeout=300)
    assert out.returncode == 1 and "DIFFERENT" in out.stdout, out.stdout + out.stderr
    assert "5-minute training budget" in out.stdout and "trained on cuda (NVIDIA H200)" in out.stdout


def test_rerun_replay_trains_exactly_the_stored_epochs(smoke_store, tmp_path):
    """A run its time budget stopped comes back identical with --replay: the rerun trains exactly
    the epochs the stored run reached, whatever its config's epoch limit and budget say."""
    import json
    import shutil

    run_dir = next(d for d in smoke_store.run_dirs()
                   if json.loads((d / "record.json").read_text())["variant"] == "base")
    budgeted = tmp_path / "budgeted"
    shutil.copytree(run_dir, budgeted)
    rec = json.loads((budgeted / "record.json").read_text())
    assert rec["epochs_run"] >= 2
    # as if the budget had stopped it: its config allowed more epochs than it reached
    rec["config"]["train"].update(max_minutes=5.0, epochs=rec["epochs_run"] + 3, patience=0)
    rec["stop_reason"] = "time_budget"
    (budgeted / "record.json").write_text(json.dumps(rec))
    out = _cli("rerun", str(budgeted), "--quiet", "--replay", timeout=300)
    assert out.returncode == 0 and "IDENTICAL" in out.stdout, out.stdout + out.stderr
    assert f"replay: exactly {rec['epochs_run']} epochs, no time budget" in out.stdout
    assert f"now {rec['epochs_run']} run, epoch {rec['best_epoch']} selected" in out.stdout
    assert "training budget" not in out.stdout  # the budget note is for reruns that keep the budget
    # without a stored epoch count there is nothing to replay
    del rec["epochs_run"]
    (budgeted / "record.json").write_text(json.dumps(rec))
    out = _cli("rerun", str(budgeted), "--quiet", "--replay", timeout=300)
    assert out.returncode != 0 and "--replay needs the stored run's epochs_run" in out.stderr
    # a GPU asked for where torch sees none: a clear error before any training
    import torch

    if not torch.cuda.is_available():
        out = _cli("rerun", str(run_dir), "--quiet", "--device", "cuda", timeout=300)
        assert out.returncode != 0 and "--device cuda: torch sees no CUDA device" in out.stderr


def test_summary_tables_from_the_smoke_store(smoke_store):
    from gca_lite.experiments import summary as S
    from gca_lite.experiments.verdicts import verdict_frame

    runs = S.run_table(smoke_store)
    assert len(runs) == len(smoke_store.run_dirs()) and set(runs["device"]) == {"cpu"}
    cov = S.coverage(smoke_store)
    assert cov["runs"].sum() == len(runs)
    assert cov["hours"].sum() * 3600 == pytest.approx(runs["wall_seconds"].sum())
    # the paper's numbers concern afk/abe: the smoke store has none, so every row says so
    side = S.paper_vs_ours(smoke_store)
    assert len(side) and (side["setting"] == "(no run)").all() and side["ours"].isna().all()
    assert S.paper_vs_ours_wide(side).empty
    v = verdict_frame(smoke_store, n_boot=100)
    m = S.verdict_matrix(v, "synthetic-tiny")
    assert list(m["claim"]) == list(dict.fromkeys(v["claim"]))
    assert len(m.columns) == 1 + 2  # one setting x two protocols
    labels = S.setting_labels(smoke_store)
    assert set(labels.values()) == {"d16, 2 epochs"}


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


@pytest.mark.realdata
def test_real_grid_and_its_priority_order(shared_data):
    """Issue 6's grid: 28 configs x 2 datasets x 3 seeds (with the shuffled GCA[1]'s own matched
    base), and the runner's order puts complete paired seed-0 sets of both datasets first."""
    import importlib.util

    from gca_lite.config import config_hash
    from gca_lite.experiments import load_grid

    spec = importlib.util.spec_from_file_location("run_real", REPO / "experiments" / "run_real.py")
    run_real = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_real)
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


def test_training_length_flags_runs_cut_short(smoke_store, tmp_path):
    """summary.training_length (decision D17): r > 0 when runs that trained longer score higher
    within their variant, and a run selected far earlier than its same-seed peers is listed."""
    from gca_lite.experiments import summary as S

    root = tmp_path / "store"
    shutil.copytree(smoke_store.root, root)
    for folder in ResultsStore(root).run_dirs():
        rec = json.loads((folder / "record.json").read_text())
        epoch = 50 + 10 * rec["seed"]  # seed 1 trains longer and scores higher, in every variant
        if rec["seed"] == 1 and rec["variant"] == "base":
            epoch = 12  # ... except its base, stopped early
        rec["best_epoch"] = epoch
        for dom in ("A", "B"):
            rec["test"]["full"][f"{dom}/NDCG@10"] = epoch / 1000
        (folder / "record.json").write_text(json.dumps(rec))
    summary, short = S.training_length(root)
    row = summary.iloc[0]
    assert row["runs"] == 10 and row["runs in r"] == 10 and row["r (epoch, score)"] > 0.99
    assert list(short["variant"]) == ["base"] and short["seed"].tolist() == [1]
    assert short["same-seed median epoch"].iloc[0] == 60 and short["test NDCG@10"].iloc[0] == 0.012
    # verdicts that rest on that base say so; those that do not (or were not judged) stay silent
    from gca_lite.experiments.verdicts import verdict_frame

    noted = S.note_cut_short(verdict_frame(root, protocols=("full",), n_boot=50), short)
    with_note = set(noted.loc[noted["note"] != "", "claim"])
    # the smoke grid compares its two GCA variants with the base (seeds 0 and 1) in the first claim
    # and in the untied-target check; the ranking needs more variants, the |cos| rows use GCA runs
    # only, and the other claims have no runs here
    assert with_note == {"GCA variants improve NDCG@10 and AUC over the base model",
                         "check: the GCA gain over the base holds on test targets that do not share the "
                         "previous item's day (NDCG@10)"}
    assert (noted.loc[noted["note"] != "", "note"]
            == "rests partly on base seed 1, selected at epoch 12 against 60 for its same-seed peers (cut short)").all()


def test_p_values_print_without_a_false_zero():
    from gca_lite.experiments.report import _fmt_p

    assert [_fmt_p(p) for p in (math.nan, 0.0512, 0.001, 1 / 1001, 1e-4)] == ["", "0.051", "0.001", "<0.001", "<0.001"]


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
        (folder.parent / rec["config_hash"] / "record.json").write_text(json.dumps(rec))
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
    (changed / "record.json").write_text(json.dumps(rec))

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
    (twin / "record.json").write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="'dup'.*two time-budgeted configurations") as err:
        budget_runs({"dup": root})
    assert folder.name in str(err.value) and twin.name in str(err.value)


# ------------------------------------------------------------------ README's store figures
def _readme_counts():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_counts", REPO / "scripts" / "readme_counts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_quotes_what_the_committed_store_gives():
    """Every store figure of the README (counts, paired differences, noise, final verdicts) must be
    the one the committed store gives: a run committed without rewriting the README fails here."""
    out = subprocess.run([sys.executable, "scripts/readme_counts.py", "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr


def test_readme_check_names_a_stale_passage(tmp_path, monkeypatch):
    module = _readme_counts()
    readme = tmp_path / "README.md"
    readme.write_text("Compute in the store: 1.0 CPU hours for the lite runs\n", encoding="utf-8")
    monkeypatch.setattr(module, "REPO", tmp_path)
    monkeypatch.setattr(module, "passages", lambda: [(r"Compute in the store: [\d.]+ CPU hours for the lite runs",
                                                      "Compute in the store: 2.5 CPU hours for the lite runs")])
    assert module.main(["--check"]) == 1
    assert module.main(["--write"]) == 0
    assert "2.5 CPU hours" in readme.read_text(encoding="utf-8") and module.main(["--check"]) == 0


def test_readme_final_verdicts_name_only_judged_cells_on_complete_runs():
    import pandas as pd

    module = _readme_counts()
    frame = pd.DataFrame({
        "dataset": ["abe", "abe", "afk", "afk", "abe"], "setting": ["lite"] * 4 + ["paper, 7-min budget"],
        "protocol": ["full", "sampled", "full", "full", "full"],
        "claim": ["Each further module adds", "Each further module adds", "LayerNorm on helps", "Best variant",
                  "Each further module adds"],
        "verdict": ["not resolved", "partly", "reproduced (provisional)", "too few runs", "reproduced"]})
    from gca_lite.experiments import digest

    text = digest.final_verdicts(frame)
    assert text.startswith("**Final verdicts.** 2 of the 4 lite verdict cells")
    assert "abe, each further module adds: full *not resolved*, sampled *partly*" in text
    assert "afk" not in text  # provisional and "too few runs" cells are not final; paper cells are not lite
    assert "still *provisional*" in digest.final_verdicts(frame.iloc[2:4])
    assert module._minus("A -0.0015 [-0.0076, +0.0045], seeds 0-2") == "A −0.0015 [−0.0076, +0.0045], seeds 0-2"


def test_readme_run_lists_group_configurations_by_stored_seeds():
    import pandas as pd

    module = _readme_counts()
    progress = pd.DataFrame({
        "dataset": ["afk"] * 5 + ["abe"],
        "configuration": ["base", "GCA[1]-sigmoid,True", "GCA[2]-tanh,False", "GCA[0]-sigmoid,True",
                          "base, same-day shuffle", "base"],
        "stored": ["0,1,2", "0,1", "", "0,2", "0", "0,1,2"]})
    assert module.run_list(progress, "afk") == ("base: seeds 0-2; GCA[1]-sigmoid,True: seeds 0-1; "
                                                "GCA[0]-sigmoid,True: seeds 0, 2; on same-day-shuffled data, base: seed 0")


# ------------------------------------------------------------------ computed prose (digest)
class _FakeContext:
    """A verdicts.Context stand-in whose comparisons are given."""

    def __init__(self, comps):
        self.dataset, self.setting, self.comps, self.cos = "afk", "lite", comps, []
        self.groups = {v: types.SimpleNamespace(seeds=[0, 1, 2]) for v in ("base", *{k[0] for k in comps})}

    def compare(self, first, second, protocol, dom, metric, n_boot):
        return self.comps.get((first, second, protocol, dom, metric))


def _digest_comp(diff, lo, hi, lo_users, hi_users, seeds=3):
    return {"diff": diff, "lo": lo, "hi": hi, "lo_users": lo_users, "hi_users": hi_users,
            "per_seed": [diff] * seeds}


def test_digest_resolves_only_on_the_interval_with_retraining():
    import pandas as pd

    from gca_lite.experiments import digest

    gca1, gca00 = "GCA[1]-sigmoid,True", "GCA[0,0]-sigmoid,True"
    comps = {(gca1, "base", "full", 0, "NDCG@10"): _digest_comp(0.004, -0.001, 0.009, 0.002, 0.006),
             (gca1, "base", "full", 1, "NDCG@10"): _digest_comp(-0.001, -0.004, 0.002, -0.003, 0.001),
             (gca00, "base", "sampled", 1, "NDCG@10"): _digest_comp(0.006, 0.001, 0.011, 0.003, 0.009, 2)}
    ctx = _FakeContext(comps)
    assert digest.against_base(ctx, "NDCG@10") == ["GCA[0,0] sampled B +0.0060 [+0.0010, +0.0110] (2 seeds)"]
    assert len(digest.against_base(ctx, "NDCG@10", users_only=True)) == 2
    text = " ".join(digest.findings(ctx, pd.DataFrame(), pd.DataFrame()))
    # the users-only interval is quoted where it alone would resolve the difference
    assert text.startswith("Paired test NDCG@10, full ranking: GCA[1] − base: A +0.0040 [-0.0010, +0.0090] "
                           "(users only [+0.0020, +0.0060]), B -0.0010 [-0.0040, +0.0020].")
    assert "Resolved AUC differences of a GCA variant from the base (both protocols): none." in text
    assert digest.seeds_label("0,2") == "seeds 0, 2" and digest.seeds_label("3") == "seed 3"


def test_contrasts_pair_layernorm_settings_and_draw_only_full_scaling_series():
    import pandas as pd

    from gca_lite.experiments.contrasts import layernorm_frame, scaling_points

    on, off, lone = "GCA[0]-sigmoid,True", "GCA[0]-sigmoid,False", "GCA[2]-tanh,True"
    comps = {(on, off, "full", 0, "NDCG@10"): _digest_comp(0.005, 0.001, 0.009, 0.002, 0.008),
             (on, off, "full", 1, "NDCG@10"): _digest_comp(-0.001, -0.004, 0.002, -0.003, 0.001)}
    ctx = _FakeContext(comps)
    ctx.groups.update({off: ctx.groups["base"], lone: ctx.groups["base"]})
    ln = layernorm_frame([ctx], protocols=("full",))
    assert ln[["point", "gate", "domain", "resolved"]].values.tolist() == [["[0]", "sigmoid", "A", True],
                                                                          ["[0]", "sigmoid", "B", False]]
    assert ln["on − off"].iloc[0] == "+0.0050 [+0.0010, +0.0090]"  # the GCA[2] without its twin is left out

    def row(variant, params, seeds=3):
        return {"dataset": "afk", "setting": "h", "setting_label": "lite", "protocol": "full", "metric": "NDCG@10",
                "variant": variant, "n_parameters": params, "domain": "A", "mean": 0.04, "ci_lo": 0.03,
                "ci_hi": 0.05, "n_seeds": seeds}
    frame = pd.DataFrame([row("base", 100), row("base~1xGCA,True", 110), row("GCA[0]-sigmoid,True", 110),
                          row("GCA[0,0]-sigmoid,True", 120, seeds=2), row("GCA[1]-sigmoid,True", 110)])
    pts = scaling_points(frame, "afk", "lite")
    assert set(pts["series"]) == {"GCA_early", "base and matched enlargements"}  # GCA_stack has one point
    assert "GCA[0,0]-sigmoid,True (2 seeds)" in set(pts["variant"]) and "GCA[1]-sigmoid,True" not in set(pts["variant"])
    assert scaling_points(frame[frame["variant"].str.startswith("base")], "afk", "lite").empty


def test_orthogonality_points_pair_each_runs_cos_with_its_score(monkeypatch):
    import numpy as np

    import gca_lite.experiments.report as report
    from gca_lite.experiments.contrasts import orthogonality_points

    ctx = types.SimpleNamespace(groups={"GCA[1]-sigmoid,True": types.SimpleNamespace(seeds=[0, 1])},
                                cos=[("GCA[1]-sigmoid,True", 0, {"A": 0.3, "B": 0.2}),
                                     ("GCA[1]-sigmoid,True", 5, {"A": 0.1}),   # a seed the group lacks
                                     ("GCA[2]-tanh,True", 0, {"A": 0.4})])   # a variant the context lacks
    monkeypatch.setattr(report, "_seed_avg", lambda g, seeds, protocol, dom, metric: np.array([0.05, 0.07]) + dom)
    pts = orthogonality_points(ctx)
    assert pts[["seed", "domain", "abs_cos"]].values.tolist() == [[0, "A", 0.3], [0, "B", 0.2]]
    assert pts["NDCG@10"].tolist() == pytest.approx([0.06, 1.06])
