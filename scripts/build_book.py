#!/usr/bin/env python3
"""Execute the book's notebooks with papermill, then render the book with Jupyter Book 1.x.

    python scripts/build_book.py                                   # all notebooks + book
    python scripts/build_book.py --only data --param dataset=afk --param data_dir=../shared/data
    python scripts/build_book.py --no-build                        # notebooks only
    python scripts/build_book.py --no-execute                      # re-render existing outputs

Steps:

1. install the ``gca-lite`` Jupyter kernelspec into this interpreter's prefix if it is missing or
   points at another interpreter (never committed: it holds an absolute path);
2. run papermill on every notebook of :data:`NOTEBOOKS` into ``<root>/book/generated/<name>.ipynb``,
   two side by side on the stored data (``--jobs``; :data:`AFTER` orders the ones that depend on another).
   ``--param KEY=VALUE`` values are parsed as YAML and passed to every notebook that declares
   ``KEY`` in its ``parameters`` cell (a key no notebook declares is an error, to catch typos);
   notebooks run with the repository root as working directory; relative paths given on the
   command line (``data_dir``, ``store``, ``results_store``, ``v2_store``, ``grid``) are made absolute first, so
   they mean what they mean in your shell. ``dataset=FOLDER`` (a folder holding a user's own
   ``NAME_50_preprocessed.txt``, as ``gca-lite data preprocess`` writes it) means
   ``dataset=NAME data_dir=FOLDER``;
3. tag the ``parameters`` and ``injected-parameters`` cells ``remove-cell`` (hidden in the book),
   and every other code cell without a display tag ``hide-input`` (the book shows no code);
4. ``jupyter-book build <root> --warningiserror --keep-going --all`` (skipped with ``--no-build``;
   ``--incremental`` drops ``--all``), then drop the inline scripts Jupyter Book 1 writes twice.
   A generated notebook that failed (or was interrupted) is never built into the book, also not
   with ``--no-execute``.

Exits non-zero, naming the failing notebook, if any step fails; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Notebooks executed for the book, in order (paths relative to the repository root).
NOTEBOOKS: list[str] = [
    "notebooks/data.ipynb",
    "notebooks/gca_variants.ipynb",
    "notebooks/orthogonality.ipynb",
    "notebooks/scaling.ipynb",
    "notebooks/protocols.ipynb",
    "notebooks/explorer.ipynb",
    "notebooks/results.ipynb",
    "notebooks/results_appendix.ipynb",  # after results: reads back the tables results cached in the store
]

KERNEL_NAME = "gca-lite"
KERNEL_DISPLAY_NAME = "Python (gca-lite)"
HIDDEN_TAGS = ("parameters", "injected-parameters")
#: tags that already decide how a code cell's source shows; any other code cell gets ``hide-input``
SHOWN_CODE_TAGS = ("hide-input", "remove-input", "remove-cell", "hide-cell")


class BuildError(RuntimeError):
    """A step failed; the message says which one and why."""


# ----------------------------------------------------------------------------- arguments
def parse_param(text: str) -> tuple[str, object]:
    """``key=value`` -> (key, YAML-parsed value); an empty value is the empty string."""
    import yaml

    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--param expects KEY=VALUE with KEY a Python name, got {text!r}")
    if raw == "":
        return key, ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise argparse.ArgumentTypeError(f"--param {key}: value {raw!r} is not valid YAML ({e})") from None
    return key, raw if value is None else value  # "null"/"~" stay strings; use the default instead


#: Parameters holding paths: a relative value is resolved against the caller's working directory.
PATH_PARAMS = ("data_dir", "store", "results_store", "v2_store", "grid")


def resolve_paths(params: dict[str, object], cwd: Path | None = None) -> dict[str, object]:
    """Make relative path parameters absolute against ``cwd`` (default: the shell's directory),
    because the notebooks run in the repository root; ``dataset=FOLDER`` becomes the name of the
    user's dataset in that folder plus ``data_dir=FOLDER``."""
    cwd = Path.cwd() if cwd is None else cwd
    out = dict(params)
    for key in PATH_PARAMS:
        value = out.get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            out[key] = str((cwd / value).resolve())
    dataset = out.get("dataset")
    if isinstance(dataset, str) and ("/" in dataset or (cwd / dataset).is_dir()):
        folder = (cwd / Path(dataset).expanduser()).resolve()
        found = sorted(folder.glob("*_50_preprocessed.txt")) if folder.is_dir() else []
        if len(found) != 1:
            raise BuildError(f"--param dataset={dataset}: {folder} is not a folder holding one "
                             "NAME_50_preprocessed.txt (write one with `gca-lite data preprocess`)")
        if out.get("data_dir"):
            raise BuildError(f"--param dataset={dataset} is a folder: leave data_dir out")
        out["dataset"] = found[0].name[: -len("_50_preprocessed.txt")]
        out["data_dir"] = str(folder)
    return out


def failed_notebooks(folder: Path) -> list[str]:
    """Generated notebooks in ``folder`` that hold an error or did not run to the end: papermill
    marks a failure in the notebook's metadata, and a killed run leaves cells pending."""
    bad = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells = nb.get("cells", [])
            failed = (nb.get("metadata", {}).get("papermill", {}).get("exception") is True
                      or any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
                      or any(c.get("metadata", {}).get("papermill", {}).get("status") in ("pending", "running")
                             for c in cells))
        except (OSError, ValueError, AttributeError):  # unreadable: certainly not a finished chapter
            failed = True
        if failed:
            bad.append(path.stem)
    return bad


def notebook_name(path: str) -> str:
    return Path(path).stem


def select(only: list[str] | None) -> list[str]:
    if not only:
        return list(NOTEBOOKS)
    by_name = {notebook_name(p): p for p in NOTEBOOKS}
    unknown = [n for n in only if notebook_name(n) not in by_name]
    if unknown:
        raise BuildError(f"--only: unknown notebook(s) {', '.join(unknown)}; "
                         f"known: {', '.join(by_name)}")
    wanted = {notebook_name(n) for n in only}
    return [p for p in NOTEBOOKS if notebook_name(p) in wanted]


# ----------------------------------------------------------------------------- kernel
def ensure_kernel() -> None:
    """Install the gca-lite kernelspec for this interpreter unless an identical one exists."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        argv0 = Path(spec.argv[0])
        if argv0.exists() and argv0.resolve() == Path(sys.executable).resolve():
            return
    except NoSuchKernel:
        pass
    print(f"installing kernelspec {KERNEL_NAME!r} for {sys.executable}", flush=True)
    cmd = [sys.executable, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL_NAME,
           "--display-name", KERNEL_DISPLAY_NAME]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise BuildError(f"kernel install failed ({' '.join(cmd)}):\n{proc.stderr.strip()}")


# ----------------------------------------------------------------------------- papermill
def coerce(value: object, declared_type: str) -> object:
    """A YAML-parsed value for a parameter annotated ``str`` stays the literal text (``seed=1``
    is 1, but ``dataset=123`` is "123")."""
    if declared_type == "str" and not isinstance(value, str):
        return value if value is None else (json.dumps(value) if isinstance(value, bool) else str(value))
    return value


def plan_parameters(paths: list[str], params: dict[str, object]) -> dict[str, dict[str, object]]:
    """Per notebook, the subset of ``params`` it declares; unknown keys are an error. A ``dataset``
    given without ``source`` sets ``source=train`` where a notebook has that switch: the chapters
    read the committed afk/abe store by default, and a named dataset must not be silently ignored."""
    import papermill as pm

    plan: dict[str, dict[str, object]] = {}
    used: set[str] = set()
    for path in paths:
        declared = pm.inspect_notebook(str(REPO / path))
        if not declared:
            print(f"warning: {path} has no cell tagged 'parameters'", file=sys.stderr)
        mine = {}
        for key, value in params.items():
            if key in declared:
                mine[key] = coerce(value, declared[key].get("inferred_type_name", ""))
                used.add(key)
        if "dataset" in params and "source" in declared and "source" not in params:
            mine["source"] = "train"  # naming a dataset asks for that dataset, not the stored afk/abe pages
        plan[path] = mine
    unused = sorted(set(params) - used)
    if unused:
        raise BuildError(f"--param {', '.join(unused)}: not a parameter of "
                         f"{', '.join(paths)} (check the notebooks' 'parameters' cells)")
    return plan


def hide_parameter_cells(path: Path) -> int:
    """Add the ``remove-cell`` tag to parameter cells; returns how many were tagged."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    n = 0
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if any(t in tags for t in HIDDEN_TAGS) and "remove-cell" not in tags:
            tags.append("remove-cell")
            n += 1
        elif cell.cell_type == "code" and not any(t in tags for t in SHOWN_CODE_TAGS):
            tags.append("hide-input")  # the book shows results, not code: every code cell is folded
    nbformat.write(nb, path)
    return n


def execute(path: str, out: Path, parameters: dict[str, object], kernel: str) -> float:
    import papermill as pm

    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(REPO / path), str(out), parameters=parameters, kernel_name=kernel,
                            cwd=str(REPO), progress_bar=False, log_output=False)
    except pm.PapermillExecutionError as e:
        raise BuildError(f"{path} failed in cell {e.exec_count} ({e.ename}: {e.evalue}); "
                         f"the partial output is in {out}") from None
    except Exception as e:  # kernel died, missing kernelspec, bad notebook file ...
        raise BuildError(f"{path} failed: {type(e).__name__}: {e}") from None
    hide_parameter_cells(out)
    return time.perf_counter() - t0


