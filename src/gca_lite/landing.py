"""The answer on the book's landing page: one row per claim, computed from the committed store.

:func:`answer_table` renders any table with the columns of :data:`COLUMNS` (claim, what the paper
says, what we find on afk and on abe, the key difference with its 95 % interval, verdict), so it can
be fed by any source of verdicts. Today's source is the verdict rows the results page computes and
records (:func:`rows_from_verdicts`, the one adapter to re-point when the verdict layer changes).
:func:`answer_page` is the text ``scripts/build_book.py`` writes to ``book/generated/answer.md``,
which the landing page includes.
"""

from __future__ import annotations

import html
import re

from .experiments.rules import ABSENT, CHECK_WORDS, RANGE_WORDS, VERDICTS

COLUMNS = ("claim", "paper says", "afk", "abe", "key difference (95 % interval)", "verdict")
#: verdict word -> CSS class (colour) of its cell, derived from the rules' vocabulary (one home for the
#: words: ``experiments.rules``); the checks' and the |cos| row's words share their verdict's tone
_TONE = {"reproduced": "good", "partly": "part", "mixed": "part", "not reproduced": "bad", ABSENT: "bad"}
VERDICT_CLASS = {words.get(v, v): _TONE.get(v, "none") for v in VERDICTS
                 for words in ({}, CHECK_WORDS, RANGE_WORDS)}
_DOMAIN = re.compile(r"\s*\(NDCG@10, domain ([AB])\)|\s*\(domain ([AB])\)")


def _word(verdict: str) -> str:
    """The verdict without its qualifiers ("partly (provisional)" -> "partly")."""
    return verdict.split(" (")[0].strip()


def _finding(evidence: str) -> str:
    """A short reading of one verdict's evidence: its first clause."""
    first = re.split(r"[;(:]", evidence, maxsplit=1)[0].strip().rstrip(":,")
    return first if len(first) <= 48 else first[:45].rstrip() + "…"


def _combined(words: list[str]) -> str:
    return " / ".join(dict.fromkeys(words))


def rows_from_verdicts(verdicts, setting: str = "lite", protocol: str = "full", reading: str | None = None):
    """Today's verdict rows (``results`` record or ``verdicts.verdict_frame``: dataset, setting,
    protocol, claim, paper, verdict, evidence, key) -> one row per claim in :data:`COLUMNS`. Claims
    judged per domain (A, B) are merged into one row; the key difference is the row's ``key``, which
    the claim registry computes (``experiments.rules.key_difference``), afk's first (the paper's
    dataset), else abe's. ``reading`` (``block,ln``): only that reading's rows of a store holding
    several (v2)."""
    import pandas as pd

    frame = pd.DataFrame(verdicts)
    frame = frame[(frame["setting"] == setting) & (frame["protocol"] == protocol)]
    if reading is not None:
        frame = frame[frame["reading"] == reading]
    frame = frame.assign(base_claim=frame["claim"].map(lambda c: _DOMAIN.sub("", c)))
    rows = []
    for claim, part in frame.groupby("base_claim", sort=False):
        by_data = {d: part[part["dataset"] == d] for d in ("afk", "abe")}
        cells = {}
        for d, p in by_data.items():
            cells[d] = "; ".join(_finding(e) if len(p) == 1 else
                                 f"{_DOMAIN.search(c).group(0).strip(' ()').split()[-1]}: {_word(v)}"
                                 for c, v, e in zip(p["claim"], p["verdict"], p["evidence"])) or "no runs"
        # the key number each row carries from the claim registry (``rules.key_difference``): afk's first
        key = next((k for k in list(by_data["afk"]["key"]) + list(by_data["abe"]["key"]) if k and k != "—"), "—")
        paper = part["paper"].iloc[0]
        rows.append({"claim": claim, "paper says": paper if len(paper) <= 48 else paper[:45].rstrip() + "…", "afk": cells["afk"], "abe": cells["abe"],
                     "key difference (95 % interval)": key,
                     "verdict": _combined([_word(v) for v in part["verdict"]])})
    return pd.DataFrame(rows, columns=COLUMNS)


