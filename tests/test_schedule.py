"""Fixed-budget lr schedules, eval.every, the lite_v2 preset and the bf16 switch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gca_lite.config import ConfigError, DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig, config_hash, preset
from gca_lite.precision import cpu_has_bf16, use_bf16
from gca_lite.schedule import epoch_factor, step_factor, validates
from gca_lite.train import run

TINY = RunConfig(
    data=DataConfig(dataset="synthetic-tiny"),
    model=ModelConfig(d=16, n_heads=2, ffn_hidden=32, rank_d=4, rank_i=4, dropout=0.1),
    train=TrainConfig(epochs=6, patience=0, batch_size=32, n_neg=32, lr=1e-2, warmup_epochs=1,
                      lr_schedule="cosine"),
    eval=EvalConfig(n_candidates=49, probe_users=8, every=2),
)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
def test_step_factor_warms_up_then_decays_to_zero(schedule):
    spe, warm, epochs = 7, 2, 10
    f = [step_factor(schedule, s, spe, warm, epochs) for s in range(spe * epochs)]
    np.testing.assert_allclose(f[:warm * spe], np.arange(1, warm * spe + 1) / (warm * spe))
    assert f[warm * spe] == 1.0
    tail = np.array(f[warm * spe:])
    assert np.all(np.diff(tail) < 0) and 0 < tail[-1] < 1.001 / ((epochs - warm) * spe)
    assert step_factor(schedule, spe * epochs, spe, warm, epochs) == 0.0
    with pytest.raises(ValueError, match="unknown lr schedule"):
        step_factor("constant", warm * spe, spe, warm, epochs)


def test_epoch_factor_is_abxis_per_epoch_warmup():
    assert epoch_factor(1, 10) == pytest.approx(1e-5)
    assert epoch_factor(6, 10) == pytest.approx(1e-5 + (1 - 1e-5) * 0.5)
    assert epoch_factor(11, 10) == 1.0 and epoch_factor(1, 0) == 1.0


def test_validation_calendar():
    assert [e for e in range(1, 11) if validates(e, 0, 1, 10)] == list(range(1, 11))
    assert [e for e in range(1, 11) if validates(e, 2, 3, 10)] == [3, 6, 9, 10]
    assert [e for e in range(1, 8) if validates(e, 0, 2, 7)] == [2, 4, 6, 7]


def test_new_fields_are_checked_and_keep_old_hashes():
    with pytest.raises(ConfigError, match="train.lr_schedule"):
        dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, lr_schedule="step")).validate()
    with pytest.raises(ConfigError, match="plateau_patience"):
        dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, plateau_patience=3)).validate()
    with pytest.raises(ConfigError, match="every"):
        dataclasses.replace(TINY, eval=dataclasses.replace(TINY.eval, every=0)).validate()
    with pytest.raises(ConfigError, match="train.bf16"):
        dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, bf16="yes")).validate()
    assert config_hash(RunConfig()) == "a6b74900c3c8d4ca"  # stored before any of these fields
    lite, v2 = preset("lite", "afk"), preset("lite_v2", "afk")
    assert v2.model == lite.model and config_hash(v2) != config_hash(lite)
    assert (v2.train.lr_schedule, v2.train.patience, v2.eval.every) == ("wsd", 0, 2)
    v2.validate()


def test_fixed_budget_run_validates_every_k_and_selects_the_best_validated_epoch(tmp_path):
    rec = run(TINY, progress=False, cache_dir=tmp_path).record
    hist = rec["history"]
    assert rec["epochs_run"] == 6 and rec["stop_reason"] == "max_epochs" and rec["bf16"] is False
    assert [h["epoch"] for h in hist if "valid" in h] == [2, 4, 6]
    scores = {h["epoch"]: h["valid"]["full"]["A/MRR"] + h["valid"]["full"]["B/MRR"] for h in hist if "valid" in h}
    assert rec["best_epoch"] == max(scores, key=scores.get)
    lrs = [h["lr"] for h in hist]
    assert all(a > b for a, b in zip(lrs[1:], lrs[2:])) and lrs[-1] < 0.1 * TINY.train.lr


def test_patience_counts_epochs_whatever_eval_every_is(tmp_path):
    """patience 2 at every=2 stops after one stale validation (2 epochs), like every=1 after two."""
    cfg = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, epochs=30, patience=2, lr=0.3,
                                                             lr_schedule="constant", warmup_epochs=0))
    rec = run(cfg, progress=False, cache_dir=tmp_path).record
    assert rec["stop_reason"] == "early_stopping"
    assert rec["epochs_run"] == rec["best_epoch"] + 2


def test_bf16_only_where_asked_and_native(tmp_path):
    assert not use_bf16(False) and not use_bf16(True, "cuda")
    assert use_bf16(True) == cpu_has_bf16()
    cfg = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, epochs=2, bf16=True))
    rec = run(cfg, progress=False, cache_dir=tmp_path).record
    assert rec["bf16"] == cpu_has_bf16()
    assert np.isfinite(rec["history"][-1]["loss_a"])


def test_wsd_holds_the_peak_then_decays_linearly_over_the_last_fifth():
    from gca_lite.schedule import WSD_DECAY
    spe, warm, epochs = 10, 2, 10
    total = spe * epochs
    f = np.array([step_factor("wsd", s, spe, warm, epochs) for s in range(total + 1)])
    np.testing.assert_allclose(f[:warm * spe], np.arange(1, warm * spe + 1) / (warm * spe))
    start = int(round(total * (1 - WSD_DECAY)))
    assert np.all(f[warm * spe:start + 1] == 1.0)
    np.testing.assert_allclose(np.diff(f[start:]), -1 / (total * WSD_DECAY))
    assert f[-1] == 0.0
