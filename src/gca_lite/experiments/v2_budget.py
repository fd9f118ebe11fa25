"""The v2 budget (issue 24, item 5): how many runs each pre-registered item trains, how long they
take on the 2-core machine, in which order they run, and what is cut if the total exceeds the limit.

Counting: every item is a grid file of ``experiments/v2`` (for the chosen reading: the file
instantiated by :func:`prereg.instantiate`); a run two items share (same config hash, e.g. the base)
counts once, under the first item in the run order.

Time: two one-thread runs side by side on 2 cores, so an item's wall time is its runs' seconds / 2.
A run's seconds are the base run's seconds on its dataset (``v2_run_seconds`` of
``benchmarks/results/throughput.json``: a whole ``lite_v2`` base run, one thread; until it is there
a fallback given explicitly) times the run's cost ratio to the base:

* a GCA model with k modules of composition c: 1 + k x e_c, where e_c = r x q_c - 1 (at least 0) is
  one module's extra epoch time: r = GCA[1]-sigmoid,True over the base (training seconds per epoch,
  ``throughput.json`` ``epochs``, mean over the datasets), q_c = composition c over the attention-only
  module (``epoch_time.json`` ``gca_compositions``, lite; the larger ratio of the thread counts
  measured, so the projection errs long);
* a base widened to a GCA size (``model.matched_to`` = ``kxGCA,...{c}``): what that GCA model costs,
  since it has the same parameter count and the extra time is taken to grow with the parameters
  added (the FFN widening adds dense parameters as the module does);
* the chosen reading is unknown before the screen, so its items are projected with the costliest
  accepted reading (the projection holds whichever reading wins).

Command line: ``python -m gca_lite.experiments.v2_budget [--page book/preregistration.md]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

from ..config import RunConfig, config_hash
from . import prereg

PRESET = "lite_v2"
LIMIT_HOURS = 40.0
CORES = 2  # one-thread runs side by side
CHOSEN = "chosen"  # an Item's reading: the screen's choice, projected with the costliest reading
BLOCK = "budget"  # the page's generated block: <!-- budget:begin --> ... <!-- budget:end -->


@dataclasses.dataclass(frozen=True)
class Item:
    """One pre-registered item: a grid file, the reading it runs under (None: as written, today's;
    ``CHOSEN``; or a (block, ln) pair), the seeds the cut rule's first pass keeps (None: never
    reduced) and the pass of the cut rule that may drop it (None: never dropped)."""

    name: str
    grid: str
    reading: str | tuple[str, str] | None = None
    floor: int | None = None
    drop_pass: int | None = None


#: the run order (issue 24: the primary endpoint first, then the screen, then the table and scaling)
ITEMS = (
    Item("primary endpoint, today's reading", "experiments/v2/primary.yaml"),
    Item("readings screen", "experiments/v2/screen.yaml"),
    Item("primary endpoint, chosen reading", "experiments/v2/primary.yaml", CHOSEN),
    Item("variant table, chosen reading", "experiments/v2/table.yaml", CHOSEN, floor=3, drop_pass=3),
    Item("scaling curves, chosen reading", "experiments/v2/scaling.yaml", CHOSEN, floor=3, drop_pass=3),
    Item("variant table, today's reading", "experiments/v2/table.yaml", None, floor=3, drop_pass=2),
    Item("scaling curves, today's reading", "experiments/v2/scaling.yaml", None, floor=3, drop_pass=2),
    Item("same-day shuffle, chosen reading", "experiments/v2/shuffle.yaml", CHOSEN, floor=5, drop_pass=3),
    Item("same-day shuffle, today's reading", "experiments/v2/shuffle.yaml", None, floor=5, drop_pass=2),
)


# ------------------------------------------------------------------------------ costs
@dataclasses.dataclass(frozen=True)
class Costs:
    """Seconds of a base run per dataset and one module's extra fraction per composition."""

    base_seconds: dict[str, float]
    module_extra: dict[str, float]
    source: str

    def run_seconds(self, cfg: RunConfig) -> float:
        """Projected seconds of one run of ``cfg`` (one thread, beside one other run)."""
        ds = cfg.data.dataset
        if ds not in self.base_seconds:
            raise ValueError(f"no base run seconds for dataset {ds!r} (have {sorted(self.base_seconds)})")
        k, block = modules(cfg)
        return self.base_seconds[ds] * (1 + k * self.module_extra[block])


