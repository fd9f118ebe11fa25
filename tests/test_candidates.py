"""Sampled candidates, their cache, and full-ranking masks vs brute-force references."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import gca_lite.candidates as cmod
from gca_lite.candidates import (cached_candidates, candidates_filename, evaluate_batch_full,
                                 evaluate_batch_sampled, full_ranking_mask, load_candidates,
                                 pad_history, sample_candidates, save_candidates)
from gca_lite.data.dataset import from_sequences
from gca_lite.data.splits import make_splits

N_A, N_B = 30, 40


def make_dataset(n_users=50, seed=0, n_a=N_A, n_b=N_B, name="synthetic-cands"):
    """Random mixed sequences (4..12 items, repeats allowed) over both domains."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n_users):
        length = int(rng.integers(4, 13))
        items = rng.integers(1, n_a + n_b + 1, length)
        seqs.append((items, np.sort(rng.integers(0, 100, length))))
    return from_sequences(name, n_a, n_b, seqs)


@pytest.fixture(scope="module")
def data():
    ds = make_dataset()
    return ds, make_splits(ds)


def history_sets(ev):
    off, items = ev.history
    return [set(items[off[u]:off[u + 1]].tolist()) for u in range(len(ev))]


def pool(ds, dom):
    return set(range(1, ds.n_items_a + 1)) if dom == 0 else \
        set(range(ds.n_items_a + 1, ds.n_items + 1))


# ---------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("split", ["valid", "test"])
def test_sampled_candidates_properties(data, split):
    ds, sp = data
    ev = getattr(sp, split)
    cands = sample_candidates(ds, ev, n_neg=15, seed=0)
    assert cands.shape == (len(ev), 15) and cands.dtype == np.int64
    for u, hist in enumerate(history_sets(ev)):
        row = set(cands[u].tolist())
        assert len(row) == 15, "duplicates"
        assert row <= pool(ds, ev.target_domain[u]), "wrong domain or padding"
        assert not row & hist, "history item sampled"
        assert ev.target[u] not in row


def test_sampling_reproducible_and_seed_dependent(data):
    ds, sp = data
    a = sample_candidates(ds, sp.test, n_neg=15, seed=7)
    np.testing.assert_array_equal(a, sample_candidates(ds, sp.test, n_neg=15, seed=7))
    assert not np.array_equal(a, sample_candidates(ds, sp.test, n_neg=15, seed=8))


def test_valid_and_test_streams_independent(data):
    ds, sp = data
    renamed = dataclasses.replace(sp.test, split="valid")  # same rows, only the split name differs
    a = sample_candidates(ds, sp.test, n_neg=15, seed=0)
    b = sample_candidates(ds, renamed, n_neg=15, seed=0)
    assert not np.array_equal(np.sort(a, 1), np.sort(b, 1))


def test_sampling_is_uniform_over_eligible_items():
    # 2000 identical users: A pool 30 items, 5 distinct history items -> 25 eligible, 10 drawn each.
    seq = (np.array([1, 2, 3, 4, 5, 5]), np.arange(6))
    ds = from_sequences("uniform", N_A, N_B, [seq] * 2000)
    ev = make_splits(ds).test
    cands = sample_candidates(ds, ev, n_neg=10, seed=3)
    counts = np.bincount(cands.ravel(), minlength=N_A + 1)
    assert counts[:6].sum() == 0 and counts[N_A + 1:].sum() == 0
    expected = 2000 * 10 / 25
    assert np.all(np.abs(counts[6:N_A + 1] - expected) < 0.12 * expected)


def test_sampling_does_not_depend_on_chunk_size(data, monkeypatch):
    ds, sp = data
    whole = sample_candidates(ds, sp.valid, n_neg=15, seed=1)
    monkeypatch.setattr(cmod, "_SAMPLE_CHUNK_ELEMENTS", 100)  # forces chunks of a few users
    np.testing.assert_array_equal(cmod.sample_candidates(ds, sp.valid, n_neg=15, seed=1), whole)


def test_sampling_pool_too_small_raises():
    # user 1's test target is in A with 4 distinct A items in its sequence: 30 - 4 = 26 eligible.
    seqs = [(np.array([31, 32, 33, 34]), np.arange(4)), (np.array([1, 2, 3, 3, 4]), np.arange(5))]
    ds = from_sequences("small", N_A, N_B, seqs)
    ev = make_splits(ds).test
    assert sample_candidates(ds, ev, n_neg=26).shape == (2, 26)  # exactly enough is fine
    with pytest.raises(ValueError, match=r"user row 1 .* only 26 eligible .* pool of 30, fewer "
                                         r"than n_neg=27"):
        sample_candidates(ds, ev, n_neg=27)
    with pytest.raises(ValueError, match="n_neg"):
        sample_candidates(ds, ev, n_neg=0)


