"""Run issue 6's real-data grid (experiments/real_lite_grid.yaml) in priority order.

The whole grid is 168 runs, more than one sitting on a laptop; this orders the missing runs so that
every partial state of results/ answers the most important questions first: (1) base,
GCA[1]-sigmoid,True (the paper's best variant), GCA[0]-sigmoid,True (GCA_early) and their
parameter-matched base, seed by seed on both datasets; (2) the rest of the scaling series, the
LayerNorm and gate contrasts at point 1 and the same-day-shuffle ablation; (3) the LayerNorm-off
twins of the stored sigmoid variants and the sigmoid pair at point 2, so that the LayerNorm claim
has three seeds at every insertion point (sigmoid gate) before any tanh variant runs; (4) every
other variant; (5) last, the matched bases of the LayerNorm-off sizes. Those widen the base's FFN to 213
and 300 units against 214 and 302 for the LayerNorm-on sizes (LayerNorm's few weights, 2d per norm,
shift the matched width by one or two units), so they are near-duplicates of base~1xGCA,True and base~3xGCA,True
and decide no claim of the paper (the parameter-matched claims use the LayerNorm-on scaling
series). Resumable like any sweep.

    python experiments/run_real.py --data-dir ../shared/data --store results [--dataset afk]
        [--workers 2 --threads 1] [--max-runs N] [--dry-run] [--from-end]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gca_lite.experiments import ResultsStore, load_grid, sweep

GRID = Path(__file__).with_name("real_lite_grid.yaml")
TIERS = (
    ("base", "GCA[1]-sigmoid,True", "GCA[0]-sigmoid,True", "base~1xGCA,True"),
    ("GCA[0,1,2]-sigmoid,True", "base~3xGCA,True", "GCA[1]-sigmoid,False", "GCA[1]-tanh,True",
     "GCA[0,0]-sigmoid,True", "GCA[0,0,0]-sigmoid,True", "GCA[0,1]-sigmoid,True", "base~2xGCA,True",
     "shuffled"),
    ("GCA[0]-sigmoid,False", "GCA[0,1,2]-sigmoid,False", "GCA[2]-sigmoid,True", "GCA[2]-sigmoid,False"),
)
LAST = ("base~1xGCA,False", "base~3xGCA,False")  # after every other variant (module doc)


def priority(cfg) -> tuple:
    """Tier first; inside a tier, seed by seed (both datasets), so that every prefix of the order
    holds complete paired sets: base, GCA[1], GCA[0] and the matched base of one seed, then the next."""
    name = "shuffled" if cfg.data.tie_shuffle_seed is not None else cfg.model.variant_name
    tier = next((k for k, names in enumerate(TIERS) if name in names), len(TIERS) + (name in LAST))
    rank = TIERS[tier].index(name) if tier < len(TIERS) else 0
    return tier, cfg.train.seed, cfg.data.dataset, rank, cfg.model.variant_name


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--store", default="results")
    p.add_argument("--dataset", action="append", choices=("afk", "abe"),
                   help="only this dataset (repeatable; default both)")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-runs", type=int, default=None)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--from-end", action="store_true",
                   help="take the missing runs from the end of the order, so that a second host "
                        "(say a lent machine's cores) works toward this one without both training the same run")
    args = p.parse_args()
    configs = [c for c in load_grid(GRID, args.data_dir) if not args.dataset or c.data.dataset in args.dataset]
    configs.sort(key=priority, reverse=args.from_end)
    store = ResultsStore(args.store)
    if args.dry_run:
        done = [store.has(c, warn=False) for c in configs]
        for c, ok in zip(configs, done):
            print("done   " if ok else "missing", c.name, "(shuffled)" if c.data.tie_shuffle_seed is not None else "")
        for tier in range(len(TIERS) + 2):
            in_tier = [ok for c, ok in zip(configs, done) if priority(c)[0] == tier]
            print(f"tier {tier}: {sum(in_tier)} of {len(in_tier)} stored")
        return
    summary = sweep(configs, store, workers=args.workers, threads=args.threads, data_dir=args.data_dir,
                    max_runs=args.max_runs, desc="real-lite")
    print(summary)


if __name__ == "__main__":
    main()
