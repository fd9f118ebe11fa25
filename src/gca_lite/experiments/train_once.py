"""Train a configuration once into a results store: the one path the sweep, ``run_or_load`` and
the book's chapters share.

Check the store, take the config's lock (another process training it holds it), check again (it
may have finished in between), train, save; a failure is recorded in the store (``failed.json``).
"""

from __future__ import annotations

import time
import traceback


def train_once(store, cfg, data_dir=None, *, progress: bool = False, keep_model: bool = False,
               after=None, wait: bool = False, poll_seconds: float = 5.0, warn: bool = False,
               raise_errors: bool = False):
    """``(status, result, error)`` of training ``cfg`` into ``store`` unless it is stored.

    ``status``: ``loaded`` (stored already; ``result`` is None), ``busy`` (another process holds the
    lock and ``wait`` is False), ``trained`` or ``failed`` (``error`` names the exception). ``wait``:
    poll until the other process is done instead of returning ``busy``. ``after(cfg, result)`` runs
    once the result is saved (e.g. caching the weights). ``raise_errors``: re-raise a failure once
    it is recorded. ``warn``: let the first store check warn about stale or unreadable records."""
    while True:
        if store.has(cfg, warn=warn):
            return "loaded", None, None
        lock = store.lock(cfg)
        if lock.acquire():
            break
        if not wait:
            return "busy", None, None
        time.sleep(poll_seconds)  # someone else is training it: wait for their record
    try:
        if store.has(cfg, warn=False):  # finished by another process between our check and our lock
            return "loaded", None, None
        from ..train import run

        try:
            kwargs = {"keep_model": True} if keep_model else {}
            result = run(cfg, data_dir, progress=progress, cache_dir=store.cache_dir, **kwargs)
            store.save(cfg, result)
            if after is not None:
                after(cfg, result)
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
            store.mark_failed(cfg, error, traceback.format_exc())
            if raise_errors:
                raise
            return "failed", None, error
        return "trained", result, None
    finally:
        lock.release()
