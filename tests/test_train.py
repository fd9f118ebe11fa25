"""The trainer: determinism, separate RNG streams, the result record and the train CLI."""

import dataclasses
import json

import numpy as np
import pytest

from gca_lite.cli import main
from gca_lite.config import ConfigError, DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from gca_lite.results import CorruptRecord, read_run, write_run
from gca_lite.train import run

TINY = RunConfig(
    data=DataConfig(dataset="synthetic-tiny"),
    model=ModelConfig(d=16, n_heads=2, ffn_hidden=32, rank_d=4, rank_i=4, dropout=0.1, gca_points=(1,)),
    train=TrainConfig(epochs=2, patience=2, batch_size=64, n_neg=32, lr=1e-3),
    eval=EvalConfig(n_candidates=99, probe_users=32),
)


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    return run(TINY, progress=False, cache_dir=tmp_path_factory.mktemp("cands"))


def test_same_config_and_seed_give_identical_metrics(tiny_result, tmp_path):
    again = run(TINY, progress=False, cache_dir=tmp_path)
    assert again.record["test"] == tiny_result.record["test"]
    for p in ("full", "sampled"):
        assert np.array_equal(again.test_counts[p].greater, tiny_result.test_counts[p].greater)


def test_other_seed_changes_training_but_not_candidates(tiny_result, tmp_path):
    other = run(dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, seed=1)), progress=False,
                cache_dir=tmp_path)
    assert other.record["test"] != tiny_result.record["test"]
    # the sampled candidate sets are shared by every model: same number of candidates per user
    assert np.array_equal(other.test_counts["sampled"].n_candidates, tiny_result.test_counts["sampled"].n_candidates)


def test_record_contents(tiny_result):
    rec = tiny_result.record
    assert rec["variant"] == "GCA[1]-sigmoid,True"
    for key in ("config", "config_hash", "code_version", "data_checksum", "seed", "n_parameters",
                "peak_rss_mb", "epoch_seconds_mean", "history", "orthogonality", "machine"):
        assert key in rec, key
    assert set(rec["test"]) == {"full", "sampled"}
    assert 0 <= rec["test"]["sampled"]["A/AUC"] <= 1
    assert set(rec["orthogonality"]) == {"GCA[1]/A", "GCA[1]/B"}
    assert 0 <= rec["orthogonality"]["GCA[1]/A"]["abs_cos"] <= 1
    assert all("orthogonality" in h for h in rec["history"])  # trajectory over epochs
    n_users = rec["test"]["full"]["A/n"] + rec["test"]["full"]["B/n"]
    assert len(tiny_result.test_counts["full"].greater) == n_users
    json.dumps(rec)  # JSON-ready


def test_results_roundtrip_and_corruption(tiny_result, tmp_path):
    write_run(tmp_path, tiny_result.record, tiny_result.test_counts, tiny_result.test_domain)
    rec, counts, domain = read_run(tmp_path)
    assert rec["test"] == tiny_result.record["test"]
    assert np.array_equal(counts["full"].equal, tiny_result.test_counts["full"].equal)
    blob = (tmp_path / "ranks.npz").read_bytes()
    (tmp_path / "ranks.npz").write_bytes(blob[:-10])
    with pytest.raises(CorruptRecord, match="ranks.npz"):
        read_run(tmp_path)


def test_bad_config_is_a_clear_error():
    bad = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, neg_mode="everywhere"))
    with pytest.raises(ConfigError, match="train.neg_mode"):
        run(bad, progress=False)


