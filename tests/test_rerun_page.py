"""Every command printed on the rerun page (book/rerun.md) works as printed.

The page's ``bash`` blocks are split into commands (comments dropped, ``\\`` continuations joined).
Each command must match one rule of :data:`RULES`, which runs it with tiny parameters: the same
program and the same arguments, plus what keeps it small (a synthetic dataset instead of the real
data, two epochs, a temporary output). A command no rule knows fails the test, so a new command on
the page cannot go untested. ``make`` targets are checked with ``make -n`` (the book build and the
test suite are what the other tests run). Commands that need the real data run when it is present
(``../shared/data`` or ``$GCA_LITE_DATA``) and are skipped otherwise, naming the command.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "book" / "rerun.md"
BIN = Path(sys.executable).parent
TINY_MODEL = ["--d", "16", "--ffn", "32", "--rank-d", "4", "--rank-i", "4", "--batch-size", "64",
              "--n-candidates", "19", "--epochs", "2", "--quiet"]
OVERRIDES = {"model.d": 16, "model.ffn_hidden": 32, "model.rank_d": 4, "model.rank_i": 4, "train.batch_size": 64,
             "train.n_neg": 32, "eval.n_candidates": 19, "eval.probe_users": 32}
TINY_OVERRIDES = "overrides: " + json.dumps(OVERRIDES)


def page_commands(text: str) -> list[str]:
    """The commands of every ```bash block: comments dropped, continuation lines joined."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def data_dir() -> str | None:
    for candidate in (os.environ.get("GCA_LITE_DATA"), str(REPO.parent / "shared" / "data")):
        if candidate and (Path(candidate) / "afk").is_dir():
            return candidate
    return None


def _run(argv: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{shlex.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _local(argv: list[str]) -> list[str]:
    """``.venv/bin/x`` -> this interpreter's ``x`` (the test may run from another environment)."""
    head = argv[0]
    if head.startswith(".venv/bin/"):
        name = head.removeprefix(".venv/bin/")
        head = sys.executable if name == "python" else str(BIN / name)
    return [head, *argv[1:]]


def _need_data(argv: list[str]) -> list[str]:
    """Point ``--data-dir``/``data_dir`` at the data found here; skip when there is none."""
    found = data_dir()
    if found is None:
        pytest.skip(f"needs the real data: {shlex.join(argv)}")
    return [found if a == "../shared/data" else a for a in argv]


def _tiny_train(argv: list[str], tmp: Path) -> None:
    """``gca-lite train afk ...`` -> the same flags on synthetic-tiny, tiny model, 2 epochs."""
    argv = [a for a in argv]
    if "--data-dir" in argv:
        k = argv.index("--data-dir")
        del argv[k:k + 2]
    argv[2] = "synthetic-tiny"
    _run(_local(argv) + TINY_MODEL + ["--out", str(tmp / "train")])


def _tiny_run_folder(tmp: Path) -> Path:
    """A stored synthetic-tiny run (as ``results/<dataset>/<hash>``) to rerun."""
    from gca_lite.experiments import ResultsStore

    store = tmp / "store"
    _run([str(BIN / "gca-lite"), "train", "synthetic-tiny", "--gca", "1", *TINY_MODEL, "--out", str(tmp / "one")])
    from gca_lite.experiments.store import record_config
    from gca_lite.results import read_run
    from gca_lite.train import RunResult

    record, counts, domain = read_run(tmp / "one")
    cfg = record_config(tmp / "one", record)
    return ResultsStore(store).save(cfg, RunResult(record, counts, domain))


def _run_rule(argv: list[str], tmp: Path) -> None:
    """``gca-lite rerun <run> ...``: rerun a tiny stored run, with the page's flags."""
    folder = _tiny_run_folder(tmp)
    rest = [a for a in argv[3:]]
    if "--data-dir" in rest:
        k = rest.index("--data-dir")
        del rest[k:k + 2]
    if "--device" in rest and rest[rest.index("--device") + 1].startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            rest[rest.index("--device") + 1] = "cpu"
    proc = _run(_local(argv[:1]) + ["rerun", str(folder), *rest])
    assert "IDENTICAL" in proc.stdout


def _papermill(argv: list[str], tmp: Path) -> None:
    argv = [str(tmp / Path(a).name) if a.startswith("/tmp/") else a for a in argv]
    if "-p source train" in " ".join(argv) and "data_dir" not in argv:
        argv += ["-p", "dataset", "synthetic-tiny", "-p", "store", str(tmp / "book"), "-y", TINY_OVERRIDES,
                 "-y", "variants: [base, 'GCA[1]-sigmoid,True']"]
    if "../shared/data" in argv:
        argv = _need_data(argv)
    _run(_local(argv))


def _build_book(argv: list[str], tmp: Path) -> None:
    if "--list" in argv:
        assert "gca_variants" in _run(_local(argv)).stdout
        return
    assert "--no-build" in argv, "the page's build_book.py examples re-execute one chapter"
    extra = ["dataset=synthetic-tiny"]
    if "source=train" in argv and argv[argv.index("--only") + 1] != "data":
        extra += [f"store={tmp / 'book'}", "overrides=" + json.dumps(OVERRIDES),
                  'variants=["base", "GCA[1]-sigmoid,True"]']
    given = {a.split("=")[0] for a in argv if "=" in a}
    extra = [a for kv in extra if kv.split("=")[0] not in given for a in ("--param", kv)]
    _run(_local(argv) + ["--root", str(_book_copy(tmp))] + extra)


def _book_copy(tmp: Path) -> Path:
    """A copy of the book sources, so that re-executing a chapter leaves book/generated alone."""
    import shutil

    root = tmp / "root"
    if not root.exists():
        root.mkdir()
        for name in ("_config.yml", "_toc.yml"):
            shutil.copy(REPO / name, root / name)
        shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns("generated", "_vendor"))
    return root


def _make(argv: list[str], tmp: Path) -> None:
    _run(["make", "-n", *argv[1:]])


def _data_script(argv: list[str], tmp: Path) -> None:
    """The scripts that make the committed summaries: run with the data, into a temporary file."""
    argv = _need_data(argv)
    if "data_summaries.py" in argv[1]:
        pytest.skip("rewrites the committed summary; checked by test_stored_data_summaries_match_the_data")
    if "--out" in argv:  # attention_summaries.py: retraining takes ~15 min; its --help must work
        _run(_local(argv[:2]) + ["--help"])


def _real_grid(argv: list[str], tmp: Path) -> None:
    """The real-data grid: only its dry run (listing what is missing) is cheap enough."""
    argv = _need_data(argv)
    _run(_local(argv if "--dry-run" in argv else [*argv, "--dry-run"]))


def _report(argv: list[str], tmp: Path) -> None:
    proc = _run(_local(argv) + ["--n-boot", "20", "--no-verdicts", "--out", str(tmp / "report.md")])
    assert (tmp / "report.md").read_text().count("|") > 100, proc.stdout


#: (pattern on the command as printed, how to run it small)
RULES = [
    (r"^make ", _make),
    (r"^\.venv/bin/papermill ", _papermill),
    (r"^\.venv/bin/python scripts/build_book\.py ", _build_book),
    (r"^\.venv/bin/gca-lite train ", lambda a, t: _tiny_train(a, t)),
    (r"^\.venv/bin/gca-lite rerun ", _run_rule),
    (r"^\.venv/bin/gca-lite report ", _report),
    (r"^\.venv/bin/gca-lite sweep experiments/real_lite_grid\.yaml ", _real_grid),
    (r"^\.venv/bin/python experiments/run_real\.py ", _real_grid),
    (r"^\.venv/bin/python scripts/(data|attention)_summaries\.py ", _data_script),
]


def _rule(command: str):
    hits = [run for pattern, run in RULES if re.search(pattern, command)]
    assert len(hits) == 1, f"no single test rule for the rerun page's command: {command}"
    return hits[0]


COMMANDS = page_commands(PAGE.read_text(encoding="utf-8"))


def test_page_has_commands_and_no_long_lines():
    assert len(COMMANDS) >= 15
    for block in re.findall(r"```bash\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S):
        assert all(len(line) <= 100 for line in block.splitlines()), "a code block line would be cut sideways"


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_rerun_page_command(command: str, tmp_path: Path):
    argv = shlex.split(command.replace("<config hash>", "HASH"))
    _rule(command)(argv, tmp_path)


def test_stored_data_summaries_match_the_data():
    """The committed data summaries are what ``scripts/data_summaries.py`` computes from the data."""
    found = data_dir()
    if found is None:
        pytest.skip("needs the real data")
    from gca_lite.book_data import data_summary, stored_summaries
    from gca_lite.data.registry import load

    stored = stored_summaries()
    for name in ("afk", "abe"):
        assert json.loads(json.dumps(data_summary(load(name, found)))) == stored[name]
