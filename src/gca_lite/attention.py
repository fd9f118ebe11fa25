"""Compact attention summaries for the explorer, and what they say against simple baselines.

:func:`compact` turns :func:`gca_lite.explorer.explorer_data` (a trained model's attention for some
test users) into plain JSON: per user its history length, domain mix and target domain, and per
GCA module the query and key positions, their days, |cos(X, X')| per query and the weights per
head, with ``None`` where the key is masked (a key later than the query: the model cannot see it). The last query row is the
**prediction row**: it forms the user representation that scores the target, so it may see every
key of the history. ``resources/attention_<dataset>.json`` holds the summary of one stored real run
(``scripts/attention_summaries.py``), so the explorer needs neither the data nor the model.

:func:`baselines` says what a module attends to, against three references: uniform attention
(weight 1 / number of allowed keys), the most recent allowed key, and the keys of the query's day.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

DAY = 86_400


def _cell(c: dict, digits: int) -> dict:
    """One (user, module) cell: positions, days and weights (``None`` on masked keys)."""
    q_pos, k_pos = np.asarray(c["q_pos"]), np.asarray(c["k_pos"])
    allowed = k_pos[None, :] <= q_pos[:, None]
    allowed[-1] = True  # the prediction row sees the whole history
    weights = [[[round(float(w), digits) if ok else None for w, ok in zip(row, oks)]
                for row, oks in zip(head, allowed)] for head in c["weights"]]
    cos = [round(float(x), digits) if ok else None for x, ok in zip(c["abs_cos"], c["has_key"])]
    return {"q_pos": q_pos.tolist(), "k_pos": k_pos.tolist(), "abs_cos": cos,
            "q_day": (np.asarray(c["q_time"]) // DAY).astype(int).tolist(),
            "k_day": (np.asarray(c["k_time"]) // DAY).astype(int).tolist(), "weights": weights}


def compact(data: dict, evalset, about: dict, digits: int = 3) -> dict:
    """JSON-ready summary of ``explorer_data`` output; ``about`` describes the model and run."""
    users = []
    for u in data["users"]:
        n_a, n_b = int((evalset.seq_a[u] != 0).sum()), int((evalset.seq_b[u] != 0).sum())
        users.append({"row": int(u), "n_a": n_a, "n_b": n_b, "target": "AB"[int(evalset.target_domain[u])],
                      "cells": {m["key"]: _cell(data["cells"][(u, m["key"])], digits) for m in data["modules"]}})
    return {"about": about, "heads": data["heads"], "users": users,
            "modules": [{k: m[k] for k in ("key", "point", "domain", "other", "gate")} for m in data["modules"]]}


def stored_summary(dataset: str = "abe") -> dict:
    """The committed attention summary of one real run (``resources/attention_<dataset>.json``)."""
    path = resources.files("gca_lite").joinpath("resources", f"attention_{dataset}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def user_label(user: dict) -> str:
    """What a user is, instead of a raw id: history length, domain mix and target domain."""
    n = user["n_a"] + user["n_b"]
    return f"{n} items ({user['n_a']} A, {user['n_b']} B), target in {user['target']}"


def baselines(summary: dict, module: str, rows: str = "all") -> dict:
    """What ``module`` attends to, over every query row with at least one allowed key
    (``rows="all"``) or over the prediction rows only (``rows="prediction"``), heads pooled.

    Returns means over rows of: the largest weight and the uniform weight 1/#allowed keys; how
    often the most recent allowed key gets the largest weight, and how often it would by chance
    (1/#keys); the weight on keys of the query's own day and their share of the allowed keys."""
    peak, uniform, recent_top, recent_chance, same_day_w, same_day_share = [], [], [], [], [], []
    for user in summary["users"]:
        c = user["cells"][module]
        q_rows = range(len(c["q_pos"])) if rows == "all" else [len(c["q_pos"]) - 1]
        k_pos, k_day = np.asarray(c["k_pos"]), np.asarray(c["k_day"])
        for head in c["weights"]:
            for i in q_rows:
                w = np.array([np.nan if x is None else x for x in head[i]], dtype=float)
                ok = ~np.isnan(w)
                if not ok.any():
                    continue
                n = ok.sum()
                peak.append(np.nanmax(w))
                uniform.append(1 / n)
                recent = np.flatnonzero(ok)[np.argmax(k_pos[ok])]
                recent_top.append(float(np.nanargmax(w) == recent))
                recent_chance.append(1 / n)
                same = ok & (k_day == c["q_day"][i])
                same_day_w.append(w[same].sum())
                same_day_share.append(same.sum() / n)
    mean = (lambda xs: float(np.mean(xs)) if xs else float("nan"))
    return {"rows": len(peak), "largest_weight": mean(peak), "uniform_weight": mean(uniform),
            "most_recent_top": mean(recent_top), "most_recent_chance": mean(recent_chance),
            "same_day_weight": mean(same_day_w), "same_day_share": mean(same_day_share)}


def attends_sentence(summary: dict, module: dict) -> str:
    """One computed sentence: what ``module`` attends to, against the three baselines."""
    allrows, pred = baselines(summary, module["key"]), baselines(summary, module["key"], "prediction")
    who = f"`{module['key'].split('/')[0]}`, {module['domain']} queries {module['other']}"
    return (f"{who} (gate g(α) = {module['gate']:.2f}): the largest weight of a query row averages "
            f"**{allrows['largest_weight']:.2f}** against **{allrows['uniform_weight']:.2f}** for uniform attention "
            f"(1/#keys); the most recent {module['other']} item gets the largest weight in "
            f"**{allrows['most_recent_top']:.0%}** of rows (by chance {allrows['most_recent_chance']:.0%}); keys of the "
            f"query's own day get **{allrows['same_day_weight']:.0%}** of the weight while being "
            f"{allrows['same_day_share']:.0%} of the allowed keys. In the prediction row alone: largest weight "
            f"{pred['largest_weight']:.2f} (uniform {pred['uniform_weight']:.2f}), most recent item on top in "
            f"{pred['most_recent_top']:.0%} (chance {pred['most_recent_chance']:.0%}).")


def summarise_run(folder, data_dir, weights_path, n_users: int = 300, seed: int = 0) -> dict:
    """Attention summary of the stored run in ``folder`` with the trained ``weights_path``."""
    import torch

    from .data import load_dataset
    from .data.splits import make_splits
    from .experiments.store import record_config
    from .explorer import explorer_data, pick_users
    from .model import ABXI
    from .results import read_run

    record, _, _ = read_run(folder)
    cfg = record_config(folder, record)
    ds = load_dataset(cfg.data.dataset, data_dir, seed=cfg.data.synthetic_seed)
    model = ABXI(cfg.model, ds.n_items_a, ds.n_items_b, generator=torch.Generator().manual_seed(0))
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    test = make_splits(ds, cfg.model.max_len).test
    users = pick_users(test, n_users, seed)
    data = explorer_data(model.eval(), ds, test, users)
    about = {"dataset": cfg.data.dataset, "variant": record["variant"], "seed": record["seed"],
             "config_hash": record["config_hash"], "best_epoch": record["best_epoch"],
             "run": str(folder), "n_parameters": record["n_parameters"], "user_seed": seed}
    return compact(data, test, about)
