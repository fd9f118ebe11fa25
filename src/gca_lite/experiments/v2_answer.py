"""The pre-registered answer: book/preregistration.md's "What counts against the paper", applied
to the v2 verdict rows of the chosen reading.

Per claim the page names and per dataset, the claim's verdict rows (both domains, and for the
variant claim both metrics) are read together:

* *not judged yet* while the pre-registered item behind the claim is incomplete (the progress
  snapshot's ``stored`` below its ``runs``), or a row is provisional or has no runs: a verdict
  from the screen's five seeds or from part of a grid is not the registered test;
* *against* when every row reads a word that counts against the paper for that claim;
* *neither* when every row reads *not resolved*, *untestable* or a word that counts against, and
  not every row the last (part against, the rest unresolved: counts neither way);
* *not against* otherwise (some row judged the other way, e.g. *reproduced* or *partly*).

Across the two datasets: *against the paper* when both are against, *mixed* when one is, *not
against the paper* when neither is and one reads *not against*, else *neither way*. The same-day
shuffle is a check: it qualifies the headline and never counts against by itself.
"""

from __future__ import annotations

from .prereg import SCREEN_DATASETS

ABSENT, NOT_REPRODUCED = "absent at the paper's size", "not reproduced"
HEADLINE_ITEM, TABLE_ITEM, SCALING_ITEM, SHUFFLE_ITEM = (
    "primary endpoint, chosen reading", "variant table, chosen reading", "scaling curves, chosen reading",
    "same-day shuffle, chosen reading")

#: (name, ((claim text prefix, label in a cell), ...), words that count against, the item behind it)
AGAINST = (
    ("the headline: GCA[1]-sigmoid,True − base (NDCG@10)", (("primary endpoint", ""),), (ABSENT, NOT_REPRODUCED),
     HEADLINE_ITEM),
    ("GCA variants improve NDCG@10 (and AUC)", (("GCA variants improve NDCG@10", "NDCG@10"),
                                               ("GCA variants improve AUC", "AUC")), (NOT_REPRODUCED,), TABLE_ITEM),
    ("LayerNorm on improves every variant", (("LayerNorm on improves every variant", ""),), (NOT_REPRODUCED,),
     TABLE_ITEM),
    ("each further module adds NDCG@10", (("Each further GCA module adds", ""),), (NOT_REPRODUCED, ABSENT),
     SCALING_ITEM),
    ("GCA beats a base widened to its size", (("base + GCA beats the parameter-matched base", ""),),
     (NOT_REPRODUCED, ABSENT), SCALING_ITEM),
)
SHUFFLE = ("the gain survives the same-day shuffle (a check)",
           "check: the GCA gain over the base survives the same-day shuffle", SHUFFLE_ITEM)
NEITHER = ("not resolved", "untestable")
#: the words that lead from :func:`in_words` to :func:`against_paper`'s table, wherever both are shown
ANSWER_LEAD = "Claim by claim, by the pre-registered rule:"


def _word(verdict: str) -> str:
    return str(verdict).split(" (")[0].strip()


def dataset_state(verdicts: list[str], counts: tuple[str, ...]) -> str:
    """``unjudged``, ``against``, ``neither`` or ``not against`` for one dataset's rows of a claim."""
    words = [_word(v) for v in verdicts]
    if not words or any("provisional" in v for v in verdicts) or any(w in ("no runs", "too few runs") for w in words):
        return "unjudged"
    if all(w in counts for w in words):
        return "against"
    return "neither" if all(w in NEITHER or w in counts for w in words) else "not against"


def item_state(items: list[dict] | None, name: str) -> str:
    """"" when the item behind a claim is complete (or no snapshot is given), else why it is not."""
    row = next((r for r in items or [] if r["item"] == name), None)
    if row is None:
        return ""
    if "dropped" in (row.get("note") or ""):
        return "not judged (the cut rule dropped its runs)"
    if row["stored"] is None or row["stored"] < row["runs"]:
        return f"not judged yet ({name.split(',')[0]}: {row['stored'] or 0} of {row['runs']} runs)"  # chosen reading's
    return ""


