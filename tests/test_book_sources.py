"""The book's data sources without a book build: committed summaries, chapter panels, the landing
page's answer table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


def test_data_summary_agrees_with_the_library_statistics():
    from gca_lite.book_data import data_summary, histogram
    from gca_lite.data.stats import dataset_stats
    from gca_lite.data.synthetic import load_synthetic

    ds = load_synthetic("synthetic-tiny", seed=0)
    s = data_summary(ds)
    stats = dataset_stats(ds)
    assert s["stats"] == {k: v for k, v in stats.items() if k != "name"}
    values, counts = histogram(s["lengths"])
    assert sum(counts) == ds.n_users and np.dot(values, counts) == len(ds.items)
    assert sum(s["same_day"].values()) == stats["same_timestamp_pairs"]
    assert s["same_day"]["A -> B"] == stats["same_timestamp_a_to_b"]
    assert sum(s["switch_rate_hist"]) == ds.n_users
    assert 0 <= s["a_first_days"] <= s["mixed_days"]


def test_stored_summaries_hold_the_real_same_day_artefact():
    """afk and abe: within a day every A item comes before every B item, and about a third of the
    test targets share the previous item's day (the counts the data chapter quotes)."""
    from gca_lite.book_data import stored_summaries

    stored = stored_summaries()
    assert list(stored) == ["afk", "abe"]
    for s in stored.values():
        assert s["mixed_days"] == s["a_first_days"] == s["same_day"]["A -> B"] > 1000
        assert s["same_day"]["B -> A"] == 0
        assert 0.30 < s["stats"]["test_targets_tied"] / s["stats"]["users"] < 0.34


def test_stored_panels_read_the_committed_runs_and_name_what_is_missing(tmp_path):
    from gca_lite.sources import chapter_panels

    kw = dict(dataset="synthetic-tiny", data_dir="", seed=0, store="runs/book", preset="lite", epochs=2,
              overrides={}, workers=1, seeds=[])
    panels = chapter_panels("stored", **kw)
    assert [p.name for p in panels] == ["afk", "abe"] and all(not p.train for p in panels)
    assert panels[0].seeds == [0, 1, 2] and "Nothing is trained" in panels[0].setting()
    runs = panels[0].runs(["base", "GCA[1]-sigmoid,True"])
    assert [len(r) for r in runs.values()] == [3, 3]
    matched = panels[0].matched("GCA[0,0]-sigmoid,True", 0)  # from the stored item counts, no data files
    assert panels[0].setup.results.has(matched)
    empty = chapter_panels("stored", **kw, results_store=str(tmp_path))
    with pytest.raises(LookupError, match="lacks 3 run"):
        empty[0].runs(["base"])
    trained = chapter_panels("train", **kw)
    assert trained[0].train and trained[0].seeds == [0, 1] and "synthetic data" in trained[0].setting()
    with pytest.raises(ValueError, match="source must be one of"):
        chapter_panels("both", **kw)


def _verdicts():
    rows = []
    for d in ("afk", "abe"):
        rows += [
            {"dataset": d, "setting": "lite", "protocol": "full", "claim": "GCA beats base", "paper": "it does",
             "verdict": "partly (provisional)", "evidence": "GCA[1]: +0.0010 [+0.0001, +0.0020]; more",
             # the claim registry's key number; afk has none here, so the row falls back to abe's
             "key": "—" if d == "afk" else "GCA[1] − base (NDCG@10, A): +0.0010 [+0.0001, +0.0020]"},
            {"dataset": d, "setting": "lite", "protocol": "full", "claim": "r < 0 (domain A)", "paper": "r = -0.3",
             "verdict": "reproduced" if d == "afk" else "not resolved", "evidence": "r = -0.3 [-0.5, -0.1]",
             "key": f"r ({d}, A): -0.3 [-0.5, -0.1]"},
            {"dataset": d, "setting": "lite", "protocol": "full", "claim": "r < 0 (domain B)", "paper": "r = -0.3",
             "verdict": "not resolved", "evidence": "r = -0.1 [-0.3, +0.1]", "key": "r (B)"},
            {"dataset": d, "setting": "paper", "protocol": "full", "claim": "GCA beats base", "paper": "it does",
             "verdict": "not resolved", "evidence": "n/a", "key": "—"},
        ]
    return rows


def test_answer_table_one_row_per_claim():
    from gca_lite.landing import COLUMNS, answer_table, bottom_line, rows_from_verdicts

    rows = rows_from_verdicts(_verdicts())
    assert list(rows.columns) == list(COLUMNS)
    assert list(rows["claim"]) == ["GCA beats base", "r < 0"]  # the per-domain rows are merged
    first, second = rows.iloc[0], rows.iloc[1]
    assert first["verdict"] == "partly"
    assert first["key difference (95 % interval)"] == "GCA[1] − base (NDCG@10, A): +0.0010 [+0.0001, +0.0020]"
    assert second["key difference (95 % interval)"] == "r (afk, A): -0.3 [-0.5, -0.1]"  # afk's key first
    assert second["afk"] == "A: reproduced; B: not resolved" and second["verdict"] == "reproduced / not resolved"
    html = answer_table(rows)
    assert html.count("<tr>") == 3 and 'class="gca-verdict gca-good">reproduced' in html
    assert "2 claims" in bottom_line(rows)
    with pytest.raises(ValueError, match="lack the column"):
        answer_table(pd.DataFrame({"claim": ["x"]}))


def test_key_difference_is_the_most_decisive_comparison():
    from gca_lite.experiments.rules import key_difference

    weak = {"first": "GCA[0]-sigmoid,True", "second": "base", "metric": "NDCG@10", "domain": "A",
            "diff": 0.004, "lo": -0.004, "hi": 0.012}
    strong = {**weak, "first": "GCA[1]-sigmoid,True", "diff": 0.002, "lo": 0.001, "hi": 0.003}
    assert key_difference([weak, strong]) == "GCA[1] − base (NDCG@10, A): +0.0020 [+0.0010, +0.0030]"
    assert key_difference([{**weak, "label": "own label"}]) == "own label: +0.0040 [-0.0040, +0.0120]"
    assert key_difference(None) == key_difference([{**weak, "diff": float("nan")}]) == "—"
