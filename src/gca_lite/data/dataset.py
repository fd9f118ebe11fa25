"""The in-memory cross-domain dataset every other module reads.

A user's history is one *mixed* chronological sequence of (item, timestamp); the domain of an item
follows from its index, exactly as in ABXI's files: index 0 is padding, domain-A items take
``1..n_items_a`` and domain-B items ``n_items_a + 1 .. n_items_a + n_items_b``.

Sequences are stored flat (one items array, one timestamps array and per-user offsets, like a CSR
matrix) so that loading, statistics and split building are vectorised numpy, not Python loops.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

DOMAIN_A, DOMAIN_B = 0, 1


class DataError(ValueError):
    """Malformed or inconsistent input data; the message names the file/line and the problem."""


@dataclass(frozen=True, eq=False)
class CDSRDataset:
    """Per-user mixed sequences of two domains.

    Attributes:
        name: dataset name (``afk``, ``abe``, ``synthetic-...``).
        n_items_a, n_items_b: catalogue sizes of domain A and B.
        items: int64 (n_interactions,), all users' sequences concatenated, chronological per user.
        timestamps: int64 (n_interactions,), Unix seconds (day-granular in the ABXI data).
        offsets: int64 (n_users + 1,), user ``u`` owns ``items[offsets[u]:offsets[u+1]]``.
        checksum: SHA-256 identifying the content (of the source files when read from disk).
        meta: free-form provenance (source files, generator parameters, ...).
    """

    name: str
    n_items_a: int
    n_items_b: int
    items: np.ndarray
    timestamps: np.ndarray
    offsets: np.ndarray
    checksum: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()
        if not self.checksum:
            object.__setattr__(self, "checksum", content_checksum(self))

    # ------------------------------------------------------------------ basic shape
    @property
    def n_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_items(self) -> int:
        return self.n_items_a + self.n_items_b

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def domains(self) -> np.ndarray:
        """Domain (0 = A, 1 = B) of every interaction, aligned with ``items``."""
        return self.domain_of(self.items)

    def domain_of(self, items: np.ndarray) -> np.ndarray:
        return (np.asarray(items) > self.n_items_a).astype(np.int8)

    def user_of_interaction(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_users), self.lengths)

    def sequence(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, timestamps) of one user, chronological."""
        lo, hi = self.offsets[user], self.offsets[user + 1]
        return self.items[lo:hi], self.timestamps[lo:hi]

    def replace(self, **changes) -> "CDSRDataset":
        fields = dict(name=self.name, n_items_a=self.n_items_a, n_items_b=self.n_items_b,
                      items=self.items, timestamps=self.timestamps, offsets=self.offsets,
                      checksum="", meta=dict(self.meta))
        fields.update(changes)
        return CDSRDataset(**fields)

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`DataError` on any structural inconsistency (never silently fix)."""
        where = f"dataset {self.name!r}"
        if self.n_items_a < 1 or self.n_items_b < 1:
            raise DataError(f"{where}: both domains need items (n_items_a={self.n_items_a}, "
                            f"n_items_b={self.n_items_b})")
        if self.items.shape != self.timestamps.shape or self.items.ndim != 1:
            raise DataError(f"{where}: items and timestamps must be 1-D arrays of equal length")
        off = self.offsets
        if off.ndim != 1 or len(off) < 1 or off[0] != 0 or off[-1] != len(self.items):
            raise DataError(f"{where}: offsets must start at 0 and end at len(items)")
        if np.any(np.diff(off) < 0):
            raise DataError(f"{where}: offsets must be non-decreasing")
        if len(self.items) and (self.items.min() < 1 or self.items.max() > self.n_items):
            bad = int(self.items[(self.items < 1) | (self.items > self.n_items)][0])
            raise DataError(f"{where}: item index {bad} outside 1..{self.n_items}")


def content_checksum(ds: CDSRDataset) -> str:
    """SHA-256 over the arrays and catalogue sizes (used when no source file exists)."""
    h = hashlib.sha256()
    h.update(f"{ds.n_items_a},{ds.n_items_b};".encode())
    for arr in (ds.offsets, ds.items, ds.timestamps):
        h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    return h.hexdigest()


def from_sequences(name: str, n_items_a: int, n_items_b: int,
                   sequences: list[tuple[np.ndarray, np.ndarray]], **kwargs) -> CDSRDataset:
    """Build a dataset from a list of per-user (items, timestamps) pairs."""
    lengths = np.fromiter((len(s[0]) for s in sequences), dtype=np.int64, count=len(sequences))
    offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    items = np.concatenate([np.asarray(s[0], dtype=np.int64) for s in sequences]) if sequences \
        else np.zeros(0, dtype=np.int64)
    ts = np.concatenate([np.asarray(s[1], dtype=np.int64) for s in sequences]) if sequences \
        else np.zeros(0, dtype=np.int64)
    return CDSRDataset(name, n_items_a, n_items_b, items, ts, offsets, **kwargs)
