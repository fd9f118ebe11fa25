"""Run the v2 plan to its end, one pre-registered item after another (issue 24, item 5).

The plan is :mod:`v2_budget`'s: its items in run order, with the seeds the cut rule keeps. For each
item in turn:

* an item the cut rule drops is skipped;
* an item of the chosen reading needs the choice. When the first such item is reached and no
  choice is recorded, the pre-registered rule (:func:`prereg.choose_reading`, validation scores
  only) is applied to the store's readings screen and recorded (``choice.json``), which lifts the
  store's seal. If the screen is incomplete, the run stops there and says what is missing;
* the grid file that is run is the registered one (``experiments/v2/*.yaml``) where the item takes
  it as written, else that file instantiated for the item's reading and seeds
  (:func:`prereg.instantiate`), written to ``experiments/v2/as_run/`` so the file behind every
  stored run can be committed beside it;
* its missing runs are trained (:func:`sweep.sweep`); a failed or busy run stops the plan there,
  since a later item must not start before an earlier one is complete.

Stopping it anywhere and starting it again goes on where it stopped (the store is resumable).

Command line: ``python -m gca_lite.experiments.v2_run --data-dir DIR [--store results_v2]
[--workers 2 --threads 1] [--dry-run]``. ``--dry-run`` prints every item's state and trains,
writes and records nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

from . import prereg
from . import v2_budget as B
from . import v2_progress as P
from .readings import parse_label

AS_RUN = "experiments/v2/as_run"


@dataclasses.dataclass
class Step:
    """One item's place in the plan: the grid file it runs (None: dropped, or waiting for the
    choice), and the content to write there first (None: the registered file, run as written)."""

    item: B.Item
    grid: str | None
    spec: dict | None = None
    note: str = ""


def slug(name: str) -> str:
    """A file name for an item name: "variant table, chosen reading" -> "variant-table-chosen-reading"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower().replace("'", "")).strip("-")


def steps(store: str | Path, costs: B.Costs, data_dir: str | None = None, root: str | Path = ".") -> list[Step]:
    """The plan's items in run order, each with the grid file it runs under the recorded choice."""
    from .grid import read_grid_spec

    seeds = P.seeds_in_force(store, costs, data_dir, root)
    choice = prereg.read_choice(store)
    chosen = parse_label(choice["chosen"]) if choice else None
    out = []
    for item in B.ITEMS:
        keep = seeds.get(item.name)
        if keep == 0:
            out.append(Step(item, None, note="dropped by the cut rule"))
        elif item.reading == B.CHOSEN and chosen is None:
            out.append(Step(item, None, note="waits for the reading choice (after the readings screen)"))
        else:
            reading = chosen if item.reading == B.CHOSEN else item.reading
            if reading is None and keep is None:
                out.append(Step(item, item.grid))
                continue
            spec = prereg.instantiate(read_grid_spec(Path(root) / item.grid), reading, keep)
            tags = [f"reading {','.join(reading)}"] if reading else []
            tags += [f"{keep} seeds per dataset (the cut rule)"] if keep else []
            out.append(Step(item, f"{AS_RUN}/{slug(item.name)}.yaml", spec, note="; ".join(tags)))
    return out


def grid_text(step: Step) -> str:
    """The YAML written for an instantiated step, headed by where it comes from."""
    import yaml

    head = (f"# v2 item \"{step.item.name}\" (book/preregistration.md): {step.item.grid} for {step.note}.\n"
            "# Written by python -m gca_lite.experiments.v2_run, which runs it into results_v2; do not edit.\n")
    return head + yaml.safe_dump(step.spec, sort_keys=False, default_flow_style=None, width=110)


def choose(store: str | Path, preset: str = B.PRESET, record: bool = False, costs: B.Costs | None = None,
           data_dir: str | None = None, root: str | Path = ".") -> tuple[tuple[str, str], dict, int]:
    """Apply the pre-registered choice rule to ``store``'s readings screen (validation scores only):
    (chosen reading, {reading: gain}, screen runs the rule read). Raises
    :class:`prereg.ScreenIncomplete`, naming a missing run, while the screen is incomplete.
    ``record`` writes the choice into the store, lifting its seal, with the seeds per item that the
    cut rule gives once the chosen reading's own costs replace the costliest reading's projection
    (final from then on; book/preregistration.md)."""
    from .store import ResultsStore

    records = [r for _, r, _, _ in ResultsStore(store).iter_runs(warn=False) if prereg._of_preset(r, preset)]
    rows = prereg.screen_rows(records)
    gains = prereg.reading_gains(rows)
    chosen = prereg.choose_reading(rows)
    used = len(prereg.SCREEN_DATASETS) * len(prereg.SCREEN_SEEDS) * (1 + len(prereg.accepted_readings()))
    if record:
        costs = costs or B.load_costs(Path(root) / "benchmarks/results/throughput.json",
                                      Path(root) / "benchmarks/results/epoch_time.json")
        seeds = P.registered_seeds(costs, data_dir, root, chosen)
        prereg.record_choice(store, chosen, gains, used, seeds)
    return chosen, gains, used


