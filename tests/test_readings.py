"""The GCA readings (issue 21): every composition x LayerNorm placement x point either changes the
model when its LayerNorm is switched on, or is refused (inert), or is today's reading marked inert;
per-module parameter increments; the day mask; the weight-decay switch; names and errors."""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pytest
import torch

from conftest import random_splits
from gca_lite.config import (GCA_BLOCKS, GCA_LN, GCA_MASKS, GCA_POINTS, NO_DECAY, ConfigError, ModelConfig,
                             TrainConfig, inert_reason)
from gca_lite.model import ABXI, analytic_parameters, count_parameters, matched_base_config
from gca_lite.model.params import gca_module_parameters

NA, NB, MAXLEN = 20, 25, 12
LITE = ModelConfig(d=64, n_heads=2, ffn_hidden=170, rank_d=8, rank_i=16, max_len=MAXLEN, dropout=0.3)
PAPER_AFK = ModelConfig()  # ABXI's afk dimensions: d 256, FFN 680, ranks 16/64
AFK, ABE = (11837, 16258), (10379, 14188)
BLOG_MODULE = 2.09e6  # the blog's ABXI panels: afk 9.66M -> 11.75M, abe 8.83M -> 10.92M per module
EVAL_KEYS = ("seq_x", "seq_a", "seq_b", "order_a", "order_b", "target_domain",
             "day_start_a", "day_start_b", "day_start_last")


def build(cfg: ModelConfig, seed: int = 0, items=(NA, NB)) -> ABXI:
    return ABXI(cfg, *items, torch.Generator().manual_seed(seed))


def eval_batch(sp, split="valid"):
    return {k: torch.as_tensor(getattr(getattr(sp, split), k)) for k in EVAL_KEYS}


def relative_change(cfg_on: ModelConfig, cfg_off: ModelConfig) -> float:
    """|h_on - h_off| / |h_off| of the user representations at initialisation (same seed)."""
    ev = eval_batch(random_splits(NA, NB, MAXLEN, 24, seed=0, min_len=6))
    with torch.no_grad():
        h_on, h_off = (build(c).eval().encode_eval(ev) for c in (cfg_on, cfg_off))
    return float((h_on - h_off).norm() / h_off.norm())


# ------------------------------------------------------------------ LayerNorm on vs off
@pytest.mark.parametrize("point", GCA_POINTS)
@pytest.mark.parametrize("ln", GCA_LN)
@pytest.mark.parametrize("block", GCA_BLOCKS)
def test_layernorm_changes_the_output_or_the_reading_is_refused(block, ln, point, monkeypatch):
    """LayerNorm on vs off moves the output at initialisation by > 1e-3, or the combination is
    refused with a ConfigError saying it is inert (and it is: < 1e-3), or it is today's reading at
    points 1/2 (valid, marked inert). Never a silent on/off pair."""
    on = dataclasses.replace(LITE, gca_points=(point,), gca_block=block, gca_ln=ln)
    off = dataclasses.replace(on, gca_layernorm=False, gca_ln="pre")
    off.validate()
    try:
        on.validate()
    except ConfigError as e:
        assert "inert" in str(e) and "model.gca_ln" in str(e) and "\n" not in str(e)
        monkeypatch.setattr(ModelConfig, "_validate_reading", lambda self: None)
        assert relative_change(on, off) < 1e-3  # the refusal is deserved
        return
    rel = relative_change(on, off)
    if on.gca_layernorm_inert:
        assert (block, ln) == ("attn", "pre") and point in (1, 2) and inert_reason(on)
        assert rel < 1e-3
    else:
        assert rel > 1e-3 and not inert_reason(on)


def test_todays_reading_is_inert_at_points_1_and_2_only():
    for points, inert in (((1,), True), ((2,), True), ((1, 2), True), ((1, 1), True), ((0,), False),
                          ((0, 1, 2), False), ((), False)):
        for ln_on in (True, False):
            cfg = dataclasses.replace(LITE, gca_points=points, gca_layernorm=ln_on)
            cfg.validate()
            assert cfg.gca_layernorm_inert is inert, (points, ln_on)
    assert dataclasses.replace(LITE, gca_points=(1,), gca_ffn=True).gca_layernorm_inert
    assert not dataclasses.replace(LITE, gca_points=(1,), gca_ln="out").gca_layernorm_inert


# ------------------------------------------------------------------ parameter counts
#: Parameters one module (both directions) adds at d 256 (ABXI's afk/abe dimensions), ``pre``.
PINNED_D256 = {"attn": 528_386, "self_cross_ffn": 2_101_254, "cross_ffn4": 2_102_276}


