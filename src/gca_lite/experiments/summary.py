"""The results page's tables: what the store holds (and what it cost), and the paper's published
numbers beside ours.

Everything is read from a results store (records + per-user ranks): no dataset, no training.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..paper import load_paper_numbers, paper_cells, paper_correlations
from .contrasts import orthogonality_points
from .report import DOMAINS, collect, families, family, nonmodel_hash, setting_label
from .stats import pearson, seed_avg, t975
from .store import ResultsStore, record_config
from .verdicts import contexts, judged, unique_labels, with_notes


def _store(store) -> ResultsStore:
    return store if isinstance(store, ResultsStore) else ResultsStore(store)


def run_table(store):
    """One row per stored run: dataset, setting, variant, seed, device, machine, wall seconds,
    epochs, stop reason, code version, and the run's own early-stopping patience and epoch limit."""
    import pandas as pd

    rows = []
    labels = unique_labels(store)
    stored = [(folder, record, cfg) for folder, record, _, _ in _store(store).iter_runs(warn=False)
              if (cfg := record_config(folder, record)) is not None]
    for (folder, record, cfg), fam in zip(stored, families([cfg for *_, cfg in stored])):
        label = labels.get((cfg.data.dataset, fam), setting_label(cfg))
        rows.append({"dataset": cfg.data.dataset, "setting": label, "variant": cfg.model.variant_name,
                     "seed": cfg.train.seed, "device": str(record.get("device", "cpu")).split(" (")[0],
                     "machine": str(record.get("machine", "")).split(";")[0],
                     "torch": _torch_version(record.get("machine", "")),
                     "wall_seconds": float(record.get("wall_seconds") or 0.0),
                     "epochs_run": record.get("epochs_run"), "best_epoch": record.get("best_epoch"),
                     "stop_reason": record.get("stop_reason"), "code_version": record.get("code_version"),
                     "patience": cfg.train.patience, "max_epochs": cfg.train.epochs,
                     "stored_at": record.get("stored_at"), "run": folder.name})
    return pd.DataFrame(rows)


def _torch_version(machine: str) -> str:
    for part in str(machine).split(";"):
        if part.strip().startswith("torch "):
            return part.strip().split()[1]
    return ""


def coverage(store):
    """Per dataset x setting x device: runs, distinct configs, seeds, compute hours."""
    runs = run_table(store)
    if runs.empty:
        return runs
    g = runs.groupby(["dataset", "setting", "device", "machine"], sort=True)
    out = g.agg(runs=("run", "size"), configs=("variant", "nunique"),
                seeds=("seed", lambda s: ",".join(map(str, sorted(set(s))))),
                hours=("wall_seconds", lambda s: s.sum() / 3600),
                minutes_per_run=("wall_seconds", lambda s: s.median() / 60)).reset_index()
    return out


def sweep_wall(store):
    """Wall-clock time the store's runs took, per device: the length of the union of the runs'
    ``[stored_at - wall_seconds, stored_at]`` intervals, so runs trained side by side count once;
    ``stretches``: how many separate stretches of time that union has. Runs stored before records
    carried ``stored_at`` cannot be placed in time; they are counted apart, with their summed run
    time (an upper bound on the wall time they took)."""
    import pandas as pd

    runs = run_table(store)
    rows = []
    for device, part in (runs.groupby("device", sort=True) if not runs.empty else []):
        timed = part[part["stored_at"].notna()]
        end = pd.to_datetime(timed["stored_at"], utc=True)
        spans = sorted(zip(end - pd.to_timedelta(timed["wall_seconds"], unit="s"), end))
        wall, cur_lo, cur_hi, stretches = 0.0, None, None, 0
        for lo, hi in spans:
            if cur_hi is None or lo > cur_hi:
                wall += (cur_hi - cur_lo).total_seconds() if cur_hi is not None else 0.0
                cur_lo, cur_hi, stretches = lo, hi, stretches + 1
            else:
                cur_hi = max(cur_hi, hi)
        wall += (cur_hi - cur_lo).total_seconds() if cur_hi is not None else 0.0
        untimed = part[part["stored_at"].isna()]
        rows.append({"device": device, "timed runs": len(timed), "wall hours": wall / 3600 if spans else math.nan,
                     "stretches": stretches,
                     "run hours": timed["wall_seconds"].sum() / 3600,
                     "from": spans[0][0].strftime("%Y-%m-%d %H:%M") if spans else "",
                     "to": max(h for _, h in spans).strftime("%Y-%m-%d %H:%M") if spans else "",
                     "untimed runs": len(untimed), "untimed run hours": untimed["wall_seconds"].sum() / 3600})
    return pd.DataFrame(rows)


