#!/usr/bin/env python3
"""Retrain one stored real-data run and save the explorer's compact attention summaries.

    python scripts/attention_summaries.py results/abe/5c5770edaaa98d89 --data-dir ../shared/data \
        --weights runs/explorer/5c5770edaaa98d89.pt --train-only       # ~15 min on 2 shared cores
    python scripts/attention_summaries.py results/abe/5c5770edaaa98d89 --data-dir ../shared/data \
        --weights runs/explorer/5c5770edaaa98d89.pt --out src/gca_lite/resources/attention_abe.json

The stored runs hold no weights (only metrics and per-user ranks), so the model is trained again
from the stored configuration and seeds; the script checks that its per-user test counts equal the
stored ones (the same check as ``gca-lite rerun``) and says so in the summary file. The weights
(``--weights``, not committed) are reused when present. The summary (:mod:`gca_lite.attention`)
is small enough to commit, so the explorer's real-data view needs neither the data nor training.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def train_weights(folder: Path, data_dir: str, weights: Path) -> dict:
    """Train the stored run of ``folder`` again; save its weights; return whether the ranks match."""
    import numpy as np
    import torch

    from gca_lite.experiments.store import record_config
    from gca_lite.results import read_run
    from gca_lite.train import run

    record, counts, _ = read_run(folder)
    cfg = record_config(folder, record)
    if cfg is None:
        raise SystemExit(f"{folder}/record.json: this code version cannot read the stored config")
    result = run(cfg, data_dir, progress=True, keep_model=True)
    same = {f"{k}/{name}": bool(np.array_equal(getattr(old, name), getattr(result.test_counts[k], name)))
            for k, old in counts.items() if k in result.test_counts
            for name in ("greater", "equal", "n_candidates")}
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.model.state_dict(), weights)
    check = {"ranks_identical": all(same.values()), "per_array": same,
             "test": result.record["test"]["full"], "epochs_run": result.record["epochs_run"]}
    weights.with_suffix(".check.json").write_text(json.dumps(check, indent=1))
    return check


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="stored run folder, e.g. results/abe/<config hash>")
    p.add_argument("--data-dir", required=True, help="folder with the real data files")
    p.add_argument("--weights", type=Path, required=True, help="trained weights (.pt); trained when missing")
    p.add_argument("--out", type=Path, help="summary JSON to write")
    p.add_argument("--users", type=int, default=250, help="test users to summarise (seeded choice)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--train-only", action="store_true", help="stop after saving the weights")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    if not args.weights.is_file():
        print(json.dumps(train_weights(args.run, args.data_dir, args.weights), indent=1), flush=True)
    if args.train_only:
        return 0
    if args.out is None:
        p.error("--out is required unless --train-only")
    from gca_lite.attention import summarise_run

    summary = summarise_run(args.run, args.data_dir, args.weights, n_users=args.users)
    check = args.weights.with_suffix(".check.json")
    if check.is_file():  # written when the weights were trained: do they give the stored results?
        retrained = json.loads(check.read_text())
        stored = json.loads((args.run / "record.json").read_text())["test"]["full"]
        summary["about"]["ranks_identical"] = retrained["ranks_identical"]
        summary["about"]["max_test_metric_difference"] = max(
            abs(stored[k] - v) for k, v in retrained["test"].items() if k.split("/")[1] not in ("n", "rank"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, separators=(",", ":")))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
