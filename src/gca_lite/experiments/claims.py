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
from .cos_claims import COS_RANGE, MIN_CORR_VARIANTS, cos_goes_with_accuracy, cos_in_range, cos_over_training  # noqa: F401
from .deltas import delta, series_of
from .report import DOMAINS
from .rules import (ABSENT, CHECK_WORDS, RANGE_WORDS, UNTESTABLE, combine, holm, inside, judge, key_difference, mde,
                    pairs_claim, stored_runs, tally)
from .stats import fmt_ci, seed_avg
from .variants import EARLY, GCA16, HEADLINE, STACK, layernorm_inert, layernorm_partner, parse, points_name

MIN_RANKED = 4  # "best variant" needs at least this many GCA variants (top three of three is no claim)


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


def reference_mean(ctx, variant, protocol, dom, metric="NDCG@10") -> float:
    """Mean over users and seeds of ``variant``'s ``metric`` (the scale δ is applied at)."""
    g = ctx.groups[variant]
    values = seed_avg(g, sorted(g.seeds), protocol, dom, metric)
    return math.nan if values is None else float(np.mean(values))


def modules(variant: str) -> tuple:
    return parse(variant)["gca_points"]


def comparison_delta(ctx, c, protocol) -> float | None:
    """δ of a paired comparison in NDCG@10 (``deltas``): the paper's gain of ``first`` over
    ``second`` at our scale; None where the paper has none (a matched base, AUC)."""
    first, second = c["first"], c["second"]
    if c.get("metric", "NDCG@10") != "NDCG@10" or second.startswith("base~") or not first.startswith("GCA"):
        return None
    a, b = modules(first), (() if second == "base" else modules(second))
    if b and series_of(a) != series_of(b) and len(b) > 1:
        return None
    dom = DOMAINS.index(c["domain"])
    return delta(ctx.dataset, c["domain"], len(a), len(b), reference_mean(ctx, second, protocol, dom),
                 series_of(a))


def with_effect(c, d) -> str:
    """A comparison's interval with its minimum detectable effect and δ (where there is one)."""
    return f"{fmt_ci(c)}, MDE {mde(c):.4f}" + ("" if d is None else f", δ {d:.4f}")


# ------------------------------------------------------------------------------------ the claims
def primary_endpoint(ctx, protocol, n_boot, emit):
    """The primary endpoint, stated first: HEADLINE − base, test NDCG@10, per domain; its full-ranking
    cell is the endpoint, the sampled one the same comparison under ABXI's protocol. reproduced / not
    reproduced: resolved above / below 0; absent at the paper's size: the interval inside ±δ; else
    not resolved."""
    for dom, dname in enumerate(DOMAINS):
        c = ctx.compare(HEADLINE, "base", protocol, dom, "NDCG@10", n_boot)
        if c is None:
            emit(None, "no runs", "", [HEADLINE, "base"], domain=dname)
            continue
        d = comparison_delta(ctx, {**c, "domain": dname}, protocol)
        verdict = ("reproduced" if c["lo"] > 0 else "not reproduced" if c["hi"] < 0 else
                   ABSENT if inside(c, d) else "not resolved")
        emit([c], verdict, f"{points_name(HEADLINE)} − base {with_effect(c, d)} (interval over test users and "
             f"{len(c['per_seed'])} training seeds; δ: the paper's one-module gain over its base, at our base's "
             "level)", [HEADLINE, "base"], domain=dname)


def gca_improves(metric):
    """GCA improves on the base in ``metric`` (both domains), over every stored variant, Holm inside."""
    def decide(ctx, protocol, n_boot, emit):
        comps = pairs_claim(ctx, protocol, [(v, "base") for v in present(ctx)], (metric,), DOMAINS, n_boot)
        deltas = [comparison_delta(ctx, c, protocol) for c in comps]
        emit(comps, judge(comps, deltas=deltas if metric == "NDCG@10" else None),
             tally(comps) + " (variant x domain, over the paper's 16-variant grid; the GCA_early and GCA_stack "
             "models have their own rows)" if comps else "", ["base", *GCA16])
    decide.__doc__ = f"GCA variants improve {metric} over the base model."
    return decide


