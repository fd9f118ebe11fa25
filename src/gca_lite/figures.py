"""Plotly figures for the book's result chapters (notebooks stay short).

Every builder takes tidy frames (:mod:`gca_lite.analysis`, :mod:`gca_lite.experiments`) and returns
a plotly ``Figure``, rendered with :func:`gca_lite.book.show` and a fixed ``div_id`` so executed
notebooks are deterministic. The styled tables live in :mod:`gca_lite.tables` and are re-exported
here. Colours: :data:`gca_lite.book.DOMAIN_COLORS` for domains A/B, :data:`SERIES_COLORS` for the
named series that recur across chapters (the same colour for GCA_early on every page), and
:data:`gca_lite.book.COLORWAY` for the rest. The attention explorer's figures are
:mod:`gca_lite.explorer_figures` (re-exported here).
"""

from __future__ import annotations

import numpy as np

from .book import COLORWAY, DOMAIN_COLORS, register_template
from .tables import paper_comparison, styled, variant_table  # noqa: F401  re-exported: notebooks call F.styled

DOMAIN_NAMES = {"A": "domain A", "B": "domain B"}
#: The one palette of the series that recur across chapters: base models, the two scaling series
#: and the two real datasets (colour-blind-safe hues distinct from the domain colours).
SERIES_COLORS = {"base": "#555555", "GCA_early": "#2a9d5c", "GCA_stack": "#c0392b",
                 "afk": "#7b5ea7", "abe": "#8c6d31"}
SERIES_STYLE = {"base": ("circle", "dash"), "GCA_early": ("square", "solid"), "GCA_stack": ("triangle-up", "solid")}


def series_style(series: str) -> tuple[str, str, str]:
    """(colour, marker symbol, line dash) of a scaling series: GCA_early, GCA_stack or a base series."""
    key = series if series in SERIES_STYLE else "base"
    return (SERIES_COLORS[key], *SERIES_STYLE[key])


def _figure(**layout):
    import plotly.graph_objects as go

    return go.Figure(layout=dict(template=register_template(), **layout))


def _subplots(rows=1, cols=2, titles=None, **kw):
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, **kw)
    fig.update_layout(template=register_template())
    return fig


# ----------------------------------------------------------------------------- CI charts
def _err(sub, center="mean", lo="ci_lo", hi="ci_hi"):
    return dict(type="data", symmetric=False, array=(sub[hi] - sub[center]).to_numpy(),
                arrayminus=(sub[center] - sub[lo]).to_numpy(), thickness=1.5, width=4)


