"""The orthogonality claims of the registry: |cos(X, X')| per module, its relation to accuracy
across variants and within them, and over the epochs of each run (the paper's Figure 1(b)).

Each function has the claim signature ``fn(ctx, protocol, n_boot, emit)`` of :mod:`claims`.
"""

from __future__ import annotations

import math

import numpy as np

from .contrasts import orthogonality_points
from .report import DOMAINS
from .rules import combine
from .stats import pearson, t975, within_variant_r
from .variants import GCA16

COS_RANGE = 0.49  # the top of the blog's ABXI |cos| scatter (no threshold is stated)
# |cos| vs NDCG@10 needs runs of at least this many GCA variants: the decision is over variant means
MIN_CORR_VARIANTS = 4


def chance_cos(d: int) -> float:
    """E|cos| of two random directions in d dimensions, sqrt(2 / (pi d)) (large d)."""
    return math.sqrt(2 / (math.pi * d)) if d else math.nan


def cos_runs(ctx) -> list[str]:
    """Every GCA run with an orthogonality probe (GCA_early and GCA_stack models included)."""
    return [ctx.groups[v].runs[s] for v, s, c in ctx.cos if c and v in ctx.groups and s in ctx.groups[v].runs]


def _span(values, fmt="{:.3f}") -> str:
    return f"{fmt.format(min(values))} to {fmt.format(max(values))}"


def cos_in_range(ctx, protocol, n_boot, emit):
    """Every module's |cos| (test probe, all positions) inside the blog's range: *in range*; some:
    *partly*; none: *out of range*. Per module, never averaged over stacked modules."""
    probes = [(v, s, key, o) for v, s, per in ctx.modules for key, o in per.items()
              if not math.isnan(o.get("abs_cos", math.nan))]
    if not probes:
        emit(None, "no runs", "", list(GCA16))
        return
    values = [o["abs_cos"] for *_, o in probes]
    last = [o["abs_cos_last"] for *_, o in probes if o.get("abs_cos_last") is not None]
    inside = sum(x <= COS_RANGE for x in values)
    above = sorted({key.split("/")[0] for _, _, key, o in probes if o["abs_cos"] > COS_RANGE})
    verdict = "reproduced" if inside == len(values) else "partly" if inside else "not reproduced"
    rand = chance_cos(ctx.width)
    emit(None, verdict,
         f"|cos| per module {_span(values)} over {len(values)} modules x domains of {len(ctx.modules)} GCA runs; "
         f"{inside} of {len(values)} inside" + (f" (above: modules at {', '.join(above)})" if above else "")
         + (f"; chance for two random directions at d = {ctx.width}: {rand:.3f}, so |cos| is "
            f"{min(values) / rand:.1f} to {max(values) / rand:.1f} times chance" if ctx.width else "")
         + (f"; at the last position only: {_span(last)}" if last else "")
         + "; the centred cosine is not stored by the probe", list(GCA16), rests_on=cos_runs(ctx),
         key=f"|cos| per module: {_span(values)}, {inside} of {len(values)} ≤ {COS_RANGE}")


def variant_means(part):
    means = part.groupby("variant")[["abs_cos", "NDCG@10"]].mean()
    return means["abs_cos"].to_numpy(), means["NDCG@10"].to_numpy()


def within_given_epoch(part, epochs: dict):
    """r of |cos| and NDCG@10 within variants, the selected epoch partialled out as well:
    (r, lo, hi, n) with one degree of freedom more spent than :func:`within_variant_r`."""
    e = np.array([epochs.get((v, s), math.nan) for v, s in zip(part["variant"], part["seed"])], float)
    keep = ~np.isnan(e) & part["variant"].map(part["variant"].value_counts()).gt(1).to_numpy()
    x, y, e, lab = (part["abs_cos"].to_numpy()[keep], part["NDCG@10"].to_numpy()[keep], e[keep],
                    part["variant"].to_numpy()[keep])
    for v in set(lab):
        m = lab == v
        x[m], y[m], e[m] = x[m] - x[m].mean(), y[m] - y[m].mean(), e[m] - e[m].mean()
    if len(x) < 3 or not e.any():
        return math.nan, math.nan, math.nan, len(x)
    x, y = x - e * (x @ e) / (e @ e), y - e * (y @ e) / (e @ e)
    return pearson(x, y, groups=len(set(lab)) + 1)


