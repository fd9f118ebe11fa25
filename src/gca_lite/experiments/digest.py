"""Short computed prose about a results store, for the README (``scripts/readme_counts.py``), the
results page's "In short" and ``gca-lite report``: the key paired differences of a setting, every
difference from the base that is resolved, how much of the intervals is retraining noise, how early
stopping relates to the test score, and which verdicts are final. Every figure is computed from the
store with the results page's bootstrap settings, so the README and the page quote the same numbers
and neither goes stale as runs land. Functions return Markdown.
"""

from __future__ import annotations

import math
import re

from ..config import PROTOCOLS
from . import summary as S
from .contrasts import layernorm_frame, orthogonality_points
from .cos_claims import MIN_CORR_VARIANTS, variant_means, within_given_epoch
from .report import DOMAINS
from .rules import NOT_JUDGED
from .stats import fmt_ci, pearson, resolved
from .variants import HEADLINE, points_name, short_name


def seeds_label(stored: str) -> str:
    """ "0,1,2" -> "seeds 0-2"; "0,2" -> "seeds 0, 2"; "1" -> "seed 1"."""
    xs = [int(x) for x in stored.split(",")]
    if len(xs) == 1:
        return f"seed {xs[0]}"
    return f"seeds {xs[0]}-{xs[-1]}" if xs == list(range(xs[0], xs[-1] + 1)) else "seeds " + ", ".join(map(str, xs))


#: the paired comparisons a setting's findings quote first: (variant, reference)
KEY_PAIRS = ((HEADLINE, "base"), ("GCA[0]-sigmoid,True", "base~1xGCA,True"),
             ("GCA[0,1,2]-sigmoid,True", "base~3xGCA,True"))
N_BOOT = 1000  # the results page's default, so that the README and the page quote the same intervals
LITE = "lite"  # the setting label of the lite preset's runs (noise and early stopping are about them)


def _seeds_note(seeds: int) -> str:
    """What a difference over fewer than three seeds says about itself."""
    return {1: " (1 seed: over test users only)", 2: " (2 seeds)"}.get(seeds, "")


def _with_users(c: dict) -> str:
    """``fmt_ci`` of a comparison, plus its users-only interval where that one tells another story."""
    text = fmt_ci(c)
    if len(c["per_seed"]) > 1 and resolved(c, users_only=True) != resolved(c):
        text += f" (users only [{c['lo_users']:+.4f}, {c['hi_users']:+.4f}])"
    return text


def against_base(ctx, metric: str, users_only: bool = False, n_boot: int = N_BOOT,
                 protocols=PROTOCOLS, min_seeds: int = 1) -> list[str]:
    """Every GCA variant's difference from the base (each protocol and domain) that is resolved in
    ``metric``, formatted; the intervals cover retraining unless ``users_only`` (over one seed only
    the users-only interval exists, and the text says so). Differences over fewer than
    ``min_seeds`` common seeds are left out."""
    out = []
    for variant in sorted(v for v in ctx.groups if v.startswith("GCA")):
        for protocol in protocols:
            for dom, dname in enumerate(DOMAINS):
                c = ctx.compare(variant, "base", protocol, dom, metric, n_boot)
                if c and len(c["per_seed"]) >= min_seeds and resolved(c, users_only):
                    out.append(f"{short_name(variant)} {protocol} {dname} {fmt_ci(c)}{_seeds_note(len(c['per_seed']))}")
    return out


