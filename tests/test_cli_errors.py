"""Issue 26: every error path of the command line is one line naming the file, flag or parameter,
exit status 2 (usage) or 1 (runtime), no traceback unless --debug; bad values fail before training."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from gca_lite.cli import main

from conftest import REPO, SMOKE

TINY = ["--d", "16", "--ffn", "32", "--rank-d", "4", "--rank-i", "4", "--epochs", "2", "--n-candidates", "9",
        "--n-neg", "8", "--quiet"]


@pytest.fixture
def no_training(monkeypatch):
    import gca_lite.train

    def boom(*args, **kwargs):
        raise AssertionError("trained although the command was bound to fail")

    monkeypatch.setattr(gca_lite.train, "run", boom)


def _fails(capsys, args: list[str], code: int, *named: str) -> str:
    """Run the CLI in-process; assert exit ``code`` and one stderr line holding every ``named``."""
    try:
        got = main(args)
    except SystemExit as e:  # argparse's own usage errors
        got = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if not line.startswith("usage:")
             and not line.startswith("  ")]  # argparse prints its usage lines before the error
    assert got == code, f"exit {got}, expected {code}: {err}"
    assert len(lines) == 1 and "Traceback" not in err, err
    for text in named:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"
    return lines[0]


# ---------------------------------------------------------------- item 3: train --out
def test_train_out_that_cannot_be_written_fails_before_training(tmp_path, capsys, no_training):
    (tmp_path / "file").write_text("in the way")
    _fails(capsys, ["train", "synthetic-tiny", *TINY, "--out", str(tmp_path / "file" / "run")], 1,
           "--out", str(tmp_path / "file" / "run"), "cannot write")


# ---------------------------------------------------------------- item 8: one-line errors
def test_store_that_is_a_file(tmp_path, capsys):
    (tmp_path / "store").write_text("")
    for cmd in (["sweep", str(SMOKE)], ["report"]):
        _fails(capsys, [*cmd, "--store", str(tmp_path / "store")], 2, "--store", "is a file")


def test_store_that_cannot_be_written(capsys):
    _fails(capsys, ["sweep", str(SMOKE), "--store", "/proc/gca-lite-store"], 1, "--store /proc/gca-lite-store",
           "cannot write")


def test_report_export_that_cannot_be_written(smoke_store, capsys):
    _fails(capsys, ["report", "--store", str(smoke_store.root), "--export", "/proc/gca-lite/export"], 1,
           "--export", "cannot write")


def test_download_into_a_file(tmp_path, capsys):
    (tmp_path / "afk").write_text("not a folder")
    _fails(capsys, ["data", "download", "afk", "--data-dir", str(tmp_path)], 1, str(tmp_path / "afk"),
           "is a file")


@pytest.mark.parametrize("args, flag", [
    (["sweep", str(SMOKE), "--threads", "-1"], "--threads"),
    (["sweep", str(SMOKE), "--workers", "0"], "--workers"),
    (["sweep", str(SMOKE), "--max-runs", "-1"], "--max-runs"),  # item 10
    (["report", "--n-boot", "0"], "--n-boot"),
    (["rerun", "x", "--threads=-1"], "--threads"),
    (["data", "stats", "synthetic-tiny", "--shuffle-ties", "-1"], "--shuffle-ties"),
])
def test_count_flags_must_be_positive(capsys, args, flag):
    _fails(capsys, args, 2, flag)


def test_rerun_device_must_exist(smoke_store, capsys, no_training):
    run = smoke_store.run_dirs()[0]
    _fails(capsys, ["rerun", str(run), "--device", "tpu"], 2, "--device tpu")


def test_rerun_of_a_folder_without_a_record(tmp_path, capsys):
    _fails(capsys, ["rerun", str(tmp_path)], 1, str(tmp_path), "not a run folder")


def test_unreachable_scheduler(tmp_path, capsys, monkeypatch):
    import importlib

    monkeypatch.setattr(importlib.import_module("gca_lite.experiments.sweep"), "CONNECT_TIMEOUT", "1s")
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({"base": {"dataset": "synthetic-tiny", "train.epochs": 1}}))
    _fails(capsys, ["sweep", str(grid), "--store", str(tmp_path / "s"), "--quiet",
                    "--scheduler", "tcp://127.0.0.1:1"], 1, "--scheduler tcp://127.0.0.1:1", "cannot connect")


def test_closed_pipe_is_quiet():
    out = subprocess.run(f"{sys.executable} -m gca_lite.cli sweep {SMOKE} --store /nonexistent-store --dry-run "
                         "| head -1", shell=True, capture_output=True, text=True, cwd=REPO)
    assert out.stdout.startswith("missing") and out.stderr == "", out.stderr


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    import gca_lite.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gca_lite.train, "run", interrupted)
    _fails(capsys, ["train", "synthetic-tiny", *TINY, "--out", "/tmp/never-written"], 130, "interrupted")


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError):
        main(["--debug", "sweep", str(tmp_path / "missing.yaml"), "--dry-run"])
    with pytest.raises(ValueError):
        main(["sweep", str(tmp_path / "missing.yaml"), "--dry-run", "--debug"])


def test_unexpected_errors_are_one_line_too(monkeypatch, capsys):
    import gca_lite.data

    def bug(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(gca_lite.data, "load_dataset", bug)
    line = _fails(capsys, ["data", "stats", "synthetic-tiny"], 1, "TypeError: a bug", "--debug")
    assert line.startswith("gca-lite: error: ")


# ---------------------------------------------------------------- item 9: bad values, early and by flag
@pytest.mark.parametrize("args, flag", [
    (["--alpha-init", "nan"], "--alpha-init"),
    (["--alpha-init", "inf"], "--alpha-init"),  # item 10: would write Infinity into record.json
    (["--lr", "inf"], "--lr"),
    (["--lr", "1e30"], "--lr"),
    (["--tie-shuffle=-1"], "--tie-shuffle"),
    (["--epochs", "1", "--warmup", "1000"], "--warmup"),  # item 10: never validated
    (["--dropout", "1.5"], "--dropout"),
    (["--n-candidates", "999"], "--n-candidates"),  # the default on a tiny dataset
    (["--n-neg", "5000"], "--n-neg"),
])
def test_bad_train_values_name_their_flag_before_training(capsys, no_training, tmp_path, args, flag):
    # a flag given twice: argparse keeps the last value, so ``args`` override TINY's
    _fails(capsys, ["train", "synthetic-tiny", *TINY, *args, "--out", str(tmp_path / "r")], 2, flag)


def test_train_defaults_on_a_tiny_dataset_name_the_flag(capsys, no_training, tmp_path):
    _fails(capsys, ["train", "synthetic-tiny", "--out", str(tmp_path / "r")], 2, "--n-candidates 999")


# ---------------------------------------------------------------- item 10: grids accepted silently
@pytest.mark.parametrize("text, problem", [
    ("base: {dataset: synthetic-tiny}\ngrid: []\n", "no configs"),
    ("base: {dataset: synthetic-tiny}\ngrid: {train.seed: [0, 1]}\ngrid: {model.d: [16]}\n", "'grid' appears twice"),
])
def test_grid_mistakes_are_errors(tmp_path, capsys, text, problem):
    grid = tmp_path / "g.yaml"
    grid.write_text(text)
    _fails(capsys, ["sweep", str(grid), "--store", str(tmp_path / "s"), "--dry-run"], 2, str(grid), problem)


def test_busy_configs_make_the_sweep_incomplete(tmp_path, capsys):
    """A config locked by another worker is not stored: the sweep must not exit 0 as if done."""
    from gca_lite.experiments import ResultsStore, load_grid

    grid = tmp_path / "g.yaml"
    spec = yaml.safe_load(SMOKE.read_text())
    spec.pop("matched_bases"), spec.pop("include")
    grid.write_text(yaml.safe_dump({**spec, "grid": {"train.seed": [0]}}))
    store = ResultsStore(tmp_path / "s")
    (cfg,) = load_grid(grid)
    with store.lock(cfg) as got:
        assert got
        code = main(["sweep", str(grid), "--store", str(store.root), "--workers", "1", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and "1 busy" in out and "locked by another worker" in err and not store.has(cfg)
