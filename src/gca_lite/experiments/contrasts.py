"""Two contrasts the results page shows beside the verdicts, read from a results store: LayerNorm on
against off for every stored point x gate (the LayerNorm claim), and accuracy against model size
for the scaling series and their parameter-matched bases (the parameter-efficiency claim).
"""

from __future__ import annotations

from . import variants as V
from .report import DOMAINS
from .stats import fmt_ci, seed_avg
from .variants import BASES, EARLY, STACK


def layernorm_frame(ctxs, protocols=("full", "sampled"), metric: str = "NDCG@10", n_boot: int = 1000):
    """One row per dataset, setting, stored (point, gate) with both LayerNorm settings, protocol and
    domain: ``on − off`` in test ``metric`` (paired over users and the common seeds, ``fmt_ci``),
    the seeds it rests on and whether its interval excludes 0. ``ctxs``: ``verdicts.contexts``."""
    import pandas as pd

    rows = []
    for ctx in ctxs:
        with_ln = [v for v in ctx.groups if V.is_gca(v) and V.parse(v)["gca_layernorm"]]
        for on in sorted(with_ln, key=V.paper_order):
            off = V.layernorm_partner(on)
            if off not in ctx.groups:
                continue
            fields = V.parse(on)
            for protocol in protocols:
                for dom, dname in enumerate(DOMAINS):
                    c = ctx.compare(on, off, protocol, dom, metric, n_boot)
                    if c is None:
                        continue
                    rows.append({"dataset": ctx.dataset, "setting": ctx.setting, "point": V.points_name(on)[3:],
                                 "gate": fields["gca_gate"], "protocol": protocol, "domain": dname,
                                 "on − off": fmt_ci(c), "seeds": len(c["per_seed"]),
                                 "resolved": bool(c["lo"] > 0 or c["hi"] < 0)})
    return pd.DataFrame(rows, columns=["dataset", "setting", "point", "gate", "protocol", "domain", "on − off",
                                       "seeds", "resolved"])


def scaling_points(frame, dataset: str, setting: str, protocol: str = "full", metric: str = "NDCG@10"):
    """The rows ``figures.scaling_figure`` draws for one dataset and setting label: the GCA_early
    and GCA_stack series (sigmoid, LayerNorm on) and the base with its parameter-matched widenings,
    each a mean over seeds with its 95 % interval over test users. ``frame``: ``report_frame``."""
    import pandas as pd

    label = frame["setting_label"] if "setting_label" in frame else frame["setting"]
    part = frame[(frame["dataset"] == dataset) & (label == setting) & (frame["protocol"] == protocol)
                 & (frame["metric"] == metric)]
    series = [("GCA_early", EARLY), ("GCA_stack", STACK), ("base and matched enlargements", BASES)]
    cols = ["variant", "n_parameters", "domain", "mean", "ci_lo", "ci_hi", "n_seeds"]
    out = [part[part["variant"].isin(members)][cols].assign(series=name) for name, members in series]
    points = pd.concat(out, ignore_index=True)
    # a series of one point draws no curve, and a curve without a base to compare with says little
    kept = points.groupby("series")["variant"].transform("nunique") > 1
    points = points[kept] if points.loc[kept, "series"].nunique() > 1 else points.iloc[0:0]
    fewer = points["n_seeds"] < points["n_seeds"].max()  # a mean over fewer seeds says so in its label
    return points.assign(variant=points["variant"].where(~fewer, points["variant"] + " ("
                                                         + points["n_seeds"].astype(str) + " seeds)"))


def orthogonality_points(ctx, protocol: str = "full", metric: str = "NDCG@10"):
    """One row per GCA run of a ``verdicts.contexts`` entry and domain: its mean |cos(X, X')| over the
    modules of that domain (``abs_cos``) and its test ``metric``, with variant and seed; the points
    of ``figures.cos_scatter``. Runs on same-day-shuffled data are not in ``ctx.cos``."""
    import numpy as np
    import pandas as pd

    rows = []
    for variant, seed, cos in ctx.cos:
        g = ctx.groups.get(variant)
        if g is None or seed not in g.seeds:
            continue
        for dom, dname in enumerate(DOMAINS):
            values = seed_avg(g, [seed], protocol, dom, metric)
            if dname in cos and values is not None:
                rows.append({"variant": variant, "seed": seed, "domain": dname, "abs_cos": cos[dname],
                             metric: float(np.mean(values))})
    return pd.DataFrame(rows, columns=["variant", "seed", "domain", "abs_cos", metric])