def findings(ctx, art, cut_short, n_boot: int = N_BOOT, protocols=PROTOCOLS) -> list[str]:
    """What one (dataset, setting) shows, one sentence per item: the key paired differences
    (:data:`KEY_PAIRS`, full ranking, NDCG@10), LayerNorm on against off, every GCA-minus-base
    difference resolved in NDCG@10 and in AUC, the |cos| against NDCG@10 correlation (from runs of
    four variants on), the same-day shuffle's change of the gain and the runs early stopping cut short.
    ``ctx``: a ``verdicts.contexts`` entry; ``art``: ``artefact_frame`` rows; ``cut_short``:
    ``summary.training_length``'s second table."""
    most = max((len(g.seeds) for g in ctx.groups.values()), default=0)
    parts, out = [], []
    for variant, ref in KEY_PAIRS:
        comps = [ctx.compare(variant, ref, "full", dom, "NDCG@10", n_boot) for dom in range(len(DOMAINS))]
        if all(comps):
            common = sorted(set(ctx.groups[variant].seeds) & set(ctx.groups[ref].seeds))
            fewer = f" ({seeds_label(','.join(map(str, common)))})" if len(common) < most else ""
            parts.append(f"{short_name(variant)} − {ref}{fewer}: "
                         + ", ".join(f"{d} {_with_users(c)}" for d, c in zip(DOMAINS, comps)))
    if parts:
        out.append("Paired test NDCG@10, full ranking: " + "; ".join(parts) + ".")
    layernorm = _layernorm_sentence(ctx, n_boot)
    if layernorm:
        out.append(layernorm)
    which = "both protocols" if len(protocols) > 1 else f"{protocols[0]} protocol"
    for metric in ("NDCG@10", "AUC"):
        found = against_base(ctx, metric, n_boot=n_boot, protocols=protocols)
        out.append(f"Resolved {metric} differences of a GCA variant from the base, each at 95 % before the "
                   f"verdicts' Holm correction ({which}): "
                   + ("; ".join(found) if found else "none") + ".")
    cos = orthogonality_points(ctx)
    if cos["variant"].nunique() >= MIN_CORR_VARIANTS:
        epochs = {(v, s): best for v, s, best, _ in getattr(ctx, "histories", []) if best is not None}
        means, within, pooled = [], [], []
        for dname, part in cos.groupby("domain"):
            r, lo, hi, _ = pearson(*variant_means(part))
            means.append(f"{dname} {r:+.3f} [{lo:+.3f}, {hi:+.3f}]")
            # the same over seeds only: does a more orthogonal seed of one variant score higher?
            wr, wlo, whi, _ = within_given_epoch(part, epochs)
            if not math.isnan(wr):
                within.append(f"{dname} {wr:+.3f} [{wlo:+.3f}, {whi:+.3f}]")
            r, lo, hi, _ = pearson(part["abs_cos"], part["NDCG@10"])
            pooled.append(f"{dname} {r:+.3f} [{lo:+.3f}, {hi:+.3f}]")
        runs = len(cos[["variant", "seed"]].drop_duplicates())
        out.append(f"Pearson r of |cos(X, X')| against test NDCG@10 (full ranking) over the means of "
                   f"{cos['variant'].nunique()} variants: " + ", ".join(means)
                   + ("; within variants given the selected epoch: " + ", ".join(within) if within else "")
                   + f"; pooled over {runs} GCA runs, shown only (seeds of one variant are not independent): "
                   + ", ".join(pooled) + " (the paper's claim is a negative r; the blog's ABXI panel, pooled: "
                   + ", ".join(f"{d} {r:+.3f}" for d, r in _paper_r().items()) + ").")
    shuffle = [] if art.empty else art[
        (art["dataset"] == ctx.dataset) & (art["setting"] == ctx.setting) & (art["protocol"] == "full")
        & (art["training seeds (shuffled runs)"] != "")].to_dict("records")
    for variant in dict.fromkeys(r["variant"] for r in shuffle):
        rows = [r for r in shuffle if r["variant"] == variant]
        out.append(f"Same-day shuffle, change in {short_name(variant)}'s gain over the base (full ranking, users whose "
                   f"target keeps its domain, {seeds_label(rows[0]['training seeds (shuffled runs)'])}): "
                   + ", ".join(f"{r['domain']} {r['shuffled − original']}" for r in rows) + ".")
    flagged = [] if cut_short.empty else cut_short[
        (cut_short["dataset"] == ctx.dataset) & (cut_short["setting"] == ctx.setting)].to_dict("records")
    for r in flagged:
        out.append(f"Early stopping cut {r['variant']} seed {r['seed']} short (selected epoch "
                   f"{r['selected epoch']:g}, against {r['same-seed median epoch']:g} for the other runs of that "
                   "seed); the verdicts that rest on it are flagged.")
    return out


