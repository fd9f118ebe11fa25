"""The v2 pre-registration's mechanics (``book/preregistration.md``): what the readings screen
runs, how its result picks the reading of the confirmatory runs, how a grid file is written for
that reading, and whether every v2 run was stored after the page was committed.

Each rule the page states is a function here, so it cannot be applied differently later:

* :func:`accepted_readings` enumerates the readings the screen runs by asking the config
  validation itself (a reading it refuses as inert at point 1 is not screened);
* :func:`choose_reading` is the choice rule; it reads validation scores only (``screen_rows``
  never touches a record's ``test``);
* :func:`instantiate` turns a grid file written for today's reading into one for the chosen reading
  (and, under the budget's cut rule, fewer seeds);
* :func:`added_at` and :func:`stored_before` date the page's commit and the v2 records;
* :func:`sealed` keeps a v2 store's test scores from being read (``report.collect`` refuses) until
  the choice is recorded in the store (``choose --record`` writes ``choice.json``).

Command line (``python -m gca_lite.experiments.prereg``): ``readings``, ``choose --store
results_v2 [--record]``, ``instantiate GRID --reading BLOCK,LN [--seeds N]``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import re
import subprocess
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

from ..config import GCA_BLOCKS, GCA_LN, ConfigError, ModelConfig

SCREEN_POINT = 1  # the primary endpoint's insertion point: GCA[1]-sigmoid,True
SCREEN_SEEDS = (0, 1, 2, 3, 4)  # the screen's training seeds, per dataset
SCREEN_DATASETS = ("afk", "abe")
FRESH_SEEDS = (5, 6, 7, 8, 9)  # the primary endpoint's seeds the choice does not read (a check on its bias)
TODAY = ("attn", "pre")  # v1's reading: attention-only module, LayerNorm before the attention
TIE = 1e-9  # gains closer than this are equal (float noise); the earlier reading in the order wins
PAGE = "book/preregistration.md"
SEAL, CHOICE = "sealed.json", "choice.json"  # in a v2 store's root: the seal, and the choice that lifts it


class ScreenIncomplete(ValueError):
    """The choice rule needs a screen run that is not stored yet."""


class SealedError(ValueError):
    """A store's test scores are read before the pre-registered choice of reading was made."""


def _gca1(block: str, ln: str, layernorm: bool = True) -> ModelConfig:
    return ModelConfig(gca_points=(SCREEN_POINT,), gca_gate="sigmoid", gca_layernorm=layernorm,
                       gca_block=block, gca_ln=ln)


def accepted_readings() -> list[tuple[str, str]]:
    """Every (composition, LayerNorm placement) whose GCA[1]-sigmoid,True the config validation
    accepts, in the order of ``GCA_BLOCKS`` x ``GCA_LN`` (today's reading first). A placement is
    refused where the LayerNorm flag is inert (``config.inert_reason``); today's reading is kept
    although inert (``ModelConfig.gca_layernorm_inert``), because v1 ran it."""
    out = []
    for block in GCA_BLOCKS:
        for ln in GCA_LN:
            try:
                _gca1(block, ln).validate()
            except ConfigError:
                continue
            out.append((block, ln))
    return out


def screen_variants() -> list[str]:
    """The variant names the screen must hold per dataset and seed: the base, GCA[1]-sigmoid,True
    under every accepted reading, and GCA[1]-sigmoid,False (no LayerNorm anywhere, so one model per
    composition serves every placement's on/off pair) for every composition."""
    on = [_gca1(b, ln).variant_name for b, ln in accepted_readings()]
    off = [_gca1(b, "pre", layernorm=False).variant_name for b in GCA_BLOCKS]
    return ["base", *on, *off]


def reading_variant(reading: tuple[str, str]) -> str:
    """The primary endpoint's GCA variant under ``reading``, e.g. ``GCA[1]-sigmoid,True{cross_ffn4,out}``."""
    return _gca1(*reading).variant_name


# ------------------------------------------------------------------------------ the choice rule
def screen_rows(records: Iterable[Mapping]) -> list[dict]:
    """(dataset, seed, variant, score) per record: the trainer's selection score (validation MRR_A +
    MRR_B under ``eval.select_protocol``, at the selected epoch). Reads ``config`` and ``valid``
    only, never ``test``."""
    from ..train import _selection_score
    from .grid import config_from_dict

    rows = []
    for record in records:
        cfg = config_from_dict(record["config"], where="record")
        rows.append({"dataset": cfg.data.dataset, "seed": cfg.train.seed, "variant": cfg.model.variant_name,
                     "shuffled": cfg.data.tie_shuffle_seed is not None,
                     "score": _selection_score(record["valid"], cfg.eval.select_protocol)})
    return rows


