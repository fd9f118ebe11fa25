"""Every verdict rule of the claim registry on small synthetic stores: each returns each of its
labels, including the one where the claim fails (decision D14)."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from gca_lite.config import ModelConfig
from gca_lite.experiments import claims as C
from gca_lite.experiments import cos_claims
from gca_lite.experiments import variants as V
from gca_lite.experiments.context import Context
from gca_lite.experiments.rules import ABSENT, UNTESTABLE, holm, judge, mde, p_value
from gca_lite.experiments.stats import Group

N_USERS, SEEDS = 600, (0, 1, 2)
DOMAIN = np.repeat([0, 1], N_USERS // 2)


def group(variant, shift=0.0, noise=0.002, seed_sd=0.0, salt=0):
    """A group of three seeds whose per-user metrics are a shared base level plus ``shift``."""
    base = np.random.default_rng(0).uniform(0.02, 0.08, N_USERS)
    g = Group("afk", "fam", variant, model=ModelConfig(**V.parse(variant)))
    for s in SEEDS:
        rng = np.random.default_rng(1000 * salt + s + zlib.crc32(variant.encode()) % 997)  # hash() varies by process
        moved = shift + rng.normal(0, seed_sd)
        values = {m: base + moved + rng.normal(0, noise, N_USERS) for m in ("NDCG@10", "NDCG@1", "AUC")}
        g.seeds[s] = {"full": (DOMAIN, values)}
        g.runs[s] = f"{variant}-{s}"
    return g


def context(groups, **extra):
    return Context("afk", "lite", {g.variant: g for g in groups}, [], width=64, **extra)


def decide(fn, ctx, protocol="full"):
    rows = []
    fn(ctx, protocol, 200, lambda comps, verdict, evidence, *a, **k: rows.append((verdict, evidence)))
    return rows


# ------------------------------------------------------------------------------------ Holm, MDE
def _comp(diff, lo, hi):
    return {"diff": diff, "lo": lo, "hi": hi}


def test_holm_corrects_inside_a_claim_and_equals_the_interval_for_one():
    barely = _comp(0.01, 0.0005, 0.0195)  # p just under 0.05
    assert holm([barely]) == [1] and p_value(barely) < 0.05
    assert holm([barely] + [_comp(0.0, -0.01, 0.01)] * 9) == [0] * 10  # one of ten: chance level
    strong = _comp(0.05, 0.04, 0.06)
    assert holm([strong, barely]) == [1, 1]  # step down: the second is tested at 0.05 / 1
    assert holm([strong, barely, _comp(0.0, -0.01, 0.01)]) == [1, 0, 0]  # ... at 0.05 / 2 here
    assert mde(_comp(0.0, -0.01, 0.01)) == pytest.approx(0.01 * (1.959964 + 0.841621) / 1.959964)


def test_judge_reads_absent_only_when_every_interval_lies_inside_delta():
    tight = [_comp(0.0, -0.001, 0.001), _comp(0.0005, -0.0005, 0.0015)]
    assert judge(tight, deltas=[0.005, 0.005]) == ABSENT
    assert judge(tight, deltas=[0.005, 0.001]) == "not resolved"  # one interval reaches past its δ
    assert judge(tight) == "not resolved"  # no δ: no equivalence result


# ------------------------------------------------------------------------------------ primary endpoint
@pytest.mark.parametrize("shift,noise,seed_sd,expected", [
    (0.02, 0.002, 0.0, "reproduced"),
    (-0.02, 0.002, 0.0, "not reproduced"),  # the claim fails: resolvably worse
    (0.0, 0.0005, 0.0, ABSENT),  # tight around 0, well inside the paper's 14 % gain
    (0.0, 0.2, 0.0, "not resolved"),  # too noisy to tell
])
def test_primary_endpoint_labels(shift, noise, seed_sd, expected):
    ctx = context([group("base"), group(V.HEADLINE, shift, noise, seed_sd)])
    rows = decide(C.primary_endpoint, ctx)
    assert [v for v, _ in rows] == [expected, expected] and "MDE" in rows[0][1]



# ------------------------------------------------------------------------------------ best variant
@pytest.mark.parametrize("headline_shift,other_shift,expected", [
    (0.02, 0.0, "reproduced"),
    (0.0, 0.02, "not reproduced"),  # fails: another variant is resolvably better
    (0.0, 0.0, "not resolved"),  # equal variants: ranks decide nothing
])
def test_best_variant_labels(headline_shift, other_shift, expected):
    others = [v for v in V.GCA16 if v != V.HEADLINE][:4]
    ctx = context([group(V.HEADLINE, headline_shift, noise=0.01, salt=1),
                   group(others[0], other_shift, noise=0.01, salt=2),
                   *(group(v, 0.0, noise=0.01, salt=3 + k) for k, v in enumerate(others[1:]))])
    (verdict, evidence), = decide(C.best_variant, ctx)
    assert verdict == expected and "rank" in evidence


# ------------------------------------------------------------------------------------ LayerNorm
def test_layernorm_pairs_where_the_flag_is_inert_are_untestable():
    inert = context([group("GCA[1]-sigmoid,True"), group("GCA[1]-sigmoid,False", 0.02)])
    (verdict, evidence), = decide(C.layernorm_helps, inert)
    assert verdict == UNTESTABLE and "inert" in evidence  # a resolved difference there is not the flag's
    live = context([group("GCA[0]-sigmoid,True", -0.02), group("GCA[0]-sigmoid,False")])
    assert decide(C.layernorm_helps, live)[0][0] == "not reproduced"
    live = context([group("GCA[0]-sigmoid,True", 0.02), group("GCA[0]-sigmoid,False")])
    assert decide(C.layernorm_helps, live)[0][0] == "reproduced"


# ------------------------------------------------------------------------------------ |cos| per module
@pytest.mark.parametrize("values,expected", [((0.1, 0.2), "reproduced"), ((0.1, 0.55), "partly"),
                                             ((0.6, 0.7), "not reproduced")])
def test_cos_range_is_judged_per_module(values, expected):
    probe = {f"GCA[{k}]/A": {"domain": "A", "abs_cos": x, "abs_cos_last": x} for k, x in enumerate(values)}
    ctx = context([group("GCA[0,1]-sigmoid,True")], modules=[("GCA[0,1]-sigmoid,True", 0, probe)])
    (verdict, evidence), = decide(cos_claims.cos_in_range, ctx)
    assert verdict == expected and "chance" in evidence  # the mean 0.325 of (0.1, 0.55) would hide it


# ------------------------------------------------------------------------------------ |cos| and accuracy
def _points(across: float, within: float):
    rng = np.random.default_rng(0)
    rows = []
    for v in range(6):
        for s in range(4):
            x = 0.1 + 0.05 * v + 0.01 * s
            y = 0.05 + across * 0.05 * v + within * 0.01 * s + rng.normal(0, 1e-5)
            rows += [{"variant": f"GCA[{v}]", "seed": s, "domain": d, "abs_cos": x, "NDCG@10": y} for d in "AB"]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("across,within,expected", [(-1, -1, "reproduced"), (1, 1, "not reproduced"),
                                                    (-1, 1, "mixed"), (-1, 0, "partly")])
def test_cos_accuracy_is_decided_over_variant_means_and_within_variants(monkeypatch, across, within, expected):
    points = _points(across, within)
    if within == 0:
        points["NDCG@10"] += np.random.default_rng(1).normal(0, 0.002, len(points))  # within: noise only
        points["NDCG@10"] += points["variant"].str[4].astype(int) * across * 0.05  # keep the means apart
    monkeypatch.setattr(cos_claims, "orthogonality_points", lambda ctx, protocol, metric: points)
    ctx = context([], histories=[(f"GCA[{v}]", s, 40 + (v * 7 + s * 3) % 11, []) for v in range(6) for s in range(4)])
    rows = decide(cos_claims.cos_goes_with_accuracy, ctx)
    assert [v for v, _ in rows] == [expected] * 2 and "pooled" in rows[0][1]


# ------------------------------------------------------------------------------------ Figure 1(b)
def _history(sign: float, noise: float, rng):
    out = []
    for epoch in range(1, 11):
        score = 0.01 * epoch
        cos = 0.3 + sign * 0.01 * epoch + rng.normal(0, noise)
        out.append((epoch, {"GCA[0]/A": {"domain": "A", "abs_cos": cos}, "GCA[0]/B": {"domain": "B", "abs_cos": cos}},
                    {"full": {"A": score, "B": score}, "sampled": {"A": score, "B": score}}))
    return out


@pytest.mark.parametrize("sign,noise,expected", [(-1, 0.001, "reproduced"), (1, 0.001, "not reproduced"),
                                                 (0, 0.05, "not resolved")])
def test_orthogonality_over_training(sign, noise, expected):
    rng = np.random.default_rng(0)
    ctx = context([], histories=[("GCA[0]-sigmoid,True", s, 10, _history(sign, noise, rng)) for s in range(6)])
    assert [v for v, _ in decide(cos_claims.cos_over_training, ctx)] == [expected] * 2
    assert [v for v, _ in decide(cos_claims.cos_over_training, ctx, "sampled")] == [expected] * 2


# ------------------------------------------------------------------------------------ the registry
def test_every_claim_is_registered_once_with_a_known_kind():
    wordings = [c.wording for c in C.CLAIMS]
    assert len(set(wordings)) == len(wordings) and wordings[0].startswith("primary endpoint")
    assert {c.kind for c in C.CLAIMS} == {"claim", "range", "check"}
    assert C.kind(C.RANGE_CLAIM) == "range" and C.kind(C.CLAIMS[-1].wording) == "check"
