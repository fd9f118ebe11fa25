"""One forest plot of every GCA variant's paired difference from its base, on one shared axis.

The results page used to draw one chart per dataset, preset and protocol, each with its own
y-scale, so a reader could not see at a glance which differences are large and which are resolved.
:func:`forest_frame` takes the rows of ``report.report_frame`` (``vs_base_diff`` with its 95 %
interval) for one protocol and metric; :func:`forest_plot` draws them: one row per configuration
(the paper preset's rows below the lite ones), one marker per dataset and domain, coloured by
dataset from the book's one palette (``figures.SERIES_COLORS``), filled where the interval
excludes 0 and open where it does not.
"""

from __future__ import annotations

from .figures import SERIES_COLORS, _figure

#: marker of each domain: filled where the interval excludes 0, the ``-open`` symbol where not
DOMAIN_SYMBOLS = {"A": "circle", "B": "diamond"}
#: vertical offsets of the four markers of one row, so that none hides another
OFFSETS = {("afk", "A"): -0.27, ("afk", "B"): -0.09, ("abe", "A"): 0.09, ("abe", "B"): 0.27}


def forest_frame(frame, protocol: str = "full", metric: str = "NDCG@10"):
    """The variant-minus-base rows of ``frame`` (``report_frame``) for ``protocol`` and ``metric``:
    columns dataset, setting, variant, domain, diff, lo, hi, resolved and ``row`` (the label of the
    plot row: the variant, with its setting where it is not plain lite), lite rows first, then the other
    settings (same-day shuffle, paper preset), fewest modules first."""
    sub = frame[(frame["protocol"] == protocol) & (frame["metric"] == metric) & frame["vs_base_diff"].notna()]
    label = sub["setting_label"] if "setting_label" in sub else sub["setting"]
    out = sub.assign(diff=sub["vs_base_diff"], lo=sub["vs_base_lo"], hi=sub["vs_base_hi"],
                     row=[v if s == "lite" else f"{v} ({s})" for v, s in zip(sub["variant"], label)])
    out = out.assign(resolved=(out["lo"] > 0) | (out["hi"] < 0))
    rank = {r: (r.split(" (")[1] if " (" in r else "", len(r.split("-")[0]), r) for r in out["row"]}
    out = out.iloc[sorted(range(len(out)), key=lambda i: rank[out["row"].iloc[i]])]
    return out[["dataset", "setting", "variant", "domain", "diff", "lo", "hi", "resolved", "row"]].reset_index(drop=True)


def forest_plot(rows, metric: str = "NDCG@10", protocol: str = "full", highlight: str | None = None):
    """The forest plot of :func:`forest_frame`'s rows: x = the paired difference with its 95 %
    interval, one row per configuration (top to bottom), a dashed line at 0; the row ``highlight``
    (the primary endpoint's variant) has a bold label."""
    order = list(dict.fromkeys(rows["row"]))
    y_of = {r: i for i, r in enumerate(order)}
    fig = _figure(height=160 + 26 * len(order), margin=dict(l=10, r=20, t=80, b=70),
                  title=f"Every variant − its base: test {metric}, {protocol} ranking (filled: resolved)",
                  xaxis_title=f"Δ {metric} vs base, 95 % interval (paired: same users and seeds)")
    for (dataset, domain), part in rows.groupby(["dataset", "domain"], sort=False):
        y = [y_of[r] + OFFSETS.get((dataset, domain), 0.0) for r in part["row"]]
        symbol = [DOMAIN_SYMBOLS.get(domain, "circle") + ("" if ok else "-open") for ok in part["resolved"]]
        colour = SERIES_COLORS.get(dataset, "#555555")
        fig.add_scatter(x=part["diff"], y=y, mode="markers", name=f"{dataset}, domain {domain}",
                        marker=dict(color=colour, symbol=symbol, size=8, line=dict(color=colour, width=1.5)),
                        error_x=dict(type="data", symmetric=False, array=part["hi"] - part["diff"],
                                     arrayminus=part["diff"] - part["lo"], thickness=1.3, width=3, color=colour),
                        customdata=list(zip(part["row"], part["lo"], part["hi"])),
                        hovertemplate=("%{customdata[0]}<br>Δ %{x:+.4f} [%{customdata[1]:+.4f}, %{customdata[2]:+.4f}]"
                                       f"<extra>{dataset}, domain {domain}</extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="#666666")
    fig.update_yaxes(tickvals=list(range(len(order))),
                     ticktext=[f"<b>{r}</b>" if r == highlight else r for r in order], autorange="reversed",
                     showgrid=False, zeroline=False, automargin=True, range=[len(order) - 0.5, -0.5])
    fig.update_xaxes(zeroline=False, tickformat="+.3f")
    fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=1.0, yanchor="bottom"))
    return fig