def run(store: str | Path, costs: B.Costs, data_dir: str | None = None, root: str | Path = ".", *,
        workers: int = 2, threads: int = 1, dry_run: bool = False, say=print, train=None) -> int:
    """Advance the plan as far as it goes; 0 when every item is complete, 1 when a run failed or
    another worker holds one, 2 when the chosen reading's items wait for an incomplete screen.
    ``dry_run``: train, write and record nothing; 0 when every item is complete, 2 when the choice
    waits for the screen, else 1. ``train`` stands in for :func:`sweep.sweep` (tests)."""
    from .grid import load_grid
    from .store import ResultsStore
    from .sweep import sweep

    train = train or sweep

    plan = steps(store, costs, data_dir, root)
    waiting = ""  # why the choice cannot be made yet (dry run: said once)
    incomplete = False  # dry run: an item with runs to go
    i = 0
    while i < len(plan):
        step = plan[i]
        i += 1
        if step.grid is None and step.note.startswith("dropped"):
            say(f"{step.item.name}: {step.note}")
            continue
        if step.grid is None and waiting:
            say(f"{step.item.name}: {step.note}")
            continue
        if step.grid is None:
            try:
                chosen, gains, n = choose(store, record=not dry_run, costs=costs, data_dir=data_dir, root=root)
            except prereg.ScreenIncomplete as error:
                if dry_run:  # list the rest of the plan
                    waiting = str(error)
                    say(f"{step.item.name}: {step.note}: {error}")
                    continue
                say(f"{step.item.name}: {step.note}; stopping here: {error}")
                return 2
            gain_text = ", ".join(f"{','.join(r)} {g:+.5f}" for r, g in gains.items())
            say(f"readings screen complete ({n} runs); validation gains {gain_text}; chosen: {','.join(chosen)}"
                + (" (dry run: not recorded)" if dry_run else f" (recorded in {Path(store) / prereg.CHOICE})"))
            if dry_run:
                say("the chosen reading's items are listed once the choice is recorded")
                return 1  # they have runs to go
            snap = P.snapshot(store, costs, data_dir, root)  # the book reads the choice's state from here
            (Path(store) / P.SNAPSHOT).write_text(json.dumps(snap, indent=1) + "\n")
            plan = steps(store, costs, data_dir, root)
            i = [s.item for s in plan].index(step.item)
            continue
        path = Path(root) / step.grid
        if step.spec is not None and not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = grid_text(step)
            if path.exists() and path.read_text() != text:
                raise ValueError(f"{path}: differs from the grid this item runs now ({step.note}); a grid file "
                                 "behind stored runs is not rewritten: find out what changed (the choice's "
                                 "seeds, the benchmarks) before moving or deleting it")
            path.write_text(text)
        if step.spec is not None and dry_run:
            from .grid import expand
            configs = expand(step.spec, str(path), data_dir)
        else:
            configs = load_grid(path, data_dir)
        have = sum(ResultsStore(store).has(c) for c in configs)
        say(f"{step.item.name}: {have}/{len(configs)} stored  ({step.grid}{'; ' + step.note if step.note else ''})")
        incomplete |= have < len(configs)
        if dry_run or have == len(configs):
            continue
        summary = train(configs, store, workers=workers, threads=threads, data_dir=data_dir,
                        desc=step.item.name)
        say(str(summary))
        if summary.failures or summary.counts["busy"]:
            say(f"{step.item.name}: incomplete (failed or busy runs); stopping before the next item")
            return 1
    return 2 if waiting else 1 if incomplete and dry_run else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gca_lite.experiments.v2_run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="results_v2")
    ap.add_argument("--data-dir", required=True, help="folder with the afk and abe data files (the widened "
                    "bases' sizes, and the seeds recorded with the choice, depend on them)")
    ap.add_argument("--throughput", default="benchmarks/results/throughput.json")
    ap.add_argument("--epoch-time", default="benchmarks/results/epoch_time.json")
    ap.add_argument("--workers", type=int, default=2, help="runs side by side (2, as the budget assumes)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (1, as the budget assumes)")
    ap.add_argument("--dry-run", action="store_true", help="print every item's state; train, write and record nothing")
    args = ap.parse_args(argv)
    costs = B.load_costs(args.throughput, args.epoch_time)
    return run(args.store, costs, args.data_dir, workers=args.workers, threads=args.threads,
               dry_run=args.dry_run, say=lambda text: print(text, flush=True))


if __name__ == "__main__":
    prereg.run_cli(main)
