"""The same-day ordering artefact, checked from a results store (EVALUATION.md section 5).

ABXI's files list the items of one day A before B, and about 31 % of test targets share the
previous item's day, most of them domain-B targets. A model can learn that order ("a B item
follows an A item of the same day") instead of the users' tastes. Two checks separate a GCA gain
that rests on the order from one that does not:

* **Strata.** GCA's gain over the base on the test users whose target does *not* share the
  previous item's day (untied) and on those whose target does (tied). The strata depend only on the
  data, so they are stored once per dataset beside its runs
  (``ROOT/<dataset>/test_strata-<data checksum>.npz``, written by every sweep that has the data)
  and the results page needs no data to use them.
* **Same-day shuffle.** The base and a GCA variant retrained on data whose same-day items were
  shuffled (``data.tie_shuffle_seed``). The shuffle changes some users' test targets, so absolute
  metrics are not comparable across the two; what is compared is the GCA-minus-base gain, per user,
  on shuffled against original data (a difference in differences, paired over the same users and
  seeds).

A gain that holds on untied targets and survives the shuffle is not explained by the artefact.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .report import DOMAINS
from .stats import Group, compare, fmt_ci, paired_over_seeds, seed_avg

BASE = "base"


class StrataError(ValueError):
    """A stored strata file is unreadable or does not fit the runs it should describe."""


# ------------------------------------------------------------------------------- strata files
def target_strata(ds) -> dict:
    """Per test user, in the order of the test split (user index): whether the target shares the
    previous item's timestamp (``tied``) and the target's domain; plus the data checksum."""
    last = ds.offsets[1:] - 1
    if (np.diff(ds.offsets) < 2).any():
        raise ValueError(f"{ds.name}: every user needs two interactions for test strata")
    return {"tied": ds.timestamps[last] == ds.timestamps[last - 1],
            "domain": ds.domain_of(ds.items[last]).astype(np.int8), "checksum": ds.checksum}


def strata_path(root: str | Path, dataset: str, checksum: str) -> Path:
    """Where the strata of one dataset version live: keyed by the data checksum, because a name
    (``synthetic-tiny``) can stand for several datasets (one per ``data.synthetic_seed``)."""
    return Path(root) / dataset / f"test_strata-{checksum[:12]}.npz"


def write_strata(root: str | Path, dataset: str, ds) -> Path:
    """Store ``target_strata(ds)`` under :func:`strata_path` (atomically)."""
    strata = target_strata(ds)
    path = strata_path(root, dataset, ds.checksum)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, tied=strata["tied"], domain=strata["domain"], checksum=np.array(strata["checksum"]))
    os.replace(tmp, path)
    return path


def ensure_strata(root: str | Path, configs, data_dir: str | Path | None = None) -> list[Path]:
    """Write the strata of every original (unshuffled) dataset that ``configs`` train on, unless
    stored already. A dataset that cannot be loaded is left out here: its runs fail with the error."""
    from ..data import DataError, load_dataset

    paths = []
    # the seed only matters for synthetic data; shuffled runs are split by the original strata
    wanted = {(c.data.dataset, c.data.synthetic_seed if c.data.dataset.startswith("synthetic") else 0)
              for c in configs}
    for name, seed in sorted(wanted):
        try:
            ds = load_dataset(name, data_dir, seed=seed)
        except (DataError, OSError, ValueError):
            continue
        path = strata_path(root, name, ds.checksum)
        paths.append(path if path.exists() else write_strata(root, name, ds))
    return paths


def read_strata(root: str | Path, dataset: str, checksum: str) -> dict | None:
    """The stored strata of this dataset version (None when not stored); StrataError if unreadable."""
    path = strata_path(root, dataset, checksum)
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            out = {"tied": z["tied"].astype(bool), "domain": z["domain"].astype(np.int64),
                   "checksum": str(z["checksum"])}
    except (OSError, ValueError, KeyError) as e:
        raise StrataError(f"{path}: not a readable strata file ({e}); delete it and rerun the sweep "
                          f"(or artefact.write_strata) to rebuild it") from e
    if out["tied"].shape != out["domain"].shape or out["tied"].ndim != 1:
        raise StrataError(f"{path}: 'tied' {out['tied'].shape} and 'domain' {out['domain'].shape} "
                          f"must be 1-D arrays of equal length")
    if out["checksum"] != checksum:
        raise StrataError(f"{path}: holds the strata of data {out['checksum'][:12]}, not {checksum[:12]}")
    return out


def fits(group, strata: dict | None) -> bool:
    """True if ``strata`` describe this group's test users: same data and the same target domains."""
    if strata is None or {d for _, d in group.provenance} != {strata["checksum"]}:
        return False
    return all(np.array_equal(domain, strata["domain"])
               for per_protocol in group.seeds.values() for domain, _ in per_protocol.values())


