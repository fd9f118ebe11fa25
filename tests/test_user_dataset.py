"""Issue 26, items 7, 11 and 13: a user's own dataset from raw rating CSVs goes through
``data preprocess`` -> ``data stats`` -> ``train`` -> a sweep grid -> a book chapter; the book
builder resolves relative paths against the shell's directory and never builds from failed
notebooks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from gca_lite.cli import main

from conftest import REPO

BUILD_SCRIPT = REPO / "scripts" / "build_book.py"
TINY = ["--d", "16", "--ffn", "32", "--rank-d", "4", "--rank-i", "4", "--epochs", "2", "--patience", "2",
        "--n-candidates", "9", "--n-neg", "8", "--quiet"]


def _build_module():
    spec = importlib.util.spec_from_file_location("build_book_under_test", BUILD_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def raw_ratings(folder: Path, n_users: int = 60, n_items: int = 25, seed: int = 0) -> tuple[Path, Path]:
    """Two raw Amazon-style rating CSVs (``user,item,rating,timestamp``, no header), seeded: the
    preprocess fixture's format at a size a model can train on."""
    rng = np.random.default_rng(seed)
    paths = []
    for domain in ("a", "b"):
        rows = [f"u{u},{domain}{rng.integers(n_items)},5.0,{rng.integers(10**6)}"
                for u in range(n_users) for _ in range(int(rng.integers(6, 12)))]
        path = folder / f"ratings_{domain.upper()}.csv"
        path.write_text("\n".join(rows) + "\n")
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture
def mine(tmp_path, capsys) -> Path:
    """``data preprocess`` output for dataset ``mine`` in tmp_path/data."""
    a, b = raw_ratings(tmp_path)
    assert main(["data", "preprocess", "--csv-a", str(a), "--csv-b", str(b), "--name", "mine",
                 "--out", str(tmp_path / "data"), "--k-item", "2", "--k-user", "2"]) == 0
    assert "gca-lite data stats mine --data-dir" in capsys.readouterr().out
    return tmp_path / "data"


def test_own_dataset_end_to_end(mine, tmp_path, capsys):
    assert main(["data", "stats", "mine", "--data-dir", str(mine), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["users"] == 60 and stats["items_a"] > 0 and stats["items_b"] > 0
    assert main(["train", "mine", "--data-dir", str(mine), *TINY, "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert record["dataset"] == "mine" and record["test"]["full"]["A/n"] + record["test"]["full"]["B/n"] == 60
    grid = tmp_path / "g.yaml"
    grid.write_text(yaml.safe_dump({"base": {"dataset": "mine", "model": {"d": 16, "ffn_hidden": 32},
                                             "train": {"epochs": 1, "n_neg": 8}, "eval": {"n_candidates": 9}}}))
    assert main(["sweep", str(grid), "--store", str(tmp_path / "s"), "--data-dir", str(mine), "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith("missing")
    assert main(["sweep", str(grid), "--store", str(tmp_path / "s"), "--data-dir", str(mine), "--workers", "1",
                 "--quiet"]) == 0
    assert "1 trained" in capsys.readouterr().out and list((tmp_path / "s" / "mine").glob("*/record.json"))


def test_unknown_own_dataset_says_how_to_make_one(tmp_path, capsys):
    assert main(["data", "stats", "mine", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'mine'" in err and "data preprocess --name mine" in err


@pytest.mark.parametrize("name", ["../up", "a b", "afk", "synthetic-mine"])
def test_preprocess_name_must_be_a_new_plain_name(tmp_path, capsys, name):
    a, b = raw_ratings(tmp_path)
    code = main(["data", "preprocess", "--csv-a", str(a), "--csv-b", str(b), "--name", name,
                 "--out", str(tmp_path / "data")])
    assert code == 2 and f"--name {name}" in capsys.readouterr().err


@pytest.mark.slow
def test_own_dataset_as_a_book_chapter(mine, tmp_path, monkeypatch):
    """``--param dataset=FOLDER``, relative to the shell's directory: the data chapter of ``mine``."""
    monkeypatch.chdir(tmp_path)
    build = _build_module()
    assert build.main(["--only", "data", "--no-build", "--param", "dataset=data", "--root", "book"]) == 0
    nb = json.loads((tmp_path / "book" / "book" / "generated" / "data.ipynb").read_text())
    text = json.dumps(nb)
    assert "'mine'" in text and str(mine) in text and build.failed_notebooks(tmp_path / "book" / "book" /
                                                                             "generated") == []


# ---------------------------------------------------------------- item 11: relative paths
def test_relative_path_parameters_resolve_against_the_shell(tmp_path, mine):
    build = _build_module()
    got = build.resolve_paths({"data_dir": "d", "store": "../s", "results_store": "/abs", "grid": "",
                               "seed": 1}, cwd=tmp_path)
    assert got == {"data_dir": str(tmp_path / "d"), "store": str(tmp_path.parent / "s"), "results_store": "/abs",
                   "grid": "", "seed": 1}
    assert build.resolve_paths({"dataset": "data"}, cwd=tmp_path) == {"dataset": "mine", "data_dir": str(mine)}
    assert build.resolve_paths({"dataset": "afk"}, cwd=tmp_path) == {"dataset": "afk"}  # a name stays a name
    with pytest.raises(build.BuildError, match="dataset=nowhere/x"):
        build.resolve_paths({"dataset": "nowhere/x"}, cwd=tmp_path)


# ---------------------------------------------------------------- item 7: failed notebooks
def _notebook(path: Path, outputs: list, meta: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": meta or {}, "outputs": outputs,
                                           "source": "", "execution_count": 1}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def test_no_execute_never_builds_from_failed_notebooks(tmp_path, capsys, monkeypatch):
    build = _build_module()
    for name in ("_config.yml", "_toc.yml"):
        (tmp_path / name).write_text((REPO / name).read_text())
    monkeypatch.setattr(build, "check_toc_sources", lambda root: None)
    monkeypatch.setattr(build, "jupyter_book_exe", lambda: pytest.fail("built a book from a failed notebook"))
    gen = tmp_path / "book" / "generated"
    _notebook(gen / "data.ipynb", [{"output_type": "stream", "name": "stdout", "text": "ok"}])
    _notebook(gen / "scaling.ipynb", [{"output_type": "error", "ename": "ValueError", "evalue": "x",
                                       "traceback": []}])
    _notebook(gen / "protocols.ipynb", [], {"papermill": {"status": "pending"}})  # killed mid-run
    assert build.failed_notebooks(gen) == ["protocols", "scaling"]
    assert build.main(["--no-execute", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "protocols, scaling failed or did not finish" in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_in_the_book_builder_is_one_line(monkeypatch, capsys):
    build = _build_module()

    def interrupted(only):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "select", interrupted)
    assert build.main(["--no-build"]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("build_book: interrupted") and len(err.splitlines()) == 1
