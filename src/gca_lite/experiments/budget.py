"""Time-budgeted runs side by side across results stores.

A run with ``train.max_minutes`` stops when its wall-clock budget is spent, so how far it trains
depends on the machine and on how many runs share it; two stores holding the same setting can then
hold two different training regimes. This module lays their runs out together (epochs reached,
seconds per epoch, test scores) so the results page can show why such stores are kept apart.
"""

from __future__ import annotations

from .report import DOMAINS
from .store import ResultsStore, record_config


def budget_runs(stores: dict[str, ResultsStore | str], metric: str = "NDCG@10"):
    """One row per time-budgeted run of each store: where it is kept (the dict's key), dataset,
    variant, seed, selected and last epoch, seconds per epoch, stop reason and test ``metric`` per
    domain under both protocols. Runs without a time budget are left out; a store that does not
    exist raises (a typo must not read as "no runs")."""
    import pandas as pd

    rows = []
    for where, store in stores.items():
        store = store if isinstance(store, ResultsStore) else ResultsStore(store)
        if not store.root.is_dir():
            raise FileNotFoundError(f"results store {where!r}: no folder {store.root}")
        for folder, record, _, _ in store.iter_runs(warn=False):
            cfg = record_config(folder, record)
            if cfg is None or not cfg.train.max_minutes:
                continue
            row = {"kept in": where, "dataset": cfg.data.dataset, "variant": cfg.model.variant_name,
                   "seed": cfg.train.seed, "budget (min)": cfg.train.max_minutes,
                   "selected epoch": record.get("best_epoch"), "epochs run": record.get("epochs_run"),
                   "s / epoch": record.get("epoch_seconds_mean"), "stopped by": record.get("stop_reason"),
                   "device": str(record.get("device", "cpu")), "run": folder.name}
            for protocol in ("full", "sampled"):
                for dom in DOMAINS:
                    row[f"{protocol} {dom}"] = record.get("test", {}).get(protocol, {}).get(f"{dom}/{metric}")
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = frame.assign(_base=frame["variant"] != "base")  # the base model first, as in every table
    return (order.sort_values(["dataset", "_base", "variant", "seed", "kept in"], ignore_index=True)
            .drop(columns="_base"))
