"""Schedule study (decision D17): validation score vs epochs, and the spread of the selected epoch, for
the v1 ``lite`` runs stored in ``results/`` and the fixed-budget runs of the study (``lite_v2`` and the
candidates tried before it).

Validation only, never test: the score is the selection score, full-ranking MRR_A + MRR_B on the
validation users, at the selected (best validated) epoch. For ``lite`` the per-epoch histories of the
168 stored runs give, per dataset, the fraction of each run's best score reached by epoch E, and the
run-to-run spread (standard deviation over seeds, pooled over variants) of the selected epoch and of
the selected score. Each fixed-budget run is compared with the ``lite`` runs of the same dataset, variant
and seed set: its score minus their mean, in units of their across-seed standard deviation.

    python benchmarks/schedule_study.py [--study runs/study]  ->  benchmarks/results/schedule_study.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "schedule_study.json"
CUTS = (20, 30, 40, 50, 60, 80, 100)


def score(entry: dict) -> float:
    v = entry["valid"]["full"]
    return v["A/MRR"] + v["B/MRR"]


def curve(rec: dict) -> np.ndarray:
    """Selection score per epoch (NaN where the epoch was not validated)."""
    return np.array([score(h) if "valid" in h else np.nan for h in rec["history"]])


def load(folder: Path, d: int = 64) -> list[dict]:
    """Records of width ``d`` under ``folder``, without the tie-shuffle ablation runs."""
    recs = [json.loads(p.read_text()) for p in sorted(folder.glob("**/record.json"))]
    return [r for r in recs if r["config"]["model"]["d"] == d and r["config"]["data"]["tie_shuffle_seed"] is None]


def pooled_sd(groups: dict[str, list[float]]) -> float:
    """Pooled within-group standard deviation (groups = variants, values = seeds)."""
    num = sum((len(v) - 1) * statistics.variance(v) for v in groups.values() if len(v) > 1)
    den = sum(len(v) - 1 for v in groups.values() if len(v) > 1)
    return (num / den) ** 0.5 if den else float("nan")


def lite_summary(recs: list[dict]) -> dict:
    fractions = {e: [] for e in CUTS}
    by_variant_epoch, by_variant_score = defaultdict(list), defaultdict(list)
    for r in recs:
        c = curve(r)
        best = np.nanmax(c)
        for e in CUTS:
            fractions[e].append(float(np.nanmax(c[:e]) / best))
        by_variant_epoch[r["variant"]].append(r["best_epoch"])
        by_variant_score[r["variant"]].append(score({"valid": r["valid"]}))
    epochs = [r["best_epoch"] for r in recs]
    return {
        "runs": len(recs),
        "epochs_run_median": statistics.median(r["epochs_run"] for r in recs),
        "selected_epoch_median": statistics.median(epochs),
        "selected_epoch_p10_p90": [float(np.percentile(epochs, 10)), float(np.percentile(epochs, 90))],
        "selected_epoch_sd_within_variant": pooled_sd(by_variant_epoch),
        "selected_score_sd_within_variant": pooled_sd(by_variant_score),
        "fraction_of_best_by_epoch": {str(e): {"mean": statistics.mean(v), "p10": float(np.percentile(v, 10))}
                                      for e, v in fractions.items()},
        "_scores": dict(by_variant_score),
    }


def compare(study: list[dict], lite: dict[str, dict]) -> list[dict]:
    out = []
    for r in sorted(study, key=lambda r: (r["dataset"], r["variant"], r["seed"])):
        ref = lite[r["dataset"]]["_scores"].get(r["variant"], [])
        s = score({"valid": r["valid"]})
        mean = statistics.mean(ref) if ref else float("nan")
        sd = statistics.stdev(ref) if len(ref) > 1 else float("nan")
        t = r["config"]["train"]
        batch = "" if t["batch_size"] == 256 else f", batch {t['batch_size']}"
        out.append({"schedule": f"{t['epochs']} epochs, peak lr {t['lr']:g}, {t['lr_schedule']}{batch}",
                    "dataset": r["dataset"], "variant": r["variant"], "seed": r["seed"],
                    "selected_epoch": r["best_epoch"], "epochs_run": r["epochs_run"],
                    "selected_score": s, "lite_mean": mean, "lite_sd": sd,
                    "lite_min": min(ref) if ref else None, "lite_max": max(ref) if ref else None,
                    "diff_in_lite_sd": (s - mean) / sd if sd == sd and sd > 0 else None,
                    "wall_seconds": r["wall_seconds"], "peak_rss_mb": r["peak_rss_mb"]})
    return out


def by_schedule(rows: list[dict]) -> dict:
    """Per schedule and dataset: runs, mean (selected score - lite mean) in lite SDs, selected epochs."""
    out: dict = {}
    for row in rows:
        out.setdefault(row["schedule"], {}).setdefault(row["dataset"], []).append(row)
    return {sched: {ds: {"runs": len(mine),
                         "mean_diff_in_lite_sd": statistics.mean(x["diff_in_lite_sd"] for x in mine),
                         "at_or_above_lite_min": sum(x["lite_min"] <= x["selected_score"] for x in mine),
                         "selected_epochs": [x["selected_epoch"] for x in mine]}
                    for ds, mine in per_ds.items()}
            for sched, per_ds in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default=str(REPO / "runs" / "study2"),
                    help="study runs: every folder whose name starts with this path")
    args = ap.parse_args()
    stored = load(REPO / "results")
    lite = {ds: lite_summary([r for r in stored if r["dataset"] == ds]) for ds in ("afk", "abe")}
    study = [r for folder in sorted(Path(args.study).parent.glob(Path(args.study).name + "*"))
             for r in load(folder)]
    rows = compare(study, lite)
    seen = {(r["schedule"], r["dataset"], r["variant"], r["seed"]) for r in rows}
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    earlier = old.get("fixed_budget_runs", old.get("lite2_runs", []))
    rows += [r for r in earlier if (r["schedule"], r["dataset"], r["variant"], r["seed"]) not in seen]  # runs of
    # earlier sessions whose folders are gone stay in the study
    rows.sort(key=lambda r: (r["schedule"], r["dataset"], r["variant"], r["seed"]))
    fixed = by_schedule(rows)
    for v in lite.values():
        v.pop("_scores")
    OUT.write_text(json.dumps({"lite": lite, "fixed_budget_runs": rows, "fixed_budget": fixed,
                               "score": "validation full-ranking MRR_A + MRR_B at the selected epoch"},
                              indent=1, sort_keys=True) + "\n")
    print(json.dumps({"fixed_budget": fixed}, indent=1))


if __name__ == "__main__":
    main()
