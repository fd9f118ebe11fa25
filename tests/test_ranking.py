"""The fast numpy rank counting gives the same counts, bit for bit, as the v1 mask-and-count path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gca_lite.candidates import evaluate_batch_full, evaluate_batch_sampled, pad_history, sample_candidates
from gca_lite.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from gca_lite.data.dataset import from_sequences
from gca_lite.data.splits import make_splits
from gca_lite.evaluate import rank_evalset, rank_evalset_reference
from gca_lite.ranking import full_counts, sampled_counts
from gca_lite.train import run


def make_splits_for(n_a: int, n_b: int, seed: int, n_users: int = 60):
    """Random mixed sequences with repeats (duplicate history items exercise the de-duplication)."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_users):
        length = int(rng.integers(4, 16))
        seqs.append((rng.integers(1, n_a + n_b + 1, length), np.sort(rng.integers(0, 100, length))))
    ds = from_sequences(f"synthetic-rank{seed}", n_a, n_b, seqs)
    return ds, make_splits(ds)


def tied_scores(rng, n_rows: int, n_cols: int, levels: int) -> np.ndarray:
    """fp32 scores with many exact ties (few levels) or none (levels = 0: continuous)."""
    if levels:
        return rng.integers(0, levels, (n_rows, n_cols)).astype(np.float32)
    return rng.standard_normal((n_rows, n_cols)).astype(np.float32)


def assert_same_full_counts(scores: np.ndarray, ev, hist: np.ndarray, n_items_a: int) -> None:
    """Fast counts equal the reference's (v1) counts, element for element, as int64."""
    want = evaluate_batch_full(torch.from_numpy(scores), ev.target, ev.target_domain, torch.from_numpy(hist),
                               n_items_a)
    got = full_counts(scores, ev.target, ev.target_domain, hist, n_items_a)
    for a, b in zip(got, want):
        assert a.dtype == np.int64
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n_a,n_b,seed,levels", [(30, 40, 0, 3), (7, 90, 1, 2), (120, 15, 2, 0),
                                                 (50, 50, 3, 5), (200, 300, 4, 0), (40, 20, 5, 1)])
def test_full_counts_equal_the_reference(n_a, n_b, seed, levels):
    ds, sp = make_splits_for(n_a, n_b, seed)
    rng = np.random.default_rng(seed)
    for ev in (sp.valid, sp.test):
        rows = np.arange(len(ev))
        scores = tied_scores(rng, len(rows), ds.n_items + 1, levels)
        hist = pad_history(ev.history, rows)
        assert_same_full_counts(scores, ev, hist.numpy(), ds.n_items_a)


def test_full_counts_when_the_target_is_missing_from_the_history():
    """The reference excludes the target whether or not the history lists it; so must the fast path."""
    ds, sp = make_splits_for(30, 40, 7)
    ev, rows = sp.valid, np.arange(len(sp.valid))
    scores = tied_scores(np.random.default_rng(7), len(rows), ds.n_items + 1, 3)
    hist = pad_history(ev.history, rows).numpy()
    hist = np.where(hist == ev.target[:, None], 0, hist)  # drop the target from every history
    assert_same_full_counts(scores, ev, hist, ds.n_items_a)


def test_nan_scores_raise_only_among_valid_candidates():
    ds, sp = make_splits_for(30, 40, 8)
    ev, rows = sp.valid, np.arange(len(sp.valid))
    scores = tied_scores(np.random.default_rng(8), len(rows), ds.n_items + 1, 0)
    hist = pad_history(ev.history, rows).numpy()
    other = hist[0][(hist[0] > 0) & (hist[0] != ev.target[0])]
    if len(other):  # NaN on an excluded (history) item: ignored, like the reference
        item = other[0]
        in_pool = (item <= ds.n_items_a) == (ev.target_domain[0] == 0)
        if in_pool:
            s = scores.copy()
            s[0, item] = np.nan
            want = evaluate_batch_full(torch.from_numpy(s), ev.target, ev.target_domain, torch.from_numpy(hist),
                                       ds.n_items_a)
            got = full_counts(s, ev.target, ev.target_domain, hist, ds.n_items_a)
            np.testing.assert_array_equal(got[0], want[0])
    lo = 1 if ev.target_domain[0] == 0 else ds.n_items_a + 1
    free = next(i for i in range(lo, lo + 30) if i not in set(hist[0]))
    s = scores.copy()
    s[0, free] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        full_counts(s, ev.target, ev.target_domain, hist, ds.n_items_a)
    s = scores.copy()
    s[3, ev.target[3]] = np.nan
    with pytest.raises(ValueError, match="pos_scores contains NaN"):
        full_counts(s, ev.target, ev.target_domain, hist, ds.n_items_a)


@pytest.mark.parametrize("levels", [0, 2])
def test_sampled_counts_equal_the_reference(levels):
    ds, sp = make_splits_for(60, 80, 9)
    ev = sp.test
    cands = sample_candidates(ds, ev, n_neg=25, seed=0)
    scores = tied_scores(np.random.default_rng(levels), len(ev), ds.n_items + 1, levels)
    want = evaluate_batch_sampled(torch.from_numpy(scores), ev.target, cands)
    got = sampled_counts(scores, ev.target, cands)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    bad = cands.copy()
    bad[2, 0] = ev.target[2]
    with pytest.raises(ValueError, match="contains its own target"):
        sampled_counts(scores, ev.target, bad)


TINY = RunConfig(
    data=DataConfig(dataset="synthetic-tiny"),
    model=ModelConfig(d=16, n_heads=2, ffn_hidden=32, rank_d=4, rank_i=4, dropout=0.1),
    train=TrainConfig(epochs=1, patience=2, batch_size=64, n_neg=32),
    eval=EvalConfig(n_candidates=49, probe_users=8),
)


@pytest.mark.parametrize("points,eval_batch", [((), 1024), ((1,), 7), ((0, 2), 64), ((0, 1, 2), 33)])
def test_rank_evalset_equals_the_reference_on_trained_models(tmp_path, points, eval_batch):
    """Trained models (real, un-tied scores) on both splits, several variants and batch sizes."""
    cfg = dataclasses.replace(TINY, model=dataclasses.replace(TINY.model, gca_points=points))
    res = run(cfg, progress=False, cache_dir=tmp_path, keep_model=True)
    from gca_lite.data import load_dataset

    ds = load_dataset("synthetic-tiny", None, seed=0)
    sp = make_splits(ds, cfg.model.max_len)
    for ev in (sp.valid, sp.test):
        cands = sample_candidates(ds, ev, n_neg=49, seed=0)
        new = rank_evalset(res.model, ev, ds.n_items_a, cands, eval_batch)
        old = rank_evalset_reference(res.model, ev, ds.n_items_a, cands, eval_batch)
        assert set(new) == set(old) == {"full", "sampled"}
        for p in old:
            for f in ("greater", "equal", "n_candidates"):
                np.testing.assert_array_equal(getattr(new[p], f), getattr(old[p], f))