def answer_table(rows) -> str:
    """The landing page's table (HTML) of ``rows`` with the columns of :data:`COLUMNS`; each verdict
    word of the last column is coloured by :data:`VERDICT_CLASS`."""
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"answer_table: rows lack the column(s) {', '.join(missing)}")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for r in rows.itertuples(index=False):
        cells = [html.escape(str(v)) for v in r[:-1]]
        verdict = " / ".join(f'<span class="gca-verdict gca-{VERDICT_CLASS.get(w, "none")}">{html.escape(w)}</span>'
                             for w in str(r[-1]).split(" / "))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + f"<td>{verdict}</td></tr>")
    return (f'<table class="gca-answer"><thead><tr>{head}</tr></thead><tbody>' + "".join(body)
            + "</tbody></table>")


def answer_markdown_table(rows) -> str:
    """The same table as :func:`answer_table`, as a Markdown table (the README opens with it)."""
    return markdown_table(rows[list(COLUMNS)])  # |cos| must not split a cell: markdown_table escapes it


def bottom_line(rows) -> str:
    """One sentence: how many claims each verdict got."""
    words = [w for v in rows["verdict"] for w in v.split(" / ")]
    counts = {w: words.count(w) for w in dict.fromkeys(words)}
    n = len(rows)
    line = (f"**v1's bottom line.** {n} claims and checks judged on the real data (lite preset, full ranking, "
            "both datasets); the verdicts in their rows, each distinct verdict of a row counted once: "
            + ", ".join(f"{c} {w}" for w, c in counts.items()) + ".")
    if counts.get("not resolved", 0) > len(words) / 2:
        line += " Most differences are smaller than what these runs (three training seeds) can resolve."
    return line


def answer_markdown(verdicts, where: str) -> str:
    """The include file of the landing page: the table and the bottom line (MyST markdown)."""
    rows = rows_from_verdicts(verdicts)
    return (f"```{{raw}} html\n{answer_table(rows)}\n```\n\n{bottom_line(rows)} "
            f"Computed from {where}; the evidence is on the {{doc}}`results page <generated/results>`.\n")


LEAD = "What we find on ABXI's two real datasets, claim by claim (computed from the committed runs):"


def v2_markdown(snap: dict, v2_verdicts=None, link: str = "{doc}`pre-registered <preregistration>`") -> str:
    """The landing page's lead when a v2 store is there (``experiments.v2_view``), in place of
    :data:`LEAD`: while sealed, two lines (how far the pre-registered round is, and that the table
    below is v1's), so the answer table stays on the first screen; once unsealed, the pre-registered
    answer in words and as a table (``v2_answer``), v2's primary endpoint per dataset and
    confirmatory reading (the chosen one and today's; the screen's other readings are on the results
    page), how far v2 is and how its reading was chosen, then each confirmatory reading's claims. ``v2_verdicts``: the verdict rows the results page
    recorded for it (None while sealed)."""
    from .experiments import v2_view
    from .experiments.digest import primary_numbers
    from .experiments import readings as R
    from .experiments.v2_answer import ANSWER_LEAD, against_paper, in_words

    stored, registered, left = v2_view.counts(snap)
    head = (f"What we find on ABXI's two real datasets, from the committed runs. **v2**, the {link} round: "
            f"{stored} of {registered} runs stored, about {left:.0f} h to go")
    chosen = (snap.get("choice") or {}).get("chosen")
    if v2_verdicts is None or not len(v2_verdicts) or not chosen:
        why = ("its test scores stay sealed until the module's reading is chosen on validation scores"
               if snap.get("sealed") or not chosen else "this build did not compute its verdicts")
        return head + f"; {why}, so the table is **v1**'s answer (attention-only module), claim by claim:\n"
    part = v2_verdicts[v2_verdicts["setting"] == v2_view.V2_SETTING]
    shown = v2_view.confirmatory(part, chosen)
    answer = against_paper(part, chosen, snap.get("items"))
    primary = primary_numbers(part[part["reading"] == chosen])  # how much of δ the intervals allow
    # the answer in words and its table first, then the primary endpoint; how far v2 is comes after them
    text = [f"{in_words(answer, chosen, primary, v2_view.scope_sentence(snap.get('paper')))} {ANSWER_LEAD}", "",
            _html(plain_table(answer)), "",
            "**Primary endpoint**, per dataset, reading and domain (GCA[1]-sigmoid,True − base, test NDCG@10, "
            "full ranking, 95 % interval over test users and seeds"
            + ("" if shown == [chosen] else "; today's reading's rows count only for or against that reading")
            + "):", "", _html(primary_table(part[part["reading"].isin(shown)], chosen)), "",
            v2_view.KEY, "", v2_view.status_markdown(snap, link=link), ""]
    for reading in shown:
        rows = rows_from_verdicts(part, setting=v2_view.V2_SETTING, reading=reading)
        rows = rows[~rows["claim"].str.startswith("primary endpoint")]  # the table above has them
        tag = "the reading chosen on validation" + (", also today's" if reading == ",".join(R.TODAY) else "") \
            if reading == chosen else "today's reading"
        text += [f"**v2, {R.describe(R.parse_label(reading))}** (`{reading}`, {tag}), claim by claim:", "",
                 _html(answer_table(rows)), ""]
    return "\n".join(text) + "\n**v1**'s answer (attention-only module), claim by claim:\n"



