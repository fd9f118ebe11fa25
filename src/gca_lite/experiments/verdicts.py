"""One verdict per claim of the paper, decided from a results store by fixed, stated rules.

Every claim is judged per dataset, per setting (``lite``, ``paper``: the presets the runs used) and
per protocol (full ranking; ABXI's sampled one), from *paired* comparisons on the same test users
and training seeds (``stats.compare``: per-user differences averaged over the common seeds, 95 %
paired bootstrap CI over users, widened from two seeds on by the seed-to-seed spread of the paired
means, decision D16). A comparison is *resolved* when that interval excludes 0.

Verdicts for "X beats Y" claims over a set of n comparisons:

* ``reproduced``: every comparison resolved in the claimed direction;
* ``partly``: more resolved in the claimed direction than against it (but not all);
* ``mixed``: as many resolved against the claim as for it (at least one each way);
* ``not reproduced``: more resolved against the claim than for it;
* ``not resolved``: none resolved either way (any effect is below what these runs can detect).

The ordering-artefact checks (rows ``check: ...``) are not claims of the paper; the same rules
apply, with *holds*, *partly holds* and *fails* for reproduced, partly and not reproduced.

Correlation claims use Pearson r over runs with a Fisher-z 95 % CI (reproduced: CI below 0;
not reproduced: CI above 0; otherwise not resolved). "Best variant" claims use the variant's rank
among the stored GCA variants (reproduced: first on every metric; partly: first on some; not
reproduced: first on none): point estimates, not intervals. The near-orthogonality row compares
each run's mean |cos(X, X')| with the range of the blog's ABXI panel, a weak check that our runs
look like the paper's (the paper states no threshold): it reads *in range* (every run inside it),
*partly in range* or *out of range*, beside the |cos| of two random directions. Verdicts from
fewer than 3 seeds, or from a grid with variants missing, are marked ``provisional``; *too few
runs* and *no runs* judge nothing.
"""

from __future__ import annotations

from .claims import CLAIMS, MIN_CORR_VARIANTS, MIN_RANKED, RANGE_CLAIM  # noqa: F401  (re-exported)
from .context import Context, contexts, unique_labels  # noqa: F401  (re-exported: the verdicts' inputs)
from .rules import (CHECK_VERDICTS, CHECK_WORDS, COLOURS, RANGE_VERDICTS, RANGE_WORDS, VERDICTS,  # noqa: F401
                    combine, judge, make_row)
from .stats import pearson, within_variant_r  # noqa: F401  (re-exported)
from .store import ResultsStore


def claim_rows(ctx: Context, protocol: str, n_boot: int = 1000) -> list[dict]:
    """Every claim's verdict rows for one (dataset, setting, protocol), in the registry's order."""
    rows = []
    for claim in CLAIMS:
        def emit(comps, verdict, evidence, variants, seeds=None, rests_on=None, domain=None, claim=claim):
            wording, paper = claim.text(domain)
            rows.append(make_row(ctx, protocol, wording, paper, comps, verdict, evidence, variants, seeds,
                                 rests_on, claim.words))
        claim.decide(ctx, protocol, n_boot, emit)
    return rows


def verdict_frame(store: ResultsStore | str, protocols=("full", "sampled"), n_boot: int = 1000,
                  ctxs: list[Context] | None = None):
    """All verdict rows of a store (columns: dataset, setting, protocol, claim, paper, verdict,
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
    return pd.DataFrame(rows, columns=["dataset", "setting", "protocol", "claim", "paper", "verdict",
                                       "evidence", "runs", "rests_on"])


def judged(verdict: str) -> bool:
    """Whether a verdict judges its claim (*too few runs* and *no runs* judge nothing)."""
    return not str(verdict).startswith(("no runs", "too few runs"))


def with_notes(verdicts, extra):
    """``verdicts`` with ``extra(row)`` (a sentence, or "" for none) appended to each row's ``note``
    (created if missing); the notes of the results page's evidence table are built this way."""
    notes = ["; ".join(filter(None, [getattr(row, "note", "") or "", extra(row)])) for row in verdicts.itertuples()]
    return verdicts.assign(note=notes)