def ci_chart(frame, metric: str = "NDCG@10", protocol: str = "full", title: str = "",
             center: str = "mean", lo: str = "ci_lo", hi: str = "ci_hi", zero_line: bool = False,
             yaxis_title: str | None = None):
    """Points with 95 % CI error bars: x = variant, one colour per domain (slightly offset)."""
    sub = frame[(frame["metric"] == metric) & (frame["protocol"] == protocol)].dropna(subset=[center])
    fig = _figure(title=title or f"{metric} ({protocol} ranking), mean and 95 % CI over test users",
                  xaxis_title=None, yaxis_title=yaxis_title or metric, scattermode="group")
    # up to 6 variants fit side by side on two lines each; more would overlap, so they go on one
    # slanted line each
    many = sub["variant"].nunique() > 6
    for dom in ("A", "B"):
        part = sub[sub["domain"] == dom]
        labels = part["variant"] if many else part["variant"].str.replace("-", "<br>", n=1, regex=False)
        fig.add_scatter(x=labels, y=part[center],
                        mode="markers", name=DOMAIN_NAMES[dom],
                        marker=dict(color=DOMAIN_COLORS[dom], size=9), error_y=_err(part, center, lo, hi),
                        customdata=part["variant"],
                        hovertemplate="%{customdata}<br>%{y:.4f}<extra>" + DOMAIN_NAMES[dom] + "</extra>")
    if zero_line:
        fig.add_hline(y=0, line_dash="dash", line_color="#666666")
    fig.update_layout(margin_b=170 if many else 120, xaxis_tickangle=-35 if many else 0)
    if many:  # the slanted labels take the space under the plot: the legend goes above it, right
        fig.update_layout(legend=dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom"))
    return fig


def _gap_grid(datasets):
    """Subplots for gaps to the base: one column per dataset, one row per domain."""
    return _subplots(2, len(datasets), titles=[f"{d}, {DOMAIN_NAMES[dom]}" for dom in "AB" for d in datasets],
                     horizontal_spacing=0.18, vertical_spacing=0.16)


def _gap_cells(datasets):
    """(row, col, domain, dataset) for every panel of a ``_gap_grid``."""
    return [(row, col, dom, dataset) for row, dom in enumerate("AB", start=1)
            for col, dataset in enumerate(datasets, start=1)]


def _finish_gap_grid(fig, x_title: str, y_title: str, **zero_line):
    fig.add_hline(y=0, line_color="#666666", **zero_line)
    # one x title for both columns: two would collide on a narrow screen; the caption carries the title
    fig.add_annotation(text=x_title, xref="paper", yref="paper", x=0.5, y=-0.1, showarrow=False, yanchor="top",
                       font_size=13)
    fig.update_yaxes(title_text=y_title, col=1)
    fig.update_yaxes(automargin=True, tickformat="+.3f")
    fig.update_layout(height=640, margin_t=40, legend=dict(orientation="h", y=-0.18, yanchor="top"))
    return fig


def gap_vs_epochs(gaps, protocol: str = "sampled", metric: str = "NDCG@10"):
    """Each seed's GCA-minus-base gap against how many epochs the base reached in its time budget:
    one panel per dataset (columns) and domain (rows), one colour per variant, one marker per store.
    ``gaps``: ``budget.gaps_by_seed`` frames concatenated, with a ``variant`` column."""
    datasets = sorted(gaps["dataset"].unique())
    fig = _gap_grid(datasets)
    shapes = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "hexagon")
    symbols = {where: shapes[k % len(shapes)] for k, where in enumerate(dict.fromkeys(gaps["kept in"]))}
    for k, variant in enumerate(dict.fromkeys(gaps["variant"])):
        for where, symbol in symbols.items():
            part = gaps[(gaps["variant"] == variant) & (gaps["kept in"] == where)]
            name = f"{variant} · {where}"
            for row, col, dom, dataset in _gap_cells(datasets):
                s = part[part["dataset"] == dataset]
                fig.add_scatter(x=s["base epochs"], y=s[f"{protocol} {dom}"], mode="markers", row=row, col=col,
                                name=name, legendgroup=name, showlegend=row == col == 1,
                                marker=dict(color=COLORWAY[k % len(COLORWAY)], symbol=symbol, size=9),
                                customdata=np.stack([s["seed"], s["variant epochs"]], axis=-1) if len(s) else None,
                                hovertemplate=(f"{variant}<br>{where}, seed %{{customdata[0]}}<br>base %{{x}} "
                                               "epochs, variant %{customdata[1]}<br>gap %{y:+.4f}<extra></extra>"))
    return _finish_gap_grid(fig, "epochs the base reached in its budget", f"Δ {metric} vs base", line_dash="dash")


