"""The claim registry: every row of the verdict tables, one function per claim and one list of them.

To add a claim, write one function ``fn(ctx, protocol, n_boot, emit)`` that decides it for one
(dataset, setting, protocol) and calls ``emit(comps, verdict, evidence, variants, ...)`` once per
row (``rules.make_row``), then add one :class:`Claim` to :data:`CLAIMS` with its wording, the
paper's number, its kind and vocabulary. The verdict tables (``verdicts.verdict_frame``), the
results page, ``gca-lite report``, the README and the tests all read this list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import artefact
from .contrasts import orthogonality_points
from .report import DOMAINS
from .rules import CHECK_WORDS, RANGE_WORDS, combine, judge, pairs_claim, stored_runs, tally
from .stats import fmt_ci, pearson, seed_avg, within_variant_r
from .variants import EARLY, GCA16, HEADLINE, STACK, layernorm_partner, points_name

MIN_RANKED = 4  # "best variant" needs at least this many GCA variants (top three of three is no claim)
# |cos| vs NDCG@10 needs runs of at least this many GCA variants: over two or three, r mostly
# compares the variants' means (e.g. a slower three-module variant, both less accurate and less
# orthogonal at equal time), however many seeds make the interval look tight
MIN_CORR_VARIANTS = 4
COS_RANGE = 0.49  # the top of the blog's ABXI |cos| scatter (no threshold is stated)


@dataclass(frozen=True)
class Claim:
    """One claim: its wording (``{domain}`` for a claim made per domain), the paper's number
    (a dict by domain where it differs), the function deciding it, and its vocabulary."""

    wording: str
    paper: str | dict | Callable  # a callable gives the str or dict (read from paper_numbers.csv)
    decide: Callable
    kind: str = "claim"  # "claim" (the paper's), "range" (the weak |cos| row) or "check" (artefact)
    words: dict = field(default_factory=dict)  # generic verdict -> the word this claim's rows use

    def text(self, domain: str | None = None) -> tuple[str, str]:
        paper = self.paper() if callable(self.paper) else self.paper
        paper = paper[domain] if isinstance(paper, dict) else paper
        return self.wording.format(domain=domain), paper


def present(ctx) -> list[str]:
    """The variants of the paper's 16-variant grid stored in this setting."""
    return [v for v in GCA16 if v in ctx.groups]


# ------------------------------------------------------------------------------------ the claims
def gca_improves(ctx, protocol, n_boot, emit):
    """GCA improves on the base (NDCG@10 and AUC, both domains), over every stored variant."""
    comps = pairs_claim(ctx, protocol, [(v, "base") for v in present(ctx)], ("NDCG@10", "AUC"), DOMAINS, n_boot)
    emit(comps, judge(comps),
         tally(comps) + " (variant x domain x metric, over the paper's 16-variant grid; the GCA_early and "
         "GCA_stack models have their own rows)" if comps else "", ["base", *GCA16])


def best_variant(ctx, protocol, n_boot, emit):
    """The headline variant ranks first by NDCG@1 (both domains) and AUC@A among the GCA variants."""
    stored = present(ctx)
    common = sorted(set.intersection(*(set(ctx.groups[v].seeds) for v in stored))) if stored else []
    if HEADLINE not in ctx.groups or len(stored) < MIN_RANKED or not common:
        why = (f"only {len(stored)} GCA variants stored (ranking needs {MIN_RANKED})" if HEADLINE in ctx.groups
               else f"{HEADLINE} not stored")
        emit(None, "too few runs" if stored else "no runs", why, list(GCA16))
        return
    ranks, parts = [], []
    for metric, dom in (("NDCG@1", 0), ("NDCG@1", 1), ("AUC", 0)):
        means = {v: float(np.mean(a)) for v in stored
                 if (a := seed_avg(ctx.groups[v], common, protocol, dom, metric)) is not None}
        if HEADLINE not in means:
            continue
        rank = 1 + sum(m > means[HEADLINE] for m in means.values())  # ties share the better rank
        top = max(means, key=means.get)
        ranks.append(rank)
        parts.append(f"{metric}@{DOMAINS[dom]} {means[HEADLINE]:.4f}: rank {rank} of {len(means)} "
                     f"(top: {top} {means[top]:.4f})")
    verdict = ("no runs" if not ranks else "reproduced" if all(r == 1 for r in ranks) else
               "partly" if any(r == 1 for r in ranks) else "not reproduced")
    seeds_used = f" (seed{'s' * (len(common) > 1)} {','.join(map(str, common))})"
    emit(None, verdict, "; ".join(parts) + seeds_used, list(GCA16),
         seeds=len(common), rests_on=stored_runs(ctx.groups, stored, set(common)))