def _fmt_r(r, lo, hi) -> str:
    return f"{r:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def cos_goes_with_accuracy(ctx, protocol, n_boot, emit):
    """Lower |cos| goes with higher NDCG@10, decided by two correlations: over variant means (n =
    variants) and within variants given the selected epoch; each resolved below 0 counts for the
    claim, above 0 against (``rules.combine``). The pooled r over runs is shown, deciding nothing."""
    points = orthogonality_points(ctx, protocol, "NDCG@10")
    epochs = {(v, s): best for v, s, best, _ in ctx.histories if best is not None}
    for dname in DOMAINS:
        part = points[points["domain"] == dname]
        n_var = part["variant"].nunique()
        if n_var < MIN_CORR_VARIANTS:
            emit(None, "too few runs" if len(part) else "no runs",
                 f"{len(part)} GCA runs of {n_var} variants (the decision needs {MIN_CORR_VARIANTS} variants)"
                 if len(part) else "", list(GCA16), rests_on=cos_runs(ctx), domain=dname)
            continue
        across = pearson(*variant_means(part))
        within = within_given_epoch(part, epochs)
        decided = [c for c in (across, within) if not math.isnan(c[0])]
        good = sum(c[2] < 0 for c in decided)
        bad = sum(c[1] > 0 for c in decided)
        pooled = pearson(part["abs_cos"], part["NDCG@10"])
        wr = within_variant_r(part["abs_cos"].to_numpy(), part["NDCG@10"].to_numpy(), part["variant"].tolist())
        emit(None, combine(good, bad, 2) if decided else "too few runs",
             f"over the means of {n_var} variants: r = {_fmt_r(*across[:3])}; within variants given the "
             f"selected epoch ({within[3]} runs): r = "
             + ("n/a" if math.isnan(within[0]) else _fmt_r(*within[:3]))
             + f" (without the epoch: {_fmt_r(*wr[:3])}); pooled over {pooled[3]} runs, shown only (seeds of "
             f"one variant are not independent and the variants differ in architecture): r = {_fmt_r(*pooled[:3])}",
             list(GCA16), rests_on=cos_runs(ctx), domain=dname,
             key=f"r over variant means ({dname}): {_fmt_r(*across[:3])}")


def run_trajectory_r(history, dname: str, protocol: str = "full") -> float:
    """Within one run: the mean over its modules of r over epochs between the module's |cos| on the
    validation probe and validation NDCG@10 (``protocol``) of ``dname``; NaN under 4 epochs."""
    rs = []
    keys = {k for _, probe, _ in history for k, o in probe.items() if o.get("domain") == dname}
    for key in sorted(keys):
        pts = [((probe.get(key) or {}).get("abs_cos"), (score.get(protocol) or {}).get(dname))
               for _, probe, score in history]
        pts = [(c, s) for c, s in pts if c is not None and s is not None]
        if len(pts) >= 4:
            r = pearson(*zip(*pts))[0]
            if not math.isnan(r):
                rs.append(r)
    return float(np.mean(rs)) if rs else math.nan


def cos_over_training(ctx, protocol, n_boot, emit):
    """Figure 1(b): X' becomes more orthogonal as performance improves. Per run, r over epochs
    (:func:`run_trajectory_r`); over runs, the mean Fisher z with a t interval, back-transformed:
    *reproduced* when it lies below 0, *not reproduced* above, else *not resolved*. The validation
    scores are read under ``protocol``."""
    for dname in DOMAINS:
        rs = [r for _, _, _, h in ctx.histories if not math.isnan(r := run_trajectory_r(h, dname, protocol))]
        if len(rs) < 2:
            emit(None, "too few runs" if rs else "no runs", "", list(GCA16), rests_on=cos_runs(ctx), domain=dname)
            continue
        z = np.arctanh(np.clip(rs, -0.999999, 0.999999))
        half = t975(len(z) - 1) * float(np.std(z, ddof=1)) / math.sqrt(len(z))
        mean, lo, hi = (math.tanh(v) for v in (z.mean(), z.mean() - half, z.mean() + half))
        verdict = "reproduced" if hi < 0 else "not reproduced" if lo > 0 else "not resolved"
        emit(None, verdict,
             f"r over epochs within each run (validation probe |cos| per module, then averaged over the run's "
             f"modules, against validation NDCG@10), summarised over {len(rs)} runs: mean {_fmt_r(mean, lo, hi)} "
             f"(95 % t interval over runs of Fisher z); runs with r < 0: {sum(r < 0 for r in rs)} of {len(rs)}",
             list(GCA16), rests_on=cos_runs(ctx), domain=dname, key=f"mean r over epochs ({dname}): {_fmt_r(mean, lo, hi)}")