def test_train_cli_writes_record(tmp_path, capsys):
    args = ["train", "synthetic-tiny", "--d", "16", "--ffn", "32", "--rank-d", "4", "--rank-i", "4",
            "--epochs", "1", "--gca", "0,2", "--gate", "tanh", "--no-layernorm", "--n-candidates", "49",
            "--batch-size", "64", "--out", str(tmp_path / "run"), "--quiet"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["variant"] == "GCA[0,2]-tanh,False"
    rec, counts, _ = read_run(tmp_path / "run")
    assert rec["config"]["model"]["gca_points"] == [0, 2]
    assert set(counts) == {"full", "sampled"}


def test_train_cli_match_params(tmp_path, capsys):
    args = ["train", "synthetic-tiny", "--d", "16", "--ffn", "32", "--rank-d", "4", "--rank-i", "4",
            "--epochs", "1", "--gca", "1", "--match-params", "--n-candidates", "49", "--out",
            str(tmp_path / "m"), "--quiet"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["variant"] == "base~1xGCA,True"
    assert main(["train", "synthetic-tiny", "--match-params", "--out", str(tmp_path / "x")]) == 2
    assert "--match-params needs a GCA variant" in capsys.readouterr().err


def test_code_version_covers_the_result_sources():
    """Every name in RESULT_SOURCES exists (a rename would silently drop it from the hash), and the
    hash covers model and training code but not reporting code."""
    from pathlib import Path

    from gca_lite import provenance

    package = Path(provenance.__file__).parent
    for name in provenance.RESULT_SOURCES:
        assert (package / name).exists(), name
    assert "experiments" not in provenance.RESULT_SOURCES and "figures.py" not in provenance.RESULT_SOURCES
    assert provenance.code_version().startswith("0.") and len(provenance.source_hash()) == 12


def test_min_epochs_holds_off_early_stopping(tmp_path):
    """patience 1 with a validation score that cannot improve every epoch stops early, unless
    min_epochs says not yet; the selected checkpoint is still the best validation epoch."""
    quick = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, epochs=10, patience=1, lr=3e-2))
    free = run(quick, progress=False, cache_dir=tmp_path)
    stop = free.record["epochs_run"]
    assert free.record["stop_reason"] == "early_stopping" and stop < 10
    held = run(dataclasses.replace(quick, train=dataclasses.replace(quick.train, min_epochs=stop + 1)),
               progress=False, cache_dir=tmp_path)
    assert held.record["epochs_run"] >= stop + 1
    scores = [h["valid"]["full"]["A/MRR"] + h["valid"]["full"]["B/MRR"] for h in held.record["history"]]
    assert held.record["best_epoch"] == 1 + int(np.argmax(scores))
    # the runs agree epoch by epoch up to the free run's stop: the guard changes nothing else
    assert held.record["history"][:free.record["epochs_run"]] == [
        {**h, "train_seconds": g["train_seconds"], "eval_seconds": g.get("eval_seconds")}
        for h, g in zip(free.record["history"], held.record["history"])]


def test_added_config_fields_keep_old_hashes():
    """A field added after runs were stored leaves every hash at its old value while at its
    default (the stored runs stay found); a non-default value makes a new config."""
    from gca_lite.config import config_hash, preset

    assert config_hash(RunConfig()) == "a6b74900c3c8d4ca"  # computed before train.min_epochs existed
    old_lite = dataclasses.replace(preset("lite", "afk"), train=dataclasses.replace(
        preset("lite", "afk").train, min_epochs=0))
    assert config_hash(old_lite) == "be5401a01b074bd3"  # afk lite base, seed 0, stored before the field
    assert config_hash(preset("lite", "afk")) != config_hash(old_lite)


def test_source_hash_ignores_comments_docstrings_and_formatting():
    """The code version is the normalised source: a docstring, comment or re-wrapped line leaves it
    equal; a change of behaviour (a value, a statement) alters it."""
    from gca_lite.provenance import normalised_source

    src = 'def f(x):\n    """Doc."""\n    return x + 1  # one\n'
    same = ("# header\ndef f(x):\n    '''Another docstring,\n    two lines.'''\n\n"
            "    return (x +\n            1)\n")
    assert normalised_source(src) == normalised_source(same)
    assert normalised_source(src) != normalised_source(src.replace("x + 1", "x + 2"))
    assert normalised_source(src) != normalised_source(src.replace("return x + 1", "y = x\n    return y + 1"))
    cls = 'class A:\n    "doc"\n    n = 1\n'
    assert normalised_source(cls) == normalised_source('class A:\n    """Other doc."""\n\n    n = 1\n')
    assert normalised_source(cls) != normalised_source(cls.replace("n = 1", "n = 2"))
