"""The v2 round as the reader meets it (results page, README): before the reading is chosen, where
the pre-registered runs stand and that their test scores are sealed; after it, the primary
endpoint per dataset and reading, with its interval and minimum detectable effect, and every
claim's verdict per reading beside v1's.

v1 is the store ``results/``: one reading (attention-only module, LayerNorm before the attention),
the ``lite`` preset, three seeds, early stopping. v2 is ``results_v2/`` (``book/preregistration.md``).
"""

from __future__ import annotations

from datetime import datetime

from . import digest as D
from . import readings as R

V1 = "v1: attention-only module, LayerNorm before the attention"
V1_SETTING = "lite"  # v1's paired-comparison preset (the paper preset is one seed: not set beside v2)
V2_SETTING = "lite_v2"


def counts(snap: dict) -> tuple[int, int, float]:
    """(stored, registered, projected hours left) over the items; an item of the chosen reading
    counts its projected runs before the choice."""
    items = snap["items"]
    return (sum(r["stored"] or 0 for r in items), sum(r["runs"] for r in items),
            sum(r["hours left"] for r in items))


def status_markdown(snap: dict, link: str = "pre-registered") -> str:
    """One paragraph: how far v2 is, what it cost so far, and whether its test scores are sealed.
    ``link``: the word "pre-registered" as a link to that page, in the markup of where the text is
    shown (a Markdown link, an HTML anchor, a MyST role)."""
    stored, registered, left = counts(snap)
    cost = snap["spent"]
    spent = f"{cost['cpu_hours']:.1f} CPU h" + (f" and {cost['gpu_hours']:.1f} GPU h" if cost["gpu_hours"] else "")
    head = (f"**v2, the {link} round: {stored} of {registered} runs stored**, about {left:.0f} h of wall time "
            f"to go on 2 cores ({spent} so far, about {cost['cpu_hours'] / 2:.0f} h on 2 cores")
    head += f", median {cost['median_minutes']:.0f} min per run)" if cost["median_minutes"] else ")"
    choice = snap.get("choice")
    if snap.get("sealed") or not choice:
        return head + ("; its test scores are sealed until the reading of the module is chosen on validation "
                       "scores, so the answer here is still v1's.")
    reading = R.parse_label(choice["chosen"])
    when = datetime.fromisoformat(choice["made_at"]).date().isoformat()
    gains = choice.get("gains") or {}
    margin = ""
    if len(gains) > 1:  # how clear the choice was: the chosen reading's gain and the runner-up's
        ranked = sorted(gains.items(), key=lambda kv: -kv[1])
        other = next((k, g) for k, g in ranked if k != choice["chosen"])
        margin = (f" (validation gain in MRR A + B over the base: {gains.get(choice['chosen'], float('nan')):+.4f}; "
                  f"next best `{other[0]}` {other[1]:+.4f})")
    text = (head + f"; reading chosen on {when} by the pre-registered rule: {R.describe(reading)} "
            f"(`{choice['chosen']}`){margin}.")
    if reading == R.TODAY:  # the pre-registration's addition 2: say what this reading is
        text += (" That is v1's module, with about a quarter of the blog's parameters per module; no larger "
                 "composition beat it on validation, so its runs are the chosen reading's and can count against "
                 "the paper.")
    return text


def status_frame(snap: dict, extra: list[dict] = ()):
    """The items in run order: reading, runs stored of registered, projected hours left on 2 cores;
    an item with no runs of its own says so; ``extra``: rows of the same keys after them (e.g.
    :func:`paper_item`, whose hours are not CPU hours: None shows as a dash)."""
    import pandas as pd

    def note(r):
        return r["note"] or ("no runs of its own: an item above holds them" if r["runs"] == 0 else "")

    return pd.DataFrame([{"item": r["item"], "reading": r["reading"],
                          "stored": "—" if r["stored"] is None else f"{r['stored']} of {r['runs']}",
                          "hours left": "—" if r["hours left"] is None else f"{r['hours left']:.1f}",
                          "note": note(r)} for r in [*snap["items"], *extra]])


