"""What the attention explorer shows: per user and GCA module, the attention weights over the
other domain's items with their ids, times and positions, |cos(X, X')| per query and the gate."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .config import RunConfig


def explorer_data(model, ds, evalset, users: Sequence[int]) -> dict:
    """Everything the attention explorer shows, for ``users`` (rows of ``evalset``), in one pass.

    ``{"users": [...], "modules": [{"key": "GCA[p]/A", "point", "domain", "other", "gate"}],
    "heads": H, "cells": {(user, key): {"weights": (H, n_q, n_k), "abs_cos": (n_q,), "has_key",
    "q_items", "k_items", "q_time", "k_time", "q_pos", "k_pos"}}}`` with queries/keys oldest first,
    times as day timestamps of the interactions (seconds) and positions as indices in the mixed history.
    """
    import torch

    from .evaluate import eval_batch

    rows = np.asarray(users, dtype=np.int64)
    batch = eval_batch(evalset, rows)
    model.eval()
    with torch.no_grad(), model.recording() as dirs:
        model.encode_eval(batch)
        records = {key: list(m.records) for key, m in dirs.items()}
    seqs = {"A": batch["seq_a"], "B": batch["seq_b"]}
    orders = {"A": batch["order_a"], "B": batch["order_b"]}
    modules, cells, heads = [], {}, 0
    for (point, dom), recs in sorted(records.items()):
        r = recs[0]
        other = "B" if dom == "A" else "A"
        key = f"GCA[{point}]/{dom}"
        heads = r.weights.shape[1]
        modules.append({"key": key, "point": int(point.split("#")[0]), "domain": dom, "other": other,
                        "gate": float(r.gate.double().mean())})
        x, xp = r.x.double(), r.x_prime.double()
        cos = ((x * xp).sum(1) / (x.norm(dim=1) * xp.norm(dim=1)).clamp_min(1e-12)).abs()
        for b, user in enumerate(rows):
            qv, kv = seqs[dom][b] != 0, seqs[other][b] != 0
            user_seq, user_ts = ds.sequence(int(evalset.users[user]))
            q_pos, k_pos = orders[dom][b][qv].numpy(), orders[other][b][kv].numpy()
            mine = r.row == b
            cells[(int(user), key)] = {
                "weights": r.weights[b][:, qv][:, :, kv].double().numpy(),
                "abs_cos": cos[mine].numpy(), "has_key": r.has_key[mine].numpy(),
                "q_items": seqs[dom][b][qv].numpy(), "k_items": seqs[other][b][kv].numpy(),
                "q_pos": q_pos, "k_pos": k_pos, "q_time": np.asarray(user_ts)[q_pos],
                "k_time": np.asarray(user_ts)[k_pos]}
    return {"users": [int(u) for u in rows], "modules": modules, "heads": int(heads), "cells": cells,
            "n_items_a": int(ds.n_items_a)}


def pick_users(evalset, n: int, seed: int = 0, min_len: int = 4) -> list[int]:
    """``n`` evaluation rows (seeded) whose A and B histories both have at least ``min_len`` items."""
    la, lb = (evalset.seq_a != 0).sum(1), (evalset.seq_b != 0).sum(1)
    ok = np.flatnonzero((la >= min_len) & (lb >= min_len))
    if len(ok) == 0:
        ok = np.arange(len(evalset))
    rng = np.random.default_rng(seed)
    return sorted(int(u) for u in rng.choice(ok, size=min(n, len(ok)), replace=False))


# ----------------------------------------------------------------------------- trained weights
def weights_path(store, cfg: RunConfig):
    """Where the trained weights of ``cfg`` are cached: ``<store>/_cache/models/<config hash>.pt``."""
    return store.cache_dir / "models" / f"{store.key(cfg)}.pt"


def save_weights(store, cfg: RunConfig, model) -> None:
    import torch

    path = weights_path(store, cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)


def load_model(setup, cfg):
    """The trained model of ``cfg`` (an ``analysis.Setup`` gives the store and data): weights cached
    in ``<store>/_cache/models/<hash>.pt``, else trained now (and its result stored if the store
    lacks it). Returns (model, RunResult)."""
    import torch

    from .data import load_dataset
    from .model import ABXI
    from .train import run

    path = weights_path(setup.results, cfg)
    ds = load_dataset(cfg.data.dataset, setup.data_dir or None, seed=cfg.data.synthetic_seed)
    if path.is_file() and setup.results.has(cfg):
        model = ABXI(cfg.model, ds.n_items_a, ds.n_items_b, generator=torch.Generator().manual_seed(0))
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.eval(), setup.results.load(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run(cfg, setup.data_dir or None, progress=False, keep_model=True, dataset=ds,
                     cache_dir=setup.results.cache_dir)
    finally:
        torch.set_num_threads(threads)
    if not setup.results.has(cfg):
        setup.results.save(cfg, result)
    save_weights(setup.results, cfg, result.model)
    return result.model.eval(), setup.results.load(cfg)
