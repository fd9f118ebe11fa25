"""The two evaluation protocols: sampled candidates (ABXI-compatible) and full ranking.

Candidate pool of a user = all items of the target's domain (A: ``1..n_A``; B: ``n_A+1..n_A+n_B``,
the correct pool, not ABXI's off-by-one that includes the last A item, ABXI.md §10 quirk 2) minus
every item of the user's raw sequence seen at scoring time (``evalset.history``, which contains the
target). Padding index 0 and the other domain are never candidates.

* Sampled (secondary protocol): ``n_neg`` negatives drawn uniformly without replacement from the
  pool, seeded per (seed, split), generated once, saved with a SHA-256 and reused by every model
  (EVALUATION.md §1, §6).
* Full ranking (primary protocol): the positive is ranked against the whole pool.

Trainer usage, per batch of evaluation rows ``rows``::

    scores = model.score_all(batch)                       # (b, n_items + 1) float32
    g, e, n = evaluate_batch_full(scores, targets, target_domain, pad_history(ev.history, rows), n_a)
    g, e, n = evaluate_batch_sampled(scores, targets, cands[rows])
    # store (g, e, n) per user; metrics.metrics_from_counts(g, e, n) gives every metric.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .data.dataset import CDSRDataset
from .data.splits import EvalSet
from .metrics import rank_counts

_SAMPLER_TAG = 0xCA9D  # separates the evaluation-candidate stream from every other RNG stream
_SAMPLE_CHUNK_ELEMENTS = 1 << 22
FORMAT_VERSION = 1
SAMPLER_ID = "random-keys-argpartition-v1"  # change when the sampling algorithm changes


# ---------------------------------------------------------------------------- pools and history
def domain_bounds(target_domain, n_items_a: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive item-index range (lo, hi) of each row's target domain (0 = A, 1 = B)."""
    dom = np.asarray(target_domain)
    lo = np.where(dom == 0, 1, n_items_a + 1).astype(np.int64)
    hi = np.where(dom == 0, n_items_a, n_items).astype(np.int64)
    return lo, hi


def pad_history(history: tuple[np.ndarray, np.ndarray], rows=None) -> torch.Tensor:
    """Rows of a CSR history ``(offsets, items)`` as a right-padded (b, max_len) int64 tensor.

    Padding is 0, which is never a candidate, so the result can be scattered into masks directly.
    """
    offsets, items = (np.asarray(a, dtype=np.int64) for a in history)
    rows = np.arange(len(offsets) - 1) if rows is None else np.asarray(rows, dtype=np.int64)
    start, length = offsets[rows], offsets[rows + 1] - offsets[rows]
    width = int(length.max()) if len(rows) else 0
    col = np.arange(width)
    inside = col[None, :] < length[:, None]
    idx = np.where(inside, start[:, None] + col[None, :], 0)
    out = np.where(inside, items[idx] if len(items) else 0, 0)
    return torch.from_numpy(out.astype(np.int64))