def gap_along_training(gaps, metric: str = "NDCG@10"):
    """Each seed's validation gap GCA − base, epoch by epoch: one panel per dataset (columns) and
    domain (rows), one colour per (variant, seed), one dash per seed. ``gaps``:
    ``budget.gaps_along_training`` frames concatenated, with a ``variant`` column."""
    datasets = sorted(gaps["dataset"].unique())
    fig = _gap_grid(datasets)
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    for k, variant in enumerate(dict.fromkeys(gaps["variant"])):
        for seed in sorted(gaps.loc[gaps["variant"] == variant, "seed"].unique()):
            part = gaps[(gaps["variant"] == variant) & (gaps["seed"] == seed)]
            name = f"{variant} · seed {seed}"
            for row, col, dom, dataset in _gap_cells(datasets):
                s = part[part["dataset"] == dataset]
                fig.add_scatter(x=s["epoch"], y=s[dom], mode="lines", row=row, col=col, name=name,
                                legendgroup=name, showlegend=row == col == 1,
                                line=dict(color=COLORWAY[(3 * k + seed) % len(COLORWAY)],
                                          dash=dashes[seed % len(dashes)], width=1.5),
                                hovertemplate=f"{name}<br>epoch %{{x}}<br>gap %{{y:+.4f}}<extra></extra>")
    # a solid zero line: the seeds use the dashes
    return _finish_gap_grid(fig, "epoch", f"validation Δ {metric}", line_width=1)


# ----------------------------------------------------------------------------- orthogonality
def cos_scatter(points, stats, metric: str = "NDCG@10", paper=None):
    """|cos(X, X')| vs ``metric``: one panel per domain, points hover variant/seed, least-squares
    line and Pearson r [95 % CI] in the panel title; ``paper`` = {domain: r of the ABXI panel}."""
    labels = {}
    for dom in ("A", "B"):
        r, lo, hi = stats.get(dom, (np.nan, np.nan, np.nan))
        t = f"{dom}: r = {r:+.3f} [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(r) else f"{dom}: r undefined"
        if paper and dom in paper:
            t += f" (paper, ABXI: {paper[dom]:+.3f})"
        labels[dom] = t
    fig = _subplots(1, 2, titles=[DOMAIN_NAMES[d] for d in "AB"], horizontal_spacing=0.1)
    for col, dom in enumerate(("A", "B"), start=1):
        part = points[points["domain"] == dom]
        fig.add_scatter(x=part["abs_cos"], y=part[metric], mode="markers", row=1, col=col,
                        name=f"runs ({dom})", showlegend=False,
                        marker=dict(color=DOMAIN_COLORS[dom], size=9, opacity=0.8),
                        customdata=np.stack([part["variant"], part["seed"]], axis=1) if len(part) else None,
                        hovertemplate="%{customdata[0]} seed %{customdata[1]}<br>|cos| %{x:.3f}<br>"
                                      + metric + " %{y:.4f}<extra></extra>")
        if len(part) >= 3 and part["abs_cos"].std() > 0:
            slope, icpt = np.polyfit(part["abs_cos"], part[metric], 1)
            xs = np.array([part["abs_cos"].min(), part["abs_cos"].max()])
            fig.add_scatter(x=xs, y=slope * xs + icpt, mode="lines", row=1, col=col, name=labels[dom],
                            line=dict(color=DOMAIN_COLORS[dom], dash="dash"), hoverinfo="skip")
        fig.update_xaxes(title_text="|cos(X, X')|", row=1, col=col)
        fig.update_yaxes(title_text=f"test {metric}" if col == 1 else None, row=1, col=col)
    fig.update_layout(title="Orthogonality vs accuracy, one point per GCA run (legend: Pearson r, 95 % CI)",
                      height=460, margin_b=120)
    fig.update_annotations(font_size=12)
    return fig


