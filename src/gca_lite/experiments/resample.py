"""The bootstraps of :mod:`gca_lite.metrics`, fast when many statistics share the same users.

``metrics.bootstrap_ci`` and ``metrics.paired_comparison`` draw their resamples (and sign flips)
from a generator seeded by ``seed`` alone, so every call on the same number of users with the same
seed draws the same ones. The results page makes thousands of such calls (every variant, metric,
domain and protocol of the full grid), so here the draws are made once per (users, resamples,
seed), kept as a matrix of resample counts (or signs), and each statistic becomes one matrix-vector
product. The draws replicate the ones in ``metrics`` exactly, chunking included (numpy's bounded
integer draws depend on the call sizes); ``tests/test_resample.py`` checks that both give the same
intervals and p-values.

Why a replica instead of a faster ``metrics``: metrics.py is one of the result-determining sources
(``provenance.RESULT_SOURCES``), and any edit would change the code version in the middle of the
issue-6 grid. Once the grid is complete, metrics.py should take this implementation over and this
module should go.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..metrics import _CHUNK_ELEMENTS, _values


def _chunks(n: int, n_boot: int):
    step = max(1, _CHUNK_ELEMENTS // n)
    return [(lo, min(step, n_boot - lo)) for lo in range(0, n_boot, step)]


def _counts(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """(n_boot, n) how often each user is drawn in each resample (``metrics._bootstrap_means``)."""
    out = np.empty((n_boot, n), dtype=np.uint16)
    for lo, rows in _chunks(n, n_boot):
        idx = rng.integers(0, n, size=(rows, n))
        counts = np.bincount((idx + (np.arange(rows) * n)[:, None]).ravel(), minlength=rows * n)
        if counts.max() > np.iinfo(np.uint16).max:  # a user drawn 65,536 times: never in practice
            raise OverflowError(f"resample counts exceed uint16 for {n} users")
        out[lo:lo + rows] = counts.reshape(rows, n)
    return out


def _check_seed(seed) -> int:
    # a None seed would draw fresh resamples in metrics.py but be frozen by the cache here
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer (the draws are shared per seed), got {seed!r}")
    return int(seed)


@lru_cache(maxsize=12)
def _mean_counts(n: int, n_boot: int, seed: int) -> np.ndarray:
    out = _counts(np.random.default_rng(seed), n, n_boot)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=12)
def _paired_draws(n: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    boot_rng, flip_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    counts = _counts(boot_rng, n, n_boot)
    signs = np.empty((n_boot, n), dtype=np.int8)
    for lo, rows in _chunks(n, n_boot):
        signs[lo:lo + rows] = flip_rng.integers(0, 2, size=(rows, n)) * 2 - 1
    counts.flags.writeable = signs.flags.writeable = False
    return counts, signs


@lru_cache(maxsize=2)
def _mean_counts_f64(n: int, n_boot: int, seed: int) -> np.ndarray:
    """:func:`_mean_counts` as float64, cast once (see :func:`_paired_draws_f64`)."""
    out = _mean_counts(n, n_boot, seed).astype(np.float64)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=2)
def _paired_draws_f64(n: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_paired_draws` as float64, the type the matrix products run in: cast once, not at
    every comparison (the cast of two (n_boot, n) matrices was half of a results page's time).
    Two entries (about 230 MB each at 14,000 users): the two domains of the dataset at hand."""
    counts, signs = (m.astype(np.float64) for m in _paired_draws(n, n_boot, seed))
    counts.flags.writeable = signs.flags.writeable = False
    return counts, signs


def _columns(values, name: str) -> np.ndarray:
    """(n, k) float64 with n >= 1 users and k statistics; a 1-D array is one column."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        return _values(v, name)[:, None]
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty (users,) or (users, k) array, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or inf")
    return v


def bootstrap_cis(values, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0):
    """:func:`gca_lite.metrics.bootstrap_ci` of every column of ``values`` (users, k), from one
    set of resamples: arrays ``(means, lo, hi)`` of length k."""
    v = _columns(values, "values")
    if n_boot < 1 or not 0.0 < alpha < 1.0:
        raise ValueError(f"need n_boot >= 1 and 0 < alpha < 1, got n_boot={n_boot}, alpha={alpha}")
    means = (_mean_counts_f64(len(v), n_boot, _check_seed(seed)) @ v) / len(v)  # (n_boot, k)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2], axis=0)
    return v.mean(0), lo, hi


def paired_comparisons(a, b, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> list[dict]:
    """:func:`gca_lite.metrics.paired_comparison` of every column pair of ``a`` and ``b`` (users, k)
    on the same users, from one set of resamples and sign flips: one dict per column."""
    va, vb = _columns(a, "a"), _columns(b, "b")
    if va.shape != vb.shape:
        raise ValueError(f"a and b must hold the same users, got shapes {va.shape} and {vb.shape}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    d = va - vb
    n = len(d)
    observed = d.mean(0)
    counts, signs = _paired_draws_f64(n, n_boot, _check_seed(seed))  # exact: small integers
    lo, hi = np.quantile((counts @ d) / n, [alpha / 2, 1 - alpha / 2], axis=0)
    tol = 1e-12 * np.maximum(1.0, np.abs(d).max(0))  # float rounding must not break exact ties
    exceed = np.sum(np.abs((signs @ d) / n) >= np.abs(observed) - tol, axis=0)
    return [{"mean_diff": float(observed[j]), "ci_lo": float(lo[j]), "ci_hi": float(hi[j]),
             "p_value": (1 + int(exceed[j])) / (1 + n_boot)} for j in range(d.shape[1])]


def bootstrap_ci(values, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float, float]:
    """Same as :func:`gca_lite.metrics.bootstrap_ci`: ``(mean, lo, hi)``."""
    mean, lo, hi = bootstrap_cis(_values(values, "values"), n_boot, alpha, seed)
    return float(mean[0]), float(lo[0]), float(hi[0])


def paired_comparison(a, b, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> dict[str, float]:
    """Same as :func:`gca_lite.metrics.paired_comparison`: mean difference, CI and sign-flip p."""
    return paired_comparisons(_values(a, "a"), _values(b, "b"), n_boot, seed, alpha)[0]
