"""Time-budgeted runs side by side across results stores.

A run with ``train.max_minutes`` stops when its wall-clock budget is spent, so how far it trains
depends on the machine and on how many runs share it; two stores holding the same setting can then
hold two different training regimes. This module lays their runs out together (epochs reached,
seconds per epoch, test scores) and gives each seed's paired gap to the base, so the results page
can show why such stores are kept apart and what the extra seeds say. The records' histories
(validation scores and losses per epoch) show whether one run kept in two stores followed one
trajectory, and how a variant's gap to the base moves along training at equal epochs.
"""

from __future__ import annotations

from pathlib import Path

from ..config import PROTOCOLS
from .report import DOMAINS, setting_label
from .store import ResultsStore, record_config
from .verdicts import RANGE_CLAIM, judged, with_notes

SCORES = tuple(f"{p} {d}" for p in PROTOCOLS for d in DOMAINS)  # the score columns of a budget_runs frame
RUN_KEYS = ["dataset", "setting", "variant", "seed"]  # one training run, whichever store holds it


def _in_store_order(column, stores: dict):
    """``column`` (store labels) as an ordered category: sorting and grouping then keep the caller's
    order of stores (results/ first), not the labels' alphabetical one."""
    import pandas as pd

    return pd.Categorical(column, categories=list(stores), ordered=True)


def _budgeted(stores: dict):
    """(where, folder, record, config, run) for every time-budgeted run of ``stores`` ({label:
    store}), store by store; ``run`` names it by ``RUN_KEYS`` (dataset, setting label, variant,
    seed). A store that does not exist raises, naming its label, and so does a store holding two
    budgeted configurations under one (dataset, setting label, variant, seed): the tables here pair
    runs by that key, and a silent cross product would mix configurations."""
    for where, store in stores.items():
        store = store if isinstance(store, ResultsStore) else ResultsStore(store)
        if not store.root.is_dir():
            raise FileNotFoundError(f"results store {where!r}: no folder {store.root}")
        seen = {}
        for folder, record, _, _ in store.iter_runs(warn=False):
            cfg = record_config(folder, record)
            if cfg is None or not cfg.train.max_minutes:
                continue
            run = dict(zip(RUN_KEYS, (cfg.data.dataset, setting_label(cfg), cfg.model.variant_name, cfg.train.seed)))
            key = tuple(run.values())
            if key in seen:
                raise ValueError(f"results store {where!r}: {seen[key].name} and {folder.name} are two time-budgeted "
                                 f"configurations of {key}; keep one per store")
            seen[key] = folder
            yield where, folder, record, cfg, run


