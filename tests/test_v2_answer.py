"""The pre-registered answer (experiments/v2_answer.py): book/preregistration.md's "What counts
against the paper", on synthetic verdict rows."""

from __future__ import annotations

import pandas as pd

from gca_lite.experiments.v2_answer import against_paper, dataset_state, in_words

HEAD = "primary endpoint: GCA[1]-sigmoid,True − base in test NDCG@10 (domain {}; the full-ranking cell)"
MATCHED = "base + GCA beats the parameter-matched base (NDCG@10, domain {})"
BOTH = ("afk", "abe")


def _frame(rows, reading="x,out"):
    return pd.DataFrame([{"dataset": ds, "setting": "lite_v2", "reading": reading, "protocol": "full",
                          "claim": claim, "verdict": v} for ds, claim, v in rows])


def _answers(rows, items=None):
    return list(against_paper(_frame(rows), "x,out", items)["counts"])


def test_each_claim_counts_as_the_page_says():
    rows = [(ds, HEAD.format(d), v) for ds in BOTH for d, v in (("A", "absent at the paper's size"), ("B", "not reproduced"))]
    rows += [("afk", "GCA variants improve NDCG@10 over the base model", "not reproduced"),
             ("afk", "GCA variants improve AUC over the base model", "not reproduced"),
             ("abe", "GCA variants improve NDCG@10 over the base model", "not reproduced"),
             ("abe", "GCA variants improve AUC over the base model", "reproduced")]  # AUC holds on abe: not against there
    rows += [(ds, "LayerNorm on improves every variant (NDCG@10)", "not resolved") for ds in BOTH]
    rows += [(ds, "Each further GCA module adds NDCG@10 (GCA_early and GCA_stack curves rise)", "reproduced") for ds in BOTH]
    rows += [("afk", MATCHED.format("A"), "absent at the paper's size"), ("afk", MATCHED.format("B"), "not resolved"),
             ("abe", MATCHED.format("A"), "not reproduced"), ("abe", MATCHED.format("B"), "not reproduced")]
    rows += [(ds, "check: the GCA gain over the base survives the same-day shuffle (NDCG@10)", "fails") for ds in BOTH]
    frame = against_paper(_frame(rows), "x,out")
    assert list(frame["counts"]) == ["against the paper", "mixed (against on afk only)", "neither way",
                                     "not against the paper", "mixed (against on abe only)",
                                     "qualifies the headline; never counts against by itself"]
    assert frame.loc[1, "abe"] == "NDCG@10 not reproduced; AUC reproduced"


def test_nothing_counts_before_the_registered_runs_are_there():
    rows = [(ds, HEAD.format(d), "not reproduced") for ds in BOTH for d in "AB"]
    assert _answers(rows)[0] == "against the paper"
    provisional = [(ds, c, v + (" (provisional)" if ds == "abe" else "")) for ds, c, v in rows]
    assert _answers(provisional)[0] == "not judged yet (provisional or missing runs)"
    assert _answers(rows[:2])[0] == "not judged yet (provisional or missing runs)"  # abe: no runs
    items = [{"item": "primary endpoint, chosen reading", "runs": 20, "stored": 10, "note": ""},
             {"item": "scaling curves, chosen reading", "runs": 0, "stored": 0, "note": "dropped by the cut rule"}]
    answers = _answers(rows, items)
    assert answers[0] == "not judged yet (primary endpoint: 10 of 20 runs)"
    assert answers[3] == answers[4] == "not judged (the cut rule dropped its runs)"
    assert _answers(rows, [{**items[0], "stored": 20}])[0] == "against the paper"
    # only the chosen reading's rows count; a frame with none at all gives no answer, and no error
    assert list(against_paper(_frame(rows, reading="attn,pre"), "x,out")["counts"])[0].startswith("not judged yet")
    assert list(against_paper(pd.DataFrame(), "x,out")["counts"])[0].startswith("not judged yet")


def test_dataset_state_reads_every_row_of_a_claim():
    assert dataset_state(["not reproduced", "absent at the paper's size"], ("not reproduced", "absent at the paper's size")) == "against"
    assert dataset_state(["not reproduced", "not resolved"], ("not reproduced",)) == "neither"  # part against
    assert dataset_state(["not reproduced", "partly"], ("not reproduced",)) == "not against"
    assert dataset_state(["untestable", "not resolved"], ("not reproduced",)) == "neither"
    assert dataset_state([], ("not reproduced",)) == "unjudged"


def test_the_answer_in_words_follows_the_table():
    rows = [(ds, HEAD.format(d), "absent at the paper's size") for ds in BOTH for d in "AB"]
    rows += [(ds, MATCHED.format(d), "not reproduced") for ds in BOTH for d in "AB"]
    items = [{"item": "variant table, chosen reading", "runs": 140, "stored": 0, "note": ""}]
    answer = against_paper(_frame(rows, reading="attn,pre"), "attn,pre", items)
    text = in_words(answer, "attn,pre")
    assert text.startswith("**In short: the pre-registered headline test counts against the paper.**")
    assert "(v1's attention-only module" in text and "as large as the paper's would have shown on afk and abe, and none did" in text
    # the other claims: 2 wait for the variant table, 1 counts against, 1 has no runs; the shuffle check is no claim
    assert text.endswith("Of the 4 other pre-registered claims, 3 are not judged yet and 1 counts against it.")
    # with the primary rows: how much of the paper's gain the intervals still allow (the largest upper
    # bound over δ: 0.0037 / 0.0065 on afk); a scope sentence goes between the headline and the rest
    primary = pd.DataFrame({"diff": [0.0006, -0.0003], "lo": [-0.0025, -0.0015], "hi": [0.0037, 0.0010],
                            "delta": [0.0065, 0.0042]})
    text = in_words(answer, "attn,pre", primary, scope="These are lite runs.")
    assert "and none did; the 95 % intervals still allow gains of up to 57 % of it. These are lite runs. Of the 4" in text
    assert "still allow" not in in_words(answer, "attn,pre", primary.assign(delta=[float("nan"), 0.0042]))
    resolved = [(ds, c, "not reproduced" if "domain A" in c else v) for ds, c, v in rows]
    assert "reads absent at the paper's size / not reproduced" in in_words(against_paper(_frame(resolved, reading="cross_ffn4,out"), "cross_ffn4,out"), "cross_ffn4,out")
    mixed = [(ds, c, "reproduced" if ds == "abe" and "primary" in c else v) for ds, c, v in rows]
    text = in_words(against_paper(_frame(mixed, reading="cross_ffn4,out"), "cross_ffn4,out"), "cross_ffn4,out")
    assert text.startswith("**In short: the pre-registered headline test is mixed** (against on afk only)")
    assert "v1's module" not in text and "abe reproduced" in text
