"""Vectorised metrics vs brute-force references, hand-computed values and bootstrap behaviour."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from gca_lite.metrics import (bootstrap_ci, metrics_from_counts, paired_comparison, rank_counts,
                              summarize)

KS = (1, 5, 10)


# ---------------------------------------------------------------------------- brute-force references
def brute_counts(pos, cand, valid):
    g, e = [], []
    for u in range(len(pos)):
        gu = eu = 0
        for j in range(cand.shape[1]):
            if valid is None or valid[u, j]:
                gu += cand[u, j] > pos[u]
                eu += cand[u, j] == pos[u]
        g.append(gu), e.append(eu)
    return np.array(g), np.array(e)


def brute_metrics(g, e, n, k_list=KS):
    """Tie-averaged metrics by enumerating the positions g+1..g+e+1 of the positive."""
    out = {f"{m}@{k}": [] for k in k_list for m in ("HR", "NDCG")}
    out.update(MRR=[], AUC=[], rank=[])
    for gu, eu, nu in zip(g, e, n):
        positions = range(gu + 1, gu + eu + 2)
        for k in k_list:
            out[f"HR@{k}"].append(sum(p <= k for p in positions) / len(positions))
            out[f"NDCG@{k}"].append(sum(1 / math.log2(p + 1) for p in positions if p <= k)
                                    / len(positions))
        out["MRR"].append(sum(1 / p for p in positions) / len(positions))
        out["AUC"].append(sum(1 - (p - 1) / nu for p in positions) / len(positions))
        out["rank"].append(sum(positions) / len(positions))
    return {key: np.array(v) for key, v in out.items()}


def tied_scores(n=60, m=30, seed=0):
    """Integer-valued scores in a tiny range, so ties are everywhere."""
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 5, n).astype(np.float32)
    cand = rng.integers(0, 5, (n, m)).astype(np.float32)
    valid = rng.random((n, m)) < 0.8
    valid[:, 0] = True  # at least one negative per user
    return pos, cand, valid


# ---------------------------------------------------------------------------- rank counts
@pytest.mark.parametrize("use_mask", [False, True])
def test_rank_counts_matches_brute_force(use_mask):
    pos, cand, valid = tied_scores()
    mask = valid if use_mask else None
    g, e = rank_counts(torch.from_numpy(pos), torch.from_numpy(cand),
                       None if mask is None else torch.from_numpy(mask))
    bg, be = brute_counts(pos, cand, mask)
    np.testing.assert_array_equal(g, bg)
    np.testing.assert_array_equal(e, be)
    assert g.dtype == np.int64 and e.dtype == np.int64


def test_rank_counts_chunking_and_numpy_input(monkeypatch):
    import gca_lite.metrics as metrics
    pos, cand, valid = tied_scores(n=37, m=11, seed=3)
    expected = rank_counts(pos, cand, valid)
    monkeypatch.setattr(metrics, "_CHUNK_ELEMENTS", 25)  # 2 rows per chunk, ragged last chunk
    got = metrics.rank_counts(pos, cand, valid)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_rank_counts_rejects_nan():
    pos = np.array([0.5, np.nan], dtype=np.float32)
    with pytest.raises(ValueError, match="pos_scores contains NaN"):
        rank_counts(pos, np.zeros((2, 3), np.float32))
    cand = np.zeros((2, 3), np.float32)
    cand[1, 2] = np.nan
    with pytest.raises(ValueError, match="cand_scores contains NaN"):
        rank_counts(np.zeros(2, np.float32), cand)
    valid = np.ones((2, 3), bool)
    valid[1, 2] = False  # a masked NaN is ignored
    assert rank_counts(np.zeros(2, np.float32), cand, valid)[1].tolist() == [3, 2]


# ---------------------------------------------------------------------------- metrics
def test_metrics_match_brute_force_with_ties():
    pos, cand, valid = tied_scores(seed=1)
    g, e = rank_counts(pos, cand, valid)
    n = valid.sum(1)
    got = metrics_from_counts(g, e, n, ks=KS)
    ref = brute_metrics(g, e, n)
    assert set(got) == set(ref)
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-12, atol=1e-12, err_msg=key)


def test_tie_average_equals_mean_over_all_orders_of_tied_items():
    """Independent check: average ABXI-style rank-by-sorting over every order of the tied items."""
    pos, cand = 1.0, [2.0, 1.0, 1.0, 0.0, 1.0]
    ranks = []
    tied = [i for i, c in enumerate(cand) if c == pos]
    for order in itertools.permutations(tied + ["pos"]):
        before_in_ties = order.index("pos")
        ranks.append(1 + sum(c > pos for c in cand) + before_in_ties)
    got = metrics_from_counts([1], [3], 5, ks=(2,))
    assert got["HR@2"][0] == pytest.approx(np.mean([r <= 2 for r in ranks]))
    assert got["NDCG@2"][0] == pytest.approx(np.mean([1 / math.log2(r + 1) if r <= 2 else 0
                                                       for r in ranks]))
    assert got["MRR"][0] == pytest.approx(np.mean([1 / r for r in ranks]))
    assert got["rank"][0] == pytest.approx(np.mean(ranks))


def test_hand_computed_examples():
    # g=2, e=0, 9 negatives: rank 3
    m = metrics_from_counts([2], [0], 9, ks=(1, 5))
    assert m["HR@1"][0] == 0 and m["HR@5"][0] == 1
    assert m["NDCG@5"][0] == pytest.approx(0.5)  # 1/log2(4)
    assert m["MRR"][0] == pytest.approx(1 / 3)
    assert m["AUC"][0] == pytest.approx(7 / 9)
    # g=0, e=1: positions 1 and 2 equally likely
    m = metrics_from_counts([0], [1], 4, ks=(1,))
    assert m["HR@1"][0] == pytest.approx(0.5)
    assert m["NDCG@1"][0] == pytest.approx(0.5)
    assert m["MRR"][0] == pytest.approx(0.75)
    assert m["rank"][0] == pytest.approx(1.5)
    assert m["AUC"][0] == pytest.approx(1 - 0.5 / 4)


def test_constant_scorer_1000_candidates():
    g, e = rank_counts(np.zeros(3, np.float32), np.zeros((3, 999), np.float32))
    m = metrics_from_counts(g, e, 999)
    np.testing.assert_allclose(m["AUC"], 0.5)
    np.testing.assert_allclose(m["HR@10"], 10 / 1000)
    np.testing.assert_allclose(m["HR@5"], 5 / 1000)
    np.testing.assert_allclose(m["HR@1"], m["NDCG@1"])
    assert m["NDCG@10"][0] == pytest.approx(0.0045436, abs=1e-7)
    assert m["MRR"][0] == pytest.approx(0.0074854, abs=1e-7)
    assert m["rank"][0] == pytest.approx(500.5)
    opt = metrics_from_counts(g, e, 999, tie_rule="optimistic")
    for key in ("HR@1", "HR@10", "NDCG@10", "MRR", "AUC"):
        np.testing.assert_allclose(opt[key], 1.0, err_msg=key)
    pes = metrics_from_counts(g, e, 999, tie_rule="pessimistic")
    assert pes["HR@10"][0] == 0 and pes["AUC"][0] == 0 and pes["MRR"][0] == pytest.approx(0.001)


def test_perfect_scorer_gives_one():
    rng = np.random.default_rng(0)
    cand = rng.normal(size=(20, 999)).astype(np.float32)
    pos = cand.max(1) + 1.0
    m = metrics_from_counts(*rank_counts(pos, cand), 999)
    for key in ("HR@1", "HR@5", "HR@10", "NDCG@1", "NDCG@10", "MRR", "AUC", "rank"):
        np.testing.assert_allclose(m[key], 1.0, err_msg=key)


def test_permuting_candidates_changes_nothing():
    pos, cand, valid = tied_scores(seed=2)
    base = metrics_from_counts(*rank_counts(pos, cand, valid), valid.sum(1))
    perm = np.random.default_rng(5).permutation(cand.shape[1])
    shuffled = metrics_from_counts(*rank_counts(pos, cand[:, perm], valid[:, perm]),
                                   valid.sum(1))
    for key in base:
        np.testing.assert_array_equal(base[key], shuffled[key])


def test_metrics_input_validation():
    with pytest.raises(ValueError, match="tie_rule"):
        metrics_from_counts([0], [0], 5, tie_rule="random")
    with pytest.raises(ValueError, match="exceeds n_candidates"):
        metrics_from_counts([3], [3], 5)
    with pytest.raises(ValueError, match="n_candidates"):
        metrics_from_counts([0], [0], 0)


def test_summarize_splits_by_domain():
    per_user = {"NDCG@10": np.array([1.0, 0.0, 0.5, 0.25]), "AUC": np.array([1.0, 0.5, 0.0, 0.5])}
    s = summarize(per_user, np.array([0, 1, 0, 1]))
    assert s["A/n"] == 2 and s["B/n"] == 2
    assert s["A/NDCG@10"] == pytest.approx(0.75) and s["B/NDCG@10"] == pytest.approx(0.125)
    assert s["A/AUC"] == pytest.approx(0.5) and s["B/AUC"] == pytest.approx(0.5)
    only_a = summarize(per_user, np.zeros(4, int))
    assert only_a["B/n"] == 0 and math.isnan(only_a["B/AUC"])


# ---------------------------------------------------------------------------- uncertainty
def test_bootstrap_ci_contains_mean_shrinks_and_is_reproducible():
    rng = np.random.default_rng(0)
    small, large = rng.random(100), rng.random(10_000)
    mean, lo, hi = bootstrap_ci(small, seed=1)
    assert lo < mean < hi and mean == pytest.approx(small.mean())
    _, lo2, hi2 = bootstrap_ci(large, seed=1)
    assert hi2 - lo2 < (hi - lo) / 3  # ~ 1/sqrt(100) shrink
    assert bootstrap_ci(small, seed=1) == (mean, lo, hi)
    assert bootstrap_ci(small, seed=2) != (mean, lo, hi)


def test_bootstrap_does_not_touch_global_rng():
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    bootstrap_ci(np.arange(10.0), n_boot=50)
    paired_comparison(np.arange(10.0), np.arange(10.0)[::-1], n_boot=50)
    assert np.random.random() == before


def test_paired_comparison_detects_clear_difference():
    rng = np.random.default_rng(0)
    base = rng.random(500)
    better = base + 0.05 + rng.normal(0, 0.02, 500)
    res = paired_comparison(better, base, seed=0)
    assert res["p_value"] < 0.01
    assert res["ci_lo"] < res["mean_diff"] < res["ci_hi"] and res["ci_lo"] > 0


def test_paired_comparison_identical_and_null():
    a = np.random.default_rng(0).random(300)
    assert paired_comparison(a, a.copy())["p_value"] == 1.0
    # Exchangeable pairs: p-values spread over (0, 1], not concentrated near 0.
    rng = np.random.default_rng(1)
    ps = []
    for _ in range(40):
        x, y = rng.random(200), rng.random(200)
        ps.append(paired_comparison(x, y, n_boot=200, seed=0)["p_value"])
    ps = np.array(ps)
    assert 0.2 < ps.mean() < 0.8 and (ps < 0.05).mean() < 0.2


def test_paired_comparison_rejects_mismatched_users():
    with pytest.raises(ValueError, match="same users"):
        paired_comparison(np.zeros(3), np.zeros(4))