def best_variant(ctx, protocol, n_boot, emit):
    """The headline variant is the best GCA variant by NDCG@1 (both domains) and AUC@A: *not
    reproduced* only when another variant resolvably beats it (Holm over every other variant x
    metric); *reproduced* when it resolvably beats every other on every metric; *partly* on some
    metrics; else *not resolved*. The ranks of the means are shown, deciding nothing."""
    stored = present(ctx)
    common = sorted(set.intersection(*(set(ctx.groups[v].seeds) for v in stored))) if stored else []
    if HEADLINE not in ctx.groups or len(stored) < MIN_RANKED or not common:
        why = (f"only {len(stored)} GCA variants stored (ranking needs {MIN_RANKED})" if HEADLINE in ctx.groups
               else f"{HEADLINE} not stored")
        emit(None, "too few runs" if stored else "no runs", why, list(GCA16))
        return
    parts, comps, cells = [], [], []
    for metric, dom in (("NDCG@1", 0), ("NDCG@1", 1), ("AUC", 0)):
        means = {v: float(np.mean(a)) for v in stored
                 if (a := seed_avg(ctx.groups[v], common, protocol, dom, metric)) is not None}
        if HEADLINE not in means:
            continue
        rank = 1 + sum(m > means[HEADLINE] for m in means.values())  # ties share the better rank
        top = max(means, key=means.get)
        parts.append(f"{metric}@{DOMAINS[dom]} {means[HEADLINE]:.4f}: rank {rank} of {len(means)} "
                     f"(top: {top} {means[top]:.4f})")
        for v in stored:
            if v != HEADLINE and (c := ctx.compare(v, HEADLINE, protocol, dom, metric, n_boot)):
                comps.append(c)
                cells.append(f"{metric}@{DOMAINS[dom]}")
    signs = holm(comps)
    beaten = [f"{c['first']} ({cell})"
              for c, s, cell in zip(comps, signs, cells) if s == 1]
    beats_all = {cell: all(s == -1 for s, c2 in zip(signs, cells) if c2 == cell) for cell in dict.fromkeys(cells)}
    verdict = ("no runs" if not comps else "not reproduced" if beaten else
               "reproduced" if all(beats_all.values()) else "partly" if any(beats_all.values()) else "not resolved")
    emit(comps, verdict, "; ".join(parts) + f" (seed{'s' * (len(common) > 1)} {','.join(map(str, common))}); "
         + (f"resolvably above it (Holm over the {len(comps)} paired comparisons): " + ", ".join(beaten) if beaten
            else f"no variant resolvably above it (Holm over the {len(comps)} paired comparisons)")
         + (f"; median minimum detectable effect {sorted(map(mde, comps))[len(comps) // 2]:.4f}" if comps else ""),
         list(GCA16), seeds=len(common), rests_on=stored_runs(ctx.groups, stored, set(common)))


def inert(ctx, variant: str) -> bool:
    """Whether LayerNorm on/off is numerically the same model for this variant (``variants.layernorm_inert``)."""
    from ..config import ModelConfig

    g = ctx.groups.get(variant)
    return layernorm_inert(g.model if g is not None and g.model is not None else ModelConfig(**parse(variant)))


def layernorm_helps(ctx, protocol, n_boot, emit):
    """LayerNorm on beats off for every point x gate; pairs whose flag is inert are *untestable*."""
    ln_pairs = [(v, layernorm_partner(v)) for v in GCA16 if v.endswith(",True")]
    testable = [p for p in ln_pairs if not inert(ctx, p[0])]
    comps = pairs_claim(ctx, protocol, testable, ("NDCG@10",), DOMAINS, n_boot)
    same = [p for p in ln_pairs if p not in testable and p[0] in ctx.groups and p[1] in ctx.groups]
    note = (f"; {len(same)} stored pairs untestable ({', '.join(a.removesuffix(',True') for a, _ in same)}: "
            "LayerNorm there is numerically inert, decision D2)" if same else "")
    verdict = judge(comps) if comps else UNTESTABLE if same else "no runs"
    emit(comps, verdict, (tally(comps) + " (point x gate x domain)" if comps else "no testable pair stored") + note,
         [v for p in ln_pairs for v in p])


def more_modules_help(ctx, protocol, n_boot, emit):
    """Each further module adds NDCG@10 (GCA_early k = 1 -> 2 -> 3; GCA_stack [0] -> [0,1] -> [0,1,2])."""
    steps = [(EARLY[1], EARLY[0]), (EARLY[2], EARLY[1]), (STACK[1], STACK[0]), (STACK[2], STACK[1])]
    comps = pairs_claim(ctx, protocol, steps, ("NDCG@10",), DOMAINS, n_boot)
    deltas = [comparison_delta(ctx, c, protocol) for c in comps]
    detail = "; ".join(f"{points_name(c['first'])} vs {points_name(c['second'])} ({c['domain']}) {with_effect(c, d)}"
                       for c, d in zip(comps, deltas))
    emit(comps, judge(comps, deltas=deltas), (tally(comps) + ": " + detail) if comps else "",
         list(dict.fromkeys(EARLY + STACK)))


