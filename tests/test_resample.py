"""experiments.resample gives the intervals and p-values of gca_lite.metrics, from shared draws."""

from __future__ import annotations

import numpy as np
import pytest

from gca_lite import metrics
from gca_lite.experiments import resample


@pytest.mark.parametrize("n, n_boot, seed", [(3571, 1000, 0), (300, 2000, 7), (20, 50, 3), (1, 10, 0),
                                             (5000, 999, 2)])  # 5000 users: several draw chunks
def test_same_numbers_as_metrics(n, n_boot, seed):
    rng = np.random.default_rng(n)
    a = rng.random(n)
    b = np.where(rng.random(n) < 0.5, a, rng.random(n))  # many exact zeros among the differences
    assert resample.bootstrap_ci(a, n_boot=n_boot, seed=seed) == pytest.approx(
        metrics.bootstrap_ci(a, n_boot=n_boot, seed=seed), rel=1e-12, abs=1e-15)
    fast = resample.paired_comparison(a, b, n_boot=n_boot, seed=seed)
    slow = metrics.paired_comparison(a, b, n_boot=n_boot, seed=seed)
    assert fast == pytest.approx(slow, rel=1e-12, abs=1e-15)
    assert fast["p_value"] == slow["p_value"]  # counted exceedances, not approximated


def test_draws_are_shared_between_calls_and_seeds_are_not():
    rng = np.random.default_rng(0)
    a, b, c = rng.random((3, 2000))
    resample._paired_draws.cache_clear()
    resample._paired_draws_f64.cache_clear()
    resample.paired_comparison(a, b, n_boot=500, seed=0)
    resample.paired_comparison(a, c, n_boot=500, seed=0)
    # drawn once and cast to float64 once: the second call reuses the cast draws
    assert resample._paired_draws_f64.cache_info().hits == 1 and resample._paired_draws.cache_info().misses == 1
    assert resample.paired_comparison(a, b, n_boot=500, seed=1) != resample.paired_comparison(a, b, n_boot=500, seed=0)


def test_bad_input_is_refused_like_metrics():
    with pytest.raises(ValueError, match="same users"):
        resample.paired_comparison(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="NaN"):
        resample.bootstrap_ci([0.1, np.nan])
    with pytest.raises(ValueError, match="n_boot"):
        resample.paired_comparison(np.ones(3), np.ones(3), n_boot=0)


def test_columns_are_the_single_statistics_side_by_side():
    rng = np.random.default_rng(5)
    a, b = rng.random((2, 1500, 4))
    means, lo, hi = resample.bootstrap_cis(a, n_boot=400, seed=1)
    pairs = resample.paired_comparisons(a, b, n_boot=400, seed=1)
    for j in range(4):
        assert (means[j], lo[j], hi[j]) == pytest.approx(metrics.bootstrap_ci(a[:, j], n_boot=400, seed=1),
                                                         rel=1e-12)
        assert pairs[j] == pytest.approx(metrics.paired_comparison(a[:, j], b[:, j], n_boot=400, seed=1),
                                         rel=1e-12)
    with pytest.raises(ValueError, match=r"\(users, k\)"):
        resample.bootstrap_cis(np.zeros((0, 3)))


def test_many_columns_over_several_draw_chunks():
    rng = np.random.default_rng(9)
    a, b = rng.random((2, 5000, 3))  # 5000 users x 999 resamples: several chunks of draws
    pairs = resample.paired_comparisons(a, b, n_boot=999, seed=4)
    for j in range(3):
        assert pairs[j] == pytest.approx(metrics.paired_comparison(a[:, j], b[:, j], n_boot=999, seed=4),
                                         rel=1e-12)


def test_seed_must_be_an_integer_and_draws_are_read_only():
    with pytest.raises(TypeError, match="integer"):
        resample.bootstrap_ci(np.ones(5), seed=None)  # metrics would draw afresh; the cache would not
    counts, signs = resample._paired_draws(50, 10, 0)
    with pytest.raises(ValueError, match="read-only"):
        counts[0, 0] = 3
