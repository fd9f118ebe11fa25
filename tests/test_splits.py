"""Leave-one-out splits on the mixed sequence, checked against ABXI.md's worked example."""

import numpy as np
import pytest

from gca_lite.data.dataset import CDSRDataset, DataError, from_sequences
from gca_lite.data.splits import make_splits, shuffle_within_ties

# Items 1..3 are domain A, 4..6 domain B.
A1, A2, A3 = 1, 2, 3
B1, B2, B3 = 4, 5, 6


def _ds(*seqs, ts=None) -> CDSRDataset:
    pairs = [(np.array(s), np.array(ts[k] if ts else range(len(s)))) for k, s in enumerate(seqs)]
    return from_sequences("toy", 3, 3, pairs)


def test_abxi_worked_example():
    # ABXI.md 3: s[:-2] = a1 b1 a2 b2 a3 -> x = a1 b1 a2 b2, gt = b1 a2 b2 a3,
    # seq_a = 0 a1 0 a2, seq_b = 0 0 b1 0. Two more items complete s (validation, test).
    ds = _ds([A1, B1, A2, B2, A3, B3, 1])
    sp = make_splits(ds, max_len=6)
    tr = sp.train
    assert tr.seq_x[0].tolist() == [0, 0, A1, B1, A2, B2]
    assert tr.target[0].tolist() == [0, 0, B1, A2, B2, A3]
    assert tr.seq_a[0].tolist() == [0, 0, 0, A1, 0, A2]
    assert tr.seq_b[0].tolist() == [0, 0, 0, 0, B1, 0]
    assert tr.lengths.tolist() == [4]
    # validation: input s[:-2], target s[-2]; test: input s[:-1], target s[-1]
    va, te = sp.valid, sp.test
    assert va.target.tolist() == [B3] and va.target_domain.tolist() == [1]
    assert va.seq_x[0].tolist() == [0, A1, B1, A2, B2, A3]
    assert va.seq_a[0].tolist() == [0, 0, 0, A1, A2, A3]
    assert va.order_a[0].tolist() == [-1, -1, -1, 0, 2, 4]
    assert va.seq_b[0].tolist() == [0, 0, 0, 0, B1, B2]
    assert va.order_b[0].tolist() == [-1, -1, -1, -1, 1, 3]
    assert te.target.tolist() == [1] and te.target_domain.tolist() == [0]
    assert te.seq_x[0].tolist() == [A1, B1, A2, B2, A3, B3]
    # candidate exclusion covers the raw sequence seen at scoring time (incl. the target)
    off, items = te.history
    assert items[off[0]:off[1]].tolist() == [A1, B1, A2, B2, A3, B3, 1]
    off, items = va.history
    assert items[off[0]:off[1]].tolist() == [A1, B1, A2, B2, A3, B3]


def test_left_truncation_keeps_most_recent():
    ds = _ds([1, 4, 2, 5, 3, 6, 2, 5])
    sp = make_splits(ds, max_len=3)
    assert sp.train.seq_x[0].tolist() == [2, 5, 3]  # last 3 of s[:-3]
    assert sp.test.seq_x[0].tolist() == [3, 6, 2]  # last 3 of s[:-1]


def test_too_short_user_is_an_error():
    ds = _ds([1, 4, 2, 5], [1, 4, 2])
    with pytest.raises(DataError, match="user 1 has 3 interactions"):
        make_splits(ds)


def test_shuffle_within_ties_only_permutes_ties():
    seq = [1, 2, 3, 4, 5, 6, 1, 4]
    ts = [10, 10, 10, 10, 20, 20, 30, 40]
    ds = _ds(seq, seq[::-1], ts=[ts, ts])
    out = shuffle_within_ties(ds, seed=3)
    for u in range(2):
        items, stamps = out.sequence(u)
        orig, _ = ds.sequence(u)
        assert stamps.tolist() == ts
        for lo, hi in ((0, 4), (4, 6), (6, 7), (7, 8)):
            assert sorted(items[lo:hi].tolist()) == sorted(orig[lo:hi].tolist())
    again = shuffle_within_ties(ds, seed=3)
    assert np.array_equal(out.items, again.items)
    changed = any(not np.array_equal(shuffle_within_ties(ds, s).items, ds.items) for s in range(5))
    assert changed
    assert out.checksum != ds.checksum


def test_dataset_validation_errors():
    with pytest.raises(DataError, match="item index 9 outside 1..6"):
        _ds([1, 9, 2, 4])
    with pytest.raises(DataError, match="both domains need items"):
        from_sequences("x", 0, 3, [(np.array([1]), np.array([0]))])


def test_real_afk_split_counts(shared_data):
    from gca_lite.data.abxi_io import read_abxi

    ds = read_abxi(shared_data / "afk", "afk")
    sp = make_splits(ds)
    tr = sp.train
    dom = ds.domain_of(tr.target)
    assert int(((tr.target > 0) & (dom == 0)).sum()) == 75_087
    assert int(((tr.target > 0) & (dom == 1)).sum()) == 77_029
    assert np.bincount(sp.valid.target_domain).tolist() == [2_837, 4_307]
    assert np.bincount(sp.test.target_domain).tolist() == [2_419, 4_725]
    # aligned sequences: non-zero only where the target is of that domain
    assert not np.any((tr.seq_a > 0) & (dom != 0))
    assert not np.any((tr.seq_b > 0) & (dom != 1))