_SIZE = re.compile(r"^(?P<k>\d+)xGCA,(?:True|False)(?:\{(?P<block>\w+)\})?$")


def modules(cfg: RunConfig) -> tuple[int, str]:
    """(number of GCA modules, composition) a run pays for: its own, or for a widened base those of
    the GCA size it is matched to. A size with extras the budget does not price raises."""
    m = cfg.model
    if m.gca_points:
        if m.gca_ffn or m.gca_alpha_per_channel:
            raise ValueError(f"{cfg.name}: gca_ffn / per-channel alphas are not priced by the v2 budget")
        return len(m.gca_points), m.gca_block
    if not m.matched_to:
        return 0, "attn"
    found = _SIZE.match(m.matched_to)
    if not found:
        raise ValueError(f"{cfg.name}: matched_to {m.matched_to!r} is not a size the v2 budget prices")
    return int(found["k"]), found["block"] or "attn"


def composition_ratios(epoch_time: dict) -> dict[str, float]:
    """Per composition, its epoch time over the attention-only module's (lite), the larger of the
    thread counts ``epoch_time.json`` measured."""
    measured = [entry["presets"]["lite"]["ratio_to_attn"] for entry in epoch_time["gca_compositions"].values()]
    return {c: max(m[c] for m in measured) for c in measured[0]}


def attn_ratio(throughput: dict) -> float:
    """GCA[1]-sigmoid,True's training seconds per epoch over the base's (lite, one thread), mean over
    the datasets measured."""
    pairs = [v for k, v in throughput["epochs"].items() if k.endswith("/lite")]
    return statistics.mean(p["GCA[1]-sigmoid,True"]["train_seconds"] / p["base"]["train_seconds"] for p in pairs)


def load_costs(throughput_path: str | Path, epoch_time_path: str | Path,
               fallback: dict[str, float] | None = None) -> Costs:
    """The cost model from the two benchmark files; ``fallback`` base seconds only while
    ``throughput.json`` has no ``v2_run_seconds`` (the source says which was used)."""
    throughput = json.loads(Path(throughput_path).read_text())
    epoch_time = json.loads(Path(epoch_time_path).read_text())
    if "v2_run_seconds" in throughput:
        base, source = dict(throughput["v2_run_seconds"]), f"{throughput_path}: v2_run_seconds"
    elif fallback:
        base, source = dict(fallback), "FALLBACK (throughput.json has no v2_run_seconds yet)"
    else:
        raise ValueError(f"{throughput_path}: no v2_run_seconds; pass a fallback (--fallback-run-seconds)")
    r = attn_ratio(throughput)
    extra = {c: max(0.0, r * q - 1) for c, q in composition_ratios(epoch_time).items()}
    return Costs(base, extra, source)


def v1_fallback(store: str | Path, epochs: int) -> dict[str, float]:
    """A fallback base run: the median seconds per epoch of the stored v1 lite base runs per dataset
    (two one-thread runs side by side, validated every epoch: longer per epoch than lite_v2) times
    ``epochs``."""
    from .store import ResultsStore, record_config

    per: dict[str, list[float]] = {}
    for folder, record, _, _ in ResultsStore(store).iter_runs(warn=False):
        cfg = record_config(folder, record)
        if cfg and not cfg.model.gca_points and not cfg.model.matched_to and cfg.model.d == 64 \
                and not cfg.train.max_minutes:
            per.setdefault(cfg.data.dataset, []).append(record["wall_seconds"] / record["epochs_run"])
    return {ds: round(statistics.median(v) * epochs, 1) for ds, v in sorted(per.items())}


# ------------------------------------------------------------------------------ counting
def costliest_reading(costs: Costs) -> tuple[str, str]:
    """The accepted reading whose module costs most (the first on a tie)."""
    readings = prereg.accepted_readings()
    return max(readings, key=lambda r: costs.module_extra[r[0]])


