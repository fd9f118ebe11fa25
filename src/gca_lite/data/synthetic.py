"""Embedded synthetic cross-domain data, so the whole companion runs with no download.

Generative process (plain words; :func:`describe` returns this text with a spec's numbers)
------------------------------------------------------------------------------------------
1. Catalogue. Domains A and B share ``n_topics`` latent topics: topic k of A ("pasta") is paired
   with topic k of B ("pasta makers"). Each domain's items are split evenly among the topics at
   random item ids. Topics have Zipf-like popularity (shared by both domains), and inside a topic
   items have Zipf-like popularity too, so a few head items are bought far more than the tail.
2. Layout (never depends on items). Each user gets a length (``min_len`` plus an exponential tail
   with median ``median_len``, capped at ``max_len``), a domain pattern from a two-state Markov chain
   that switches domain with probability ``switch_prob`` (re-drawn until both domains have
   ``min_per_domain`` items), and day-granular timestamps: the gap to the next item is 0 days (a
   same-day tie) with probability ``tie_prob``, otherwise a geometric number of days.
3. Tastes. Each user has one topic preference vector *per domain*, drawn independently
   (Dirichlet around the topic popularity, total concentration ``user_concentration``).
4. Items, in time order. For the next item of domain X the topic is chosen in two stages:
   - own-domain dynamics: keep the topic of the user's previous X item with probability
     ``stickiness``, otherwise draw a fresh topic from the user's X preferences (interest drifts);
   - cross-domain signal: with probability ``cross_signal`` this is overridden by the topic of the
     user's most recent item of the *other* domain (when there is one).
   The item is then drawn from that topic of X by popularity, re-drawn if the user already has it.

Why it matters: with ``cross_signal > 0`` the next A item's topic copies the latest B item's topic,
which the A history alone cannot reveal, so a model gains by attending to the other domain. With
``cross_signal = 0`` (the ``-nocross`` control) each domain's items depend only on that domain's own
history and an independent taste vector: knowing B tells nothing about the next A item. The
control uses the same seed streams, so catalogue, lengths, domain pattern and timestamps are
identical and the per-step random numbers are shared (common random numbers): only the override
differs. Unlike ABXI's files, same-day ties are not ordered A-before-B (ABXI.md section 2.4).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .dataset import CDSRDataset

GENERATOR_VERSION = "1"
_STREAM_TAG = 0x6CA5  # mixed into every SeedSequence so these streams differ from other modules'
_DAY = 86_400
_FIRST_DAY = 13_879  # 2008-01-01, inside the Amazon-2014 era of ABXI's data
_START_WINDOW_DAYS = 6 * 365
_MAX_REDRAWS = 200  # rejection rounds before a deterministic fallback (never reached with presets)


class SyntheticSpecError(ValueError):
    """A :class:`SyntheticSpec` field is out of range; the message names the field."""


@dataclass(frozen=True)
class SyntheticSpec:
    """Sizes and knobs of the generator (see the module docstring for what each one does)."""

    label: str = "custom"
    n_users: int = 2_000
    n_items_a: int = 1_500
    n_items_b: int = 1_500
    n_topics: int = 32
    min_len: int = 10
    median_len: int = 20
    max_len: int = 50
    min_per_domain: int = 5
    cross_signal: float = 0.5  # 0 = "no cross-domain signal" control
    stickiness: float = 0.6
    user_concentration: float = 4.0  # small = users focus on few topics
    topic_zipf: float = 0.5
    item_zipf: float = 0.8
    switch_prob: float = 0.36  # afk: 35.9 % adjacent domain switches
    tie_prob: float = 0.31  # afk: 31.2 % consecutive same-day pairs
    mean_gap_days: float = 30.0

    def validate(self) -> "SyntheticSpec":
        """Raise :class:`SyntheticSpecError` naming the first bad field; return self if fine."""
        for f in ("n_users", "n_items_a", "n_items_b", "n_topics", "min_len", "median_len",
                  "max_len", "min_per_domain"):
            v = getattr(self, f)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                _check(False, f, f"a positive integer, got {v!r}")
        for f in ("cross_signal", "stickiness", "user_concentration", "topic_zipf", "item_zipf",
                  "switch_prob", "tie_prob", "mean_gap_days"):
            v = getattr(self, f)
            ok = isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
            _check(ok and np.isfinite(v), f, f"a finite number, got {v!r}")
        _check(self.min_per_domain >= 2, "min_per_domain", ">= 2 (both domains in every sequence)")
        # 4 = splits.MIN_SEQUENCE_LENGTH: leave-one-out holds out three items.
        _check(self.min_len >= max(4, 2 * self.min_per_domain), "min_len",
               f">= max(4, 2 * min_per_domain = {2 * self.min_per_domain})")
        _check(self.max_len >= self.min_len, "max_len", f">= min_len={self.min_len}")
        _check(self.min_len <= self.median_len <= self.max_len, "median_len",
               f"between min_len={self.min_len} and max_len={self.max_len}")
        for f in ("n_items_a", "n_items_b"):
            _check(getattr(self, f) >= max(self.n_topics, self.max_len), f,
                   f">= max(n_topics, max_len) = {max(self.n_topics, self.max_len)} "
                   "(every topic needs an item; a user never exhausts a domain)")
        for f in ("cross_signal", "stickiness", "tie_prob"):
            _check(0.0 <= getattr(self, f) <= 1.0, f, "in [0, 1]")
        _check(0.0 < self.switch_prob <= 1.0, "switch_prob", "in (0, 1]")
        _check(self.user_concentration > 0, "user_concentration", "> 0")
        _check(self.topic_zipf >= 0, "topic_zipf", ">= 0")
        _check(self.item_zipf >= 0, "item_zipf", ">= 0")
        _check(self.mean_gap_days >= 1.0, "mean_gap_days", ">= 1")
        return self

    def without_cross(self) -> "SyntheticSpec":
        """The control: identical except ``cross_signal = 0``."""
        return dataclasses.replace(self, cross_signal=0.0)


def _check(ok: bool, name: str, rule: str) -> None:
    if not ok:
        raise SyntheticSpecError(f"SyntheticSpec.{name} must be {rule}")


PRESETS: dict[str, SyntheticSpec] = {
    "tiny": SyntheticSpec("tiny", 200, 150, 150, n_topics=10, min_len=6, median_len=10,
                          max_len=20, min_per_domain=2),
    "small": SyntheticSpec("small"),
    "afk_like": SyntheticSpec("afk_like", 7_144, 11_837, 16_258, n_topics=64),
}


def describe(spec: SyntheticSpec | None = None) -> str:
    """The generative process in plain words, followed by the spec's values if one is given."""
    doc = __doc__ or ""  # empty under python -OO
    text = doc.split("Generative process", 1)[-1].split("\n", 2)[-1].strip()
    if spec is not None:
        text += "\n\nParameters: " + ", ".join(f"{k}={v}" for k, v in
                                               dataclasses.asdict(spec).items())
    return text


