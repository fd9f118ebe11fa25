"""What the data chapter shows, as small counts that can be committed.

The data chapter plots histograms and counts, never raw interactions, so everything it needs fits
in a few kilobytes per dataset: :func:`data_summary` computes it from a loaded dataset, and
``scripts/data_summaries.py`` writes the summaries of the real datasets to
``resources/data_summaries.json``. The book reads that file (:func:`stored_summaries`), so the
chapter shows the real afk and abe counts on a fresh clone without the data files.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from .data.stats import dataset_stats

STORED = "data_summaries.json"
TRANSITIONS = ("A -> A", "A -> B", "B -> A", "B -> B")
SWITCH_BINS = 20  # switch-rate histogram: 20 bins of width 0.05 over [0, 1]


def _counts(values: np.ndarray) -> dict[str, int]:
    """{value: how many} of non-negative integers (JSON keys are strings)."""
    counts = np.bincount(values)
    return {str(v): int(c) for v, c in enumerate(counts) if c}


def same_day_order(ds) -> dict:
    """Within one user's day that holds both domains: is every A item before every B item?

    ``{"mixed_days": n, "a_first_days": n}``: days (user, timestamp) with items of both domains,
    and how many of them list all A items first. Equal counts mean the file's order within a day
    is the preprocessing's A-then-B order, not the users'."""
    user = ds.user_of_interaction()
    start = np.r_[True, (user[1:] != user[:-1]) | (ds.timestamps[1:] != ds.timestamps[:-1])]
    day = np.cumsum(start) - 1
    dom = ds.domains.astype(np.int64)
    has_a = np.bincount(day, weights=dom == 0) > 0
    has_b = np.bincount(day, weights=dom == 1) > 0
    pos = np.arange(len(dom))
    last_a = np.full(day[-1] + 1, -1)
    np.maximum.at(last_a, day[dom == 0], pos[dom == 0])
    first_b = np.full(day[-1] + 1, len(dom))
    np.minimum.at(first_b, day[dom == 1], pos[dom == 1])
    mixed = has_a & has_b
    return {"mixed_days": int(mixed.sum()), "a_first_days": int((mixed & (last_a < first_b)).sum())}


def data_summary(ds) -> dict:
    """The data chapter's counts of ``ds``: statistics, histograms and same-day transitions."""
    stats = {k: v for k, v in dataset_stats(ds).items() if k != "name"}
    user = ds.user_of_interaction()
    lengths = ds.lengths
    per_user_a = np.bincount(user, weights=(ds.domains == 0), minlength=ds.n_users).astype(np.int64)
    same_user = user[1:] == user[:-1]
    switch = same_user & (ds.domains[1:] != ds.domains[:-1])
    rate = np.bincount(user[1:][switch], minlength=ds.n_users) / np.maximum(lengths - 1, 1)
    tie = same_user & (ds.timestamps[1:] == ds.timestamps[:-1])
    d0, d1 = ds.domains[:-1], ds.domains[1:]
    pairs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    return {
        "name": ds.name, "checksum": ds.checksum, "stats": stats,
        "lengths": _counts(lengths), "per_user_a": _counts(per_user_a),
        "per_user_b": _counts(lengths - per_user_a),
        "switch_rate_hist": np.histogram(rate, bins=SWITCH_BINS, range=(0, 1))[0].tolist(),
        "switches_per_user_mean": round(float(np.bincount(user[1:][switch], minlength=ds.n_users).mean()), 4),
        "same_day": {t: int((tie & (d0 == a) & (d1 == b)).sum()) for t, (a, b) in zip(TRANSITIONS, pairs)},
        "other_day": {t: int((same_user & ~tie & (d0 == a) & (d1 == b)).sum())
                      for t, (a, b) in zip(TRANSITIONS, pairs)},
        **same_day_order(ds),
    }


def stored_summaries() -> dict[str, dict]:
    """{dataset: summary} of the real datasets, from the committed ``resources/data_summaries.json``."""
    text = resources.files("gca_lite").joinpath("resources", STORED).read_text(encoding="utf-8")
    stored = json.loads(text)
    return dict(sorted(stored.items(), key=lambda kv: (kv[0] != "afk", kv[0])))  # afk first, as in the paper


def histogram(counts: dict[str, int]) -> tuple[list[int], list[int]]:
    """(values, counts) of a stored ``{value: count}`` histogram, values ascending."""
    pairs = sorted((int(v), c) for v, c in counts.items())
    return [v for v, _ in pairs], [c for _, c in pairs]