@functools.lru_cache(maxsize=None)
def _expand(grid: str, reading: tuple[str, str] | None, seeds: int | None, data_dir: str | None,
            root: str) -> tuple[RunConfig, ...]:
    from .grid import expand, read_grid_spec

    path = Path(root) / grid
    spec = prereg.instantiate(read_grid_spec(path), reading, seeds)
    return tuple(expand(spec, str(path), data_dir))


@functools.lru_cache(maxsize=None)
def _hashes(grid: str, reading: tuple[str, str] | None, seeds: int | None, data_dir: str | None,
            root: str) -> tuple[str, ...]:
    """The config hashes of :func:`_expand`'s configs (the cut rule counts them many times)."""
    return tuple(config_hash(c) for c in _expand(grid, reading, seeds, data_dir, root))


def plan(items: Sequence[Item], costs: Costs, seeds: dict[str, int] | None = None,
         data_dir: str | Path | None = None, root: str | Path = ".",
         chosen: tuple[str, str] | None = None) -> list[dict]:
    """One row per item in run order: its seeds (``seeds`` = {item name: seeds kept}, 0 = dropped),
    the runs it adds that no earlier item holds, and their projected wall hours. ``chosen``: the
    reading of the chosen reading's items (default: projected as the costliest)."""
    seeds = seeds or {}
    chosen = tuple(chosen) if chosen else costliest_reading(costs)
    seen: set[str] = set()
    rows = []
    for item in items:
        keep = seeds.get(item.name)
        reading = chosen if item.reading == CHOSEN else item.reading
        where = None if data_dir is None else str(data_dir)
        configs = () if keep == 0 else _expand(item.grid, reading, keep, where, str(root))
        hashes = () if keep == 0 else _hashes(item.grid, reading, keep, where, str(root))
        new = [c for c, h in zip(configs, hashes) if h not in seen]
        seen.update(hashes)
        hours = sum(costs.run_seconds(c) for c in new) / CORES / 3600
        registered = max((len(set(c.train.seed for c in configs if c.data.dataset == ds))
                          for ds in {c.data.dataset for c in configs}), default=0)
        rows.append({"item": item.name, "grid": item.grid, "reading": reading, "seeds": keep,
                     "registered": registered, "runs": len(new), "hours": hours})
    return rows


def total_hours(rows: Sequence[dict]) -> float:
    return sum(r["hours"] for r in rows)


def cut(items: Sequence[Item], hours_of: Callable[[dict], float], limit: float = LIMIT_HOURS):
    """The pre-registered cut rule. While the projected total exceeds ``limit`` hours, one step at a
    time, recomputing the total after each: (1) reduce every item that has a seed floor to it, from
    the last item in run order to the first; (2) drop the items of drop pass 2 (today's reading),
    last first; (3) if still over, refill the items of drop pass 3 (the chosen reading's table,
    scaling and shuffle check) in run order: each keeps its floor seeds if the total then stays
    within the limit, else it is dropped. The primary endpoint and the screen are never cut; if they
    alone exceed the limit they run anyway. Returns ({item name: seeds kept, 0 = dropped}, steps)."""
    seeds: dict[str, int] = {}
    steps = []
    for applies, keep in ((lambda it: it.floor is not None, lambda it: it.floor),
                          (lambda it: it.drop_pass == 2, lambda it: 0)):
        for item in reversed(items):
            if hours_of(seeds) <= limit:
                return seeds, steps
            if applies(item):
                seeds[item.name] = keep(item)
                steps.append(f"{item.name}: " + (f"{keep(item)} seeds" if keep(item) else "dropped"))
    if hours_of(seeds) <= limit:
        return seeds, steps
    last = [it for it in items if it.drop_pass == 3]
    seeds.update({it.name: 0 for it in last})
    for item in last:
        if hours_of({**seeds, item.name: item.floor}) <= limit:
            seeds[item.name] = item.floor
        else:
            steps.append(f"{item.name}: dropped")
    return seeds, steps


