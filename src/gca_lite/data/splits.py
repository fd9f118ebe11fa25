"""ABXI's leave-one-out split on the mixed sequence, as padded integer arrays.

For a user's mixed sequence ``s``:

==========  =============  ===========================================================
split       input          target
==========  =============  ===========================================================
test        ``s[:-1]``     ``s[-1]``
validation  ``s[:-2]``     ``s[-2]``
train       ``s[:-3]``     ``s[1:-2]`` (one next-item target per position)
==========  =============  ===========================================================

All sequences are left-padded with 0 and left-truncated to ``max_len`` (ABXI: 50 - 3 = 47).
Training A/B sequences are *aligned to the mixed target grid* (ABXI's task-guided alignment): at
position t whose target is in A, ``seq_a[t]`` is the most recent A item before the target, and 0
where the target is in B or no earlier A item exists; symmetric for B. Evaluation A/B sequences are
the dense A-only / B-only subsequences of the input. ``order_*`` arrays give, for every non-padding
element, its index in the user's mixed sequence, so cross-domain attention can be restricted to
the past (padding = -1). ``day_*`` arrays carry the calendar day (UTC, of the Unix timestamps) for
the "strictly earlier days" cross-attention mask (``model.gca_mask="day"``): for every element, where
its day began (training: how many grid positions back; evaluation: the mixed-history index).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dataset import CDSRDataset, DataError

MAX_LEN = 47
MIN_SEQUENCE_LENGTH = 4  # three items are held out (train target grid needs one more)
DAY_SECONDS = 86400


@dataclass(frozen=True, eq=False)
class TrainSet:
    """Teacher-forced training instances, one per user, all arrays (n_users, max_len) int64."""

    users: np.ndarray
    seq_x: np.ndarray
    seq_a: np.ndarray
    seq_b: np.ndarray
    target: np.ndarray  # next item at each position, 0 on padding
    lengths: np.ndarray  # (n_users,) number of non-padding positions
    history: tuple[np.ndarray, np.ndarray]  # CSR (offsets, items) of s[:-2]: items never used as negatives
    day_back: np.ndarray  # positions from each grid position back to the first one of its day (0 = itself)


@dataclass(frozen=True, eq=False)
class EvalSet:
    """One validation or test instance per user."""

    split: str
    users: np.ndarray  # (n,)
    seq_x: np.ndarray  # (n, max_len) mixed history
    seq_a: np.ndarray  # (n, max_len) A-only history
    seq_b: np.ndarray  # (n, max_len) B-only history
    order_a: np.ndarray  # (n, max_len) index of seq_a's items in the mixed history, -1 on padding
    order_b: np.ndarray
    target: np.ndarray  # (n,)
    target_domain: np.ndarray  # (n,) 0 = A, 1 = B
    history: tuple[np.ndarray, np.ndarray]  # CSR of the raw sequence excluded from candidates
    day_start_a: np.ndarray  # (n, max_len) mixed-history index of the first item of each A item's day
    day_start_b: np.ndarray
    day_start_last: np.ndarray  # (n,) the same for the last item of the history

    def __len__(self) -> int:
        return len(self.users)


@dataclass(frozen=True, eq=False)
class Splits:
    train: TrainSet
    valid: EvalSet
    test: EvalSet
    max_len: int


def shuffle_within_ties(ds: CDSRDataset, seed: int) -> CDSRDataset:
    """Randomly permute items inside every group of equal timestamps of each user (seeded).

    This removes the "A before B on the same day" ordering artefact of ABXI's files (EVALUATION.md
    section 5). The users' chronological order across different timestamps is unchanged.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5A5A]))
    keys = rng.random(len(ds.items))
    order = np.lexsort((keys, ds.timestamps, ds.user_of_interaction()))
    return ds.replace(items=ds.items[order], timestamps=ds.timestamps[order],
                      meta={**ds.meta, "tie_shuffle_seed": seed})


def _left_pad(rows: list[np.ndarray], width: int, fill: int = 0) -> np.ndarray:
    out = np.full((len(rows), width), fill, dtype=np.int64)
    for r, row in enumerate(rows):
        row = row[-width:]
        if len(row):
            out[r, width - len(row):] = row
    return out


