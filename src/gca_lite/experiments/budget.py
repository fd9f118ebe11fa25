"""Time-budgeted runs side by side across results stores.

A run with ``train.max_minutes`` stops when its wall-clock budget is spent, so how far it trains
depends on the machine and on how many runs share it; two stores holding the same setting can then
hold two different training regimes. This module lays their runs out together (epochs reached,
seconds per epoch, test scores) and gives each seed's paired gap to the base, so the results page
can show why such stores are kept apart and what the extra seeds say.
"""

from __future__ import annotations

from pathlib import Path

from .report import DOMAINS, setting_label
from .store import ResultsStore, record_config
from .verdicts import RANGE_CLAIM, judged, with_notes

PROTOCOLS = ("full", "sampled")
SCORES = tuple(f"{p} {d}" for p in PROTOCOLS for d in DOMAINS)  # the score columns of a budget_runs frame


def budget_runs(stores: dict[str, ResultsStore | str | Path], metric: str = "NDCG@10"):
    """One row per time-budgeted run of each store: where it is kept (the dict's key; rows keep the
    dict's order of stores within a dataset, variant and seed), dataset,
    setting, variant, seed, selected and last epoch, seconds per epoch, stop reason and test
    ``metric`` per protocol and domain (columns ``full A`` ... ``sampled B``). Runs without a time
    budget are left out. A store that does not exist, or a ``metric`` no run recorded, raises: a
    typo must not read as "no runs"."""
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
            row = {"kept in": where, "dataset": cfg.data.dataset, "setting": setting_label(cfg),
                   "variant": cfg.model.variant_name, "seed": cfg.train.seed,
                   "budget (min)": cfg.train.max_minutes, "selected epoch": record.get("best_epoch"),
                   "epochs run": record.get("epochs_run"), "s / epoch": record.get("epoch_seconds_mean"),
                   "stopped by": record.get("stop_reason"), "device": record.get("device"),
                   "code version": str(record.get("code_version", "")).split("src.")[-1], "run": folder.name}
            for protocol in PROTOCOLS:
                for dom in DOMAINS:
                    row[f"{protocol} {dom}"] = record.get("test", {}).get(protocol, {}).get(f"{dom}/{metric}")
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    if frame[list(SCORES)].isna().all().all():
        raise ValueError(f"metric={metric!r}: no time-budgeted run recorded it (e.g. 'NDCG@10', 'AUC')")
    order = frame.assign(_base=frame["variant"] != "base")  # the base model first, as in every table
    # an ordered category: sorting and grouping keep the caller's order of stores (results/ first)
    order["kept in"] = pd.Categorical(order["kept in"], categories=list(stores), ordered=True)
    return (order.sort_values(["dataset", "setting", "_base", "variant", "seed", "kept in"], ignore_index=True)
            .drop(columns="_base"))


def gaps_by_seed(runs, variant: str):
    """Each seed's gap ``variant`` minus the base of the same store, dataset, setting and seed, from
    a ``budget_runs`` frame: one row per (dataset, store, seed), in the frame's order of stores, with
    one column per protocol and domain, then the epochs each of the two runs reached (``base epochs``,
    ``variant epochs``). Seeds without both runs are left out."""
    import pandas as pd

    keys = ["dataset", "setting", "kept in", "seed"]
    scores = list(SCORES)
    epochs = ["base epochs", "variant epochs"]
    if runs.empty:
        return pd.DataFrame(columns=keys + scores + epochs)
    pick = lambda name: runs[runs["variant"] == name].set_index(keys)  # noqa: E731
    base, other = pick("base"), pick(variant)
    gap = (other[scores] - base[scores]).dropna(how="all")
    gap["base epochs"] = base["epochs run"].reindex(gap.index)
    gap["variant epochs"] = other["epochs run"].reindex(gap.index)
    gap = gap.reset_index()
    return gap.sort_values(["dataset", "setting", "kept in", "seed"], ignore_index=True)


def note_budget_windows(verdicts, runs):
    """``verdicts`` with a note on every judged row that rests on time-budgeted runs (``runs``: a
    ``budget_runs`` frame) of more than one code version. Lent GPU time comes in separate windows,
    each with the code of its day and its own sharing of the machine, so such a row compares runs
    that had unequal time per epoch (D18). The |cos| range row compares nothing and gets none."""
    version = dict(zip(runs["run"], runs["code version"])) if len(runs) else {}

    def note(row) -> str:
        seen = sorted({version[r] for r in row.rests_on if r in version})
        if len(seen) < 2 or not judged(row.verdict) or row.claim == RANGE_CLAIM:
            return ""
        return f"compares time-budgeted runs from separate GPU windows (code {' and '.join(seen)}), not at equal time per epoch (D18)"
    return with_notes(verdicts, note)


def note_replication(verdicts, replicate, label: str):
    """``verdicts`` with a note, row by row, on what the same rules give on another store
    (``replicate``: a ``verdict_frame``, e.g. of seeds kept apart) for the same dataset, setting,
    protocol and claim, when that store judges it: "<label>: <verdict>, <the first clause of its
    evidence>". Rows the replicate cannot judge, and rows without runs here, get none."""
    other = {}
    for row in (replicate.itertuples() if replicate is not None else ()):
        if judged(row.verdict):
            evidence = str(row.evidence).split(" (")[0].split(";")[0]
            other[(row.dataset, row.setting, row.protocol, row.claim)] = f"{label}: {row.verdict}, {evidence}"
    return with_notes(verdicts, lambda row: "" if row.verdict.startswith("no runs")
                      else other.get((row.dataset, row.setting, row.protocol, row.claim), ""))


def cross_window(runs, dataset: str, setting: str) -> dict[str, tuple[str, str]]:
    """{variant: (its code versions, the base's)} for the time-budgeted variants of ``dataset`` and
    ``setting`` (a ``budget_runs`` frame, setting labels as there) whose runs came from other GPU
    windows than the base's, told apart by code version (D18): their gaps to the base are not at
    equal time per epoch."""
    if runs.empty:
        return {}
    part = runs[(runs["dataset"] == dataset) & (runs["setting"] == setting)]
    codes = {v: ", ".join(sorted(set(g["code version"]))) for v, g in part.groupby("variant")}
    base = codes.get("base")
    return {v: (c, base) for v, c in codes.items() if base is not None and v != "base" and c != base}
