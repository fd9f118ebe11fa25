#!/usr/bin/env python3
"""One-off, kept for provenance: re-key lite runs stored before the preset gained ``min_epochs=40``.

    python scripts/migrate_min_epochs.py STORE [--dry-run]

A lite run trained with ``min_epochs=0`` that early-stopped at epoch 40 or later is, epoch for
epoch, the run ``min_epochs=40`` would have trained: the guard only forbids stopping *before*
epoch 40, and this run never wanted to. Its training, selected checkpoint and test ranks are
therefore identical, so the record's config gets ``min_epochs: 40``, the folder moves to the new
configuration hash, and the record notes the migration (``migrated``). Runs that stopped earlier
are left alone: under the new preset they would have trained on. ``gca-lite rerun`` on a migrated
run checks the claim by training the new config from scratch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys

from gca_lite.config import config_hash
from gca_lite.experiments import ResultsStore
from gca_lite.experiments.store import record_config

MIN_EPOCHS = 40
OLD_LITE_TRAIN = {"epochs": 150, "patience": 20, "min_epochs": 0, "lr": 1e-3, "weight_decay": 0.1}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("store")
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    store = ResultsStore(args.store)
    moved = 0
    for folder, record, _, _ in list(store.iter_runs()):
        cfg = record_config(folder, record)
        if cfg is None or cfg.model.d != 64:
            continue
        train = record["config"]["train"]
        if any(train.get(k, 0) != v for k, v in OLD_LITE_TRAIN.items()):
            continue
        if record["stop_reason"] == "early_stopping" and record["epochs_run"] < MIN_EPOCHS:
            print(f"keep   {folder.name} {cfg.name}: stopped at epoch {record['epochs_run']} < {MIN_EPOCHS}")
            continue
        record["config"]["train"]["min_epochs"] = MIN_EPOCHS
        new_cfg = record_config(folder, record)
        new_hash = config_hash(new_cfg)
        target = folder.parent / new_hash
        print(f"move   {folder.name} -> {new_hash} {cfg.name} (stopped at epoch {record['epochs_run']})")
        if args.dry_run:
            continue
        if target.exists():
            print(f"       {target} exists already; left as is", file=sys.stderr)
            continue
        record["migrated"] = {"from_config_hash": record["config_hash"], "added": {"train.min_epochs": MIN_EPOCHS},
                              "why": f"early-stopped at epoch {record['epochs_run']} >= {MIN_EPOCHS}: the "
                                     "min_epochs guard could not have changed this run",
                              "by": "scripts/migrate_min_epochs.py"}
        record["config_hash"] = new_hash
        shutil.copytree(folder, target)
        (target / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True))
        shutil.rmtree(folder)
        moved += 1
    print(f"{moved} run(s) migrated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
