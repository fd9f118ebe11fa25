"""Nothing stored changes: every record in results/ keeps its config hash under today's code (new
config fields sit in ``config.ADDED_FIELDS`` at their old-behaviour value) and stays a valid config."""

from __future__ import annotations

import json
from pathlib import Path

from gca_lite.config import ADDED_FIELDS, ModelConfig, RunConfig, TrainConfig, config_hash
from gca_lite.experiments.grid import config_from_dict

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_every_stored_record_keeps_its_config_hash():
    records = sorted(RESULTS.glob("*/*/record.json"))
    assert len(records) >= 100  # the lite grid (168) and the paper runs are committed
    for path in records:
        record = json.loads(path.read_text())
        cfg = config_from_dict(record["config"], where=str(path))
        assert config_hash(cfg) == record["config_hash"] == path.parent.name, path


def test_reading_fields_are_added_at_their_old_behaviour_value():
    defaults = {"model": ModelConfig(), "train": TrainConfig()}
    for (section, name) in (("model", "gca_block"), ("model", "gca_ln"), ("model", "gca_mask"),
                            ("train", "no_decay")):
        assert ADDED_FIELDS[(section, name)] == getattr(defaults[section], name)
    cfg = RunConfig()
    assert config_hash(cfg) != config_hash(RunConfig(model=ModelConfig(gca_block="cross_ffn4")))
    assert config_hash(cfg) != config_hash(RunConfig(train=TrainConfig(no_decay="gca")))
