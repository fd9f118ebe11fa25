"""Plumbing for the book's result chapters: notebook parameters -> configs -> stored runs -> tables.

Every result notebook builds its configs with one :class:`Setup`, so that equal parameters give
equal configs and every run is trained once into the shared results store and reused by the
other chapters (``run_or_load`` / ``sweep`` key runs by the content hash of their config).

Statistics follow :mod:`gca_lite.experiments.report`: per-user test metrics are averaged over the
requested seeds, means get a 95 % percentile bootstrap CI over test users, and differences
between two variants are paired over the same users and seeds
(:func:`gca_lite.metrics.paired_comparison`), and with two or more seeds the interval of a
difference is widened by the seed-to-seed spread of the paired means (``experiments.stats``,
decision D16). Unlike ``report_frame`` the functions here use exactly the runs a notebook asked
for, never whatever else the store holds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from .config import RunConfig
from .experiments.report import DOMAINS, METRICS as TABLE_METRICS
from .experiments.stats import paired_over_seeds, pearson as stats_pearson
from .experiments.variants import grid as all_variants, layernorm_pairs, overrides as variant_overrides  # noqa: F401
from .explorer import explorer_data, load_model, pick_users, save_weights  # noqa: F401  (explorer chapter)
from .metrics import bootstrap_ci


# ----------------------------------------------------------------------------- setup
@dataclasses.dataclass
class Setup:
    """The notebook parameters shared by every result chapter."""

    dataset: str = "synthetic-small"
    data_dir: str = ""
    store: str = "runs/book"
    preset: str = "lite"
    epochs: int = 10
    seed: int = 0  # generator seed of synthetic datasets (data.synthetic_seed)
    overrides: Mapping = dataclasses.field(default_factory=dict)
    workers: int = 2

    def __post_init__(self):
        from .experiments import ResultsStore

        for name in ("dataset", "store", "preset"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string, got {getattr(self, name)!r}")
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1:
            raise ValueError(f"workers must be a positive integer, got {self.workers!r}")
        if not isinstance(self.overrides, Mapping):
            raise ValueError(f"overrides must be a mapping of dotted config keys, got {self.overrides!r}")
        self.results = ResultsStore(self.store)
        self.config()  # fail now (naming the key) on a bad preset, dataset or override

    def config(self, variant: str = "base", seed: int = 0, **extra) -> RunConfig:
        """The run config of ``variant`` and training ``seed``; ``extra`` = more dotted overrides."""
        from .experiments import config_from_dict

        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seeds: every seed must be a non-negative integer, got {seed!r}")
        spec = {"preset": self.preset, "dataset": self.dataset, "train.epochs": self.epochs,
                "data.synthetic_seed": self.seed, **dict(self.overrides), **variant_overrides(variant),
                "train.seed": seed, **extra}
        return config_from_dict(spec, where="notebook parameters (preset/dataset/epochs/overrides)")

    def configs(self, variants: Sequence[str], seeds: Sequence[int], **extra) -> list[RunConfig]:
        check_list("variants", variants, str)
        check_list("seeds", seeds, int)
        return [self.config(v, s, **extra) for v in variants for s in seeds]

    def matched(self, variant: str, seed: int) -> RunConfig:
        """The base model widened to ``variant``'s parameter count (``model.matched_to``)."""
        from .experiments.grid import matched_bases

        return matched_bases([self.config(variant, seed)], self.data_dir or None)[0]

    def ensure(self, configs: Sequence[RunConfig]) -> list:
        """The :class:`~gca_lite.train.RunResult` of every config, training the missing ones first
        in ``workers`` processes with one torch thread each (each also caches its weights for
        :func:`load_model`), then, in this process, whatever is still missing (a config another
        process was training: ``run_or_load`` waits for it)."""
        from .experiments import run_or_load

        missing = [c for c in configs if not self.results.has(c)]
        if len(missing) > 1 and self.workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            root, data_dir = str(self.results.root.resolve()), self.data_dir or None
            with ProcessPoolExecutor(min(self.workers, len(missing)), mp_context=mp.get_context("spawn")) as pool:
                errors = [e for e in pool.map(_train_task, missing, [root] * len(missing),
                                              [data_dir] * len(missing)) if e]
            if errors:
                raise RuntimeError(f"training failed for {len(errors)} config(s): " + "; ".join(errors))
            missing = [c for c in missing if not self.results.has(c)]
        if missing:
            import torch

            threads = torch.get_num_threads()  # _train_task uses one thread: much faster for small
            try:                               # models on a busy machine
                for c in missing:
                    error = _train_task(c, str(self.results.root), self.data_dir or None)
                    if error:
                        raise RuntimeError(f"training failed: {error}")
                    run_or_load(c, self.results, self.data_dir or None)  # waits if another process trains it
            finally:
                torch.set_num_threads(threads)
        return [self.results.load(c) for c in configs]

    def by_variant(self, variants: Sequence[str], seeds: Sequence[int], **extra) -> dict[str, list]:
        """{variant: [RunResult per seed]} (trained first where missing)."""
        cfgs = self.configs(variants, seeds, **extra)
        results = self.ensure(cfgs)
        out: dict[str, list] = {}
        for cfg, res in zip(cfgs, results):
            out.setdefault(cfg.model.variant_name, []).append(res)
        return out


