"""Compute the results pages' heavy tables once: a cache in the store, keyed by what they depend on.

The results page and its appendix both need the store's report frame and verdict rows (bootstrap
intervals over every configuration: most of the book's build time). :class:`PageCache` keeps each
computed value as a pickle in ``<store>/_cache/pages/`` (ignored by git, like the store's other
caches), under a key made of:

* the stores' files (relative path, size and modification time of every file but the caches), so a
  run stored, removed or rewritten invalidates it;
* the source of the package (every ``.py`` of ``gca_lite``), so a change of a rule or a statistic does;
* the page's parameters (``n_boot``, protocols ...) and the value's name.

A cache that cannot be read or written is skipped, never an error: the value is then computed.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any, Callable

from .store import CACHE, LOCK

PACKAGE = Path(__file__).resolve().parents[1]  # src/gca_lite
FOLDER = "pages"


def _files_digest(root: Path, h) -> None:
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if rel.parts[0] == CACHE or path.name == LOCK or "__pycache__" in rel.parts:
            continue
        st = path.stat()
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def fingerprint(stores, params: dict) -> str:
    """The key of everything the pages compute from ``stores`` with ``params``."""
    h = hashlib.sha256(repr(sorted(params.items())).encode())
    for store in stores:
        root = Path(store).resolve()
        h.update(f"store {root}\n".encode())
        _files_digest(root, h)
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


class PageCache:
    """``cache(name, compute)``: the stored value of ``name`` if its key matches, else
    ``compute()``, stored for the next page or build."""

    def __init__(self, *stores, **params):
        self.folder = Path(stores[0]) / CACHE / FOLDER
        self.key = fingerprint(stores, params)
        self.hits: list[str] = []  # names read from the cache (the pages may say so)

    def path(self, name: str) -> Path:
        return self.folder / f"{name}-{self.key}.pkl"

    def __call__(self, name: str, compute: Callable[[], Any]) -> Any:
        path = self.path(name)
        try:
            with path.open("rb") as f:
                value = pickle.load(f)
            self.hits.append(name)
            return value
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass
        value = compute()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for stale in self.folder.glob(f"{name}-*.pkl"):  # one version per name
                stale.unlink(missing_ok=True)
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as f:
                pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
        except OSError:
            pass
        return value