def reading_gains(rows: Iterable[Mapping], seeds=SCREEN_SEEDS, datasets=SCREEN_DATASETS) -> dict:
    """{reading: gain} for every accepted reading: the mean over ``datasets`` of the mean over
    ``seeds`` of the paired difference GCA[1]-sigmoid,True{reading} minus the base (same dataset and
    seed) in validation selection score. Every pair must be present: a missing run raises, naming
    it, because choosing on an incomplete screen would be a different rule."""
    score = {}
    for r in rows:
        key = (r["dataset"], r["seed"], r["variant"])
        if r.get("shuffled"):
            continue
        if key in score:
            raise ValueError(f"two runs of {key[0]}/{key[2]}/seed{key[1]}: pass the screen's setting only")
        score[key] = r["score"]

    def get(ds, seed, variant):
        if (ds, seed, variant) not in score:
            raise ScreenIncomplete(f"readings screen incomplete: no run of {ds}/{variant}/seed{seed}")
        return score[(ds, seed, variant)]

    gains = {}
    for reading in accepted_readings():
        per_ds = [sum(get(ds, s, reading_variant(reading)) - get(ds, s, "base") for s in seeds) / len(seeds)
                  for ds in datasets]
        gains[reading] = sum(per_ds) / len(per_ds)
    return gains


def choose_reading(rows: Iterable[Mapping], seeds=SCREEN_SEEDS, datasets=SCREEN_DATASETS) -> tuple[str, str]:
    """The pre-registered rule: the accepted reading with the largest :func:`reading_gains`; gains
    within ``TIE`` of the largest tie, and a tie goes to the earliest reading of
    :func:`accepted_readings` (today's first: no change of reading without a larger gain)."""
    gains = reading_gains(rows, seeds, datasets)
    best = max(gains.values())
    return next(r for r in accepted_readings() if gains[r] >= best - TIE)


# ------------------------------------------------------------------------------ grid files
def instantiate(spec: Mapping, reading: tuple[str, str] | None = None, seeds: int | None = None) -> dict:
    """A grid spec for another reading and/or fewer seeds. ``reading`` replaces the values of every
    ``model.gca_block`` and ``model.gca_ln`` key of the grid blocks and includes (today's reading is
    written out explicitly in the v2 files for this; a LayerNorm-off block sets no placement);
    ``seeds`` keeps the first ``seeds`` values of every ``train.seed`` list. The name gains the
    change, so a sweep's progress output tells the files apart."""
    if reading is not None and tuple(reading) not in accepted_readings():
        raise ValueError(f"reading {reading!r} is not accepted at point {SCREEN_POINT}; choose one of "
                         f"{accepted_readings()}")
    out = copy.deepcopy(dict(spec))
    blocks = out.get("grid") or []
    blocks = blocks if isinstance(blocks, list) else [blocks]
    for block in [*blocks, *(out.get("include") or [])]:
        if reading is not None and "model.gca_block" in block:
            block["model.gca_block"] = [reading[0]] if isinstance(block["model.gca_block"], list) else reading[0]
            if "model.gca_ln" in block:
                block["model.gca_ln"] = [reading[1]] if isinstance(block["model.gca_ln"], list) else reading[1]
        if seeds is not None and isinstance(block.get("train.seed"), list):
            block["train.seed"] = block["train.seed"][:seeds]
    tags = ([f"{reading[0]},{reading[1]}"] if reading else []) + ([f"{seeds} seeds"] if seeds else [])
    if tags:
        out["name"] = f"{out.get('name', 'grid')} ({'; '.join(tags)})"
    if seeds is not None and out.get("description"):  # "..., 5 seeds" would now be wrong
        out["description"] = re.sub(r"\b\d+ seeds\b", f"{seeds} seeds", str(out["description"]))
    if reading is not None and out.get("description"):
        out["description"] = f"{out['description']}; reading {reading[0]},{reading[1]}"
    return out


# ------------------------------------------------------------------------------ dates
def added_at(path: str = PAGE, repo: str | Path = ".") -> datetime | None:
    """Committer date of the first commit that added ``path`` in ``repo`` (None: never committed)."""
    out = subprocess.run(["git", "log", "--diff-filter=A", "--format=%cI", "--", path], cwd=repo,
                         capture_output=True, text=True, check=True).stdout.split()
    return datetime.fromisoformat(out[-1]) if out else None


def stored_before(records: Iterable[tuple[str, Mapping]], when: datetime) -> list[str]:
    """The runs (name, record) stored before ``when`` or carrying no ``stored_at`` (they cannot be
    dated): each one a violation of the pre-registration."""
    bad = []
    for name, record in records:
        stamp = record.get("stored_at")
        if not stamp or datetime.fromisoformat(stamp.replace("Z", "+00:00")) < when:
            bad.append(f"{name} (stored_at {stamp or 'missing'})")
    return bad


# ------------------------------------------------------------------------------ the seal
def sealed(root: str | Path) -> str:
    """Why the test scores of the store at ``root`` may not be read yet ("" when they may): the
    store carries :data:`SEAL` and no :data:`CHOICE`."""
    root = Path(root)
    if not (root / SEAL).exists():
        return ""
    if (root / CHOICE).exists():
        try:
            chosen = tuple(json.loads((root / CHOICE).read_text())["chosen"].split(","))
            if chosen in accepted_readings():
                return ""
            problem = f"{chosen} is not an accepted reading"
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:
            problem = f"unreadable ({type(e).__name__}: {e})"
        return f"{root / CHOICE}: {problem}, so the store stays sealed; record the choice again (choose --record)"
    return (f"{root}: test scores sealed until the reading is chosen on validation scores ({PAGE}); "
            f"`python -m gca_lite.experiments.prereg choose --store {root} --record --data-dir DIR` lifts the seal "
            "once the readings screen is complete; where the runs stand: python -m "
            "gca_lite.experiments.v2_progress")


