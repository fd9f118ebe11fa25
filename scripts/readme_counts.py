"""Keep the README's answer in step with the store.

The README opens with where the pre-registered v2 round stands (and, once its seal is lifted,
its primary endpoint; ``gca_lite.experiments.v2_view``), then the answer table of the book's landing page (one row per claim: what the
paper says, what we find on afk and abe, the key difference with its 95 % interval, the verdict;
``gca_lite.landing``, the same code as the landing page) and the primary endpoint's verdicts
(``digest.primary_endpoint``). Both are computed from the committed store (no data needed; the
intervals are the results page's, with the same bootstrap seed) and live between HTML comments
naming them; this script rewrites exactly those passages. The store's other figures (runs, compute,
the findings per dataset) are computed live on the book's results appendix.

    python scripts/readme_counts.py            # print the passages it would write
    python scripts/readme_counts.py --write    # rewrite README.md
    python scripts/readme_counts.py --check    # exit 1 unless README.md already says what the store gives
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gca_lite.experiments import summary as S  # noqa: E402
from gca_lite.experiments import v2_view  # noqa: E402
from gca_lite.experiments.digest import N_BOOT, primary_endpoint, primary_numbers  # noqa: E402
from gca_lite.experiments.prereg import read_choice, sealed  # noqa: E402
from gca_lite.experiments.v2_answer import ANSWER_LEAD, against_paper, in_words  # noqa: E402
from gca_lite.experiments.v2_progress import SNAPSHOT, read_snapshot  # noqa: E402
from gca_lite.experiments.verdicts import verdict_frame  # noqa: E402
from gca_lite.landing import (answer_markdown_table, bottom_line, markdown_table, primary_rows,  # noqa: E402
                              rows_from_verdicts)

STORE = "results"
V2_STORE = "results_v2"


def _wrap(text: str) -> str:
    """``text`` wrapped at 100 columns, a list item's continuation lines indented."""
    return textwrap.fill(text, width=100, subsequent_indent="  " if text.startswith("- ") else "",
                         break_on_hyphens=False, break_long_words=False)


def _minus(text: str) -> str:
    """The README writes negative numbers with a minus sign, not a hyphen."""
    return re.sub(r"(?<![\w\]])-(?=\d)", "−", text)


def passages(root: Path = REPO) -> list[tuple[str, str]]:
    """(regex, replacement) for every passage of the README that quotes the store."""
    store = root / STORE
    verdicts = verdict_frame(store, n_boot=N_BOOT)
    rows = rows_from_verdicts(verdicts)
    n_runs = len(S.run_table(store))
    answer = (_minus(answer_markdown_table(rows)) + "\n\n"
              + _wrap(bottom_line(rows) + f" Computed from the {n_runs} runs of `{STORE}/`."))
    return [_between("v2", _minus(_v2(root, verdicts))), _between("answer", answer),
            _between("primary endpoint", _minus(_wrap(primary_endpoint(verdicts))))]


def _v2(root: Path, v1_verdicts) -> str:
    """v2's paragraph: where the pre-registered runs stand (the store's committed snapshot, no data
    needed) and, once its seal is lifted, its primary endpoint per dataset and reading beside v1's
    verdicts (``v1_verdicts``, computed once by :func:`passages`)."""
    snap = read_snapshot(root / V2_STORE)
    if snap is None:
        raise SystemExit(f"{V2_STORE}/{SNAPSHOT} missing: python -m gca_lite.experiments.v2_progress --write")
    snap = {**snap, "choice": read_choice(root / V2_STORE), "sealed": bool(sealed(root / V2_STORE))}  # live
    status = _wrap(v2_view.status_markdown(snap, link="[pre-registered](book/preregistration.md)"))
    if sealed(root / V2_STORE):
        return status
    v2 = verdict_frame(root / V2_STORE, n_boot=N_BOOT)
    v2 = v2[v2["setting"] == v2_view.V2_SETTING]
    chosen = snap["choice"]["chosen"]
    v2 = v2[v2["reading"].isin(v2_view.confirmatory(v2, chosen))]  # the screen's other readings: book
    answer = against_paper(v2, chosen, snap["items"])
    primary = primary_rows(v2, chosen)
    paper = v2_view.paper_item(chosen, str(root / v2_view.PAPER_GRID), str(root / v2_view.PAPER_STORE))
    found = v2_view.paper_section(chosen, str(root / v2_view.PAPER_STORE), n_boot=N_BOOT)  # ABXI's size, once run
    at_size = ("" if not found else "\n\n" + _wrap(found[0])
               + ("\n\n" + markdown_table(found[1]) if found[1] is not None and len(found[1]) else ""))
    lead = in_words(answer, chosen, primary_numbers(v2[v2["reading"] == chosen]), v2_view.scope_sentence(paper))
    # the answer in words and its table first, then the primary endpoint; how far v2 is after them
    text = (_wrap(f"{lead} {ANSWER_LEAD}") + "\n\n" + markdown_table(answer)
            + "\n\n**Primary endpoint** per dataset, reading and domain (GCA[1]-sigmoid,True − base, test NDCG@10, "
            "full ranking, 95 % interval over test users and seeds"
            + ("" if set(primary["reading"]) == {chosen} else "; today's reading's rows count only for or against "
               "that reading") + "):\n\n" + markdown_table(primary)
            + "\n\n" + _wrap(v2_view.KEY)
            + "\n\nThe same comparison under ABXI's sampled protocol (secondary: the target ranked against 999 "
            "sampled items of its domain):\n\n" + markdown_table(primary_rows(v2, chosen, protocol="sampled"))
            + at_size
            + "\n\n" + status + "\n\nEvery claim's verdict, v2 per reading beside v1:\n\n"
            + markdown_table(v2_view.beside_all(v1_verdicts, v2)))
    return text


def _between(name: str, text: str) -> tuple[str, str]:
    """(regex, replacement) of a generated passage: ``text`` between the two HTML comments of ``name``."""
    start, end = f"<!-- {name}: written by scripts/readme_counts.py -->", f"<!-- end of {name} -->"
    return rf"^{re.escape(start)}\n(?:.|\n)*?^{re.escape(end)}$", f"{start}\n{text}\n{end}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite README.md")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 unless README.md already says what the store gives")
    args = ap.parse_args(argv)
    readme = REPO / "README.md"
    text = original = readme.read_text(encoding="utf-8")
    missing = []
    for pattern, replacement in passages():
        text, n = re.subn(pattern, lambda _: replacement, text, flags=re.M)
        if n != 1:
            missing.append(f"{n} matches for {pattern!r}")
        elif not args.check:
            print(replacement.replace("\n", " "))
    if missing:
        print("README.md: passages not found exactly once:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    if args.check and text != original:
        diff = difflib.unified_diff(original.splitlines(), text.splitlines(), "README.md", "from the store",
                                    n=0, lineterm="")
        print("README.md quotes figures the store no longer gives (run scripts/readme_counts.py --write):\n"
              + "\n".join(diff), file=sys.stderr)
        return 1
    if args.write and text != original:
        readme.write_text(text, encoding="utf-8")
        print("README.md rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
