"""ABXI backbone: shapes, masks, packing, compat mode, loss against a brute-force reference, init."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import random_splits
from gca_lite.config import ConfigError, ModelConfig
from gca_lite.data.splits import make_splits
from gca_lite.model import ABXI
from gca_lite.model.abxi import pack_sparse

NA, NB, MAXLEN = 20, 25, 12
CFG = ModelConfig(d=16, n_heads=2, ffn_hidden=24, rank_d=2, rank_i=4, max_len=MAXLEN, dropout=0.1)


def tiny_splits(n_users=12, seed=0):
    return random_splits(NA, NB, MAXLEN, n_users, seed, min_len=5)


def train_batch(sp, rows=None, trim=True):
    tr = sp.train
    rows = np.arange(len(tr.users)) if rows is None else rows
    b = {k: torch.as_tensor(getattr(tr, k)[rows]) for k in ("seq_x", "seq_a", "seq_b", "target")}
    if trim:
        first = int((b["seq_x"] != 0).any(0).nonzero()[0, 0])
        b = {k: v[:, first:] for k, v in b.items()}
    return b


def eval_batch(sp, split="valid"):
    es = getattr(sp, split)
    return {k: torch.as_tensor(getattr(es, k)) for k in
            ("seq_x", "seq_a", "seq_b", "order_a", "order_b", "target_domain")}


def model(cfg=CFG, seed=0):
    m = ABXI(cfg, NA, NB, torch.Generator().manual_seed(seed))
    return m.eval()


def shared_negs(seed=0, k=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(NA, generator=g)[:k] + 1, torch.randperm(NB, generator=g)[:k] + NA + 1


# ---------------------------------------------------------------- brute-force references
def _attention_ref(m, e, valid, compat):
    """Explicit per-head attention with ABXI's masks (no packing, no SDPA)."""
    B, L, d = e.shape
    H = m.mha.n_heads
    q, k, v = F.linear(e, m.mha.in_proj_weight, m.mha.in_proj_bias).split(d, -1)
    allowed = torch.ones(L, L, dtype=torch.bool).tril().expand(B, L, L)
    if not compat:
        allowed = allowed & valid[:, None, :]
    out = torch.zeros(B, L, d)
    dh = d // H
    for h in range(H):
        sl = slice(h * dh, (h + 1) * dh)
        s = q[..., sl] @ k[..., sl].transpose(1, 2) / dh ** 0.5
        w = torch.nan_to_num(s.masked_fill(~allowed, float("-inf")).softmax(-1))
        out[..., sl] = w @ v[..., sl]
    out = m.mha.out_proj(out)
    return out * allowed.any(-1, keepdim=True)


def dense_reference(m, batch, compat=False):
    """ABXI's dense mask-multiply formulation on the 47-grid (eval mode, base model): (B, L, d)."""
    def enc(seq, s):
        valid = seq != 0
        mask = valid[..., None].float()
        pos = valid.flip(1).cumsum(1).flip(1) * valid
        e = (m.ei(seq) + m.ep(pos)) * mask
        h = m.norm_mha(e + _attention_ref(m, e, valid, compat)) * mask
        return m.norm_sa[s](h + m.ffn(h) + m.dlora[s](h)) * mask
    hx, ha, hb = enc(batch["seq_x"], "x"), enc(batch["seq_a"], "a"), enc(batch["seq_b"], "b")
    t = batch["target"]
    ma = ((t != 0) & (t <= NA))[..., None].float()
    mb = (t > NA)[..., None].float()
    za = m.norm_i2["a"]((hx + m.proj_i(hx) + m.ilora["a"](hx)) * ma) + m.norm_22["a"]((ha + m.proj_a(ha)) * ma)
    zb = m.norm_i2["b"]((hx + m.proj_i(hx) + m.ilora["b"](hx)) * mb) + m.norm_22["b"]((hb + m.proj_b(hb)) * mb)
    return za * ma + zb * mb


@torch.no_grad()
def loss_reference(m, batch, neg_a, neg_b, temperature=0.75, compat=False):
    h = dense_reference(m, batch, compat)
    t = batch["target"]
    B, L = t.shape
    E = m.ei.weight
    total = {"a": 0.0, "b": 0.0}
    for r in range(B):
        per = {"a": [], "b": []}
        for c in range(L):
            if t[r, c] == 0:
                continue
            negs = torch.cat([neg_a, neg_b]) if neg_a.dim() == 1 else torch.cat([neg_a[r, c], neg_b[r, c]])
            logits = [float(h[r, c] @ E[t[r, c]])]
            logits += [float(h[r, c] @ E[n]) if n != t[r, c] else float("-inf") for n in negs]
            lg = torch.tensor(logits, dtype=torch.float64) / temperature
            per["a" if t[r, c] <= NA else "b"].append(float(torch.logsumexp(lg, 0) - lg[0]))
        for k in "ab":
            if per[k]:
                total[k] += sum(per[k]) / len(per[k])
    return total["a"] / B, total["b"] / B


