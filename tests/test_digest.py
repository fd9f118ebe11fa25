"""Prose computed from the store: the README's store figures (scripts/readme_counts.py) and the
``digest`` and ``contrasts`` modules behind the results page's "In short"."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest


from conftest import REPO


# ------------------------------------------------------------------ README's store figures
def _readme_counts():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_counts", REPO / "scripts" / "readme_counts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_quotes_what_the_committed_store_gives():
    """The README's answer table and primary endpoint must be what the committed store gives: a run
    committed without rewriting the README fails here."""
    out = subprocess.run([sys.executable, "scripts/readme_counts.py", "--check"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr


def test_readme_check_names_a_stale_passage(tmp_path, monkeypatch):
    module = _readme_counts()
    readme = tmp_path / "README.md"
    readme.write_text("Compute in the store: 1.0 CPU hours for the lite runs\n", encoding="utf-8")
    monkeypatch.setattr(module, "REPO", tmp_path)
    monkeypatch.setattr(module, "passages", lambda: [(r"Compute in the store: [\d.]+ CPU hours for the lite runs",
                                                      "Compute in the store: 2.5 CPU hours for the lite runs")])
    assert module.main(["--check"]) == 1
    assert module.main(["--write"]) == 0
    assert "2.5 CPU hours" in readme.read_text(encoding="utf-8") and module.main(["--check"]) == 0


def test_readme_final_verdicts_name_only_judged_cells_on_complete_runs():
    import pandas as pd

    module = _readme_counts()
    frame = pd.DataFrame({
        "dataset": ["abe", "abe", "afk", "afk", "abe"], "setting": ["lite"] * 4 + ["paper, 7-min budget"],
        "protocol": ["full", "sampled", "full", "full", "full"],
        "claim": ["Each further module adds", "Each further module adds", "LayerNorm on helps", "Best variant",
                  "Each further module adds"],
        "verdict": ["not resolved", "partly", "reproduced (provisional)", "too few runs", "reproduced"]})
    from gca_lite.experiments import digest

    text = digest.final_verdicts(frame)
    assert text.startswith("**Final verdicts.** 2 of the 4 lite verdict cells")
    assert ("Differing by dataset or protocol: each further module adds (abe: full *not resolved*, sampled "
            "*partly*).") in text
    assert text.endswith(" The others are provisional.")
    assert "afk" not in text  # provisional and "too few runs" cells are not final; paper cells are not lite
    assert "still *provisional*" in digest.final_verdicts(frame.iloc[2:4])
    # one verdict wherever a claim is final: claims are grouped by that verdict and where it holds
    same = pd.DataFrame({"dataset": ["abe", "abe", "afk", "afk", "afk"], "setting": ["lite"] * 5,
                         "protocol": ["full", "sampled", "full", "sampled", "full"],
                         "claim": ["Matched base", "Matched base", "Matched base", "Matched base", "Shuffle check"],
                         "verdict": ["not resolved"] * 4 + ["fails"]})
    text = digest.final_verdicts(same)
    assert "*Not resolved* on abe and afk under both protocols: matched base." in text
    assert "*Fails* on afk, full protocol: shuffle check." in text and "Differing" not in text
    assert text.startswith("**Final verdicts.** All 5 lite verdict cells") and "provisional" not in text
    # two claims that differ by dataset share one sentence: the second does not open a sentence in lower case
    two = same.assign(verdict=["not resolved", "partly", "fails", "fails", "fails"],
                      claim=["Matched base"] * 4 + ["Matched base B"])
    assert ("Differing by dataset or protocol: matched base (abe: full *not resolved*, sampled *partly*; afk: "
            "full *fails*, sampled *fails*).") in digest.final_verdicts(two)
    # mid-sentence a claim's first word loses its capital, unless it is a name such as GCA[1] or LayerNorm
    names = same.assign(claim=["GCA[1] is best"] * 2 + ["LayerNorm on helps"] * 2 + ["Lower |cos| helps"])
    text = digest.final_verdicts(names)
    assert "under both protocols: GCA[1] is best." in text and "under both protocols: LayerNorm on helps." in text
    assert "full protocol: lower |cos| helps." in text
    assert module._minus("A -0.0015 [-0.0076, +0.0045], seeds 0-2") == "A −0.0015 [−0.0076, +0.0045], seeds 0-2"


# ------------------------------------------------------------------ computed prose (digest)
class _FakeContext:
    """A verdicts.Context stand-in whose comparisons are given."""

    def __init__(self, comps):
        self.dataset, self.setting, self.comps, self.cos = "afk", "lite", comps, []
        self.groups = {v: types.SimpleNamespace(seeds=[0, 1, 2]) for v in ("base", *{k[0] for k in comps})}

    def compare(self, first, second, protocol, dom, metric, n_boot):
        return self.comps.get((first, second, protocol, dom, metric))


def _digest_comp(diff, lo, hi, lo_users, hi_users, seeds=3):
    return {"diff": diff, "lo": lo, "hi": hi, "lo_users": lo_users, "hi_users": hi_users,
            "per_seed": [diff] * seeds}


def test_digest_resolves_only_on_the_interval_with_retraining():
    import pandas as pd

    from gca_lite.experiments import digest

    gca1, gca00 = "GCA[1]-sigmoid,True", "GCA[0,0]-sigmoid,True"
    comps = {(gca1, "base", "full", 0, "NDCG@10"): _digest_comp(0.004, -0.001, 0.009, 0.002, 0.006),
             (gca1, "base", "full", 1, "NDCG@10"): _digest_comp(-0.001, -0.004, 0.002, -0.003, 0.001),
             (gca00, "base", "sampled", 1, "NDCG@10"): _digest_comp(0.006, 0.001, 0.011, 0.003, 0.009, 2)}
    ctx = _FakeContext(comps)
    assert digest.against_base(ctx, "NDCG@10") == ["GCA[0,0] sampled B +0.0060 [+0.0010, +0.0110] (2 seeds)"]
    assert len(digest.against_base(ctx, "NDCG@10", users_only=True)) == 2
    text = " ".join(digest.findings(ctx, pd.DataFrame(), pd.DataFrame()))
    # the users-only interval is quoted where it alone would resolve the difference
    assert text.startswith("Paired test NDCG@10, full ranking: GCA[1] − base: A +0.0040 [-0.0010, +0.0090] "
                           "(users only [+0.0020, +0.0060]), B -0.0010 [-0.0040, +0.0020].")
    assert ("Resolved AUC differences of a GCA variant from the base, each at 95 % before the verdicts' Holm "
            "correction (both protocols): none.") in text
    assert digest.seeds_label("0,2") == "seeds 0, 2" and digest.seeds_label("3") == "seed 3"



def test_noise_bullet_counts_one_seed_differences_apart(monkeypatch):
    """The retraining-noise bullet compares intervals with and without retraining, so a difference
    over one seed (where only the users-only interval exists) is counted apart, not as one that
    survives retraining."""
    import pandas as pd

    from gca_lite.experiments import digest

    gca1, gca00, off = "GCA[1]-sigmoid,True", "GCA[0,0]-sigmoid,True", "GCA[0,1,2]-sigmoid,False"
    comps = {(gca1, "base", "full", 0, "NDCG@10"): _digest_comp(0.004, -0.001, 0.009, 0.002, 0.006),
             (gca00, "base", "sampled", 1, "NDCG@10"): _digest_comp(0.006, 0.001, 0.011, 0.003, 0.009),
             (off, "base", "full", 1, "NDCG@10"): _digest_comp(-0.004, -0.008, -0.001, -0.008, -0.001, 1)}
    ctx = _FakeContext(comps)
    assert digest.against_base(ctx, "NDCG@10", min_seeds=2) == ["GCA[0,0] sampled B +0.0060 [+0.0010, +0.0110]"]
    assert len(digest.against_base(ctx, "NDCG@10")) == 2  # the one-seed difference is resolved, users only
    noise = pd.DataFrame({"comparisons": [2], "seed SD": [0.004], "users ±": [0.002], "seed ±": [0.008],
                          "seeds needed": [4.0]})
    monkeypatch.setattr(digest.S, "noise_budget", lambda *a, **k: noise)
    text = digest.noise_bullet([ctx])
    assert "With users-only intervals, 2 GCA-minus-base differences in NDCG@10 would look resolved; with " \
           "retraining included, 1 is: afk GCA[0,0] sampled B +0.0060 [+0.0010, +0.0110]." in text
    assert text.endswith(" 1 more resolves over the one seed stored so far, where only the users-only "
                         "interval exists.")
    del comps[(off, "base", "full", 1, "NDCG@10")]
    assert digest.noise_bullet([ctx]).endswith("+0.0110].")  # nothing to count apart: no sentence


def test_digest_states_layernorm_on_against_off_fewest_modules_first():
    import pandas as pd

    from gca_lite.experiments import digest

    on0, off0 = "GCA[0,1,2]-sigmoid,True", "GCA[0,1,2]-sigmoid,False"
    on1, off1 = "GCA[1]-tanh,True", "GCA[1]-tanh,False"
    comps = {(on0, off0, "full", 0, "NDCG@10"): _digest_comp(-0.002, -0.007, 0.003, -0.007, 0.003, 1),
             (on0, off0, "full", 1, "NDCG@10"): _digest_comp(-0.001, -0.005, 0.001, -0.005, 0.001, 1),
             (on1, off1, "full", 0, "NDCG@10"): _digest_comp(0.001, -0.001, 0.002, 0.0, 0.002),
             (on1, off1, "full", 1, "NDCG@10"): _digest_comp(0.0, -0.001, 0.001, -0.001, 0.001)}
    ctx = _FakeContext(comps)
    ctx.groups.update({v: ctx.groups[on0] for v in (off0, off1)})
    text = digest.findings(ctx, pd.DataFrame(), pd.DataFrame())
    assert ("LayerNorm on − off, test NDCG@10, full ranking: [1] tanh: A +0.0010 [-0.0010, +0.0020], "
            "B +0.0000 [-0.0010, +0.0010]; [0,1,2] sigmoid (1 seed: over test users only): A -0.0020 "
            "[-0.0070, +0.0030], B -0.0010 [-0.0050, +0.0010].") in text
    comps.clear()
    assert not any(x.startswith("LayerNorm") for x in digest.findings(ctx, pd.DataFrame(), pd.DataFrame()))

def test_contrasts_pair_layernorm_settings_and_draw_only_full_scaling_series():
    import pandas as pd

    from gca_lite.experiments.contrasts import layernorm_frame, scaling_points

    on, off, lone = "GCA[0]-sigmoid,True", "GCA[0]-sigmoid,False", "GCA[2]-tanh,True"
    comps = {(on, off, "full", 0, "NDCG@10"): _digest_comp(0.005, 0.001, 0.009, 0.002, 0.008),
             (on, off, "full", 1, "NDCG@10"): _digest_comp(-0.001, -0.004, 0.002, -0.003, 0.001)}
    ctx = _FakeContext(comps)
    ctx.groups.update({off: ctx.groups["base"], lone: ctx.groups["base"]})
    ln = layernorm_frame([ctx], protocols=("full",))
    assert ln[["point", "gate", "domain", "resolved"]].values.tolist() == [["[0]", "sigmoid", "A", True],
                                                                          ["[0]", "sigmoid", "B", False]]
    assert ln["on − off"].iloc[0] == "+0.0050 [+0.0010, +0.0090]"  # the GCA[2] without its twin is left out

    def row(variant, params, seeds=3):
        return {"dataset": "afk", "setting": "h", "setting_label": "lite", "protocol": "full", "metric": "NDCG@10",
                "variant": variant, "n_parameters": params, "domain": "A", "mean": 0.04, "ci_lo": 0.03,
                "ci_hi": 0.05, "n_seeds": seeds}
    frame = pd.DataFrame([row("base", 100), row("base~1xGCA,True", 110), row("GCA[0]-sigmoid,True", 110),
                          row("GCA[0,0]-sigmoid,True", 120, seeds=2), row("GCA[1]-sigmoid,True", 110)])
    pts = scaling_points(frame, "afk", "lite")
    assert set(pts["series"]) == {"GCA_early", "base and matched enlargements"}  # GCA_stack has one point
    assert "GCA[0,0]-sigmoid,True (2 seeds)" in set(pts["variant"]) and "GCA[1]-sigmoid,True" not in set(pts["variant"])
    assert scaling_points(frame[frame["variant"].str.startswith("base")], "afk", "lite").empty


def test_orthogonality_points_pair_each_runs_cos_with_its_score(monkeypatch):
    import numpy as np

    import gca_lite.experiments.contrasts as contrasts
    from gca_lite.experiments.contrasts import orthogonality_points

    ctx = types.SimpleNamespace(groups={"GCA[1]-sigmoid,True": types.SimpleNamespace(seeds=[0, 1])},
                                cos=[("GCA[1]-sigmoid,True", 0, {"A": 0.3, "B": 0.2}),
                                     ("GCA[1]-sigmoid,True", 5, {"A": 0.1}),   # a seed the group lacks
                                     ("GCA[2]-tanh,True", 0, {"A": 0.4})])   # a variant the context lacks
    monkeypatch.setattr(contrasts, "seed_avg", lambda g, seeds, protocol, dom, metric: np.array([0.05, 0.07]) + dom)
    pts = orthogonality_points(ctx)
    assert pts[["seed", "domain", "abs_cos"]].values.tolist() == [[0, "A", 0.3], [0, "B", 0.2]]
    assert pts["NDCG@10"].tolist() == pytest.approx([0.06, 1.06])


def test_digest_gives_the_cos_correlation_over_variant_means_within_and_pooled(monkeypatch):
    """From four variants on, "In short" states r over the variants' means and within variants
    given the selected epoch (what the verdict decides on), and r pooled over runs (the paper's way,
    shown only), which can disagree."""
    import numpy as np
    import pandas as pd

    from gca_lite.experiments import digest
    from gca_lite.experiments.cos_claims import variant_means, within_given_epoch
    from gca_lite.experiments.stats import pearson

    rng = np.random.default_rng(0)
    rows = [{"variant": f"GCA[{v}]-sigmoid,True", "seed": s, "domain": d, "abs_cos": 0.1 * v + 0.01 * s,
             "NDCG@10": 0.05 - 0.01 * v + 0.001 * s + rng.normal(0, 1e-4)}
            for v in range(4) for s in range(3) for d in "AB"]
    points = pd.DataFrame(rows)
    monkeypatch.setattr(digest, "orthogonality_points", lambda ctx: points)
    epochs = {(f"GCA[{v}]-sigmoid,True", s): 40 + (5 * v + 7 * s) % 9 for v in range(4) for s in range(3)}
    ctx = _FakeContext({})
    ctx.histories = [(v, s, e, []) for (v, s), e in epochs.items()]
    text = " ".join(digest.findings(ctx, pd.DataFrame(), pd.DataFrame()))
    a = points[points["domain"] == "A"]
    r, lo, hi, _ = pearson(a["abs_cos"], a["NDCG@10"])
    mr, mlo, mhi, _ = pearson(*variant_means(a))
    wr, wlo, whi, _ = within_given_epoch(a, epochs)
    assert r < -0.9 and mr < -0.9 and wr > 0.9  # across variants more orthogonal is better, across seeds worse
    assert f"over the means of 4 variants: A {mr:+.3f} [{mlo:+.3f}, {mhi:+.3f}]" in text
    assert f"within variants given the selected epoch: A {wr:+.3f} [{wlo:+.3f}, {whi:+.3f}]" in text
    assert f"pooled over 12 GCA runs, shown only (seeds of one variant are not independent): A {r:+.3f}" in text
    monkeypatch.setattr(digest, "orthogonality_points", lambda ctx: points[points["variant"] != "GCA[3]-sigmoid,True"])
    assert "Pearson r" not in " ".join(digest.findings(ctx, pd.DataFrame(), pd.DataFrame()))
