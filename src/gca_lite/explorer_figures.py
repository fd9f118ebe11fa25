"""The attention explorer's figures (the book's explorer chapter): a static plotly figure with a
dropdown over the GCA modules and a slider over the users, and the ipywidgets version that redraws
one user at a time. The data they draw is :mod:`gca_lite.explorer`'s (via
:func:`gca_lite.attention.compact`); :mod:`gca_lite.figures` re-exports both builders.
"""

from __future__ import annotations

import datetime as _dt

from .book import DOMAIN_COLORS
from .figures import _subplots


def _label(pos: int, dom: str, day: int) -> str:
    date = _dt.datetime.fromtimestamp(int(day) * 86_400, _dt.timezone.utc).strftime("%Y-%m-%d")
    return f"#{int(pos)} {dom} {date}"


#: Colour behind the heatmaps: masked keys (later than the query) are left out of the heatmap and
#: show it, so they cannot be mistaken for zero weights (white in the colour scale).
MASKED_COLOR = "#bdbdbd"


def attention_explorer(summary: dict, user_index: int = 0, head_labels=None):
    """Static explorer of an attention summary (:func:`gca_lite.attention.compact`).

    Top: one heatmap per head (rows = querying items, columns = the other domain's items, oldest
    first; labels ``#position domain day``); masked keys are grey (:data:`MASKED_COLOR`), the last
    row is labelled as the prediction row (it may see every key). Bottom: |cos(X, X')| per query.
    A dropdown picks the GCA module and direction (shows its gate), a slider picks the user, labelled
    by what the user is (length, domain mix, target domain); the two controls change different
    properties (visibility vs data), so they combine freely.
    """
    from .attention import user_label

    users, modules, heads = summary["users"], summary["modules"], summary["heads"]
    head_labels = head_labels or [f"head {h + 1}" for h in range(heads)]
    titles = [f"{head_labels[h]}: attention weights" for h in range(heads)] + ["|cos(X, X')| per query position"]
    specs = [[{} for _ in range(heads)], [{"colspan": heads}] + [None] * (heads - 1)]
    fig = _subplots(2, heads, titles=titles, specs=specs, row_heights=[0.64, 0.36], vertical_spacing=0.26,
                    horizontal_spacing=0.05)

    def trace_data(user, m):
        c = user["cells"][m["key"]]
        ylab = [_label(p, m["domain"], d) for p, d in zip(c["q_pos"], c["q_day"])]
        ylab[-1] = f"prediction row: {ylab[-1]}"
        xlab = [_label(p, m["other"], d) for p, d in zip(c["k_pos"], c["k_day"])]
        heat = [dict(z=c["weights"][h], x=xlab, y=ylab) for h in range(heads)]
        return heat + [dict(x=ylab, y=c["abs_cos"])]

    for mi, m in enumerate(modules):
        for h, d in enumerate(trace_data(users[user_index], m)):
            if h < heads:
                fig.add_heatmap(**d, row=1, col=h + 1, visible=mi == 0, zmin=0, zmax=1, coloraxis="coloraxis",
                                hoverongaps=False,
                                hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>")
            else:
                fig.add_bar(**d, row=2, col=1, visible=mi == 0, marker_color=DOMAIN_COLORS[m["domain"]],
                            showlegend=False, hovertemplate="%{x}<br>|cos| %{y:.3f}<extra></extra>")
    per = heads + 1

    def title(m):
        return (f"{m['key'].split('/')[0]}, {m['domain']} queries {m['other']}: gate g(α) = {m['gate']:.3f}"
                " (grey: masked, a later item)")

    buttons = [dict(label=f"{m['key'].split('/')[0]} · {m['domain']} queries {m['other']}", method="update",
                    args=[{"visible": [k // per == mi for k in range(per * len(modules))]},
                          {"title.text": title(m)}]) for mi, m in enumerate(modules)]
    steps = []
    for u in users:
        cols = [d for m in modules for d in trace_data(u, m)]
        keys = sorted({k for d in cols for k in d})
        steps.append(dict(label=user_label(u), method="restyle",
                          args=[{k: [d.get(k) for d in cols] for k in keys}, list(range(len(cols)))]))
    fig.update_layout(
        title=dict(text=title(modules[0]), y=0.985), height=840, margin=dict(t=125, b=190, l=190, r=10),
        coloraxis=dict(colorscale="Blues", cmin=0, cmax=1, colorbar=dict(title="weight", len=0.6, y=0.75)),
        updatemenus=[dict(buttons=buttons, active=0, x=0, y=1.15, xanchor="left", yanchor="top")],
        # the step labels describe users at length; they show as the slider's current value, not as
        # tick labels, which would overlap
        sliders=[dict(steps=steps, active=user_index, x=0, y=-0.34, len=1.0, font=dict(color="rgba(0,0,0,0)"),
                      currentvalue=dict(prefix="test user: ", font=dict(size=13, color="#333333")))])
    for h in range(heads):  # masked keys are gaps in the heatmap: a grey rectangle shows through
        fig.update_xaxes(showgrid=False, row=1, col=h + 1)
        fig.update_yaxes(showgrid=False, row=1, col=h + 1)
        axis = "" if h == 0 else str(h + 1)
        fig.add_shape(type="rect", xref=f"x{axis} domain", yref=f"y{axis} domain", x0=0, x1=1, y0=0, y1=1,
                      fillcolor=MASKED_COLOR, line_width=0, layer="below")
    fig.update_xaxes(tickangle=-45, tickfont_size=9)
    fig.update_yaxes(tickfont_size=9)
    for h in range(heads):  # oldest query on top; the rows are the same for every head: label them once
        fig.update_yaxes(autorange="reversed", showticklabels=h == 0, row=1, col=h + 1)
    fig.update_yaxes(title_text="|cos|", range=[0, 1], row=2, col=1)
    fig.update_annotations(font_size=12)
    return fig


def explorer_widget(summary: dict, renderer: str | None = None):
    """Live version of :func:`attention_explorer` (ipywidgets; Python callbacks, so it only works
    with a running kernel): dropdowns for user, module/direction and head. ``renderer`` is passed
    to ``fig.show`` (None: plotly's default for the running front end)."""
    import ipywidgets as W

    from .attention import user_label

    modules = {m["key"]: m for m in summary["modules"]}
    user = W.Dropdown(options=[(f"{k}: {user_label(u)}", k) for k, u in enumerate(summary["users"])],
                      description="test user")
    module = W.Dropdown(options=[(f"{k.split('/')[0]} · {m['domain']} queries {m['other']}", k)
                                 for k, m in modules.items()], description="module")
    head = W.Dropdown(options=[("all heads", -1)] + [(f"head {h + 1}", h) for h in range(summary["heads"])],
                      description="head")
    out = W.Output()

    def draw(_=None):
        m, h, u = modules[module.value], head.value, summary["users"][user.value]
        cell = u["cells"][m["key"]]
        if h >= 0:
            cell = {**cell, "weights": cell["weights"][h:h + 1]}
        sub = {**summary, "users": [{**u, "cells": {m["key"]: cell}}], "modules": [m],
               "heads": 1 if h >= 0 else summary["heads"]}
        fig = attention_explorer(sub, head_labels=[f"head {h + 1}"] if h >= 0 else None)
        fig.update_layout(sliders=[], updatemenus=[])
        with out:
            out.clear_output(wait=True)
            fig.show(renderer=renderer)

    for w in (user, module, head):
        w.observe(draw, names="value")
    draw()
    return W.VBox([W.HBox([user, module, head]), out])