@pytest.mark.parametrize("block", GCA_BLOCKS)
def test_per_module_increment_at_d256_on_afk(block):
    cfg = dataclasses.replace(PAPER_AFK, gca_points=(0,), gca_block=block)
    base = dataclasses.replace(PAPER_AFK, gca_points=())
    inc = count_parameters(build(cfg, items=AFK)) - count_parameters(build(base, items=AFK))
    assert inc == gca_module_parameters(cfg) == PINNED_D256[block]
    assert analytic_parameters(cfg, *AFK) - analytic_parameters(base, *AFK) == inc
    if block != "attn":  # the size-faithful compositions: the blog's 2.09M per module
        assert abs(inc - BLOG_MODULE) / BLOG_MODULE < 0.01
    else:
        assert inc < BLOG_MODULE / 3
    for ln in ("post", "out"):  # one LayerNorm fewer on the cross-attention (2 d per direction)
        assert gca_module_parameters(dataclasses.replace(cfg, gca_ln=ln)) == inc - 2 * 2 * 256


@pytest.mark.parametrize("block,ln,ln_on,channel", [
    (b, ln, True, c) for b, ln, c in itertools.product(GCA_BLOCKS, GCA_LN, (False, True))]
    + [(b, "pre", False, False) for b in GCA_BLOCKS])
def test_analytic_equals_counted(block, ln, ln_on, channel):
    cfg = dataclasses.replace(LITE, d=16, ffn_hidden=24, gca_points=(0, 2), gca_block=block, gca_ln=ln,
                              gca_layernorm=ln_on, gca_alpha_per_channel=channel)
    assert analytic_parameters(cfg, NA, NB) == count_parameters(build(cfg))


@pytest.mark.parametrize("block,ln", list(itertools.product(GCA_BLOCKS, GCA_LN)))
@pytest.mark.parametrize("base,items", [(PAPER_AFK, AFK), (ModelConfig(rank_d=64), ABE), (LITE, AFK)])
def test_matched_base_within_one_percent_for_every_reading(block, ln, base, items):
    cfg = dataclasses.replace(base, gca_points=(0,), gca_block=block, gca_ln=ln)
    m = matched_base_config(cfg, *items)
    target = analytic_parameters(cfg, *items)
    assert m.gca_points == () and abs(analytic_parameters(m, *items) - target) / target <= 0.01
    # one matched base per size: the placement does not change it
    pre = matched_base_config(dataclasses.replace(cfg, gca_ln="pre"), *items)
    assert (m.d, m.ffn_hidden) == (pre.d, pre.ffn_hidden)


# ------------------------------------------------------------------ errors and names
@pytest.mark.parametrize("field,value,allowed", [("gca_block", "mlp", GCA_BLOCKS), ("gca_ln", "mid", GCA_LN),
                                                 ("gca_mask", "week", GCA_MASKS)])
def test_bad_reading_values_name_the_field_and_the_allowed_values(field, value, allowed):
    with pytest.raises(ConfigError) as e:
        dataclasses.replace(LITE, gca_points=(0,), **{field: value}).validate()
    msg = str(e.value)
    assert f"model.{field}" in msg and str(allowed) in msg and repr(value) in msg and "\n" not in msg
    with pytest.raises(ConfigError, match=r"train.no_decay must be one of \('none', 'gca', 'all'\)"):
        TrainConfig(no_decay="bias").validate()


def test_inconsistent_readings_are_refused():
    with pytest.raises(ConfigError, match="model.gca_ffn"):
        dataclasses.replace(LITE, gca_points=(0,), gca_block="cross_ffn4", gca_ffn=True).validate()
    with pytest.raises(ConfigError, match="model.gca_ln='post'.*gca_layernorm=False"):
        dataclasses.replace(LITE, gca_points=(0,), gca_ln="post", gca_layernorm=False).validate()


NAME = re.compile(r"^GCA\[(?P<points>\d(?:,\d)*)\]-(?P<gate>\w+),(?P<ln>True|False)(?:\{(?P<reading>[\w,]+)\})?$")


def test_variant_and_size_names():
    """Today's names unchanged; a new reading adds its non-default values in braces, parseable back."""
    cfg = dataclasses.replace(LITE, gca_points=(1,))
    assert cfg.variant_name == "GCA[1]-sigmoid,True" and cfg.size_name == "1xGCA,True"
    new = dataclasses.replace(cfg, gca_points=(0,), gca_block="self_cross_ffn", gca_ln="post")
    assert new.variant_name == "GCA[0]-sigmoid,True{self_cross_ffn,post}"
    assert new.size_name == "1xGCA,True{self_cross_ffn}"
    assert dataclasses.replace(cfg, gca_ln="out", gca_mask="day").variant_name == "GCA[1]-sigmoid,True{out,day}"
    tokens = {v: f for f, vals in (("gca_block", GCA_BLOCKS), ("gca_ln", GCA_LN), ("gca_mask", GCA_MASKS))
              for v in vals}
    assert len(tokens) == len(GCA_BLOCKS) + len(GCA_LN) + len(GCA_MASKS)  # disjoint value sets
    for block, ln, mask, points in itertools.product(GCA_BLOCKS, GCA_LN, GCA_MASKS, [(0,), (0, 2)]):
        c = dataclasses.replace(cfg, gca_points=points, gca_block=block, gca_ln=ln, gca_mask=mask, gca_gate="tanh")
        m = NAME.match(c.variant_name)
        assert m, c.variant_name
        fields = {tokens[t]: t for t in (m["reading"] or "").split(",") if t}
        back = dataclasses.replace(ModelConfig(), **fields)
        assert (back.gca_block, back.gca_ln, back.gca_mask) == (block, ln, mask)