def budget_runs(stores: dict[str, ResultsStore | str | Path], metric: str = "NDCG@10"):
    """One row per time-budgeted run of each store: where it is kept (the dict's key; rows keep the
    dict's order of stores within a dataset, variant and seed), dataset,
    setting, variant, seed, selected and last epoch, seconds per epoch, stop reason and test
    ``metric`` per protocol and domain (columns ``full A`` ... ``sampled B``). Runs without a time
    budget are left out. A store that does not exist, or a ``metric`` no run recorded, raises: a
    typo must not read as "no runs"."""
    import pandas as pd

    rows = []
    for where, folder, record, cfg, run in _budgeted(stores):
        row = {"kept in": where, **run, "budget (min)": cfg.train.max_minutes,
               "selected epoch": record.get("best_epoch"), "epochs run": record.get("epochs_run"),
               "s / epoch": record.get("epoch_seconds_mean"), "stopped by": record.get("stop_reason"),
               "device": record.get("device"),
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
    order["kept in"] = _in_store_order(order["kept in"], stores)
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


def validation_curves(stores: dict[str, ResultsStore | str | Path], metric: str = "NDCG@10",
                      protocol: str = "sampled"):
    """One row per validated epoch of every time-budgeted run of ``stores`` ({label: store}):
    kept in, dataset, setting, variant, seed, epoch, the validation ``metric`` under ``protocol``
    for domains ``A`` and ``B``, and the two training losses (``loss A``, ``loss B``), all from the
    record's history. Epochs that were not validated (warm-up) have no row. A ``metric`` or
    ``protocol`` no epoch recorded raises."""
    import pandas as pd

    rows, n_budgeted = [], 0
    for where, _, record, _, run in _budgeted(stores):
        n_budgeted += 1
        for epoch in record.get("history", []):
            valid = epoch.get("valid", {}).get(protocol)
            if valid:
                rows.append({"kept in": where, **run, "epoch": epoch["epoch"],
                             "A": valid.get(f"A/{metric}"), "B": valid.get(f"B/{metric}"),
                             "loss A": epoch.get("loss_a"), "loss B": epoch.get("loss_b")})
    columns = ["kept in", *RUN_KEYS, "epoch", "A", "B", "loss A", "loss B"]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:  # no time-budgeted run, or none validated under this protocol
        if n_budgeted:
            raise ValueError(f"protocol={protocol!r}: no validated epoch of a time-budgeted run recorded it "
                             "(choose 'sampled' or 'full')")
        return frame
    if frame[["A", "B"]].isna().all().all():
        raise ValueError(f"metric={metric!r}: no validated epoch of a time-budgeted run recorded it "
                         "(e.g. 'NDCG@10', 'MRR')")
    frame["kept in"] = _in_store_order(frame["kept in"], stores)
    return frame.sort_values([*RUN_KEYS, "kept in", "epoch"], ignore_index=True)


def same_trajectory(curves):
    """For every run (dataset, setting, variant, seed) that more than one store holds, e.g. trained
    in two GPU windows with two code versions: the epochs both validated, on how many of them the
    validation score differs at all, and the largest absolute difference over them in validation
    score and in training loss. Near zero means the two are one trajectory, stopped at different
    epochs by their budgets."""
    import pandas as pd

    rows = []
    scores, losses = ["A", "B"], ["loss A", "loss B"]
    columns = [*RUN_KEYS, "stores", "common epochs", "epochs with another score", "max |Δ| score", "max |Δ| loss"]
    for key, part in curves.groupby(RUN_KEYS, observed=True, sort=False):
        stores = [w for w in part["kept in"].cat.categories if w in set(part["kept in"])]
        by = {w: part[part["kept in"] == w].set_index("epoch")[scores + losses] for w in stores}
        for i, first in enumerate(stores):
            for second in stores[i + 1:]:
                common = by[first].index.intersection(by[second].index)
                # NaN (a value one record lacks) is skipped column by column, not the whole epoch
                both = (by[first].loc[common] - by[second].loc[common]).abs()
                rows.append({**dict(zip(RUN_KEYS, key)), "stores": f"{first} · {second}",
                             "common epochs": len(common),
                             "epochs with another score": int((both[scores].fillna(0) != 0).any(axis=1).sum()),
                             "max |Δ| score": float(both[scores].max().max()) if len(common) else None,
                             "max |Δ| loss": float(both[losses].max().max()) if len(common) else None})
    return pd.DataFrame(rows, columns=columns)


def gaps_along_training(curves, variant: str):
    """Each seed's validation gap ``variant`` minus the base, epoch by epoch, along the longest
    stretch of training the stores hold for that seed: at each epoch the first store (in the
    frame's order of stores) that validated the run gives its value, which is sound because a
    run kept in two stores followed one trajectory (see ``same_trajectory``). Columns: dataset,
    setting, seed, epoch, A, B."""
    keys = ["dataset", "setting", "seed", "epoch"]
    one = curves.sort_values("kept in", kind="stable").drop_duplicates([*RUN_KEYS, "epoch"])
    pick = lambda name: one[one["variant"] == name].set_index(keys)[["A", "B"]]  # noqa: E731
    gap = (pick(variant) - pick("base")).dropna(how="all")
    return gap.reset_index().sort_values(keys, ignore_index=True)


def late_gap(gaps, epochs: int = 10):
    """Per (dataset, setting, seed) of a ``gaps_along_training`` frame: the last epoch both runs
    validated and the mean gap over the last ``epochs`` epochs both validated (one epoch's
    validation score is noisy), columns ``A`` and ``B``."""
    import pandas as pd

    if epochs < 1:
        raise ValueError(f"epochs={epochs!r}: average over at least one epoch")
    keys = ["dataset", "setting", "seed"]
    if gaps.empty:
        return pd.DataFrame(columns=[*keys, "last epoch", "A", "B"])
    tail = gaps.sort_values("epoch").groupby(keys).tail(epochs)
    out = tail.groupby(keys).agg(**{"last epoch": ("epoch", "max"), "A": ("A", "mean"), "B": ("B", "mean")})
    return out.reset_index()


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
        return (f"compares time-budgeted runs from separate GPU windows (code {' and '.join(seen)}), "
                "not at equal time per epoch (D18)")
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
