"""Readings of the GCA module in stored results (experiments/readings.py): which runs belong to a
reading, and that every claim is decided once per reading, on that reading's runs only."""

from __future__ import annotations

import pytest

from gca_lite.experiments import claims as C
from gca_lite.experiments import readings as R
from gca_lite.experiments.verdicts import claim_rows
from test_rules import context, decide, group

TODAY_ON, TODAY_OFF = "GCA[1]-sigmoid,True", "GCA[1]-sigmoid,False"
FFN_ON, FFN_OFF = "GCA[1]-sigmoid,True{cross_ffn4,out}", "GCA[1]-sigmoid,False{cross_ffn4}"
WIDE, FFN_WIDE = "base~1xGCA,True", "base~1xGCA,True{cross_ffn4}"


@pytest.mark.parametrize("variant,reading,plain", [
    ("base", None, "base"),
    (TODAY_ON, ("attn", "pre"), TODAY_ON),
    ("GCA[0,1]-tanh,True{out}", ("attn", "out"), "GCA[0,1]-tanh,True"),
    (TODAY_OFF, ("attn", None), TODAY_OFF),
    (FFN_ON, ("cross_ffn4", "out"), TODAY_ON),
    (FFN_OFF, ("cross_ffn4", None), TODAY_OFF),
    ("GCA[0]-sigmoid,True{self_cross_ffn,post,day}", ("self_cross_ffn", "post"), "GCA[0]-sigmoid,True{day}"),
    (WIDE, ("attn", None), WIDE),
    (FFN_WIDE, ("cross_ffn4", None), WIDE),
])
def test_a_name_gives_its_reading_and_its_plain_label(variant, reading, plain):
    assert R.of(variant) == reading and R.plain(variant) == plain


def test_readings_present_put_today_first_and_count_an_off_only_composition_once():
    assert R.present(["base"]) == [R.TODAY]
    assert R.present([FFN_ON, TODAY_ON, FFN_OFF, "base"]) == [R.TODAY, ("cross_ffn4", "out")]
    assert R.present([TODAY_ON, "GCA[1]-sigmoid,False{self_cross_ffn}"]) == [R.TODAY, ("self_cross_ffn", None)]
    assert R.describe(R.TODAY) == "attention-only module, LayerNorm before the attention"
    assert R.label(("cross_ffn4", "out")) == "cross_ffn4,out" and R.label(("cross_ffn4", None)) == "cross_ffn4"


def _two_readings():
    return context([group("base"), group(TODAY_ON, 0.02), group(TODAY_OFF, 0.0, salt=1),
                    group(FFN_ON, -0.02, salt=2), group(FFN_OFF, 0.0, salt=3),
                    group(WIDE, 0.0, salt=4), group(FFN_WIDE, 0.0, salt=5)])


def test_split_gives_each_reading_its_own_runs_under_plain_labels():
    today, ffn = R.split(_two_readings())
    assert (today.reading, ffn.reading) == (R.TODAY, ("cross_ffn4", "out"))
    assert set(today.groups) == set(ffn.groups) == {"base", TODAY_ON, TODAY_OFF, WIDE}
    assert today.groups[TODAY_ON].model.gca_block == "attn" and ffn.groups[TODAY_ON].model.gca_block == "cross_ffn4"
    assert ffn.groups[WIDE].model.matched_to == "1xGCA,True{cross_ffn4}"
    assert ffn.groups["base"] is not None and ffn.groups[TODAY_ON].variant == TODAY_ON


def test_each_reading_is_judged_on_its_own_effect():
    verdicts = {ctx.reading: decide(C.primary_endpoint, ctx) for ctx in R.split(_two_readings())}
    assert [v for v, _ in verdicts[R.TODAY]] == ["reproduced"] * 2
    assert [v for v, _ in verdicts[("cross_ffn4", "out")]] == ["not reproduced"] * 2


def test_verdict_rows_name_their_reading():
    rows = [r for ctx in R.split(_two_readings()) for r in claim_rows(ctx, "full", n_boot=50)]
    assert {r["reading"] for r in rows} == {"attn,pre", "cross_ffn4,out"}
    assert all(r["reading"] == "attn,pre" for r in claim_rows(context([group("base"), group(TODAY_ON)]), "full", 50))


# ------------------------------------------------------------------------------------ the v2 view
def _frames():
    import dataclasses

    import pandas as pd

    v2 = [r for ctx in R.split(dataclasses.replace(_two_readings(), setting="lite_v2"))
          for r in claim_rows(ctx, "full", n_boot=50)]
    v1 = claim_rows(context([group("base"), group(TODAY_ON, 0.0, noise=0.2)]), "full", 50)
    return pd.DataFrame(v1), pd.DataFrame(v2)


def test_v2_primary_endpoint_is_stated_per_dataset_reading_and_domain():
    from gca_lite.experiments import v2_view

    _, v2 = _frames()
    table = v2_view.primary(v2)
    assert list(table["reading"]) == [R.describe(R.TODAY)] * 2 + [R.describe(("cross_ffn4", "out"))] * 2
    assert list(table["domain"]) == ["A", "B", "A", "B"] and list(table["verdict"]) == ["reproduced"] * 2 + ["not reproduced"] * 2
    diffs = [float(x.split(" ")[0]) for x in table["GCA[1] − base [95 % interval]"]]
    assert all(d > 0.015 for d in diffs[:2]) and all(d < -0.015 for d in diffs[2:])
    assert all(float(m) > 0 for m in table["MDE"])