def layernorm_helps(ctx, protocol, n_boot, emit):
    """LayerNorm on beats LayerNorm off for every point x gate."""
    ln_pairs = [(v, layernorm_partner(v)) for v in GCA16 if v.endswith(",True")]
    comps = pairs_claim(ctx, protocol, ln_pairs, ("NDCG@10",), DOMAINS, n_boot)
    caveat = ""
    if comps and all(c["first"].startswith("GCA[1]-") for c in comps):
        caveat = ("; only point 1 stored so far, where our LayerNorm placement should change almost nothing "
                  "(both inputs already come out of the encoder's LayerNorm, decision D2), so a resolved "
                  "difference there reflects retraining more than the flag")
    emit(comps, judge(comps), tally(comps) + " (point x gate x domain)" + caveat if comps else "",
         [v for p in ln_pairs for v in p])


def more_modules_help(ctx, protocol, n_boot, emit):
    """Each further module adds NDCG@10 (GCA_early k = 1 -> 2 -> 3; GCA_stack [0] -> [0,1] -> [0,1,2])."""
    steps = [(EARLY[1], EARLY[0]), (EARLY[2], EARLY[1]), (STACK[1], STACK[0]), (STACK[2], STACK[1])]
    comps = pairs_claim(ctx, protocol, steps, ("NDCG@10",), DOMAINS, n_boot)
    detail = "; ".join(f"{points_name(c['first'])} vs {points_name(c['second'])} ({c['domain']}) {fmt_ci(c)}"
                       for c in comps)
    emit(comps, judge(comps), (tally(comps) + ": " + detail) if comps else "", list(dict.fromkeys(EARLY + STACK)))


def beats_matched_base(ctx, protocol, n_boot, emit):
    """base + GCA beats the parameter-matched base, per domain."""
    gca_sizes = [v for v in dict.fromkeys(EARLY + STACK) if v in ctx.groups]
    for dname in DOMAINS:
        pairs = [(v, f"base~{ctx.groups[v].size_name}") for v in gca_sizes]
        comps = pairs_claim(ctx, protocol, pairs, ("NDCG@10",), (dname,), n_boot)
        emit(comps, judge(comps), "; ".join(f"{points_name(c['first'])}: {fmt_ci(c)}" for c in comps),
             # every GCA size of the claim, stored or not, so that a missing one marks it provisional
             list(dict.fromkeys([*EARLY, *STACK, *(second for _, second in pairs)])), domain=dname)


def cos_runs(ctx) -> list[str]:
    """Every GCA run with an orthogonality probe (GCA_early and GCA_stack models included)."""
    return [ctx.groups[v].runs[s] for v, s, c in ctx.cos if c and v in ctx.groups and s in ctx.groups[v].runs]


def cos_in_range(ctx, protocol, n_boot, emit):
    """X' is close to orthogonal to X: each run's mean |cos| inside the blog's ABXI range. Two random
    directions in d dimensions give E|cos| = sqrt(2 / (pi d)) (large d), for scale."""
    per_run = [float(np.mean(list(c.values()))) for _, _, c in ctx.cos if c]
    if not per_run:
        emit(None, "no runs", "", list(GCA16))
        return
    inside = sum(x <= COS_RANGE for x in per_run)
    verdict = ("reproduced" if inside == len(per_run) else "partly" if inside else "not reproduced")
    rand = math.sqrt(2 / (math.pi * ctx.width)) if ctx.width else math.nan
    emit(None, verdict,
         f"mean |cos| per run {min(per_run):.3f} to {max(per_run):.3f} over {len(per_run)} GCA runs; "
         f"{inside} of {len(per_run)} inside"
         + (f"; two random directions give about {rand:.3f} at d = {ctx.width}, so |cos| is "
            f"{min(per_run) / rand:.1f} to {max(per_run) / rand:.1f} times its chance value"
            if ctx.width else ""), list(GCA16), rests_on=cos_runs(ctx))