#: notebook -> the notebook it reads a cache of (``gca_lite.experiments.page_cache``): run after it
AFTER = {"notebooks/results_appendix.ipynb": "notebooks/results.ipynb"}


def execute_one(path: str, plan: dict, root: Path, kernel: str) -> str | None:
    """Execute one notebook of the plan, printing its progress; the error message if it failed."""
    out = root / "book" / "generated" / f"{notebook_name(path)}.ipynb"
    shown = ", ".join(f"{k}={v!r}" for k, v in plan[path].items()) or "defaults"
    print(f"[papermill] {path} ({shown}) ...", flush=True)
    try:
        dt = execute(path, out, plan[path], kernel)
    except BuildError as e:
        print(f"[papermill] FAILED {e}", file=sys.stderr, flush=True)
        return str(e)
    print(f"[papermill] {path} -> {out.relative_to(root) if out.is_relative_to(root) else out}  {dt:.1f} s",
          flush=True)
    return None


def execute_all(paths: list[str], plan: dict, root: Path, kernel: str, jobs: int = 1) -> list[str]:
    """Execute ``paths`` with up to ``jobs`` kernels side by side (each notebook is one process, so
    two cores run two chapters at once); a notebook of :data:`AFTER` starts once the one it reads
    has finished. Returns the error messages of the notebooks that failed."""
    from concurrent.futures import ThreadPoolExecutor

    first = [p for p in paths if AFTER.get(p) not in paths]
    first.sort(key=lambda p: p not in AFTER.values())  # what others wait for starts first
    later = [p for p in paths if p not in first]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        done = {p: pool.submit(execute_one, p, plan, root, kernel) for p in first}
        for p in later:  # in NOTEBOOKS order, each after the notebook it reads
            done[AFTER[p]].result()
            done[p] = pool.submit(execute_one, p, plan, root, kernel)
        return [e for p in paths if (e := done[p].result())]