# ------------------------------------------------------------------------------- comparisons
def stratum_gains(groups: dict, variant: str, strata: dict | None, protocol: str, dom: int,
                  metric: str = "NDCG@10", n_boot: int = 1000) -> dict | None:
    """{"untied": cmp, "tied": cmp} of ``variant`` against the base on each stratum (``cmp`` as in
    ``stats.compare``, plus ``n`` users); None when the strata do not fit both groups."""
    g, base = groups.get(variant), groups.get(BASE)
    if g is None or base is None or not (fits(g, strata) and fits(base, strata)):
        return None
    out = {}
    for name, users in (("untied", ~strata["tied"]), ("tied", strata["tied"])):
        cmp = compare(g, base, protocol, dom, metric, n_boot, seed=0, users=users)
        out[name] = {**cmp, "n": int((users & (strata["domain"] == dom)).sum())}
    return out


def shuffle_gain(original: dict, shuffled: dict, variant: str, protocol: str, dom: int,
                 metric: str = "NDCG@10", n_boot: int = 1000) -> dict | None:
    """GCA-minus-base gain on shuffled and on original data and their paired difference, over the
    seeds all four groups share and the users whose target is in domain ``dom`` in all of them (the
    shuffle can move a target to the other domain); None when a group or a common seed is missing."""
    four = [original.get(variant), original.get(BASE), shuffled.get(variant), shuffled.get(BASE)]
    if any(g is None for g in four):
        return None
    seeds = sorted(set.intersection(*(set(g.seeds) for g in four)))
    domains = [g.seeds[s][protocol][0] for g in four for s in seeds if protocol in g.seeds[s]]
    if not seeds or len(domains) != 4 * len(seeds) or len({len(d) for d in domains}) != 1:
        return None
    users = np.logical_and.reduce([d == dom for d in domains])
    values = [seed_avg(g, seeds, protocol, dom, metric, users) for g in four]
    if any(v is None for v in values):
        return None
    v_orig, b_orig, v_shuf, b_shuf = values
    # seed by seed, so that every interval also covers retraining noise (stats.with_seed_spread)
    gca, base, gca_shuffled, base_shuffled = (
        [seed_avg(g, [s], protocol, dom, metric, users) for s in seeds] for g in four)
    gain_orig = [float(np.mean(a - b)) for a, b in zip(gca, base)]
    gain_shuf = [float(np.mean(a - b)) for a, b in zip(gca_shuffled, base_shuffled)]

    def cmp(a, b, per_seed):
        return paired_over_seeds(a[:, None], b[:, None], [per_seed], n_boot, seed=0)[0]

    change = [s - o for s, o in zip(gain_shuf, gain_orig)]
    return {"original": cmp(v_orig, b_orig, gain_orig), "shuffled": cmp(v_shuf, b_shuf, gain_shuf),
            "change": cmp(v_shuf - b_shuf, v_orig - b_orig, change), "change_per_seed": change,
            "seeds": seeds, "n": len(v_orig)}


