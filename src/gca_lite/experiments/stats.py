"""The statistics core of the findings layer: every interval, test and correlation comes from here.

* :class:`Group`: the per-user test values of one configuration, seed by seed.
* :func:`seed_avg`: per-user values averaged over seeds (what every comparison pairs).
* :func:`compare` / :func:`compare_many`: a paired comparison with the seed spread (decision D16):
  the paired bootstrap over test users of the seed-averaged differences, widened from two seeds on
  by ``t(0.975, n - 1) * sd(d_s) / sqrt(n)`` of the per-seed paired means ``d_s``, in quadrature on
  each side (:func:`with_seed_spread`); :func:`paired_over_seeds` is the same on plain arrays.
* :func:`bootstrap_cis` / :func:`paired_comparisons`: the bootstraps (``resample``, the fast replica
  of ``gca_lite.metrics``).
* :func:`pearson`: Pearson r with its Fisher-z interval, the one interval method for correlations;
  :func:`within_variant_r` the same after removing each variant's means.

Frames keep numbers as numbers; :func:`fmt_ci` and :func:`fmt_p` format at display time only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .resample import bootstrap_cis, paired_comparisons  # noqa: F401  (re-exported: the bootstraps)


@dataclass
class Group:
    """All seeds of one (dataset, setting family, variant)."""

    dataset: str
    family: str
    variant: str
    order: tuple = ()
    size_name: str = ""  # ModelConfig.size_name of a GCA variant: the key of its matched base
    label: str = ""  # setting_label of its own runs (a matched base's differs: report.family_labels)
    n_candidates: int = 0  # sampled negatives per user (eval.n_candidates)
    runs: dict[int, str] = field(default_factory=dict)  # seed -> run folder name (the config hash)
    n_parameters: list[int] = field(default_factory=list)
    provenance: set[tuple[str, str]] = field(default_factory=set)  # (code version, data SHA-256)
    # seed -> protocol -> (domain array, {metric: per-user values})
    seeds: dict[int, dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]] = field(default_factory=dict)
    model: object = None  # the ModelConfig of its runs (None when built from notebook runs)


def seed_avg(g: Group, seeds: list[int], protocol: str, dom: int, metric: str,
             users: np.ndarray | None = None) -> np.ndarray | None:
    """Per-user values of ``metric`` for domain ``dom`` averaged over ``seeds`` (None if unavailable);
    ``users``: an optional boolean mask over all test users (e.g. a stratum), applied first."""
    arrays = []
    for s in seeds:
        if protocol not in g.seeds[s]:
            return None
        domain, per_user = g.seeds[s][protocol]
        keep = domain == dom
        if users is not None:
            if users.dtype != bool:  # an integer mask would index users by position
                raise TypeError(f"users must be a boolean mask, got dtype {users.dtype}")
            if len(users) != len(domain):
                return None
            keep = keep & users
        arrays.append(per_user[metric][keep])
    if not arrays or len({len(a) for a in arrays}) != 1 or len(arrays[0]) == 0:
        return None
    return np.mean(arrays, axis=0)


# Two-sided 95 % quantiles of Student's t for 1-10 degrees of freedom (seeds - 1); larger df use
# the Cornish-Fisher expansion, within 0.002 of the exact value from df 11 on.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"t quantile needs df >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def with_seed_spread(users_ci: dict, per_seed: list[float]) -> dict:
    """A paired comparison whose ``lo``/``hi`` also cover retraining noise (module doc, D16).

    ``users_ci``: {"diff", "lo", "hi", "p"} from the user bootstrap of the seed-averaged
    differences; ``per_seed``: the paired mean difference of each common seed."""
    out = {**users_ci, "lo_users": users_ci["lo"], "hi_users": users_ci["hi"],
           "per_seed": [float(x) for x in per_seed], "seed_half": math.nan}
    n = len(per_seed)
    if n < 2 or math.isnan(users_ci["diff"]):
        return out
    half = t975(n - 1) * float(np.std(per_seed, ddof=1)) / math.sqrt(n)
    d = users_ci["diff"]
    out.update(seed_half=half, lo=d - math.hypot(d - users_ci["lo"], half),
               hi=d + math.hypot(users_ci["hi"] - d, half))
    return out


def paired_over_seeds(a, b, per_seed: list[list[float]], n_boot: int, seed: int) -> list[dict]:
    """The core of every paired comparison: ``a`` and ``b`` (users, k) seed-averaged values of k
    statistics on the same users, ``per_seed`` the k lists of per-seed paired means; one
    :func:`with_seed_spread` dict per statistic (``diff``, ``lo``, ``hi``, ``p``, ...)."""
    results = paired_comparisons(a, b, n_boot=n_boot, seed=seed)
    return [with_seed_spread({"diff": r["mean_diff"], "lo": r["ci_lo"], "hi": r["ci_hi"], "p": r["p_value"]}, ps)
            for r, ps in zip(results, per_seed)]


def no_comparison() -> dict:
    """The all-NaN comparison (``per_seed`` empty) of a pair that cannot be compared."""
    return with_seed_spread({"diff": math.nan, "lo": math.nan, "hi": math.nan, "p": math.nan}, [])


def compare(g: Group, ref: Group | None, protocol: str, dom: int, metric: str, n_boot: int,
            seed: int, users: np.ndarray | None = None) -> dict:
    """Paired comparison of ``g`` with ``ref`` over their common seeds (module doc); all-NaN
    (``per_seed`` empty) when it cannot be made."""
    return compare_many(g, ref, protocol, dom, (metric,), n_boot, seed, users)[metric]


def compare_many(g: Group, ref: Group | None, protocol: str, dom: int, metrics, n_boot: int,
                 seed: int, users: np.ndarray | None = None) -> dict[str, dict]:
    """:func:`compare` for several metrics of the same users at once (one set of resamples)."""
    if ref is None:
        return {m: no_comparison() for m in metrics}
    common = sorted(set(g.seeds) & set(ref.seeds))
    a = [seed_avg(g, common, protocol, dom, m, users) for m in metrics]
    b = [seed_avg(ref, common, protocol, dom, m, users) for m in metrics]
    if any(x is None for x in a + b) or a[0].shape != b[0].shape:
        return {m: no_comparison() for m in metrics}
    per_seed = [[float(np.mean(seed_avg(g, [s], protocol, dom, m, users) - seed_avg(ref, [s], protocol, dom, m, users)))
                 for s in common] for m in metrics]
    return dict(zip(metrics, paired_over_seeds(np.stack(a, 1), np.stack(b, 1), per_seed, n_boot, seed)))


def resolved(c: dict, users_only: bool = False) -> bool:
    """Whether a comparison's interval (over users and seeds, or users only) excludes 0."""
    lo, hi = (c["lo_users"], c["hi_users"]) if users_only else (c["lo"], c["hi"])
    return lo > 0 or hi < 0


