"""Seed-aware intervals (decision D16): a paired difference's interval covers the test users and,
with two or more training seeds, the seed-to-seed spread of the paired means."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gca_lite.experiments.stats import Group, compare, t975, with_seed_spread
from gca_lite.experiments.verdicts import judge

N = 3000


def _group(variant: str, values: dict[int, np.ndarray], domain: np.ndarray | None = None) -> Group:
    domain = np.zeros(N, dtype=np.int64) if domain is None else domain
    g = Group("toy", "fam", variant, provenance={("code", "c" * 64)})
    g.seeds = {s: {"full": (domain, {"NDCG@10": v, "AUC": v})} for s, v in values.items()}
    return g


def _pair(seed_gains: list[float], noise: float = 0.002, rng_seed: int = 3):
    """Base and variant over len(seed_gains) seeds; the variant's gain at seed s is seed_gains[s]."""
    rng = np.random.default_rng(rng_seed)
    base, gca = {}, {}
    for s, gain in enumerate(seed_gains):
        base[s] = rng.random(N) * 0.3
        gca[s] = base[s] + gain + rng.normal(0, noise, N)
    return _group("GCA", gca), _group("base", base)


def test_t_quantiles_match_tables():
    assert t975(1) == pytest.approx(12.706) and t975(2) == pytest.approx(4.303)
    for df, exact in ((12, 2.179), (20, 2.086), (60, 2.000), (1000, 1.962)):
        assert t975(df) == pytest.approx(exact, abs=2e-3)
    with pytest.raises(ValueError, match="df >= 1"):
        t975(0)


def test_one_seed_or_identical_seeds_keep_the_user_interval():
    users = {"diff": 0.01, "lo": 0.004, "hi": 0.017, "p": 0.01}
    one = with_seed_spread(users, [0.01])
    assert (one["lo"], one["hi"]) == (0.004, 0.017) and math.isnan(one["seed_half"])
    same = with_seed_spread(users, [0.01, 0.01, 0.01])
    assert (same["lo"], same["hi"]) == pytest.approx((0.004, 0.017)) and same["seed_half"] == 0


def test_the_seed_half_width_is_added_in_quadrature_to_each_side():
    users = {"diff": 0.01, "lo": 0.006, "hi": 0.013, "p": 0.01}
    per_seed = [0.0, 0.01, 0.02]  # sd 0.01
    out = with_seed_spread(users, per_seed)
    half = 4.303 * 0.01 / math.sqrt(3)
    assert out["seed_half"] == pytest.approx(half, rel=1e-4)
    assert out["lo"] == pytest.approx(0.01 - math.hypot(0.004, half), rel=1e-4)
    assert out["hi"] == pytest.approx(0.01 + math.hypot(0.003, half), rel=1e-4)
    assert (out["lo_users"], out["hi_users"]) == (0.006, 0.013)  # kept for the reader


def test_a_gain_that_flips_sign_between_seeds_is_not_resolved():
    # pooled over seeds the gain is +0.01 and resolved over users; seed by seed it is +0.04, -0.02, +0.01
    gca, base = _pair([0.04, -0.02, 0.01])
    c = compare(gca, base, "full", 0, "NDCG@10", n_boot=300, seed=0)
    assert c["diff"] == pytest.approx(0.01, abs=1e-3)
    assert c["lo_users"] > 0  # the users-only interval would call it a gain ...
    assert c["lo"] < 0 < c["hi"]  # ... the seed-aware one does not
    assert judge([c]) == "not resolved"
    assert c["per_seed"] == pytest.approx([0.04, -0.02, 0.01], abs=1e-3)


def test_a_gain_that_holds_for_every_seed_stays_resolved():
    gca, base = _pair([0.010, 0.011, 0.009])
    c = compare(gca, base, "full", 0, "NDCG@10", n_boot=300, seed=0)
    assert c["lo"] > 0 and judge([c]) == "reproduced"
    assert c["lo"] <= c["lo_users"] and c["hi"] >= c["hi_users"]  # only ever wider


def test_seeds_missing_from_one_side_are_not_paired():
    gca, base = _pair([0.01, 0.01, 0.01])
    del base.seeds[2]
    c = compare(gca, base, "full", 0, "NDCG@10", n_boot=100, seed=0)
    assert len(c["per_seed"]) == 2  # the common seeds only