# ------------------------------------------------------------------ the day mask
def day_splits(seed=0):
    """Random mixed sequences with day-granular timestamps, several items per day."""
    from gca_lite.data.dataset import from_sequences
    from gca_lite.data.splits import make_splits

    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(16):
        n = int(rng.integers(8, 17))
        days = np.cumsum(rng.integers(0, 2, size=n)) + 16000
        seqs.append((rng.choice(np.arange(1, NA + NB + 1), size=n, replace=False), days * 86400 + 3600))
    return make_splits(from_sequences("syn", NA, NB, seqs), MAXLEN)


def test_day_arrays_of_the_splits():
    from gca_lite.data.splits import _day_start

    assert _day_start(np.array([0, 5, 86400, 86400 + 7, 3 * 86400]) + 86400 * 9).tolist() == [0, 0, 2, 2, 4]
    sp = day_splits()
    for r in range(3):
        valid = sp.train.seq_x[r] != 0
        back = sp.train.day_back[r][valid]
        assert back.min() >= 0 and (back[1:] <= back[:-1] + 1).all()
        ev = sp.valid
        for dom in "ab":
            order, start = getattr(ev, f"order_{dom}")[r], getattr(ev, f"day_start_{dom}")[r]
            ok = order >= 0
            assert (start[ok] <= order[ok]).all() and (start[~ok] == -1).all()
        assert ev.day_start_last[r] <= max(ev.order_a[r].max(), ev.order_b[r].max())


@pytest.mark.parametrize("block", GCA_BLOCKS)
def test_day_mask_sees_strictly_earlier_days_only(block):
    """Evaluation: the recorded attention of every direction is zero exactly on keys of the query's
    day or later (the last position: the history's last day or later), positive elsewhere."""
    sp = day_splits(1)
    cfg = dataclasses.replace(LITE, d=16, ffn_hidden=24, gca_points=(0, 1, 2), gca_block=block, gca_ln="out",
                              gca_mask="day")
    m = build(cfg).eval()
    e = eval_batch(sp)
    with torch.no_grad(), m.recording() as dirs:
        m.encode_eval(e)
    for (point, dom), d in dirs.items():
        rec = d.records[0]
        q, other = ("a", "b") if dom == "A" else ("b", "a")
        q_order, q_start = e[f"order_{q}"], e[f"day_start_{q}"].clone()
        q_start[:, -1] = e["day_start_last"]
        k_order = e[f"order_{other}"]
        allowed = (k_order[:, None, :] < q_start[:, :, None]) & (k_order >= 0)[:, None, :]
        allowed &= (q_order >= 0)[:, :, None]
        w = rec.weights.sum(1)
        assert float(w[~allowed].abs().max()) == 0.0, (point, dom)
        assert bool((w[allowed] > 0).all()) and bool((~allowed & (k_order >= 0)[:, None, :]
                                                      & (q_order >= 0)[:, :, None]).any())
        assert torch.equal(rec.has_key, allowed.any(-1)[q_order >= 0])


def test_day_mask_in_training_never_shows_same_day_keys():
    from gca_lite.model.abxi import pack_sparse
    from gca_lite.model.gca import cross_mask

    sp = day_splits(2)
    b = {k: torch.as_tensor(getattr(sp.train, k)) for k in ("seq_a", "seq_b", "day_back")}
    sa, sb = (pack_sparse(b[k], b["day_back"]) for k in ("seq_a", "seq_b"))
    allowed = cross_mask(sa.grid, sb.grid)  # A queries B, on the packed layouts
    L = b["seq_a"].shape[1]
    col_a, col_b = sa.flat_pos % L, sb.flat_pos % L  # grid columns of the packed elements
    day = torch.as_tensor(np.arange(L)) - b["day_back"]  # first column of each column's day
    first_a = torch.gather(day, 1, col_a)
    first_b = torch.gather(day, 1, col_b)
    want = (first_b[:, None, :] < first_a[:, :, None]) & sa.grid.valid[:, :, None] & sb.grid.valid[:, None, :]
    assert torch.equal(allowed, want) and allowed.any() and (~allowed & want.logical_not()).any()


