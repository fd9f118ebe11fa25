"""The book build the book tests share: one session-scoped copy of the book sources with every
notebook executed by papermill (``book_root``: real data from the committed stores, nothing trained),
the training path executed apart on synthetic-tiny (``train_root``), and the HTML Jupyter Book
renders from the first (``built_html``). Built in temporary folders, so the working tree's
``book/generated`` and ``_build`` are left alone. ``conftest.py`` registers the fixtures; the tests
are ``test_book.py`` (notebooks, build), ``test_book_train.py`` (the training path) and
``test_book_browser.py`` (the pages in Chromium).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "scripts" / "build_book.py"
VENDOR_FILES = ("plotly.min.js", "require.js", "jupyter-widgets/embed-amd.js", "mathjax/tex-svg.js")
TINY = {"dataset": "synthetic-tiny", "seed": 0}
#: Parameters of the result chapters for the tests: a tiny model, 2 epochs, one training seed.
TINY_RESULTS = {"epochs": 2, "seeds": [0],
                "overrides": {"model.d": 16, "model.ffn_hidden": 32, "model.rank_d": 4, "model.rank_i": 4,
                              "train.batch_size": 64, "train.n_neg": 32, "eval.n_candidates": 99,
                              "eval.probe_users": 64}}
RESULT_CHAPTERS = ("gca_variants", "orthogonality", "scaling", "protocols", "explorer")



def _load_build_module():
    spec = importlib.util.spec_from_file_location("build_book", BUILD_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BUILD_SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def _toc_pages(root: Path) -> list[str]:
    """Document names in _toc.yml order (root first)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for e in entries:
            if "file" in e:
                pages.append(e["file"])
            walk(e.get("sections", []))

    walk(toc.get("chapters", []))
    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return pages


def _load_record(book_root: Path) -> dict:
    from gca_lite.book import read_record

    return read_record(book_root / "book" / "generated" / "data.ipynb")




# ----------------------------------------------------------------------------- fixtures
def _copy_sources(root: Path) -> None:
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book",
                    ignore=shutil.ignore_patterns("generated", "_build", ".ipynb_checkpoints"))
    # the chapters read a snapshot of results/, so a sweep storing runs meanwhile cannot make
    # a page and the test count different stores
    for store in ("results", "results_v2"):
        shutil.copytree(REPO / store, root / store, ignore=shutil.ignore_patterns("_cache", "lock"))


def _params(params: dict) -> list[str]:
    return [a for k, v in params.items() for a in ("--param", f"{k}={v if isinstance(v, str) else json.dumps(v)}")]


@pytest.fixture(scope="session")
def book_root(tmp_path_factory) -> Path:
    """A copy of the book sources with the vendored JS, every notebook executed with its defaults
    (real data from the committed store and summaries, nothing trained; fewer bootstrap resamples)."""
    if not all((REPO / "book" / "_vendor" / f).is_file() for f in VENDOR_FILES):
        proc = subprocess.run(["bash", str(REPO / "scripts" / "vendor_assets.sh")], cwd=REPO,
                              capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})
        assert proc.returncode == 0, f"scripts/vendor_assets.sh failed:\n{proc.stdout}\n{proc.stderr}"
    root = tmp_path_factory.mktemp("book")
    _copy_sources(root)
    snapshot = {"results_store": str(root / "results")}
    chapters = [n for n in ("data", *RESULT_CHAPTERS)]
    proc = _run("--root", str(root), "--no-build", *sum((["--only", n] for n in chapters), []),
                *_params({**snapshot, "n_boot": 100}))
    assert proc.returncode == 0, f"build_book.py (execute) failed:\n{proc.stdout}\n{proc.stderr}"
    proc = _run("--root", str(root), "--no-build", "--only", "results", "--only", "results_appendix",
                *_params({**snapshot, "v2_store": str(root / "results_v2")}))
    assert proc.returncode == 0, f"build_book.py (results) failed:\n{proc.stdout}\n{proc.stderr}"
    return root


@pytest.fixture(scope="session")
def train_root(tmp_path_factory) -> Path:
    """The training path: data and result chapters executed with ``source=train`` on synthetic-tiny,
    a tiny model, 2 epochs, one seed, one results store shared by all chapters."""
    root = tmp_path_factory.mktemp("book-train")
    _copy_sources(root)
    params = {"source": "train", **TINY, **TINY_RESULTS, "store": str(root / "store")}
    proc = _run("--root", str(root), "--no-build", *sum((["--only", n] for n in ("data", *RESULT_CHAPTERS)), []),
                *_params(params))
    assert proc.returncode == 0, f"build_book.py (execute, source=train) failed:\n{proc.stdout}\n{proc.stderr}"
    return root


@pytest.fixture(scope="session")
def built_html(book_root: Path) -> Path:
    proc = _run("--root", str(book_root), "--no-execute")
    assert proc.returncode == 0, f"jupyter-book build failed:\n{proc.stdout}\n{proc.stderr}"
    html = book_root / "_build" / "html"
    assert (html / "index.html").is_file()
    return html


def _chapter(book_root: Path, name: str) -> tuple[dict, dict]:
    """(record, executed notebook JSON) of a result chapter; asserts it ran without errors."""
    from gca_lite.book import read_record

    path = book_root / "book" / "generated" / f"{name}.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"], f"{name} has error outputs"
    rec = read_record(path)
    html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    for div_id in rec["figures"]:
        assert f'id="{div_id}"' in html, f"{name}: figure {div_id} missing from the outputs"
    assert "cdn.plot.ly" not in html and "<script src=" not in html
    return rec, nb