def test_the_book_chapters_use_the_same_interval():
    from gca_lite import analysis

    class Run:  # the two fields analysis reads from a RunResult
        def __init__(self, seed, values):
            from gca_lite.evaluate import RankCounts

            self.record = {"seed": seed, "config": {"eval": {"tie_rule": "expected"}}, "n_parameters": 1}
            self.test_domain = np.arange(N) % 2
            # rank g of N candidates: NDCG@10 = 1 / log2(g + 2) for g < 10
            self.test_counts = {"full": RankCounts(values, np.zeros(N, np.int64), np.full(N, 100))}

    rng = np.random.default_rng(0)
    ranks = {s: rng.integers(0, 20, N) for s in range(3)}
    better = {0: np.maximum(ranks[0] - 3, 0), 1: ranks[1] + 2, 2: ranks[2]}  # helps, hurts, same
    runs = {"base": [Run(s, ranks[s]) for s in range(3)], "GCA": [Run(s, better[s]) for s in range(3)]}
    table = analysis.paired_table(runs, [("GCA", "base")], metrics=("NDCG@10",), n_boot=200)
    row = table[table["domain"] == "A"].iloc[0]
    gca, base = (_group(v, {r.record["seed"]: r.test_counts["full"].metrics()["NDCG@10"] for r in runs[v]},
                        np.arange(N) % 2) for v in ("GCA", "base"))
    c = compare(gca, base, "full", 0, "NDCG@10", n_boot=200, seed=0)
    assert (row["diff"], row["ci_lo"], row["ci_hi"]) == pytest.approx((c["diff"], c["lo"], c["hi"]))
    assert c["seed_half"] > 0


def test_a_matched_base_claim_with_sizes_missing_is_provisional_even_with_three_seeds():
    from gca_lite.experiments.verdicts import Context, claim_rows

    gca, base = _pair([0.01, 0.011, 0.012])
    gca.variant, gca.size_name = "GCA[0]-sigmoid,True", "1xGCA,True"
    matched = _group("base~1xGCA,True", {s: v["full"][1]["NDCG@10"] for s, v in base.seeds.items()})
    groups = {"base": base, "GCA[0]-sigmoid,True": gca, "base~1xGCA,True": matched}
    rows = [r for r in claim_rows(Context("toy", "lite", groups, []), "full", n_boot=100)
            if r["claim"].startswith("base + GCA beats") and r["claim"].endswith("domain A)")]
    assert rows[0]["verdict"] == "reproduced (provisional)"  # GCA[0,0], [0,0,0], [0,1], [0,1,2] missing
    assert rows[0]["runs"] == "2 of 6 configs, 3 seeds"  # 5 GCA sizes + the one matched base stored


def test_noise_budget_separates_the_users_part_from_the_seed_part():
    from gca_lite.experiments.summary import noise_budget
    from gca_lite.experiments.verdicts import Context

    steady, _ = _pair([0.01, 0.01, 0.01], rng_seed=1)
    shaky, base = _pair([0.04, -0.02, 0.01], rng_seed=1)  # same users, same base, seed-dependent gain
    rows = {}
    for name, gca in (("steady", steady), ("shaky", shaky)):
        frame = noise_budget([Context("toy", name, {"base": base, "GCA": gca}, [])], protocols=("full",),
                             n_boot=200)
        assert list(frame["domain"]) == ["A"] and frame["comparisons"].iloc[0] == 1  # no B users here
        rows[name] = frame.iloc[0]
    assert rows["shaky"]["users ±"] == pytest.approx(rows["steady"]["users ±"], rel=0.2)
    assert rows["shaky"]["seed SD"] == pytest.approx(0.03, rel=0.05)
    assert rows["steady"]["seed SD"] < 0.001
    assert rows["shaky"]["seeds needed"] > 100 > rows["steady"]["seeds needed"]


def test_noise_budget_by_variant_keeps_each_comparison_apart():
    from gca_lite.experiments.summary import noise_budget
    from gca_lite.experiments.verdicts import Context

    steady, _ = _pair([0.01, 0.01, 0.01], rng_seed=1)
    shaky, base = _pair([0.04, -0.02, 0.01], rng_seed=1)
    ctx = Context("toy", "both", {"base": base, "steady": steady, "shaky": shaky}, [])
    pooled = noise_budget([ctx], protocols=("full",), n_boot=200)
    apart = noise_budget([ctx], protocols=("full",), n_boot=200, by_variant=True).set_index("variant")
    assert len(pooled) == 1 and pooled["comparisons"].iloc[0] == 2 and "variant" not in pooled
    assert list(apart.index) == ["steady", "shaky"] and (apart["comparisons"] == 1).all()
    assert apart.loc["shaky", "seed SD"] == pytest.approx(0.03, rel=0.05) and apart.loc["steady", "seed SD"] < 0.001
    assert pooled["seed SD"].iloc[0] == pytest.approx(apart["seed SD"].median())  # the pooled row is their median