def pearson(x, y, groups: int = 1) -> tuple[float, float, float, int]:
    """(r, CI low, CI high, n) with a Fisher-z 95 % interval; pairs with a NaN are left out.
    ``groups``: how many group means were removed from x and y beforehand (a partial correlation:
    each mean beyond the first costs a degree of freedom, SE = 1 / sqrt(n - groups - 2))."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    n = len(x)
    if n - groups < 3 or x.std() == 0 or y.std() == 0:
        return math.nan, math.nan, math.nan, n
    r = float(np.corrcoef(x, y)[0, 1])
    z, se = math.atanh(max(min(r, 0.999999), -0.999999)), 1 / math.sqrt(n - groups - 2)
    return r, math.tanh(z - 1.96 * se), math.tanh(z + 1.96 * se), n


def within_variant_r(x, y, labels) -> tuple[float, float, float, int, int]:
    """Pearson r after removing each label's means from x and y (labels with one point left out), so
    that only the seed-to-seed variation inside each variant is correlated: (r, low, high, n, labels)."""
    x, y, labels = np.asarray(x, float), np.asarray(y, float), np.asarray(labels, object)
    keep = np.array([(labels == lab).sum() > 1 for lab in labels], dtype=bool)
    x, y, labels = x[keep], y[keep], labels[keep]
    groups = sorted(set(labels))
    for lab in groups:
        m = labels == lab
        x[m], y[m] = x[m] - x[m].mean(), y[m] - y[m].mean()
    r, lo, hi, n = pearson(x, y, groups=len(groups))
    return r, lo, hi, n, len(groups)


def fmt_ci(c: dict) -> str:
    """``diff [lo, hi]`` of a comparison (over users and seeds when it had two or more seeds);
    ``n/a`` when it could not be made."""
    return "n/a" if math.isnan(c["diff"]) else f"{c['diff']:+.4f} [{c['lo']:+.4f}, {c['hi']:+.4f}]"


def fmt_p(p: float) -> str:
    """A p-value for a table: three decimals, ``<0.001`` below that, empty when NaN."""
    return "" if math.isnan(p) else f"{p:.3f}" if p >= 0.001 else "<0.001"
