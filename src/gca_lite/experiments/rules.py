"""The verdict rules and their words: how comparisons become a verdict, and how a verdict row is made.

Every claim of :mod:`claims` decides with the functions here, so one rule reads the same wherever
it is used. A comparison (``stats.compare``) is *resolved* when its interval over test users and
training seeds excludes 0; :func:`judge` turns a claim's comparisons into a verdict (see
``verdicts``' module doc for the rules in words).
"""

from __future__ import annotations

from .report import DOMAINS

VERDICTS = ("reproduced", "partly", "mixed", "not resolved", "not reproduced", "too few runs", "no runs")
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
           "in range": "#e3ecf7", "partly in range": "#e3ecf7", "out of range": "#f8d4d4",
           "too few runs": "#ffffff", "no runs": "#ffffff"}
NOT_JUDGED = ("no runs", "too few runs")


def judge(comps: list[dict], direction: int = 1) -> str:
    """Verdict of "first beats second" (direction 1) over paired comparisons."""
    if not comps:
        return "no runs"
    good = sum(1 for c in comps if (c["lo"] > 0 if direction > 0 else c["hi"] < 0))
    bad = sum(1 for c in comps if (c["hi"] < 0 if direction > 0 else c["lo"] > 0))
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
    up = sum(c["lo"] > 0 for c in comps)
    down = sum(c["hi"] < 0 for c in comps)
    return f"{up} of {len(comps)} resolvably better, {down} resolvably worse"


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


def make_row(ctx, protocol: str, claim: str, paper: str, comps, verdict: str, evidence: str, variants,
             seeds=None, rests_on=None, words=None) -> dict:
    """One verdict row. ``words`` maps the generic verdict to the claim's own vocabulary; a judged
    verdict from fewer than three seeds, or from a claim with configurations missing, is marked
    provisional. ``seeds``: the seeds it rests on (default: those its comparisons share)."""
    most = seeds
    if seeds is None:  # a comparison rests on the seeds both sides share
        counts = ([len(c["per_seed"]) for c in comps] if comps else
                  [len(ctx.groups[v].seeds) for v in variants if v in ctx.groups]) or [0]
        seeds, most = min(counts), max(counts)
    incomplete = seeds < 3 or any(v not in ctx.groups for v in variants)
    verdict = (words or {}).get(verdict, verdict)
    if verdict not in NOT_JUDGED and incomplete:  # nothing judged, nothing provisional
        verdict += " (provisional)"
    return {"dataset": ctx.dataset, "setting": ctx.setting, "protocol": protocol, "claim": claim,
            "paper": paper, "verdict": verdict, "evidence": evidence,
            "runs": f"{sum(v in ctx.groups for v in variants)} of {len(variants)} configs, "
                    + (f"{seeds} to {most} seeds" if most != seeds else f"{seeds} seed{'s' * (seeds != 1)}"),
            # the stored runs (folder names) the row's numbers come from
            "rests_on": (rests_on if rests_on is not None else compared_runs(ctx.groups, comps)
                         or stored_runs(ctx.groups, variants))}