def answer_page(results_ipynb) -> str:
    """The landing page's include file (``book/generated/answer.md``): v2's lead (:func:`v2_markdown`)
    or :data:`LEAD`, then v1's answer table, from what the executed results page ``results_ipynb``
    recorded (so both pages show the same verdicts); a pointer to the results page when that page
    was not executed."""
    from .book import read_record

    try:
        record = read_record(results_ipynb)
        text = answer_markdown(record["verdicts"], f"the {record['n_runs']} runs of `{record['store']}`")
        lead = LEAD
        if record.get("v2"):  # the pre-registered round first: its status, or its primary endpoint
            import pandas as pd

            found = record.get("v2_verdicts")
            lead = v2_markdown(record["v2"], None if found is None else pd.DataFrame(found))
        return lead + "\n" + text
    except (FileNotFoundError, LookupError, KeyError) as e:
        return f"*The answer table is computed by the results page, which this build did not execute ({e}).*\n"

#: the tone of ``v2_answer.against_paper``'s answers, by their first words
_COUNTS_TONE = (("against the paper", "bad"), ("mixed", "part"), ("not against", "good"))


def plain_table(frame, cls: str = "gca-answer") -> str:
    """Any frame as an HTML table of the landing page's style; a ``counts`` column (the
    pre-registered answer) is coloured like the verdicts."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)

    def cell(column, value):
        text = html.escape(str(value))
        if column != "counts":
            return f"<td>{text}</td>"
        tone = next((t for start, t in _COUNTS_TONE if str(value).startswith(start)), "none")
        return f'<td><span class="gca-verdict gca-{tone}">{text}</span></td>'

    body = "".join("<tr>" + "".join(cell(c, v) for c, v in zip(frame.columns, r)) + "</tr>"
                   for r in frame.itertuples(index=False))
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _html(table: str) -> str:
    return f"```{{raw}} html\n{table}\n```"


PRIMARY_COLUMNS = ("dataset", "reading", "domain", "difference [95 % interval]", "MDE", "δ (paper's gain)", "runs",
                   "verdict")


def primary_rows(verdicts, chosen: str | None = None, protocol: str = "full"):
    """v2's primary endpoint, one row per dataset, reading (``block,ln``) and domain, in
    :data:`PRIMARY_COLUMNS` (``experiments.v2_view.primary``); the ``chosen`` reading's rows first."""
    import pandas as pd

    from .experiments import v2_view

    frame = v2_view.primary(verdicts, protocol, words=False)
    if frame.empty:
        return pd.DataFrame(columns=PRIMARY_COLUMNS)
    frame = frame.rename(columns={c: "difference [95 % interval]" for c in frame.columns if "− base" in c})
    return frame.sort_values("reading", key=lambda col: col != chosen, kind="stable")[list(PRIMARY_COLUMNS)]


def primary_table(verdicts, chosen: str | None = None) -> str:
    """:func:`primary_rows` as the landing page's HTML table, the verdict coloured as in
    :func:`answer_table`."""
    frame = primary_rows(verdicts, chosen)
    if frame.empty:
        return "<p>No primary-endpoint runs yet.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in PRIMARY_COLUMNS)
    body = []
    for r in frame.itertuples(index=False):
        word = _word(str(r[-1]))
        cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in r[:-1])
        body.append(f'<tr>{cells}<td><span class="gca-verdict gca-{VERDICT_CLASS.get(word, "none")}">'
                    f"{html.escape(str(r[-1]))}</span></td></tr>")
    return (f'<table class="gca-answer gca-primary"><thead><tr>{head}</tr></thead><tbody>' + "".join(body)
            + "</tbody></table>")


def markdown_table(frame) -> str:
    """Any frame as a Markdown table (cells' ``|`` escaped)."""
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in r) + " |" for r in frame.itertuples(index=False)])