# ---------------------------------------------------------------------- catalogue
@dataclass(frozen=True)
class _Domain:
    """Items of one domain grouped by topic; ``cdf`` = topic k's popularity CDF shifted by +k."""

    ids: np.ndarray
    cdf: np.ndarray
    starts: np.ndarray  # topic k owns ids[starts[k]:starts[k+1]]

    def draw(self, topic: np.ndarray, u: np.ndarray) -> np.ndarray:
        # One searchsorted samples every topic at once: topic k's CDF lives in (k, k + 1].
        u = np.minimum(u, 1.0 - 1e-9)  # k + u must stay below k + 1 in floating point
        return self.ids[np.searchsorted(self.cdf, topic + u, side="right")]


def _catalogue(spec: SyntheticSpec, seed: int) -> tuple[np.ndarray, list[_Domain], np.ndarray]:
    """(item -> topic with -1 for padding, per-domain samplers, topic popularity)."""
    rng = np.random.default_rng(np.random.SeedSequence([_STREAM_TAG, seed, 1]))
    k = spec.n_topics
    pop = (np.arange(k) + 1.0) ** -spec.topic_zipf
    item_topic = np.full(spec.n_items_a + spec.n_items_b + 1, -1, dtype=np.int64)
    domains = []
    for first, n in ((1, spec.n_items_a), (spec.n_items_a + 1, spec.n_items_b)):
        # Random ids per topic, so an item's index says nothing about its topic.
        blocks = np.array_split(first + rng.permutation(n), k)
        cdfs = []
        for t, block in enumerate(blocks):
            w = np.cumsum((np.arange(len(block)) + 1.0) ** -spec.item_zipf)
            cdfs.append(t + w / w[-1])
            cdfs[-1][-1] = t + 1.0
            item_topic[block] = t
        starts = np.concatenate([[0], np.cumsum([len(b) for b in blocks])])
        domains.append(_Domain(np.concatenate(blocks), np.concatenate(cdfs), starts))
    return item_topic, domains, pop / pop.sum()


