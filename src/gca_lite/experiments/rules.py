"""The verdict rules and their words: how comparisons become a verdict, and how a verdict row is made.

Every claim of :mod:`claims` decides with the functions here, so one rule reads the same wherever
it is used. A comparison (``stats.compare``) is *resolved* when its interval over test users and
training seeds excludes 0; :func:`judge` turns a claim's comparisons into a verdict (see
``verdicts``' module doc for the rules in words).
"""

from __future__ import annotations

import math

from . import readings
from .report import DOMAINS

ABSENT = "absent at the paper's size"  # an equivalence result: every interval inside ±δ (the paper's gain)
UNTESTABLE = "untestable"  # the two configurations compared are numerically the same model
VERDICTS = ("reproduced", "partly", "mixed", "not resolved", ABSENT, "not reproduced", UNTESTABLE,
            "too few runs", "no runs")
# The artefact checks are not claims of the paper: their outcomes read as holds / fails.
CHECK_WORDS = {"reproduced": "holds", "partly": "partly holds", "not reproduced": "fails"}
CHECK_VERDICTS = tuple(CHECK_WORDS.get(v, v) for v in VERDICTS)
# The weakest row: the paper states no |cos| threshold, so it has its own words and is tallied
# apart from the claims.
RANGE_WORDS = {"reproduced": "in range", "partly": "partly in range", "not reproduced": "out of range"}
RANGE_VERDICTS = tuple(RANGE_WORDS.get(v, v) for v in VERDICTS)
#: the background colour of each verdict word on the results page
COLOURS = {"reproduced": "#d8f0d8", "holds": "#d8f0d8", "partly": "#fff3c4", "partly holds": "#fff3c4",
           "mixed": "#fde2c8", "not resolved": "#eeeeee", "not reproduced": "#f8d4d4", "fails": "#f8d4d4",
           ABSENT: "#e6e0f2", UNTESTABLE: "#f4f4f4",
           "in range": "#e3ecf7", "partly in range": "#e3ecf7", "out of range": "#f8d4d4",
           "too few runs": "#ffffff", "no runs": "#ffffff"}
NOT_JUDGED = ("no runs", "too few runs", UNTESTABLE)
Z975, Z80 = 1.959964, 0.841621  # two-sided 5 % and 80 % power


def z_score(c: dict) -> float:
    """The difference over the standard error its 95 % interval implies on the side towards 0
    (the intervals are asymmetric bootstraps widened by the seed spread; 0 when no spread)."""
    d = c["diff"]
    side = (d - c["lo"]) if d >= 0 else (c["hi"] - d)
    return abs(d) / (side / Z975) if side > 0 else (math.inf if d else 0.0)


def p_value(c: dict) -> float:
    """Two-sided normal p-value of :func:`z_score`: the scope of the interval it comes from (test
    users and, from two seeds on, training seeds), used for Holm's correction and never shown alone."""
    return math.erfc(z_score(c) / math.sqrt(2))


def holm(comps: list[dict], alpha: float = 0.05) -> list[int]:
    """Holm's step-down correction inside one claim: per comparison +1 (resolved above 0), -1
    (below) or 0. With one comparison it is the plain 95 % interval."""
    order = sorted(range(len(comps)), key=lambda i: p_value(comps[i]))
    out = [0] * len(comps)
    for rank, i in enumerate(order):
        if p_value(comps[i]) > alpha / (len(comps) - rank):
            break
        out[i] = 1 if comps[i]["diff"] > 0 else -1
    return out


def mde(c: dict) -> float:
    """Minimum detectable effect of a comparison: the true difference a two-sided 5 % test of this
    precision finds with 80 % power, (z 0.975 + z 0.80) x the standard error its interval implies."""
    return (Z975 + Z80) * (c["hi"] - c["lo"]) / (2 * Z975)


def inside(c: dict, delta: float | None) -> bool:
    """Whether the whole interval lies inside ±delta (an equivalence result at that size)."""
    return delta is not None and delta > 0 and -delta < c["lo"] and c["hi"] < delta


def judge(comps: list[dict], direction: int = 1, deltas: list | None = None) -> str:
    """Verdict of "first beats second" (direction 1) over paired comparisons, resolved with Holm's
    correction inside the claim; with ``deltas`` (the paper's gain per comparison), a claim none of
    whose comparisons resolves and all of whose intervals lie inside ±δ reads :data:`ABSENT`."""
    if not comps:
        return "no runs"
    signs = holm(comps)
    good = sum(1 for s in signs if s == direction)
    bad = sum(1 for s in signs if s == -direction)
    if not good and not bad and deltas and all(inside(c, d) for c, d in zip(comps, deltas)):
        return ABSENT
    return combine(good, bad, len(comps))


