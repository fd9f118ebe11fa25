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


def _runs(snap: dict) -> tuple[int, int, float]:
    """(stored, registered, projected hours left) over the items; an item of the chosen reading
    counts its projected runs before the choice."""
    items = snap["items"]
    return (sum(r["stored"] or 0 for r in items), sum(r["runs"] for r in items),
            sum(r["hours left"] for r in items))


def status_markdown(snap: dict, page: str = "preregistration.md") -> str:
    """One paragraph: how far v2 is, what it cost so far, and whether its test scores are sealed.
    ``page``: the link to the pre-registration from where the text is shown."""
    stored, registered, left = _runs(snap)
    cost = snap["spent"]
    so_far = (f"{cost['cpu_hours']:.1f} CPU hours so far"
              + (f" and {cost['gpu_hours']:.1f} GPU hours" if cost["gpu_hours"] else "")
              + (f", a median {cost['median_minutes']:.0f} minutes per run" if cost["median_minutes"] else ""))
    head = (f"**v2, the [pre-registered]({page}) round: {stored} of {registered} registered runs stored**, "
            f"about {left:.0f} h of runs still to go on 2 cores ({so_far}).")
    choice = snap.get("choice")
    if snap.get("sealed") or not choice:
        return head + (" Its test scores stay sealed until the reading of the GCA module for the "
                       "confirmatory runs is chosen, on validation scores only; until then the answer "
                       "here is v1's.")
    reading = R.parse_label(choice["chosen"])
    when = datetime.fromisoformat(choice["made_at"]).date().isoformat()
    return head + (f" Reading chosen on {when} by the pre-registered rule: {R.describe(reading)} "
                   f"(`{choice['chosen']}`).")


def status_frame(snap: dict):
    """The items in run order: reading, runs stored of registered, projected hours left."""
    import pandas as pd

    return pd.DataFrame([{"item": r["item"], "reading": r["reading"],
                          "stored": "—" if r["stored"] is None else f"{r['stored']} of {r['runs']}",
                          "hours left": round(r["hours left"], 1), "note": r["note"]} for r in snap["items"]])


def primary(verdicts, protocol: str = "full"):
    """v2's primary endpoint, one row per dataset, reading and domain (``digest.primary_frame`` with
    the reading in words), today's reading first."""
    part = verdicts[verdicts["setting"] == V2_SETTING]
    frame = D.primary_frame(part, protocol)
    if frame.empty:
        return frame
    frame.insert(1, "reading", [R.describe(R.parse_label(x)) for x in part[
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
    table["v1 (lite, 3 seeds)"] = table["claim"].map(dict(zip(one["claim"], one["verdict"]))).fillna("—")
    for reading in sorted(two["reading"].unique(), key=lambda x: R.order(R.parse_label(x))):
        rows = two[two["reading"] == reading]
        table[f"v2 · {reading}"] = table["claim"].map(dict(zip(rows["claim"], rows["verdict"]))).fillna("—")
    return table
