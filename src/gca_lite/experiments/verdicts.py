"""One verdict per claim of the paper, decided from a results store by fixed, stated rules.

Every claim is judged per dataset, per setting (``lite``, ``paper``: the presets the runs used) and
per protocol (full ranking; ABXI's sampled one), from *paired* comparisons on the same test users
and training seeds (``stats.compare``: per-user differences averaged over the common seeds, 95 %
paired bootstrap CI over users, widened from two seeds on by the seed-to-seed spread of the paired
means, decision D16). A comparison is *resolved* when that interval excludes 0.

The claims are the registry of :mod:`claims` (one function each; add a claim there), decided by
the rules of :mod:`rules` (decision D14): the primary endpoint first (GCA[1]-sigmoid,True − base,
test NDCG@10, full ranking); Holm's correction inside a claim of many comparisons, so that
*reproduced* / *partly* / *mixed* / *not reproduced* count comparisons resolved after it; *absent at
the paper's size* when nothing resolves and every interval lies inside ±δ (the paper's own gain);
*untestable* for configurations that are numerically the same model; the minimum detectable effect
beside every comparison. The "best variant" claim fails only when another variant resolvably beats
it. |cos| is judged per module beside its chance level; its relation to NDCG@10 over variant means
and within variants given the selected epoch, and over the epochs of each run (Figure 1(b)). The
ordering-artefact checks (rows ``check: ...``) read *holds*, *partly holds* and *fails*. Verdicts
from fewer than 3 seeds, or from a grid with variants missing, are marked ``provisional``; *too few
runs*, *no runs* and *untestable* judge nothing.
"""

from __future__ import annotations

from .claims import CLAIMS, MIN_CORR_VARIANTS, MIN_RANKED, RANGE_CLAIM  # noqa: F401  (re-exported)
from .context import Context, contexts, unique_labels  # noqa: F401  (re-exported: the verdicts' inputs)
from .rules import (CHECK_VERDICTS, CHECK_WORDS, COLOURS, NOT_JUDGED, RANGE_VERDICTS, RANGE_WORDS,  # noqa: F401
                    VERDICTS, combine, judge, make_row)
from .stats import pearson, within_variant_r  # noqa: F401  (re-exported)
from .store import ResultsStore


def claim_rows(ctx: Context, protocol: str, n_boot: int = 1000) -> list[dict]:
    """Every claim's verdict rows for one (dataset, setting, protocol), in the registry's order."""
    rows = []
    for claim in CLAIMS:
        def emit(comps, verdict, evidence, variants, seeds=None, rests_on=None, domain=None, key=None,
                 claim=claim):
            wording, paper = claim.text(domain)
            rows.append(make_row(ctx, protocol, wording, paper, comps, verdict, evidence, variants, seeds,
                                 rests_on, claim.words, key, domain))
        claim.decide(ctx, protocol, n_boot, emit)
    return rows


def verdict_frame(store: ResultsStore | str, protocols=("full", "sampled"), n_boot: int = 1000,
                  ctxs: list[Context] | None = None):
    """All verdict rows of a store (columns: dataset, setting, reading (``readings.label``), protocol, claim, paper, verdict,
    evidence, runs, rests_on: the folders of the stored runs its numbers come from); settings without a base
    model are skipped. ``ctxs``: the store's :func:`contexts`, when the caller already has them
    (reading a store is the slow part)."""
    import pandas as pd

    rows = []
    for ctx in (contexts(store) if ctxs is None else ctxs):
        if "base" not in ctx.groups:
            continue
        for protocol in protocols:
            rows.extend(claim_rows(ctx, protocol, n_boot))
    return pd.DataFrame(rows, columns=["dataset", "setting", "reading", "protocol", "claim", "paper", "verdict",
                                       "evidence", "runs", "rests_on", "key"])


def judged(verdict: str) -> bool:
    """Whether a verdict judges its claim (*too few runs*, *no runs* and *untestable* judge nothing)."""
    return not str(verdict).startswith(NOT_JUDGED)


def with_notes(verdicts, extra):
    """``verdicts`` with ``extra(row)`` (a sentence, or "" for none) appended to each row's ``note``
    (created if missing); the notes of the results page's evidence table are built this way."""
    notes = ["; ".join(filter(None, [getattr(row, "note", "") or "", extra(row)])) for row in verdicts.itertuples()]
    return verdicts.assign(note=notes)
