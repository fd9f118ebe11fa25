"""The results store: one folder per run, keyed by the content hash of its (normalised) config.

Layout::

    ROOT/<dataset>/<config_hash>/record.json   metrics, config, provenance (written last)
                                /ranks.npz     per-user test rank counts (SHA-256 in the record)
                                /lock          present while a worker trains it (lock.py)
                                /failed.json   the error and traceback of the last failed attempt
    ROOT/<dataset>/test_strata-<data sha>.npz  which test targets share the previous item's day
                                               (artefact.py; written by every sweep)
    ROOT/_cache/                               evaluation candidate sets shared by all runs

Both result files are written atomically by :func:`gca_lite.results.write_run`, so an interrupted
run leaves either nothing or a complete pair. :func:`inspect_run` is the one judge of a run folder
(sweep, report and rerun all ask it): a folder whose record is unreadable, not an object, edited
(content checksum), or lacks a key; whose ranks do not match the record's checksum or its test
users; whose config this code cannot read or does not hash to the folder's name; or that has ranks
but no record (killed between the two renames) is *corrupt*: reported with a :class:`StoreWarning`
naming the file and treated as missing, so the next sweep re-runs it.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from ..config import ConfigError, RunConfig, config_hash, to_dict
from ..evaluate import RankCounts
from ..results import RANKS, RECORD, CorruptRecord, read_run, write_run
from .grid import config_from_dict, flatten, normalize
from .lock import DEFAULT_STALE_AFTER, RunLock

FAILED, LOCK, CACHE = "failed.json", "lock", "_cache"
ENV_STORE = "GCA_LITE_STORE"
DEFAULT_STORE = "runs/store"
_HASH_DIR = re.compile(r"^[0-9a-f]{16}$")


# Reading a run (JSON with the per-epoch history, checksummed ranks) is what a results page repeats
# most: every table iterates the whole store. Runs are immutable once written (write_run replaces
# both files atomically, which gives them new inodes), so a judgement is kept per (folder, inode,
# size, mtime and ctime of both files). iter_runs hands out the cached objects: treat them as
# read-only (the arrays are flagged so); load(), which gives a run to the caller to keep, copies them.
_READ_CACHE: dict[tuple, "RunState"] = {}
_READ_CACHE_MAX = 1024


class StoreWarning(UserWarning):
    """A stored run is corrupt or partial and will be re-run."""


@dataclasses.dataclass(frozen=True)
class RunState:
    """What one run folder holds, judged once for sweep, report and rerun alike.

    ``state`` is ``ok`` (complete and consistent), ``missing`` (no result files: never finished,
    or only a lock / failure marker) or ``corrupt`` (``reason`` names the file and the problem).
    ``verified`` is False for a legacy record written before records carried ``record_sha256``.
    """

    folder: Path
    state: str
    reason: str = ""
    record: dict | None = None
    counts: dict | None = None
    domain: object = None
    config: RunConfig | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    @property
    def verified(self) -> bool:
        return bool(self.record) and "record_sha256" in self.record


def _judge(folder: Path) -> RunState:
    """Classify ``folder`` (uncached): the one place that decides what a corrupt run is."""
    if not (folder / RECORD).exists() and not (folder / RANKS).exists():
        return RunState(folder, "missing")
    try:
        record, counts, domain = read_run(folder)
        try:
            cfg = config_from_dict(record["config"], where=str(folder / RECORD))
        except (ConfigError, KeyError, TypeError) as e:
            detail = str(e).replace(f"{folder / RECORD}: ", "")
            raise CorruptRecord(f"{folder / RECORD}: this code version cannot read its config ({detail})") from None
        key = config_hash(normalize(cfg))
        if record["config_hash"] != key or record["dataset"] != cfg.data.dataset:
            raise CorruptRecord(f"{folder / RECORD}: config_hash or dataset does not match its config (edited?)")
        # inside a store (ROOT/<dataset>/<hash>/) the folder must be where that config belongs;
        # a run folder copied elsewhere (e.g. for `gca-lite rerun`) is judged on its content alone
        if _HASH_DIR.match(folder.name) and (folder.name, folder.parent.name) != (key, cfg.data.dataset):
            raise CorruptRecord(f"{folder / RECORD}: its config belongs in {cfg.data.dataset}/{key}, not in "
                                f"{folder.parent.name}/{folder.name}")
    except (CorruptRecord, OSError) as e:
        return RunState(folder, "corrupt", str(e))
    for array in (domain, *(a for c in counts.values() for a in (c.greater, c.equal, c.n_candidates))):
        array.flags.writeable = False
    return RunState(folder, "ok", record=record, counts=counts, domain=domain, config=cfg)


def inspect_run(folder: str | Path) -> RunState:
    """The :class:`RunState` of a run folder (cached while its files are unchanged)."""
    folder = Path(folder)
    try:
        stamp = tuple((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                      for st in ((folder / RECORD).stat(), (folder / RANKS).stat()))
    except OSError:
        return _judge(folder)  # missing or partial: cheap, and not worth caching
    key = (str(folder.resolve()), stamp)
    if key not in _READ_CACHE:
        if len(_READ_CACHE) >= _READ_CACHE_MAX:
            _READ_CACHE.pop(next(iter(_READ_CACHE)))
        _READ_CACHE[key] = _judge(folder)
    return _READ_CACHE[key]


def setting_hash(cfg: RunConfig) -> str:
    """Hash of everything but the training seed: runs with equal setting differ only by seed."""
    return config_hash(dataclasses.replace(normalize(cfg), train=dataclasses.replace(cfg.train, seed=0)))


def record_config(folder: Path, record: dict) -> RunConfig | None:
    """The RunConfig of a stored record; None (with a warning) if this code cannot read it."""
    try:
        return config_from_dict(record["config"], where=str(folder / RECORD))
    except (ConfigError, KeyError, TypeError) as e:  # e.g. written by a version with other fields
        warnings.warn(f"skipping a run this code version cannot read: {e}", StoreWarning, stacklevel=3)
        return None


class ResultsStore:
    """Folder-per-run results store; see the module docstring for the layout."""

    def __init__(self, root: str | Path | None = None, stale_after: float = DEFAULT_STALE_AFTER):
        self.root = Path(root if root is not None else os.environ.get(ENV_STORE) or DEFAULT_STORE)
        self.stale_after = stale_after

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.root)!r})"

    # ---------------------------------------------------------------- addressing
    @staticmethod
    def key(cfg: RunConfig) -> str:
        return config_hash(normalize(cfg))

    def path(self, cfg: RunConfig) -> Path:
        return self.root / cfg.data.dataset / self.key(cfg)

    @property
    def cache_dir(self) -> Path:
        return self.root / CACHE

    # ---------------------------------------------------------------- reading
    def _check(self, folder: Path, warn: bool) -> tuple | None:
        """The stored (record, counts, domain) if complete and valid, else None (+ warning)."""
        found = inspect_run(folder)
        if found.state == "corrupt" and warn:
            warnings.warn(f"corrupt or partial run, will re-run it: {found.reason}", StoreWarning, stacklevel=3)
        return (found.record, found.counts, found.domain) if found.ok else None

    def has(self, cfg: RunConfig, warn: bool = True) -> bool:
        """True if a complete, valid result for ``cfg`` is stored (corrupt ones warn, count as missing)."""
        return self._check(self.path(cfg), warn) is not None

    def load(self, cfg: RunConfig):
        """The stored :class:`~gca_lite.train.RunResult`; ``KeyError`` if missing or corrupt."""
        from ..train import RunResult

        found = self._check(self.path(cfg), warn=True)
        if found is None:
            raise KeyError(f"no valid stored run for {cfg.name} in {self.path(cfg)}")
        record, counts, domain = found  # the cached objects (iter_runs): copies for the caller to keep
        counts = {p: RankCounts(c.greater.copy(), c.equal.copy(), c.n_candidates.copy()) for p, c in counts.items()}
        return RunResult(copy.deepcopy(record), counts, domain.copy())

    def failure(self, cfg: RunConfig) -> dict | None:
        """The last recorded failure of ``cfg`` (error, traceback, host, time), if any."""
        try:
            return json.loads((self.path(cfg) / FAILED).read_text())
        except (OSError, ValueError):
            return None

    # ---------------------------------------------------------------- writing
    def lock(self, cfg: RunConfig) -> RunLock:
        return RunLock(self.path(cfg) / LOCK, self.stale_after)

    def save(self, cfg: RunConfig, result) -> Path:
        """Write ``result`` (a RunResult) atomically; clears an earlier failure marker. The record
        gets ``stored_at`` (UTC): with ``wall_seconds`` it dates the run, so a sweep's wall time
        can be told from its runs (``summary.sweep_wall``)."""
        record = {**result.record, "stored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        folder = write_run(self.path(cfg), record, result.test_counts, result.test_domain)
        (folder / FAILED).unlink(missing_ok=True)
        return folder

    def mark_failed(self, cfg: RunConfig, error: str, traceback_text: str = "") -> None:
        from ..results import _atomic_write

        blob = {"name": cfg.name, "config_hash": self.key(cfg), "error": error, "traceback": traceback_text,
                "host": socket.gethostname(), "pid": os.getpid(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "config": to_dict(normalize(cfg))}
        _atomic_write(self.path(cfg) / FAILED, json.dumps(blob, indent=1, default=list).encode())

    # ---------------------------------------------------------------- listing and export
    def run_dirs(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for ds in self.root.iterdir() if ds.is_dir() and ds.name != CACHE
                      for p in ds.iterdir() if p.is_dir() and _HASH_DIR.match(p.name))

    def iter_runs(self, warn: bool = True) -> Iterator[tuple[Path, dict, dict, object]]:
        """``(folder, record, counts, domain)`` for every valid run (corrupt ones warn, skipped)."""
        for folder in self.run_dirs():
            found = self._check(folder, warn)
            if found is not None:
                yield (folder, *found)

    def to_frame(self):
        """Tidy table: one row per run x protocol x domain; metric and provenance columns.

        Columns: ``dataset, variant, seed, protocol, domain, n`` (test users of that domain), the
        metrics (``NDCG@10``, ``HR@10``, ``MRR``, ``AUC``, ...), provenance (``code_version``,
        ``data_sha256``, ``wall_seconds``, ``machine``, ``n_parameters``, ...), the grouping keys
        ``config_hash`` and ``setting`` (hash without the seed), ``run_dir``, and every config field
        as ``cfg.<section>.<field>``.
        """
        import pandas as pd

        rows = []
        for folder, record, _, _ in self.iter_runs():
            cfg = record_config(folder, record)
            if cfg is None:
                continue
            common = {
                "dataset": record["dataset"], "variant": record["variant"], "seed": record["seed"],
                "config_hash": record["config_hash"], "setting": setting_hash(cfg),
                "n_parameters": record.get("n_parameters"), "best_epoch": record.get("best_epoch"),
                "epochs_run": record.get("epochs_run"), "wall_seconds": record.get("wall_seconds"),
                "epoch_seconds_mean": record.get("epoch_seconds_mean"),
                "peak_rss_mb": record.get("peak_rss_mb"), "code_version": record.get("code_version"),
                "data_sha256": record.get("data_checksum"), "machine": record.get("machine"),
                "device": record.get("device"), "run_dir": str(folder.relative_to(self.root)),
            }
            config_cols = {f"cfg.{k}": (json.dumps(list(v)) if isinstance(v, (list, tuple)) else v)
                           for k, v in flatten(record["config"]).items()}
            for protocol, summary in sorted(record["test"].items()):
                for dom in ("A", "B"):
                    metrics = {k.split("/", 1)[1]: v for k, v in summary.items() if k.startswith(f"{dom}/")}
                    rows.append({**common, "protocol": protocol, "domain": dom, **metrics, **config_cols})
        frame = pd.DataFrame(rows)
        if not frame.empty:
            lead = ["dataset", "variant", "seed", "protocol", "domain"]
            frame = frame[lead + [c for c in frame.columns if c not in lead]]
            frame = frame.sort_values(["dataset", "variant", "seed", "protocol", "domain"], ignore_index=True)
        return frame

    def export(self, path: str | Path) -> tuple[Path, Path]:
        """Write :meth:`to_frame` as ``<path>.parquet`` and ``<path>.csv`` (suffix of ``path`` ignored)."""
        base = Path(path)
        base = base.with_suffix("") if base.suffix in (".parquet", ".csv") else base
        base.parent.mkdir(parents=True, exist_ok=True)
        frame = self.to_frame()
        pq, csv = base.with_name(base.name + ".parquet"), base.with_name(base.name + ".csv")
        frame.to_parquet(pq, index=False)
        frame.to_csv(csv, index=False)
        return pq, csv


# -------------------------------------------------------------------------------- notebook API
def run_or_load(config: RunConfig, store: ResultsStore | str | Path | None = None,
                data_dir: str | Path | None = None, *, progress: bool = False, poll_seconds: float = 5.0):
    """The stored result of ``config``, training (and storing) it first if it is not there yet.

    ``store`` defaults to ``$GCA_LITE_STORE`` or ``runs/store``. If another process is training the
    same config right now, waits for it instead of training a second copy. Failures are recorded
    in the store (``failed.json``) and re-raised.
    """
    from .train_once import train_once

    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    cfg = normalize(config).validate()
    status, result, _ = train_once(store, cfg, data_dir, progress=progress, wait=True, poll_seconds=poll_seconds,
                                   warn=True, raise_errors=True)
    return store.load(cfg) if status == "loaded" else result
