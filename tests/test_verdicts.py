"""Verdicts per claim: the rules, Pearson r and its within-variant form, the verdicts and the
ordering-artefact checks computed from the smoke store."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from gca_lite.experiments import ResultsStore
from gca_lite.results import rewrite_record



# ------------------------------------------------------------------------------------ verdicts
def _comp(diff, lo, hi):
    return {"diff": diff, "lo": lo, "hi": hi}


@pytest.mark.parametrize("comps,expected", [
    ([], "no runs"),
    ([_comp(.02, .01, .03), _comp(.01, .001, .02)], "reproduced"),
    ([_comp(.02, .01, .03), _comp(.0, -.01, .01)], "partly"),
    ([_comp(.02, .01, .03), _comp(-.02, -.03, -.01)], "mixed"),  # one each way
    ([_comp(.02, .01, .03), _comp(-.02, -.03, -.01), _comp(-.01, -.02, -.005)], "not reproduced"),
    ([_comp(.02, .01, .03), _comp(.01, .005, .02), _comp(-.01, -.02, -.005)], "partly"),
    ([_comp(.01, -.01, .03), _comp(-.01, -.03, .01)], "not resolved"),
    ([_comp(-.02, -.03, -.01), _comp(.0, -.01, .01)], "not reproduced"),
])
def test_verdict_rules(comps, expected):
    from gca_lite.experiments.verdicts import judge

    assert judge(comps) == expected
    flipped = [_comp(-c["diff"], -c["hi"], -c["lo"]) for c in comps]
    assert judge(flipped, direction=-1) == expected  # "lower is better" claims mirror the rule


def test_pearson_with_fisher_interval():
    from gca_lite.experiments.stats import pearson

    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = -x + 0.5 * rng.normal(size=200)
    r, lo, hi, n = pearson(x, y)
    assert n == 200 and -1 < lo < r < hi < 0 and r == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert hi - lo == pytest.approx(0.06, abs=0.03)  # Fisher z: +-1.96/sqrt(197) around r = -0.89
    assert np.isnan(pearson([1, 2, 3], [3, 2, 1])[0])  # fewer than 4 points: no interval
    # after removing group means the interval is wider (fewer degrees of freedom); NaN pairs drop out
    r2, lo2, hi2, n2 = pearson(np.append(x, np.nan), np.append(y, 1.0), groups=4)
    assert n2 == n and r2 == pytest.approx(r) and lo2 < lo and hi2 > hi
    assert np.isnan(pearson([1, 1, 1, 1], [1, 2, 3, 4])[0])  # constant x


def test_within_variant_r_sees_only_the_seed_to_seed_variation():
    import numpy as np

    from gca_lite.experiments.stats import pearson, within_variant_r

    rng = np.random.default_rng(0)
    # two variants far apart (the more orthogonal one more accurate: pooled r < 0), while inside
    # each variant a higher |cos| goes with a higher score
    x0, x1 = rng.normal(0.3, 0.02, 6), rng.normal(0.5, 0.02, 6)
    y0, y1 = 0.20 + (x0 - 0.3) + rng.normal(0, 0.002, 6), 0.10 + (x1 - 0.5) + rng.normal(0, 0.002, 6)
    x, y, labels = np.r_[x0, x1, 0.4], np.r_[y0, y1, 0.15], ["a"] * 6 + ["b"] * 6 + ["single"]
    assert pearson(x, y)[0] < -0.9
    r, lo, hi, n, k = within_variant_r(x, y, labels)
    assert (n, k) == (12, 2) and r > 0.9 and lo > 0  # the single-run variant is left out
    centred = np.r_[x0 - x0.mean(), x1 - x1.mean()], np.r_[y0 - y0.mean(), y1 - y1.mean()]
    assert r == pytest.approx(np.corrcoef(*centred)[0, 1])
    assert math.isnan(within_variant_r([0.1, 0.2], [0.3, 0.4], ["a", "b"])[0])  # no variant with two runs


def test_verdicts_from_the_smoke_store(smoke_store):
    import numpy as np

    from gca_lite.experiments.report import report_frame
    from gca_lite.experiments.verdicts import CHECK_VERDICTS, RANGE_VERDICTS, VERDICTS, verdict_frame

    v = verdict_frame(smoke_store, n_boot=200)
    assert set(v["protocol"]) == {"full", "sampled"} and set(v["dataset"]) == {"synthetic-tiny"}
    assert all(x.split(" (")[0] in VERDICTS + CHECK_VERDICTS + RANGE_VERDICTS for x in v["verdict"])
    assert all("(provisional)" in x for x in v["verdict"] if x not in ("no runs", "too few runs", "untestable"))
    assert not v["verdict"].str.startswith("too few runs (").any()  # nothing judged: nothing provisional
    first = v[(v["protocol"] == "full") & v["claim"].str.startswith("GCA variants improve NDCG@10")].iloc[0]
    assert "of 4 resolvably better" in first["evidence"]  # 2 variants x 2 domains; AUC is a claim of its own
    assert v["claim"].iloc[0].startswith("primary endpoint")  # stated first
    # the matched-base verdict quotes the same paired difference as the report
    rep = report_frame(smoke_store, metrics=("NDCG@10",), n_boot=200)
    row = rep[(rep["protocol"] == "full") & (rep["variant"] == "GCA[1]-sigmoid,True") & (rep["domain"] == "A")]
    claim = v[(v["protocol"] == "full") & v["claim"].str.contains("parameter-matched base .NDCG@10, domain A")]
    assert claim.iloc[0]["verdict"].startswith("no runs")  # the smoke grid has no GCA_early/stack model
    assert np.isfinite(row["vs_matched_diff"].iloc[0])
    # |cos| vs NDCG@10 over runs of two variants would compare the two variants' means, whatever the
    # number of seeds: the smoke store's 4 runs (2 variants x 2 seeds) are too few
    corr = v[v["claim"].str.startswith("lower |cos(X, X')| goes with higher NDCG@10")]
    assert len(corr) == 4 and (corr["verdict"] == "too few runs").all()
    assert all("4 GCA runs of 2 variants (the decision needs 4 variants)" == e for e in corr["evidence"])


def _fake_shuffled_copies(root: Path, variants=("base", "GCA[1]-sigmoid,True")) -> int:
    """Store each run of ``variants`` again as if trained on same-day-shuffled data (same ranks, so
    every shuffled-minus-original difference is exactly 0)."""
    from gca_lite.experiments.grid import config_from_dict

    made = 0
    for folder in ResultsStore(root).run_dirs():
        rec = json.loads((folder / "record.json").read_text())
        if rec["variant"] not in variants:
            continue
        rec["config"]["data"]["tie_shuffle_seed"] = 1
        rec["config_hash"] = ResultsStore.key(config_from_dict(rec["config"]))
        twin = folder.parent / rec["config_hash"]
        twin.mkdir()
        shutil.copy(folder / "ranks.npz", twin / "ranks.npz")
        rewrite_record(twin, rec)
        made += 1
    return made


def test_ordering_artefact_checks_from_the_smoke_store(smoke_store, tmp_path):
    """The sweep stores the data's test strata; with them the verdicts carry the untied-target
    check, and shuffled runs are attached to their original setting for the shuffle check. Every
    run is dated for the sweep's wall time."""
    from gca_lite.data import load_dataset
    from gca_lite.experiments import summary as S
    from gca_lite.experiments.artefact import artefact_frame, strata_path
    from gca_lite.experiments.verdicts import contexts, verdict_frame

    root = tmp_path / "store"
    shutil.copytree(smoke_store.root, root)

    def checks(v):
        return v[v["claim"].str.startswith("check")].set_index(["protocol", "claim"])

    strata = strata_path(root, "synthetic-tiny", load_dataset("synthetic-tiny").checksum)
    assert strata.is_file()  # written by the sweep
    strata.rename(strata.with_suffix(".away"))
    before = checks(verdict_frame(root, n_boot=100))
    assert set(before["verdict"]) == {"no runs"}  # no strata stored, no shuffled runs
    assert before["evidence"].str.contains("no test strata stored|no same-day-shuffle runs").all()
    strata.with_suffix(".away").rename(strata)

    assert _fake_shuffled_copies(root) == 4  # base and GCA[1] x 2 seeds
    ctxs = contexts(root)
    assert len(ctxs) == 1 and sorted(ctxs[0].shuffled) == ["GCA[1]-sigmoid,True", "base"]
    assert ctxs[0].strata is not None
    v = checks(verdict_frame(root, n_boot=100, ctxs=ctxs)).reset_index()
    untied = v[v["claim"].str.contains("do not share")]
    gained = [c for p in ("full", "sampled") for var in ("GCA[1]-sigmoid,True", "GCA[0,1,2]-tanh,False")
              for dom in (0, 1) if (c := ctxs[0].compare(var, "base", p, dom, "NDCG@10", 100)) and c["lo"] > 0]
    if not gained:  # 2-epoch models rarely resolve a gain: then there is nothing to check
        assert (untied["verdict"] == "not resolved (provisional)").all()
    shuffle = v[v["claim"].str.contains("shuffle")]
    assert len(shuffle) == 2 and shuffle["evidence"].str.contains("users whose target keeps its domain").all()
    art = artefact_frame(ctxs, n_boot=100)
    assert len(art) == 2 * 2 and art["shuffled − original"].str.startswith("+0.0000 [+0.0000, +0.0000]").all()
    assert (art["training seeds (shuffled runs)"] == "0,1").all()
    wall = S.sweep_wall(root)
    assert wall["timed runs"].sum() == len(ResultsStore(root).run_dirs()) and (wall["untimed runs"] == 0).all()
    assert 0 < wall["wall hours"].sum() <= wall["run hours"].sum()
