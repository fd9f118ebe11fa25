"""Dataset statistics, as in ABXI.md's table, computed with vectorised numpy.

Besides sizes and split counts this reports the same-day ordering artefact: timestamps are
day-granular, and in ABXI's files ties are always ordered A before B, which a model can exploit.
"""

from __future__ import annotations

import numpy as np

from .dataset import CDSRDataset

CAP = 50  # ABXI keeps each user's last 50 interactions


def dataset_stats(ds: CDSRDataset) -> dict:
    """A flat dict of counts and shares (ints and floats only, JSON-ready)."""
    lengths = ds.lengths
    dom = ds.domains
    last = ds.offsets[1:] - 1  # index of each user's last interaction
    user = ds.user_of_interaction()
    same_user = user[1:] == user[:-1]  # adjacent pairs within one user
    tie = same_user & (ds.timestamps[1:] == ds.timestamps[:-1])
    switch = same_user & (dom[1:] != dom[:-1])
    a_to_b = tie & (dom[:-1] == 0) & (dom[1:] == 1)
    b_to_a = tie & (dom[:-1] == 1) & (dom[1:] == 0)
    n_a = int((dom == 0).sum())
    per_user_a = np.bincount(user, weights=(dom == 0), minlength=ds.n_users).astype(np.int64)
    per_user_b = lengths - per_user_a
    # Training targets are s[1:-2]: every interaction except each user's first and last two.
    pos_in_user = np.arange(len(ds.items)) - np.repeat(ds.offsets[:-1], lengths)
    is_train_target = (pos_in_user >= 1) & (pos_in_user < np.repeat(lengths, lengths) - 2)
    test_tied = ds.timestamps[last] == ds.timestamps[last - 1]
    n_pairs = int(same_user.sum())
    return {
        "name": ds.name,
        "users": ds.n_users,
        "items_a": ds.n_items_a,
        "items_b": ds.n_items_b,
        "items": ds.n_items,
        "interactions": int(len(ds.items)),
        "interactions_a": n_a,
        "interactions_b": int(len(ds.items) - n_a),
        "train_targets_a": int((is_train_target & (dom == 0)).sum()),
        "train_targets_b": int((is_train_target & (dom == 1)).sum()),
        "valid_targets_a": int((dom[last - 1] == 0).sum()),
        "valid_targets_b": int((dom[last - 1] == 1).sum()),
        "test_targets_a": int((dom[last] == 0).sum()),
        "test_targets_b": int((dom[last] == 1).sum()),
        "seq_len_mean": round(float(lengths.mean()), 2),
        "seq_len_median": float(np.median(lengths)),
        "seq_len_min": int(lengths.min()),
        "seq_len_max": int(lengths.max()),
        "users_at_cap": int((lengths >= CAP).sum()),
        "per_user_a_min": int(per_user_a.min()),
        "per_user_b_min": int(per_user_b.min()),
        "density_a": round(n_a / (ds.n_users * ds.n_items_a), 6),
        "density_b": round((len(ds.items) - n_a) / (ds.n_users * ds.n_items_b), 6),
        "domain_switch_share": round(float(switch.sum() / max(n_pairs, 1)), 3),
        "same_timestamp_pairs": int(tie.sum()),
        "same_timestamp_share": round(float(tie.sum() / max(n_pairs, 1)), 3),
        "same_timestamp_a_to_b": int(a_to_b.sum()),
        "same_timestamp_b_to_a": int(b_to_a.sum()),
        "test_targets_tied": int(test_tied.sum()),
        "test_targets_tied_b": int((test_tied & (dom[last] == 1)).sum()),
    }


def format_stats(stats: dict) -> str:
    """Two aligned columns for the terminal."""
    width = max(len(k) for k in stats)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in stats.items())
