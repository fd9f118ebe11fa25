"""The results page's forest plot (one shared axis for every variant − base difference) and the
store cache that lets its appendix reuse the page's heavy tables."""

from __future__ import annotations

import pandas as pd

from gca_lite.experiments.page_cache import PageCache
from gca_lite.figures import SERIES_COLORS
from gca_lite.forest import forest_frame, forest_plot


def _frame():
    rows = []
    for dataset in ("afk", "abe"):
        for label, variants in (("lite", ("base", "GCA[0,1]-sigmoid,True", "GCA[1]-sigmoid,True")),
                                ("paper, 7-min budget", ("base", "GCA[1]-sigmoid,True"))):
            for v in variants:
                for dom in "AB":
                    for protocol in ("full", "sampled"):
                        diff = float("nan") if v == "base" else (0.01 if v.startswith("GCA[1]") else -0.001)
                        rows.append({"protocol": protocol, "dataset": dataset, "variant": v, "setting": f"h-{label}",
                                     "setting_label": label, "domain": dom, "metric": "NDCG@10",
                                     "vs_base_diff": diff, "vs_base_lo": diff - 0.005, "vs_base_hi": diff + 0.005})
    return pd.DataFrame(rows)


def test_forest_frame_has_one_row_per_configuration_lite_first():
    rows = forest_frame(_frame(), "full")
    assert len(rows) == 3 * 2 * 2  # 3 non-base configurations x 2 datasets x 2 domains, full protocol only
    assert list(dict.fromkeys(rows["row"])) == ["GCA[1]-sigmoid,True", "GCA[0,1]-sigmoid,True",
                                               "GCA[1]-sigmoid,True (paper, 7-min budget)"]
    assert rows.set_index("row")["resolved"].groupby(level=0).all().to_dict() == {
        "GCA[1]-sigmoid,True": True, "GCA[0,1]-sigmoid,True": False, "GCA[1]-sigmoid,True (paper, 7-min budget)": True}


def test_forest_plot_shares_one_axis_and_the_book_palette():
    fig = forest_plot(forest_frame(_frame()), highlight="GCA[1]-sigmoid,True")
    traces = [t for t in fig.data if t.type == "scatter"]
    assert len(traces) == 4  # one per dataset x domain, all on the one x axis
    assert {t.xaxis for t in traces} <= {None, "x"} and "xaxis2" not in fig.layout
    assert {t.marker.color for t in traces} == {SERIES_COLORS["afk"], SERIES_COLORS["abe"]}
    # filled where the interval excludes 0, open where it does not
    afk_a = next(t for t in traces if t.name == "afk, domain A")
    assert list(afk_a.marker.symbol) == ["circle", "circle-open", "circle"]
    assert fig.layout.yaxis.ticktext[0] == "<b>GCA[1]-sigmoid,True</b>"


def test_page_cache_computes_once_and_follows_the_store(tmp_path):
    store = tmp_path / "store"
    (store / "afk" / "run1").mkdir(parents=True)
    (store / "afk" / "run1" / "record.json").write_text("{}")
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    assert PageCache(store, n_boot=10)("table", compute) == {"n": 1}
    again = PageCache(store, n_boot=10)
    assert again("table", compute) == {"n": 1} and again.hits == ["table"] and len(calls) == 1
    assert PageCache(store, n_boot=20)("table", compute) == {"n": 2}  # other parameters: computed
    (store / "afk" / "run2").mkdir()
    (store / "afk" / "run2" / "record.json").write_text("{}")  # a new run: computed again
    assert PageCache(store, n_boot=20)("table", compute) == {"n": 3}
    assert len(list((store / "_cache" / "pages").glob("table-*.pkl"))) == 1  # one version per name kept
