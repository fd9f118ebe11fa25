"""Parameter counts (ABXI.md section 4 totals) and the parameter-matched base model."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gca_lite.config import ConfigError, ModelConfig
from gca_lite.model import ABXI, analytic_parameters, count_parameters, matched_base_config

AFK = (11837, 16258)  # 28,095 items
ABE = (10379, 14188)  # 24,567 items
LITE = ModelConfig(d=64, n_heads=2, ffn_hidden=170, rank_d=8, rank_i=16)


def build(cfg, items):
    return ABXI(cfg, *items, torch.Generator().manual_seed(0))


def test_abxi_afk_and_abe_totals():
    afk = ModelConfig()  # demo.sh afk: d 256, ffn 680, rd 16, ri 64
    abe = ModelConfig(rank_d=64, rank_i=64)
    assert count_parameters(build(afk, AFK)) == 9_651_200
    assert count_parameters(build(abe, ABE)) == 8_821_760
    assert analytic_parameters(afk, *AFK) == 9_651_200
    assert analytic_parameters(abe, *ABE) == 8_821_760


def test_hand_computation_afk():
    d, h = 256, 680
    hand = (28_095 + 1) * d + 48 * d + (3 * d * d + 3 * d + d * d + d) + 2 * d \
        + 4 * 3 * d * h + 7 * 2 * d + 3 * 2 * d * 16 + 2 * 2 * d * 64
    assert hand == 9_651_200


TINY = ModelConfig(d=16, n_heads=2, ffn_hidden=24, rank_d=2, rank_i=4, max_len=12)


@pytest.mark.parametrize("changes", [
    dict(), dict(gca_points=(1,)), dict(gca_points=(0, 1, 2), gca_ffn=True),
    dict(gca_points=(2,), gca_layernorm=False, gca_alpha_per_channel=True),
    dict(gca_points=(0, 2), gca_heads=4, gca_ffn=True, gca_alpha_per_channel=True),
    dict(rank_d=0, rank_i=0, gca_points=(1,)), dict(gca_points=(0, 0, 0)), dict(gca_points=(0, 0, 1)),
])
def test_analytic_equals_counted(changes):
    cfg = dataclasses.replace(TINY, **changes)
    assert analytic_parameters(cfg, 20, 25) == count_parameters(build(cfg, (20, 25)))


@pytest.mark.parametrize("base,changes,items", [
    (ModelConfig(), dict(gca_points=(1,)), AFK),
    (ModelConfig(), dict(gca_points=(0, 1, 2)), AFK),
    (ModelConfig(rank_d=64), dict(gca_points=(0, 1, 2), gca_ffn=True), ABE),
    (LITE, dict(gca_points=(1,)), AFK),
    (LITE, dict(gca_points=(0, 1, 2), gca_ffn=True, gca_alpha_per_channel=True), AFK),
])
def test_matched_base_within_one_percent(base, changes, items):
    gca_cfg = dataclasses.replace(base, **changes)
    target = analytic_parameters(gca_cfg, *items)
    m = matched_base_config(gca_cfg, *items)
    assert m.gca_points == () and m.variant_name == "base"
    assert abs(analytic_parameters(m, *items) - target) / target <= 0.01
    # rule: only the FFN width grows when that suffices
    assert m.d == gca_cfg.d and m.ffn_hidden > gca_cfg.ffn_hidden
    assert dataclasses.replace(m, ffn_hidden=gca_cfg.ffn_hidden) == dataclasses.replace(gca_cfg, gca_points=())


def test_matched_base_counts_a_real_model():
    cfg = dataclasses.replace(TINY, gca_points=(0, 1, 2))
    m = matched_base_config(cfg, 20, 25)
    got, want = count_parameters(build(m, (20, 25))), count_parameters(build(cfg, (20, 25)))
    assert abs(got - want) / want <= 0.01


def test_matched_base_falls_back_to_width():
    # a tiny model where one FFN unit (12 d = 72 parameters) is coarser than the tolerance
    cfg = ModelConfig(d=6, n_heads=2, ffn_hidden=4, rank_d=1, rank_i=1, max_len=4, gca_points=(1,))
    items = (2, 3)
    target = analytic_parameters(cfg, *items)
    m = matched_base_config(cfg, *items, tol=0.001)
    assert abs(analytic_parameters(m, *items) - target) / target <= 0.001
    assert m.d > cfg.d and m.d % m.n_heads == 0
    with pytest.raises(ConfigError, match="no base config"):
        matched_base_config(dataclasses.replace(cfg, d=4, ffn_hidden=2), 3, 3, tol=0.002)


def test_matched_base_rejects_bad_tol():
    with pytest.raises(ConfigError, match="tol"):
        matched_base_config(dataclasses.replace(TINY, gca_points=(1,)), 20, 25, tol=0)
