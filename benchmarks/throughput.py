"""Throughput of today's trainer (preset ``lite``, v1 counting) against the fast path (preset ``lite_v2``).

Writes ``benchmarks/results/throughput.json`` after every step, so a cut-short run leaves honest
partial results (``complete`` says whether every step ran). Steps, each in its own subprocess so that
its peak RSS is its own:

* ``epochs``: per dataset (afk, abe) and width (lite d 64 on 1 thread; d 256 = the paper preset's
  dimensions on 2 threads), interleaved repeats of one training epoch, one validation pass with the
  v1 counting (``evaluate.rank_evalset_reference``: user x item masks counted in torch) and one with
  the fast counting (``evaluate.rank_evalset``; identical counts, checked here too); medians.
* ``runs``: whole runs, base model, seed 0: ``lite_v2`` (the fast path) and, unless ``--skip-baseline``,
  ``lite`` with the v1 counting patched in (today's trainer), each to its own end (early stopping /
  fixed budget); wall time, epochs, selected epoch, its validation score (never test) and peak RSS.
  The two datasets run side by side, one thread each (as the grids run), each dataset's two runs one
  after the other, so both trainers of a dataset share the machine with a run of the other dataset.
* ``rss``: peak RSS of a short d 256 run on the fast path.

``lite_run_speedup`` is measured from the whole runs when both ran in this benchmark; the projected
value beside it uses the interleaved per-epoch medians and each trainer's exact epoch counts (today's
from the stored v1 record of the same configuration, which reruns identically), which is far less
sensitive to the load of a shared machine. Projections for the v1 and v2 grids use the same medians.

    python benchmarks/throughput.py [--data-dir ../shared/data] [--repeats 3] [--steps epochs,runs,rss]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "throughput.json"
DATASETS = ("afk", "abe")
WIDTHS = {"lite": dict(threads=1), "d256": dict(threads=2)}
V2_RUNS = {  # issue 24, rough counts (fast-preset runs unless said otherwise), 2 datasets each
    "primary endpoint, 2 variants x 10 seeds, chosen + today's reading": 2 * 10 * 2 * 2,
    "readings screen, base + GCA[1]-sigmoid LN on/off x ~4 readings, 5 seeds": (1 + 2 * 4) * 5 * 2,
    "variant table, 16 GCA variants + base, 5 seeds, chosen + today's reading": 17 * 5 * 2 * 2,
    "scaling curves, 8 GCA sizes + 8 widened bases, 5 seeds": 16 * 5 * 2,
    "same-day shuffle check of the primary endpoint, 10 seeds": 2 * 10 * 2,
}
V2_PAPER_RUNS = 2 * 5 * 2  # paper preset: base vs GCA[1]-sigmoid,True, 5 seeds, 2 datasets
PARALLEL = 2  # runs side by side on 2 cores, one thread each
FAST = "lite_v2"  # the fast path's preset


# ------------------------------------------------------------------------------------------ workers
def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup(dataset: str, data_dir: str, width: str):
    import torch

    from gca_lite.config import preset
    from gca_lite.data import load_dataset
    from gca_lite.data.splits import make_splits

    torch.set_num_threads(WIDTHS[width]["threads"])
    cfg = preset("lite" if width == "lite" else "paper", dataset)
    ds = load_dataset(dataset, data_dir)
    return cfg, ds, make_splits(ds, cfg.model.max_len)


def _train_epoch(model, opt, sp, ds, cfg, rng, max_batches: int = 0, batch_size: int = 0) -> tuple[float, float]:
    """(wall, CPU) seconds of one training epoch; with ``max_batches`` the first batches of the
    shuffled epoch are timed and scaled up by the number of batches (d 256: time)."""
    from gca_lite.train import NegativeSampler, length_buckets, train_batch

    sampler = NegativeSampler("shared", cfg.train.n_neg, ds.n_items_a, ds.n_items_b, sp.train, rng)
    batches = length_buckets(sp.train.lengths, batch_size or cfg.train.batch_size, rng)
    timed = batches[:max_batches] if max_batches else batches
    t0, c0 = time.perf_counter(), time.process_time()
    model.train()
    for rows in timed:
        batch = train_batch(sp.train, rows)
        loss, _ = model.loss(batch, *sampler(rows, tuple(batch["target"].shape)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    scale = len(batches) / len(timed)
    return (time.perf_counter() - t0) * scale, (time.process_time() - c0) * scale


def worker_epochs(dataset: str, data_dir: str, width: str, repeats: int) -> dict:
    """Interleaved medians: train epoch, validation (v1 counting), validation (fast counting)."""
    import numpy as np
    import torch

    from gca_lite.candidates import cached_candidates
    from gca_lite.config import preset
    from gca_lite.evaluate import rank_evalset, rank_evalset_reference
    from gca_lite.model import ABXI
    from gca_lite.train import default_cache_dir

    cfg, ds, sp = _setup(dataset, data_dir, width)
    cand = cached_candidates(default_cache_dir(), ds, sp.valid, cfg.eval.n_candidates, 0)
    out = {"threads": torch.get_num_threads(), "peak_rss_mb_loaded": _peak_rss_mb()}
    # d 256 (time): 4 training batches and a random quarter of the validation users, scaled up
    rows = np.arange(len(sp.valid))
    if width != "lite":
        rows = np.sort(np.random.default_rng(0).permutation(rows)[:len(rows) // 4])
        out["scaled_from"] = "4 training batches, a quarter of the validation users"
    rss: dict[str, float] = {}
    for name, points in (("base", ()), ("GCA[1]-sigmoid,True", (1,))):
        model_cfg = dataclasses.replace(cfg.model, gca_points=points)
        model = ABXI(model_cfg, ds.n_items_a, ds.n_items_b, generator=torch.Generator().manual_seed(0))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
        rng = np.random.default_rng(0)
        times: dict[str, list] = {k: [] for k in ("train", "valid_v1", "valid_fast", "train_cpu",
                                                   "valid_v1_cpu", "valid_fast_cpu", "train_fast", "train_fast_cpu")}
        for _ in range(repeats if name == "base" else max(1, repeats - 1)):
            wall, cpu = _train_epoch(model, opt, sp, ds, cfg, rng, 0 if width == "lite" else 4)
            times["train"].append(wall)
            times["train_cpu"].append(cpu)
            if width == "lite":  # the fast preset's epoch: its own batch size
                wall, cpu = _train_epoch(model, opt, sp, ds, cfg, rng, 0, preset(FAST).train.batch_size)
                times["train_fast"].append(wall)
                times["train_fast_cpu"].append(cpu)
            rss["after_train"] = _peak_rss_mb()
            for key, fn in (("valid_fast", rank_evalset), ("valid_v1", rank_evalset_reference)):
                t0, c0 = time.perf_counter(), time.process_time()
                counts = fn(model, sp.valid, ds.n_items_a, cand, cfg.eval.batch_size, rows)
                times[key].append((time.perf_counter() - t0) * len(sp.valid) / len(rows))
                times[f"{key}_cpu"].append((time.process_time() - c0) * len(sp.valid) / len(rows))
                rss[f"after_{key}"] = _peak_rss_mb()
                if key == "valid_fast":
                    fast = counts
            same = all(np.array_equal(getattr(fast[p], f), getattr(counts[p], f))
                       for p in counts for f in ("greater", "equal", "n_candidates"))
            if not same:
                raise AssertionError(f"{dataset} {width} {name}: fast counts differ from the v1 counts")
        med = {f"{k}_seconds": statistics.median(v) for k, v in times.items() if v}
        med["validation_speedup"] = med["valid_v1_seconds"] / med["valid_fast_seconds"]
        med["validation_speedup_cpu"] = med["valid_v1_cpu_seconds"] / med["valid_fast_cpu_seconds"]
        med["load_average_after"] = os.getloadavg()[0]
        med["repeats"] = len(times["train"])
        med["peak_rss_mb"] = dict(rss)  # process peak after each step (fast path first, v1 counting last)
        med["counts_identical"] = True
        out[name] = med
        if width != "lite":
            break  # d 256: the base model only (time)
    return out


def worker_run(dataset: str, data_dir: str, preset_name: str, width: str, epochs: int) -> dict:
    """One whole run (base, seed 0); ``lite`` with the v1 counting = today's trainer."""
    import torch

    from gca_lite import evaluate, train
    from gca_lite.config import preset

    torch.set_num_threads(WIDTHS[width]["threads"])
    cfg = preset(preset_name, dataset)
    if width == "d256":  # a short fast-path run at the paper preset's dims, for its memory
        cfg = dataclasses.replace(cfg, model=preset("paper", dataset).model,
                                  train=dataclasses.replace(cfg.train, epochs=epochs, warmup_epochs=0),
                                  eval=dataclasses.replace(cfg.eval, every=1))
    if preset_name == "lite":
        train.rank_evalset = evaluate.rank_evalset_reference  # today's trainer: the v1 counting
    return _summary(train.run(cfg, data_dir, progress=False).record) | {"threads": torch.get_num_threads()}


