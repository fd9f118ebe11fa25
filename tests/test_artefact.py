"""The same-day ordering artefact checks (experiments/artefact.py): test strata stored beside the
runs, gains per stratum, and the shuffled-minus-original gain with its verdict rule."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gca_lite.data import load_dataset
from gca_lite.data.splits import make_splits
from gca_lite.data.stats import dataset_stats
from gca_lite.experiments import artefact
from gca_lite.experiments.stats import Group

CHECKSUM = "c" * 64


def test_strata_agree_with_the_data_statistics_and_the_test_split():
    ds = load_dataset("synthetic-tiny")
    strata = artefact.target_strata(ds)
    stats = dataset_stats(ds)
    assert strata["tied"].sum() == stats["test_targets_tied"] > 0
    assert (strata["tied"] & (strata["domain"] == 1)).sum() == stats["test_targets_tied_b"]
    test = make_splits(ds).test
    assert np.array_equal(test.users, np.arange(ds.n_users))  # strata are in test-split order
    assert np.array_equal(strata["domain"], test.target_domain)
    assert strata["checksum"] == ds.checksum


def test_strata_file_round_trip_and_errors(tmp_path):
    ds = load_dataset("synthetic-tiny")
    other = load_dataset("synthetic-tiny", seed=1)  # same name, other data: stored apart
    assert artefact.read_strata(tmp_path, "synthetic-tiny", ds.checksum) is None  # none stored: no error
    path = artefact.write_strata(tmp_path, "synthetic-tiny", ds)
    path_other = artefact.write_strata(tmp_path, "synthetic-tiny", other)
    assert path != path_other and ds.checksum[:12] in path.name
    back = artefact.read_strata(tmp_path, "synthetic-tiny", ds.checksum)
    assert back["checksum"] == ds.checksum
    assert np.array_equal(back["tied"], artefact.target_strata(ds)["tied"])
    path.write_bytes(b"not an npz")
    with pytest.raises(artefact.StrataError, match=str(path)):
        artefact.read_strata(tmp_path, "synthetic-tiny", ds.checksum)
    np.savez_compressed(path, tied=np.zeros(3, bool), domain=np.zeros(4, np.int8), checksum=np.array(ds.checksum))
    with pytest.raises(artefact.StrataError, match="equal length"):
        artefact.read_strata(tmp_path, "synthetic-tiny", ds.checksum)
    path.write_bytes(path_other.read_bytes())  # a file under the wrong name
    with pytest.raises(artefact.StrataError, match="not " + ds.checksum[:12]):
        artefact.read_strata(tmp_path, "synthetic-tiny", ds.checksum)


def test_ensure_strata_writes_each_original_dataset_once(tmp_path):
    from gca_lite.config import preset

    cfg = preset("lite", "synthetic-tiny")
    paths = artefact.ensure_strata(tmp_path, [cfg, cfg])
    assert len(paths) == 1 and paths[0].exists()
    stamp = paths[0].stat().st_mtime_ns
    assert artefact.ensure_strata(tmp_path, [cfg]) == paths and paths[0].stat().st_mtime_ns == stamp
    missing = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset="afk"))
    assert artefact.ensure_strata(tmp_path, [missing], data_dir=tmp_path / "nowhere") == []


# --------------------------------------------------------------------------- fabricated runs
N = 4000
RNG_SEED = 11


def _group(variant: str, values: dict[int, np.ndarray], domain: np.ndarray, checksum: str = CHECKSUM) -> Group:
    g = Group("toy", "fam", variant, provenance={("code", checksum)})
    g.seeds = {s: {"full": (domain, {"NDCG@10": v})} for s, v in values.items()}
    return g


def _world(gain_on_tied: float, gain_on_untied: float, shuffled_gain: float):
    """Base and GCA on original and shuffled data, 2 seeds, per-user NDCG@10 with known gains."""
    rng = np.random.default_rng(RNG_SEED)
    domain = rng.integers(0, 2, N)
    tied = rng.random(N) < 0.3
    strata = {"tied": tied, "domain": domain, "checksum": CHECKSUM}
    groups, shuffled = {}, {}
    for seed in (0, 1):
        base = rng.random(N) * 0.3
        gca = base + np.where(tied, gain_on_tied, gain_on_untied) + rng.normal(0, 0.01, N)
        base_s = rng.random(N) * 0.3
        gca_s = base_s + shuffled_gain + rng.normal(0, 0.01, N)
        for store, name, v in ((groups, "base", base), (groups, "GCA", gca),
                               (shuffled, "base", base_s), (shuffled, "GCA", gca_s)):
            store.setdefault(name, {})[seed] = v
    mk = {k: _group(k, v, domain) for k, v in groups.items()}
    return mk, {k: _group(k, v, domain) for k, v in shuffled.items()}, strata


def test_a_gain_on_tied_targets_only_shows_in_the_tied_stratum_and_dies_when_shuffled():
    original, shuffled, strata = _world(gain_on_tied=0.05, gain_on_untied=0.0, shuffled_gain=0.0)
    for dom in (0, 1):
        s = artefact.stratum_gains(original, "GCA", strata, "full", dom, n_boot=300)
        assert s["tied"]["lo"] > 0.04 and s["untied"]["lo"] < 0 < s["untied"]["hi"]
        assert s["tied"]["n"] + s["untied"]["n"] == int((strata["domain"] == dom).sum())
        g = artefact.shuffle_gain(original, shuffled, "GCA", "full", dom, n_boot=300)
        assert g["seeds"] == [0, 1] and g["original"]["lo"] > 0 and g["change"]["hi"] < 0
        assert artefact.shuffle_verdict(g) == "not reproduced"


@pytest.mark.parametrize("original_gain, shuffled_gain, expected", [
    (0.02, 0.02, "reproduced"), (0.02, 0.01, "partly"), (0.02, -0.02, "not reproduced"),
    (0.0, 0.02, "not resolved"),  # no original gain: nothing to survive, however the shuffled runs do
])
def test_shuffle_verdict_rule(original_gain, shuffled_gain, expected):
    original, shuffled, _ = _world(original_gain, original_gain, shuffled_gain)
    g = artefact.shuffle_gain(original, shuffled, "GCA", "full", 0, n_boot=300)
    assert artefact.shuffle_verdict(g) == expected


def test_strata_of_other_data_are_not_applied():
    original, shuffled, strata = _world(0.02, 0.02, 0.02)
    other = {**strata, "checksum": "d" * 64}
    assert artefact.stratum_gains(original, "GCA", other, "full", 0) is None
    flipped = {**strata, "domain": 1 - strata["domain"]}
    assert artefact.stratum_gains(original, "GCA", flipped, "full", 0) is None
    assert artefact.stratum_gains(original, "GCA", None, "full", 0) is None
    assert artefact.shuffle_gain(original, {}, "GCA", "full", 0) is None  # nothing shuffled stored
    only_seed_1 = {k: _group(k, {1: g.seeds[0]["full"][1]["NDCG@10"]}, g.seeds[0]["full"][0])
                   for k, g in shuffled.items()}
    assert artefact.shuffle_gain(original, only_seed_1, "GCA", "full", 0, n_boot=100)["seeds"] == [1]


def test_shuffle_gain_pairs_only_users_whose_target_domain_agrees():
    """The shuffle can move a test target to the other domain: those users drop out of the paired
    difference instead of being compared with another user's value."""
    original, shuffled, strata = _world(0.02, 0.02, 0.02)
    moved = strata["domain"].copy()
    moved[:300] = 1 - moved[:300]
    for g in shuffled.values():
        g.seeds = {s: {"full": (moved, per["full"][1])} for s, per in g.seeds.items()}
    for dom in (0, 1):
        g = artefact.shuffle_gain(original, shuffled, "GCA", "full", dom, n_boot=100)
        assert g["n"] == int(((strata["domain"] == dom) & (moved == dom)).sum())
        assert abs(g["change"]["diff"]) < 0.005  # same gain on both: no change