def beats_matched_base(ctx, protocol, n_boot, emit):
    """base + GCA beats the parameter-matched base, per domain (Holm over the sizes; no paper δ)."""
    gca_sizes = [v for v in dict.fromkeys(EARLY + STACK) if v in ctx.groups]
    for dname in DOMAINS:
        pairs = [(v, f"base~{ctx.groups[v].size_name}") for v in gca_sizes]
        comps = pairs_claim(ctx, protocol, pairs, ("NDCG@10",), (dname,), n_boot)
        emit(comps, judge(comps), "; ".join(f"{points_name(c['first'])}: {with_effect(c, None)}" for c in comps),
             # every GCA size of the claim, stored or not, so that a missing one marks it provisional
             list(dict.fromkeys([*EARLY, *STACK, *(second for _, second in pairs)])), domain=dname)


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
         key=key_difference([{**g["change"], "label": f"{points_name(v)} gain, shuffled − original ({d})"}
                             for v, d, g in gains]),
         rests_on=list(dict.fromkeys(run for v, _, g in gains for groups in (ctx.groups, ctx.shuffled)
                                     for run in stored_runs(groups, ["base", v], set(g["seeds"])))))


def _paper_r() -> dict[str, str]:
    """The blog's ABXI panel's Pearson r of |cos| against NDCG@10, per domain, as the paper column says it."""
    from ..paper import paper_correlations

    return {r.domain: f"ABXI panel: r = {r.r:+.3f}" for r in paper_correlations().itertuples()
            if r.base_model == "ABXI"}


# ------------------------------------------------------------------------------------ the registry
CLAIMS = (
    Claim(f"primary endpoint: {HEADLINE} − base in test NDCG@10 (domain {{domain}}; the full-ranking cell)",
          "afk table: GCA[1]-sigmoid,True the best variant; blog: one GCA module above the base in every ABXI panel",
          primary_endpoint),
    Claim("GCA variants improve NDCG@10 over the base model", "summaries: GCA (early) improves NDCG and AUC",
          gca_improves("NDCG@10")),
    Claim("GCA variants improve AUC over the base model", "summaries: GCA (early) improves NDCG and AUC",
          gca_improves("AUC")),
    Claim(f"{HEADLINE} has the best NDCG@1 and AUC@A among the GCA variants",
          "Food-Kitchen: NDCG@1 0.0815, AUC@A 0.7218", best_variant),
    Claim("LayerNorm on improves every variant (NDCG@10)", "variant tables: True rows above False rows",
          layernorm_helps),
    Claim("Each further GCA module adds NDCG@10 (GCA_early and GCA_stack curves rise)",
          "blog scaling curves rise with k in most panels", more_modules_help),
    Claim("base + GCA beats the parameter-matched base (NDCG@10, domain {domain})",
          {"A": "GCA_early above the matched base in 5 of 5 panels (A)",
           "B": "GCA_early above the matched base in 3 of 5 panels (B)"}, beats_matched_base),
    Claim(f"|cos(X, X')| of every module lies within the range of the blog's ABXI scatter (about 0 to {COS_RANGE})",
          f"blog Figure 2, ABXI panel: |cos| from about 0 to {COS_RANGE} (no threshold stated)", cos_in_range,
          kind="range", words=RANGE_WORDS),
    Claim("lower |cos(X, X')| goes with higher NDCG@10 across and within variants (domain {domain})", _paper_r,
          cos_goes_with_accuracy),
    Claim("X' becomes more orthogonal as validation NDCG@10 improves, within each run (domain {domain})",
          "Figure 1(b): |cos| falls as performance rises during training", cos_over_training),
    Claim("check: the GCA gain over the base holds on test targets that do not share the previous "
          "item's day (NDCG@10)", "not reported (ABXI's files order the items of one day A before B)",
          gain_on_untied, kind="check", words=CHECK_WORDS),
    Claim("check: the GCA gain over the base survives the same-day shuffle (NDCG@10)",
          "not reported (the check compares GCA-minus-base gains on shuffled and original data)",
          gain_survives_shuffle, kind="check", words=CHECK_WORDS),
)
RANGE_CLAIM = next(c.wording for c in CLAIMS if c.kind == "range")


def kind(claim_text: str) -> str:
    """The kind (``claim``, ``range``, ``check``) of a verdict row's claim text."""
    for c in CLAIMS:
        if c.wording.format(domain="A") == claim_text or c.wording.format(domain="B") == claim_text:
            return c.kind
    return "claim"