def _summary(rec: dict) -> dict:
    """What the benchmark keeps of a run record (validation only: no test metric is looked at)."""
    sel = rec["valid"]["full"] if rec["valid"] else None
    preset_name = FAST if rec["config"]["train"].get("lr_schedule", "constant") != "constant" else "lite"
    t = rec["config"]["train"]
    return {"preset": preset_name, "schedule": f"{t['epochs']} epochs, peak lr {t['lr']:g}, {t.get('lr_schedule', 'constant')}",
            "wall_seconds": rec["wall_seconds"], "epochs_run": rec["epochs_run"],
            "best_epoch": rec["best_epoch"], "stop_reason": rec["stop_reason"],
            "validations": sum("valid" in h for h in rec["history"]),
            "train_seconds_sum": sum(h["train_seconds"] for h in rec["history"]),
            "eval_seconds_sum": sum(h.get("eval_seconds", 0.0) for h in rec["history"]),
            "selected_valid_mrr_sum": (sel["A/MRR"] + sel["B/MRR"]) if sel else None,
            "peak_rss_mb": rec["peak_rss_mb"], "bf16": rec.get("bf16", False), "d": rec["config"]["model"]["d"]}


# ------------------------------------------------------------------------------------------ driver
def _spawn(kind: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, __file__, "--worker", kind, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _stored_v1_epochs(dataset: str) -> int | None:
    """epochs_run of the stored v1 lite base seed-0 run (today's trainer reruns it identically)."""
    from gca_lite.config import preset
    from gca_lite.experiments.store import ResultsStore

    path = REPO / "results" / dataset / ResultsStore.key(preset("lite", dataset)) / "record.json"
    return json.loads(path.read_text())["epochs_run"] if path.exists() else None


def _fast_epochs() -> tuple[int, int]:
    from gca_lite.config import preset
    from gca_lite.schedule import validates

    t = preset(FAST).train
    every = preset(FAST).eval.every
    return t.epochs, sum(validates(e, t.warmup_epochs, every, t.epochs) for e in range(1, t.epochs + 1))


def _machine() -> dict:
    from gca_lite.precision import cpu_has_bf16
    from gca_lite.provenance import machine_description

    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 "unknown")
    flags = open("/proc/cpuinfo").read().split()
    return {"description": machine_description(), "cpu_model": model,
            "bf16_native": cpu_has_bf16(), "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags,
            "avx2": "avx2" in flags, "load_average_at_start": os.getloadavg(),
            "shared": "2 cores, shared with other (niced) jobs; ratios are of runs made in this benchmark run"}