def item_topics(ds: CDSRDataset) -> np.ndarray:
    """Latent topic of every item of a generated dataset (index 0 = padding = -1)."""
    spec = SyntheticSpec(**ds.meta["spec"])
    return _catalogue(spec, ds.meta["seed"])[0]


# ---------------------------------------------------------------------- layout
def _layout(spec: SyntheticSpec, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lengths (n,), domains (n, max_len) 0/1, day numbers (n, max_len)); independent of items."""
    rng = np.random.default_rng(np.random.SeedSequence([_STREAM_TAG, seed, 2]))
    n, width = spec.n_users, spec.max_len
    scale = (spec.median_len - spec.min_len) / np.log(2.0)  # exponential tail with that median
    lengths = np.minimum(spec.min_len + np.rint(rng.exponential(scale, n)), width).astype(np.int64)
    dom = np.zeros((n, width), dtype=np.int64)
    todo = np.arange(n)
    for _ in range(_MAX_REDRAWS):
        flips = rng.random((len(todo), width - 1)) < spec.switch_prob
        first = rng.integers(0, 2, (len(todo), 1))
        dom[todo] = (first + np.concatenate([np.zeros_like(first), np.cumsum(flips, 1)], 1)) % 2
        n_b = (dom[todo] * (np.arange(width) < lengths[todo, None])).sum(1)
        short = np.minimum(n_b, lengths[todo] - n_b) < spec.min_per_domain
        todo = todo[short]
        if not len(todo):
            break
    # Fallback for pathological specs (tiny switch_prob): alternate A/B, which always qualifies.
    dom[todo] = (np.arange(width) + rng.integers(0, 2, (len(todo), 1))) % 2
    gaps = np.where(rng.random((n, width)) < spec.tie_prob, 0,
                    rng.geometric(1.0 / spec.mean_gap_days, (n, width)))
    gaps[:, 0] = rng.integers(_FIRST_DAY, _FIRST_DAY + _START_WINDOW_DAYS, n)
    return lengths, dom, np.cumsum(gaps, axis=1)


# ---------------------------------------------------------------------- items
def _user_tastes(spec: SyntheticSpec, pop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cumulative topic preferences (n_users, 2, n_topics), A and B drawn independently."""
    g = rng.standard_gamma(spec.user_concentration * pop, (spec.n_users, 2, spec.n_topics))
    g = np.where(g.sum(-1, keepdims=True) > 0, g, pop)  # tiny shapes can underflow to all zeros
    return np.cumsum(g / g.sum(-1, keepdims=True), axis=-1)


def _items(spec: SyntheticSpec, seed: int, lengths: np.ndarray, dom: np.ndarray) -> np.ndarray:
    """Items (n_users, max_len), drawn step by step for all users at once."""
    item_topic, domains, pop = _catalogue(spec, seed)
    rng = np.random.default_rng(np.random.SeedSequence([_STREAM_TAG, seed, 3]))
    taste = _user_tastes(spec, pop, rng)
    # All per-step uniforms up front: the control (cross_signal = 0) then sees the same numbers.
    u = rng.random((spec.n_users, spec.max_len, 4))  # cross?, stick?, fresh topic, item
    redraw = np.random.default_rng(np.random.SeedSequence([_STREAM_TAG, seed, 4]))
    items = np.zeros(dom.shape, dtype=np.int64)
    last = np.full((spec.n_users, 2), -1, dtype=np.int64)  # topic of the latest A / B item
    for t in range(spec.max_len):
        act = np.flatnonzero(t < lengths)
        d, ut = dom[act, t], u[act, t]
        own, other = last[act, d], last[act, 1 - d]
        fresh = np.minimum((taste[act, d] < ut[:, 2:3]).sum(1), spec.n_topics - 1)
        topic = np.where((own >= 0) & (ut[:, 1] < spec.stickiness), own, fresh)
        topic = np.where((other >= 0) & (ut[:, 0] < spec.cross_signal), other, topic)
        new = _draw(domains, d, topic, ut[:, 3])
        new = _avoid_repeats(items[act, :t], new, d, topic, domains, redraw)
        items[act, t] = new
        last[act, d] = item_topic[new]
    return items