def test_day_mask_needs_the_day_arrays():
    sp = day_splits()
    m = build(dataclasses.replace(LITE, d=16, ffn_hidden=24, gca_points=(0,), gca_mask="day")).eval()
    e = {k: v for k, v in eval_batch(sp).items() if not k.startswith("day")}
    with pytest.raises(ValueError, match="gca_mask='day' needs the day arrays"):
        m.encode_eval(e)


# ------------------------------------------------------------------ weight decay
@pytest.mark.parametrize("no_decay", NO_DECAY)
def test_decay_groups(no_decay):
    from gca_lite.train import decay_groups

    m = build(dataclasses.replace(LITE, gca_points=(0,), gca_block="self_cross_ffn", gca_ln="out"))
    groups = decay_groups(m, no_decay)
    if no_decay == "none":
        assert [id(p) for p in groups] == [id(p) for p in m.parameters()]
        return
    exempt = {id(p) for p in groups[1]["params"]}
    assert groups[1]["weight_decay"] == 0.0 and len(exempt) + len(groups[0]["params"]) == len(list(m.parameters()))
    names = {n for n, p in m.named_parameters() if id(p) in exempt}
    gca_1d = {n for n, p in m.named_parameters() if n.startswith("gca.") and p.dim() < 2}
    assert {"gca.0.a_from_b.alpha", "gca.0.a_from_b.alpha_self", "gca.0.b_from_a.ln_f.weight"} <= gca_1d
    assert names == gca_1d if no_decay == "gca" else names > gca_1d and "norm_mha.weight" in names
    opt = torch.optim.AdamW(groups, lr=1e-2, weight_decay=5.0)
    alpha = m.gca["0"].a_from_b.alpha
    alpha.grad = torch.zeros_like(alpha)
    for p in m.parameters():
        p.grad = torch.zeros_like(p)
    before = alpha.detach().clone() + 0.5
    with torch.no_grad():
        alpha.copy_(before)
    opt.step()
    assert torch.equal(alpha.detach(), before)  # no decay on a zero gradient: unchanged


# ------------------------------------------------------------------ command line
def test_train_dry_run_prints_the_per_module_increment(capsys):
    from gca_lite.cli import main

    assert main(["train", "synthetic-tiny", "--gca", "0,2", "--gca-block", "cross_ffn4", "--gca-ln", "out",
                 "--gca-mask", "day", "--no-decay", "gca", "--d", "16", "--dry-run"]) == 0
    out = capsys.readouterr().out
    cfg = dataclasses.replace(ModelConfig(), d=16, gca_points=(0, 2), gca_block="cross_ffn4", gca_ln="out")
    assert "GCA[0,2]-sigmoid,True{cross_ffn4,out,day}" in out
    assert f"per GCA module (both directions): +{gca_module_parameters(cfg):,}" in out
    assert main(["train", "synthetic-tiny", "--gca", "1", "--gca-block", "cross_ffn4", "--dry-run"]) == 2
    assert "inert" in capsys.readouterr().err


@pytest.mark.realdata
def test_readings_grid_dry_run_lists_every_reading(shared_data, tmp_path):
    """`gca-lite sweep experiments/readings_grid.yaml --dry-run` lists the grid: base, GCA[0] for
    every composition x placement, GCA[1] without the refused (inert) placements, LayerNorm off,
    6 matched bases, on afk and abe, 3 seeds."""
    from conftest import REPO, _cli

    out = _cli("sweep", str(REPO / "experiments" / "readings_grid.yaml"), "--data-dir", str(shared_data),
               "--store", str(tmp_path / "empty"), "--dry-run")
    assert out.returncode == 0, out.stderr
    names = [line.split()[2] for line in out.stdout.splitlines() if line.startswith("missing")]
    assert len(names) == 156
    variants = {n.split("/")[1] for n in names if n.startswith("afk/")}
    want = {f"GCA[0]-sigmoid,True{ModelConfig(gca_points=(0,), gca_block=b, gca_ln=ln).reading_suffix}"
            for b in GCA_BLOCKS for ln in GCA_LN}
    want |= {"GCA[1]-sigmoid,True", "GCA[1]-sigmoid,True{out}", "GCA[1]-sigmoid,True{self_cross_ffn,out}",
             "GCA[1]-sigmoid,True{cross_ffn4,out}", "base"}
    want |= {f"GCA[{p}]-sigmoid,False{s}" for p in (0, 1) for s in ("", "{self_cross_ffn}", "{cross_ffn4}")}
    want |= {f"base~1xGCA,{ln}{s}" for ln in (True, False) for s in ("", "{self_cross_ffn}", "{cross_ffn4}")}
    assert variants == want
    assert {n.split("/")[0] for n in names} == {"afk", "abe"}