def trajectory_figure(traj, metric: str = "NDCG@10"):
    """Per epoch (mean over seeds): |cos(X, X')| of each module (top) and validation ``metric``
    (bottom), one column per domain; the selected epoch of each run is marked on the top row."""
    fig = _subplots(2, 2, titles=[f"{DOMAIN_NAMES[d]}: |cos(X, X')|" for d in "AB"]
                    + [f"{DOMAIN_NAMES[d]}: validation {metric}" for d in "AB"],
                    shared_xaxes=True, vertical_spacing=0.12)
    series = list(dict.fromkeys(zip(traj["variant"], traj["module"])))
    variants = list(dict.fromkeys(traj["variant"]))
    for col, dom in enumerate("AB", start=1):
        part = traj[traj["domain"] == dom]
        for i, (variant, module) in enumerate(series):
            s = part[(part["variant"] == variant) & (part["module"] == module)]
            g = s.groupby("epoch", as_index=False)[["abs_cos", metric]].mean()
            color = COLORWAY[variants.index(variant) % len(COLORWAY)]
            label = variant if variant.count(",") <= 1 and module in variant else f"{variant} · {module}"
            dash = ["solid", "dot", "dash"][int(module[4]) % 3]
            fig.add_scatter(x=g["epoch"], y=g["abs_cos"], mode="lines", row=1, col=col, name=label,
                            legendgroup=label, showlegend=col == 1, line=dict(color=color, dash=dash),
                            hovertemplate=label + "<br>epoch %{x}: %{y:.3f}<extra></extra>")
            sel = s[s["selected"]]
            fig.add_scatter(x=sel["epoch"], y=sel["abs_cos"], mode="markers", row=1, col=col,
                            legendgroup=label, showlegend=False, marker=dict(color=color, symbol="star", size=9),
                            hovertemplate=label + " selected epoch %{x}<extra></extra>")
        for variant in variants:  # the metric does not depend on the module: one line per variant
            s = part[part["variant"] == variant].drop_duplicates(["seed", "epoch"])
            g = s.groupby("epoch", as_index=False)[metric].mean()
            color = COLORWAY[variants.index(variant) % len(COLORWAY)]
            fig.add_scatter(x=g["epoch"], y=g[metric], mode="lines", row=2, col=col, showlegend=False,
                            line=dict(color=color),
                            hovertemplate=variant + "<br>epoch %{x}: %{y:.4f}<extra></extra>")
    fig.update_xaxes(title_text="epoch", row=2)
    fig.update_layout(title="Training trajectories (validation probe users; star = selected epoch)",
                      height=620, margin_b=140, legend_y=-0.12)
    fig.update_annotations(font_size=12)
    return fig


# ----------------------------------------------------------------------------- scaling
def scaling_figure(points, metric: str = "NDCG@10"):
    """``metric`` vs parameter count per domain; ``points`` rows: series, variant, n_parameters,
    domain, mean, ci_lo, ci_hi. Series sharing a name are joined by a line in parameter order;
    GCA_early and GCA_stack take their colours from :data:`SERIES_COLORS`, the others (base models)
    are grey and dashed."""
    fig = _subplots(1, 2, titles=[DOMAIN_NAMES[d] for d in "AB"], horizontal_spacing=0.1)
    for series in dict.fromkeys(points["series"]):
        color, symbol, dash = series_style(series)
        for col, dom in enumerate("AB", start=1):
            s = points[(points["series"] == series) & (points["domain"] == dom)].sort_values("n_parameters")
            fig.add_scatter(x=s["n_parameters"], y=s["mean"], mode="lines+markers", row=1, col=col,
                            name=series, legendgroup=series, showlegend=col == 1, error_y=_err(s),
                            marker=dict(color=color, symbol=symbol, size=10), line=dict(color=color, dash=dash),
                            customdata=s["variant"],
                            hovertemplate="%{customdata}<br>%{x:,} parameters<br>%{y:.4f}<extra></extra>")
        fig.update_xaxes(title_text="trainable parameters")
    fig.update_yaxes(title_text=f"test {metric}", row=1, col=1)
    fig.update_layout(title=f"{metric} vs model size (mean over seeds, 95 % CI over users)", height=430)
    return fig