def read_choice(root: str | Path) -> dict | None:
    """The recorded choice of a store (``choice.json``), or None."""
    path = Path(root) / CHOICE
    return json.loads(path.read_text()) if path.exists() else None


def record_choice(root: str | Path, chosen: tuple[str, str], gains: Mapping, runs: int,
                  seeds: Mapping[str, int] | None = None) -> dict:
    """Write the choice into the store (once: a different second choice raises; atomically, so a
    killed write leaves no half file that would lift the seal) and return it. ``seeds``: the seeds
    per item the cut rule gives with the chosen reading (``v2_progress.registered_seeds``), final
    from then on."""
    from ..provenance import code_version
    from ..results import _atomic_write

    if tuple(chosen) not in accepted_readings():
        raise ValueError(f"reading {chosen!r} is not one the screen runs; choose one of {accepted_readings()}")
    entry = {"chosen": ",".join(chosen), "rule": "gca_lite.experiments.prereg.choose_reading",
             "gains": {",".join(r): g for r, g in gains.items()}, "screen_runs": runs,
             "seeds": None if seeds is None else dict(seeds),
             "made_at": datetime.now().astimezone().isoformat(timespec="seconds"), "code_version": code_version()}
    old = read_choice(root)
    if old is not None and old["chosen"] != entry["chosen"]:
        raise ValueError(f"{Path(root) / CHOICE}: the choice was already recorded as {old['chosen']}; "
                         "a pre-registered choice is made once")
    if old is None:
        _atomic_write(Path(root) / CHOICE, (json.dumps(entry, indent=1) + "\n").encode())
    return old or entry


# ------------------------------------------------------------------------------ command line
def _of_preset(record: Mapping, name: str) -> bool:
    """Whether a stored record was trained in preset ``name``'s setting (its training and evaluation
    sections, up to the seed, and its model width): the screen's store may hold other settings."""
    from ..config import preset
    from .grid import config_from_dict

    cfg = config_from_dict(record["config"], where="record")
    ref = preset(name, cfg.data.dataset)
    return (dataclasses.replace(cfg.train, seed=0) == dataclasses.replace(ref.train, seed=0)
            and cfg.eval == ref.eval and cfg.model.d == ref.model.d)


def _reading(text: str) -> tuple[str, str]:
    block, _, ln = text.partition(",")
    return block.strip(), ln.strip()


def main(argv: list[str] | None = None) -> int:
    import yaml

    from .grid import read_grid_spec

    ap = argparse.ArgumentParser(prog="python -m gca_lite.experiments.prereg", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("readings", help="list the readings the screen runs")
    c = sub.add_parser("choose", help="apply the reading-choice rule to a store's screen runs")
    c.add_argument("--store", default="results_v2")
    c.add_argument("--preset", default="lite_v2", help="only runs of this preset's setting (lite_v2)")
    c.add_argument("--record", action="store_true", help=f"write the choice into the store ({CHOICE}), "
                   "with the seeds the cut rule then gives, which lifts its seal")
    c.add_argument("--data-dir", default=None, help="folder with the afk and abe data (needed by --record)")
    i = sub.add_parser("instantiate", help="print a grid file for another reading and/or fewer seeds")
    i.add_argument("grid")
    i.add_argument("--reading", type=_reading, default=None, metavar="BLOCK,LN")
    i.add_argument("--seeds", type=int, default=None, metavar="N")
    args = ap.parse_args(argv)
    if args.cmd == "readings":
        print("\n".join(screen_variants()))
    elif args.cmd == "choose":
        from . import v2_run

        if args.record and not args.data_dir:
            raise ValueError("choose --record: --data-dir is needed (the cut rule sizes the widened bases)")
        chosen, gains, _ = v2_run.choose(args.store, args.preset, record=args.record, data_dir=args.data_dir)
        for reading, gain in gains.items():
            print(f"{reading_variant(reading):40s} {gain:+.6f}")
        print("chosen:", ",".join(chosen))
        if args.record:
            print(f"recorded in {Path(args.store) / CHOICE} ({read_choice(args.store)['made_at']})")
    else:
        spec = instantiate(read_grid_spec(args.grid), args.reading, args.seeds)
        print(f"# {args.grid} for reading {args.reading} and seeds {args.seeds or 'as written'}, written by "
              "python -m gca_lite.experiments.prereg instantiate (book/preregistration.md)")
        print(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=110), end="")
    return 0


def run_cli(main) -> None:
    """Run a module's ``main`` as a command: bad input (a ValueError, e.g. a GridError, or an
    unreadable file) exits with one line naming what is wrong, not a traceback."""
    try:
        raise SystemExit(main())
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    run_cli(main)
