"""Where a result chapter's runs come from: the committed real-data store, or training now.

Every result chapter takes a ``source`` parameter:

* ``"stored"`` (the default): the real-data runs of ``experiments/real_lite_grid.yaml`` committed in
  ``results/`` (afk and abe, lite preset, up to 150 epochs with early stopping, training seeds 0-2).
  Nothing is trained and no data files are read: a run the store lacks is an error naming it.
* ``"train"``: the runs of ``dataset`` (synthetic by default) in ``store``, trained first where
  missing, with the chapter's ``preset``, ``epochs``, ``overrides`` and ``seeds``. Fast reruns of
  the machinery; every page built this way says that its runs are synthetic or short.

A chapter loops over :func:`chapter_panels` (one panel per dataset) and asks each panel for its runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from .analysis import Setup
from .book import setting_line

SOURCES = ("stored", "train")
STORED_STORE = "results"
STORED_DATASETS = ("afk", "abe")
STORED_SEEDS = (0, 1, 2)
STORED_EPOCHS = 150  # the lite preset's epoch budget, as in experiments/real_lite_grid.yaml
DATASET_NAMES = {"afk": "Amazon Food-Kitchen", "abe": "Amazon Beauty-Electronics"}


@dataclasses.dataclass
class Panel:
    """One dataset of a chapter: its :class:`~gca_lite.analysis.Setup`, seeds and whether it trains."""

    name: str
    setup: Setup
    seeds: list[int]
    train: bool

    @property
    def real(self) -> bool:
        return not self.name.startswith("synthetic")

    @property
    def title(self) -> str:
        """The panel's heading: the dataset and what kind of data it is."""
        if self.real:
            return f"{self.name} ({DATASET_NAMES.get(self.name, 'real data')})"
        return f"{self.name} (synthetic data)"

    def setting(self) -> str:
        """The "Setting" paragraph (markdown) of the panel's runs."""
        cfg = self.setup.config()
        if not self.train:
            return (f"**Setting ({self.title}).** The committed real-data runs in `{self.setup.store}`: preset "
                    f"`{self.setup.preset}` (d = {cfg.model.d}, FFN {cfg.model.ffn_hidden}, dropout "
                    f"{cfg.model.dropout}, lr {cfg.train.lr}), at most {cfg.train.epochs} epochs with early stopping "
                    f"on validation MRR_A + MRR_B, training seeds {', '.join(map(str, self.seeds))}. Nothing is "
                    "trained for this page (`--param source=train` trains synthetic runs instead).")
        line = setting_line(self.name, self.setup.preset, cfg, self.seeds, self.setup.store)
        if not self.real:
            line = line.replace("**Setting.**", "**Setting (synthetic data).**", 1)
        return line

    def runs(self, variants: Sequence[str], **extra) -> dict[str, list]:
        """{variant: [RunResult per seed]}; trains the missing ones only when the panel trains."""
        if not self.train:
            self.require(self.setup.configs(variants, self.seeds, **extra))
        return self.setup.by_variant(variants, self.seeds, **extra)

    def ensure(self, configs: Sequence) -> list:
        if not self.train:
            self.require(configs)
        return self.setup.ensure(configs)

    def require(self, configs: Sequence) -> None:
        missing = [c.name for c in configs if not self.setup.results.has(c)]
        if missing:
            raise LookupError(f"{self.setup.store}: the committed store lacks {len(missing)} run(s) this chapter "
                              f"needs (e.g. {missing[0]}); train them with `gca-lite sweep "
                              "experiments/real_lite_grid.yaml --store results`, or use --param source=train")

    def matched(self, variant: str, seed: int):
        """The parameter-matched base of ``variant``: for stored runs from the committed item counts
        (no data files needed), else from the loaded dataset."""
        if self.train:
            return self.setup.matched(variant, seed)
        from .book_data import stored_summaries
        from .experiments.grid import normalize
        from .model.params import matched_base_config

        stats = stored_summaries()[self.name]["stats"]
        cfg = self.setup.config(variant, seed)
        model = matched_base_config(cfg.model, stats["items_a"], stats["items_b"])
        return normalize(dataclasses.replace(cfg, model=dataclasses.replace(model, matched_to=cfg.model.size_name)))


def chapter_panels(source: str, *, dataset: str, data_dir: str, seed: int, store: str, preset: str, epochs: int,
                   overrides: Mapping, workers: int, seeds: Sequence[int],
                   results_store: str = STORED_STORE) -> list[Panel]:
    """The panels of a result chapter for its notebook parameters (see the module docstring).

    ``seeds`` empty means the source's own: 0, 1, 2 for the stored runs, 0, 1 when training."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not isinstance(seeds, (list, tuple)):
        raise ValueError(f"seeds must be a list of training seeds, got {seeds!r}")
    if source == "stored":
        chosen = list(seeds) or list(STORED_SEEDS)
        return [Panel(name, Setup(dataset=name, store=results_store, preset="lite", epochs=STORED_EPOCHS,
                                  workers=workers), chosen, train=False) for name in STORED_DATASETS]
    setup = Setup(dataset=dataset, data_dir=data_dir, seed=seed, store=store, preset=preset, epochs=epochs,
                  overrides=overrides, workers=workers)
    return [Panel(dataset, setup, list(seeds) or [0, 1], train=True)]
