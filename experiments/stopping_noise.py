"""Would a fixed epoch budget make lite comparisons less noisy? (decision D17)

From the validation histories of the stored lite runs (no data, no training): for each variant and
dataset, the seed-by-seed difference to the base in validation MRR (full ranking, A + B) at the
selected epochs (what the grid does) and averaged over a fixed window of epochs that every run
reached (what a fixed budget would compare), with the SD of each over the seeds.

    python experiments/stopping_noise.py [--store results] [--window 51 60]
"""

from __future__ import annotations

import argparse

import numpy as np

from gca_lite.experiments import ResultsStore
from gca_lite.experiments.store import record_config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", default="results")
    p.add_argument("--window", type=int, nargs=2, default=(51, 60))
    args = p.parse_args()
    lo, hi = args.window
    runs = {}
    for folder, record, _, _ in ResultsStore(args.store).iter_runs(warn=False):
        cfg = record_config(folder, record)
        if cfg is None or cfg.model.d != 64 or cfg.data.tie_shuffle_seed is not None:
            continue
        score = {h["epoch"]: h["valid"]["full"]["A/MRR"] + h["valid"]["full"]["B/MRR"]
                 for h in record["history"] if "valid" in h}
        runs[(cfg.data.dataset, cfg.model.variant_name, cfg.train.seed)] = (score, record["best_epoch"])
    print(f"{'dataset':8}{'variant':28}{'seeds':>6}  {'SD at selected epochs':>22}  {'SD over epochs ' + f'{lo}-{hi}':>22}")
    for dataset, variant in sorted({(d, v) for d, v, _ in runs if v != "base"}):
        selected, window = [], []
        for seed in sorted(s for d, v, s in runs if (d, v) == (dataset, variant)):
            (a, best_a), base = runs[(dataset, variant, seed)], runs.get((dataset, "base", seed))
            if base is None or not all(e in a and e in base[0] for e in range(lo, hi + 1)):
                continue
            selected.append(a[best_a] - base[0][base[1]])
            window.append(np.mean([a[e] - base[0][e] for e in range(lo, hi + 1)]))
        if len(selected) > 1:
            print(f"{dataset:8}{variant:28}{len(selected):>6}  {np.std(selected, ddof=1):>22.4f}  "
                  f"{np.std(window, ddof=1):>22.4f}")


if __name__ == "__main__":
    main()
