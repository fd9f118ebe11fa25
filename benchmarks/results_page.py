"""Time the results page's computations on a store as large as the finished issue-6 grid.

The committed store holds part of the grid. This copies it to a temporary folder and fills every
missing grid run with a stand-in: the per-user ranks of a stored run of the same dataset, seed and
preset (the base model), filed under the missing configuration. The numbers are meaningless; the
amount of work (groups, seeds, users, comparisons) is that of the full grid, which is what the
page's run time depends on. Needs the data (the grid's matched bases are sized from it).

    python benchmarks/results_page.py --data-dir ../shared/data [--n-boot 1000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from gca_lite.config import to_dict
from gca_lite.experiments import ResultsStore, load_grid
from gca_lite.experiments import summary as S
from gca_lite.experiments.artefact import artefact_frame
from gca_lite.experiments.report import report_frame
from gca_lite.experiments.store import record_config
from gca_lite.experiments.verdicts import contexts, verdict_frame
from gca_lite.provenance import machine_description
from gca_lite.results import rewrite_record

REPO = Path(__file__).resolve().parents[1]


def fill(store: ResultsStore, grid: Path, data_dir: str) -> int:
    """Stand-ins for every grid run the store lacks; returns how many were added."""
    donors = {}
    for folder, record, _, _ in store.iter_runs(warn=False):
        cfg = record_config(folder, record)
        if cfg is not None and not cfg.model.gca_points and not cfg.model.matched_to and cfg.model.d == 64:
            donors[(cfg.data.dataset, cfg.train.seed)] = folder
    added = 0
    for cfg in load_grid(grid, data_dir):
        if store.has(cfg, warn=False):
            continue
        donor = donors[(cfg.data.dataset, cfg.train.seed)]
        record = json.loads((donor / "record.json").read_text())
        record.update(config=to_dict(cfg), config_hash=store.key(cfg), variant=cfg.model.variant_name)
        folder = store.path(cfg)
        folder.mkdir(parents=True, exist_ok=True)  # an unfinished run leaves an empty folder
        shutil.copy(donor / "ranks.npz", folder / "ranks.npz")
        rewrite_record(folder, record)  # sealed: an edited record is otherwise corrupt
        added += 1
    return added


def time_page(root: Path, n_boot: int) -> dict[str, float]:
    """Seconds per step, in the order the results notebook runs them, from cold caches."""
    from gca_lite.experiments import resample
    from gca_lite.experiments import store as store_module

    store_module._READ_CACHE.clear()  # fill() has read every run already
    resample._mean_counts.cache_clear()
    resample._paired_draws.cache_clear()
    out, store = {}, ResultsStore(root)

    def step(name, fn):
        t = time.perf_counter()
        value = fn()
        out[name] = time.perf_counter() - t
        return value

    step("report_frame", lambda: report_frame(store, n_boot=n_boot))
    ctxs = step("contexts", lambda: contexts(store))
    step("verdict_frame", lambda: verdict_frame(store, n_boot=n_boot, ctxs=ctxs))
    step("artefact_frame", lambda: artefact_frame(ctxs, n_boot=n_boot))
    step("noise_budget", lambda: S.noise_budget(ctxs, n_boot=n_boot))
    step("paper_vs_ours", lambda: S.paper_vs_ours(store))
    out["total"] = sum(out.values())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--store", default=str(REPO / "results"))
    p.add_argument("--grid", default=str(REPO / "experiments" / "real_lite_grid.yaml"))
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "results_page.json"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "store"
        shutil.copytree(args.store, root, ignore=shutil.ignore_patterns("_cache", "lock"))
        stored = sum(1 for _ in ResultsStore(root).iter_runs(warn=False))
        added = fill(ResultsStore(root), Path(args.grid), args.data_dir)
        runs = [time_page(root, args.n_boot) for _ in range(args.repeat)]
    result = {
        "runs_in_store": stored + added, "stand_ins": added, "n_boot": args.n_boot,
        "seconds_median": {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]},
        "seconds_all": runs,
        "machine": machine_description(),
        "command": f"python benchmarks/results_page.py --n-boot {args.n_boot} --repeat {args.repeat}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
