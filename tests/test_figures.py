"""Figure builders, notebook helpers and the packaged paper numbers, without training anything."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gca_lite import analysis as A
from gca_lite import figures as F
from gca_lite.paper import load_paper_numbers, paper_cells, paper_correlations, paper_scaling


# ----------------------------------------------------------------------------- paper numbers
def test_paper_numbers_are_packaged_and_complete():
    frame = load_paper_numbers()
    assert len(frame) == 138
    assert set(frame["source"]) == {"paper-summary", "author-blog-figure", "abxi-readme"}
    cells = paper_cells(frame)
    assert dict(zip(cells["metric"], cells["value"])) == {"NDCG@1": 0.0815, "AUC": 0.7218}
    r = paper_correlations(frame)
    assert len(r) == 6 and r["r"].between(-1, 1).all()
    scaling = paper_scaling(frame)
    assert scaling["panel"].nunique() == 5 and set(scaling["series"]) == {"base", "GCA_early", "GCA_stack"}
    assert scaling.groupby(["panel", "domain"])["original"].sum().eq(1).all()  # one original per plot


# ----------------------------------------------------------------------------- variants
def test_all_variants_is_the_paper_grid():
    names = A.all_variants()
    assert len(names) == 17 and names[0] == "base" and len(set(names)) == 17
    assert "GCA[0,1,2]-tanh,False" in names


@pytest.mark.parametrize("name,points,gate,ln", [("GCA[1]-sigmoid,True", [1], "sigmoid", True),
                                                 ("GCA[0,1,2]-tanh,False", [0, 1, 2], "tanh", False)])
def test_variant_overrides(name, points, gate, ln):
    assert A.variant_overrides(name) == {"model.gca_points": points, "model.gca_gate": gate,
                                         "model.gca_layernorm": ln}
    assert A.variant_overrides("base") == {"model.gca_points": []}


@pytest.mark.parametrize("bad", ["GCA[3]-sigmoid,True", "GCA[1,0]-tanh,True", "GCA[1]-relu,True", "gca1", 3])
def test_bad_variant_names_the_parameter(bad):
    with pytest.raises(ValueError, match="^variants: "):
        A.variant_overrides(bad)


def test_setup_validates_parameters(tmp_path):
    with pytest.raises(ValueError, match="epochs"):
        A.Setup(store=str(tmp_path), epochs=0)
    with pytest.raises(ValueError, match="overrides"):
        A.Setup(store=str(tmp_path), overrides=[1])
    with pytest.raises(Exception, match="model.no_such_field"):
        A.Setup(store=str(tmp_path), overrides={"model.no_such_field": 1})
    setup = A.Setup(dataset="synthetic-tiny", store=str(tmp_path), epochs=3, overrides={"model.d": 16})
    cfg = setup.config("GCA[1]-tanh,False", 2)
    assert (cfg.train.epochs, cfg.train.seed, cfg.model.d, cfg.model.gca_gate) == (3, 2, 16, "tanh")
    assert cfg.model.variant_name == "GCA[1]-tanh,False"
    with pytest.raises(ValueError, match="^seeds: "):
        setup.configs(["base"], [0, "1"])
    with pytest.raises(ValueError, match="^variants .*twice"):
        setup.configs(["base", "base"], [0])


def test_layernorm_pairs():
    assert A.layernorm_pairs(["base", "GCA[1]-sigmoid,True", "GCA[1]-sigmoid,False", "GCA[0]-tanh,True"]) == \
        [("GCA[1]-sigmoid,True", "GCA[1]-sigmoid,False")]


# ----------------------------------------------------------------------------- statistics
def test_pearson_ci_and_kendall():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = -x + rng.normal(scale=0.5, size=40)
    r, lo, hi = A.pearson_ci(x, y)
    assert r == pytest.approx(np.corrcoef(x, y)[0, 1]) and -1 <= lo < r < hi < 0
    from gca_lite.experiments.stats import pearson
    assert (r, lo, hi) == pearson(x, y)[:3]  # one interval method: the results page's Fisher z
    assert math.isnan(A.pearson([1, 2], [3, 4]))  # fewer than 3 points
    assert math.isnan(A.pearson_ci([1, 1, 1], [1, 2, 3])[0])  # no spread
    assert A.kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert A.kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert A.kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)


# ----------------------------------------------------------------------------- tables and charts
def _table():
    rows = []
    for v, shift, params in (("base", 0.0, 100), ("GCA[1]-sigmoid,True", 0.01, 120)):
        for p in ("full", "sampled"):
            for d in "AB":
                for m in ("NDCG@10", "AUC"):
                    mean = 0.1 + shift + (0.5 if m == "AUC" else 0) + (0.2 if p == "sampled" else 0)
                    rows.append({"protocol": p, "variant": v, "domain": d, "metric": m, "mean": mean,
                                 "ci_lo": mean - 0.01, "ci_hi": mean + 0.02, "n_parameters": params,
                                 "diff": shift if v != "base" else np.nan, "diff_lo": shift - 0.005,
                                 "diff_hi": shift + 0.005})
    return pd.DataFrame(rows)


def test_variant_table_marks_only_a_resolved_best():
    html = F.variant_table(_table(), "full", uuid="t").to_html()
    style = html[:html.index("</style>")]
    # the GCA rows hold the best means, but their intervals overlap the base's: nothing is bold
    assert "font-weight: bold" not in style and 'class="gca-table"' in html
    clear = _table()
    clear.loc[clear["variant"] != "base", ["mean", "ci_lo", "ci_hi"]] += 0.05  # now the intervals part
    style = F.variant_table(clear, "full", uuid="t").to_html().split("</style>")[0]
    # rows: base A, base B, GCA A, GCA B; the GCA rows are bold, the params column never
    assert all(f"row{r}_col{c}" in style for r in (2, 3) for c in (0, 1))
    assert not any(f"row{r}_col" in style for r in (0, 1))
    with_params = F.variant_table(clear, "full", uuid="t", params=True).to_html()
    assert "120" in with_params and "col0" not in with_params[:with_params.index("</style>")]
    assert '0.1100<br><span class="ci">± 0.0150</span>' in html  # mean, then ± CI half-width
    assert "T_t_" in html  # fixed uuid
    assert F.variant_table(_table(), "full", uuid="t").to_html() == html  # deterministic


def test_charts_have_error_bars_and_domains():
    fig = F.ci_chart(_table(), "NDCG@10")
    assert [t.name for t in fig.data] == ["domain A", "domain B"]
    assert np.allclose(fig.data[0].error_y.array, 0.02) and np.allclose(fig.data[0].error_y.arrayminus, 0.01)
    assert list(fig.data[0].x) == ["base", "GCA[1]<br>sigmoid,True"] and fig.layout.xaxis.tickangle == 0
    # more than six variants would overlap on two lines each: one slanted line each instead
    many = pd.concat([_table().assign(variant=f"GCA[{k}]-sigmoid,True") for k in range(7)])
    fig = F.ci_chart(many, "NDCG@10")
    assert set(fig.data[0].x) == {f"GCA[{k}]-sigmoid,True" for k in range(7)} and fig.layout.xaxis.tickangle == -35
    fig = F.protocol_scatter(_table())
    assert list(fig.data[0].x) == pytest.approx([0.1, 0.11]) and list(fig.data[0].y) == pytest.approx([0.3, 0.31])
    labels = [a.text for a in fig.layout.annotations if a.showarrow]  # only base and the best are labelled
    assert labels[:2] == ["base", "best full: GCA[1]-sigmoid,True, best sampled: GCA[1]-sigmoid,True"]
    cmp = F.paper_comparison(_table(), paper_cells(), "GCA[1]-sigmoid,True")
    assert len(cmp) == 2 * 2 + 2  # NDCG@1 (domain not stated): 2 protocols x 2 domains; AUC@A: 2


def test_cos_scatter_reports_r_in_the_legend():
    pts = pd.DataFrame({"variant": ["v"] * 8, "seed": range(8), "domain": list("AAAABBBB"),  # 4 points: an interval
                        "abs_cos": [0.1, 0.2, 0.3, 0.4] * 2, "NDCG@10": [0.4, 0.3, 0.2, 0.1, 0.1, 0.2, 0.3, 0.4]})
    stats = {d: A.pearson_ci(pts[pts.domain == d].abs_cos, pts[pts.domain == d]["NDCG@10"]) for d in "AB"}
    fig = F.cos_scatter(pts, stats, paper={"A": -0.328, "B": -0.34})
    names = [t.name for t in fig.data if t.mode == "lines"]
    assert names[0].startswith("A: r = -1.000") and "paper, ABXI: -0.328" in names[0]
    assert names[1].startswith("B: r = +1.000")


def test_paper_scaling_dropdown_switches_panels():
    fig = F.paper_scaling_figure(paper_scaling())
    buttons = fig.layout.updatemenus[0].buttons
    assert len(buttons) == 5
    for b in buttons:
        vis = b.args[0]["visible"]
        assert len(vis) == len(fig.data) and sum(vis) == 3 * 2  # 3 series x 2 domains
    assert sum(bool(t.visible) for t in fig.data) == 6


# ----------------------------------------------------------------------------- explorer
def _explorer_summary(users=(3, 7), heads=2):
    """An attention summary (gca_lite.attention.compact) of made-up weights: keys interleave with
    the queries, so every query but the first sees some keys and the last row sees all of them."""
    import types

    from gca_lite.attention import compact

    rng = np.random.default_rng(0)
    modules = [{"key": f"GCA[{p}]/{d}", "point": p, "domain": d, "other": "B" if d == "A" else "A",
                "gate": 0.5} for p in (0, 1) for d in "AB"]
    cells = {}
    for u in users:
        for m in modules:
            nq, nk = 3 + u % 3, 4
            q_pos, k_pos = np.arange(nq) * 2, np.arange(nk) * 2 + 1
            allowed = k_pos[None, :] <= q_pos[:, None]
            allowed[-1] = True
            w = rng.random((heads, nq, nk)) * allowed
            w /= np.maximum(w.sum(-1, keepdims=True), 1e-12)
            cells[(u, m["key"])] = {"weights": w, "abs_cos": rng.random(nq), "has_key": allowed.any(-1),
                                    "q_pos": q_pos, "k_pos": k_pos,
                                    "q_time": np.full(nq, 1.2e9), "k_time": np.full(nk, 1.2e9)}
    data = {"users": list(users), "modules": modules, "heads": heads, "cells": cells}
    evalset = types.SimpleNamespace(seq_a=np.array([[1, 2, 0]] * 8), seq_b=np.array([[5, 0, 0]] * 8),
                                    target_domain=np.zeros(8, dtype=int))
    return compact(data, evalset, {"dataset": "synthetic-tiny"}), data


def test_attention_explorer_controls_are_independent():
    summary, data = _explorer_summary()
    fig = F.attention_explorer(summary)
    per = summary["heads"] + 1
    assert len(fig.data) == per * len(summary["modules"])
    assert [bool(t.visible) for t in fig.data] == [k < per for k in range(len(fig.data))]
    # dropdown: visibility only (one block of heatmaps + bar per module)
    buttons = fig.layout.updatemenus[0].buttons
    assert len(buttons) == len(summary["modules"])
    assert sum(buttons[2].args[0]["visible"]) == per and "z" not in buttons[2].args[0]
    # slider: data only, for every trace, never visibility; users labelled by what they are
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["3 items (2 A, 1 B), target in A"] * 2
    for step, user in zip(steps, data["users"]):
        restyle, traces = step.args
        assert "visible" not in restyle and list(traces) == list(range(len(fig.data)))
        z = np.array(restyle["z"][1], dtype=float)  # head 2 of the first module; masked keys are None
        want = data["cells"][(user, "GCA[0]/A")]["weights"][1]
        assert np.allclose(np.nan_to_num(z), want, atol=1e-3)
        assert np.isnan(z[0]).all() and not np.isnan(z[-1]).any()  # first row: all masked; prediction: none
        assert restyle["x"][0][0] == "#1 B 2008-01-10"  # position, domain, day
        assert restyle["y"][0][-1].startswith("prediction row")
    assert fig.data[per].y[0] == "#0 B 2008-01-10"  # second module: B queries A
    grey = [sh for sh in fig.layout.shapes if sh.fillcolor == F.MASKED_COLOR]  # masked cells are gaps over it
    assert [(sh.xref, sh.layer) for sh in grey] == [("x domain", "below"), ("x2 domain", "below")]


def test_attention_baselines():
    from gca_lite.attention import baselines

    summary, data = _explorer_summary()
    b = baselines(summary, "GCA[0]/A", "prediction")
    assert b["rows"] == 2 * 2  # users x heads, one prediction row each
    assert b["uniform_weight"] == pytest.approx(1 / 4)  # the prediction row sees all 4 keys
    peaks = [data["cells"][(u, "GCA[0]/A")]["weights"][h, -1].max() for u in (3, 7) for h in (0, 1)]
    assert b["largest_weight"] == pytest.approx(np.mean(peaks), abs=1e-3)
    assert 0 <= b["most_recent_top"] <= 1 and b["same_day_share"] == pytest.approx(1.0)  # one day for all


def test_explorer_widget_redraws():
    pytest.importorskip("ipywidgets")
    summary, _ = _explorer_summary()
    box = F.explorer_widget(summary, renderer="json")
    user, module, head = box.children[0].children
    module.value = "GCA[1]/B"
    head.value = 1
    user.value = 1
    assert type(box.children[1]).__name__ == "Output"  # redraws ran without error (no kernel: no capture)


def test_tables_show_missing_values_as_n_a():
    import pandas as pd

    from gca_lite.figures import styled

    html = styled(pd.DataFrame({"r": [0.5, float("nan")], "n": [3, 0]}), "t", {"r": "{:+.2f}"}).to_html()
    assert "+0.50" in html and "n/a" in html and "nan" not in html


def test_table_cells_are_escaped_text():
    import pandas as pd

    from gca_lite.figures import styled

    html = styled(pd.DataFrame({"A NDCG@10": ["+0.0016 (<0.001)*"], "x": [0.5]}), "t", {"x": "{:.1f}"}).to_html()
    assert "+0.0016 (&lt;0.001)*" in html and "(<0.001)" not in html



def test_text_columns_may_wrap_numbers_and_intervals_may_not():
    """Only text columns carry ``gca-text`` (the CSS lets those wrap); a column of numbers, of
    intervals or of bracketed points does not, even as strings."""
    import re

    import pandas as pd

    from gca_lite.figures import styled

    frame = pd.DataFrame({"variant": ["GCA[1]-sigmoid,True", "base"], "setting": ["paper, 7-min budget", None],
                          "on − off": ["-0.0024 [-0.0072, +0.0025] *", "n/a"], "point": ["[0,1,2]", "[1]"],
                          "seeds": ["0,1,2", "0"], "r": [0.5, 0.25]})
    html = styled(frame, "t").to_html()
    wrapping = {int(m) for m in re.findall(r'class="data row0 col(\d+) gca-text"', html)}
    assert wrapping == {0, 1}
    assert "gca-text" not in styled(frame[["r"]], "t").to_html()

def test_gap_vs_epochs_places_each_seed_by_the_epochs_its_base_reached():
    gaps = pd.DataFrame({
        "dataset": ["afk", "afk", "abe"], "kept in": ["one", "two", "one"], "seed": [0, 1, 0],
        "sampled A": [0.01, -0.02, 0.03], "sampled B": [0.0, 0.001, -0.004],
        "base epochs": [190, 49, 221], "variant epochs": [178, 46, 215], "variant": ["GCA[1]"] * 3})
    fig = F.gap_vs_epochs(gaps)
    # one legend entry per (variant, store); every point sits at its base epochs and its own gap
    assert [t.name for t in fig.data if t.showlegend] == ["GCA[1] · one", "GCA[1] · two"]
    points = {(t.name, t.xaxis, float(x), float(y)) for t in fig.data for x, y in zip(t.x, t.y)}
    assert ("GCA[1] · two", "x2", 49.0, -0.02) in points  # afk is the second column (datasets sorted)
    assert ("GCA[1] · one", "x", 221.0, 0.03) in points and ("GCA[1] · one", "x3", 221.0, -0.004) in points
    assert len(points) == 2 * len(gaps)
    assert {t.marker.symbol for t in fig.data} == {"circle", "square"}


def test_gap_along_training_draws_one_line_per_variant_and_seed():
    gaps = pd.DataFrame({"dataset": ["afk"] * 4, "seed": [0, 0, 1, 1], "epoch": [1, 2, 1, 2],
                         "A": [0.1, 0.2, 0.3, 0.4], "B": [0.0, -0.1, 0.0, 0.1], "variant": ["GCA[1]"] * 4})
    fig = F.gap_along_training(gaps)
    assert [t.name for t in fig.data if t.showlegend] == ["GCA[1] · seed 0", "GCA[1] · seed 1"]
    seed1_b = next(t for t in fig.data if t.name == "GCA[1] · seed 1" and t.yaxis == "y2")
    assert list(seed1_b.x) == [1, 2] and list(seed1_b.y) == [0.0, 0.1]
    assert {t.line.dash for t in fig.data} == {"solid", "dash"}