def _run_key(cfg) -> tuple:
    """What identifies a planned run without the data: the config hash, except for a matched base,
    whose widths come from the item counts; it is known by the setting and size it matches."""
    if cfg.model.matched_to:
        return (cfg.data.dataset, "matched", nonmodel_hash(cfg), cfg.model.matched_to, cfg.train.seed)
    return (cfg.data.dataset, "config", ResultsStore.key(cfg))


def planned_runs(grid_path) -> list[tuple]:
    """The runs a grid file plans, as ``(dataset, name, seed, key)`` in the file's order (matched
    bases last); ``key`` is :func:`_run_key`. Needs no data: a matched base is planned by the size
    it matches (``base~1xGCA,True``), which its name, seed and setting do not need the data for."""
    from .grid import GridError, expand, read_grid_spec

    spec = read_grid_spec(grid_path)
    if not isinstance(spec, dict):
        raise GridError(f"{grid_path}: the grid file must be a mapping")
    configs = expand({**spec, "matched_bases": False}, str(grid_path))
    if spec.get("matched_bases"):
        configs += [dataclasses.replace(c, model=dataclasses.replace(c.model, gca_points=(),
                                                                     matched_to=c.model.size_name))
                    for c in configs if c.model.gca_points]
    out = {}
    for c in configs:
        name = ("base~" + c.model.matched_to if c.model.matched_to else c.model.variant_name) + (
            ", same-day shuffle" if c.data.tie_shuffle_seed is not None else "")
        out.setdefault(_run_key(c), (c.data.dataset, name, c.train.seed, _run_key(c)))
    return sorted(out.values(), key=lambda k: k[0])  # stable: the file's order within a dataset


def grid_progress(store, grid_path):
    """Per dataset and planned configuration: the seeds the grid plans, those stored and those
    missing (a matched base counts when it matches the same size in the same setting)."""
    import pandas as pd

    stored = set()
    for folder, record, _, _ in _store(store).iter_runs(warn=False):
        cfg = record_config(folder, record)
        if cfg is not None:
            stored.add(_run_key(cfg))
    rows = {}
    for dataset, name, seed, key in planned_runs(grid_path):
        row = rows.setdefault((dataset, name), {"dataset": dataset, "configuration": name, "planned": [],
                                                "stored": [], "missing": []})
        row["planned"].append(seed)
        row["stored" if key in stored else "missing"].append(seed)
    out = pd.DataFrame(list(rows.values()), columns=["dataset", "configuration", "planned", "stored", "missing"])
    for col in ("planned", "stored", "missing"):
        out[col] = out[col].map(lambda seeds: ",".join(map(str, sorted(seeds))))
    return out


def _ours(groups, dataset, variant, protocol, dom, metric):
    """{setting label: mean} for one cell, over the store's settings of ``dataset``."""
    out = {}
    for (ds, fam, v), g in groups.items():
        if ds != dataset or v != variant:
            continue
        vals = seed_avg(g, sorted(g.seeds), protocol, dom, metric)
        if vals is not None:
            out[(fam, len(g.seeds))] = float(np.mean(vals))
    return out