def _history_in_pool_count(hist: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number of *distinct* history items inside each row's pool (hist: padded with 0)."""
    inside = (hist >= lo[:, None]) & (hist <= hi[:, None])
    srt = np.sort(np.where(inside, hist, 0), axis=1)
    first = np.ones_like(srt, dtype=bool)
    first[:, 1:] = srt[:, 1:] != srt[:, :-1]
    return (first & (srt > 0)).sum(1)


# ---------------------------------------------------------------------------- sampled candidates
def candidate_rng(seed: int, split: str) -> np.random.Generator:
    """Generator for evaluation candidates of one split; valid and test streams are independent."""
    split_key = zlib.crc32(split.encode("utf-8"))  # stable across processes, unlike hash()
    return np.random.default_rng(np.random.SeedSequence([int(seed), _SAMPLER_TAG, split_key]))


def sample_candidates(dataset: CDSRDataset, evalset: EvalSet, n_neg: int = 999,
                      seed: int = 0) -> np.ndarray:
    """Negatives per user, uniform without replacement from the pool minus the user's history.

    Method: every pool item gets an i.i.d. uniform random key, history items get +inf, and the
    ``n_neg`` smallest keys are taken (argpartition). Any fixed-size subset of the eligible items is
    equally likely, which is exactly uniform sampling without replacement; rows are processed in
    chunks, so memory stays bounded and no Python loop runs over users. The keys are consumed from
    one stream in row order, so the result does not depend on the chunk size.

    Returns int64 (len(evalset), n_neg). Raises ValueError if some user's eligible pool is smaller
    than ``n_neg`` (never shrinks the candidate set silently).
    """
    if n_neg < 1:
        raise ValueError(f"n_neg must be >= 1, got {n_neg}")
    n = len(evalset)
    lo, hi = domain_bounds(evalset.target_domain, dataset.n_items_a, dataset.n_items)
    hist = pad_history(evalset.history).numpy()
    if hist.shape[0] != n:
        raise ValueError(f"evalset {evalset.split!r}: history has {hist.shape[0]} rows, "
                         f"expected {n}")
    available = (hi - lo + 1) - _history_in_pool_count(hist, lo, hi)
    short = np.flatnonzero(available < n_neg)
    if len(short):
        u = int(short[0])
        raise ValueError(f"evalset {evalset.split!r}: user row {u} (user id {int(evalset.users[u])}) "
                         f"has only {int(available[u])} eligible items in its domain pool of "
                         f"{int(hi[u] - lo[u] + 1)}, fewer than n_neg={n_neg} "
                         f"({len(short)} such users)")

    rng = candidate_rng(seed, evalset.split)
    out = np.empty((n, n_neg), dtype=np.int64)
    width = int((hi - lo + 1).max()) if n else 1  # keys over offsets 0..width-1 within the pool
    step = max(1, _SAMPLE_CHUNK_ELEMENTS // width)
    for start in range(0, n, step):  # chunks of users, vectorised inside
        sl = slice(start, min(start + step, n))
        size = hi[sl] - lo[sl] + 1
        keys = rng.random((len(size), width))
        keys[np.arange(width)[None, :] >= size[:, None]] = np.inf  # beyond a smaller pool
        rel = hist[sl] - lo[sl, None]
        in_pool = (rel >= 0) & (rel < size[:, None])
        r, c = np.nonzero(in_pool)
        keys[r, rel[r, c]] = np.inf  # history items (target included) are never negatives
        pick = np.argpartition(keys, n_neg - 1, axis=1)[:, :n_neg]
        # Sorted rows: the set is what matters, and sorting removes any dependence on the order
        # argpartition happens to return (which could differ between numpy versions).
        out[sl] = np.sort(pick, axis=1) + lo[sl, None]
    return out


# ---------------------------------------------------------------------------- storage
def array_sha256(arr: np.ndarray) -> str:
    """SHA-256 of dtype, shape and C-order bytes (so a reshaped or retyped array also differs)."""
    a = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{a.dtype.str};{a.shape};".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def save_candidates(path, cands: np.ndarray, meta: dict) -> Path:
    """Write ``cands`` and ``meta`` (JSON-serialisable) to ``path`` (.npz) with the array's SHA-256.

    Written to a temporary file and renamed, so concurrent runs never see a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cands = np.ascontiguousarray(cands, dtype=np.int64)
    meta = {**meta, "sha256": array_sha256(cands), "format_version": FORMAT_VERSION}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            from .results import default_file_mode  # a shared store's cache is read by all its users

            os.fchmod(fh.fileno(), default_file_mode())
            np.savez(fh, candidates=cands, meta=np.array(json.dumps(meta, sort_keys=True)))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_candidates(path) -> tuple[np.ndarray, dict]:
    """Read a file written by :func:`save_candidates`; verify the SHA-256 of the array."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            cands, meta = z["candidates"], json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ValueError(f"candidate file {path} is unreadable or corrupted: {exc}") from exc
    stored, actual = meta.get("sha256"), array_sha256(cands)
    if stored != actual:
        raise ValueError(f"candidate file {path} is corrupted: SHA-256 of the array is {actual}, "
                         f"the file records {stored}; delete it to regenerate")
    return cands, meta


def candidates_filename(dataset: CDSRDataset, split: str, n_neg: int, seed: int) -> str:
    return f"cands-{dataset.name}-{dataset.checksum[:12]}-{split}-neg{n_neg}-seed{seed}.npz"


def _expected_meta(dataset: CDSRDataset, evalset: EvalSet, n_neg: int, seed: int) -> dict:
    """What a cached file must record to be reusable for this (dataset, split, n_neg, seed)."""
    return {"dataset": dataset.name, "dataset_checksum": dataset.checksum,
            "split": evalset.split, "n_neg": int(n_neg), "seed": int(seed),
            "n_users": len(evalset), "targets_sha256": array_sha256(evalset.target.astype(np.int64)),
            "pool": "target domain, correct B pool n_A+1..n_A+n_B, history excluded",
            "sampler": SAMPLER_ID}


def cached_candidates(cache_dir, dataset: CDSRDataset, evalset: EvalSet, n_neg: int = 999,
                      seed: int = 0) -> np.ndarray:
    """Load the candidates for (dataset, split, n_neg, seed) from ``cache_dir``, or create them once.

    A cached file whose metadata disagrees with the request (other targets, sizes, ...) is an error,
    not silently overwritten, because it would mean two runs evaluated on different candidates.
    """
    path = Path(cache_dir) / candidates_filename(dataset, evalset.split, n_neg, seed)
    expected = _expected_meta(dataset, evalset, n_neg, seed)
    if path.exists():
        cands, meta = load_candidates(path)
        bad = {k: (meta.get(k), v) for k, v in expected.items() if meta.get(k) != v}
        if bad or cands.shape != (len(evalset), n_neg):
            raise ValueError(f"candidate file {path} does not match this request "
                             f"(field: (file, expected)) {bad or {'shape': cands.shape}}; "
                             f"delete it to regenerate")
        return cands
    cands = sample_candidates(dataset, evalset, n_neg=n_neg, seed=seed)
    save_candidates(path, cands, expected)
    return cands


# ---------------------------------------------------------------------------- batch evaluation
def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def ranking_mask(targets, target_domain, history_rows, n_items_a: int, n_items: int,
                 include_target: bool = True, device=None) -> torch.Tensor:
    """(b, n_items + 1) bool: True for items ranked in full ranking.

    = items of the target's domain, minus the user's history, minus padding 0; the target itself is
    True when ``include_target`` (it is in the history, so it is re-enabled after the exclusion).
    ``history_rows``: (b, h) int64 item indices padded with 0 (see :func:`pad_history`).
    """
    tgt = torch.as_tensor(targets, dtype=torch.int64, device=device)
    device = tgt.device
    hist = torch.as_tensor(history_rows, dtype=torch.int64, device=device)
    lo, hi = (torch.from_numpy(a).to(device)
              for a in domain_bounds(_numpy(target_domain), n_items_a, n_items))
    col = torch.arange(n_items + 1, device=device)
    mask = (col[None, :] >= lo[:, None]) & (col[None, :] <= hi[:, None])
    if hist.numel():
        mask.scatter_(1, hist, False)  # scatter of a constant: duplicate indices are harmless
    mask.scatter_(1, tgt[:, None], include_target)
    return mask


def full_ranking_mask(dataset: CDSRDataset, evalset: EvalSet, rows=None) -> torch.Tensor:
    """:func:`ranking_mask` for rows of an evalset (all rows if None); target included."""
    rows = np.arange(len(evalset)) if rows is None else np.asarray(rows, dtype=np.int64)
    return ranking_mask(evalset.target[rows], evalset.target_domain[rows],
                        pad_history(evalset.history, rows), dataset.n_items_a, dataset.n_items)


def _targets_and_scores(scores_all, targets) -> tuple[torch.Tensor, torch.Tensor]:
    scores = torch.as_tensor(scores_all)
    tgt = torch.as_tensor(targets, dtype=torch.int64, device=scores.device)
    if scores.ndim != 2 or tgt.shape != (scores.shape[0],):
        raise ValueError(f"scores_all must be (b, n_items + 1) and targets (b,), got "
                         f"{tuple(scores.shape)} and {tuple(tgt.shape)}")
    return scores, tgt


def evaluate_batch_full(scores_all, targets, target_domain, history_rows,
                        n_items_a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-ranking counts for a batch: (greater, equal, n_candidates), int64 arrays (b,).

    Negatives = every item of the target's domain not in the user's history (padding, other domain
    and history masked). ``n_items`` is taken from ``scores_all.shape[1] - 1``.
    """
    scores, tgt = _targets_and_scores(scores_all, targets)
    n_items = scores.shape[1] - 1
    if not 0 < n_items_a < n_items:
        raise ValueError(f"n_items_a={n_items_a} must lie in 1..{n_items - 1} for scores_all with "
                         f"{n_items + 1} columns")
    neg = ranking_mask(tgt, target_domain, history_rows, n_items_a, n_items, include_target=False)
    pos = scores.gather(1, tgt[:, None]).squeeze(1)
    g, e = rank_counts(pos, scores, neg)
    return g, e, neg.sum(1).cpu().numpy()


def evaluate_batch_sampled(scores_all, targets,
                           candidates_rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled-protocol counts for a batch: (greater, equal, n_candidates), int64 arrays (b,).

    ``candidates_rows``: (b, n_neg) item indices of the negatives (from :func:`cached_candidates`).
    """
    scores, tgt = _targets_and_scores(scores_all, targets)
    cand = torch.as_tensor(candidates_rows, dtype=torch.int64, device=scores.device)
    if cand.ndim != 2 or cand.shape[0] != tgt.shape[0]:
        raise ValueError(f"candidates_rows must be (b, n_neg) with b={tgt.shape[0]}, "
                         f"got {tuple(cand.shape)}")
    if (cand == tgt[:, None]).any():  # would mean rows of candidates and targets are misaligned
        row = int(torch.nonzero((cand == tgt[:, None]).any(1))[0])
        raise ValueError(f"candidates_rows row {row} contains its own target {int(tgt[row])}")
    pos = scores.gather(1, tgt[:, None]).squeeze(1)
    g, e = rank_counts(pos, scores.gather(1, cand))
    return g, e, np.full(len(g), cand.shape[1], dtype=np.int64)