def test_v2_verdicts_sit_beside_v1_one_column_per_reading():
    from gca_lite.experiments import summary as S
    from gca_lite.experiments import v2_view

    v1, v2 = _frames()
    table = v2_view.beside(v1, v2, "afk")
    assert list(table.columns) == ["claim", "v1 (lite, 3 seeds)", "v2 · attn,pre", "v2 · cross_ffn4,out"]
    first = table.iloc[0]
    assert first["claim"].startswith("primary endpoint") and first["v1 (lite, 3 seeds)"] == "not resolved"
    assert (first["v2 · attn,pre"], first["v2 · cross_ffn4,out"]) == ("reproduced", "not reproduced")
    matrix = S.verdict_matrix(v2, "afk")  # several readings: one column each
    assert list(matrix.columns) == ["claim", "lite_v2 · attn,pre · full", "lite_v2 · cross_ffn4,out · full"]


def test_v2_status_says_sealed_until_the_choice_and_names_the_choice_after():
    from gca_lite.experiments import v2_view

    items = [{"item": "primary endpoint, today's reading", "reading": "attn,pre", "runs": 40, "stored": 12,
              "hours left": 2.0, "note": ""},
             {"item": "variant table, chosen reading", "reading": "chosen (not yet)", "runs": 100, "stored": None,
              "hours left": 10.0, "note": "projected"}]
    snap = {"items": items, "spent": {"runs": 12, "cpu_hours": 1.8, "gpu_hours": 0.0, "median_minutes": 9.0},
            "choice": None, "sealed": True}
    text = v2_view.status_markdown(snap)
    assert "12 of 140 runs stored" in text and "about 12 h" in text and "sealed" in text
    chosen = {**snap, "sealed": False, "choice": {"chosen": "cross_ffn4,out", "made_at": "2026-12-09T10:00:00+00:00"}}
    assert "reading chosen on 2026-12-09" in v2_view.status_markdown(chosen) and "sealed" not in v2_view.status_markdown(chosen)
    assert list(v2_view.status_frame(snap)["stored"]) == ["12 of 40", "—"]
    assert "(1.8 CPU h so far, about 1 h on 2 cores, median 9 min per run)" in text  # CPU and wall hours apart


def test_landing_opens_with_v2_then_labels_v1():
    from gca_lite.landing import v2_markdown

    snap = {"items": [{"item": "x", "reading": "attn,pre", "runs": 40, "stored": 40, "hours left": 0.0, "note": ""}],
            "spent": {"runs": 40, "cpu_hours": 6.0, "gpu_hours": 0.0, "median_minutes": 9.0},
            "choice": {"chosen": "cross_ffn4,out", "made_at": "2026-12-09T10:00:00+00:00"}, "sealed": False}
    _, v2 = _frames()
    sealed = v2_markdown({**snap, "sealed": True, "choice": None})
    assert "sealed" in sealed and "Primary endpoint" not in sealed and "40 of 40 runs stored" in sealed
    opened = v2_markdown(snap, v2)
    assert "<td>attn,pre</td>" in opened and "<td>cross_ffn4,out</td>" in opened and "Primary endpoint" in opened
    # the answer in words first, then the primary endpoint; how the reading was chosen after them
    assert opened.index("In short") < opened.index("Primary endpoint") < opened.index("reading chosen on 2026")


def test_screen_frame_gives_each_reading_its_contrasts_on_the_screen_seeds():
    import dataclasses

    from gca_lite.experiments import v2_view

    ctxs = R.split(dataclasses.replace(_two_readings(), setting="lite_v2"))
    frame = v2_view.screen_frame(ctxs, n_boot=50, seeds=(0, 1))
    today = frame[(frame["reading"] == "attn,pre") & (frame["contrast"] == "GCA − base")]
    ffn = frame[(frame["reading"] == "cross_ffn4,out") & (frame["contrast"] == "GCA − base")]
    assert list(today["seeds"]) == [2, 2] and all(today["resolved"]) and (today["diff"] > 0.015).all()
    assert all(ffn["resolved"]) and (ffn["diff"] < -0.015).all()
    ln_today = frame[(frame["reading"] == "attn,pre") & (frame["contrast"] == "LayerNorm on − off")]
    assert ln_today["note"].str.startswith("untestable").all() and ln_today["diff"].isna().all()
    ln_ffn = frame[(frame["reading"] == "cross_ffn4,out") & (frame["contrast"] == "LayerNorm on − off")]
    assert (ln_ffn["diff"] < -0.015).all() and ln_ffn["note"].eq("").all()  # -0.02 against 0


def test_the_fresh_seed_sentence_names_each_flip_and_its_pull():
    import pandas as pd

    from gca_lite.experiments import v2_view

    fresh = pd.DataFrame({"dataset": ["afk", "afk", "abe"], "domain": ["A", "B", "A"], "diff": [-0.0008, 0.0002, 0.001]})
    full = fresh.assign(diff=[0.0006, -0.0003, 0.002])
    text = v2_view.fresh_sentence(fresh, full)
    assert "afk A (-0.0008 on seeds 5-9, +0.0006 on all 10: the seeds the choice read pull it up)" in text
    assert "afk B (+0.0002 on seeds 5-9, -0.0003 on all 10: the seeds the choice read pull it down)" in text
    assert "abe" not in text and v2_view.fresh_sentence(fresh.iloc[2:], full.iloc[2:]) == ""
