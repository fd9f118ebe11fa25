"""Experiments: config grids (YAML), a results store with provenance, sweeps and reports.

Typical use from a notebook::

    from gca_lite.experiments import run_or_load, load_grid, ResultsStore
    result = run_or_load(cfg, store="runs/store")        # trains once, then loads
    frame = ResultsStore("runs/store").to_frame()        # tidy table of every stored run

and from the shell::

    gca-lite sweep experiments/smoke_grid.yaml --store runs/smoke --workers 2
    gca-lite report --store runs/smoke --format md
"""

from .grid import GridError, config_from_dict, expand, load_grid, normalize
from .lock import RunLock
from .report import report_frame, to_markdown
from .store import ResultsStore, StoreWarning, run_or_load, setting_hash
from .sweep import SweepSummary, sweep

__all__ = ["GridError", "ResultsStore", "RunLock", "StoreWarning", "SweepSummary", "config_from_dict",
           "expand", "load_grid", "normalize", "report_frame", "run_or_load", "setting_hash", "sweep",
           "to_markdown"]
