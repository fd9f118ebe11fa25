"""Stored v1 runs must rerun identically: the default training path and every stored config hash.

``fixtures/v1_runs.json`` was written by the v1 trainer (commit cb38e3b, before the fast evaluation,
the lr schedules, eval.every and bf16 existed) by running this file as a script::

    git archive cb38e3b src | tar -x -C /tmp/v1 && PYTHONPATH=/tmp/v1/src python tests/test_v1_identity.py OUT

Float results are only promised identical on the same CPU model, torch version and thread count, so
the comparison is skipped elsewhere (the hash test below runs everywhere).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from gca_lite.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig

FIXTURE = Path(__file__).parent / "fixtures" / "v1_runs.json"
RESULTS = Path(__file__).resolve().parents[1] / "results"
TIMING = ("train_seconds", "eval_seconds")
_TINY = dict(d=16, n_heads=2, ffn_hidden=32, rank_d=4, rank_i=4, dropout=0.1)
CONFIGS = {
    "gca1": RunConfig(data=DataConfig(dataset="synthetic-tiny"), model=ModelConfig(**_TINY, gca_points=(1,)),
                      train=TrainConfig(epochs=3, patience=2, batch_size=64, n_neg=32, lr=1e-3),
                      eval=EvalConfig(n_candidates=99, probe_users=32)),
    "base_warmup_plateau": RunConfig(
        data=DataConfig(dataset="synthetic-tiny"), model=ModelConfig(**_TINY),
        train=TrainConfig(epochs=4, patience=2, batch_size=64, n_neg=32, lr=3e-3, warmup_epochs=1,
                          plateau_patience=1, seed=1),
        eval=EvalConfig(n_candidates=49, probe_users=16, batch_size=40)),
}


def _summary(result) -> dict:
    """Everything of a run that must not change, in JSON form (timings left out)."""
    rec = result.record
    out = {k: rec[k] for k in ("config_hash", "best_epoch", "epochs_run", "stop_reason", "test", "valid",
                               "orthogonality")}
    out["history"] = [{k: v for k, v in h.items() if k not in TIMING} for h in rec["history"]]
    out["counts"] = {p: {f: getattr(c, f).tolist() for f in ("greater", "equal", "n_candidates")}
                     for p, c in result.test_counts.items()}
    return json.loads(json.dumps(out, sort_keys=True))


def _runs(threads: int) -> dict:
    from gca_lite.train import run

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return {name: _summary(run(cfg, progress=False, cache_dir=tmp)) for name, cfg in CONFIGS.items()}
    finally:
        torch.set_num_threads(before)


def _machine(threads: int) -> str:
    from gca_lite.provenance import machine_description

    return machine_description().replace(f"({torch.get_num_threads()} threads", f"({threads} threads")


def test_default_training_path_reproduces_the_v1_trainer():
    fixture = json.loads(FIXTURE.read_text())
    threads = fixture["threads"]
    here = _machine(threads).rsplit(";", 1)[0]  # the kernel build may differ
    if here != fixture["machine"].rsplit(";", 1)[0]:
        pytest.skip(f"fixture written on {fixture['machine']!r}; floats are only identical there")
    assert _runs(threads) == fixture["runs"]


def test_every_stored_record_keeps_its_config_hash():
    """New config fields at their defaults never re-key a stored run (config.ADDED_FIELDS)."""
    from gca_lite.experiments.grid import config_from_dict
    from gca_lite.experiments.store import ResultsStore

    records = sorted(RESULTS.glob("*/*/record.json"))
    if not records:
        pytest.skip("no stored results in this checkout")
    for path in records:
        rec = json.loads(path.read_text())
        cfg = config_from_dict(rec["config"], where=str(path))
        assert ResultsStore.key(cfg) == rec["config_hash"] == path.parent.name, path


if __name__ == "__main__":  # write the fixture (run with the v1 sources on PYTHONPATH)
    import gca_lite
    from gca_lite.provenance import machine_description

    n = torch.get_num_threads()
    Path(sys.argv[1]).write_text(json.dumps({"source": gca_lite.__file__, "machine": machine_description(),
                                             "threads": n, "runs": _runs(n)}, sort_keys=True))
