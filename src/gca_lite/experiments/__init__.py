"""Experiments: config grids (YAML), a results store with provenance, sweeps and reports.

Typical use from a notebook::

    from gca_lite.experiments import run_or_load, load_grid, ResultsStore
    result = run_or_load(cfg, store="runs/store")        # trains once, then loads
    frame = ResultsStore("runs/store").to_frame()        # tidy table of every stored run

and from the shell::

    gca-lite sweep experiments/smoke_grid.yaml --store runs/smoke --workers 2
    gca-lite report --store runs/smoke --format md

Where things live (one idea per file):

* running: ``grid`` (YAML grids), ``store`` (the results store), ``lock``, ``train_once`` (train a
  config once into the store: the sweep, ``run_or_load`` and the book share it), ``sweep``;
* judging: ``variants`` (the variant-name language: **add a variant or a series here**), ``stats``
  (every interval, test and correlation), ``resample`` (the bootstraps' shared draws), ``report``
  (groups of runs and the report tables), ``context`` (what one dataset x setting holds), ``rules``
  (how comparisons become a verdict, and the verdict words and colours), ``claims`` (the claim
  registry: **add a claim here**, one function and one entry of ``CLAIMS``), ``verdicts`` (the
  verdict table), ``artefact``, ``contrasts``, ``budget``, ``summary``;
* writing: ``digest`` (computed prose, and the one "In short" for ``gca-lite report``, the results
  page and the README).
* v2: ``prereg`` (the pre-registration's rules: the readings screened, the validation-only reading
  choice, grid files for the chosen reading, dating runs against the page's commit) and
  ``v2_budget`` (run counts, projected wall time and the cut rule of book/preregistration.md).
"""

from .grid import GridError, config_from_dict, expand, load_grid, normalize
from .lock import RunLock
from .report import report_frame, to_markdown
from .store import ResultsStore, StoreWarning, run_or_load, setting_hash
from .sweep import SweepSummary, sweep

__all__ = ["GridError", "ResultsStore", "RunLock", "StoreWarning", "SweepSummary", "config_from_dict",
           "expand", "load_grid", "normalize", "report_frame", "run_or_load", "setting_hash", "sweep",
           "to_markdown"]
