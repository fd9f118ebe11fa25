"""Two contrasts the results page shows beside the verdicts, read from a results store: LayerNorm on
against off for every stored point x gate (the LayerNorm claim), and accuracy against model size
for the scaling series and their parameter-matched bases (the parameter-efficiency claim).
"""

from __future__ import annotations

import re

from .report import DOMAINS, fmt_ci

_VARIANT = re.compile(r"GCA\[(?P<points>[\d,]+)\]-(?P<gate>\w+),(?P<ln>True|False)$")
#: the scaling series of the blog's figure; GCA[0] starts both curves
EARLY = ("GCA[0]-sigmoid,True", "GCA[0,0]-sigmoid,True", "GCA[0,0,0]-sigmoid,True")
STACK = ("GCA[0]-sigmoid,True", "GCA[0,1]-sigmoid,True", "GCA[0,1,2]-sigmoid,True")
BASES = ("base", "base~1xGCA,True", "base~2xGCA,True", "base~3xGCA,True")


def _paper_order(variant: str) -> tuple:
    """Fewest modules first, then by insertion points and gate: GCA[0] ... GCA[2], GCA[0,1,2]."""
    m = _VARIANT.match(variant)
    points = tuple(int(x) for x in m["points"].split(","))
    return len(points), points, m["gate"]


def layernorm_frame(ctxs, protocols=("full", "sampled"), metric: str = "NDCG@10", n_boot: int = 1000):
    """One row per dataset, setting, stored (point, gate) with both LayerNorm settings, protocol and
    domain: ``on − off`` in test ``metric`` (paired over users and the common seeds, ``fmt_ci``),
    the seeds it rests on and whether its interval excludes 0. ``ctxs``: ``verdicts.contexts``."""
    import pandas as pd

    rows = []
    for ctx in ctxs:
        with_ln = [v for v in ctx.groups if (m := _VARIANT.match(v)) and m["ln"] == "True"]
        for on in sorted(with_ln, key=_paper_order):
            off = on.removesuffix(",True") + ",False"
            if off not in ctx.groups:
                continue
            m = _VARIANT.match(on)
            for protocol in protocols:
                for dom, dname in enumerate(DOMAINS):
                    c = ctx.compare(on, off, protocol, dom, metric, n_boot)
                    if c is None:
                        continue
                    rows.append({"dataset": ctx.dataset, "setting": ctx.setting, "point": f"[{m['points']}]",
                                 "gate": m["gate"], "protocol": protocol, "domain": dname,
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

    from .report import _seed_avg

    rows = []
    for variant, seed, cos in ctx.cos:
        g = ctx.groups.get(variant)
        if g is None or seed not in g.seeds:
            continue
        for dom, dname in enumerate(DOMAINS):
            values = _seed_avg(g, [seed], protocol, dom, metric)
            if dname in cos and values is not None:
                rows.append({"variant": variant, "seed": seed, "domain": dname, "abs_cos": cos[dname],
                             metric: float(np.mean(values))})
    return pd.DataFrame(rows, columns=["variant", "seed", "domain", "abs_cos", metric])