def projections(res: dict) -> dict:
    """Whole-run and grid projections from the per-epoch medians (see the module docstring)."""
    out: dict = {}
    n_epochs, n_valid = _fast_epochs()
    speedups = []
    for ds in DATASETS:
        e = res.get("epochs", {}).get(f"{ds}/lite", {}).get("base")
        v1_epochs = _stored_v1_epochs(ds)
        if not e or v1_epochs is None:
            continue
        today = v1_epochs * (e["train_seconds"] + e["valid_v1_seconds"])
        fast = n_epochs * e.get("train_fast_seconds", e["train_seconds"]) + n_valid * e["valid_fast_seconds"]
        out[f"{ds}/lite_run_seconds_today"] = today
        out[f"{ds}/lite_run_seconds_fast"] = fast
        out[f"{ds}/lite_run_speedup_projected"] = today / fast
        out[f"{ds}/v1_epochs_run"] = v1_epochs
        speedups.append(today / fast)
    if speedups:
        out["lite_run_speedup_projected"] = statistics.mean(speedups)
    grid = _grid_projection(res, n_epochs, n_valid)
    if grid:
        out.update(grid)
        per_run = out["v1_grid_fast_run_seconds_median"]
        out["v2_grid_lite_runs"] = sum(V2_RUNS.values())
        out["v2_grid_lite_hours"] = out["v2_grid_lite_runs"] * per_run / PARALLEL / 3600
    return out