def scope_sentence(paper: dict | None = None) -> str:
    """What the v2 answer rests on, for the sentence under it: the ``lite`` preset, and where the
    same test at ABXI's size stands (``paper``: :func:`paper_item`'s row, None when not known)."""
    text = "These are `lite` runs (a quarter of ABXI's width)"
    if paper is None:
        return text + "."
    done = "all" if paper["stored"] == paper["runs"] else paper["stored"] or "none"
    return text + f"; the same test at ABXI's size ({paper['runs']} runs on a lent GPU) has {done} so far."


#: the first screen's key to its two tables (results page, landing page, README)
KEY = ("*Key.* Each difference is paired (same test users, same training seeds), its 95 % interval taken over "
       "test users and seeds. GCA[1]-sigmoid,True: one GCA module at insertion point 1, sigmoid gate, LayerNorm on. "
       "A and B: the two domains (afk: Food, Kitchen; abe: Beauty, Electronics). δ, the paper's gain: the "
       "blog's NDCG@10 gain for one module (GCA_early, k = 1), scaled to our base's level, a stand-in, as "
       "the paper's own gain for this variant is not known (decisions D13, D14). MDE: the smallest "
       "difference these runs detect with 80 % power. *Absent at the paper's size*: the interval lies "
       "inside ±δ. *Provisional*: fewer than three seeds, or configurations of the claim still missing. "
       "Today's reading: v1's module (attention-only, LayerNorm before the attention).")


PAPER_GRID, PAPER_STORE = "experiments/device/v2_paper.yaml", "results_v2_paper"


def paper_item(chosen: str, grid: str = PAPER_GRID, store: str = PAPER_STORE) -> dict:
    """The paper-preset item (the pre-registration's addition 5: ABXI's dimensions, on a lent GPU,
    outside the CPU budget) as a row of :func:`status_frame`: its runs under the ``chosen`` reading
    and how many ``store`` holds."""
    import os

    from .grid import expand, read_grid_spec
    from .prereg import instantiate
    from .store import ResultsStore

    configs = expand(instantiate(read_grid_spec(grid), R.parse_label(chosen)), grid, ".")
    held = ResultsStore(store) if os.path.isdir(store) else None
    stored = sum(held.has(c, warn=False) for c in configs) if held else 0
    return {"item": "paper preset (ABXI's dimensions, GPU)", "reading": chosen, "runs": len(configs),
            "stored": stored, "hours left": None,
            "note": "" if stored == len(configs) else
            f"runs only on a lent GPU ({grid}); " + ("none run yet" if not stored else f"{len(configs) - stored} still to run")}


def paper_section(chosen: str, store: str = PAPER_STORE, n_boot: int = 1000, protocol: str = "full"):
    """The paper-preset item's result, for the results page below the headline: (a paragraph on what
    ran where, the ``chosen`` reading's primary endpoint per dataset and domain as :func:`primary`
    gives it, without the reading); None while ``store`` holds no run. Reported beside the headline,
    never counted in it: the pre-registration judges the paper at the ``lite`` preset."""
    import os

    from .store import ResultsStore, record_config
    from .verdicts import verdict_frame

    held = [(record, cfg) for folder, record, _, _ in (ResultsStore(store).iter_runs(warn=False) if os.path.isdir(store) else ())
            if (cfg := record_config(folder, record)) is not None]
    if not held:
        return None
    where = {}
    for record, cfg in held:
        where.setdefault(cfg.data.dataset, set()).add(str(record.get("device", "cpu")).replace("cuda (", "").rstrip(")"))
    epochs = sorted({cfg.train.epochs for _, cfg in held})
    seeds = sorted({cfg.train.seed for _, cfg in held})
    verdicts = verdict_frame(store, protocols=(protocol,), n_boot=n_boot)
    frame = primary(verdicts[verdicts["reading"] == chosen], protocol, words=False) if len(verdicts) else None
    frame = frame.drop(columns="reading") if frame is not None and len(frame) else frame
    text = (f"**At ABXI's size** (pre-registered item 4, `{store}/`: preset `paper`, ABXI's dimensions; "
            f"{' or '.join(map(str, epochs))} epochs for every run, no early stop; seeds "
            f"{', '.join(map(str, seeds))}; {len(held)} runs, "
            + "; ".join(f"{ds} on {' and '.join(sorted(devs))}" for ds, devs in sorted(where.items()))
            + "). Reported beside the headline, not counted in it: the pre-registration judges the paper at "
            "the `lite` preset. Base and GCA train the same fixed number of epochs, fewer than ABXI's "
            "schedule, so this compares them at equal, short training.")
    if frame is None or not len(frame):
        text += " No comparison yet: the store has no base and GCA pair of one dataset."
    return text, frame


