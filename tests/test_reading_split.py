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
