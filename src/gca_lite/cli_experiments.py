"""``gca-lite sweep`` and ``gca-lite report``: grids -> results store -> paper-style tables."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .errors import CliError, UsageError, positive_int

DEFAULT_STORE = "runs/store"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run the missing configs of a YAML grid into a results store",
        description="Expand a YAML grid into configs and train every config not yet in --store, on a "
                    "local process pool (default) or an existing Dask cluster (--scheduler). Resumable: "
                    "re-running trains only what is missing (corrupt records are re-run with a warning); "
                    "a lock file per config keeps two workers off the same config. Failed configs are "
                    "recorded (failed.json) and make the exit status 1; the others still run. Configs "
                    "another worker holds (busy) also make it 1: the grid is not complete yet.",
        epilog="Dask: start a cluster whose workers see --store on a shared file system, e.g. "
               "`dask scheduler` + `dask worker tcp://HOST:8786 --nworkers 4 --nthreads 1` (LocalCluster "
               "or SSH: `dask ssh host1 host2`; Slurm: dask_jobqueue.SLURMCluster(...).scale(jobs=N)), "
               "then pass --scheduler tcp://HOST:8786.")
    p.add_argument("grid", help="grid file, e.g. experiments/smoke_grid.yaml")
    p.add_argument("--store", default=DEFAULT_STORE, help=f"results store folder ({DEFAULT_STORE})")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local worker processes (default: one per available core, 1 torch thread each)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch threads per run (default: cores // workers locally, 1 on Dask)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler address (tcp://host:8786) instead of the local pool")
    p.add_argument("--data-dir", default=None, help="folder with the real data files")
    p.add_argument("--max-runs", type=positive_int, default=None, metavar="N",
                   help="train at most N missing configs this time (the rest stay for later)")
    p.add_argument("--dry-run", action="store_true", help="list the configs and their state; train nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

    r = sub.add_parser(
        "report", help="paper-style tables from a results store",
        description="One row per dataset x setting x variant: NDCG@1/5/10, HR@10, MRR and AUC per domain, the "
                    "mean over seeds with a 95% bootstrap CI over test users, and the paired difference "
                    "vs the base model and the parameter-matched base (same users and seeds) with a "
                    "sign-flip p-value over users, marked * where its 95% interval over users and, from "
                    "two seeds on, training seeds excludes 0; under both evaluation protocols.")
    r.add_argument("--store", default=DEFAULT_STORE, help=f"results store folder ({DEFAULT_STORE})")
    r.add_argument("--format", choices=("md", "csv"), default="md",
                   help="md: markdown tables; csv: the long table (one row per metric)")
    r.add_argument("--out", default=None, help="write to this file instead of stdout")
    r.add_argument("--tie-rule", choices=("expected", "optimistic", "pessimistic"), default=None,
                   help="tie rule for the metrics (default: each run's own eval.tie_rule)")
    r.add_argument("--n-boot", type=positive_int, default=1000, help="bootstrap / permutation resamples (1000)")
    r.add_argument("--verdicts", action=argparse.BooleanOptionalAction, default=True,
                   help="md only: after the tables, the results page's 'In short', the verdict of every claim "
                        "per dataset, preset and protocol, and the evidence behind each (default: on)")
    r.add_argument("--export", default=None, metavar="PATH",
                   help="also write the per-run tidy table (with provenance) as PATH.parquet and PATH.csv")
    r.set_defaults(func=_cmd_report)

    q = sub.add_parser(
        "rerun", help="train a stored run's config again and check that the metrics come back",
        description="Read RUN (a run folder of a results store, e.g. results/afk/<hash>), train its "
                    "configuration again from scratch with the same seeds, and compare the new per-user "
                    "test ranks and metrics with the stored ones. Exit status 0 when every per-user "
                    "count and every test metric is identical, 1 otherwise (the differences are listed), "
                    "also when the stored run is corrupt (the same judgement as sweep and report: an "
                    "edited record, damaged ranks; nothing is trained then). Bit-identical results "
                    "need the same code version, torch build and kind of processor as the stored run; "
                    "both are printed.")
    q.add_argument("run", help="run folder holding record.json and ranks.npz")
    q.add_argument("--data-dir", default=None, help="folder with the real data files")
    q.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice)")
    q.add_argument("--quiet", action="store_true", help="no progress output")
    q.add_argument("--replay", action="store_true",
                   help="train exactly the epochs the stored run reached, with no time budget: for a run its "
                        "wall-clock budget stopped, where it stops then no longer depends on the machine's speed "
                        "(training is deterministic given the seed up to floating-point rounding; book: decision D18)")
    q.add_argument("--device", default="cpu",
                   help="torch device to train on (default cpu); identical ranks need the kind of device the "
                        "stored run trained on, e.g. cuda for the paper-preset runs")
    q.set_defaults(func=_cmd_rerun)


def _store_root(path: str, flag: str = "--store") -> Path:
    """The store folder of ``flag``; a file in its place is a usage error."""
    root = Path(path)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{flag} {path}: is a file, not a results store folder")
    return root


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .experiments import ResultsStore, load_grid, sweep
    from .experiments.grid import grid_name
    from .results import check_writable

    root = _store_root(args.store)
    configs = load_grid(args.grid, args.data_dir)
    store = ResultsStore(root)
    if args.dry_run:
        for cfg in configs:
            state = "done" if store.has(cfg) else "failed" if store.failure(cfg) else "missing"
            print(f"{state:8} {store.key(cfg)}  {cfg.name}")
        return 0
    check_writable(root, "--store")
    try:
        summary = sweep(configs, store, workers=args.workers, scheduler=args.scheduler, data_dir=args.data_dir,
                        max_runs=args.max_runs, threads=args.threads, progress=not args.quiet,
                        desc=grid_name(args.grid))
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are stored; run the same command again to resume",
              file=sys.stderr)
        return 130
    print(summary)
    if summary.counts["busy"]:
        print(f"gca-lite: {summary.counts['busy']} config(s) locked by another worker; run the same command "
              "again once it has finished (a lock whose owner died is broken automatically)", file=sys.stderr)
    return 0 if summary.ok and not summary.counts["busy"] else 1


def _cmd_rerun(args: argparse.Namespace) -> int:
    import numpy as np

    from .experiments.store import inspect_run
    from .provenance import code_version, machine_description
    from .train import run

    folder = Path(args.run)
    if not (folder / "record.json").is_file():
        raise CliError(f"{folder}: not a run folder (no record.json)")
    found = inspect_run(folder)  # the same judgement as sweep and report
    if not found.ok:
        raise CliError(f"corrupt run: {found.reason}")
    record, counts, domain, cfg = found.record, found.counts, found.domain, found.config
    from .experiments.prereg import sealed

    # a run of a sealed v2 store: compare everything, print no test value (book/preregistration.md)
    hide = bool(sealed(folder.resolve().parents[1]))
    device = _check_device(args.device)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(f"stored: {record.get('variant')} on {record.get('dataset')}, seed {record.get('seed')}, "
          f"code {record.get('code_version')}, {record.get('machine')}", flush=True)
    print(f"now:    code {code_version()}, {machine_description()}", flush=True)
    if not found.verified:
        print("note:   a legacy record (written before records carried a content checksum): its ranks are "
              "verified, its other fields are not", flush=True)
    if args.replay:
        epochs = record.get("epochs_run")
        if not isinstance(epochs, int) or epochs < 1:
            raise CliError(f"{folder}/record.json: --replay needs the stored run's epochs_run, found {epochs!r}")
        # a run its budget stopped never reached its patience: switching patience off is exact, and
        # keeps a near-tie that rounds the other way on this machine from stopping the replay early
        patience = 0 if record.get("stop_reason") == "time_budget" else cfg.train.patience
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs, max_minutes=0.0,
                                                                 patience=patience))
        print(f"replay: exactly {epochs} epochs, no time budget", flush=True)
    # say up front when "identical" cannot be expected, rather than only failing afterwards
    elif cfg.train.max_minutes and record.get("stop_reason") == "time_budget":
        print(f"note:   the stored run stopped at its {cfg.train.max_minutes:g}-minute training budget after "
              f"epoch {record.get('epochs_run')}; this rerun stops wherever that budget falls on this machine, "
              "so its ranks can match only if it reaches the same epoch; --replay trains exactly that many "
              "epochs (book: decision D18)", flush=True)
    stored_device = str(record.get("device") or "cpu")
    if stored_device.split(":")[0] != device.split(":")[0]:  # "cuda (NVIDIA H200)" vs "cpu", or another GPU
        print(f"note:   the stored run trained on {stored_device}; this rerun trains on {device}, so "
              "floating-point rounding differs and some ranks will too", flush=True)
    new = run(cfg, args.data_dir, progress=not args.quiet, device=args.device)
    print(f"epochs: stored {record.get('epochs_run')} run, epoch {record.get('best_epoch')} selected; "
          f"now {new.record['epochs_run']} run, epoch {new.record['best_epoch']} selected", flush=True)
    problems = []
    if not np.array_equal(new.test_domain, domain):
        problems.append("the test users' target domains differ (other data?)")
    for protocol, old in counts.items():
        got = new.test_counts.get(protocol)
        if got is None:
            problems.append(f"{protocol}: not computed by this run")
            continue
        for name in ("greater", "equal", "n_candidates"):
            a, b = getattr(old, name), getattr(got, name)
            if a.shape != b.shape or not np.array_equal(a, b):
                n = int((a != b).sum()) if a.shape == b.shape else len(a)
                problems.append(f"{protocol} {name}: {n} of {len(a)} users differ")
    for protocol, metrics in record["test"].items():
        differ = [key for key, value in metrics.items() if new.record["test"].get(protocol, {}).get(key) != value]
        if differ:
            problems.append(f"{protocol} metrics: {len(differ)} of {len(metrics)} differ ({', '.join(differ[:4])}"
                            + (", ..." if len(differ) > 4 else "") + ")")
        for key, value in metrics.items():
            now = new.record["test"].get(protocol, {}).get(key)
            mark = "==" if now == value else "!="
            if key.endswith(("NDCG@10", "AUC")):
                shown = ("(sealed)", "(sealed)") if hide else (_number(value), _number(now))
                print(f"  {protocol:8} {key:10} stored {shown[0]} {mark} now {shown[1]}")
    if problems:
        print("DIFFERENT: " + "; ".join(problems))
        return 1
    print(f"IDENTICAL: every per-user rank count of {sum(len(c.greater) for c in counts.values())} "
          f"(users x protocols) and every test metric matches the stored run")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .experiments import ResultsStore, report_frame, to_markdown
    from .results import check_writable

    store = ResultsStore(_store_root(args.store))
    if not store.root.is_dir():
        raise UsageError(f"--store {args.store}: no such folder")
    for flag, path in (("--out", args.out), ("--export", args.export)):
        if path:  # before the (slow) tables, not after
            check_writable(Path(path).parent, flag)
    frame = report_frame(store, tie_rule=args.tie_rule, n_boot=args.n_boot)
    text = to_markdown(frame) if args.format == "md" else frame.to_csv(index=False)
    if args.format == "md" and args.verdicts and not frame.empty:
        from .experiments.digest import report_markdown

        extra = report_markdown(store, n_boot=args.n_boot)
        text += "\n" + extra if extra else ""
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    if args.export:
        pq, csv = store.export(args.export)
        print(f"wrote {pq} and {csv}", file=sys.stderr)
    return 0


def _number(value) -> str:
    return f"{value:.6f}" if isinstance(value, (int, float)) else repr(value)


def _check_device(device: str) -> str:
    """``--device``: a torch device this machine has; returns its description (GPU name)."""
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise UsageError(f"--device {device}: not a torch device (cpu, cuda, cuda:1, ...)") from None
    if kind == "cpu":
        return device
    if kind != "cuda":
        raise UsageError(f"--device {device}: only cpu and cuda are supported")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {device}: torch sees no CUDA device on this machine")
    return f"cuda ({torch.cuda.get_device_name(torch.device(device))})"