def check_list(name: str, value, kind: type) -> None:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{name} must be a non-empty list, got {value!r}")
    bad = [v for v in value if not isinstance(v, kind) or isinstance(v, bool)]
    if bad:
        raise ValueError(f"{name}: entries must be {kind.__name__}, got {bad[0]!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} lists an entry twice: {list(value)}")


# ----------------------------------------------------------------------------- per-user metrics
def user_values(results: Sequence, protocol: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(per-user ``metric`` over all test users averaged over the runs, target domain per user)."""
    domain = results[0].test_domain
    arrays = []
    for res in results:
        if protocol not in res.test_counts:
            raise KeyError(f"protocol {protocol!r} not in the stored run ({sorted(res.test_counts)})")
        if not np.array_equal(res.test_domain, domain):
            raise ValueError("runs of one variant have different test targets")
        arrays.append(res.test_counts[protocol].metrics(res.record["config"]["eval"]["tie_rule"])[metric])
    return np.mean(arrays, axis=0), domain


def per_user(results: Sequence, protocol: str, domain: str, metric: str) -> np.ndarray:
    """Per-user test values of ``metric`` for target ``domain``, averaged over the runs (seeds)."""
    values, dom = user_values(results, protocol, metric)
    return values[dom == DOMAINS.index(domain)]


def metric_table(runs: Mapping[str, Sequence], protocols=("full", "sampled"), metrics=TABLE_METRICS,
                 reference: str | None = "base", n_boot: int = 1000, seed: int = 0):
    """Long table: protocol x variant x domain x metric with mean, 95 % CI over users, per-seed SD
    and (if ``reference`` is among ``runs``) the paired difference to it (``diff, diff_lo, diff_hi, p``)."""
    import pandas as pd

    rows = []
    for protocol in protocols:
        for variant, results in runs.items():
            for dom in DOMAINS:
                for metric in metrics:
                    v = per_user(results, protocol, dom, metric)
                    mean, lo, hi = bootstrap_ci(v, n_boot=n_boot, seed=seed)
                    seeds = [float(per_user([r], protocol, dom, metric).mean()) for r in results]
                    row = {"protocol": protocol, "variant": variant, "domain": dom, "metric": metric,
                           "mean": mean, "ci_lo": lo, "ci_hi": hi, "n_users": len(v), "n_seeds": len(results),
                           "seed_sd": float(np.std(seeds, ddof=1)) if len(seeds) > 1 else math.nan,
                           "n_parameters": int(results[0].record["n_parameters"])}
                    if reference in runs and variant != reference:
                        c = _paired(results, runs[reference], protocol, metric, dom, n_boot, seed)
                        row.update(diff=c["diff"], diff_lo=c["lo"], diff_hi=c["hi"], p=c["p"])
                    rows.append(row)
    return pd.DataFrame(rows)


def paired_table(runs: Mapping[str, Sequence], pairs: Sequence[tuple[str, str]], protocol: str = "full",
                 metrics=("NDCG@10", "AUC"), n_boot: int = 1000, seed: int = 0):
    """Paired differences ``first - second`` for each (first, second) variant pair, per domain, over
    the test users whose target lies in that domain in both (they differ only when the data differ,
    e.g. the same-day shuffle ablation; ``n_users`` says how many were compared)."""
    import pandas as pd

    rows = []
    for a, b in pairs:
        for metric in metrics:
            va, da = user_values(runs[a], protocol, metric)
            vb, db = user_values(runs[b], protocol, metric)
            if len(va) != len(vb):
                raise ValueError(f"{a} and {b} were scored on different numbers of test users")
            for k, dom in enumerate(DOMAINS):
                keep = (da == k) & (db == k)
                c = _paired(runs[a], runs[b], protocol, metric, keep, n_boot, seed)
                rows.append({"first": a, "second": b, "domain": dom, "metric": metric, "diff": c["diff"],
                             "ci_lo": c["lo"], "ci_hi": c["hi"], "p": c["p"], "n_users": int(keep.sum())})
    return pd.DataFrame(rows)


def _paired(first: Sequence, second: Sequence, protocol: str, metric: str, users, n_boot: int,
            seed: int) -> dict:
    """``first - second`` over ``users`` (a domain name or a boolean mask over all test users) and
    the training seeds both lists hold (as ``stats.compare``): paired bootstrap of the
    seed-averaged differences, widened from two seeds on by the seed spread of the paired means
    (``stats.paired_over_seeds``)."""
    def values(results):
        v, dom = user_values(results, protocol, metric)
        return v[dom == DOMAINS.index(users)] if isinstance(users, str) else v[users]

    by_seed = [{r.record["seed"]: r for r in runs} for runs in (first, second)]
    common = sorted(set(by_seed[0]) & set(by_seed[1]))
    if not common:
        raise ValueError(f"no training seed in common: {sorted(by_seed[0])} and {sorted(by_seed[1])}")
    a, b = ([side[s] for s in common] for side in by_seed)
    per_seed = [float(np.mean(values([x]) - values([y]))) for x, y in zip(a, b)]
    return paired_over_seeds(values(a)[:, None], values(b)[:, None], [per_seed], n_boot, seed)[0]


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b between two scorings of the same items (ties count as neither)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    i, j = np.triu_indices(len(a), k=1)
    da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    den = math.sqrt(float((da != 0).sum()) * float((db != 0).sum()))
    return float((da * db).sum() / den) if den else math.nan


def best_by_validation(runs: Mapping[str, Sequence], protocol: str = "full", exclude=("base",)) -> str:
    """The variant with the highest mean validation MRR_A + MRR_B (the trainer's selection score)."""
    scores = {}
    for variant, results in runs.items():
        if variant in exclude:
            continue
        vals = [r.record["valid"][protocol]["A/MRR"] + r.record["valid"][protocol]["B/MRR"] for r in results]
        scores[variant] = float(np.mean(vals))
    if not scores:
        raise ValueError("no variant to choose from (only excluded ones given)")
    return max(scores, key=scores.get)


# ----------------------------------------------------------------------------- orthogonality
def orthogonality_points(runs: Mapping[str, Sequence], protocol: str = "full", metric: str = "NDCG@10",
                         key: str = "abs_cos"):
    """One row per GCA run x domain: ``abs_cos`` (mean over the run's modules of the test-set probe
    at the selected checkpoint) and the run's test ``metric`` for that domain."""
    import pandas as pd

    rows = []
    for variant, results in runs.items():
        for res in results:
            ortho = res.record.get("orthogonality") or {}
            for dom in DOMAINS:
                vals = [v[key] for v in ortho.values() if v["domain"] == dom and v[key] is not None]
                vals = [v for v in vals if math.isfinite(v)]
                if not vals:
                    continue
                rows.append({"variant": variant, "seed": res.record["seed"], "domain": dom,
                             "abs_cos": float(np.mean(vals)), "n_modules": len(vals),
                             "gate": float(np.mean([v["gate"] for v in ortho.values() if v["domain"] == dom])),
                             metric: res.record["test"][protocol][f"{dom}/{metric}"]})
    return pd.DataFrame(rows)


def pearson(x, y) -> float:
    """Pearson r (NaN with fewer than three points or no spread)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return math.nan
    return float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))


def pearson_ci(x, y, n_boot: int | None = None) -> tuple[float, float, float]:
    """Pearson r with its Fisher-z 95 % interval (``stats.pearson``: the findings layer's one
    interval method for a correlation, so a chapter and the results page agree); ``n_boot`` is
    accepted from chapters written for the former bootstrap interval and not used."""
    r, lo, hi, _ = stats_pearson(x, y)
    return r, lo, hi


def trajectories(runs: Mapping[str, Sequence], protocol: str = "full", metric: str = "NDCG@10"):
    """Per epoch: |cos| of every module/domain on the validation probe users, and validation metric."""
    import pandas as pd

    rows = []
    for variant, results in runs.items():
        for res in results:
            for h in res.record["history"]:
                for name, o in (h.get("orthogonality") or {}).items():
                    rows.append({"variant": variant, "seed": res.record["seed"], "epoch": h["epoch"],
                                 "module": name.split("/")[0], "domain": o["domain"], "abs_cos": o["abs_cos"],
                                 "gate": o["gate"], "norm_ratio": o["norm_ratio"],
                                 metric: h["valid"][protocol][f"{o['domain']}/{metric}"],
                                 "selected": h["epoch"] == res.record["best_epoch"]})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- training pool
def _train_task(cfg: RunConfig, root: str, data_dir: str | None) -> str | None:
    """Pool worker: train ``cfg`` into the store at ``root`` unless stored or locked elsewhere, and
    cache its weights; returns an error line, or None (a failure is also recorded in the store)."""
    import torch

    from .experiments import ResultsStore
    from .experiments.train_once import train_once

    torch.set_num_threads(1)
    store = ResultsStore(root)
    # busy: another process trains it, and ensure() waits for it afterwards
    status, _, error = train_once(store, cfg, data_dir, keep_model=True,
                                  after=lambda c, result: save_weights(store, c, result.model))
    return f"{cfg.name}: {error}" if status == "failed" else None