def confirmatory(verdicts, chosen: str | None) -> list[str]:
    """The readings v2's confirmatory runs hold (``block,ln``), as they appear in ``verdicts``: the
    chosen one first, then today's. The screen's other readings (5 seeds, primary endpoint only)
    count neither way and are shown with the screen."""
    present = set(verdicts["reading"])
    return [r for r in dict.fromkeys([chosen, R.label(R.TODAY)]) if r in present]


def primary(verdicts, protocol: str = "full", words: bool = True):
    """v2's primary endpoint, one row per dataset, reading and domain (``digest.primary_frame`` with
    the reading in words, or as ``block,ln`` where ``words`` is False)."""
    part = verdicts[verdicts["setting"] == V2_SETTING]
    frame = D.primary_frame(part, protocol)
    if frame.empty:
        return frame
    frame.insert(1, "reading", [R.describe(R.parse_label(x)) if words else x for x in part[
        part["claim"].str.startswith("primary endpoint") & (part["protocol"] == protocol)]["reading"]])
    return frame.drop(columns="preset")


def beside(v1, v2, dataset: str, protocol: str = "full"):
    """Claims x [v1, v2 per reading] of one dataset under ``protocol``: the verdict strings, v2's
    claim order (v1's claims that v2 does not judge follow)."""
    import pandas as pd

    one = v1[(v1["dataset"] == dataset) & (v1["setting"] == V1_SETTING) & (v1["protocol"] == protocol)]
    two = v2[(v2["dataset"] == dataset) & (v2["setting"] == V2_SETTING) & (v2["protocol"] == protocol)]
    claims = list(dict.fromkeys([*two["claim"], *one["claim"]]))
    table = pd.DataFrame({"claim": claims})
    def column(rows):
        found = dict(zip(rows["claim"], rows["verdict"]))
        return [found.get(c, "—") for c in claims]

    table["v1 (lite, 3 seeds)"] = column(one)
    for reading in sorted(two["reading"].unique(), key=lambda x: R.order(R.parse_label(x))):
        rows = two[two["reading"] == reading]
        table[f"v2 · {reading}"] = column(rows)
    return table


def beside_all(v1, v2, datasets=("afk", "abe"), protocol: str = "full"):
    """:func:`beside` of every dataset in one table: claims x [v1, v2 per reading] x dataset
    (columns ``v1 · afk``, ``v2 attn,pre · afk``, ...), the claims of the first dataset's order."""
    merged = None
    for ds in datasets:
        one = beside(v1, v2, ds, protocol)
        one.columns = ["claim", *(f"{c.split(' (')[0].replace('v2 · ', 'v2 ')} · {ds}" for c in one.columns[1:])]
        merged = one if merged is None else merged.merge(one, on="claim", how="outer", sort=False)
    front = [c for c in merged.columns if c.startswith("v1")]
    return merged[["claim", *front, *[c for c in merged.columns if c.startswith("v2")]]].fillna("—")


