"""The results store and the sweeps that fill it: locks, resumption after a kill, --max-runs, the Dask
cluster, corrupt records, and the one-command rerun that gets a stored run back bit for bit.

The training tests share the session's smoke sweep (``smoke_store`` in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from gca_lite.config import preset
from gca_lite.experiments import (ResultsStore, RunLock, StoreWarning, config_from_dict, load_grid, normalize,
                                  run_or_load, sweep)
from gca_lite.experiments.sweep import run_task

from conftest import METRIC_COLS, REPO, SMOKE, _cli, _metrics, _mtimes, _summary


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


def _forge(folder, rec: dict) -> None:
    """Store an edited record as a careful forger would: the config hash and the content checksum
    recomputed, so only training it again can tell (the store's checks cannot)."""
    from gca_lite.experiments.grid import config_from_dict
    from gca_lite.results import rewrite_record

    rec["config_hash"] = ResultsStore.key(config_from_dict(rec["config"]))
    rewrite_record(folder, rec)


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
    _forge(fake, rec)
    out = _cli("rerun", str(fake), "--quiet", timeout=300)
    assert out.returncode == 1 and "DIFFERENT" in out.stdout, out.stdout + out.stderr
    assert "5-minute training budget" in out.stdout and "trained on cuda (NVIDIA H200)" in out.stdout


def test_rerun_of_a_sealed_store_compares_everything_and_prints_no_test_value(smoke_store, tmp_path):
    """A v2 run rerun before the reading choice (book/preregistration.md): same verdict, values hidden."""
    import json
    import re
    import shutil

    from gca_lite.experiments.prereg import SEAL

    run_dir = next(d for d in smoke_store.run_dirs()
                   if json.loads((d / "record.json").read_text())["variant"] == "GCA[1]-sigmoid,True")
    copy = tmp_path / "store" / run_dir.parent.name / run_dir.name
    shutil.copytree(run_dir, copy)
    (tmp_path / "store" / SEAL).write_text("{}")
    out = _cli("rerun", str(copy), "--quiet", "--threads", "2", timeout=300)
    assert out.returncode == 0 and "IDENTICAL" in out.stdout, out.stdout + out.stderr
    metric_lines = [line for line in out.stdout.splitlines() if "NDCG@10" in line or "AUC" in line]
    assert metric_lines and all("stored (sealed) == now (sealed)" in line for line in metric_lines)
    assert not any(re.search(r"\d\.\d{4}", line) for line in metric_lines)


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
    _forge(budgeted, rec)
    out = _cli("rerun", str(budgeted), "--quiet", "--replay", timeout=300)
    assert out.returncode == 0 and "IDENTICAL" in out.stdout, out.stdout + out.stderr
    assert f"replay: exactly {rec['epochs_run']} epochs, no time budget" in out.stdout
    assert f"now {rec['epochs_run']} run, epoch {rec['best_epoch']} selected" in out.stdout
    assert "training budget" not in out.stdout  # the budget note is for reruns that keep the budget
    # without a stored epoch count there is nothing to replay
    del rec["epochs_run"]
    _forge(budgeted, rec)
    out = _cli("rerun", str(budgeted), "--quiet", "--replay", timeout=300)
    assert out.returncode != 0 and "--replay needs the stored run's epochs_run" in out.stderr
    # a GPU asked for where torch sees none: a clear error before any training
    import torch

    if not torch.cuda.is_available():
        out = _cli("rerun", str(run_dir), "--quiet", "--device", "cuda", timeout=300)
        assert out.returncode != 0 and "--device cuda: torch sees no CUDA device" in out.stderr
