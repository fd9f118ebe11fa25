"""Where a result came from: code version, machine, library versions."""

from __future__ import annotations

import ast
import hashlib
import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

from . import __version__

REPO = Path(__file__).resolve().parents[2]


#: The sources that decide a run's numbers (data, splits, model, training, evaluation, metrics,
#: probe, config). Reporting, plotting, the CLI and the sweep machinery are left out, so that
#: improving a chart does not make every stored result look as if it came from other code.
RESULT_SOURCES = ("config.py", "data", "model", "train.py", "candidates.py", "evaluate.py",
                  "metrics.py", "probe.py", "ranking.py", "schedule.py", "precision.py")


def normalised_source(text: str) -> str:
    """The behaviour-bearing part of a Python source: its syntax tree without docstrings, so that
    comments, docstrings, blank lines and formatting (line breaks, quotes, parentheses) do not count,
    while any change to names, values or statements does."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:]
    return ast.dump(tree, annotate_fields=False)


@lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 (12 hex) over the normalised result-determining sources (``RESULT_SOURCES``, see
    :func:`normalised_source`): identifies the code even without git (a copy on another machine) and
    even with uncommitted changes; moving a docstring or re-wrapping a line does not re-version runs."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    paths = [p for p in package.rglob("*.py")
             if p.relative_to(package).parts[0] in RESULT_SOURCES]
    for path in sorted(paths):
        text = normalised_source(path.read_text())
        h.update(path.relative_to(package).as_posix().encode() + b"\0" + text.encode() + b"\0")
    return h.hexdigest()[:12]


def code_version() -> str:
    """``<version>+src.<source hash>``: equal strings mean the same result-determining code."""
    return f"{__version__}+src.{source_hash()}"


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The checkout's commit (informational: the source hash decides equality); '' without git."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, check=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@lru_cache(maxsize=1)
def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__} ({torch.get_num_threads()} threads, "
            f"{torch.backends.cpu.get_cpu_capability()}); Python {platform.python_version()}; "
            f"{platform.system()} {platform.release()}")