def screen_frame(ctxs, n_boot: int = 1000, seeds=None, protocol: str = "full", metric: str = "NDCG@10"):
    """The readings screen (pre-registration, item 2): per dataset and reading of ``lite_v2``,
    GCA[1]-sigmoid,True − base and LayerNorm on − off (GCA[1]-sigmoid,True − GCA[1]-sigmoid,False)
    in test ``metric`` per domain, as numbers: difference, 95 % interval over test users and
    seeds, and whether it excludes 0. ``seeds``: only these training seeds (default the screen's,
    so every reading rests on the same ones). A pair whose LayerNorm flag is inert is *untestable*."""
    import dataclasses

    import pandas as pd

    from .claims import inert
    from .prereg import SCREEN_SEEDS
    from .stats import compare
    from .variants import HEADLINE, layernorm_partner

    keep = set(SCREEN_SEEDS if seeds is None else seeds)

    def only(g):
        return None if g is None else dataclasses.replace(
            g, seeds={s: v for s, v in g.seeds.items() if s in keep}, runs={s: v for s, v in g.runs.items() if s in keep})

    rows = []
    for ctx in ctxs:
        if ctx.setting != V2_SETTING or HEADLINE not in ctx.groups:
            continue
        gca, base, off = (only(ctx.groups.get(v)) for v in (HEADLINE, "base", layernorm_partner(HEADLINE)))
        for contrast, other in (("GCA − base", base), ("LayerNorm on − off", off)):
            for dom, name in enumerate(("A", "B")):
                untestable = contrast.startswith("LayerNorm") and inert(ctx, HEADLINE)
                c = None if other is None or untestable else compare(gca, other, protocol, dom, metric, n_boot, seed=0)
                ok = c is not None and c["per_seed"]
                rows.append({"dataset": ctx.dataset, "reading": R.label(ctx.reading), "contrast": contrast,
                             "domain": name, "seeds": len(c["per_seed"]) if ok else 0,
                             "diff": c["diff"] if ok else float("nan"), "lo": c["lo"] if ok else float("nan"),
                             "hi": c["hi"] if ok else float("nan"),
                             "resolved": bool(ok and (c["lo"] > 0 or c["hi"] < 0)),
                             "note": "untestable: the flag is inert here" if untestable else
                             ("" if ok else "runs missing")})
    return pd.DataFrame(rows, columns=["dataset", "reading", "contrast", "domain", "seeds", "diff", "lo", "hi",
                                       "resolved", "note"])


def fresh_seeds(ctxs, chosen: str, n_boot: int = 1000, protocol: str = "full", seeds=None):
    """The chosen reading's GCA − base on the primary endpoint's seeds the choice did not read
    (``prereg.FRESH_SEEDS``, 5-9): :func:`screen_frame` rows of that reading and contrast only. The
    10-seed estimate shares seeds 0-4 with the choice, which picked the reading with the largest
    validation gain there, so it leans the chosen reading's way; these seeds do not. ``seeds``:
    others in their place (seeds 0-9 give the 10-seed estimate, for :func:`fresh_sentence`)."""
    from .prereg import FRESH_SEEDS

    frame = screen_frame(ctxs, n_boot, seeds=FRESH_SEEDS if seeds is None else seeds, protocol=protocol)
    return frame[(frame["reading"] == chosen) & (frame["contrast"] == "GCA − base")].reset_index(drop=True)


def fresh_sentence(fresh, full) -> str:
    """The pre-registration's addition 3: "" when the chosen reading's GCA − base on seeds 5-9
    (:func:`fresh_seeds`) has the sign of its 10-seed estimate (``full``: the same rows on seeds
    0-9) in every dataset and domain, else a sentence naming where it does not."""
    keys = ["dataset", "domain"]
    both = fresh.merge(full, on=keys, suffixes=("", "_all"))
    flips = both[(both["diff"] * both["diff_all"] < 0)]
    if flips.empty:
        return ""
    where = "; ".join(f"{r.dataset} {r.domain} ({r.diff:+.4f} on seeds 5-9, {r.diff_all:+.4f} on all 10: the seeds "
                      f"the choice read pull it {'up' if r.diff_all > r.diff else 'down'})" for r in flips.itertuples())
    return f"On the seeds the choice did not read, GCA − base has the opposite sign to its 10-seed estimate in {where}."


def screen_wide(frame):
    """:func:`screen_frame` for reading: one row per dataset and reading, one column per contrast
    and domain, ``+0.0012 [-0.0010, +0.0034]`` with ``*`` where the interval excludes 0."""
    if frame.empty:
        return frame
    cell = [n if n and d != d else f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" + (" *" if r else "")
            for d, lo, hi, r, n in zip(frame["diff"], frame["lo"], frame["hi"], frame["resolved"], frame["note"])]
    wide = frame.assign(cell=cell, column=frame["contrast"] + ", " + frame["domain"]).pivot_table(
        index=["dataset", "reading"], columns="column", values="cell", aggfunc="first", sort=False)
    return wide.reset_index().rename_axis(columns=None)