def combine(good: int, bad: int, n: int) -> str:
    """Verdict from how many of n comparisons (or outcomes) are resolved for and against a claim."""
    if good == n:
        return "reproduced"
    if good > bad:
        return "partly"
    if bad > good:
        return "not reproduced"
    return "mixed" if bad else "not resolved"


def tally(comps: list[dict]) -> str:
    """How many comparisons resolve each way after Holm's correction, and their median MDE."""
    signs = holm(comps)
    mdes = sorted(mde(c) for c in comps)
    return (f"{signs.count(1)} of {len(comps)} resolvably better, {signs.count(-1)} resolvably worse (Holm over "
            f"the {len(comps)}; median minimum detectable effect {mdes[len(mdes) // 2]:.4f})")


def pairs_claim(ctx, protocol, pairs, metrics, domains, n_boot) -> list[dict]:
    """The paired comparisons of a claim: every (first, second) pair x metric x domain stored."""
    return [{**c, "domain": d, "metric": m} for first, second in pairs for m in metrics for d in domains
            if (c := ctx.compare(first, second, protocol, DOMAINS.index(d), m, n_boot)) is not None]


def stored_runs(groups, variants, seeds=None) -> list[str]:
    """The stored run folders of ``variants`` in ``groups`` (only those of ``seeds``, when given)."""
    return [g.runs[s] for v in dict.fromkeys(variants) if (g := groups.get(v)) is not None
            for s in sorted(g.runs) if seeds is None or s in seeds]


def compared_runs(groups, comps) -> list[str]:
    """The runs a row's paired comparisons rest on: both sides (a stratum gain: its variant and
    the base) at the seeds the two share, as ``stats.compare`` pairs them."""
    out = []
    for c in comps or ():
        pair = (c["first"], c["second"]) if "first" in c else (c["variant"], "base")
        if all(v in groups for v in pair):
            common = set(groups[pair[0]].seeds) & set(groups[pair[1]].seeds)
            out += stored_runs(groups, pair, common)
    return list(dict.fromkeys(out))


def key_difference(comps, domain: str | None = None) -> str:
    """The one number a reader should see for a row: its most decisive paired comparison (largest
    |z|, so the one that resolves when any does) as ``first − second (metric, domain): diff [lo, hi]``
    (or the comparison's own ``label``); "—" without comparisons. The landing page's answer table shows it."""
    made = [c for c in comps or () if not math.isnan(c.get("diff", math.nan))]
    if not made:
        return "—"
    c = max(made, key=z_score)
    first = str(c.get("first", c.get("variant", ""))).removesuffix("-sigmoid,True")
    second = str(c.get("second", "base")).removesuffix("-sigmoid,True")
    where = ", ".join(x for x in (c.get("metric", "NDCG@10"), c.get("domain", domain)) if x)
    label = c.get("label") or (f"{first} − {second} ({where})" if first else where)
    return f"{label}: {c['diff']:+.4f} [{c['lo']:+.4f}, {c['hi']:+.4f}]"


def make_row(ctx, protocol: str, claim: str, paper: str, comps, verdict: str, evidence: str, variants,
             seeds=None, rests_on=None, words=None, key: str | None = None, domain: str | None = None) -> dict:
    """One verdict row. ``words`` maps the generic verdict to the claim's own vocabulary; a judged
    verdict from fewer than three seeds, or from a claim with configurations missing, is marked
    provisional. ``seeds``: the seeds it rests on (default: those its comparisons share). ``key``:
    the row's key number (default: :func:`key_difference` of its comparisons)."""
    most = seeds
    if seeds is None:  # a comparison rests on the seeds both sides share
        counts = ([len(c["per_seed"]) for c in comps] if comps else
                  [len(ctx.groups[v].seeds) for v in variants if v in ctx.groups]) or [0]
        seeds, most = min(counts), max(counts)
    incomplete = seeds < 3 or any(v not in ctx.groups for v in variants)
    verdict = (words or {}).get(verdict, verdict)
    if verdict not in NOT_JUDGED and incomplete:  # nothing judged, nothing provisional
        verdict += " (provisional)"
    return {"dataset": ctx.dataset, "setting": ctx.setting, "reading": readings.label(ctx.reading),
            "protocol": protocol, "claim": claim,
            "paper": paper, "verdict": verdict, "evidence": evidence,
            "key": key if key is not None else key_difference(comps, domain),
            "runs": f"{sum(v in ctx.groups for v in variants)} of {len(variants)} configs, "
                    + (f"{seeds} to {most} seeds" if most != seeds else f"{seeds} seed{'s' * (seeds != 1)}"),
            # the stored runs (folder names) the row's numbers come from
            "rests_on": (rests_on if rests_on is not None else compared_runs(ctx.groups, comps)
                         or stored_runs(ctx.groups, variants))}