def paper_scaling_figure(paper, default: str = "ABXI / Food-Kitchen"):
    """The blog's digitised scaling points (``paper.paper_scaling()``) with a dropdown over panels."""
    fig = _subplots(1, 2, titles=[DOMAIN_NAMES[d] for d in "AB"], horizontal_spacing=0.1)
    panels = list(dict.fromkeys(paper["panel"]))
    styles = {series: series_style(series) for series in ("base", "GCA_early", "GCA_stack")}
    owner = []
    for panel in panels:
        for series, (color, symbol, dash) in styles.items():
            for col, dom in enumerate("AB", start=1):
                s = paper[(paper["panel"] == panel) & (paper["series"] == series)
                          & (paper["domain"] == dom)].sort_values("params_millions")
                fig.add_scatter(x=s["params_millions"], y=s["value"], mode="lines+markers", row=1, col=col,
                                name=series, legendgroup=series, showlegend=col == 1, visible=panel == default,
                                marker=dict(color=color, symbol=symbol, size=9, line=dict(
                                    color="black", width=[2 if o else 0 for o in s["original"]])),
                                line=dict(color=color, dash=dash),
                                hovertemplate=series + "<br>%{x:.2f} M<br>NDCG@10 %{y:.4f}<extra></extra>")
                owner.append(panel)
    buttons = [dict(label=p, method="update", args=[{"visible": [o == p for o in owner]},
                                                    {"title.text": f"Paper (blog Figure 3, digitised): {p}"}])
               for p in panels]
    fig.update_layout(updatemenus=[dict(buttons=buttons, active=panels.index(default), x=1, y=1.3,
                                        xanchor="right", yanchor="top")],
                      title=dict(text=f"Paper (blog Figure 3, digitised): {default}", y=0.97),
                      height=470, margin_t=120)
    fig.update_xaxes(title_text="parameters (millions)")
    fig.update_yaxes(title_text="NDCG@10", row=1, col=1)
    return fig


# ----------------------------------------------------------------------------- protocols
def protocol_scatter(frame, metric: str = "NDCG@10"):
    """Sampled-protocol vs full-ranking ``metric`` of the same runs, one panel per domain.

    Only the points a reader looks for carry a label: the base model and the best model under each
    protocol (placed left or right of the point, away from the panel's edge and from each other);
    every point names itself on hover. Labelling all of them overlaps and cuts the names."""
    fig = _subplots(1, 2, titles=[DOMAIN_NAMES[d] for d in "AB"], horizontal_spacing=0.12)
    for col, dom in enumerate("AB", start=1):
        part = frame[(frame["metric"] == metric) & (frame["domain"] == dom)]
        wide = part.pivot_table(index="variant", columns="protocol", values="mean", sort=False)
        named = {"base": "base"} if "base" in wide.index else {}
        for protocol in ("full", "sampled"):
            best = wide[protocol].idxmax()
            named[best] = f"{named[best]}, " if best in named else ""
            named[best] += f"best {protocol}: {best}" if best != "base" else f"best {protocol}"
        mid = (wide["full"].min() + wide["full"].max()) / 2
        fig.add_scatter(x=wide["full"], y=wide["sampled"], mode="markers", customdata=list(wide.index), row=1,
                        col=col, showlegend=False, marker=dict(color=DOMAIN_COLORS[dom], size=9),
                        hovertemplate="%{customdata}<br>full %{x:.4f}<br>sampled %{y:.4f}<extra></extra>")
        for k, (variant, label) in enumerate(named.items()):
            x, y = wide.loc[variant, "full"], wide.loc[variant, "sampled"]
            left = x > mid  # points on the right half get their label on the left, inside the panel
            fig.add_annotation(x=x, y=y, text=label, row=1, col=col, showarrow=True, arrowhead=0, arrowwidth=1,
                               ax=-30 if left else 30, ay=-22 - 16 * k, xanchor="right" if left else "left",
                               font=dict(size=10))
        fig.update_xaxes(title_text=f"full ranking {metric}", row=1, col=col)
        fig.update_yaxes(title_text=f"sampled {metric}", row=1, col=col)
    fig.update_layout(title=f"The same runs under both protocols ({metric}, mean over seeds)", height=470,
                      margin=dict(t=90))
    return fig


def __getattr__(name: str):
    """The attention explorer's builders live in :mod:`gca_lite.explorer_figures` (which imports this
    module, so they are re-exported lazily): notebooks call ``F.attention_explorer``."""
    if name in ("attention_explorer", "explorer_widget", "MASKED_COLOR"):
        from . import explorer_figures

        return getattr(explorer_figures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
