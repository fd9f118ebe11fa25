"""Styled pandas tables for the book's result chapters: fixed uuids, so executed notebooks are
deterministic, and the ``gca-table`` class the book's CSS styles. Re-exported by
:mod:`gca_lite.figures` (notebooks call ``F.styled``)."""

from __future__ import annotations

import re

# a cell that reads as a number: 0.1540, -0.0024 [-0.0072, +0.0025] *, [0.4, 0.5], n/a, 1,234
_NUMBERLIKE = re.compile(r"\s*([+\-−]?\d|\[|n/a)")


def variant_table(frame, protocol: str = "full", metrics=None, uuid: str = "variants", digits: int = 4,
                  params: bool = False):
    """Styled table: rows = (variant, domain), columns = metrics as the mean over seeds with the 95 %
    CI half-width below it (``± h``, class ``ci``); ``params`` adds the parameter count. The best mean
    of a column within a domain is bold only where it is *resolved*: its interval lies above every
    other variant's interval there (non-overlapping intervals, stricter than a paired test), so a
    lead far inside the intervals is never marked."""
    sub = frame[frame["protocol"] == protocol]
    if metrics is not None:
        sub = sub[sub["metric"].isin(metrics)]
    order = list(dict.fromkeys(sub["variant"]))
    cols = list(dict.fromkeys(sub["metric"]))
    rows = [(v, d) for v in order for d in ("A", "B")]
    keys = ["variant", "domain"]
    means = sub.pivot_table(index=keys, columns="metric", values="mean").reindex(index=rows, columns=cols)
    half = sub.assign(h=(sub["ci_hi"] - sub["ci_lo"]) / 2).pivot_table(
        index=keys, columns="metric", values="h").reindex(index=rows, columns=cols)
    text = means.map(lambda v: f"{v:.{digits}f}") + '<br><span class="ci">± ' + half.map(
        lambda v: f"{v:.{digits}f}") + "</span>"
    if params:
        counts = sub.groupby("variant")["n_parameters"].first()
        text.insert(0, "params", [f"{counts[v]:,}" for v, _ in rows])
    text.index.names = ["variant", "domain"]
    text.columns.name = None

    lo = sub.pivot_table(index=keys, columns="metric", values="ci_lo").reindex(index=rows, columns=cols)
    hi = sub.pivot_table(index=keys, columns="metric", values="ci_hi").reindex(index=rows, columns=cols)

    def resolved_best(metric: str, i) -> bool:
        """Row ``i`` holds the best mean of its domain and its interval clears every other one's."""
        same = [j for j in means.index if j[1] == i[1] and j != i]
        return (bool(same) and all(means.at[i, metric] > means.at[j, metric] for j in same)
                and all(lo.at[i, metric] > hi.at[j, metric] for j in same))

    def bold(col):
        if col.name == "params":
            return [""] * len(col)
        return ["font-weight: bold" if resolved_best(col.name, i) else "" for i in col.index]

    return text.style.set_uuid(uuid).apply(bold, axis=0).set_table_attributes('class="gca-table"')


def styled(frame, uuid: str, formats=None, precision: int = 4):
    """A plain table for the book: no index, fixed uuid (deterministic HTML), ``gca-table`` class.
    Cells are text, HTML-escaped (a p-value prints as ``<0.001``)."""
    sty = frame.style.hide(axis="index").set_uuid(uuid).set_table_attributes('class="gca-table"')
    sty = sty.format(precision=precision, na_rep="n/a", escape="html")  # "+nan" would read as a number
    sty = sty.format(formats, na_rep="n/a", escape="html") if formats else sty
    # Text columns (variants, settings, sources) get the class ``gca-text``: the book's CSS lets them
    # wrap when the table is wider than its column, while numbers and intervals stay whole.
    from pandas.api.types import is_string_dtype

    text = [c for c in frame.columns if is_string_dtype(frame[c])
            and not frame[c].dropna().astype(str).map(_NUMBERLIKE.match).any()]
    if text and len(frame):
        classes = frame.map(lambda _: "").astype(object)
        classes.loc[:, text] = "gca-text"
        sty = sty.set_td_classes(classes)
    return sty


def paper_comparison(ours, cells, variant: str = "GCA[1]-sigmoid,True"):
    """The paper's quoted table cells beside our value of the same metric for ``variant``
    (both protocols, both domains where the paper does not name one)."""
    import pandas as pd

    rows = []
    for c in cells.itertuples():
        domains = [c.domain] if c.domain else ["A", "B"]
        for protocol in ("full", "sampled"):
            for dom in domains:
                hit = ours[(ours["variant"] == variant) & (ours["protocol"] == protocol)
                           & (ours["domain"] == dom) & (ours["metric"] == c.metric)]
                mean = float(hit["mean"].iloc[0]) if len(hit) else float("nan")
                ci = f"[{hit['ci_lo'].iloc[0]:.4f}, {hit['ci_hi'].iloc[0]:.4f}]" if len(hit) else ""
                rows.append({"metric": c.metric, "paper domain": c.domain or "not stated",
                             "paper (ABXI, Food-Kitchen)": c.value, "ours: protocol": protocol,
                             "ours: domain": dom, "ours: mean": round(mean, 4), "ours: 95 % CI": ci})
    return pd.DataFrame(rows)
