"""Paper-style tables from a results store: variant rows, per-domain metrics, CIs, paired tests.

Statistics (per dataset x variant x protocol x domain x metric):

* ``mean``: mean over seeds of the per-seed test means (= the mean of the seed-averaged per-user
  values, since every seed is scored on the same test users).
* ``ci_lo, ci_hi``: 95 % percentile bootstrap over *test users* of the seed-averaged per-user
  values (:func:`gca_lite.metrics.bootstrap_ci`). We pool seeds per user rather than bootstrap the
  2-3 per-seed means, because a bootstrap over three numbers is degenerate. The interval therefore
  reflects which users happen to be in the test set, given the trained seeds; the spread caused by
  training seeds is reported separately as ``seed_sd`` (sample SD of the per-seed means).
* ``vs_base_*``: paired comparison with the base model of the same setting (same dataset, data,
  training and evaluation settings and backbone dimensions) on the same users and the same seeds
  (seeds present in both): per-user differences averaged over those seeds, then
  :func:`gca_lite.metrics.paired_comparison` (paired bootstrap CI, sign-flip permutation p-value).
* ``vs_matched_*``: the same against the parameter-matched base ``base~<variant>``, when stored.
* Seed-aware intervals (decision D16): the user bootstrap holds the trained models fixed, but
  retraining with another seed moves a paired difference by as much as the whole effect. With
  n >= 2 common seeds, ``lo``/``hi`` of a comparison are therefore the user interval widened by the
  spread of the per-seed differences d_s (the seed-by-seed paired means):
  ``t(0.975, n - 1) * sd(d_s) / sqrt(n)``, added in quadrature to each side of the user interval
  (as if the two sources were independent: the user-by-seed interaction enters both, so the
  interval is slightly conservative; the t quantile pays for estimating the seed spread from n
  values). ``lo_users``/``hi_users`` keep the user-only interval, ``per_seed`` the d_s.
  With one seed the seed spread is unknown and the interval is the user one.

A parameter-matched base (``base~GCA[..]``) belongs to the setting of the GCA variant it was
widened for, so it is compared with that variant's base.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..config import PRESETS, ModelConfig, RunConfig, preset
from .stats import Group, bootstrap_cis, compare_many, seed_avg
from .variants import config_order
from .store import ResultsStore, record_config, setting_hash

METRICS = ("NDCG@1", "NDCG@5", "NDCG@10", "HR@10", "MRR", "AUC")
DOMAINS = ("A", "B")
PROTOCOL_TITLES = {"full": "full ranking",
                   "sampled": "sampled (ABXI's protocol: the target against {n} sampled same-domain negatives)"}


def protocol_title(protocol: str, n_candidates=()) -> str:
    """Readable protocol name; for ``sampled``, with the runs' numbers of sampled negatives."""
    n = " or ".join(str(k) for k in sorted(set(n_candidates))) or "eval.n_candidates"
    return PROTOCOL_TITLES.get(protocol, protocol).format(n=n)


def setting_label(cfg) -> str:
    """``lite`` / ``paper`` (the preset of that backbone width), plus the ablation it belongs to."""
    label = preset_of(cfg)
    if cfg.train.max_minutes:
        label += f", {cfg.train.max_minutes:g}-min budget"
    if cfg.train.epochs < 10:
        label += f", {cfg.train.epochs} epochs"
    if cfg.data.tie_shuffle_seed is not None:
        label += ", same-day shuffle"
    return label


def preset_of(cfg) -> str:
    """The preset (``config.PRESETS``) a run's configuration comes from: the first with its backbone
    width, learning-rate schedule and validation interval (``lite`` and ``lite_v2`` share the width);
    ``d<width>`` when none has them."""
    for name in PRESETS:
        p = preset(name)
        if (p.model.d, p.train.lr_schedule, p.eval.every) == (cfg.model.d, cfg.train.lr_schedule, cfg.eval.every):
            return name
    return f"d{cfg.model.d}"


def family(cfg: RunConfig) -> str:
    """Setting hash of the run's plain base counterpart (GCA removed, seed 0)."""
    plain = dataclasses.replace(cfg.model, gca_points=(), matched_to="")
    return setting_hash(dataclasses.replace(cfg, model=plain))


def nonmodel_hash(cfg: RunConfig) -> str:
    """Setting hash of everything but the model (what a matched base shares with its GCA models)."""
    return setting_hash(dataclasses.replace(cfg, model=ModelConfig()))