def _layernorm_sentence(ctx, n_boot: int) -> str:
    """LayerNorm on − off in test NDCG@10 (full ranking) for every insertion point and gate stored
    both ways, fewest modules first; empty when there is none."""
    ln = layernorm_frame([ctx], protocols=("full",), n_boot=n_boot)
    if ln.empty:
        return ""
    parts = []
    for point, gate in ln[["point", "gate"]].drop_duplicates().itertuples(index=False):  # paper order
        rows = ln[(ln["point"] == point) & (ln["gate"] == gate)].to_dict("records")
        parts.append(f"{point} {gate}{_seeds_note(rows[0]['seeds'])}: "
                     + ", ".join(f"{r['domain']} {r['on − off']}" for r in rows))
    return "LayerNorm on − off, test NDCG@10, full ranking: " + "; ".join(parts) + "."


def _paper_r() -> dict[str, float]:
    """The blog's Pearson r of |cos| against NDCG@10 for ABXI, per domain."""
    from ..paper import paper_correlations

    return {r.domain: r.r for r in paper_correlations().itertuples() if r.base_model == "ABXI"}


def _span(values, fmt: str = "{:.4f}") -> str:
    lo, hi = fmt.format(min(values)), fmt.format(max(values))
    return lo if lo == hi else f"{lo} to {hi}"


def noise_bullet(ctxs, n_boot: int = N_BOOT, protocols=PROTOCOLS) -> str:
    """A bullet on retraining noise in the lite runs, from ``summary.noise_budget`` (``ctxs``:
    ``verdicts.contexts``; other settings are left out). Empty without lite runs of two seeds."""
    lite = [c for c in ctxs if c.setting == LITE]
    noise = S.noise_budget(lite, protocols=tuple(protocols), n_boot=n_boot)
    if noise.empty:
        return ""
    # only differences over two or more seeds can show what retraining adds; one-seed ones are counted apart
    users_only = sum(len(against_base(c, "NDCG@10", True, n_boot, protocols, 2)) for c in lite)
    found = [f"{c.dataset} {x}" for c in lite for x in against_base(c, "NDCG@10", False, n_boot, protocols, 2)]
    one_seed = sum(len(against_base(c, "NDCG@10", True, n_boot, protocols)) for c in lite) - users_only
    head = ("Retraining, not the test set, limits the lite comparisons."
            if (noise["seed ±"] > noise["users ±"]).all() else
            "Retraining limits the lite comparisons about as much as the test set.")
    return (f"- **{head}** Over the variant-minus-base differences in NDCG@10 with two or more common seeds "
            f"({_span(noise['comparisons'], '{:d}')} per dataset, protocol and domain), the median seed-to-seed "
            f"SD of a difference is {_span(noise['seed SD'])} against a users-only half-width of "
            f"{_span(noise['users ±'])}, so {_span(noise['seeds needed'], '{:.0f}')} seeds would be needed before "
            f"the test set becomes the limit (seed SD as measured). With users-only intervals, {users_only} "
            f"GCA-minus-base differences in NDCG@10 would look resolved; with retraining included, "
            + (f"{len(found)} {'is' if len(found) == 1 else 'are'}: " + "; ".join(found) if found else "none is")
            + "." + (f" {one_seed} more {'resolves' if one_seed == 1 else 'resolve'} over the one seed stored so far, "
                     "where only the users-only interval exists." if one_seed else ""))


