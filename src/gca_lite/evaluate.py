"""Score a model on a validation/test set under both protocols and turn ranks into metrics.

Both protocols are computed from the same ``score_all`` pass, so they always describe the same
model state: *full* ranks the target against every item of its domain (the user's other history
items of that domain excluded); *sampled* ranks it against saved, seeded 999-negative candidate
sets (ABXI's protocol). What is kept per user is the pair (g, e) = (#candidates scored above,
#scored equal), from which every metric under either tie rule can be recomputed later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .candidates import evaluate_batch_full, evaluate_batch_sampled, pad_history
from .data.splits import EvalSet
from .metrics import metrics_from_counts, summarize
from .ranking import full_counts, sampled_counts

PROTOCOL_NAMES = ("full", "sampled")


@dataclass
class RankCounts:
    """Per-user (g, e, number of candidates) for one protocol."""

    greater: np.ndarray
    equal: np.ndarray
    n_candidates: np.ndarray

    def metrics(self, tie_rule: str = "expected", ks=(1, 5, 10)) -> dict[str, np.ndarray]:
        return metrics_from_counts(self.greater, self.equal, self.n_candidates, ks=ks, tie_rule=tie_rule)


def trim_left(arrays: dict[str, np.ndarray], seq_keys: tuple[str, ...], pad_to: int = 1) -> dict[str, torch.Tensor]:
    """Drop leading columns that are padding in every row of every sequence (left padding); with
    ``pad_to`` > 1 keep a width that is a multiple of it (or the full width)."""
    nonpad = np.zeros(arrays[seq_keys[0]].shape[1], dtype=bool)
    for k in seq_keys:
        nonpad |= (arrays[k] > 0).any(0)
    start = int(np.argmax(nonpad)) if nonpad.any() else nonpad.size - 1
    if pad_to > 1:
        start = max(0, nonpad.size - -(-(nonpad.size - start) // pad_to) * pad_to)
    out = {}
    for k, v in arrays.items():
        out[k] = torch.from_numpy(np.ascontiguousarray(v[:, start:] if v.ndim == 2 else v))
    return out


def eval_batch(evalset: EvalSet, rows: np.ndarray, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    arrays = {k: getattr(evalset, k)[rows] for k in ("seq_x", "seq_a", "seq_b", "order_a", "order_b",
                                                       "day_start_a", "day_start_b", "day_start_last")}
    arrays["target_domain"] = evalset.target_domain[rows].astype(np.int64)
    return {k: v.to(device) for k, v in trim_left(arrays, ("seq_x", "seq_a", "seq_b")).items()}


def iter_eval_batches(evalset: EvalSet, rows: np.ndarray, batch_size: int,
                      device: str | torch.device = "cpu"):
    """Evaluation batches over ``rows`` (e.g. for the orthogonality probe)."""
    for lo in range(0, len(rows), batch_size):
        yield eval_batch(evalset, rows[lo:lo + batch_size], device)


def _sorted_by_length(evalset: EvalSet, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Rows ordered by history length, and that order (to put the counts back in the caller's order).

    Users of similar history length share a batch, so trim_left cuts most of the padding (about 2x
    faster on afk). The batches (hence every score) are the same for both counting paths below.
    """
    rows = np.arange(len(evalset)) if rows is None else np.asarray(rows)
    by_length = np.argsort((evalset.seq_x[rows] > 0).sum(1), kind="stable")
    return rows[by_length], by_length


def _assemble(parts: dict[str, list], by_length: np.ndarray) -> dict[str, RankCounts]:
    out = {}
    for protocol, chunks in parts.items():
        if chunks:
            g, e, n = (np.empty(len(by_length), np.int64) for _ in range(3))
            for arr, i in ((g, 0), (e, 1), (n, 2)):
                arr[by_length] = np.concatenate([np.asarray(c[i]) for c in chunks])
            out[protocol] = RankCounts(g, e, n)
    return out


def _batch_scores(model, evalset: EvalSet, r: np.ndarray, device) -> torch.Tensor:
    """fp32 scores (b, n_items + 1) of every item for the rows ``r`` (never bf16: ties)."""
    h = model.encode_eval(eval_batch(evalset, r, device))
    return model.score_all(h).float()


@torch.no_grad()
def rank_evalset(model, evalset: EvalSet, n_items_a: int, candidates: np.ndarray | None,
                 batch_size: int = 1024, rows: np.ndarray | None = None) -> dict[str, RankCounts]:
    """(g, e, n) per user under the full protocol and, if ``candidates`` is given, the sampled one.

    Counted in numpy by :mod:`gca_lite.ranking` on the very score matrix the reference path
    (:func:`rank_evalset_reference`) counts with masks in torch: identical counts, ~3x faster.
    """
    model.eval()
    device = next(model.parameters()).device
    rows, by_length = _sorted_by_length(evalset, rows)
    parts: dict[str, list] = {p: [] for p in PROTOCOL_NAMES}
    buffer = None
    for lo in range(0, len(rows), batch_size):
        r = rows[lo:lo + batch_size]
        h = model.encode_eval(eval_batch(evalset, r, device)).float()
        if buffer is None:  # one (batch, n_items + 1) fp32 block for every batch
            buffer = h.new_empty((min(batch_size, len(rows)), model.ei.num_embeddings))
        scores = model.score_all(h, out=buffer[:len(r)]).cpu().numpy()
        targets, domains = evalset.target[r].astype(np.int64), evalset.target_domain[r].astype(np.int64)
        parts["full"].append(full_counts(scores, targets, domains, pad_history(evalset.history, r).numpy(),
                                         n_items_a))
        if candidates is not None:
            parts["sampled"].append(sampled_counts(scores, targets, candidates[r]))
    return _assemble(parts, by_length)


@torch.no_grad()
def rank_evalset_reference(model, evalset: EvalSet, n_items_a: int, candidates: np.ndarray | None,
                           batch_size: int = 1024, rows: np.ndarray | None = None) -> dict[str, RankCounts]:
    """The v1 counting path (a user x item mask, counted in torch), kept as the reference that
    :func:`rank_evalset` must match bit for bit and as the baseline of the throughput benchmark."""
    model.eval()
    device = next(model.parameters()).device
    rows, by_length = _sorted_by_length(evalset, rows)
    parts: dict[str, list] = {p: [] for p in PROTOCOL_NAMES}
    for lo in range(0, len(rows), batch_size):
        r = rows[lo:lo + batch_size]
        scores = _batch_scores(model, evalset, r, device)
        targets = torch.from_numpy(evalset.target[r]).to(device)
        domains = evalset.target_domain[r].astype(np.int64)
        parts["full"].append(evaluate_batch_full(scores, targets, domains, pad_history(evalset.history, r),
                                                 n_items_a))
        if candidates is not None:
            parts["sampled"].append(evaluate_batch_sampled(scores, targets, torch.from_numpy(candidates[r]).to(device)))
    return _assemble(parts, by_length)


def summarize_counts(counts: dict[str, RankCounts], domain: np.ndarray, tie_rule: str) -> dict:
    """``{protocol: {"A/NDCG@10": ..., "B/AUC": ..., ...}}`` means per domain."""
    return {p: summarize(c.metrics(tie_rule), domain) for p, c in counts.items()}
