"""The book's training path: the result chapters executed with ``source=train`` on synthetic-tiny
(``train_root`` of ``book_build.py``: d 16, 2 epochs, one seed, one results store shared by all
chapters and built once per session), each checked against the library and the store: the variant
table, the orthogonality chapter's Pearson r, the scaling chapter's parameter-matched sizes, the
protocols chapter's full-vs-sampled metrics and the explorer's attention rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from book_build import RESULT_CHAPTERS, TINY, TINY_RESULTS, _chapter


def _setup(book_root: Path):
    from gca_lite.analysis import Setup

    return Setup(dataset=TINY["dataset"], seed=TINY["seed"], store=str(book_root / "store"),
                 epochs=TINY_RESULTS["epochs"], overrides=TINY_RESULTS["overrides"])



def test_result_chapters_share_one_store(train_root: Path):
    from gca_lite.experiments import ResultsStore

    recs = {name: _chapter(train_root, name)[0] for name in RESULT_CHAPTERS}
    assert all(r["store"] == str(train_root / "store") and r["epochs"] == 2 for r in recs.values())
    # variants (5) + GCA[0,0], GCA[0,0,0], GCA[0,1], GCA[0,1,2] + 3 matched bases (1, 2, 3 modules)
    # + 2 shuffled = 14 distinct runs:
    # chapters reuse each other's runs instead of training them again
    n_runs = len(ResultsStore(train_root / "store").run_dirs())
    assert n_runs == len(recs["gca_variants"]["variants"]) + 4 + 3 + 2, n_runs


def test_variants_chapter_table_matches_store(train_root: Path):
    import numpy as np

    from gca_lite.analysis import per_user

    rec, _ = _chapter(train_root, "gca_variants")
    assert rec["variants"] == ["base", "GCA[0]-sigmoid,True", "GCA[1]-sigmoid,True", "GCA[1]-sigmoid,False",
                               "GCA[1]-tanh,True"]
    setup = _setup(train_root)
    for protocol in ("full", "sampled"):
        assert set(rec["table"][protocol]) == set(rec["variants"])  # notebook JSON sorts dict keys
        for variant, row in rec["table"][protocol].items():
            assert len(row) == 2 * 5  # 2 domains x NDCG@1, NDCG@10, HR@10, MRR, AUC
            assert all(0.0 <= v <= 1.0 for v in row.values())
            result = setup.results.load(setup.config(variant, 0))
            for dom in "AB":
                want = per_user([result], protocol, dom, "NDCG@10").mean()
                assert row[f"{dom}/NDCG@10"] == pytest.approx(want, abs=1e-12)
                assert row[f"{dom}/NDCG@10"] == pytest.approx(result.record["test"][protocol][f"{dom}/NDCG@10"])
    assert rec["n_parameters"]["GCA[1]-sigmoid,True"] > rec["n_parameters"]["base"]
    ln = rec["layernorm"]
    assert {(r["first"], r["second"]) for r in ln} == {("GCA[1]-sigmoid,True", "GCA[1]-sigmoid,False")}
    assert all(r["ci_lo"] <= r["diff"] <= r["ci_hi"] and 0 < r["p"] <= 1 for r in ln)
    assert rec["paper_comparison"] == []  # synthetic runs are never set beside the paper's afk cells
    assert rec["best_by_validation"] in rec["variants"][1:]
    assert np.isfinite(list(rec["vs_base_ndcg10"].values())).all()


def test_orthogonality_chapter_r_matches_recomputation(train_root: Path):
    import numpy as np

    rec, _ = _chapter(train_root, "orthogonality")
    setup = _setup(train_root)
    gca = [v for v in rec["variants"] if v != "base"]
    for dom in "AB":
        xs, ys = [], []
        for variant in gca:
            record = setup.results.load(setup.config(variant, 0)).record
            cos = [o["abs_cos"] for o in record["orthogonality"].values() if o["domain"] == dom]
            xs.append(float(np.mean(cos)))
            ys.append(record["test"]["full"][f"{dom}/NDCG@10"])
        r = rec["r"][dom]
        assert rec["n_points"][dom] == len(gca)
        assert -1.0 <= r <= 1.0
        assert r == pytest.approx(float(np.corrcoef(xs, ys)[0, 1]), abs=1e-9)
        lo, hi = rec["r_ci"][dom]
        assert -1.0 <= lo <= hi <= 1.0
        assert all(0.0 <= p["abs_cos"] <= 1.0 for p in rec["points"])
    assert rec["paper_r_abxi"] == {"A": -0.328, "B": -0.34}


def test_scaling_chapter_matched_sizes(train_root: Path):
    rec, _ = _chapter(train_root, "scaling")
    sizes = {s["GCA model"]: s for s in rec["sizes"]}
    assert list(sizes) == ["GCA[0]-sigmoid,True", "GCA[0,0]-sigmoid,True", "GCA[0,0,0]-sigmoid,True",
                           "GCA[0,1]-sigmoid,True", "GCA[0,1,2]-sigmoid,True"]
    params = [s["parameters"] for s in sizes.values()]
    assert rec["base_parameters"] < params[0] < params[1] < params[2]
    assert params[3] == params[1] and params[4] == params[2]  # size depends on the module count only
    for s in sizes.values():
        assert abs(s["relative difference"]) <= 0.01
        k = s["GCA model"].split("]")[0].count(",") + 1  # modules = insertion points listed
        assert s["matched base"] == f"base~{k}xGCA,True"
        assert f"{s['matched base']}/A" in rec["ndcg10"]
    assert len(rec["vs_matched"]) == 5 * 2
    assert rec["paper_early_wins_panels"] == {"A": 5, "B": 3}  # PAPER.md section 6.2, derived


def test_protocols_chapter_sampled_not_below_full(train_root: Path):
    rec, _ = _chapter(train_root, "protocols")
    means = rec["means"]
    for key, full in means.items():
        protocol, rest = key.split("/", 1)
        if protocol == "full" and not rest.endswith("/AUC"):
            # the sampled candidates are a subset of the full-ranking candidates: never a worse rank,
            # so never a lower HR/NDCG/MRR (AUC is a share of candidates, not monotone in the set)
            assert means[f"sampled/{rest}"] >= full - 1e-12, rest
    assert rec["best_by_validation"] in rec["variants"] and rec["best_by_validation"] != "base"
    firsts = {r["first"] for r in rec["tie_shuffle"]}
    assert firsts == {"base (shuffled)", f"{rec['best_by_validation']} (shuffled)"}
    # the artefact table: the best variant's gain per protocol x domain, every column filled
    gains = rec["artefact_gains"]
    assert [(g["protocol"], g["domain"]) for g in gains] == [(p, d) for p in ("full", "sampled") for d in "AB"]
    assert all(g["variant"] == rec["best_by_validation"] for g in gains)
    missing = ("no shuffled runs", "no common seeds", "no strata", "n/a")
    assert not any(m in str(v) for g in gains for v in g.values() for m in missing)
    assert all(-1 <= r["Kendall tau"] <= 1 for r in rec["ranks"] if r["Kendall tau"] is not None)


def test_explorer_chapter_attention_rows(train_root: Path):
    rec, nb = _chapter(train_root, "explorer")
    assert rec["modules"] == [f"GCA[{p}]/{d}" for p in (0, 1, 2) for d in "AB"]
    assert len(rec["users"]) == 8 and rec["heads"] == 2
    assert rec["rows_with_key"] > 0
    assert rec["row_sum_max_error"] < 1e-5  # every query row with a key is a distribution
    assert rec["rows_without_key_max"] == 0.0
    assert rec["probe_matches_store"] < 1e-9  # the cached weights are the stored run's
    assert all(0.0 < g < 1.0 for g in rec["gates"].values())  # sigmoid gates
    widget_cells = [c for c in nb["cells"] if "remove-output" in c["metadata"].get("tags", [])]
    assert widget_cells and "explorer_widget" in "".join(widget_cells[0]["source"])
