"""Keep the README's description of the results store in step with the store.

The README's "Real-data results" section quotes how many runs `results/` holds, the lite runs of
each dataset and their seeds, what they show (paired differences with their intervals, the same-day
shuffle, runs cut short), how much of the lite intervals is retraining noise, how early stopping
relates to the test score, the compute spent and what the rest of the planned grid will cost.
These figures change with every run the background sweep stores; this script recomputes them from
the store and the grid file (no data needed; the intervals are the results page's, with the same
bootstrap seed) and rewrites exactly those passages.

    python scripts/readme_counts.py            # print the passages it would write
    python scripts/readme_counts.py --write    # rewrite README.md
    python scripts/readme_counts.py --check    # exit 1 unless README.md already says what the store gives
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from gca_lite.experiments import ResultsStore  # noqa: E402
from gca_lite.experiments import summary as S  # noqa: E402
from gca_lite.experiments.artefact import artefact_frame  # noqa: E402
from gca_lite.experiments.report import DOMAINS, fmt_ci  # noqa: E402
from gca_lite.experiments.verdicts import contexts, verdict_frame  # noqa: E402

STORE, GRID = "results", "experiments/real_lite_grid.yaml"
KEPT_APART = ("benchmarks/results/paper_shared_gpu", "benchmarks/results/paper_one_window")


def _seeds(stored: str) -> str:
    xs = [int(x) for x in stored.split(",")]
    if len(xs) == 1:
        return f"seed {xs[0]}"
    return f"seeds {xs[0]}-{xs[-1]}" if xs == list(range(xs[0], xs[-1] + 1)) else "seeds " + ", ".join(map(str, xs))


def run_list(progress, dataset: str) -> str:
    """The stored lite configurations of ``dataset``, grouped by their stored seeds (most first)."""
    groups: dict[bool, dict[str, list[str]]] = {False: {}, True: {}}
    for row in progress[(progress["dataset"] == dataset) & (progress["stored"] != "")].itertuples():
        shuffled = row.configuration.endswith(", same-day shuffle")
        name = row.configuration.removesuffix(", same-day shuffle")
        groups[shuffled].setdefault(row.stored, []).append(name)

    def listed(by_seeds: dict[str, list[str]]) -> str:
        order = sorted(by_seeds.items(), key=lambda kv: (-len(kv[0]), kv[0]))
        return "; ".join(f"{', '.join(names)}: {_seeds(seeds)}" for seeds, names in order)

    text = listed(groups[False])
    return text + (f"; on same-day-shuffled data, {listed(groups[True])}" if groups[True] else "")


# ----------------------------------------------------------------- what the lite runs show
#: the paired comparisons each lite row of the README quotes first: (variant, reference)
KEY_PAIRS = (("GCA[1]-sigmoid,True", "base"), ("GCA[0]-sigmoid,True", "base~1xGCA,True"),
             ("GCA[0,1,2]-sigmoid,True", "base~3xGCA,True"))
N_BOOT = 1000  # as on the results page, so that both quote the same intervals
LITE = "lite"


def _short(variant: str) -> str:
    return variant.removesuffix("-sigmoid,True")


def _resolved(c: dict, users_only: bool = False) -> bool:
    lo, hi = (c["lo_users"], c["hi_users"]) if users_only else (c["lo"], c["hi"])
    return lo > 0 or hi < 0


def _with_users(c: dict) -> str:
    """``fmt_ci`` of a comparison, plus its users-only interval where that one tells another story."""
    text = fmt_ci(c)
    if len(c["per_seed"]) > 1 and _resolved(c, users_only=True) != _resolved(c):
        text += f" (users only [{c['lo_users']:+.4f}, {c['hi_users']:+.4f}])"
    return text


def against_base(ctx, metric: str, users_only: bool = False) -> list[str]:
    """Every GCA variant's difference from the base (both protocols and domains) that is resolved
    in ``metric``, formatted; the intervals cover retraining unless ``users_only``."""
    out = []
    for variant in sorted(v for v in ctx.groups if v.startswith("GCA")):
        for protocol in ("full", "sampled"):
            for dom, dname in enumerate(DOMAINS):
                c = ctx.compare(variant, "base", protocol, dom, metric, N_BOOT)
                if c and _resolved(c, users_only):
                    seeds = len(c["per_seed"])
                    out.append(f"{_short(variant)} {protocol} {dname} {fmt_ci(c)}"
                               + (f" ({seeds} seed{'s' * (seeds != 1)})" if seeds < 3 else ""))
    return out


def lite_findings(ctx, art, cut_short) -> str:
    """The "what they show" cell of one dataset's lite row: the key paired differences (full
    ranking, NDCG@10), every difference from the base resolved in NDCG@10 or AUC, the same-day
    shuffle's change of the gain and the runs early stopping cut short.
    ``art``: ``artefact_frame`` rows; ``cut_short``: ``summary.training_length``'s second table."""
    most = max((len(g.seeds) for g in ctx.groups.values()), default=0)
    parts = []
    for variant, ref in KEY_PAIRS:
        comps = [ctx.compare(variant, ref, "full", dom, "NDCG@10", N_BOOT) for dom in range(len(DOMAINS))]
        if all(comps):
            n = len(comps[0]["per_seed"])
            parts.append(f"{_short(variant)} − {ref}" + (f" ({_seeds(','.join(map(str, range(n))))})"
                                                         if n < most else "") + ": "
                         + ", ".join(f"{d} {_with_users(c)}" for d, c in zip(DOMAINS, comps)))
    text = ("Paired test NDCG@10, full ranking: " + "; ".join(parts) + ".") if parts else ""
    for metric in ("NDCG@10", "AUC"):
        found = against_base(ctx, metric)
        text += (f" Resolved {metric} differences of a GCA variant from the base (both protocols): "
                 + ("; ".join(found) if found else "none") + ".")
    shuffle = art[(art["dataset"] == ctx.dataset) & (art["setting"] == ctx.setting) & (art["protocol"] == "full")
                  & (art["training seeds (shuffled runs)"] != "")].to_dict("records") if not art.empty else []
    for variant in dict.fromkeys(r["variant"] for r in shuffle):
        rows = [r for r in shuffle if r["variant"] == variant]
        text += (f" Same-day shuffle, change in {_short(variant)}'s gain over the base (full ranking, users whose "
                 f"target keeps its domain, {_seeds(rows[0]['training seeds (shuffled runs)'])}): "
                 + ", ".join(f"{r['domain']} {r['shuffled − original']}" for r in rows) + ".")
    flagged = ([] if cut_short.empty else
               cut_short[(cut_short["dataset"] == ctx.dataset) & (cut_short["setting"] == ctx.setting)].to_dict("records"))
    for r in flagged:
        text += (f" Early stopping cut {r['variant']} seed {r['seed']} short (selected epoch {r['selected epoch']:g}, "
                 f"against {r['same-seed median epoch']:g} for the other runs of that seed); the results page "
                 "flags the verdicts that rest on it.")
    return text.strip()