def stopping_bullet(runs, length) -> str:
    """A bullet on early stopping in the lite runs, from ``summary.run_table`` (``runs``) and
    ``summary.training_length``'s first table (``length``). Empty without lite runs."""
    lite, shuffled = runs[runs["setting"] == LITE], runs[runs["setting"] == f"{LITE}, same-day shuffle"]
    rows = [] if length.empty else length[length["setting"] == LITE].to_dict("records")
    if lite.empty or not rows:
        return ""
    patience = ", ".join(str(p) for p in sorted(set(lite["patience"])))
    # a fixed budget trains every run to its epoch limit: the compute it costs against the runs' own epochs
    fixed = (lite["max_epochs"].sum() / lite["epochs_run"].sum()) if lite["epochs_run"].sum() else math.nan
    rs = [f"{r['r (epoch, score)']:+.2f} {r['r 95 % CI']} on {r['dataset']} ({r['runs in r']} runs)" for r in rows]
    above = all(r["r 95 % CI"] and float(r["r 95 % CI"][1:].split(",")[0]) > 0 for r in rows)
    return ("- **Early stopping adds to that noise.** " if above else "- **Early stopping and the noise.** ") + (
        f"Lite runs stop after {patience} epochs without improvement, at selected epochs from "
        f"{int(lite['best_epoch'].min())} to {int(lite['best_epoch'].max())}"
        + (f" ({int(shuffled['best_epoch'].min())} to {int(shuffled['best_epoch'].max())} on same-day-shuffled "
           "data)" if len(shuffled) else "")
        + "; within a variant, " + ("runs that trained longer score higher on test" if above else
                                    "the selected epoch and the test score correlate")
        + " (Pearson r between selected epoch and test NDCG@10, mean of both domains, full ranking, each "
        f"variant's mean removed: {'; '.join(rs)}). A fixed budget would remove this source but would cost "
        f"about {fixed:.1f} times the compute and change every stored configuration (decision D17).")


def final_verdicts(verdicts) -> str:
    """A paragraph naming the lite verdicts that are no longer provisional (three seeds and every
    configuration of the claim stored), from ``verdicts.verdict_frame``."""
    lite = verdicts[verdicts["setting"] == LITE]
    final = lite[~lite["verdict"].str.contains("provisional") & ~lite["verdict"].isin(NOT_JUDGED)]
    head = "**Final verdicts.** "
    if final.empty:
        return head + ("Every lite verdict on the results page is still *provisional* (fewer than three seeds or "
                       "configurations of the claim missing).")
    # claims with one verdict over all their final cells are grouped by that verdict and where it holds
    groups, split = {}, []
    for claim, part in final.groupby("claim", sort=True):
        # mid-sentence, "Each further" becomes "each further", but "GCA[1]", "LayerNorm" and "X'" keep their case
        first = claim.split(" ", 1)[0]
        name = claim[0].lower() + claim[1:] if first.isalpha() and first[1:] == first[1:].lower() else claim
        protocols = {d: tuple(sorted(p["protocol"])) for d, p in part.groupby("dataset")}
        if part["verdict"].nunique() == 1 and len(set(protocols.values())) == 1:
            ps = next(iter(protocols.values()))
            where = " and ".join(protocols) + (" under both protocols" if len(ps) > 1 else f", {ps[0]} protocol")
            groups.setdefault((part["verdict"].iloc[0], where), []).append(name)
        else:
            split.append(f"{name} (" + "; ".join(
                f"{d}: " + ", ".join(f"{r.protocol} *{r.verdict}*" for r in p.itertuples())
                for d, p in part.groupby("dataset")) + ")")
    sentences = [f"*{v[0].upper() + v[1:]}* on {where}: " + "; ".join(names) + "."
                 for (v, where), names in groups.items()]
    if split:
        # one sentence, so that a claim after the first does not open a sentence in lower case
        sentences.append("Differing by dataset or protocol: " + "; ".join(split) + ".")
    every = len(final) == len(lite)
    return head + ((f"All {len(lite)}" if every else f"{len(final)} of the {len(lite)}")
                   + " lite verdict cells (dataset × claim × protocol) rest on three seeds of every configuration "
                   f"their claim needs, so {'all are' if every else 'they are'} final. " + " ".join(sentences)
                   + ("" if every else " The others are provisional."))


