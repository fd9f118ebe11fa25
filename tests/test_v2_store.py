"""The code that reads the v2 store, on a real (tiny) one: experiments/v2_smoke.yaml trained through
the command line, then split by reading, sealed, unsealed by a recorded choice and tabulated."""

from __future__ import annotations

import pytest

from conftest import REPO, _cli
from gca_lite.experiments import digest as D
from gca_lite.experiments import prereg, v2_view
from gca_lite.experiments.report import collect
from gca_lite.experiments.store import ResultsStore
from gca_lite.experiments.verdicts import contexts, verdict_frame


@pytest.fixture(scope="module")
def v2_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("v2") / "store"
    out = _cli("sweep", str(REPO / "experiments" / "v2_smoke.yaml"), "--store", str(root), "--workers", "2",
               "--threads", "1", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return root


def test_a_sealed_v2_store_reports_nothing_until_its_choice_is_recorded(v2_store):
    (v2_store / prereg.SEAL).write_text("{}")
    try:
        with pytest.raises(prereg.SealedError):
            contexts(v2_store)
        out = _cli("report", "--store", str(v2_store), timeout=120)
        assert out.returncode != 0 and "sealed until the reading is chosen" in out.stderr and "NDCG" not in out.stdout
        prereg.record_choice(v2_store, ("cross_ffn4", "out"), {("attn", "pre"): 0.0, ("cross_ffn4", "out"): 1.0}, 10)
        assert len(collect(ResultsStore(v2_store))) == 5
    finally:
        for name in (prereg.SEAL, prereg.CHOICE):
            (v2_store / name).unlink(missing_ok=True)


def test_the_v2_store_splits_by_reading_and_tabulates_each(v2_store):
    ctxs = contexts(v2_store)
    assert [(c.setting, c.reading) for c in ctxs] == [("lite_v2", ("attn", "pre")), ("lite_v2", ("cross_ffn4", "out"))]
    assert all(sorted(c.groups) == ["GCA[1]-sigmoid,False", "GCA[1]-sigmoid,True", "base"] for c in ctxs)
    assert ctxs[1].groups["GCA[1]-sigmoid,True"].model.gca_block == "cross_ffn4"
    verdicts = verdict_frame(v2_store, protocols=("full",), n_boot=50, ctxs=ctxs)
    assert set(verdicts["reading"]) == {"attn,pre", "cross_ffn4,out"}
    primary = v2_view.primary(verdicts)
    assert len(primary) == 4 and primary["MDE"].astype(float).gt(0).all()
    # the same rows as numbers, for sentences: they agree with the table to the digits it shows
    numbers = D.primary_numbers(verdicts)
    assert list(numbers["reading"]) == list(verdicts[verdicts["claim"].str.startswith("primary endpoint")]["reading"])
    shown = D.primary_frame(verdicts)
    for (_, n), (_, t) in zip(numbers.iterrows(), shown.iterrows()):
        assert t.iloc[3] == f"{n['diff']:+.4f} [{n['lo']:+.4f}, {n['hi']:+.4f}]" and float(t["MDE"]) == n["mde"]
        assert n["lo"] <= n["diff"] <= n["hi"]
    screen = v2_view.screen_frame(ctxs, n_boot=50, seeds=(0, 1))
    assert len(screen) == 8 and set(screen["seeds"]) == {0, 2}  # 0: today's LayerNorm pair is untestable
    beside = v2_view.beside(verdicts, verdicts, "synthetic-tiny")
    assert list(beside.columns[2:]) == ["v2 · attn,pre", "v2 · cross_ffn4,out"]


def test_once_unsealed_the_landing_page_leads_with_v2s_primary_endpoint_then_each_reading(v2_store):
    """The landing page's lead (landing.v2_markdown) and the README's tables, on the unsealed tiny store."""
    from gca_lite import landing

    prereg.record_choice(v2_store, ("cross_ffn4", "out"), {("attn", "pre"): 0.0, ("cross_ffn4", "out"): 1.0}, 10)
    try:
        verdicts = verdict_frame(v2_store, protocols=("full",), n_boot=50)
        snap = {"items": [{"item": "x", "reading": "attn,pre", "runs": 10, "stored": 10, "hours left": 0.0, "note": ""}],
                "spent": {"runs": 10, "cpu_hours": 0.01, "gpu_hours": 0.0, "median_minutes": 0.1, "machines": []},
                "choice": prereg.read_choice(v2_store), "sealed": False}
        text = landing.v2_markdown(snap, verdicts)
        from gca_lite.experiments.digest import report_markdown

        report = report_markdown(v2_store, n_boot=20, protocols=("full",))
        assert report.index("### The pre-registered answer (chosen reading cross_ffn4,out)") < report.index("### In short")
    finally:
        (v2_store / prereg.CHOICE).unlink()
    rows = landing.primary_rows(verdicts, "cross_ffn4,out")
    assert list(rows["reading"]) == ["cross_ffn4,out"] * 2 + ["attn,pre"] * 2  # the chosen reading first
    assert rows["difference [95 % interval]"].str.match(r"[+-]\d\.\d{4} \[").all()
    assert "the pre-registered headline test" in text and "<th>runs</th>" in text
    order = [text.index(s) for s in ("In short", "<th>counts</th>", 'class="gca-answer gca-primary"', "reading chosen on 20",
                                     "(`cross_ffn4,out`, the reading chosen",
                                     "(`attn,pre`, today's reading)", "**v1**'s answer")]
    assert order == sorted(order)
    assert text.count("<tr><td>primary endpoint") == 0  # stated once, in the primary table
    both = v2_view.beside_all(verdicts.assign(setting="lite"), verdicts, datasets=("synthetic-tiny",))
    assert list(both.columns) == ["claim", "v1 · synthetic-tiny", "v2 attn,pre · synthetic-tiny",
                                  "v2 cross_ffn4,out · synthetic-tiny"]
    assert landing.markdown_table(both.assign(claim="a|b")).splitlines()[2].startswith("| a\\|b | ")


def test_the_chosen_readings_fresh_seeds_are_its_own_rows(v2_store):
    ctxs = contexts(v2_store)
    fresh = v2_view.fresh_seeds(ctxs, "cross_ffn4,out", n_boot=50)  # the tiny store has seeds 0-1 only
    assert list(fresh["reading"]) == ["cross_ffn4,out"] * 2 and set(fresh["note"]) == {"runs missing"}
    assert v2_view.confirmatory(verdict_frame(v2_store, protocols=("full",), n_boot=20, ctxs=ctxs),
                                "cross_ffn4,out") == ["cross_ffn4,out", "attn,pre"]


def test_the_paper_preset_section_says_what_ran_where_and_shows_its_primary_endpoint(v2_store, tmp_path):
    """v2_view.paper_section on the tiny store standing in for results_v2_paper/: what ran where,
    then the chosen reading's primary endpoint per domain; nothing while the store holds no run."""
    assert v2_view.paper_section("attn,pre", store=str(tmp_path / "missing")) is None
    text, frame = v2_view.paper_section("cross_ffn4,out", store=str(v2_store), n_boot=20)
    assert "10 runs, synthetic-tiny on cpu" in text and "10 epochs for every run" in text and "seeds 0, 1" in text
    assert "not counted in it" in text and "No comparison yet" not in text
    assert list(frame["domain"]) == ["A", "B"] and "reading" not in frame.columns
    assert frame["runs"].eq("2 of 2 configs, 2 seeds").all()
