"""ABXI backbone (Bian et al., WWW 2025), re-implemented from ABXI.md sections 3-5, plus GCA hooks.

Forward pass (s in {x, a, b}; the official code's structure, ABXI.md section 4)::

    e_s = Dropout((ei(seq_s) + ep(pos(seq_s))) * mask_s)
    [GCA point 0]  (e_a, e_b) <- GCA(e_a, e_b)                 # A/B sequence embeddings
    h_s = LN_mha(e_s + Dropout(MHA(e_s))) * mask_s             # ONE shared causal MHA
    h_s = LN_s(h_s + Dropout(FFN(h_s)) + Dropout(dLoRA_s(h_s))) * mask_s
    [GCA point 1]  (h_a, h_b) <- GCA(h_a, h_b)                 # after the shared encoder block
    u_a = h_a + Dropout(proj_a(h_a));  u_b = h_b + Dropout(proj_b(h_b))
    [GCA point 2]  (u_a, u_b) <- GCA(u_a, u_b)                 # after the domain projectors
    z_A = LN_i2a(h_x + Dropout(proj_i(h_x)) + Dropout(iLoRA_A(h_x))) + LN_a2a(u_a)   (A targets)
    z_B = LN_i2b(h_x + Dropout(proj_i(h_x)) + Dropout(iLoRA_B(h_x))) + LN_b2b(u_b)   (B targets)
    score(item) = <z, ei(item)>

The decisions and deviations from the official code, and the GCA masks, are listed in the package
docstring (``gca_lite.model.__doc__``), which the book's decisions page copies.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError, ModelConfig
from .gca import GCAPoint, module_labels
from .layers import Attention, Dropout, Grid, LoRA, SwiGLU, attend

BIG_TIME = 1 << 40  # "sees everything" query time


@dataclass
class _Stream:
    """One sequence stream laid out as (B, L) (``grid``), plus item ids and positions."""

    items: torch.Tensor  # (B, L) item ids of the layout, 0 = padding
    grid: Grid
    flat_pos: torch.Tensor  # (B, L) flat index (row * L_grid + grid column) of each element
    pos: torch.Tensor = None  # (n,) reverse position of every valid element

    def __post_init__(self):
        self.pos = self.grid.tokens(reverse_positions(self.grid.valid))

    @property
    def idx(self) -> torch.Tensor:
        return self.grid.idx

    def tokens(self, t: torch.Tensor) -> torch.Tensor:
        return self.grid.tokens(t)

    def layout(self, tok: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
        return self.grid.layout(tok, fill)


def reverse_positions(valid: torch.Tensor) -> torch.Tensor:
    """Most recent valid entry = 1, counting valid entries only; padding = 0."""
    return valid.flip(1).cumsum(1).flip(1) * valid


def pack_sparse(seq: torch.Tensor, day_back: torch.Tensor | None = None) -> _Stream:
    """Move the non-zero entries of each row of ``seq`` (B, L) to a left-padded (B, Lp) layout.
    Times = grid column; with ``day_back`` (the ``gca_mask="day"`` reading) a query's time is the
    column just before the first one of its day, so it sees keys from strictly earlier days only."""
    b, l = seq.shape
    nz = seq != 0
    rank = reverse_positions(nz)  # 1 = last non-zero entry
    lp = max(int(nz.sum(1).max()) if b and l else 0, 1)
    rows, cols = nz.nonzero(as_tuple=True)
    dest = lp - rank[rows, cols]
    items = seq.new_zeros(b, lp)
    items[rows, dest] = seq[rows, cols]
    time = seq.new_full((b, lp), BIG_TIME)
    time[rows, dest] = cols
    time_q = time
    if day_back is not None:
        time_q = time.clone()
        time_q[rows, dest] = cols - day_back[rows, cols] - 1
    flat = seq.new_zeros(b, lp)
    flat[rows, dest] = rows * l + cols
    valid = items != 0
    return _Stream(items, Grid(valid, time_q, time), flat)


def grid_stream(seq: torch.Tensor, day_back: torch.Tensor | None = None) -> _Stream:
    b, l = seq.shape
    col = torch.arange(l, device=seq.device).expand(b, l)
    flat = torch.arange(b * l, device=seq.device).view(b, l)
    return _Stream(seq, Grid(seq != 0, col if day_back is None else col - day_back - 1, col), flat)


def eval_stream(seq: torch.Tensor, order: torch.Tensor, day_start: torch.Tensor | None = None,
                last_start: torch.Tensor | None = None) -> _Stream:
    """Times = index in the mixed history; the last position sees the whole history. With
    ``day_start``/``last_start`` (``gca_mask="day"``): keys from days before the query's only."""
    if day_start is None:
        tq = order.clone()
        tq[:, -1] = BIG_TIME  # the last position predicts the target: it may see the whole history
    else:
        tq = day_start - 1
        tq[:, -1] = last_start - 1  # the last position: every day before the history's last day
    return _Stream(seq, Grid(seq != 0, tq, order), torch.zeros_like(seq))


