"""Orthogonality probe for trained GCA models (PAPER.md 3.3; our choices for decision D7).

For each GCA insertion point and direction ("A" = A queries B, "B" = B queries A) the probe runs the
model in eval mode without gradients over the given evaluation batches and measures, per position:

* ``abs_cos``: mean of |cos(X, X')| over non-padding query positions, where X is the GCA query
  input (before the module's LayerNorm) and X' the cross-attention output before gating;
* ``abs_cos_last``: the same at the last position of each sequence only (the one that predicts);
* ``norm_ratio``: mean of ||X'|| / ||X||;
* ``gate``: g(alpha) (mean over channels when alpha is per channel);
* ``n_positions`` / ``n_last``: how many positions were averaged.

Positions whose query has no allowed key (X' = 0 by construction, e.g. the first A item before any
B item) are excluded; so are the rows of users without any element in the query domain. Which
positions exist depends on the point: point 0 and points 1/2 with an active GCA see every position
of the evaluation A/B streams (the eval path encodes them fully when a GCA at point 1 or 2 is
active). The result is deterministic: dropout is off and nothing random is drawn.
"""

from __future__ import annotations

import numpy as np
import torch

_EPS = 1e-12


def _collect(model, batches):
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), model.recording() as dirs:
            for batch in batches:
                model.encode_eval(batch)
            return {key: list(m.records) for key, m in dirs.items()}
    finally:
        model.train(was_training)


def orthogonality(model, eval_batches) -> dict:
    """{"GCA[p]/A": {abs_cos, abs_cos_last, norm_ratio, gate, n_positions, n_last, point, module,
    domain}}; p is the module label ("1"; "0#2" for the second module stacked at point 0)."""
    out = {}
    for (point, dom), records in sorted(_collect(model, eval_batches).items()):
        cos, cos_last, ratio, gates = [], [], [], []
        for r in records:
            keep = r.has_key
            x, xp = r.x[keep].double(), r.x_prime[keep].double()
            nx, nxp = x.norm(dim=1), xp.norm(dim=1)
            c = ((x * xp).sum(1) / (nx * nxp).clamp_min(_EPS)).abs()
            cos.append(c)
            cos_last.append(c[r.is_last[keep]])
            ratio.append(nxp / nx.clamp_min(_EPS))
            gates.append(float(r.gate.double().mean()))
        c = torch.cat(cos) if cos else torch.zeros(0, dtype=torch.float64)
        cl = torch.cat(cos_last) if cos_last else torch.zeros(0, dtype=torch.float64)
        rt = torch.cat(ratio) if ratio else torch.zeros(0, dtype=torch.float64)
        out[f"GCA[{point}]/{dom}"] = {
            "point": int(point.split("#")[0]), "module": point, "domain": dom,
            "abs_cos": float(c.mean()) if len(c) else float("nan"),
            "abs_cos_last": float(cl.mean()) if len(cl) else float("nan"),
            "norm_ratio": float(rt.mean()) if len(rt) else float("nan"),
            "gate": float(np.mean(gates)) if gates else _gate(model, point, dom),
            "n_positions": int(len(c)), "n_last": int(len(cl)),
        }
    return out


def _gate(model, point, dom) -> float:
    return float(model.gca_directions()[(point, dom)].gate().double().mean())


def attention_for_user(model, batch: dict, row: int = 0) -> dict:
    """Attention weights of every GCA direction for one row of an evaluation batch (explorer).

    Returns {"GCA[p]/A": {"weights": (heads, n_query, n_key) ndarray, "query_items": (n_query,),
    "key_items": (n_key,), "query_order": ..., "key_order": ..., "gate": float}} where queries are the
    row's non-padding elements of the querying domain's stream and keys those of the other domain,
    oldest first. Rows of queries without any allowed key are all zero.
    """
    one = {k: v[row:row + 1] for k, v in batch.items()}
    records = _collect(model, [one])
    seq = {"A": one["seq_a"][0], "B": one["seq_b"][0]}
    order = {"A": one["order_a"][0], "B": one["order_b"][0]}
    out = {}
    for (point, dom), recs in sorted(records.items()):
        other = "B" if dom == "A" else "A"
        qv, kv = seq[dom] != 0, seq[other] != 0
        w = recs[0].weights[0][:, qv][:, :, kv]
        out[f"GCA[{point}]/{dom}"] = {
            "weights": w.numpy(), "query_items": seq[dom][qv].numpy(), "key_items": seq[other][kv].numpy(),
            "query_order": order[dom][qv].numpy(), "key_order": order[other][kv].numpy(),
            "gate": float(recs[0].gate.double().mean()),
        }
    return out