def setting_head(ctx) -> str:
    """A setting's item in "In short": ``**dataset · setting**``."""
    return f"**{ctx.dataset} · {ctx.setting}**"


def counted_head(ctx) -> str:
    """:func:`setting_head` with the setting's configurations and seeds (the results page's)."""
    seeds = sorted({s for g in ctx.groups.values() for s in g.seeds})
    return setting_head(ctx) + f" ({len(ctx.groups)} configurations, {seeds_label(','.join(map(str, seeds)))})"


def primary_endpoint(verdicts) -> str:
    """The primary endpoint's verdicts, one Markdown list item (empty without its rows): the claim
    registry's first claim, per dataset, setting and domain, with its interval, MDE and δ."""
    part = verdicts[verdicts["claim"].str.startswith("primary endpoint") & (verdicts["protocol"] == "full")]
    if part.empty:
        return ""
    several = "reading" in part and part["reading"].nunique() > 1
    cells = [f"{r.dataset} {r.setting}{f' {{{r.reading}}}' if several else ''} {r.claim.split('(domain ')[1][0]} *{r.verdict}* ({r.evidence.split(' (interval')[0].split(' − base ')[-1]})"
             for r in part.itertuples()]
    return (f"- **Primary endpoint: {HEADLINE} − base, test NDCG@10, full ranking** (difference [95 % interval over "
            "test users and training seeds], minimum detectable effect, δ = the paper's gain at our level): "
            + "; ".join(cells) + ".")


_PRIMARY = re.compile(r"(([+-]\d\.\d+) \[([+-]\d\.\d+), ([+-]\d\.\d+)\]), MDE (\d\.\d+)(?:, δ (\d\.\d+))?")


def _primary_rows(verdicts, protocol: str):
    """(verdict row, match of its evidence) of the primary endpoint's rows under ``protocol``; the
    one place its evidence (``claims.with_effect``) is read back."""
    part = verdicts[verdicts["claim"].str.startswith("primary endpoint") & (verdicts["protocol"] == protocol)]
    return [(r, _PRIMARY.search(r.evidence)) for r in part.itertuples()]


def primary_numbers(verdicts, protocol: str = "full"):
    """The primary endpoint as numbers: one row per dataset, preset, reading and domain with
    ``diff``, ``lo``, ``hi`` (its 95 % interval), ``mde`` and ``delta`` (δ, the paper's gain), NaN
    where a row has none; what sentences about the endpoint compute from (``v2_answer.in_words``)."""
    import pandas as pd

    nan = float("nan")
    rows = [{"dataset": r.dataset, "preset": r.setting, "reading": r.reading, "domain": r.claim.split("(domain ")[1][0],
             "diff": float(m.group(2)) if m else nan, "lo": float(m.group(3)) if m else nan,
             "hi": float(m.group(4)) if m else nan, "mde": float(m.group(5)) if m else nan,
             "delta": float(m.group(6)) if m and m.group(6) else nan, "verdict": r.verdict}
            for r, m in _primary_rows(verdicts, protocol)]
    return pd.DataFrame(rows, columns=["dataset", "preset", "reading", "domain", "diff", "lo", "hi", "mde", "delta",
                                       "verdict"])


def primary_frame(verdicts, protocol: str = "full"):
    """The primary endpoint as a table (the results page opens with it): one row per dataset,
    preset and domain, with the difference and its 95 % interval, the minimum detectable effect, δ,
    the runs it rests on and the verdict, all read from the claim registry's first claim (as
    written there; :func:`primary_numbers` has the same rows as numbers)."""
    import pandas as pd

    rows = [{"dataset": r.dataset, "preset": r.setting, "domain": r.claim.split("(domain ")[1][0],
             f"{points_name(HEADLINE)} − base [95 % interval]": m.group(1) if m else "n/a",
             "MDE": m.group(5) if m else "", "δ (paper's gain)": (m.group(6) or "") if m else "",
             "runs": r.runs, "verdict": r.verdict}
            for r, m in _primary_rows(verdicts, protocol)]
    return pd.DataFrame(rows)