def _at(tok: torch.Tensor, tok_pos: torch.Tensor, p: torch.Tensor, size: int) -> torch.Tensor:
    """Rows of ``tok`` (whose flat grid positions are ``tok_pos``) at grid positions ``p``; 0 if absent."""
    where = torch.full((size,), len(tok), dtype=torch.long, device=tok.device)
    where[tok_pos] = torch.arange(len(tok), device=tok.device)
    return torch.cat([tok, tok.new_zeros(1, tok.shape[1])])[where[p]]


class _GatherDot(torch.autograd.Function):
    """out[n, k] = <h[n], table[idx[n, k]]> without materialising table[idx] (n, K, d).

    Forward: a sampled dense-dense product (``torch.sparse.sampled_addmm`` on a CSR pattern with K
    entries per row); backward: ``embedding_bag`` with per-sample weights for the gradient w.r.t. h
    and its own backward for the (dense) gradient w.r.t. the table.
    """

    @staticmethod
    def forward(ctx, h, table, idx):
        n, k = idx.shape
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= table.shape[0]):
            raise ValueError(f"negative item ids must lie in 0..{table.shape[0] - 1}")
        crow = torch.arange(0, n * k + 1, k, device=h.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "CSR support is in beta"
            pattern = torch.sparse_csr_tensor(crow, idx.reshape(-1), h.new_zeros(n * k),
                                              (n, table.shape[0]), check_invariants=False)
            out = torch.sparse.sampled_addmm(pattern, h, table.t(), beta=0.0).values().view(n, k)
        ctx.save_for_backward(h, table, idx)
        return out

    @staticmethod
    def backward(ctx, g):
        h, table, idx = ctx.saved_tensors
        g = g.contiguous()
        gh = F.embedding_bag(idx, table, per_sample_weights=g, mode="sum")
        with torch.enable_grad():
            t = table.detach().requires_grad_()
            out = F.embedding_bag(idx, t, per_sample_weights=g, mode="sum")
            (gt,) = torch.autograd.grad(out, t, h)
        return gh, gt, None


class ABXI(nn.Module):
    """ABXI with optional GCA modules; see the module docstring for the model and its contract."""

    def __init__(self, cfg: ModelConfig, n_items_a: int, n_items_b: int, generator: torch.Generator):
        super().__init__()
        cfg.validate()
        for name, v in (("n_items_a", n_items_a), ("n_items_b", n_items_b)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(generator, torch.Generator):
            raise TypeError("generator must be a torch.Generator (seeded by the caller)")
        self.cfg, self.n_items_a, self.n_items_b = cfg, n_items_a, n_items_b
        self.n_items = n_items_a + n_items_b
        # torch's layer constructors draw their default init from the global RNG; fork it so that
        # building a model leaves the global stream untouched (all our values come from ``generator``)
        with torch.random.fork_rng(devices=[]):
            self._build(cfg, generator)
        self.pack_sparse = not cfg.abxi_compat  # packing is exact only with key-padding masks

    def _build(self, cfg: ModelConfig, generator: torch.Generator) -> None:
        d, h = cfg.d, cfg.ffn_hidden
        self.ei = nn.Embedding(self.n_items + 1, d, padding_idx=0)
        self.ep = nn.Embedding(cfg.max_len + 1, d, padding_idx=0)
        self.mha = Attention(d, cfg.n_heads)
        self.norm_mha = nn.LayerNorm(d)
        self.ffn = SwiGLU(d, h)
        self.proj_i, self.proj_a, self.proj_b = SwiGLU(d, h), SwiGLU(d, h), SwiGLU(d, h)
        self.dlora = nn.ModuleDict({s: LoRA(d, cfg.rank_d) for s in "xab"})
        self.norm_sa = nn.ModuleDict({s: nn.LayerNorm(d) for s in "xab"})
        self.ilora = nn.ModuleDict({s: LoRA(d, cfg.rank_i) for s in "ab"})
        self.norm_i2 = nn.ModuleDict({s: nn.LayerNorm(d) for s in "ab"})  # i2a, i2b
        self.norm_22 = nn.ModuleDict({s: nn.LayerNorm(d) for s in "ab"})  # a2a, b2b
        self.drop = Dropout(cfg.dropout)
        self._reset_base(generator)
        self.gca = nn.ModuleDict()
        for label in module_labels(cfg.gca_points):  # after the base: shared init stream
            point = GCAPoint(cfg)
            point.reset(generator)
            self.gca[label.replace("#", "_")] = point  # ModuleDict keys: "0", "0_2", ...

    @torch.no_grad()
    def _reset_base(self, gen: torch.Generator) -> None:
        for emb in (self.ei, self.ep):
            nn.init.trunc_normal_(emb.weight, 0.0, 0.02, -0.04, 0.04, generator=gen)
            emb.weight[0].zero_()
        self.mha.reset(gen)
        for mod in (self.ffn, self.proj_i, self.proj_a, self.proj_b, *self.dlora.values(),
                    *self.ilora.values()):
            mod.reset(gen)

    # ------------------------------------------------------------------ GCA controls
    def gca_directions(self) -> dict[tuple[str, str], nn.Module]:
        """{(module label, "A"|"B"): direction}; "A" = A queries B. Labels: see module_labels."""
        return {(key.replace("_", "#"), dom): m for key, point in self.gca.items()
                for dom, m in point.directions().items()}

    @contextlib.contextmanager
    def force_gate_zero(self):
        """Hold every GCA gate at 0: the model computes exactly the base model's function."""
        dirs = list(self.gca_directions().values())
        old = [m.force_zero for m in dirs]
        for m in dirs:
            m.force_zero = True
        try:
            yield self
        finally:
            for m, o in zip(dirs, old):
                m.force_zero = o

    @contextlib.contextmanager
    def recording(self):
        """Record every GCA direction's inputs/outputs (see ``gca.Record``); yields the directions."""
        dirs = self.gca_directions()
        for m in dirs.values():
            m.recording, m.records = True, []
        try:
            yield dirs
        finally:
            for m in dirs.values():
                m.recording = False

    def _day(self, batch: dict, *keys: str) -> list[torch.Tensor | None]:
        """The batch's day arrays for the ``gca_mask="day"`` reading (None for the file-order mask)."""
        if self.cfg.gca_mask != "day" or not self.cfg.gca_points:
            return [None] * len(keys)
        missing = [k for k in keys if k not in batch]
        if missing:
            raise ValueError(f"model.gca_mask='day' needs the day arrays {missing} in the batch "
                             "(data/splits.py makes them; train_batch/eval_batch pass them on)")
        return [batch[k] for k in keys]

    def _active(self, p: int) -> bool:
        return str(p) in self.gca and not self.gca[str(p)].a_from_b.force_zero

    # ------------------------------------------------------------------ building blocks
    def _embed(self, streams: list[_Stream], extra: torch.Tensor | None = None):
        """Token embeddings ``Dropout(ei(item) + ep(pos))`` of every stream (one lookup for all), and
        ``ei(extra)`` (targets, negatives) from the same lookup."""
        for st in streams:
            if st.items.shape[1] > self.cfg.max_len:
                raise ValueError(f"sequence length {st.items.shape[1]} exceeds max_len={self.cfg.max_len}")
        ids = [st.tokens(st.items) for st in streams]
        sizes = [len(i) for i in ids]
        if extra is not None:
            ids.append(extra)
        emb = self.ei(torch.cat(ids))
        pos = self.ep(torch.cat([st.pos for st in streams]))
        toks = self.drop(emb[:sum(sizes)] + pos).split(sizes)
        return list(toks), (emb[sum(sizes):] if extra is not None else None)

    def _attn(self, e: torch.Tensor, st: _Stream, last_only: bool = False) -> torch.Tensor:
        """Shared causal MHA on the tokens ``e`` (n, d) of ``st``: (n, d), or (B, d) for the last
        layout column only (``last_only``, evaluation)."""
        mha, d, hh = self.mha, self.cfg.d, self.cfg.n_heads
        b, l = st.items.shape
        qkv = F.linear(e, mha.in_proj_weight, mha.in_proj_bias)
        # padding positions: e = 0, so their key/value is the in-projection bias (ABXI, compat mode)
        lay = st.layout(qkv, mha.in_proj_bias if self.cfg.abxi_compat else None)
        q, k, v = lay.view(b, l, 3, hh, d // hh).permute(2, 0, 3, 1, 4)
        valid = st.grid.valid
        if last_only:
            q = q[:, :, -1:]
            allowed = None if self.cfg.abxi_compat else valid.unsqueeze(1)
            out, _, row_ok = attend(q, k, v, allowed)
            out = mha.out_proj(out.reshape(b, d))
            return out if row_ok is None else out * row_ok.to(out.dtype)
        if self.cfg.abxi_compat:
            out, _, _ = attend(q, k, v, causal=True)
        else:
            causal = torch.ones(l, l, dtype=torch.bool, device=e.device).tril()
            out, _, _ = attend(q, k, v, causal & valid.unsqueeze(1))  # valid rows always see themselves
        return mha.out_proj(st.tokens(out.transpose(1, 2).flatten(2)))

    def _encode(self, e: torch.Tensor, st: _Stream, s: str) -> torch.Tensor:
        """Shared encoder block on tokens: post-norm MHA, then FFN + dLoRA_s with LN_s."""
        return self._ffn_block(self.norm_mha(e + self.drop(self._attn(e, st))), s)

    def _encode_last(self, e: torch.Tensor, st: _Stream, s: str) -> torch.Tensor:
        """The same block evaluated at the last layout column only: (B, d), 0 where it is padding."""
        vl = st.grid.valid[:, -1:].to(e.dtype)
        e_last = st.layout(e)[:, -1]
        h = self.norm_mha(e_last + self.drop(self._attn(e, st, last_only=True))) * vl
        return self._ffn_block(h, s) * vl

    def _ffn_block(self, h: torch.Tensor, s: str) -> torch.Tensor:
        return self.norm_sa[s](h + self.drop(self.ffn(h)) + self.drop(self.dlora[s](h)))

    def _fuse(self, hx: torch.Tensor, u: torch.Tensor, dom: str) -> torch.Tensor:
        inv = hx + self.drop(self.proj_i(hx)) + self.drop(self.ilora[dom](hx))
        return self.norm_i2[dom](inv) + self.norm_22[dom](u)

    def _gca(self, p: int, ta: torch.Tensor, sa: _Stream, tb: torch.Tensor, sb: _Stream):
        """Every module at point ``p`` in turn (one unless the point is repeated in gca_points)."""
        for key, point in self.gca.items():
            if key.split("_")[0] == str(p):
                ta, tb = point(ta, sa.grid, tb, sb.grid)
        return ta, tb

    def _encode_ab(self, ea, sa: _Stream, eb, sb: _Stream, full: bool):
        """A/B streams from their token embeddings to u (after the projectors and GCA points).
        ``full``: tokens (n, d) at every valid element; else (B, d) at the last layout column."""
        if self._active(0):
            ea, eb = self._gca(0, ea, sa, eb, sb)
        if not full:
            ha, hb = self._encode_last(ea, sa, "a"), self._encode_last(eb, sb, "b")
            return ha + self.drop(self.proj_a(ha)), hb + self.drop(self.proj_b(hb))
        ha, hb = self._encode(ea, sa, "a"), self._encode(eb, sb, "b")
        if self._active(1):
            ha, hb = self._gca(1, ha, sa, hb, sb)
        ua, ub = ha + self.drop(self.proj_a(ha)), hb + self.drop(self.proj_b(hb))
        if self._active(2):
            ua, ub = self._gca(2, ua, sa, ub, sb)
        return ua, ub

    # ------------------------------------------------------------------ training
    def train_repr(self, batch: dict, extra: torch.Tensor | None = None):
        """Fused representations at every non-padding target position, split by target domain:
        ({"a": (h (nA, d), target (nA,), row (nA,), flat grid position (nA,), ei(target)), "b": ...},
        ei(extra))."""
        sx, tgt = batch["seq_x"], batch["target"]
        b, l = sx.shape
        tv = tgt != 0
        in_a = tv & (tgt <= self.n_items_a)
        p = {"a": in_a.reshape(-1).nonzero().squeeze(1), "b": (tv & ~in_a).reshape(-1).nonzero().squeeze(1)}
        t = {dom: tgt.reshape(-1)[p[dom]] for dom in "ab"}
        make = pack_sparse if self.pack_sparse else grid_stream
        (back,) = self._day(batch, "day_back")
        stx, sta, stb = grid_stream(sx), make(batch["seq_a"], back), make(batch["seq_b"], back)
        more = [t["a"], t["b"]] + ([extra.reshape(-1)] if extra is not None else [])
        (ex, ea, eb), e_more = self._embed([stx, sta, stb], torch.cat(more))
        hx = self._encode(ex, stx, "x")
        ua, ub = self._encode_ab(ea, sta, eb, stb, full=True)
        e_ta, e_tb, e_extra = e_more.split([len(t["a"]), len(t["b"]), len(e_more) - len(t["a"]) - len(t["b"])])
        out = {}
        for dom, u, st, e_t in (("a", ua, sta, e_ta), ("b", ub, stb, e_tb)):
            z = self._fuse(_at(hx, stx.idx, p[dom], b * l), _at(u, st.tokens(st.flat_pos), p[dom], b * l), dom)
            out[dom] = (z, t[dom], p[dom] // l, p[dom], e_t)
        return out, (e_extra.view(*extra.shape, -1) if extra is not None else None)

    def loss(self, batch: dict, neg_a: torch.Tensor, neg_b: torch.Tensor, temperature: float = 0.75):
        """Sampled-softmax InfoNCE with ABXI's averaging; returns (loss, {"loss_a", "loss_b"})."""
        n_rows = batch["seq_x"].shape[0]
        shared = neg_a.dim() == 1
        if shared:
            negs = torch.cat([neg_a, neg_b])
            reps, e_neg = self.train_repr(batch, negs)
        else:
            negs = torch.cat([neg_a, neg_b], -1).reshape(-1, neg_a.shape[-1] + neg_b.shape[-1])
            reps, _ = self.train_repr(batch)
        parts, total = {}, 0.0
        for dom in "ab":
            h, t, row, p, e_t = reps[dom]
            pos = (h * e_t).sum(-1, keepdim=True)
            if shared:
                neg = (h @ e_neg.t()).masked_fill(negs.unsqueeze(0) == t.unsqueeze(1), float("-inf"))
            else:
                idx = negs[p]
                neg = _GatherDot.apply(h, self.ei.weight, idx).masked_fill(idx == t.unsqueeze(1), float("-inf"))
            logits = torch.cat([pos, neg], 1) / temperature
            per_pos = torch.logsumexp(logits, 1) - logits[:, 0]
            cnt = torch.bincount(row, minlength=n_rows).to(per_pos.dtype)
            val = (per_pos / cnt[row]).sum() / n_rows
            parts[f"loss_{dom}"] = float(val.detach())
            total = total + val
        return total, parts

    # ------------------------------------------------------------------ evaluation
    def encode_eval(self, batch: dict) -> torch.Tensor:
        """(B, d) user representation for each row's target domain (``target_domain`` 0 = A)."""
        stx = grid_stream(batch["seq_x"])
        da, db, last = self._day(batch, "day_start_a", "day_start_b", "day_start_last")
        sta = eval_stream(batch["seq_a"], batch["order_a"], da, last)
        stb = eval_stream(batch["seq_b"], batch["order_b"], db, last)
        (ex, ea, eb), _ = self._embed([stx, sta, stb])
        hx = self._encode_last(ex, stx, "x")
        full = self._active(1) or self._active(2)
        ua, ub = self._encode_ab(ea, sta, eb, stb, full=full)
        if full:
            ua, ub = sta.layout(ua)[:, -1], stb.layout(ub)[:, -1]
        dom = batch["target_domain"].reshape(-1)
        out = hx.new_zeros(hx.shape)
        for k, (u, name) in enumerate(((ua, "a"), (ub, "b"))):
            rows = (dom == k).nonzero().squeeze(1)
            out[rows] = self._fuse(hx[rows], u[rows], name)
        return out

    def score_all(self, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_items + 1) scores for every item id (column 0 = padding, never a candidate);
        ``out`` reuses a buffer (same kernel and numbers, no fresh pages per batch: ~2x faster)."""
        if out is None:
            return h @ self.ei.weight.t()
        return torch.mm(h, self.ei.weight.t(), out=out)

    def predict(self, h: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores (B, m) of the candidate ``items`` (B, m)."""
        return torch.bmm(self.ei(items), h.unsqueeze(-1)).squeeze(-1)