# ------------------------------------------------------------------------------ the page block
def markdown(full: Sequence[dict], kept: Sequence[dict], costs: Costs, steps: Sequence[str],
             limit: float = LIMIT_HOURS) -> str:
    """The budget block of the pre-registration page: every item as registered and after the cut
    rule (``full`` and ``kept``: :func:`plan` rows without and with the cuts), then the inputs."""
    lines = ["| order | item | seeds per dataset | new runs | projected hours | after the cut rule: seeds | "
             "runs | hours | cumulative hours |", "|---|---|---|---|---|---|---|---|---|"]
    cumulative = 0.0
    for i, (a, b) in enumerate(zip(full, kept), 1):
        cumulative += b["hours"]
        seeds = "dropped" if b["seeds"] == 0 else (b["seeds"] or a["registered"])
        lines.append(f"| {i} | {a['item']} | {a['registered']} | {a['runs']} | {a['hours']:.1f} | {seeds} | "
                     f"{b['runs']} | {b['hours']:.1f} | {cumulative:.1f} |")
    n_full, n_kept = sum(r["runs"] for r in full), sum(r["runs"] for r in kept)
    lines += ["", f"**As registered: {n_full} runs, {total_hours(full):.1f} h of wall time on {CORES} cores. "
              f"After the cut rule: {n_kept} runs, {total_hours(kept):.1f} h** (limit {limit:.0f} h).", "",
              "Cut steps in force, in order: " + ("; ".join(steps) if steps else "none") + "."]
    base = ", ".join(f"{ds} {s:.0f} s" for ds, s in sorted(costs.base_seconds.items()))
    extra = ", ".join(f"`{c}` +{e:.3f}" for c, e in costs.module_extra.items())
    chosen = next((",".join(r["reading"]) for r in full if r["item"].endswith("chosen reading")), "")
    lines += ["", f"Inputs: one base run {base} ({costs.source}); one module's extra time per epoch over the "
              f"base: {extra}; the chosen reading projected as the costliest accepted one, `{chosen}`."]
    return "\n".join(lines) + "\n"


def write_block(page: str | Path, text: str, name: str = BLOCK) -> None:
    """Replace what lies between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``page``."""
    page = Path(page)
    source = page.read_text()
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    if source.count(begin) != 1 or source.count(end) != 1:
        raise ValueError(f"{page}: needs exactly one {begin} and one {end}")
    head, rest = source.split(begin)
    page.write_text(head + begin + "\n" + text + end + rest.split(end, 1)[1])


def _seconds(text: str) -> dict[str, float]:
    try:
        return {k.strip(): float(v) for k, v in (part.split("=") for part in text.split(","))}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected afk=SECONDS,abe=SECONDS, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gca_lite.experiments.v2_budget", description=__doc__.split("\n\n")[0])
    ap.add_argument("--throughput", default="benchmarks/results/throughput.json")
    ap.add_argument("--epoch-time", default="benchmarks/results/epoch_time.json")
    ap.add_argument("--fallback-run-seconds", type=_seconds, default=None, metavar="afk=S,abe=S",
                    help="base run seconds while throughput.json has no v2_run_seconds")
    ap.add_argument("--fallback-v1-epochs", type=int, default=None, metavar="N",
                    help="fallback: the stored v1 lite base runs' median seconds per epoch x N")
    ap.add_argument("--store", default="results", help="v1 store for --fallback-v1-epochs")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--limit-hours", type=float, default=LIMIT_HOURS)
    ap.add_argument("--page", default=None, help="write the table into this page's budget block")
    args = ap.parse_args(argv)
    fallback = args.fallback_run_seconds or (v1_fallback(args.store, args.fallback_v1_epochs)
                                             if args.fallback_v1_epochs else None)
    costs = load_costs(args.throughput, args.epoch_time, fallback)
    if args.fallback_v1_epochs and not args.fallback_run_seconds and "FALLBACK" in costs.source:
        costs = dataclasses.replace(costs, source=costs.source + f": v1 lite base median s/epoch x "
                                    f"{args.fallback_v1_epochs} epochs (--fallback-v1-epochs)")
    hours_of = lambda seeds: total_hours(plan(ITEMS, costs, seeds, args.data_dir))  # noqa: E731
    seeds, steps = cut(ITEMS, hours_of, args.limit_hours)
    full = plan(ITEMS, costs, None, args.data_dir)
    text = markdown(full, plan(ITEMS, costs, seeds, args.data_dir), costs, steps, args.limit_hours)
    if args.page:
        write_block(args.page, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    prereg.run_cli(main)