# ---------------------------------------------------------------- tests
def test_shapes_and_api():
    sp = tiny_splits()
    m = model()
    b = train_batch(sp)
    loss, parts = m.loss(b, *shared_negs())
    assert loss.dim() == 0 and set(parts) == {"loss_a", "loss_b"}
    assert abs(loss.item() - parts["loss_a"] - parts["loss_b"]) < 1e-5
    e = eval_batch(sp)
    h = m.encode_eval(e)
    assert h.shape == (12, CFG.d)
    s = m.score_all(h)
    assert s.shape == (12, NA + NB + 1) and s.dtype == torch.float32
    items = torch.randint(1, NA + NB + 1, (12, 7))
    assert torch.allclose(m.predict(h, items), s.gather(1, items), atol=1e-5)


@pytest.mark.parametrize("compat", [False, True])
def test_loss_matches_bruteforce(compat):
    sp = tiny_splits(seed=1)
    m = model(dataclasses.replace(CFG, abxi_compat=compat))
    b = train_batch(sp, trim=False)
    na, nb = shared_negs(3)
    na = torch.cat([na, b["target"][b["target"] <= NA][b["target"][b["target"] <= NA] > 0][:1]])  # a positive
    _, parts = m.loss(b, na, nb)
    ra, rb = loss_reference(m, b, na, nb, compat=compat)
    assert parts["loss_a"] == pytest.approx(ra, rel=1e-5) and parts["loss_b"] == pytest.approx(rb, rel=1e-5)
    g = torch.Generator().manual_seed(5)
    B, L = b["target"].shape
    pa = torch.randint(1, NA + 1, (B, L, 5), generator=g)
    pb = torch.randint(NA + 1, NA + NB + 1, (B, L, 4), generator=g)
    pa[..., 0] = b["target"]  # the positive itself among the negatives: masked out
    _, parts = m.loss(b, pa, pb)
    ra, rb = loss_reference(m, b, pa, pb, compat=compat)
    assert parts["loss_a"] == pytest.approx(ra, rel=1e-5) and parts["loss_b"] == pytest.approx(rb, rel=1e-5)


def test_per_position_gradients_match_autograd():
    sp = tiny_splits(seed=2)
    b = train_batch(sp)
    B, L = b["target"].shape
    g = torch.Generator().manual_seed(1)
    pa = torch.randint(1, NA + 1, (B, L, 5), generator=g)
    pb = torch.randint(NA + 1, NA + NB + 1, (B, L, 5), generator=g)
    m = model()
    loss, _ = m.loss(b, pa, pb)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in m.named_parameters()}
    # the same loss through plain autograd on a gathered (n, K, d) tensor
    m.zero_grad()
    reps, _ = m.train_repr(b)
    negs = torch.cat([pa, pb], -1).reshape(B * L, -1)
    tot = 0
    for dom in "ab":
        h, t, row, p, _ = reps[dom]
        idx = negs[p]
        neg = (m.ei(idx) * h[:, None]).sum(-1).masked_fill(idx == t[:, None], float("-inf"))
        lg = torch.cat([(h * m.ei(t)).sum(-1, keepdim=True), neg], 1) / 0.75
        per = torch.logsumexp(lg, 1) - lg[:, 0]
        cnt = torch.bincount(row, minlength=B).float()
        tot = tot + (per / cnt[row]).sum() / B
    tot.backward()
    for n, p in m.named_parameters():
        assert torch.allclose(grads[n], p.grad, atol=1e-6), n


def test_packed_equals_unpacked():
    sp = tiny_splits(seed=3)
    b = train_batch(sp)
    m = model()
    na, nb = shared_negs()
    l1, p1 = m.loss(b, na, nb)
    l1.backward()
    g1 = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    m.pack_sparse = False
    l2, p2 = m.loss(b, na, nb)
    l2.backward()
    assert l1.item() == pytest.approx(l2.item(), rel=1e-6)
    for a, p in zip(g1, m.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)
    s = pack_sparse(b["seq_a"])
    assert torch.equal(torch.sort(s.items[s.items != 0])[0], torch.sort(b["seq_a"][b["seq_a"] != 0])[0])