def collect(store: ResultsStore, tie_rule: str | None = None) -> dict[tuple[str, str, str], Group]:
    """Per-user metrics of every stored run, grouped by (dataset, family, variant). A sealed v2
    store (``prereg.sealed``) raises ``prereg.SealedError`` instead: its test scores wait for the
    pre-registered choice of reading."""
    from .prereg import SealedError, sealed

    if why := sealed(store.root):
        raise SealedError(why)
    runs = []
    for folder, record, counts, domain in store.iter_runs():
        cfg = record_config(folder, record)
        if cfg is not None:
            runs.append((cfg, record, counts, domain, folder.name))
    gca_order: dict[str, tuple] = {}
    for c, *_ in runs:
        if c.model.gca_points:
            gca_order[c.model.size_name] = min(gca_order.get(c.model.size_name, (9,)), config_order(c.model))
    groups: dict[tuple[str, str, str], Group] = {}
    for (cfg, record, counts, domain, run), fam in zip(runs, families([c for c, *_ in runs])):
        order = config_order(cfg.model)
        if cfg.model.matched_to:
            order = (2, *gca_order.get(cfg.model.matched_to, (9, cfg.model.matched_to)))
        key = (cfg.data.dataset, fam, cfg.model.variant_name)
        size = cfg.model.size_name if cfg.model.gca_points else ""
        g = groups.setdefault(key, Group(*key, order=order, size_name=size, label=setting_label(cfg),
                                         n_candidates=cfg.eval.n_candidates, model=cfg.model))
        g.n_parameters.append(int(record.get("n_parameters") or 0))
        g.provenance.add((str(record.get("code_version")), str(record.get("data_checksum"))))
        rule = tie_rule or cfg.eval.tie_rule
        g.seeds[cfg.train.seed] = {p: (domain, c.metrics(rule)) for p, c in counts.items()}
        g.runs[cfg.train.seed] = run
    return groups


def families(cfgs: list[RunConfig]) -> list[str]:
    """The setting family (hash) of each configuration. A matched base joins the family of the
    GCA variants it was widened for, stored beside it (same dataset and non-model settings; keyed
    by the size name, so sigmoid and tanh share it); without one it keeps its own."""
    gca_family = {(c.data.dataset, nonmodel_hash(c), c.model.size_name): family(c) for c in cfgs if c.model.gca_points}
    return [gca_family.get((c.data.dataset, nonmodel_hash(c), c.model.matched_to), family(c)) if c.model.matched_to
            else family(c) for c in cfgs]


def family_labels(groups) -> dict[tuple[str, str], str]:
    """{(dataset, family): readable setting label}, unique within a dataset: a label two families
    would share (two learning rates of the lite preset) gets the family's hash prefix. A family of
    matched bases alone (their GCA runs not stored) takes the plain label of its runs and does not
    count as a clash: it belongs to the setting that label names."""
    raw: dict[tuple[str, str], str] = {}
    orphan: set[tuple[str, str]] = set()
    # a matched base is wider than its setting's backbone, so label a family by its other runs
    for (dataset, fam, variant), g in sorted(groups.items(), key=lambda kv: kv[0][2].startswith("base~")):
        if (dataset, fam) not in raw:
            raw[(dataset, fam)] = g.label
            if variant.startswith("base~"):
                orphan.add((dataset, fam))
    taken: dict[tuple[str, str], int] = {}
    for key, label in raw.items():
        if key not in orphan:
            taken[(key[0], label)] = taken.get((key[0], label), 0) + 1
    return {(dataset, fam): label if (dataset, fam) in orphan or taken[(dataset, label)] == 1
            else f"{label} [{fam[:6]}]" for (dataset, fam), label in raw.items()}


def report_frame(store: ResultsStore | str, metrics=METRICS, tie_rule: str | None = None,
                 n_boot: int = 1000, seed: int = 0):
    """Long table: one row per protocol x dataset x variant x domain x metric (see module doc)."""
    import pandas as pd

    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    groups = collect(store, tie_rule)
    labels = family_labels(groups)
    rows = []
    # readable order: datasets, then settings by label (lite before its shuffle, then paper), then variants
    in_order = sorted(groups.items(), key=lambda kv: (kv[0][0], labels[kv[0][:2]], kv[0][1], kv[1].order))
    for (dataset, fam, variant), g in in_order:
        seeds = sorted(g.seeds)
        base = groups.get((dataset, fam, "base")) if variant != "base" else None
        matched = groups.get((dataset, fam, f"base~{g.size_name}")) if g.size_name else None
        protocols = sorted({p for s in seeds for p in g.seeds[s]})
        for protocol in protocols:
            for dom, dname in enumerate(DOMAINS):
                values = {m: v for m in metrics if (v := seed_avg(g, seeds, protocol, dom, m)) is not None}
                if not values:
                    continue
                cis = zip(*bootstrap_cis(np.stack(list(values.values()), 1), n_boot=n_boot, seed=seed))
                vbs = compare_many(g, base, protocol, dom, tuple(values), n_boot, seed)
                vms = compare_many(g, matched, protocol, dom, tuple(values), n_boot, seed)
                for (metric, v), (mean, lo, hi) in zip(values.items(), cis):
                    per_seed = [float(np.mean(seed_avg(g, [s], protocol, dom, metric))) for s in seeds]
                    vb, vm = vbs[metric], vms[metric]
                    rows.append({
                        "protocol": protocol, "dataset": dataset, "variant": variant, "setting": fam[:8],
                        "setting_label": labels[(dataset, fam)], "n_candidates": g.n_candidates,
                        "domain": dname, "metric": metric, "n_seeds": len(seeds),
                        "seeds": ",".join(map(str, seeds)), "n_users": len(v),
                        "n_parameters": int(np.mean(g.n_parameters)), "mean": float(mean),
                        "ci_lo": float(lo), "ci_hi": float(hi),
                        "code_versions": " ".join(sorted({c for c, _ in g.provenance})),
                        "data_sha256": " ".join(sorted({d for _, d in g.provenance})),
                        "seed_sd": float(np.std(per_seed, ddof=1)) if len(seeds) > 1 else math.nan,
                        **{f"vs_base_{k}": x for k, x in vb.items() if k != "per_seed"},
                        **{f"vs_matched_{k}": x for k, x in vm.items() if k != "per_seed"},
                    })
    return pd.DataFrame(rows)