def _span(values, fmt: str = "{:.4f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)} to {fmt.format(hi)}"


def noise_bullet(ctxs) -> str:
    """The README bullet on retraining noise, from ``summary.noise_budget`` of the lite runs."""
    noise = S.noise_budget(ctxs, n_boot=N_BOOT)
    noise = noise[noise["setting"] == LITE]
    users_only = sum(len(against_base(ctx, "NDCG@10", users_only=True)) for ctx in ctxs)
    found = [f"{ctx.dataset} {x}" for ctx in ctxs for x in against_base(ctx, "NDCG@10")]
    seed_wider = bool((noise["seed ±"] > noise["users ±"]).all())
    head = ("Retraining, not the test set, limits the lite comparisons." if seed_wider else
            "Retraining limits the lite comparisons about as much as the test set.")
    return (f"- **{head}** Over the variant-minus-base differences in NDCG@10 with two or more common seeds "
            f"({_span(noise['comparisons'], '{:d}')} per dataset, protocol and domain), the median seed-to-seed "
            f"SD of a difference is {_span(noise['seed SD'])} against a users-only half-width of "
            f"{_span(noise['users ±'])}, so {_span(noise['seeds needed'], '{:.0f}')} seeds would be needed before "
            f"the test set becomes the limit (seed SD as measured). With users-only intervals, {users_only} "
            f"GCA-minus-base differences in NDCG@10 would look resolved; with retraining included, "
            + (f"{len(found)} {'is' if len(found) == 1 else 'are'}: " + "; ".join(found) if found else "none is")
            + ".")


def stopping_bullet(runs, length) -> str:
    """The README bullet on early stopping, from ``summary.training_length`` of the lite runs."""
    lite, shuffled = runs[runs["setting"] == LITE], runs[runs["setting"] == f"{LITE}, same-day shuffle"]
    rows = length[length["setting"] == LITE].to_dict("records")
    rs = [f"{r['r (epoch, score)']:+.2f} {r['r 95 % CI']} on {r['dataset']} ({r['runs in r']} runs)" for r in rows]
    above = all(r["r 95 % CI"] and float(r["r 95 % CI"][1:].split(",")[0]) > 0 for r in rows)
    return ("- **Early stopping adds to that noise.** " if above else "- **Early stopping and the noise.** ") + (
        f"Lite runs stop after 20 epochs without improvement, at selected epochs from "
        f"{int(lite['best_epoch'].min())} to {int(lite['best_epoch'].max())}"
        + (f" ({int(shuffled['best_epoch'].min())} to {int(shuffled['best_epoch'].max())} on same-day-shuffled "
           "data)" if len(shuffled) else "")
        + "; within a variant, " + ("runs that trained longer score higher on test" if above else
                                    "the selected epoch and the test score correlate")
        + f" (Pearson r between selected epoch and test NDCG@10, mean of both domains, full ranking, each variant's mean removed: {'; '.join(rs)}). A fixed budget "
        "would remove this source but would cost about 1.7 times the compute and change every stored "
        "configuration (decision D17).")


def final_verdicts(verdicts) -> str:
    """The README paragraph naming the lite verdicts that are no longer provisional (three seeds
    and every configuration of the claim stored), from ``verdicts.verdict_frame``."""
    lite = verdicts[verdicts["setting"] == LITE]
    final = lite[~lite["verdict"].str.contains("provisional") & ~lite["verdict"].isin(("no runs", "too few runs"))]
    head = "**Final verdicts.** "
    if final.empty:
        return head + ("Every lite verdict on the results page is still *provisional* (fewer than three seeds or "
                       "configurations of the claim missing).")
    cells = []
    for (dataset, claim), part in final.groupby(["dataset", "claim"], sort=True):
        by_protocol = ", ".join(f"{r.protocol} *{r.verdict}*" for r in part.itertuples())
        cells.append(f"{dataset}, {claim[0].lower() + claim[1:]}: {by_protocol}")
    return head + (f"{len(final)} of the {len(lite)} lite verdict cells (dataset × claim × protocol) rest on "
                   "three seeds of every configuration their claim needs, so they are final: " + "; ".join(cells)
                   + ". The others are provisional.")


def _wrap(text: str) -> str:
    """``text`` wrapped at 100 columns, a list item's continuation lines indented."""
    return textwrap.fill(text, width=100, subsequent_indent="  " if text.startswith("- ") else "", break_on_hyphens=False,
                         break_long_words=False)


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
        (r"The rest of the grid \(\d+ runs\) is about \d+ run-hours at the\n"
         r"stored runs' median of \d+ minutes, about \d+ hours of wall time two at a time",
         f"The rest of the grid ({rest} runs) is about {rest_hours:.0f} run-hours at the\nstored runs' median of "
         f"{minutes.median():.0f} minutes, about {rest_hours / 2:.0f} hours of wall time two at a time"),
        (r"\(\d+ runs plus the \d+ kept apart", f"({len(runs)} runs plus the {apart} kept apart"),
        (r"^- \*\*Retraining[^*]*\*\*(?:.|\n)*?(?=^- \*\*Early stopping)", _minus(_wrap(noise_bullet(ctxs))) + "\n"),
        (r"^\*\*Final verdicts\.\*\*(?:.|\n)*?(?=\n\n)", _minus(_wrap(final_verdicts(verdicts)))),
        (r"a lite run takes \d+ to \d+ minutes on this 2-core",
         f"a lite run takes {minutes.min():.0f} to {minutes.max():.0f} minutes on this 2-core"),
        (r"^- \*\*Early stopping[^*]*\*\*(?:.|\n)*?(?=\n\n)", _minus(_wrap(stopping_bullet(runs, length)))),
    ]
    for ctx in ctxs:
        out.append((rf"^\| {ctx.dataset} \| lite \(CPU\) \| [^|]* \| [^|]* \|$",
                    f"| {ctx.dataset} | lite (CPU) | {run_list(progress, ctx.dataset)} | "
                    f"{_minus(lite_findings(ctx, art, cut_short))} |"))
    return out


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
        stale = [f"  README.md: {old!r}\n  store:     {new!r}" for old, new in
                 zip(original.splitlines(), text.splitlines()) if old != new]
        print("README.md quotes figures the store no longer gives (run scripts/readme_counts.py --write):\n"
              + "\n".join(stale), file=sys.stderr)
        return 1
    if args.write and text != original:
        readme.write_text(text, encoding="utf-8")
        print("README.md rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