def paper_vs_ours(store):
    """The paper's numbers beside ours, one row per (paper number, our setting, protocol).

    Rows: the two table cells reported for GCA[1]-sigmoid,True on Food-Kitchen (NDCG@1 with its
    domain unstated, so both of ours are shown; AUC@A), the GCA paper's own ABXI base (NDCG@10
    digitised from the blog's scaling figure), and ABXI's published base-model means on afk and abe
    (HR@5, HR@10, NDCG@10, MRR per domain; sampled protocol with 999 negatives). Only our
    settings with 999 sampled negatives are used (ABXI's count; our tie rule may differ from
    ABXI's optimistic one, which matters only for exactly tied scores, rare with float32 scores).
    """
    import pandas as pd

    store = _store(store)
    groups = collect(store)
    labels = {fam: label for (_, fam), label in unique_labels(store).items()}
    abxi_like = set()  # settings ranked against 999 sampled negatives, as ABXI's published numbers
    for folder, record, _, _ in store.iter_runs(warn=False):
        cfg = record_config(folder, record)
        if cfg is not None and cfg.eval.n_candidates == 999:
            abxi_like.add(family(cfg))
    groups = {k: g for k, g in groups.items() if k[1] in abxi_like}
    wanted = []
    for cell in paper_cells().itertuples():
        doms = [cell.domain] if cell.domain in DOMAINS else list(DOMAINS)
        for d in doms:
            wanted.append(("GCA paper's table (via a summary)", cell.dataset, cell.variant, d, cell.metric,
                           cell.value, "one run, unverified"))
    frame = load_paper_numbers()
    # the GCA paper's own base model: the original ABXI point of the blog's scaling figure
    blog = frame[(frame["source"] == "author-blog-figure") & (frame["base_model"] == "ABXI")
                 & (frame["variant"] == "baseline")]
    for r in blog.itertuples():
        wanted.append(("GCA paper's ABXI base (blog figure)", r.dataset, "base", r.domain, r.metric, r.value,
                       "digitised, one run"))
    abxi = frame[frame["source"] == "abxi-readme"]
    for r in abxi[abxi["stat"] == "mean"].itertuples():
        wanted.append(("ABXI's own README", r.dataset, "base", r.domain, r.metric, r.value, "mean of 5 seeds"))
    rows = []
    for source, dataset, variant, dom, metric, value, stat in wanted:
        for protocol in ("sampled", "full"):
            ours = _ours(groups, dataset, variant, protocol, DOMAINS.index(dom), metric)
            for (fam, n_seeds), mean in sorted(ours.items(), key=lambda kv: labels.get(kv[0][0], "")):
                rows.append({"what": source, "dataset": dataset, "variant": variant, "domain": dom,
                             "metric": metric, "paper": value, "paper_stat": stat,
                             "setting": labels.get(fam, fam[:8]), "protocol": protocol, "ours": mean,
                             "seeds": n_seeds, "ours / paper": mean / value if value else math.nan})
            if not ours and protocol == "sampled":
                rows.append({"what": source, "dataset": dataset, "variant": variant, "domain": dom,
                             "metric": metric, "paper": value, "paper_stat": stat, "setting": "(no run)",
                             "protocol": protocol, "ours": math.nan, "seeds": 0, "ours / paper": math.nan})
    return pd.DataFrame(rows)


def correlations_vs_paper(store, protocol: str = "full"):
    """Pearson r of mean |cos(X, X')| vs test NDCG@10 over GCA runs, per dataset x setting and
    pooled over datasets per setting (as the blog's ABXI panel pools its runs), beside the blog's r."""
    import pandas as pd

    paper = {r.domain: r.r for r in paper_correlations().itertuples() if r.base_model == "ABXI"}
    points: dict[tuple[str, str], list] = {}
    for ctx in contexts(store):
        for p in orthogonality_points(ctx, protocol).to_dict("records"):
            for scope in (ctx.dataset, "pooled"):
                points.setdefault((scope, ctx.setting, p["domain"]), []).append((p["abs_cos"], p["NDCG@10"]))
    rows = []
    for (scope, setting, dname), pts in sorted(points.items()):
        x, y = zip(*pts)
        r, lo, hi, n = pearson(x, y)
        rows.append({"datasets": scope, "setting": setting, "domain": dname, "runs": n, "r": r,
                     "ci_lo": lo, "ci_hi": hi, "mean |cos|": float(np.mean(x)), "paper r (ABXI)": paper.get(dname)})
    return pd.DataFrame(rows)