def _grid_projection(res: dict, n_epochs: int, n_valid: int) -> dict:
    """The v1 grid (168 stored lite runs) on the fast preset: each run's stored wall time scaled by the measured
    per-epoch costs (base or GCA, per dataset) of today's trainer over its own epochs vs the budget."""
    walls, fast_walls = [], []
    for path in (REPO / "results").glob("*/*/record.json"):
        rec = json.loads(path.read_text())
        kind = "base" if not rec["config"]["model"]["gca_points"] else "GCA[1]-sigmoid,True"
        e = res.get("epochs", {}).get(f"{rec['dataset']}/lite", {}).get(kind)
        if rec["config"]["model"]["d"] != 64 or not e:
            continue
        today = rec["epochs_run"] * (e["train_seconds"] + e["valid_v1_seconds"])
        fast = n_epochs * e.get("train_fast_seconds", e["train_seconds"]) + n_valid * e["valid_fast_seconds"]
        walls.append(rec["wall_seconds"])
        fast_walls.append(rec["wall_seconds"] * fast / today)
    if not walls:
        return {}
    return {"v1_grid_runs": len(walls), "v1_grid_hours_stored": sum(walls) / PARALLEL / 3600,
            "v1_grid_hours_fast": sum(fast_walls) / PARALLEL / 3600,
            "v1_grid_fast_run_seconds_median": statistics.median(fast_walls),
            "grid_note": "stored wall times (2 runs side by side, 1 thread each) scaled by interleaved "
                         "per-epoch medians; GCA runs use GCA[1]-sigmoid,True's costs"}


def paper_projection(res: dict) -> dict:
    """paper_epoch_seconds (d 256, 2 threads, fast path) and one converged paper-preset run."""
    out = {}
    secs = [res["epochs"][f"{ds}/d256"]["base"]["train_seconds"] + res["epochs"][f"{ds}/d256"]["base"]["valid_fast_seconds"]
            for ds in DATASETS if "base" in res.get("epochs", {}).get(f"{ds}/d256", {})]
    if not secs:
        return out
    out["paper_epoch_seconds_wall_loaded"] = statistics.mean(secs)
    cpu = [(res["epochs"][f"{ds}/d256"]["base"]["train_cpu_seconds"] + res["epochs"][f"{ds}/d256"]["base"]["valid_fast_cpu_seconds"])
           / res["epochs"][f"{ds}/d256"]["threads"] for ds in DATASETS if "base" in res.get("epochs", {}).get(f"{ds}/d256", {})]
    out["paper_epoch_seconds_idle_estimate"] = statistics.mean(cpu)  # CPU seconds / threads
    epochs = []
    for path in (REPO / "results").glob("*/*/record.json"):
        rec = json.loads(path.read_text())
        if rec["config"]["model"]["d"] == 256:
            epochs.append(rec["epochs_run"])
    if epochs:
        out["paper_run_epochs_median_stored"] = statistics.median(epochs)
        out["paper_run_hours_projected_idle_estimate"] = (statistics.median(epochs)
                                                          * out["paper_epoch_seconds_idle_estimate"] / 3600)
        out["v2_paper_runs"] = V2_PAPER_RUNS
        out["v2_paper_hours_projected"] = V2_PAPER_RUNS * out["paper_run_hours_projected_idle_estimate"]
    return out


