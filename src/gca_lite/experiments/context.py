"""What the verdicts, the artefact checks and the noise budget read from a results store: one
:class:`Context` per (dataset, setting, reading of the GCA module) with its variant groups, per-run orthogonality, the test
strata of the ordering artefact and the same-day-shuffled runs of that setting.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from . import artefact, readings
from .report import DOMAINS, collect, family, family_labels
from .stats import compare
from .store import ResultsStore, record_config


@dataclass
class Context:
    """The groups of one (dataset, setting) and the per-run orthogonality."""

    dataset: str
    setting: str
    groups: dict  # variant -> stats.Group
    cos: list  # (variant, seed, {"A": mean |cos|, "B": ...}) for every GCA run
    width: int = 0  # model.d of the setting's base model
    strata: dict | None = None  # artefact.read_strata of the dataset (tied / untied test targets)
    strata_note: str = ""  # why ``strata`` is None
    shuffled: dict | None = None  # variant -> group of the same setting on same-day-shuffled data
    # per GCA run: (variant, seed, {"GCA[1]/A": {"abs_cos", "abs_cos_last", ...}}), module by module
    modules: list = dataclasses.field(default_factory=list)
    # per GCA run: (variant, seed, selected epoch, [(epoch, per-module probe, {protocol: {"A": valid NDCG@10}})])
    histories: list = dataclasses.field(default_factory=list)
    reading: tuple = readings.TODAY  # the GCA module's (composition, LayerNorm placement): readings.py
    # the claims, the artefact checks and the noise budget ask for many of the same comparisons
    _compared: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def compare(self, first: str, second: str, protocol: str, dom: int, metric: str, n_boot: int):
        """``stats.compare`` of two variants of this setting (None if either is missing or the
        comparison cannot be made), computed once per argument set; treat the result as read-only."""
        key = (first, second, protocol, dom, metric, n_boot)
        if key not in self._compared:
            a, b = self.groups.get(first), self.groups.get(second)
            out = None if a is None or b is None else compare(a, b, protocol, dom, metric, n_boot, seed=0)
            self._compared[key] = (None if out is None or math.isnan(out["diff"])
                                   else {**out, "first": first, "second": second})
        return self._compared[key]


def unique_labels(store: ResultsStore | str) -> dict[tuple[str, str], str]:
    """{(dataset, setting hash): label}, the label made unique within a dataset by the hash prefix
    when two settings would share it (e.g. two learning rates of the lite preset). Matched bases
    belong to the family of their GCA models (``report.families``); one stored without them forms
    a family of its own under the plain label of its setting."""
    return family_labels(collect(store if isinstance(store, ResultsStore) else ResultsStore(store)))


def contexts(store: ResultsStore | str) -> list[Context]:
    """One Context per (dataset, setting, reading): a setting whose runs hold several readings of the
    GCA module gives one per reading (``readings.split``). A same-day-shuffle setting is attached to the setting it
    was shuffled from (``Context.shuffled``) instead of being listed on its own, unless the store
    holds no runs of that original setting."""
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    groups = collect(store)
    labels, cos, width, shuffled_from = family_labels(groups), {}, {}, {}
    modules, histories = {}, {}
    for folder, record, _, _ in store.iter_runs(warn=False):
        cfg = record_config(folder, record)
        if cfg is None:
            continue
        fam = family(cfg)
        if cfg.data.tie_shuffle_seed is not None and not cfg.model.matched_to:
            plain = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, tie_shuffle_seed=None))
            shuffled_from[(cfg.data.dataset, fam)] = family(plain)
        if not cfg.model.gca_points and not cfg.model.matched_to:
            width[(cfg.data.dataset, fam)] = cfg.model.d
        if cfg.model.gca_points:
            per_dom = {d: [v["abs_cos"] for v in (record.get("orthogonality") or {}).values()
                           if v.get("domain") == d and not math.isnan(v.get("abs_cos", math.nan))]
                       for d in DOMAINS}
            cos.setdefault((cfg.data.dataset, fam), []).append(
                (cfg.model.variant_name, cfg.train.seed, {d: float(np.mean(x)) for d, x in per_dom.items() if x}))
            run = (cfg.model.variant_name, cfg.train.seed)
            modules.setdefault((cfg.data.dataset, fam), []).append((*run, record.get("orthogonality") or {}))
            histories.setdefault((cfg.data.dataset, fam), []).append((*run, record.get("best_epoch"), [
                (h.get("epoch"), h.get("orthogonality") or {},
                 {p: {d: ((h.get("valid") or {}).get(p) or {}).get(f"{d}/NDCG@10") for d in DOMAINS}
                 for p in (h.get("valid") or {})})
                for h in record.get("history") or []]))

    def members(dataset, fam):
        return {v: g for (ds, f, v), g in groups.items() if ds == dataset and f == fam}

    def strata(dataset, fam) -> tuple[dict | None, str]:
        base = groups.get((dataset, fam, "base"))
        sums = {d for _, d in base.provenance} if base is not None else set()
        if len(sums) != 1:
            return None, "the base runs mix data versions" if sums else "no base model"
        try:
            found = artefact.read_strata(store.root, dataset, next(iter(sums)))
        except artefact.StrataError as e:
            return None, str(e)
        return found, "" if found else "no test strata stored for this data (a sweep with the data writes them)"

    # One shuffled setting per original is folded into it; further ones (another shuffle seed) stay
    # settings of their own rather than being dropped.
    siblings, folded = {}, set()
    for (ds, fam), orig in sorted(shuffled_from.items()):
        if (ds, orig) in labels and (ds, orig) not in siblings:
            siblings[(ds, orig)] = members(ds, fam)
            folded.add((ds, fam))
    out = []
    for (dataset, fam), label in sorted(labels.items(), key=lambda kv: (kv[0][0], kv[1])):
        if (dataset, fam) in folded:
            continue  # shown with its original setting
        found, note = strata(dataset, fam)
        out.extend(readings.split(Context(
            dataset, label, members(dataset, fam), cos.get((dataset, fam), []), width.get((dataset, fam), 0),
            found, note, siblings.get((dataset, fam)), modules.get((dataset, fam), []),
            histories.get((dataset, fam), []))))
    return out
