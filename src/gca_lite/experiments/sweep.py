"""Run the missing configs of a grid on a local process pool or an existing Dask cluster.

Guarantees:

* resumable: configs already in the store are skipped (not even submitted), so re-running an
  interrupted sweep completes only the rest;
* one trainer per config: each task takes the config's lock file (lock.py) before training and
  gives up (status ``busy``) if another worker, process or host holds it;
* failures are isolated: a config that raises is recorded in the store (``failed.json`` with the
  traceback) and reported at the end; the others still run. Failed configs are retried by the
  next sweep.

Threads: each local worker runs ``torch.set_num_threads(max(1, cores // workers))`` so workers do
not oversubscribe the cores. The default is one worker per core with one thread each: runs are
independent, so process parallelism beats torch's intra-op threads, which for small models are
far slower (on a busy 2-core machine the smoke sweep took 65 s with 1 worker x 2 threads and 7 s
with 1 worker x 1 thread). Results do not depend on the scheduler: the same config with the same
thread count gives identical metrics on the local pool and on Dask (tested).

Dask: ``scheduler`` is an address (``tcp://host:8786``) or a ``distributed.Client``. The store root
must be on a file system every worker sees (NFS, Lustre, a shared home), because workers write
their results there directly; only a small status dict travels back to the client. Give each
Dask worker one thread (``--nthreads 1``, many worker processes instead): training seeds torch's
process-global generator, so two runs sharing a process would disturb each other's dropout.
Workers need ``gca_lite`` installed (same version) to unpickle the configs.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RunConfig
from .store import ResultsStore
from .train_once import train_once

STATUSES = ("trained", "loaded", "busy", "failed")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class SweepSummary:
    """What a sweep did; ``already`` configs were complete before it started."""

    total: int
    already: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    failures: list[tuple[str, str]] = field(default_factory=list)  # (config name, error line)
    not_submitted: int = 0  # pending configs left out by max_runs
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        c = self.counts
        lines = [f"{self.total} configs: {self.already} already stored, {c['trained']} trained, "
                 f"{c['loaded']} finished elsewhere, {c['busy']} busy (locked by another worker), "
                 f"{c['failed']} failed, {self.not_submitted} not submitted; {self.seconds:.1f} s"]
        lines += [f"  FAILED {name}: {err}" for name, err in self.failures]
        return "\n".join(lines)


def run_task(cfg: RunConfig, store_root: str, data_dir: str | None = None, threads: int | None = None,
             stale_after: float | None = None) -> dict:
    """Train one config into the store unless it is there or locked; never raises for a bad config.

    Runs inside a worker (a pool process or a Dask worker); returns a small picklable status dict.
    """
    t0 = time.perf_counter()
    if threads:
        import torch

        torch.set_num_threads(threads)
    store = ResultsStore(store_root) if stale_after is None else ResultsStore(store_root, stale_after)
    out = {"name": cfg.name, "key": store.key(cfg), "error": None}

    # a failure is recorded, not raised: one bad config must not stop the sweep
    status, _, error = train_once(store, cfg, data_dir)
    return {**out, "status": status, "error": error, "seconds": time.perf_counter() - t0}


CONNECT_TIMEOUT = "30s"  # how long to try a --scheduler address before giving up
_PARENT_POLL = 1.0  # seconds between a worker's checks that its sweep is still alive


def _exit_with_parent(parent: int) -> None:
    """End this worker process within a second when the sweep that started it dies, even by SIGKILL
    (which runs no clean-up and leaves idle workers waiting forever): a daemon thread polls the
    parent pid. The worker's lock then belongs to a dead process, and the next sweep breaks it."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(threads: int, parent: int | None = None) -> None:
    import torch

    if parent is not None:
        _exit_with_parent(parent)
    torch.set_num_threads(threads)


def sweep(configs: list[RunConfig], store: ResultsStore | str | Path, *, workers: int | None = None,
          scheduler=None, data_dir: str | Path | None = None, max_runs: int | None = None,
          threads: int | None = None, progress: bool = True, desc: str = "sweep") -> SweepSummary:
    """Run every config of ``configs`` that is not yet in ``store``; see the module docstring.

    Args:
        workers: local processes (default: one per available core; ignored with ``scheduler``).
        scheduler: Dask scheduler address or ``distributed.Client``; None = local pool.
        max_runs: submit at most this many missing configs (a partial sweep; the rest stay missing).
        threads: torch threads per task (default: cores // workers locally, 1 on Dask: start
            one Dask worker process per core, or pass ``threads`` to match your workers' cores).
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    store.root.mkdir(parents=True, exist_ok=True)
    pending = [c for c in configs if not store.has(c)]  # corrupt records warn here
    summary = SweepSummary(total=len(configs), already=len(configs) - len(pending))
    if max_runs is not None:
        summary.not_submitted = max(0, len(pending) - max_runs)
        pending = pending[:max_runs]
    root = str(store.root.resolve())
    data_dir = None if data_dir is None else str(data_dir)
    from .artefact import ensure_strata

    ensure_strata(store.root, configs, data_dir)  # which test targets are tied, for the results page
    bar = tqdm(total=len(configs), initial=summary.already, desc=desc, unit="run", disable=not progress,
               dynamic_ncols=True)

    def record(res: dict) -> None:
        summary.counts[res["status"]] += 1
        if res["status"] == "failed":
            summary.failures.append((res["name"], res["error"]))
            bar.write(f"FAILED {res['name']}: {res['error']}")
        bar.update(1)
        bar.set_postfix(failed=len(summary.failures), refresh=False)

    try:
        if pending and scheduler is not None:
            _run_dask(pending, root, data_dir, scheduler, threads or 1, store.stale_after, record)
        elif pending:
            workers = max(1, workers or available_cores())
            threads = threads or max(1, available_cores() // workers)
            _run_local(pending, root, data_dir, workers, threads, store.stale_after, record)
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - t0
    return summary


def _run_local(pending, root, data_dir, workers, threads, stale_after, record) -> None:
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: forking a process that already started torch's thread pools can deadlock.
    pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=mp.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads, os.getpid()))
    try:
        futures = {pool.submit(run_task, cfg, root, data_dir, threads, stale_after): cfg for cfg in pending}
        for fut in as_completed(futures):
            try:
                record(fut.result())
            except BrokenProcessPool as e:  # a worker died (killed, out of memory): not the config's fault
                cfg = futures[fut]
                record({"name": cfg.name, "status": "failed", "error": f"worker died: {e}"})
    except BaseException:  # Ctrl-C: drop queued configs; running ones release their locks on exit
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _run_dask(pending, root, data_dir, scheduler, threads, stale_after, record) -> None:
    from ..errors import CliError

    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise CliError("--scheduler needs the 'distributed' package: pip install 'gca-lite[cluster]'") from None

    try:
        client = scheduler if isinstance(scheduler, Client) else Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        raise CliError(f"--scheduler {scheduler}: cannot connect ({e})") from None
    try:
        keys = ResultsStore(root)
        # The key is the config hash: Dask itself refuses to run one key twice at the same time.
        futures = [client.submit(run_task, cfg, root, data_dir, threads, stale_after,
                                 key=f"gca-lite-{keys.key(cfg)}", pure=False) for cfg in pending]
        for fut in dask_completed(futures):
            try:
                record(fut.result())
            except Exception as e:  # the worker process itself died
                record({"name": fut.key, "status": "failed", "error": f"Dask task failed: {e}"})
    finally:
        if client is not scheduler:
            client.close()