def test_runs_of_a_chapter_become_groups():
    """The chapters' runs (RunResult per seed) go through the same functions as the results store."""
    from gca_lite.evaluate import RankCounts
    from gca_lite.train import RunResult

    rng = np.random.default_rng(3)
    domain = rng.integers(0, 2, 500)
    tied = rng.random(500) < 0.3
    strata = {"tied": tied, "domain": domain, "checksum": CHECKSUM}

    def result(seed, better):
        greater = rng.integers(0, 50, 500) - (better * tied * 40).astype(int)  # better ranks on tied only
        counts = RankCounts(np.maximum(greater, 0), np.zeros(500, int), np.full(500, 1000))
        record = {"seed": seed, "config": {"eval": {"tie_rule": "expected"}}, "code_version": "c",
                  "data_checksum": CHECKSUM}
        return RunResult(record, {"full": counts}, domain)

    groups = artefact.groups_from_runs({"base": [result(0, 0), result(1, 0)], "GCA": [result(0, 1), result(1, 1)]})
    assert sorted(groups["GCA"].seeds) == [0, 1]
    rows = artefact.gain_rows(groups, None, strata, "GCA", "full", metric="MRR", n_boot=200)
    assert [r["domain"] for r in rows] == ["A", "B"]
    assert all(r["shuffled data"] == "no shuffled runs" and "(n " in r["untied targets"] for r in rows)
    gains = artefact.stratum_gains(groups, "GCA", strata, "full", 0, metric="MRR", n_boot=200)
    assert gains["tied"]["lo"] > 0 and gains["untied"]["lo"] < 0 < gains["untied"]["hi"]