def against_paper(verdicts, chosen: str, items: list[dict] | None = None, protocol: str = "full",
                  datasets=SCREEN_DATASETS, setting: str = "lite_v2"):
    """One row per claim of :data:`AGAINST`, then the shuffle check: the verdicts per dataset (as
    written, qualifiers kept) and what they count for (module docstring). ``verdicts``: verdict
    rows with a ``reading`` column (``verdicts.verdict_frame``); only the ``chosen`` reading's rows
    in the registered preset (``setting``) count; if the screen chose today's reading, its runs are
    the chosen reading's. ``items``: the progress snapshot's items (``v2_progress``), so a claim
    whose item is incomplete is not judged; None skips that check."""
    import pandas as pd

    empty = verdicts is None or len(verdicts) == 0 or "reading" not in verdicts
    part = None if empty else verdicts[(verdicts["reading"] == chosen) & (verdicts["protocol"] == protocol)]
    if part is not None and "setting" in part:  # a paper-preset run is reported apart
        part = part[part["setting"] == setting]

    def rows_of(ds, prefix):
        if part is None:
            return []
        return list(part[(part["dataset"] == ds) & part["claim"].str.startswith(prefix)]["verdict"])

    def cell(ds, prefixes):
        shown = [(label, " / ".join(dict.fromkeys(rows_of(ds, p))) or "no runs") for p, label in prefixes]
        return "; ".join(f"{label} {text}" if label else text for label, text in shown)

    out = []
    for name, prefixes, counts, item in AGAINST:
        states = {ds: dataset_state([v for p, _ in prefixes for v in rows_of(ds, p)], counts) for ds in datasets}
        against = [ds for ds in datasets if states[ds] == "against"]
        answer = (item_state(items, item) or
                  ("not judged yet (provisional or missing runs)" if "unjudged" in states.values() else
                   "against the paper" if len(against) == len(datasets) else
                   f"mixed (against on {against[0]} only)" if against else
                   "not against the paper" if "not against" in states.values() else "neither way"))
        out.append({"claim": name, **{ds: cell(ds, prefixes) for ds in datasets}, "counts": answer})
    name, prefix, item = SHUFFLE
    out.append({"claim": name, **{ds: cell(ds, ((prefix, ""),)) for ds in datasets},
                "counts": item_state(items, item) or "qualifies the headline; never counts against by itself"})
    return pd.DataFrame(out, columns=["claim", *datasets, "counts"])


#: how each answer of :func:`against_paper` reads as a predicate, (one claim, several claims)
_PREDICATES = (("against the paper", ("counts against it", "count against it")),
               ("mixed", ("is mixed", "are mixed")),
               ("not against the paper", ("does not count against it", "do not count against it")),
               ("neither way", ("counts neither way", "count neither way")),
               ("not judged yet", ("is not judged yet", "are not judged yet")),
               ("not judged", ("was dropped by the cut rule", "were dropped by the cut rule")))


def _predicate(answer: str, n: int) -> str:
    forms = next(forms for start, forms in _PREDICATES if answer.startswith(start))
    return forms[n != 1]


def in_words(answer, chosen: str, primary=None, scope: str = "") -> str:
    """:func:`against_paper`'s table in plain sentences, for the first screen: what the headline
    test counts for (with ``primary``, the chosen reading's primary-endpoint rows of
    ``digest.primary_numbers``, how much of the paper's gain the intervals still allow), ``scope``
    (a sentence on what the runs are, e.g. ``v2_view.scope_sentence``), and how the other
    pre-registered claims stand (the shuffle check is not a claim)."""
    from . import readings as R

    head, others = answer.iloc[0], answer.iloc[1:][~answer.iloc[1:]["claim"].eq(SHUFFLE[0])]
    datasets = [c for c in answer.columns if c not in ("claim", "counts")]
    words = {_word(v) for ds in datasets for v in str(head[ds]).split(" / ")}
    reading = R.parse_label(chosen)
    whose = "v1's " if reading == R.TODAY else ""
    what = f"under the reading chosen on validation ({whose}{R.describe(reading)}, `{chosen}`)"
    verdict = head["counts"]
    if verdict == "against the paper":
        allowed = _allowed(primary)
        found = ("a gain in test NDCG@10 as large as the paper's would have shown on " + " and ".join(datasets)
                 + ", and none did" + (f"; the 95 % intervals still allow gains of up to {allowed * 100:.0f} % of it"
                                       if allowed is not None and allowed > 0 else "")
                 if words == {ABSENT} else
                 "on " + " and ".join(datasets) + " its test NDCG@10 reads " + " / ".join(sorted(words)))
        text = (f"**In short: the pre-registered headline test counts against the paper.** {what[0].upper()}"
                f"{what[1:]}, GCA[1]-sigmoid,True against the base: {found}.")
    else:  # the predicate, then what the answer adds in brackets ("mixed (against on afk only)")
        kind = next(start for start, _ in _PREDICATES if verdict.startswith(start))
        predicate = _predicate(kind, 1).replace("against it", "against the paper")
        detail = verdict[len(kind):] if kind in ("mixed", "not judged yet") else ""
        cells = "" if kind.startswith("not judged") else ": " + "; ".join(f"{ds} {head[ds]}" for ds in datasets)
        text = f"**In short: the pre-registered headline test {predicate}**{detail}, {what}{cells}."
    if scope:
        text += " " + scope
    tally = others["counts"].map(lambda a: next(start for start, _ in _PREDICATES if a.startswith(start)))
    if len(tally):
        counted = tally.value_counts(sort=False)
        text += (f" The {len(others)} other pre-registered claims {_predicate(counted.index[0], 2)}." if len(counted) == 1
                 else f" Of the {len(others)} other pre-registered claims, "
                 + _join([f"{n} {_predicate(kind, n)}" for kind, n in counted.items()]) + ".")
    return text


def _allowed(primary) -> float | None:
    """The largest upper interval bound of the primary endpoint as a fraction of its δ (the paper's
    gain), over the rows of ``primary`` (``digest.primary_numbers``); None where a row lacks
    either (say nothing rather than part of it)."""
    if primary is None or not len(primary):
        return None
    fractions = primary["hi"] / primary["delta"]
    if fractions.isna().any() or (primary["delta"] <= 0).any():
        return None
    return float(fractions.max())


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