# ---------------------------------------------------------------------------- cache
def test_cache_roundtrip_and_reuse(data, tmp_path, monkeypatch):
    ds, sp = data
    first = cached_candidates(tmp_path, ds, sp.test, n_neg=15, seed=4)
    path = tmp_path / candidates_filename(ds, "test", 15, 4)
    assert path.exists() and ds.checksum[:12] in path.name
    cands, meta = load_candidates(path)
    np.testing.assert_array_equal(cands, first)
    assert meta["split"] == "test" and meta["n_neg"] == 15 and meta["seed"] == 4

    def fail(*args, **kwargs):
        raise AssertionError("cache not reused")

    monkeypatch.setattr(cmod, "sample_candidates", fail)
    np.testing.assert_array_equal(cmod.cached_candidates(tmp_path, ds, sp.test, 15, 4), first)


def test_cache_detects_corruption(data, tmp_path):
    ds, sp = data
    path = tmp_path / "c.npz"
    cands = sample_candidates(ds, sp.test, n_neg=15)
    save_candidates(path, cands, {"note": "x"})
    _, meta = load_candidates(path)
    tampered = cands.copy()
    tampered[0, 0] += 1
    np.savez(path, candidates=tampered, meta=np.array(json.dumps(meta)))
    with pytest.raises(ValueError, match="c.npz is corrupted: SHA-256"):
        load_candidates(path)
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="c.npz is unreadable or corrupted"):
        load_candidates(path)


def test_cache_rejects_mismatched_request(data, tmp_path):
    ds, sp = data
    cached_candidates(tmp_path, ds, sp.test, n_neg=15, seed=0)
    other = dataclasses.replace(sp.test, target=sp.test.target[::-1].copy())
    with pytest.raises(ValueError, match="does not match this request"):
        cached_candidates(tmp_path, ds, other, n_neg=15, seed=0)


# ---------------------------------------------------------------------------- full ranking
def test_pad_history_roundtrip(data):
    _, sp = data
    padded = pad_history(sp.valid.history, [3, 0, 7]).numpy()
    for r, u in enumerate([3, 0, 7]):
        off, items = sp.valid.history
        row = items[off[u]:off[u + 1]]
        np.testing.assert_array_equal(padded[r, :len(row)], row)
        assert np.all(padded[r, len(row):] == 0)


def test_full_ranking_mask(data):
    ds, sp = data
    ev = sp.test
    mask = full_ranking_mask(ds, ev).numpy()
    assert mask.shape == (len(ev), ds.n_items + 1)
    for u, hist in enumerate(history_sets(ev)):
        expected = (pool(ds, ev.target_domain[u]) - hist) | {int(ev.target[u])}
        assert set(np.flatnonzero(mask[u]).tolist()) == expected
    assert not mask[:, 0].any()


def brute_full(scores, ds, ev, rows):
    g, e, n = [], [], []
    hists = history_sets(ev)
    for r, u in enumerate(rows):
        t = int(ev.target[u])
        negs = pool(ds, ev.target_domain[u]) - hists[u]
        g.append(sum(scores[r, i] > scores[r, t] for i in negs))
        e.append(sum(scores[r, i] == scores[r, t] for i in negs))
        n.append(len(negs))
    return np.array(g), np.array(e), np.array(n)


def test_evaluate_batch_full_matches_brute_force(data):
    ds, sp = data
    ev, rows = sp.valid, np.arange(5, 30)
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (len(rows), ds.n_items + 1), generator=gen).float()
    got = evaluate_batch_full(scores, ev.target[rows], ev.target_domain[rows],
                              pad_history(ev.history, rows), ds.n_items_a)
    for a, b in zip(got, brute_full(scores.numpy(), ds, ev, rows)):
        np.testing.assert_array_equal(a, b)


def test_evaluate_batch_sampled_matches_brute_force(data):
    ds, sp = data
    ev = sp.test
    cands = sample_candidates(ds, ev, n_neg=15, seed=0)
    scores = np.random.default_rng(1).integers(0, 3, (len(ev), ds.n_items + 1)).astype(np.float32)
    g, e, n = evaluate_batch_sampled(torch.from_numpy(scores), ev.target, cands)
    for u in range(len(ev)):
        s_t = scores[u, ev.target[u]]
        assert g[u] == sum(scores[u, c] > s_t for c in cands[u])
        assert e[u] == sum(scores[u, c] == s_t for c in cands[u])
    assert np.all(n == 15)
    with pytest.raises(ValueError, match="contains its own target"):
        bad = cands.copy()
        bad[2, 0] = ev.target[2]
        evaluate_batch_sampled(torch.from_numpy(scores), ev.target, bad)