def test_compat_differs_only_through_padding():
    sp = tiny_splits(seed=4)
    base, compat = model(), model(dataclasses.replace(CFG, abxi_compat=True))
    assert all(torch.equal(p, q) for p, q in zip(base.parameters(), compat.parameters()))
    # dense inputs (no padding anywhere): identical losses and representations
    g = torch.Generator().manual_seed(0)
    B, L = 4, 6
    dense = {"seq_x": torch.randint(1, NA + NB + 1, (B, L), generator=g),
             "seq_a": torch.randint(1, NA + 1, (B, L), generator=g),
             "seq_b": torch.randint(NA + 1, NA + NB + 1, (B, L), generator=g),
             "target": torch.randint(1, NA + NB + 1, (B, L), generator=g)}
    na, nb = shared_negs()
    assert base.loss(dense, na, nb)[0].item() == pytest.approx(compat.loss(dense, na, nb)[0].item(), rel=1e-6)
    ev = {"seq_x": dense["seq_x"], "seq_a": dense["seq_a"], "seq_b": dense["seq_b"],
          "order_a": torch.arange(0, 2 * L, 2).expand(B, L), "order_b": torch.arange(1, 2 * L, 2).expand(B, L),
          "target_domain": torch.tensor([0, 1, 0, 1])}
    assert torch.allclose(base.encode_eval(ev), compat.encode_eval(ev), atol=1e-6)
    # real (padded) batches: they differ
    b = train_batch(sp)
    za, zc = base.train_repr(b)[0]["a"][0], compat.train_repr(b)[0]["a"][0]
    assert (za - zc).abs().max() > 1e-4


def test_no_nan_with_padding_rows():
    sp = tiny_splits(seed=5)
    b = train_batch(sp, trim=False)
    b = {k: v.clone() for k, v in b.items()}
    for k in b:
        b[k][0] = 0  # a user with no positions at all
    b["seq_a"][1] = 0  # a user without any A element
    m = model().train()
    torch.manual_seed(0)
    loss, parts = m.loss(b, *shared_negs())
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)
    e = eval_batch(sp)
    e["seq_a"][2] = 0
    e["order_a"][2] = -1
    assert torch.isfinite(m.eval().encode_eval(e)).all()


def test_extra_left_padding_changes_nothing():
    sp = tiny_splits(seed=6)
    m = model()
    b, bt = train_batch(sp, trim=False), train_batch(sp, trim=True)
    na, nb = shared_negs()
    assert m.loss(b, na, nb)[0].item() == pytest.approx(m.loss(bt, na, nb)[0].item(), rel=1e-6)


def test_train_mode_dropout_and_determinism():
    sp = tiny_splits()
    b = train_batch(sp)
    m = model().train()
    torch.manual_seed(1)
    l1 = m.loss(b, *shared_negs())[0].item()
    torch.manual_seed(1)
    l2 = m.loss(b, *shared_negs())[0].item()
    l3 = m.eval().loss(b, *shared_negs())[0].item()
    assert l1 == l2 and l1 != l3


def test_init_uses_only_the_generator():
    state = torch.random.get_rng_state()
    m1, m2 = model(seed=7), model(seed=7)
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters()))
    m3 = model(seed=8)
    assert not torch.equal(m1.ei.weight, m3.ei.weight)
    assert m1.ei.weight[0].abs().sum().item() == 0.0
    assert m1.ei.weight.abs().max().item() <= 0.04
    assert m1.dlora["x"].B.abs().sum().item() == 0.0 and m1.dlora["x"].A.abs().sum().item() > 0
    assert m1.mha.in_proj_bias.abs().sum().item() == 0.0


@pytest.mark.parametrize("field,value", [("d", 0), ("n_heads", 3), ("dropout", 1.0), ("gca_gate", "relu"),
                                         ("gca_points", (3,)), ("rank_d", -1)])
def test_bad_config_raises(field, value):
    with pytest.raises(ConfigError, match=field):
        ABXI(dataclasses.replace(CFG, **{field: value}), NA, NB, torch.Generator())


def test_bad_item_counts_raise():
    with pytest.raises(ConfigError, match="n_items_a"):
        ABXI(CFG, 0, NB, torch.Generator())


@pytest.mark.realdata
def test_afk_batch_smoke(shared_data):
    from gca_lite.data.abxi_io import read_abxi
    ds = read_abxi(shared_data / "afk", "afk")
    sp = make_splits(ds)
    cfg = ModelConfig(d=32, n_heads=2, ffn_hidden=40, rank_d=4, rank_i=4, gca_points=(1,))
    m = ABXI(cfg, ds.n_items_a, ds.n_items_b, torch.Generator().manual_seed(0)).eval()
    rows = np.arange(64)
    b = {k: torch.as_tensor(getattr(sp.train, k)[rows]) for k in ("seq_x", "seq_a", "seq_b", "target")}
    g = torch.Generator().manual_seed(0)
    na = torch.randperm(ds.n_items_a, generator=g)[:128] + 1
    nb = torch.randperm(ds.n_items_b, generator=g)[:128] + ds.n_items_a + 1
    with torch.no_grad():
        _, parts = m.loss(b, na, nb)
        for v in parts.values():  # 257 candidates: chance level ln 257 = 5.55
            assert abs(v - np.log(257)) < 1.0
        e = {k: torch.as_tensor(getattr(sp.test, k)[:64]) for k in
             ("seq_x", "seq_a", "seq_b", "order_a", "order_b", "target_domain")}
        s = m.score_all(m.encode_eval(e))
    assert s.shape == (64, ds.n_items + 1) and torch.isfinite(s).all()