def _draw(domains: list[_Domain], d: np.ndarray, topic: np.ndarray, u: np.ndarray) -> np.ndarray:
    out = np.empty(len(d), dtype=np.int64)
    for x in (0, 1):
        m = d == x
        out[m] = domains[x].draw(topic[m], u[m])
    return out


def _avoid_repeats(prev: np.ndarray, new: np.ndarray, d: np.ndarray, topic: np.ndarray,
                   domains: list[_Domain], rng: np.random.Generator) -> np.ndarray:
    """Re-draw items the user already has (same topic, by popularity), keeping "no repeats"."""
    clash = np.flatnonzero((prev == new[:, None]).any(1))
    for _ in range(20):
        if not len(clash):
            return new
        new[clash] = _draw(domains, d[clash], topic[clash], rng.random(len(clash)))
        clash = clash[(prev[clash] == new[clash, None]).any(1)]
    for i in clash:  # rare: the user owns the topic's popular items; pick an unused one uniformly
        dm = domains[d[i]]
        pool = np.setdiff1d(dm.ids[dm.starts[topic[i]]:dm.starts[topic[i] + 1]], prev[i])
        pool = pool if len(pool) else np.setdiff1d(dm.ids, prev[i])  # topic exhausted
        new[i] = rng.choice(pool)
    return new


# ---------------------------------------------------------------------- public API
def generate(spec: SyntheticSpec, seed: int = 0) -> CDSRDataset:
    """Generate a dataset; the same (spec, seed) always gives identical arrays."""
    spec.validate()
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    lengths, dom, days = _layout(spec, seed)
    items = _items(spec, seed, lengths, dom)
    keep = np.arange(spec.max_len) < lengths[:, None]  # row-major = chronological per user
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    name = f"synthetic-{spec.label}" + ("-nocross" if spec.cross_signal == 0 else "")
    meta = {"generator": "gca_lite.data.synthetic", "generator_version": GENERATOR_VERSION,
            "seed": seed, "spec": dataclasses.asdict(spec)}
    return CDSRDataset(name, spec.n_items_a, spec.n_items_b, items[keep],
                       days[keep] * _DAY, offsets, meta=meta)


def valid_names() -> list[str]:
    base = ["synthetic"] + [f"synthetic-{p}" for p in PRESETS]
    return base + [f"{b}-nocross" for b in base]


def load_synthetic(name: str, seed: int = 0) -> CDSRDataset:
    """``synthetic[-tiny|-small|-afk_like][-nocross]``; plain ``synthetic`` is ``small``."""
    if name not in valid_names():
        raise ValueError(f"unknown synthetic dataset {name!r}; valid: {', '.join(valid_names())}")
    parts = name.split("-")[1:]
    nocross = parts[-1:] == ["nocross"]
    preset = parts[0] if parts and parts[0] != "nocross" else "small"
    spec = PRESETS[preset]
    return generate(spec.without_cross() if nocross else spec, seed)


def cross_domain_agreement(ds: CDSRDataset, seed: int = 0) -> tuple[float, float]:
    """(rate, base rate) that an item's topic equals the topic of the latest other-domain item.

    The base rate pairs each item with the latest other-domain topic of a random *other* user at
    the same position, i.e. what agreement would be if the domains were independent.
    """
    topic = item_topics(ds)[ds.items]
    dom = ds.domains.astype(np.int64)
    first = np.repeat(ds.offsets[:-1], ds.lengths)
    idx = np.arange(len(topic))
    # Index of the latest earlier other-domain item of the same user (-1 if none).
    latest = np.full(len(topic), -1)
    for x in (0, 1):
        seen = np.maximum.accumulate(np.where(dom == x, idx, -1))
        prev = np.concatenate([[-1], seen[:-1]])
        latest = np.where((dom != x) & (prev >= first), prev, latest)
    ok = np.flatnonzero(latest >= 0)
    rate = float(np.mean(topic[ok] == topic[latest[ok]]))
    perm = np.random.default_rng(np.random.SeedSequence([_STREAM_TAG, seed, 5])).permutation(ok)
    return rate, float(np.mean(topic[ok] == topic[latest[perm]]))
