"""Where the v2 runs stand (issue 24): per pre-registered item, the runs the registered plan asks
for after the cut rule, how many are stored, and the projected wall hours still to go; and what
the stored runs cost. It reads configurations, wall seconds and machines only, never a test
score, so it may be shown while the store is sealed (``prereg.sealed``).

The plan is :mod:`v2_budget`'s: its items in run order, the seeds the cut rule keeps, a run two
items share counted under the first. Items of the chosen reading have no runs to count before the
choice is recorded (``results_v2/choice.json``); until then they show the projection only.

Counting needs the datasets (a widened base's width depends on the item counts), so the state is
also written into the store (``progress.json``, :func:`snapshot`) for the book to read without
them; ``tests/test_v2_progress.py`` recomputes it where the data are present, so a stale snapshot
fails the tests.

Command line: ``python -m gca_lite.experiments.v2_progress --data-dir DIR [--store results_v2]
[--write]``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from ..config import RunConfig
from . import prereg
from . import v2_budget as B
from .readings import parse_label
from .store import ResultsStore

_THREADS = re.compile(r"\((\d+) threads")  # the machine string: "...; torch 2.13.0+cpu (1 threads, AVX512); ..."


def registered_seeds(costs: B.Costs, data_dir: str | None = None, root: str | Path = ".",
                     chosen: tuple[str, str] | None = None) -> dict[str, int]:
    """{item name: seeds kept} under the pre-registered cut rule (items not named keep theirs), the
    chosen reading's items projected as ``chosen`` (default: the costliest reading, as registered)."""
    def hours_of(seeds):
        return B.total_hours(B.plan(B.ITEMS, costs, seeds, data_dir, root, chosen))

    return B.cut(B.ITEMS, hours_of)[0]


def seeds_in_force(store: str | Path, costs: B.Costs, data_dir: str | None = None,
                   root: str | Path = ".") -> dict[str, int]:
    """The seeds the plan runs with: those recorded with the choice (the cut rule applied once more
    with the chosen reading's own costs, then final; computed so for a choice recorded without
    them), else :func:`registered_seeds` as registered (the chosen reading priced as the costliest)."""
    choice = prereg.read_choice(store)
    if choice and choice.get("seeds") is not None:
        return dict(choice["seeds"])
    return registered_seeds(costs, data_dir, root, parse_label(choice["chosen"]) if choice else None)


def progress(store: ResultsStore | str | Path, costs: B.Costs, data_dir: str | None = None,
             root: str | Path = ".") -> list[dict]:
    """One row per item in run order: ``item``, ``reading`` (``block,ln``; ``chosen (not yet)``
    before the choice), ``runs`` (registered after the cut, new to this item), ``stored``
    (None before the choice for the chosen reading's items), ``hours left`` (projected wall hours of
    the runs not stored, two side by side)."""
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    choice = prereg.read_choice(store.root)
    chosen = parse_label(choice["chosen"]) if choice else None
    projected = chosen or B.costliest_reading(costs)  # as the page's budget block projects it
    seeds = seeds_in_force(store.root, costs, data_dir, root)
    have = {(folder.parent.name, folder.name) for folder in store.run_dirs() if (folder / "record.json").exists()}
    seen: set[tuple[str, str]] = set()
    rows = []
    for item in B.ITEMS:
        keep = seeds.get(item.name)
        if keep == 0:
            rows.append({"item": item.name, "reading": "—", "runs": 0, "stored": 0, "hours left": 0.0,
                         "note": "dropped by the cut rule"})
            continue
        unknown = item.reading == B.CHOSEN and chosen is None
        reading = projected if item.reading == B.CHOSEN else item.reading
        configs = B._expand(item.grid, reading, keep, data_dir, str(root))
        keyed = [(c, _key(store, c)) for c in configs]
        new = [(c, k) for c, k in keyed if k not in seen]
        seen.update(k for _, k in new)
        missing = [c for c, k in new if unknown or k not in have]
        held = {(c.model.gca_block, c.model.gca_ln) for c in configs if c.model.gca_points and c.model.gca_layernorm}
        label = ("chosen (not yet)" if unknown else f"{len(held)} readings" if len(held) > 1
                 else ",".join(reading or prereg.TODAY))
        rows.append({"item": item.name, "reading": label, "runs": len(new),
                     "stored": None if unknown else len(new) - len(missing),
                     "hours left": sum(costs.run_seconds(c) for c in missing) / B.CORES / 3600,
                     "note": f"projected as {','.join(projected)} (the costliest reading) until the choice"
                             if unknown else ""})
    return rows


def _key(store: ResultsStore, cfg: RunConfig) -> tuple[str, str]:
    return cfg.data.dataset, store.key(cfg)


def spent(store: ResultsStore | str | Path) -> dict:
    """What the stored runs cost: runs, CPU hours and GPU hours (each run's wall seconds times the
    threads it used; a GPU run counts as GPU time), the median wall minutes per run, per machine."""
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    cpu, gpu, minutes, machines = 0.0, 0.0, [], set()
    for _, record, _, _ in store.iter_runs(warn=False):
        seconds = float(record.get("wall_seconds") or 0.0)
        machine = str(record.get("machine") or "unknown")
        threads = int(found[1]) if (found := _THREADS.search(machine)) else 1
        if str(record.get("device") or "cpu").startswith("cuda"):
            gpu += seconds / 3600
        else:
            cpu += seconds * threads / 3600
        minutes.append(seconds / 60)
        machines.add(machine.split(";")[0])
    return {"runs": len(minutes), "cpu_hours": cpu, "gpu_hours": gpu,
            "median_minutes": statistics.median(minutes) if minutes else None, "machines": sorted(machines)}


SNAPSHOT = "progress.json"


def snapshot(store: ResultsStore | str | Path, costs: B.Costs, data_dir: str | None = None,
             root: str | Path = ".") -> dict:
    """The state the book shows: :func:`progress`, :func:`spent`, the choice (or None) and whether
    the store is sealed."""
    store = store if isinstance(store, ResultsStore) else ResultsStore(store)
    return {"items": progress(store, costs, data_dir, root), "spent": spent(store),
            "choice": prereg.read_choice(store.root), "sealed": bool(prereg.sealed(store.root)),
            "base_run_seconds": costs.base_seconds}


def read_snapshot(store: str | Path) -> dict | None:
    path = Path(store) / SNAPSHOT
    return json.loads(path.read_text()) if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gca_lite.experiments.v2_progress",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="results_v2")
    ap.add_argument("--throughput", default="benchmarks/results/throughput.json")
    ap.add_argument("--epoch-time", default="benchmarks/results/epoch_time.json")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--write", action="store_true", help=f"write the state into the store ({SNAPSHOT})")
    args = ap.parse_args(argv)
    costs = B.load_costs(args.throughput, args.epoch_time)
    state = snapshot(args.store, costs, args.data_dir)
    if args.write:
        (Path(args.store) / SNAPSHOT).write_text(json.dumps(state, indent=1) + "\n")
    for row in state["items"]:
        stored = "—" if row["stored"] is None else row["stored"]
        print(f"{row['item']:38s} {row['reading']:18s} {stored!s:>4}/{row['runs']:<4} "
              f"{row['hours left']:6.1f} h left  {row['note']}")
    cost = state["spent"]
    print(f"stored: {cost['runs']} runs, {cost['cpu_hours']:.1f} CPU h, {cost['gpu_hours']:.1f} GPU h, "
          f"median {cost['median_minutes'] or 0:.1f} min per run")
    return 0


if __name__ == "__main__":
    prereg.run_cli(main)
