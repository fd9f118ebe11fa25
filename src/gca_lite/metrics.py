"""Ranking metrics from per-user rank counts, tie-aware, vectorised, plus bootstrap uncertainty.

Every evaluation (sampled or full ranking) is reduced to two integers per user (EVALUATION.md §4):

* ``g`` = number of valid candidates scored strictly above the positive,
* ``e`` = number of valid candidates scored exactly equal to it,

together with ``n`` = the number of valid candidates (negatives, the positive itself excluded).
Storing (g, e, n) per user makes every metric, tie rule and stratum recomputable afterwards.

Tie rules:

* ``"expected"`` (default): the tied items are put in a uniformly random order. Rank and AUC use the
  expected rank ``1 + g + e/2``; HR@k, NDCG@k and MRR are the *tie-averaged* values, i.e. the mean of
  the metric over the equally likely positions ``g+1 .. g+e+1``. Independent of candidate order.
* ``"optimistic"``: ABXI's ``rank = 1 + g`` (ties favour the positive).
* ``"pessimistic"``: ``rank = 1 + g + e`` (ties count against the positive), for bracketing.
"""

from __future__ import annotations

import numpy as np
import torch

TIE_RULES = ("expected", "optimistic", "pessimistic")
_CHUNK_ELEMENTS = 1 << 22  # ~4M comparisons per chunk keeps temporary boolean tensors small
_DOMAIN_NAMES = ("A", "B")


# ---------------------------------------------------------------------------- rank counts
def _as_tensor(x, name: str) -> torch.Tensor:
    """Accept numpy arrays or tensors without copying (CPU)."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, torch.Tensor):
        return x
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")


def rank_counts(pos_scores, cand_scores, valid=None) -> tuple[np.ndarray, np.ndarray]:
    """Count valid candidates scored strictly above / equal to each user's positive.

    Args:
        pos_scores: (n,) score of the positive (target) item per user.
        cand_scores: (n, m) scores of the candidates (negatives); must not contain the positive.
        valid: optional (n, m) bool, False for candidates to ignore (padding, history, ...).

    Returns:
        (greater, equal): int64 numpy arrays of shape (n,).

    Raises ValueError on shape mismatches or on NaN scores, because ``NaN > x`` is always False and
    would silently turn a broken model into a perfect one. Pass fp32 scores: bf16/fp16 create many
    spurious exact ties over thousands of candidates (EVALUATION.md §4).
    """
    pos = _as_tensor(pos_scores, "pos_scores")
    cand = _as_tensor(cand_scores, "cand_scores")
    if pos.ndim != 1 or cand.ndim != 2 or cand.shape[0] != pos.shape[0]:
        raise ValueError(f"pos_scores must be (n,) and cand_scores (n, m); got {tuple(pos.shape)} "
                         f"and {tuple(cand.shape)}")
    mask = None if valid is None else _as_tensor(valid, "valid")
    if mask is not None and (mask.shape != cand.shape or mask.dtype != torch.bool):
        raise ValueError(f"valid must be a bool array of shape {tuple(cand.shape)}, got "
                         f"{mask.dtype} {tuple(mask.shape)}")
    if torch.isnan(pos).any():
        bad = int(torch.nonzero(torch.isnan(pos))[0])
        raise ValueError(f"pos_scores contains NaN (first at row {bad})")
    dtype = torch.promote_types(pos.dtype, cand.dtype)
    n, m = cand.shape
    greater = torch.zeros(n, dtype=torch.int64, device=cand.device)
    equal = torch.zeros(n, dtype=torch.int64, device=cand.device)
    step = max(1, _CHUNK_ELEMENTS // max(m, 1))
    for lo in range(0, n, step):  # loop over chunks of users, not over users
        c = cand[lo:lo + step].to(dtype)
        p = pos[lo:lo + step].to(dtype).unsqueeze(1)
        above, tied, nan = c > p, c == p, torch.isnan(c)
        if mask is not None:
            ok = mask[lo:lo + step]
            above, tied, nan = above & ok, tied & ok, nan & ok
        if nan.any():
            raise ValueError(f"cand_scores contains NaN among valid candidates (rows {lo}..)")
        greater[lo:lo + step] = above.sum(1)
        equal[lo:lo + step] = tied.sum(1)
    return greater.cpu().numpy(), equal.cpu().numpy()


# ---------------------------------------------------------------------------- metrics
def _check_counts(greater, equal, n_candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.asarray(greater, dtype=np.int64)
    e = np.asarray(equal, dtype=np.int64)
    if g.ndim != 1 or g.shape != e.shape:
        raise ValueError(f"greater and equal must be 1-D of equal length, got {g.shape} and {e.shape}")
    n = np.broadcast_to(np.asarray(n_candidates, dtype=np.int64), g.shape)
    if np.any(g < 0) or np.any(e < 0):
        raise ValueError("greater and equal must be non-negative counts")
    if np.any(n < 1):
        raise ValueError("n_candidates must be >= 1 for every user (AUC needs a negative)")
    if np.any(g + e > n):
        u = int(np.flatnonzero(g + e > n)[0])
        raise ValueError(f"greater + equal exceeds n_candidates for row {u}: "
                         f"{g[u]} + {e[u]} > {n[u]}")
    return g, e, n


def _tie_averaged(cum: np.ndarray, g: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Mean of f over positions g+1 .. g+e+1, given cum[p] = sum_{q<=p} f(q) (cum[0] = 0)."""
    return (cum[g + e + 1] - cum[g]) / (e + 1)


