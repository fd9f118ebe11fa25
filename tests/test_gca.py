"""GCA module: leakage (training grid and evaluation order), parity with the base, probe hooks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import random_splits
from gca_lite.config import GCA_BLOCKS, GCA_LN, ModelConfig
from gca_lite.model import ABXI
from gca_lite.probe import attention_for_user, orthogonality

NA, NB, MAXLEN = 20, 25, 12
CFG = ModelConfig(d=16, n_heads=2, ffn_hidden=24, rank_d=2, rank_i=4, max_len=MAXLEN, dropout=0.1,
                  gca_points=(0, 1, 2))
POINT_SETS = [(0,), (1,), (2,), (0, 1, 2), (0, 0, 0)]


def tiny_splits(n_users=12, seed=0):
    return random_splits(NA, NB, MAXLEN, n_users, seed, min_len=6)


def train_batch(sp):
    return {k: torch.as_tensor(getattr(sp.train, k)) for k in ("seq_x", "seq_a", "seq_b", "target", "day_back")}


def eval_batch(sp, split="valid"):
    es = getattr(sp, split)
    return {k: torch.as_tensor(getattr(es, k)) for k in
            ("seq_x", "seq_a", "seq_b", "order_a", "order_b", "target_domain", "day_start_a", "day_start_b",
             "day_start_last")}


#: Every composition x LayerNorm placement, with point sets it accepts (``pre``/``post`` are refused
#: as inert where every point is 1 or 2, except today's reading: see config.inert_reason).
READINGS = [(b, ln) for b in GCA_BLOCKS for ln in GCA_LN]


def reading_points(block, ln):
    if ln == "out" or (block, ln) == ("attn", "pre"):
        return [(0,), (1,), (2,), (0, 1, 2)]
    return [(0,), (0, 1, 2), (0, 0, 1)]


def model(cfg=CFG, seed=0, ffn=False, gate="sigmoid"):
    cfg = dataclasses.replace(cfg, gca_ffn=ffn, gca_gate=gate, gca_alpha_init=0.3)
    m = ABXI(cfg, NA, NB, torch.Generator().manual_seed(seed))
    with torch.no_grad():  # make every GCA branch clearly non-trivial
        for p in m.gca.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return m.eval()


def negs():
    return torch.arange(1, 7), torch.arange(NA + 1, NA + 7)


def _replace_same_domain(t: torch.Tensor, where: torch.Tensor, rng) -> torch.Tensor:
    t = t.clone()
    for r, c in where.nonzero().tolist():
        if t[r, c] == 0:
            continue
        lo, hi = (1, NA) if t[r, c] <= NA else (NA + 1, NA + NB)
        t[r, c] = int(rng.integers(lo, hi + 1))
    return t


@pytest.mark.parametrize("points", POINT_SETS)
@pytest.mark.parametrize("ffn", [False, True])
def test_no_future_leakage_in_training(points, ffn):
    _check_no_future_leakage(model(dataclasses.replace(CFG, gca_points=points), ffn=ffn))


@pytest.mark.parametrize("block,ln", READINGS)
def test_no_future_leakage_in_training_every_reading(block, ln):
    """The same check for every composition (its self-attention is causal within its stream) and
    LayerNorm placement (the day mask: tests/test_readings.py)."""
    for points in reading_points(block, ln)[-2:]:
        _check_no_future_leakage(model(dataclasses.replace(CFG, gca_points=points, gca_block=block, gca_ln=ln)))


def _check_no_future_leakage(m):
    sp = tiny_splits(seed=1)
    b = train_batch(sp)
    rng = np.random.default_rng(0)
    L = b["seq_x"].shape[1]
    for t0 in (L - 6, L - 3):
        future = torch.zeros_like(b["seq_x"], dtype=torch.bool)
        future[:, t0 + 1:] = True
        b2 = {k: v if k == "day_back" else _replace_same_domain(v, future, rng) for k, v in b.items()}
        assert not torch.equal(b2["seq_b"], b["seq_b"]) and not torch.equal(b2["seq_a"], b["seq_a"])
        r1, r2 = m.train_repr(b)[0], m.train_repr(b2)[0]
        for dom in "ab":  # both directions: A positions and B positions
            p = r1[dom][3]
            early = (p % L) <= t0
            assert early.any() and (~early).any()
            assert torch.allclose(r1[dom][0][early], r2[dom][0][early], atol=1e-6), (dom, t0)
            assert not torch.allclose(r1[dom][0][~early], r2[dom][0][~early], atol=1e-4)


@pytest.mark.parametrize("points", [(0,), (1,), (2,)])
def test_eval_order_masks(points):
    sp = tiny_splits(seed=2)
    m = model(dataclasses.replace(CFG, gca_points=points))
    e = eval_batch(sp)
    with torch.no_grad(), m.recording() as dirs:
        m.encode_eval(e)
    p = points[0]
    for dom, other in (("A", "b"), ("B", "a")):
        rec = dirs[(str(p), dom)].records[0]
        q_order = e["order_a" if dom == "A" else "order_b"]
        k_order = e[f"order_{other}"]
        w = rec.weights.sum(1)  # (B, Lq, Lk) summed over heads
        allowed = (k_order[:, None, :] <= q_order[:, :, None]) & (k_order[:, None, :] >= 0)
        allowed[:, -1, :] = k_order >= 0  # the last position sees the whole history
        allowed &= (q_order >= 0)[:, :, None]
        assert float(w[~allowed].abs().max()) == 0.0
        assert bool((w[allowed] > 0).all())
        rows_ok = allowed.any(-1)
        assert torch.allclose(w.sum(-1)[rows_ok], torch.full_like(w.sum(-1)[rows_ok], 2.0), atol=1e-5)
        # queries without any allowed key: X' = 0 exactly
        valid_q = q_order >= 0
        assert torch.equal(rec.has_key, rows_ok[valid_q])
        assert float(rec.x_prime[~rec.has_key].abs().sum()) == 0.0


@pytest.mark.parametrize("block,ln", [("attn", "pre"), ("self_cross_ffn", "out"), ("cross_ffn4", "post")])
def test_eval_changing_later_other_domain_items_keeps_earlier_queries(block, ln):
    sp = tiny_splits(seed=3)
    m = model(dataclasses.replace(CFG, gca_points=(0, 1, 2), gca_block=block, gca_ln=ln))
    e = eval_batch(sp)
    r = 0
    oa = e["order_a"][r]
    i = int((oa >= 0).nonzero()[0, 0]) + 1  # second A element of row 0
    e2 = {k: v.clone() for k, v in e.items()}
    later_b = e["order_b"][r] > oa[i]
    e2["seq_b"][r, later_b] = NA + NB - torch.arange(int(later_b.sum()))
    outs = []
    for batch in (e, e2):
        with torch.no_grad(), m.recording() as dirs:
            m.encode_eval(batch)
        outs.append({k: d.records[0] for k, d in dirs.items()})
    for p in (0, 1, 2):
        x1, x2 = outs[0][(str(p), "A")], outs[1][(str(p), "A")]
        j = int((x1.row == r).nonzero()[i - int((oa >= 0).nonzero()[0, 0])])  # record index of (r, i)
        assert torch.allclose(x1.x_prime[j], x2.x_prime[j], atol=1e-6)
    last = outs[0][("0", "A")].is_last & (outs[0][("0", "A")].row == r)
    assert not torch.allclose(outs[0][("0", "A")].x_prime[last], outs[1][("0", "A")].x_prime[last])


@pytest.mark.parametrize("ffn", [False, True])
def test_parity_gate_held_at_zero(ffn):
    _check_parity(model(seed=11, ffn=ffn))


@pytest.mark.parametrize("block,ln", READINGS)
def test_parity_gate_held_at_zero_every_reading(block, ln):
    _check_parity(model(dataclasses.replace(CFG, gca_block=block, gca_ln=ln), seed=11))


def _check_parity(gca):
    sp = tiny_splits(seed=4)
    base = ABXI(dataclasses.replace(CFG, gca_points=()), NA, NB, torch.Generator().manual_seed(11)).eval()
    bp = dict(base.named_parameters())
    for n, p in gca.named_parameters():
        if not n.startswith("gca."):
            assert torch.equal(p, bp[n]), n
    e, b = eval_batch(sp), train_batch(sp)
    with torch.no_grad():
        ref_scores = base.score_all(base.encode_eval(e))
        ref_loss = base.loss(b, *negs())[0]
        assert not torch.equal(gca.score_all(gca.encode_eval(e)), ref_scores)
        with gca.force_gate_zero():
            assert torch.equal(gca.score_all(gca.encode_eval(e)), ref_scores)
            assert torch.equal(gca.loss(b, *negs())[0], ref_loss)
        assert not torch.equal(gca.score_all(gca.encode_eval(e)), ref_scores)  # context restored


@pytest.mark.parametrize("gate", ["tanh", "identity"])
@pytest.mark.parametrize("block,ln", [(b, ln) for b, ln in READINGS if ln != "post"])
def test_zero_alpha_is_identity_for_tanh_and_identity_gates(gate, block, ln):
    """alpha = 0 with a gate g(0) = 0 is the identity for ``pre`` and ``out`` (``post`` leaves
    LN(X): only holding the module at zero, test above, is the identity there)."""
    sp = tiny_splits(seed=5)
    cfg = dataclasses.replace(CFG, gca_gate=gate, gca_alpha_init=0.0, gca_ffn=block == "attn",
                              gca_block=block, gca_ln=ln)
    base = ABXI(dataclasses.replace(cfg, gca_points=()), NA, NB, torch.Generator().manual_seed(3)).eval()
    gca = ABXI(cfg, NA, NB, torch.Generator().manual_seed(3)).eval()
    e = eval_batch(sp)
    with torch.no_grad():
        assert torch.allclose(gca.encode_eval(e), base.encode_eval(e), atol=1e-5)


def test_recording_off_by_default_and_gate_values():
    sp = tiny_splits()
    m = model()
    m.loss(train_batch(sp), *negs())
    assert all(not d.records and not d.recording for d in m.gca_directions().values())
    m2 = ABXI(dataclasses.replace(CFG, gca_alpha_per_channel=True), NA, NB, torch.Generator().manual_seed(0))
    d = m2.gca_directions()[("1", "A")]
    assert d.alpha.shape == (CFG.d,) and torch.allclose(d.gate(), torch.full((CFG.d,), 0.5))


def test_gradients_reach_gca_and_no_nan():
    sp = tiny_splits(seed=6)
    m = model(ffn=True).train()
    torch.manual_seed(0)
    loss, _ = m.loss(train_batch(sp), *negs())
    loss.backward()
    for n, p in m.gca.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
        assert float(p.grad.abs().sum()) > 0, n


def test_multi_head_and_no_layernorm():
    sp = tiny_splits(seed=7)
    cfg = dataclasses.replace(CFG, gca_heads=4, gca_layernorm=False, gca_gate="tanh")
    m = model(cfg)
    assert cfg.variant_name == "GCA[0,1,2]-tanh,False"
    h = m.encode_eval(eval_batch(sp))
    assert torch.isfinite(h).all()
    with torch.no_grad(), m.recording() as dirs:
        m.encode_eval(eval_batch(sp))
    assert dirs[("2", "B")].records[0].weights.shape[1] == 4


def test_probe_orthogonality_and_explorer():
    sp = tiny_splits(seed=8)
    m = model().train()
    e = eval_batch(sp)
    batches = [{k: v[:6] for k, v in e.items()}, {k: v[6:] for k, v in e.items()}]
    r1 = orthogonality(m, batches)
    r2 = orthogonality(m, batches)
    assert m.training  # mode restored
    assert r1 == r2
    assert set(r1) == {f"GCA[{p}]/{d}" for p in (0, 1, 2) for d in "AB"}
    for v in r1.values():
        assert 0.0 <= v["abs_cos"] <= 1.0 and 0.0 <= v["abs_cos_last"] <= 1.0
        assert v["norm_ratio"] > 0 and v["n_last"] <= 12 and v["n_positions"] >= v["n_last"]
        assert v["gate"] == pytest.approx(float(torch.sigmoid(torch.tensor(0.3))), rel=1e-2) or v["gate"] > 0
    ex = attention_for_user(m, e, row=2)
    w = ex["GCA[1]/A"]["weights"]
    assert w.shape == (CFG.gca_heads, len(ex["GCA[1]/A"]["query_items"]), len(ex["GCA[1]/A"]["key_items"]))
    assert np.allclose(w[:, -1].sum(-1), 1.0, atol=1e-5)


def test_stacked_modules_at_one_point():
    """GCA_early with k modules: (0, 0, 0) builds three modules at point 0, applied in order, each
    with its own weights, probe entry and gate; the first keeps the single-module initialisation."""
    from gca_lite.model.gca import module_labels

    assert module_labels((0, 0, 1, 2, 2)) == ["0", "0#2", "1", "2", "2#2"]
    sp = tiny_splits(seed=6)
    one = model(dataclasses.replace(CFG, gca_points=(0,)), seed=3)
    three = model(dataclasses.replace(CFG, gca_points=(0, 0, 0)), seed=3)
    assert list(three.gca) == ["0", "0_2", "0_3"]
    assert sorted(three.gca_directions()) == [(m, d) for m in ("0", "0#2", "0#3") for d in "AB"]
    w1, w3 = one.gca["0"].a_from_b, three.gca["0"].a_from_b
    assert all(torch.equal(a, b) for a, b in zip(w1.parameters(), w3.parameters()))
    flat = {k: torch.cat([p.flatten() for p in three.gca[k].parameters()]) for k in ("0", "0_2")}
    assert not torch.equal(flat["0"], flat["0_2"])
    e = eval_batch(sp)
    with torch.no_grad():
        s1, s3 = one.score_all(one.encode_eval(e)), three.score_all(three.encode_eval(e))
        assert not torch.allclose(s1, s3)
        # holding the 2nd and 3rd modules at zero leaves exactly the one-module model
        for key in ("0_2", "0_3"):
            for d in three.gca[key].directions().values():
                d.force_zero = True
        assert torch.equal(three.score_all(three.encode_eval(e)), s1)
        for key in ("0_2", "0_3"):
            for d in three.gca[key].directions().values():
                d.force_zero = False
        probe = orthogonality(three, [e])
    assert list(probe) == [f"GCA[{m}]/{d}" for m in ("0", "0#2", "0#3") for d in "AB"]
    assert probe["GCA[0#3]/B"]["point"] == 0 and probe["GCA[0#3]/B"]["module"] == "0#3"
    assert all(0 <= v["abs_cos"] <= 1 for v in probe.values())


@pytest.mark.parametrize("block,ln", READINGS)
def test_determinism_every_reading(block, ln):
    """Same generator -> same weights; same torch seed -> the same training loss (dropout on) and
    gradients; evaluation is deterministic; the global RNG is left untouched by construction."""
    sp = tiny_splits(seed=9)
    cfg = dataclasses.replace(CFG, gca_points=reading_points(block, ln)[-1], gca_block=block, gca_ln=ln)
    state = torch.random.get_rng_state()
    m1, m2 = model(cfg, seed=4).train(), model(cfg, seed=4).train()
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    losses, grads = [], []
    for m in (m1, m2):
        torch.manual_seed(5)
        loss = m.loss(train_batch(sp), *negs())[0]
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in m.gca.parameters()]))
    assert losses[0] == losses[1] and torch.equal(grads[0], grads[1]) and grads[0].abs().sum() > 0
    e = eval_batch(sp)
    with torch.no_grad():
        assert torch.equal(m1.eval().encode_eval(e), m1.encode_eval(e))