def _save(res: dict) -> None:
    res["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    res["projection"] = projections(res) | paper_projection(res)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", default="epochs,runs,rss")
    ap.add_argument("--widths", default="lite,d256")
    ap.add_argument("--skip-baseline", action="store_true", help="no whole run of today's trainer")
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        kind, *rest = args.worker
        result = worker_epochs(rest[0], args.data_dir, rest[1], int(rest[2])) if kind == "epochs" else \
            worker_run(rest[0], args.data_dir, rest[1], rest[2], int(rest[3]))
        print(json.dumps(result))
        return
    res = json.loads(OUT.read_text()) if OUT.exists() else {}
    res.update({"machine": _machine(), "complete": False, "v2_run_counts": V2_RUNS,
                "notes": "lite_run_speedup: measured whole runs if present, else the projection"})
    steps = args.steps.split(",")
    if "epochs" in steps:
        for width in args.widths.split(","):
            for ds in DATASETS:
                res.setdefault("epochs", {})[f"{ds}/{width}"] = _spawn("epochs", ds, width, str(args.repeats))
                _save(res)
    if "runs" in steps:
        names = (FAST,) + (() if args.skip_baseline else ("lite",))
        with ThreadPoolExecutor(len(DATASETS)) as pool:  # the datasets side by side, one thread each
            lanes = {ds: pool.submit(lambda ds=ds: [_spawn("run", ds, name, "lite", "0") for name in names])
                     for ds in DATASETS}
            for ds, lane in lanes.items():
                for name, got in zip(names, lane.result()):
                    res.setdefault("runs", {})[f"{ds}/{name}"] = got
                _save(res)
        got = res["runs"]
        for ds in DATASETS:
            if "wall_seconds" in got.get(f"{ds}/lite", {}) and "wall_seconds" in got.get(f"{ds}/{FAST}", {}):
                got[f"{ds}/lite_run_speedup"] = got[f"{ds}/lite"]["wall_seconds"] / got[f"{ds}/{FAST}"]["wall_seconds"]
    if "rss" in steps:
        res.setdefault("runs", {})["afk/d256_rss"] = _spawn("run", "afk", FAST, "d256", "1")
    fast_walls = {ds: res.get("runs", {}).get(f"{ds}/{FAST}", {}).get("wall_seconds") for ds in DATASETS}
    if all(fast_walls.values()):  # per-run seconds for the v2 budget (two runs side by side, 1 thread each)
        res["v2_run_seconds"] = fast_walls
    measured = [v for k, v in res.get("runs", {}).items() if k.endswith("/lite_run_speedup")]
    res["lite_run_speedup"] = statistics.mean(measured) if len(measured) == len(DATASETS) else None
    res["complete"] = all(s in steps for s in ("epochs", "runs", "rss")) and not args.skip_baseline
    _save(res)
    proj = res["projection"]
    if res["lite_run_speedup"] is None:
        res["lite_run_speedup"] = proj.get("lite_run_speedup_projected")
        res["lite_run_speedup_source"] = "projected (whole runs of today's trainer not measured in this run)"
    else:
        res["lite_run_speedup_source"] = "measured whole runs, same data, seed and machine, this benchmark run"
    res["paper_epoch_seconds"] = proj.get("paper_epoch_seconds_idle_estimate")
    res["paper_epoch_seconds_source"] = (
        "CPU seconds of a d 256 epoch (train + fast validation) / 2 threads, i.e. the wall time on an idle "
        "2-core machine with both threads busy; the wall time measured under this run's load is "
        "projection.paper_epoch_seconds_wall_loaded")
    _save(res)
    print(json.dumps({k: res[k] for k in ("lite_run_speedup", "paper_epoch_seconds")}, indent=1))


if __name__ == "__main__":
    main()
