"""Fast rank counts of one evaluation batch, from its full score matrix, in numpy.

Same numbers as :func:`candidates.evaluate_batch_full` / :func:`candidates.evaluate_batch_sampled`
(kept as the reference implementation; ``tests/test_ranking.py`` compares the two bit for bit), but
without a (batch x items) candidate mask: each user is compared only with its target domain's column
block, and the user's own history (plus the target) is *subtracted* afterwards:

    g = #{j in pool: s_j > s_t} - #{j in distinct(history + target) in pool: s_j > s_t}

and likewise for ties. The comparisons are the same float32 comparisons on the same score matrix,
so the counts are exact by construction; only how they are counted changes (about 3x faster on afk,
and no bool mask the size of the score matrix, see ``benchmarks/throughput.py``).
"""

from __future__ import annotations

import numpy as np

from .candidates import domain_bounds

_ROW_CHUNK_ELEMENTS = 1 << 22  # comparisons per chunk: keeps the temporary bool block ~4 MB


def _nan_error(where: str) -> ValueError:
    return ValueError(f"{where} contains NaN among valid candidates (a NaN score is never above the "
                      f"positive, so a broken model would look perfect)")


def _block_counts(block: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """#entries above / equal to / NaN per row of ``block`` (in row chunks: bounded memory)."""
    n, m = block.shape
    greater, equal, nan = (np.zeros(n, np.int64) for _ in range(3))
    step = max(1, _ROW_CHUNK_ELEMENTS // max(m, 1))
    for lo in range(0, n, step):
        b, p = block[lo:lo + step], pos[lo:lo + step, None]
        greater[lo:lo + step] = np.count_nonzero(b > p, axis=1)
        equal[lo:lo + step] = np.count_nonzero(b == p, axis=1)
        if np.isnan(np.add.reduce(b, axis=1)).any():  # cheap screen (also hit by inf - inf)
            nan[lo:lo + step] = np.count_nonzero(np.isnan(b), axis=1)
    return greater, equal, nan


def _distinct_in_pool(history_rows: np.ndarray, targets: np.ndarray, lo: np.ndarray,
                      hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (b, h + 1) history + target per row, and a mask of its first occurrences in the pool."""
    items = np.concatenate([history_rows, targets[:, None]], axis=1)
    inside = (items >= lo[:, None]) & (items <= hi[:, None])
    srt = np.sort(np.where(inside, items, 0), axis=1)
    first = srt > 0
    first[:, 1:] &= srt[:, 1:] != srt[:, :-1]
    return srt, first


def full_counts(scores: np.ndarray, targets: np.ndarray, target_domain: np.ndarray,
                history_rows: np.ndarray, n_items_a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-ranking (greater, equal, n_candidates) per row, int64, from fp32 ``scores`` (b, n + 1).

    ``history_rows``: (b, h) item ids padded with 0 (:func:`candidates.pad_history`). Raises
    ValueError on NaN among a row's positive or valid candidates, as the reference does.
    """
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    n_items = scores.shape[1] - 1
    if not 0 < n_items_a < n_items:
        raise ValueError(f"n_items_a={n_items_a} must lie in 1..{n_items - 1} for scores with "
                         f"{n_items + 1} columns")
    rows = np.arange(len(targets))
    pos = scores[rows, targets]
    if np.isnan(pos).any():
        raise ValueError(f"pos_scores contains NaN (first at row {int(np.flatnonzero(np.isnan(pos))[0])})")
    domain = np.asarray(target_domain)
    lo, hi = domain_bounds(domain, n_items_a, n_items)
    greater, equal, nan = (np.zeros(len(rows), np.int64) for _ in range(3))
    for code in (0, 1):  # one contiguous column block per target domain
        sel = np.flatnonzero(domain == code)
        if len(sel):
            a, b = int(lo[sel[0]]), int(hi[sel[0]])
            greater[sel], equal[sel], nan[sel] = _block_counts(scores[sel, a:b + 1], pos[sel])
    srt, first = _distinct_in_pool(np.asarray(history_rows, dtype=np.int64), targets, lo, hi)
    own = scores[rows[:, None], srt]
    if nan.any() and (nan > np.count_nonzero(first & np.isnan(own), axis=1)).any():
        raise _nan_error("cand_scores")  # NaN outside the user's own (excluded) items
    greater -= np.count_nonzero(first & (own > pos[:, None]), axis=1)
    equal -= np.count_nonzero(first & (own == pos[:, None]), axis=1)
    n = (hi - lo + 1) - np.count_nonzero(first, axis=1)
    return greater, equal, n


def sampled_counts(scores: np.ndarray, targets: np.ndarray,
                   candidates_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled-protocol (greater, equal, n_candidates) per row from fp32 ``scores`` (b, n + 1)."""
    scores = np.asarray(scores)
    targets = np.asarray(targets, dtype=np.int64)
    cand = np.asarray(candidates_rows, dtype=np.int64)
    if cand.ndim != 2 or cand.shape[0] != len(targets):
        raise ValueError(f"candidates_rows must be (b, n_neg) with b={len(targets)}, got {cand.shape}")
    hit = (cand == targets[:, None]).any(1)
    if hit.any():  # would mean rows of candidates and targets are misaligned
        row = int(np.flatnonzero(hit)[0])
        raise ValueError(f"candidates_rows row {row} contains its own target {int(targets[row])}")
    pos = scores[np.arange(len(targets)), targets]
    if np.isnan(pos).any():
        raise ValueError(f"pos_scores contains NaN (first at row {int(np.flatnonzero(np.isnan(pos))[0])})")
    cs = np.take_along_axis(scores, cand, axis=1)
    if np.isnan(cs).any():
        raise _nan_error("cand_scores")
    p = pos[:, None]
    return (np.count_nonzero(cs > p, axis=1).astype(np.int64), np.count_nonzero(cs == p, axis=1).astype(np.int64),
            np.full(len(targets), cand.shape[1], dtype=np.int64))