def in_short(ctxs, verdicts, art, runs, length, cut_short, n_boot: int = N_BOOT, protocols=PROTOCOLS,
             head=setting_head) -> tuple[list[str], str]:
    """The one "In short" of the store, for ``gca-lite report``, the results page and the README:
    (blocks, final) where ``blocks`` opens with :func:`primary_endpoint` (stated first), then one
    Markdown list item per (dataset, setting), ``head(ctx)``
    with its :func:`findings` nested below (one line each), then the lite noise and early-stopping
    bullets, and ``final`` is :func:`final_verdicts`. ``ctxs``: ``verdicts.contexts``; ``art``:
    ``artefact_frame``; ``runs``: ``summary.run_table``; ``length``, ``cut_short``:
    ``summary.training_length``."""
    blocks = [primary_endpoint(verdicts)]
    blocks += ["\n".join([f"- {head(ctx)}", *(f"  - {item}" for item in findings(ctx, art, cut_short, n_boot, protocols))])
               for ctx in ctxs]
    blocks += [x for x in (noise_bullet(ctxs, n_boot, protocols), stopping_bullet(runs, length)) if x]
    return [b for b in blocks if b], final_verdicts(verdicts)


def report_markdown(store, n_boot: int = N_BOOT, protocols=PROTOCOLS) -> str:
    """What ``gca-lite report`` prints after its tables: "In short" (:func:`findings` per dataset
    and setting, the lite noise and early stopping, :func:`final_verdicts`), the verdict matrix of
    each dataset and the evidence behind every judged verdict: the results page's text and verdict
    tables, as Markdown. Empty when no setting of the store has a base model to judge against."""
    from .artefact import artefact_frame
    from .prereg import read_choice
    from .v2_answer import against_paper, in_words
    from .v2_progress import read_snapshot
    from .report import markdown_table
    from .store import ResultsStore
    from .verdicts import contexts, verdict_frame

    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    ctxs = contexts(store)
    verdicts = verdict_frame(store, protocols=tuple(protocols), n_boot=n_boot, ctxs=ctxs)
    if verdicts.empty:
        return ""
    runs = S.run_table(store)
    length, cut_short = S.training_length(store)
    art = artefact_frame(ctxs, protocols=tuple(protocols), n_boot=n_boot)
    blocks, final = in_short(ctxs, verdicts, art, runs, length, cut_short, n_boot, protocols)
    lines = ["### In short", "", *blocks, "", final]
    choice = read_choice(store.root)
    if choice:  # a pre-registered store (v2): its answer by the page's rule comes first
        answer = against_paper(verdicts, choice["chosen"], (read_snapshot(store.root) or {}).get("items"))
        lines = [f"### The pre-registered answer (chosen reading {choice['chosen']})", "",
                 in_words(answer, choice["chosen"], primary_numbers(verdicts[verdicts["reading"] == choice["chosen"]])), "",
                 markdown_table(list(answer.columns), answer.astype(str).values.tolist()), "", *lines]
    for dataset in sorted(verdicts["dataset"].unique()):
        matrix = S.verdict_matrix(verdicts, dataset)
        lines += ["", f"### Verdicts, claim by claim: {dataset}", "",
                  markdown_table(list(matrix.columns), matrix.fillna("").astype(str).values.tolist())]
    noted = S.note_cut_short(verdicts, cut_short)
    shown = noted[noted["verdict"] != "no runs"]
    columns = ["dataset", "setting", "protocol", "claim", "verdict", "evidence", "runs", "note"]
    lines += ["", "### The evidence behind each verdict", "",
              markdown_table(columns, shown[columns].astype(str).values.tolist())]
    return "\n".join(lines) + "\n"