# -------------------------------------------------------------------------------- rendering
def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table (no dependency on ``tabulate``)."""
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "|".join("---" for _ in header) + "|", *map(line, rows)])


def wide(frame, protocol: str, kind: str = "mean"):
    """One row per dataset x variant, one column per domain x metric, formatted strings.

    ``kind``: ``mean`` (``mean ± CI half-width``), ``vs_base`` or ``vs_matched`` (``Δ``, with ``*``
    when the interval over users and seeds excludes 0). The users-only sign-flip p-value stays in the
    frame but is not printed: beside a mark that also covers retraining it would read as a bug.
    """
    import pandas as pd

    sub = frame[frame["protocol"] == protocol]
    if kind != "mean":
        sub = sub[sub[f"{kind}_diff"].notna()]
    label = sub["setting_label"] if "setting_label" in sub else sub["setting"]
    sub = sub.assign(label=label)
    keys = ["dataset", "setting", "label", "variant"]
    out = []
    for (dataset, _, label, variant), part in sub.groupby(keys, sort=False):
        row = {"dataset": dataset, "setting": label, "variant": variant,
               "seeds": int(part["n_seeds"].iloc[0]), "params": int(part["n_parameters"].iloc[0])}
        for r in part.itertuples():
            col = f"{r.domain} {r.metric}"
            if kind == "mean":
                row[col] = f"{r.mean:.4f} ± {(r.ci_hi - r.ci_lo) / 2:.4f}"
            else:
                d = getattr(r, f"{kind}_diff")
                lo, hi = getattr(r, f"{kind}_lo"), getattr(r, f"{kind}_hi")
                row[col] = f"{d:+.4f}" + ("*" if lo > 0 or hi < 0 else "")
        out.append(row)
    return pd.DataFrame(out)


def tables(frame):
    """The report's tables as ``(title, DataFrame of formatted strings)``: per protocol, the metric
    means with CIs, then the paired differences against the base and the parameter-matched base."""
    if frame.empty:
        return
    for protocol in sorted(frame["protocol"].unique(), key=lambda p: (p != "full", p)):
        n_candidates = frame.loc[frame["protocol"] == protocol, "n_candidates"] if "n_candidates" in frame else ()
        title = protocol_title(protocol, n_candidates)
        for kind, caption in (("mean", "mean over seeds ± half-width of the 95 % bootstrap CI over test users"),
                              ("vs_base", "paired difference vs the base model; * = its 95 % interval over "
                                          "test users and training seeds excludes 0"),
                              ("vs_matched", "paired difference vs the parameter-matched base (*: as above)")):
            table = wide(frame, protocol, kind)
            if table.empty:
                continue
            if table.groupby("dataset")["setting"].nunique().max() <= 1:
                table = table.drop(columns="setting")  # only needed when a dataset has several settings
            if kind != "mean":
                table = table.drop(columns=["seeds", "params"])
            yield f"{title}: {caption}", table


def to_markdown(frame) -> str:
    """Markdown report: :func:`tables` as GitHub-flavoured tables, then the provenance note."""
    if frame.empty:
        return "_The store holds no complete runs._\n"
    parts = [f"### {title}\n\n" + markdown_table(list(table.columns), table.astype(str).values.tolist())
             for title, table in tables(frame)]
    return "\n\n".join(parts) + "\n\n" + provenance_note(frame) + "\n"


def provenance_note(frame) -> str:
    """Which code and data the runs came from; warns when a table mixes code versions."""
    versions = sorted({v for cell in frame["code_versions"] for v in cell.split()})
    lines = [f"Code version{'s' if len(versions) > 1 else ''}: {', '.join(versions)}."]
    for dataset, part in frame.groupby("dataset"):
        settings: dict[str, set[str]] = {}  # checksum -> the settings trained on that data
        label = part["setting_label"] if "setting_label" in part else part["setting"]
        for cell, name in zip(part["data_sha256"], label):
            for sha in cell.split():
                settings.setdefault(sha, set()).add(name)
        named = len(settings) > 1  # say which data is which only when there are several
        lines.append(f"{dataset} data SHA-256: " + ", ".join(
            sha[:16] + (f" ({'; '.join(sorted(settings[sha]))})" if named else "") for sha in sorted(settings)) + ".")
    if len(versions) > 1:
        lines.append("The tables pool runs of several code versions: the store is keyed by the configuration "
                     "only, so a stored run stays when the code changes (delete it to retrain it); "
                     "`gca-lite rerun RUN` retrains one stored run with the current code and reports whether "
                     "every per-user rank comes back.")
    return " ".join(lines)