def setting_labels(store) -> dict[str, str]:
    """{first 8 hex of a setting hash (report_frame's ``setting``): readable label}."""
    return {fam[:8]: label for (_, fam), label in unique_labels(store).items()}


def verdict_matrix(verdicts, dataset: str):
    """Claims x (setting, protocol) of one dataset, verdict strings as cells (claim order kept); a
    store holding several readings of the module gets one column per (setting, reading, protocol)."""
    part = verdicts[verdicts["dataset"] == dataset]
    claims = list(dict.fromkeys(part["claim"]))
    several = "reading" in part and part["reading"].nunique() > 1
    column = part["setting"] + (" · " + part["reading"] if several else "") + " · " + part["protocol"]
    wide = part.assign(column=column).pivot(index="claim", columns="column", values="verdict")
    columns = list(dict.fromkeys(column))
    return wide.loc[claims, columns].rename_axis(index=None, columns=None).reset_index(names="claim")


def paper_vs_ours_wide(side, protocol: str = "sampled"):
    """One row per paper number, one column per setting of ours (value and ratio to the paper)."""
    names = {"what": "published in", "paper_stat": "kind of number", "paper": "published"}
    part = side[(side["protocol"] == protocol) & (side["setting"] != "(no run)")] if len(side) else side
    if part.empty:
        return part.rename(columns=names)
    keys = ["what", "paper_stat", "dataset", "variant", "domain", "metric", "paper"]
    wide = part.pivot_table(index=keys, columns="setting", values="ours", sort=False)
    wide.columns = [f"ours: {c}" for c in wide.columns]
    return wide.reset_index().rename(columns=names)


def _seeds_needed(c: dict, most: int = 1000) -> float:
    """Fewest seeds n >= 2 at which the seed half-width t(n-1) sd / sqrt(n) of comparison ``c`` is
    no wider than its users-only half-width (the seed SD taken as measured); inf beyond ``most``."""
    users, sd = (c["hi_users"] - c["lo_users"]) / 2, float(np.std(c["per_seed"], ddof=1))
    return float(next((n for n in range(2, most + 1) if t975(n - 1) * sd / math.sqrt(n) <= users), math.inf))


def noise_budget(ctxs, protocols=("full", "sampled"), metric: str = "NDCG@10", n_boot: int = 1000,
                 by_variant: bool = False):
    """How much of a paired interval is test users and how much retraining (decision D16).

    Over every stored variant-minus-base comparison with two or more common seeds, per dataset,
    setting, protocol and domain (and variant, with ``by_variant``), medians of: ``|Δ|`` the
    difference, ``users ±`` the users-only half-width, ``seed SD`` the SD of the per-seed paired
    means, ``seed ±`` the seed half-width it gives at the stored seeds, and ``seeds needed``: how many
    seeds would shrink the seed part to the users' part if the seed SD stayed as measured
    (:func:`_seeds_needed`). ``ctxs``: ``verdicts.contexts``."""
    import pandas as pd

    rows = []
    for ctx in ctxs:
        variants = [v for v in ctx.groups if v != "base"]
        for protocol in protocols:
            for dom, dname in enumerate(DOMAINS):
                for group in ([[v] for v in variants] if by_variant else [variants]):
                    comps = [c for v in group
                             if (c := ctx.compare(v, "base", protocol, dom, metric, n_boot)) and len(c["per_seed"]) > 1]
                    if comps:
                        rows.append({"dataset": ctx.dataset, "setting": ctx.setting,
                                     **({"variant": group[0]} if by_variant else {}), "protocol": protocol,
                                     "domain": dname, **_noise_row(comps)})
    return pd.DataFrame(rows)


def _noise_row(comps: list[dict]) -> dict:
    """The medians :func:`noise_budget` reports over ``comps`` (paired comparisons)."""
    return {"comparisons": len(comps),
            "seeds": int(np.median([len(c["per_seed"]) for c in comps])),
            "median |Δ|": float(np.median([abs(c["diff"]) for c in comps])),
            "users ±": float(np.median([(c["hi_users"] - c["lo_users"]) / 2 for c in comps])),
            "seed SD": float(np.median([np.std(c["per_seed"], ddof=1) for c in comps])),
            "seed ±": float(np.median([c["seed_half"] for c in comps])),
            "seeds needed": float(np.median([_seeds_needed(c) for c in comps]))}