def metrics_from_counts(greater, equal, n_candidates, ks=(1, 5, 10),
                        tie_rule: str = "expected") -> dict[str, np.ndarray]:
    """Per-user HR@k, NDCG@k, MRR, AUC and rank from rank counts.

    Args:
        greater, equal: (n,) counts from :func:`rank_counts`.
        n_candidates: int or (n,), number of valid candidates (negatives) per user; the ranked list
            has ``n_candidates + 1`` entries (the positive included).
        ks: cut-offs for HR and NDCG (NDCG@1 == HR@1).
        tie_rule: ``"expected"`` (tie-averaged), ``"optimistic"`` (ABXI) or ``"pessimistic"``.

    Returns dict of float64 arrays (n,): ``HR@k``, ``NDCG@k``, ``MRR``, ``AUC`` (fraction of
    negatives below the positive, ties ½ under "expected") and ``rank`` (expected rank).
    """
    if tie_rule not in TIE_RULES:
        raise ValueError(f"tie_rule must be one of {TIE_RULES}, got {tie_rule!r}")
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"ks must be positive cut-offs, got {list(ks)}")
    g, e, n = _check_counts(greater, equal, n_candidates)
    if tie_rule == "optimistic":  # ties all go behind the positive
        e = np.zeros_like(e)
    elif tie_rule == "pessimistic":  # ties all go in front of the positive
        g, e = g + e, np.zeros_like(e)

    top = int((g + e + 1).max()) if len(g) else 1
    positions = np.arange(1, top + 1, dtype=np.float64)
    # Cumulative tables over positions 0..top, so any tie block is averaged in O(1) per user.
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / positions)])
    out: dict[str, np.ndarray] = {}
    for k in sorted({int(k) for k in ks}):
        capped = np.minimum(np.arange(top + 1), k)
        out[f"HR@{k}"] = _tie_averaged(capped.astype(np.float64), g, e)
        gains = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
        out[f"NDCG@{k}"] = _tie_averaged(gains[capped], g, e)
    out["MRR"] = _tie_averaged(harmonic, g, e)
    out["rank"] = 1.0 + g + e / 2.0
    out["AUC"] = 1.0 - (g + e / 2.0) / n
    return out


def summarize(per_user: dict[str, np.ndarray], domain: np.ndarray) -> dict[str, float]:
    """Means of every per-user metric within each target domain: ``A/NDCG@10``, ``B/n``, ...

    ``domain`` is the target domain per user (0 = A, 1 = B), e.g. ``evalset.target_domain``.
    A domain without users gets NaN means and ``n = 0``.
    """
    dom = np.asarray(domain)
    out: dict[str, float] = {}
    for code, name in enumerate(_DOMAIN_NAMES):
        sel = dom == code
        out[f"{name}/n"] = int(sel.sum())
        for key, values in per_user.items():
            values = np.asarray(values)
            if values.shape != dom.shape:
                raise ValueError(f"per_user[{key!r}] has shape {values.shape}, domain has {dom.shape}")
            out[f"{name}/{key}"] = float(values[sel].mean()) if sel.any() else float("nan")
    return out


# ---------------------------------------------------------------------------- uncertainty
def _values(values, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or inf")
    return v


def _bootstrap_means(v: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``n_boot`` resamples of users with replacement (vectorised in row chunks)."""
    means = np.empty(n_boot)
    step = max(1, _CHUNK_ELEMENTS // len(v))
    for lo in range(0, n_boot, step):
        idx = rng.integers(0, len(v), size=(min(step, n_boot - lo), len(v)))
        means[lo:lo + step] = v[idx].mean(1)
    return means


def bootstrap_ci(values, n_boot: int = 1000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float, float]:
    """Mean and percentile bootstrap (1 - alpha) CI over users: ``(mean, lo, hi)``.

    Uses its own seeded Generator (never the global RNG), so the interval is reproducible.
    """
    v = _values(values, "values")
    if n_boot < 1 or not 0.0 < alpha < 1.0:
        raise ValueError(f"need n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    means = _bootstrap_means(v, n_boot, np.random.default_rng(seed))
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(v.mean()), float(lo), float(hi)


def paired_comparison(a, b, n_boot: int = 2000, seed: int = 0,
                      alpha: float = 0.05) -> dict[str, float]:
    """Compare two models scored on the same users: mean of ``a - b`` with CI and p-value.

    * CI: paired percentile bootstrap of the mean per-user difference (users resampled jointly,
      so the large between-user variance cancels; EVALUATION.md §6).
    * p-value: two-sided sign-flip permutation test. Under the null "a and b are exchangeable for
      every user" each per-user difference is equally likely to have either sign, so flipping signs
      at random gives the exact null distribution of the mean difference without assuming normality.
      A bootstrap p-value would need the null to be imposed by re-centring; the randomisation test
      is the standard valid alternative. ``p = (1 + #{|flipped mean| >= |observed|}) / (1 + n_boot)``
      so it is never 0; identical inputs give p = 1.
    """
    va, vb = _values(a, "a"), _values(b, "b")
    if va.shape != vb.shape:
        raise ValueError(f"a and b must hold the same users, got shapes {va.shape} and {vb.shape}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    d = va - vb
    observed = d.mean()
    boot_rng, flip_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    means = _bootstrap_means(d, n_boot, boot_rng)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])

    exceed = 0
    tol = 1e-12 * max(1.0, float(np.abs(d).max()))  # float rounding must not break exact ties
    step = max(1, _CHUNK_ELEMENTS // len(d))
    for start in range(0, n_boot, step):
        signs = flip_rng.integers(0, 2, size=(min(step, n_boot - start), len(d))) * 2 - 1
        flipped = (signs @ d) / len(d)
        exceed += int(np.sum(np.abs(flipped) >= abs(observed) - tol))
    return {"mean_diff": float(observed), "ci_lo": float(lo), "ci_hi": float(hi),
            "p_value": (1 + exceed) / (1 + n_boot)}