def cos_goes_with_accuracy(ctx, protocol, n_boot, emit):
    """Lower |cos(X, X')| goes with higher NDCG@10 (Pearson r over GCA runs), per domain."""
    points = orthogonality_points(ctx, protocol, "NDCG@10")
    for dname in DOMAINS:
        part = points[points["domain"] == dname]
        xs, ys, labels = part["abs_cos"].tolist(), part["NDCG@10"].tolist(), part["variant"].tolist()
        variants = set(labels)
        r, lo, hi, n = pearson(xs, ys) if len(variants) >= MIN_CORR_VARIANTS else (math.nan,) * 3 + (len(xs),)
        wr, wlo, whi, wn, wk = within_variant_r(xs, ys, labels)
        verdict = (("too few runs" if n else "no runs") if math.isnan(r) else "reproduced" if hi < 0 else
                   "not reproduced" if lo > 0 else "not resolved")
        emit(None, verdict,
             (f"{n} GCA runs of {len(variants)} variants (r needs 4 runs of {MIN_CORR_VARIANTS} variants)"
              if n else "") if math.isnan(r) else
             f"r = {r:+.3f} [{lo:+.3f}, {hi:+.3f}] over {n} GCA runs (variants x seeds; seeds of one "
             f"variant are not independent, so the interval is optimistic) (mean |cos| {np.mean(xs):.3f})"
             + ("" if math.isnan(wr) else f"; within variants (each variant's means removed): r = {wr:+.3f} "
                f"[{wlo:+.3f}, {whi:+.3f}] over {wn} runs of {wk} variants"),
             list(GCA16), rests_on=cos_runs(ctx), domain=dname)


def gain_on_untied(ctx, protocol, n_boot, emit):
    """Only a gain resolved above 0 on all users can hold on untied targets (decision D15)."""
    stored = present(ctx)
    gained = [(v, dom) for v in stored for dom in range(len(DOMAINS))
              if (c := ctx.compare(v, "base", protocol, dom, "NDCG@10", n_boot)) and c["lo"] > 0]
    variants = ["base", *GCA16]
    if ctx.strata is None:
        emit(None, "no runs", ctx.strata_note, variants)
    elif not gained:
        emit(None, "not resolved" if stored else "no runs",
             "no GCA variant of the paper's 16-variant grid has a gain over the base resolved on all test users"
             if stored else "", variants)
    else:
        strata = [(v, dom, artefact.stratum_gains(ctx.groups, v, ctx.strata, protocol, dom, n_boot=n_boot))
                  for v, dom in gained]
        comps = [{**s["untied"], "variant": v, "domain": DOMAINS[dom]} for v, dom, s in strata
                 if s and not math.isnan(s["untied"]["diff"])]
        emit(comps, judge(comps) if comps else "no runs",
             (tally(comps) + " on untied targets, over the variant x domain pairs with a resolved gain: "
              + "; ".join(f"{points_name(c['variant'])} ({c['domain']}) untied {fmt_ci(c)}" for c in comps))
             if comps else "the stored strata do not fit these runs' test users", variants)