def _test_score(record: dict, protocol: str, metric: str) -> float:
    test = (record.get("test") or {}).get(protocol) or {}
    values = [test.get(f"{d}/{metric}") for d in DOMAINS]
    return float(np.mean(values)) if all(v is not None for v in values) else math.nan


def training_length(store, protocol: str = "full", metric: str = "NDCG@10", short: float = 0.6):
    """Did early stopping cut runs short (decision D17)? Two tables from the stored records.

    ``summary``: per dataset and setting, the runs, how many early stopping ended, the median
    (min-max) selected epoch, and Pearson r between a run's selected epoch and its test ``metric``
    (mean of the domains) after removing each variant's mean over seeds: r > 0 means runs that
    happened to train longer score higher, so the stopping point adds to the seed-to-seed noise.
    ``short``: runs whose selected epoch is below ``short`` times the median of the setting's other
    runs with the same seed (at least two), with their test ``metric`` against those runs' median."""
    import pandas as pd

    runs, scores = run_table(store), {}
    for folder, record, _, _ in _store(store).iter_runs(warn=False):
        scores[folder.name] = _test_score(record, protocol, metric)
    if runs.empty:
        return pd.DataFrame(), pd.DataFrame()
    runs = runs.assign(score=runs["run"].map(scores))
    rows, flagged = [], []
    for (dataset, setting), part in runs.groupby(["dataset", "setting"], sort=True):
        known = part.dropna(subset=["best_epoch", "score"])  # a run without them cannot enter r
        centred = known.groupby("variant").filter(lambda g: len(g) > 1)
        e = centred["best_epoch"] - centred.groupby("variant")["best_epoch"].transform("mean")
        s = centred["score"] - centred.groupby("variant")["score"].transform("mean")
        r, lo, hi, n = (pearson(e, s, groups=centred["variant"].nunique()) if len(centred)
                        else (math.nan, math.nan, math.nan, 0))
        median = float(part["best_epoch"].median())
        rows.append({"dataset": dataset, "setting": setting, "runs": len(part),
                     "early-stopped": int((part["stop_reason"] == "early_stopping").sum()),
                     "selected epoch, median (range)":
                         f"{median:g} ({part['best_epoch'].min()}-{part['best_epoch'].max()})",
                     "r (epoch, score)": r, "r 95 % CI": "" if math.isnan(r) else f"[{lo:+.2f}, {hi:+.2f}]",
                     "runs in r": n})
        for row in part.itertuples():
            peers = part[(part["seed"] == row.seed) & (part["run"] != row.run)]
            if len(peers) < 2 or not row.best_epoch < short * peers["best_epoch"].median():
                continue
            flagged.append({"run": row.run, "dataset": dataset, "setting": setting, "variant": row.variant,
                            "seed": row.seed, "selected epoch": row.best_epoch,
                            "same-seed median epoch": peers["best_epoch"].median(),
                            f"test {metric}": row.score, "same-seed median score": float(peers["score"].median())})
    return pd.DataFrame(rows), pd.DataFrame(flagged)


def note_cut_short(verdicts, cut_short):
    """``verdicts`` with a ``note`` naming the runs of :func:`training_length`'s ``short`` table
    that a judged row rests on (its ``rests_on`` run folders): such a verdict partly measures where
    early stopping happened to end a run."""
    def note(row) -> str:
        if not judged(row.verdict) or cut_short.empty:
            return ""
        hits = cut_short[cut_short["run"].isin(row.rests_on)]
        return "; ".join(f"rests partly on {h['variant']} seed {h['seed']}"
                         + (f" ({h['setting']})" if h["setting"] != row.setting else "")
                         + f", selected at epoch {h['selected epoch']:g} against "
                           f"{h['same-seed median epoch']:g} for its same-seed peers (cut short)"
                         for h in hits.to_dict("records"))
    return with_notes(verdicts, note)