def groups_from_runs(runs: dict) -> dict:
    """``{variant: [RunResult, ...]}`` (the notebooks' runs, one per seed) as the groups the
    functions here take, so a chapter and the results page share one code path."""
    out = {}
    for variant, results in runs.items():
        g = Group("", "", variant)
        for res in results:
            rule = res.record["config"]["eval"]["tie_rule"]
            g.seeds[res.record["seed"]] = {p: (res.test_domain, c.metrics(rule)) for p, c in res.test_counts.items()}
            g.provenance.add((str(res.record.get("code_version")), str(res.record.get("data_checksum"))))
        out[variant] = g
    return out


def shuffle_verdict(gain: dict) -> str:
    """Does the gain survive the shuffle? Only a gain resolved above 0 on the original data can:
    reproduced: still resolved above 0 on shuffled data and not resolvably smaller; partly: still
    above 0 but resolvably smaller; not reproduced: resolvably smaller and no longer above 0; not
    resolved: anything else, including no original gain to test. With two or more seeds the
    intervals cover test users and retraining; four separately trained models enter the change, so
    "resolvably smaller" also needs the change to be negative for every training seed."""
    if not gain["original"]["lo"] > 0:
        return "not resolved"
    survives = gain["shuffled"]["lo"] > 0
    shrinks = gain["change"]["hi"] < 0 and all(c < 0 for c in gain.get("change_per_seed", [-1]))
    if survives:
        return "partly" if shrinks else "reproduced"
    return "not reproduced" if shrinks else "not resolved"


def gain_rows(original: dict, shuffled: dict | None, strata: dict | None, variant: str, protocol: str,
              metric: str = "NDCG@10", n_boot: int = 1000) -> list[dict]:
    """Per domain: ``variant``'s gain over the base on all, untied and tied test users, and on
    shuffled data with its change (formatted ``diff [lo, hi]``; "not run" where runs are missing)."""
    rows = []
    for dom, dname in enumerate(DOMAINS):
        row = {"variant": variant, "domain": dname,
               "all users": fmt_ci(compare(original[variant], original.get(BASE), protocol, dom, metric,
                                          n_boot, seed=0))}
        by_stratum = stratum_gains(original, variant, strata, protocol, dom, metric, n_boot)
        for name in ("untied", "tied"):
            row[f"{name} targets"] = (f"{fmt_ci(by_stratum[name])} (n {by_stratum[name]['n']})"
                                      if by_stratum else "no strata stored")
        row["seeds"] = ",".join(map(str, sorted(original[variant].seeds)))
        # the shuffle columns: the users whose target keeps its domain, the seeds of all four groups
        gain = shuffle_gain(original, shuffled or {}, variant, protocol, dom, metric, n_boot)
        missing = "no shuffled runs" if not shuffled else "no common seeds or protocol"
        row["original, same users"] = f"{fmt_ci(gain['original'])} (n {gain['n']})" if gain else missing
        row["shuffled data"] = fmt_ci(gain["shuffled"]) if gain else missing
        row["shuffled − original"] = fmt_ci(gain["change"]) if gain else missing
        row["training seeds (shuffled runs)"] = ",".join(map(str, gain["seeds"])) if gain else ""
        rows.append(row)
    return rows


def artefact_frame(contexts, protocols=("full", "sampled"), metric: str = "NDCG@10", n_boot: int = 1000):
    """One row per dataset x setting x protocol x GCA variant x domain (:func:`gain_rows`) for the
    GCA variants run on shuffled data too, else GCA[1]-sigmoid,True (``verdicts.contexts``)."""
    import pandas as pd

    rows = []
    for ctx in contexts:
        if BASE not in ctx.groups:
            continue
        variants = [v for v in (ctx.shuffled or {}) if v in ctx.groups and v != BASE
                    and not v.startswith("base~")] or [v for v in ("GCA[1]-sigmoid,True",) if v in ctx.groups]
        for protocol in protocols:
            for variant in variants:
                rows += [{"dataset": ctx.dataset, "setting": ctx.setting, "protocol": protocol, **r}
                         for r in gain_rows(ctx.groups, ctx.shuffled, ctx.strata, variant, protocol, metric, n_boot)]
    return pd.DataFrame(rows)