def gain_survives_shuffle(ctx, protocol, n_boot, emit):
    """The gain over the base, on shuffled against original data (decision D15)."""
    stored = present(ctx)
    gains = [(v, dname, g) for v in (ctx.shuffled or {}) if v in stored for dom, dname in enumerate(DOMAINS)
             if (g := artefact.shuffle_gain(ctx.groups, ctx.shuffled, v, protocol, dom, n_boot=n_boot))]
    shuffled = list(dict.fromkeys(v for v in (ctx.shuffled or {}) if v in GCA16)) or [HEADLINE]
    if not gains:
        emit(None, "no runs", "no same-day-shuffle runs of a GCA variant and the base stored "
             "for this setting" if not ctx.shuffled else "no seeds or protocol common to the shuffled and "
             "original runs", shuffled, seeds=0)
        return
    outcomes = [artefact.shuffle_verdict(g) for *_, g in gains]
    good = sum(o in ("reproduced", "partly") for o in outcomes)
    bad = outcomes.count("not reproduced")
    # outcomes that differ are never all "reproduced": n beyond reach leaves partly / mixed / not ...
    verdict = outcomes[0] if len(set(outcomes)) == 1 else combine(good, bad, n=len(outcomes) + 1)
    emit(None, verdict,
         "; ".join(f"{points_name(v)} ({d}, {g['n']} users whose target keeps its domain): gain "
                   f"{fmt_ci(g['original'])} original, {fmt_ci(g['shuffled'])} shuffled, change {fmt_ci(g['change'])}, "
                   "per seed " + " ".join(f"{c:+.4f}" for c in g["change_per_seed"]) for v, d, g in gains)
         + " (intervals over test users and seeds; a resolvably smaller gain must also be smaller for every seed)",
         shuffled, seeds=min(len(g["seeds"]) for *_, g in gains),
         rests_on=list(dict.fromkeys(run for v, _, g in gains for groups in (ctx.groups, ctx.shuffled)
                                     for run in stored_runs(groups, ["base", v], set(g["seeds"])))))


def _paper_r() -> dict[str, str]:
    """The blog's ABXI panel's Pearson r of |cos| against NDCG@10, per domain, as the paper column says it."""
    from ..paper import paper_correlations

    return {r.domain: f"ABXI panel: r = {r.r:+.3f}" for r in paper_correlations().itertuples()
            if r.base_model == "ABXI"}


# ------------------------------------------------------------------------------------ the registry
CLAIMS = (
    Claim("GCA variants improve NDCG@10 and AUC over the base model",
          "summaries: GCA (early) improves NDCG and AUC", gca_improves),
    Claim(f"{HEADLINE} has the best NDCG@1 and AUC@A among the GCA variants",
          "Food-Kitchen: NDCG@1 0.0815, AUC@A 0.7218", best_variant),
    Claim("LayerNorm on improves every variant (NDCG@10)", "variant tables: True rows above False rows",
          layernorm_helps),
    Claim("Each further GCA module adds NDCG@10 (GCA_early and GCA_stack curves rise)",
          "blog scaling curves rise with k in most panels", more_modules_help),
    Claim("base + GCA beats the parameter-matched base (NDCG@10, domain {domain})",
          {"A": "GCA_early above the matched base in 5 of 5 panels (A)",
           "B": "GCA_early above the matched base in 3 of 5 panels (B)"}, beats_matched_base),
    Claim(f"|cos(X, X')| lies within the range of the blog's ABXI scatter (about 0 to {COS_RANGE})",
          f"blog Figure 2, ABXI panel: |cos| from about 0 to {COS_RANGE} (no threshold stated)", cos_in_range,
          kind="range", words=RANGE_WORDS),
    Claim("lower |cos(X, X')| goes with higher NDCG@10 (domain {domain})", _paper_r, cos_goes_with_accuracy),
    Claim("check: the GCA gain over the base holds on test targets that do not share the previous "
          "item's day (NDCG@10)", "not reported (ABXI's files order the items of one day A before B)",
          gain_on_untied, kind="check", words=CHECK_WORDS),
    Claim("check: the GCA gain over the base survives the same-day shuffle (NDCG@10)",
          "not reported (the check compares GCA-minus-base gains on shuffled and original data)",
          gain_survives_shuffle, kind="check", words=CHECK_WORDS),
)
RANGE_CLAIM = CLAIMS[5].wording


def kind(claim_text: str) -> str:
    """The kind (``claim``, ``range``, ``check``) of a verdict row's claim text."""
    for c in CLAIMS:
        if c.wording.format(domain="A") == claim_text or c.wording.format(domain="B") == claim_text:
            return c.kind
    return "claim"