def test_a_change_that_flips_sign_between_seeds_is_not_called_smaller():
    original, shuffled, _ = _world(0.02, 0.02, 0.0)
    g = artefact.shuffle_gain(original, shuffled, "GCA", "full", 0, n_boot=100)
    assert len(g["change_per_seed"]) == 2 and all(c < 0 for c in g["change_per_seed"])
    assert artefact.shuffle_verdict(g) == "not reproduced"
    g["change_per_seed"] = [-0.03, +0.01]  # one seed says smaller, the other larger
    assert artefact.shuffle_verdict(g) == "not resolved"


def test_shuffle_gain_carries_each_seed_s_own_gain():
    """Per seed: the original gain, the shuffled gain and their change, so that retraining noise
    widens each interval (D16); a swap or a flipped sign of these lists would show here."""
    rng = np.random.default_rng(4)
    domain = np.zeros(N, dtype=np.int64)
    gains = {0: (0.02, 0.005), 1: (0.01, 0.004), 2: (0.03, 0.006)}  # seed: (original, shuffled)
    original, shuffled = {}, {}
    for seed, (g_orig, g_shuf) in gains.items():
        for store, gain in ((original, g_orig), (shuffled, g_shuf)):
            base = rng.random(N) * 0.3
            store.setdefault("base", {})[seed] = base
            store.setdefault("GCA", {})[seed] = base + gain
    original = {k: _group(k, v, domain) for k, v in original.items()}
    shuffled = {k: _group(k, v, domain) for k, v in shuffled.items()}
    g = artefact.shuffle_gain(original, shuffled, "GCA", "full", 0, n_boot=200)
    assert g["original"]["per_seed"] == pytest.approx([0.02, 0.01, 0.03])
    assert g["shuffled"]["per_seed"] == pytest.approx([0.005, 0.004, 0.006])
    assert g["change_per_seed"] == g["change"]["per_seed"] == pytest.approx([-0.015, -0.006, -0.024])
    assert g["original"]["seed_half"] > 0.01  # t(2) * sd 0.01 / sqrt 3
    assert g["original"]["lo"] < g["original"]["lo_users"]


@pytest.mark.parametrize("gain_on_tied, gain_on_untied, shuffled_gain, untied_word, shuffle_word", [
    (0.05, 0.05, 0.05, "holds", "holds"),
    (0.3, -0.02, 0.0, "fails", "fails"),  # the gain lives on tied targets and dies when shuffled
])
def test_check_rows_read_holds_or_fails(gain_on_tied, gain_on_untied, shuffled_gain, untied_word, shuffle_word):
    """The artefact checks are not claims of the paper, so their rows say holds / fails, never
    reproduced; the rules behind them are the claims' rules."""
    from gca_lite.experiments.verdicts import CHECK_VERDICTS, Context, claim_rows

    original, shuffled, strata = _world(gain_on_tied, gain_on_untied, shuffled_gain)
    name = "GCA[1]-sigmoid,True"
    for groups in (original, shuffled):
        groups[name] = groups.pop("GCA")
        groups[name].variant = name
        for g in groups.values():  # the claims ask for AUC too
            for per_protocol in g.seeds.values():
                per_protocol["full"][1]["AUC"] = per_protocol["full"][1]["NDCG@10"]
    ctx = Context("toy", "lite", original, [], strata=strata, shuffled=shuffled)
    rows = {r["claim"]: r["verdict"] for r in claim_rows(ctx, "full", n_boot=200) if r["claim"].startswith("check")}
    untied, shuffle = (next(v for c, v in rows.items() if key in c) for key in ("do not share", "shuffle"))
    assert untied == f"{untied_word} (provisional)" and shuffle == f"{shuffle_word} (provisional)"
    assert all(v.split(" (")[0] in CHECK_VERDICTS and "reproduced" not in v for v in rows.values())
