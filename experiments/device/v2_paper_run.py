"""The v2 paper-preset item on a lent GPU (book/preregistration.md, "Paper preset"): list or train the
runs of experiments/device/v2_paper.yaml for one dataset under the reading recorded in
results_v2/choice.json (the seal must be lifted: the item runs only the chosen reading).

    python experiments/device/v2_paper_run.py list DATASET                # one line per run: index, state, name
    python experiments/device/v2_paper_run.py run DATASET INDEX STORE     # train that run on cuda into STORE

The data comes from the git-ignored .gpu_data/ (sent with the device call). Prints validation scores
only. Exit status 1 with one line when the choice is missing or an argument is wrong."""
import sys

sys.path.insert(0, "src")
from gca_lite.experiments import prereg  # noqa: E402
from gca_lite.experiments.grid import expand, read_grid_spec  # noqa: E402
from gca_lite.experiments.store import ResultsStore  # noqa: E402

GRID, V2_STORE, DATA = "experiments/device/v2_paper.yaml", "results_v2", ".gpu_data"


def configs(dataset: str):
    choice = prereg.read_choice(V2_STORE)
    if choice is None:
        sys.exit(f"v2_paper_run: {V2_STORE}/choice.json missing: the paper-preset item runs the chosen reading, "
                 "recorded once the readings screen is complete")
    reading = tuple(choice["chosen"].split(","))
    found = [c for c in expand(prereg.instantiate(read_grid_spec(GRID), reading), GRID, DATA)
             if c.data.dataset == dataset]
    if not found:
        sys.exit(f"v2_paper_run: dataset {dataset!r}: not in {GRID} (afk or abe)")
    return found


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] not in ("list", "run") or argv[0] == "run" and len(argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    found = configs(argv[1])
    if argv[0] == "list":
        store = ResultsStore(argv[2] if len(argv) > 2 else "results_v2_paper")
        for i, cfg in enumerate(found):
            print(i, "done" if store.has(cfg, warn=False) else "missing", cfg.name)
        return 0
    index, store = int(argv[2]), ResultsStore(argv[3])
    if not 0 <= index < len(found):
        sys.exit(f"v2_paper_run: INDEX {index}: {argv[1]} has runs 0 to {len(found) - 1}")
    from gca_lite.train import run

    cfg = found[index]
    result = run(cfg, DATA, progress=False, device="cuda")
    store.save(cfg, result)
    r = result.record
    print(cfg.name, r["epochs_run"], "epochs, epoch", r["best_epoch"], "selected,",
          round(r.get("wall_seconds", 0)), "s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