# ----------------------------------------------------------------------------- landing page
def write_answer(root: Path) -> Path:
    """``book/generated/answer.md``, the landing page's answer (:func:`gca_lite.landing.answer_page`)."""
    from gca_lite.landing import answer_page

    out = root / "book" / "generated" / "answer.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(answer_page(out.parent / "results.ipynb"), encoding="utf-8")
    return out


# ----------------------------------------------------------------------------- jupyter-book
def jupyter_book_exe() -> str:
    exe = Path(sys.executable).parent / "jupyter-book"
    if exe.exists():
        return str(exe)
    found = shutil.which("jupyter-book")
    if not found:
        raise BuildError("jupyter-book not found; install the book extra: pip install -e '.[book]'")
    return found


def check_toc_sources(root: Path) -> None:
    """Fail early (with a useful message) when a generated chapter is missing."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    stack = list(toc.get("chapters", [])) + [c for p in toc.get("parts", []) for c in p.get("chapters", [])]
    while stack:
        entry = stack.pop()
        if "file" in entry:
            files.append(entry["file"])
        stack.extend(entry.get("sections", []))
    missing = [f for f in files
               if not any((root / f"{f}{ext}").exists() for ext in ("", ".md", ".ipynb"))]
    if missing:
        raise BuildError(f"chapters missing: {', '.join(missing)}; run scripts/build_book.py "
                         "without --only/--no-execute first")


def build_book(root: Path, incremental: bool = False) -> float:
    """``jupyter-book build``; a full rebuild (``--all``) unless ``incremental``, because Sphinx's
    incremental mode does not recopy changed static files (CSS, vendored JS) when no page changed."""
    check_toc_sources(root)
    failed = failed_notebooks(root / "book" / "generated")
    if failed:
        raise BuildError(f"generated notebook(s) {', '.join(failed)} failed or did not finish (see "
                         f"{root / 'book' / 'generated'}); execute them again before building the book")
    cmd = [jupyter_book_exe(), "build", str(root), "--warningiserror", "--keep-going"]
    if not incremental:
        cmd.append("--all")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-40:])
        raise BuildError(f"jupyter-book build failed (exit {proc.returncode}):\n{tail}")
    from gca_lite.book import dedupe_inline_scripts

    dedupe_inline_scripts(root / "_build" / "html")
    return dt


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--param", "-p", action="append", default=[], type=parse_param, metavar="KEY=VALUE",
                    help="notebook parameter (YAML value), passed to every notebook declaring KEY; repeatable")
    ap.add_argument("--only", action="append", metavar="NAME",
                    help="execute only this notebook (name without .ipynb, e.g. data); repeatable")
    ap.add_argument("--no-build", action="store_true", help="execute notebooks but do not build the book")
    ap.add_argument("--no-execute", action="store_true",
                    help="do not execute notebooks; build from the existing book/generated/")
    ap.add_argument("--incremental", action="store_true",
                    help="let Sphinx rebuild only changed pages (faster; static files may stay stale)")
    ap.add_argument("--root", type=Path, default=REPO,
                    help="book root holding _config.yml/_toc.yml/book/ (default: the repository); "
                         "outputs go to ROOT/book/generated and ROOT/_build")
    ap.add_argument("--kernel", default=KERNEL_NAME, help=f"kernel name (default {KERNEL_NAME})")
    ap.add_argument("--jobs", "-j", type=int, default=None,
                    help="notebooks executed side by side (default: 2 on the stored data, 1 on one core or "
                         "when the chapters train, as they share one store of runs)")
    ap.add_argument("--list", action="store_true", help="list the notebooks and their parameters, then exit")
    args = ap.parse_args(argv)
    root = args.root.resolve()

    try:
        params = resolve_paths(dict(args.param))
        paths = select(args.only)
        if args.list:
            import papermill as pm

            for p in paths:
                declared = pm.inspect_notebook(str(REPO / p))
                desc = ", ".join(f"{k}: {v['inferred_type_name']} = {v['default']}" for k, v in declared.items())
                print(f"{notebook_name(p)}  ({p})  {desc}")
            return 0
        total = time.perf_counter()
        if not args.no_execute:
            plan = plan_parameters(paths, params)
            if args.kernel == KERNEL_NAME:
                ensure_kernel()
            trains = any(p.get("source") == "train" for p in plan.values())
            jobs = args.jobs or (1 if trains else min(2, os.cpu_count() or 1))
            failures = execute_all(paths, plan, root, args.kernel, jobs)
            if failures:
                raise BuildError(f"{len(failures)} notebook(s) failed: "
                                 + "; ".join(f.split(' failed')[0] for f in failures) + " (book not built)")
        elif params:
            raise BuildError("--param has no effect with --no-execute")
        print(f"[answer] {write_answer(root).relative_to(root)}", flush=True)
        if not args.no_build:
            print(f"[jupyter-book] building {root} ...", flush=True)
            dt = build_book(root, incremental=args.incremental)
            print(f"[jupyter-book] {root / '_build' / 'html' / 'index.html'}  {dt:.1f} s", flush=True)
        print(f"done in {time.perf_counter() - total:.1f} s", flush=True)
        return 0
    except BuildError as e:
        print(f"build_book: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbuild_book: interrupted (notebooks finished so far are in book/generated)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
