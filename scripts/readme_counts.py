"""Keep the README's description of the results store in step with the store.

The README's "Real-data results" section quotes how many runs `results/` holds, the lite runs of
each dataset and their seeds and what they show (paired differences with their intervals, LayerNorm
on against off, the same-day shuffle, runs cut short; a list per dataset between two HTML comments),
how much of the lite intervals is retraining noise, how early stopping relates to the test score,
the compute spent and what the rest of the planned grid will cost. These figures change with every
run the background sweep stores; this script recomputes them from the store and the grid file (no
data needed; the intervals are the results page's, with the same bootstrap seed) and rewrites
exactly those passages. The lite runs and the findings below them come from the one "In short"
assembler (``digest.in_short``) and live between HTML comments naming them.

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

from gca_lite.experiments import ResultsStore  # noqa: E402
from gca_lite.experiments import summary as S  # noqa: E402
from gca_lite.experiments.artefact import artefact_frame  # noqa: E402
from gca_lite.experiments.digest import LITE, N_BOOT, in_short, seeds_label  # noqa: E402
from gca_lite.experiments.verdicts import contexts, verdict_frame  # noqa: E402

STORE, GRID = "results", "experiments/real_lite_grid.yaml"
KEPT_APART = ("benchmarks/results/paper_shared_gpu", "benchmarks/results/paper_one_window")


def run_list(progress, dataset: str) -> str:
    """The stored lite configurations of ``dataset``, grouped by their stored seeds (most first)."""
    groups: dict[bool, dict[str, list[str]]] = {False: {}, True: {}}
    for row in progress[(progress["dataset"] == dataset) & (progress["stored"] != "")].itertuples():
        shuffled = row.configuration.endswith(", same-day shuffle")
        name = row.configuration.removesuffix(", same-day shuffle")
        groups[shuffled].setdefault(row.stored, []).append(name)

    def listed(by_seeds: dict[str, list[str]]) -> str:
        order = sorted(by_seeds.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        return "; ".join(f"{', '.join(names)}: {seeds_label(seeds)}" for seeds, names in order)

    text = listed(groups[False])
    return text + (f"; on same-day-shuffled data, {listed(groups[True])}" if groups[True] else "")


def _wrap(text: str) -> str:
    """``text`` wrapped at 100 columns, a list item's continuation lines indented."""
    return textwrap.fill(text, width=100, subsequent_indent="  " if text.startswith("- ") else "",
                         break_on_hyphens=False, break_long_words=False)


def _item(text: str, level: int = 0) -> str:
    """``text`` as a markdown list item at nesting ``level``, wrapped at 100 columns."""
    pad = "  " * level
    return textwrap.fill(text, width=100, initial_indent=pad + "- ", subsequent_indent=pad + "  ",
                         break_on_hyphens=False, break_long_words=False)


def _minus(text: str) -> str:
    """The README writes negative numbers with a minus sign, not a hyphen."""
    return re.sub(r"(?<![\w\]])-(?=\d)", "−", text)


def passages(root: Path = REPO) -> list[tuple[str, str]]:
    """(regex, replacement) for every passage of the README that quotes the store."""
    store = root / STORE
    runs = S.run_table(store)
    lite = runs[runs["setting"].str.startswith("lite")]
    progress = S.grid_progress(store, root / GRID)
    planned = sum(len(s.split(",")) for s in progress["planned"])
    stored = sum(len(s.split(",")) for s in progress["stored"] if s)
    wall = S.sweep_wall(store)
    cpu = wall[wall["device"] == "cpu"].iloc[0]
    minutes = lite["wall_seconds"] / 60
    rest = planned - stored
    rest_hours = rest * minutes.median() / 60
    apart = sum(len(ResultsStore(root / d).run_dirs()) for d in KEPT_APART)
    # the newest run's date, not today's, so that the passage depends on the store alone (--check)
    newest = str(runs["stored_at"].dropna().max())[:10]
    ctxs = [c for c in contexts(store) if c.setting == LITE]
    art = artefact_frame(ctxs, protocols=("full",), n_boot=N_BOOT)
    length, cut_short = S.training_length(store)
    verdicts = verdict_frame(store, n_boot=N_BOOT)
    out = [
        (r"What `results/` holds now \(\d+ runs, [\d-]+; \d+ of the \d+ planned lite runs;",
         f"What `results/` holds now ({len(runs)} runs, {newest}; {stored} of the {planned} planned lite runs;"),
        (r"Compute in the store: [\d.]+ CPU hours for the lite runs",
         f"Compute in the store: {minutes.sum() / 60:.1f} CPU hours for the lite runs"),
        (r"The dated runs of the sweep \(\d+, trained two at a time on one thread each\) took [\d.]+\n"
         r"hours of wall time for [\d.]+ run-hours",
         f"The dated runs of the sweep ({int(cpu['timed runs'])}, trained two at a time on one thread each) took "
         f"{cpu['wall hours']:.1f}\nhours of wall time for {cpu['run hours']:.1f} run-hours"),
        # while the sweep runs, what is left of it; once the grid is stored, that it is complete
        (r"(?:The rest of the grid \(\d+ runs\) is about \d+ run-hours at the\n"
         r"stored runs' median of \d+ minutes, about \d+ hours of wall time two at a time"
         r"|The grid is complete: all \d+ planned lite runs are\nstored, at a median of \d+ minutes a run)",
         f"The rest of the grid ({rest} runs) is about {rest_hours:.0f} run-hours at the\nstored runs' median of "
         f"{minutes.median():.0f} minutes, about {rest_hours / 2:.0f} hours of wall time two at a time" if rest else
         f"The grid is complete: all {planned} planned lite runs are\nstored, at a median of "
         f"{minutes.median():.0f} minutes a run"),
        (r"\(\d+ runs plus the \d+ kept apart", f"({len(runs)} runs plus the {apart} kept apart"),
        (r"a lite run takes \d+ to \d+ minutes on this 2-core",
         f"a lite run takes {minutes.min():.0f} to {minutes.max():.0f} minutes on this 2-core"),
    ]
    # the results page's "In short" for the lite settings: per dataset the stored lite runs, then what
    # they show, one sub-item per finding; then the noise and early-stopping bullets and the final verdicts
    blocks, final = in_short(ctxs, verdicts, art, runs, length, cut_short,
                             head=lambda ctx: f"**{ctx.dataset}**, stored: {run_list(progress, ctx.dataset)}.")
    primary = [b for b in blocks if b.startswith("- **Primary endpoint")]
    settings = [b for b in blocks if b not in primary][:len(ctxs)]
    items = []
    for block in settings:
        first, *findings = block.split("\n")
        items += [_item(first[2:])] + [_item(_minus(x[4:]), 1) for x in findings]
    out.append(_between("lite runs", "\n".join(items)))
    out.append(_between("lite findings", "\n".join(_minus(_wrap(b)) for b in blocks
                                                   if b not in settings and b not in primary)
                        + "\n\n" + _minus(_wrap(final))))
    out.append(_between("primary endpoint", "\n".join(_minus(_wrap(b)) for b in primary)))
    return out


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