def _csr(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    items = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return offsets, items.astype(np.int64)


def _day_start(stamps: np.ndarray) -> np.ndarray:
    """For every position of a chronological sequence, the index of the first item of its day."""
    day = stamps // DAY_SECONDS
    new = np.ones(len(day), dtype=bool)
    new[1:] = day[1:] != day[:-1]
    return np.maximum.accumulate(np.where(new, np.arange(len(day)), 0))


def _last_in_domain(seq: np.ndarray, in_domain: np.ndarray) -> np.ndarray:
    """For every position t, the most recent item of the domain in ``seq[:t+1]`` (0 if none)."""
    idx = np.where(in_domain, np.arange(len(seq)), -1)
    last = np.maximum.accumulate(idx)
    return np.where(last >= 0, seq[np.maximum(last, 0)], 0)


def _eval_set(ds: CDSRDataset, split: str, cut: int, max_len: int) -> EvalSet:
    """``cut`` = 1 for test (target s[-1]) or 2 for validation (target s[-2])."""
    xs, as_, bs, oa, ob, tgt, hist, da, db, dl = [], [], [], [], [], [], [], [], [], []
    for u in range(ds.n_users):
        s, stamps = ds.sequence(u)
        stop = len(s) - cut + 1  # raw sequence seen when this instance is scored
        h = s[: stop - 1]
        dom = ds.domain_of(h)
        pos = np.arange(len(h))
        start = _day_start(stamps[: stop - 1])
        xs.append(h)
        as_.append(h[dom == 0]), oa.append(pos[dom == 0]), da.append(start[dom == 0])
        bs.append(h[dom == 1]), ob.append(pos[dom == 1]), db.append(start[dom == 1])
        dl.append(start[-1])
        tgt.append(s[stop - 1])
        hist.append(s[:stop])
    target = np.asarray(tgt, dtype=np.int64)
    return EvalSet(split=split, users=np.arange(ds.n_users), seq_x=_left_pad(xs, max_len),
                   seq_a=_left_pad(as_, max_len), seq_b=_left_pad(bs, max_len),
                   order_a=_left_pad(oa, max_len, -1), order_b=_left_pad(ob, max_len, -1),
                   target=target, target_domain=ds.domain_of(target), history=_csr(hist),
                   day_start_a=_left_pad(da, max_len, -1), day_start_b=_left_pad(db, max_len, -1),
                   day_start_last=np.asarray(dl, dtype=np.int64))


def _train_set(ds: CDSRDataset, max_len: int) -> TrainSet:
    xs, tg, sa, sb, hist, back = [], [], [], [], [], []
    for u in range(ds.n_users):
        s, stamps = ds.sequence(u)
        x, gt = s[:-3], s[1:-2]
        back.append(np.arange(len(x)) - _day_start(stamps[:-3]))
        dom_s = ds.domain_of(s[:-3])
        gt_dom = ds.domain_of(gt)
        last_a = _last_in_domain(x, dom_s == 0)
        last_b = _last_in_domain(x, dom_s == 1)
        xs.append(x), tg.append(gt)
        sa.append(np.where(gt_dom == 0, last_a, 0))
        sb.append(np.where(gt_dom == 1, last_b, 0))
        hist.append(s[:-2])
    seq_x = _left_pad(xs, max_len)
    return TrainSet(users=np.arange(ds.n_users), seq_x=seq_x, seq_a=_left_pad(sa, max_len),
                    seq_b=_left_pad(sb, max_len), target=_left_pad(tg, max_len),
                    lengths=(seq_x > 0).sum(1), history=_csr(hist), day_back=_left_pad(back, max_len))


def make_splits(ds: CDSRDataset, max_len: int = MAX_LEN) -> Splits:
    """Build train/validation/test exactly as ABXI does (see module docstring)."""
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    short = np.flatnonzero(ds.lengths < MIN_SEQUENCE_LENGTH)
    if len(short):
        raise DataError(f"dataset {ds.name!r}: user {int(short[0])} has {int(ds.lengths[short[0]])} "
                        f"interactions; leave-one-out needs at least {MIN_SEQUENCE_LENGTH} "
                        f"({len(short)} such users)")
    return Splits(train=_train_set(ds, max_len), valid=_eval_set(ds, "valid", 2, max_len),
                  test=_eval_set(ds, "test", 1, max_len), max_len=max_len)
