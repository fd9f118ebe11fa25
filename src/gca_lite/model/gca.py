"""Attention and feed-forward layers shared by the backbone, and the GCA (gated cross-attention) module.

GCA, our documented interpretation of the paper's ``GCA(X, Y) = X + alpha * X'`` (PAPER.md 3.2):

    X' = CrossAttn(q = LN_q(X), k = v = LN_kv(Y))          # LN_* = Identity when gca_layernorm=False
    X_out = X + g(alpha) * Dropout(X')                      # g in {sigmoid, tanh, identity}
    [gca_ffn]  X_out = X_out + g(alpha_ffn) * Dropout(SwiGLU(LN_f(X_out)))   # hidden = ffn_hidden

* ``CrossAttn`` is the backbone's own attention class (:class:`Attention`: one packed in-projection
  with bias, ``gca_heads`` heads, out-projection with bias, attention dropout 0), used with the
  query from X and key/value from Y; init as the backbone (xavier in-projection, N(0, 0.02^2)
  out-projection, zero biases).
* ``alpha`` is a scalar (or one value per channel with ``gca_alpha_per_channel``) initialised to
  ``gca_alpha_init``; the FFN sub-block has its own alpha with the same shape and init.
* Masks: query row i may attend to key j iff key j is valid (non-padding) and
  ``time_k[j] <= time_q[i]``; a row with no allowed key (or a padding query) gets ``X' = 0``.
  The caller supplies the times (training: position on the mixed grid; evaluation: index in the
  mixed history, with the last query position set to "sees everything").
* A :class:`GCAPoint` holds two independent directions (A queries B, B queries A), both computed
  from the *pre-update* A and B tensors (simultaneous update).
* Dropout on X' (and the FFN branch) uses the backbone's dropout rate.

The module works on the valid tokens of each stream (no work on padding); a :class:`Grid` gives their
(B, L) layout for the attention itself.

Probe hooks: ``direction.recording = True`` makes every forward append a :class:`Record` (query
input X and X' before gating at valid query positions, a flag for the last valid position of
each sequence, the attention weights and g(alpha)). Off by default: no extra cost in training.
``direction.force_zero = True`` makes the direction the exact identity (nothing computed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

INIT_STD = 0.02


# ----------------------------------------------------------------------------- initialisation
def init_linear(lin: nn.Linear, gen: torch.Generator) -> None:
    nn.init.normal_(lin.weight, 0.0, INIT_STD, generator=gen)
    if lin.bias is not None:
        nn.init.zeros_(lin.bias)


# ----------------------------------------------------------------------------- layers
class _MaskedScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, keep, scale):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.mul(x, keep).mul_(scale)

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved_tensors
        return torch.mul(g, keep).mul_(ctx.scale), None, None


class Dropout(nn.Module):
    """Inverted dropout with a cheaper mask than ``torch.bernoulli_`` (several times faster on CPU).

    Keep mask from 64-bit draws of torch's *global* generator (so ``torch.manual_seed`` controls it,
    as for ``nn.Dropout``): each draw (63 random bits) is viewed as four 16-bit lanes, three with
    16 random bits and one with 15; an element is kept iff its lane is >= the lane's threshold. The
    effective rate is ``p`` rounded to a multiple of 2^-15 (exact for 0.5, 0.25, ...); kept values are
    scaled by ``1 / (1 - p_eff)``. Same distribution as ``nn.Dropout``, a different random stream.
    """

    def __init__(self, p: float):
        super().__init__()
        self.k = int(round(p * 32768))
        self.p = self.k / 32768
        # little-endian int16 lanes of a non-negative int64: lanes 0-2 in [-2^15, 2^15), lane 3 in [0, 2^15)
        self.register_buffer("thr", torch.tensor([2 * self.k - 32768] * 3 + [self.k], dtype=torch.int16),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.k == 0:
            return x
        n = x.numel()
        r = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_()
        keep = (r.view(torch.int16).view(-1, 4) >= self.thr).view(-1)[:n].view(x.shape)
        return _MaskedScale.apply(x, keep, 1.0 / (1.0 - self.p))


class _SwiGLUFn(torch.autograd.Function):
    """``(silu(h W2^T) * (h W1^T)) W3^T`` saving only h and h W12^T (the product is recomputed)."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")  # under bf16 autocast (train.bf16) the backward is too
    def forward(ctx, h, w12, w3):
        y = h @ w12.t()
        a, g = y.chunk(2, dim=-1)
        ctx.save_for_backward(h, y, w12, w3)
        return (F.silu(g) * a) @ w3.t()

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, go):
        h, y, w12, w3 = ctx.saved_tensors
        a, g = y.chunk(2, dim=-1)
        silu = F.silu(g)
        g_act = go @ w3  # (n, hidden)
        g_w3 = go.t() @ (silu * a)
        gy = torch.empty_like(y)
        ga, gg = gy.chunk(2, dim=-1)
        torch.mul(g_act, silu, out=ga)
        gg.copy_(torch.ops.aten.silu_backward(g_act * a, g))
        return gy @ w12, gy.t() @ h, g_w3


class SwiGLU(nn.Module):
    """``fc3(silu(fc2 h) * fc1 h)``, no biases (ABXI's FeedForward).

    fc1/fc2 are stored fused in ``fc12`` (rows [0:h] = fc1, [h:2h] = fc2: one matmul) and the block
    runs as one autograd function that keeps only its input and the fused pre-activation for the
    backward pass (less memory, no concatenation of gradients).
    """

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.fc12 = nn.Linear(d, 2 * hidden, bias=False)
        self.fc3 = nn.Linear(hidden, d, bias=False)

    def reset(self, gen: torch.Generator) -> None:
        # N(0, 0.02^2) for fc1, fc2, fc3: identical in law to three separate Linear layers.
        init_linear(self.fc12, gen)
        init_linear(self.fc3, gen)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        shape = h.shape
        out = _SwiGLUFn.apply(h.reshape(-1, shape[-1]), self.fc12.weight, self.fc3.weight)
        return out.view(*shape[:-1], out.shape[-1])


class LoRA(nn.Module):
    """ABXI's low-rank branch ``h @ (A B)^T`` with A (d, r) ~ N(0, 0.02^2), B (r, d) = 0.

    Computed as ``(h @ B^T) @ A^T`` (two thin matmuls; the same function, cheaper than forming A B).
    Rank 0 gives a branch that is identically zero and has no parameters.
    """

    def __init__(self, d: int, rank: int):
        super().__init__()
        self.rank = rank
        self.A = nn.Parameter(torch.zeros(d, rank))
        self.B = nn.Parameter(torch.zeros(rank, d))

    def reset(self, gen: torch.Generator) -> None:
        with torch.no_grad():
            self.A.copy_(torch.randn(self.A.shape, generator=gen) / 50.0)
            self.B.zero_()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.rank == 0:
            return torch.zeros_like(h)
        return (h @ self.B.t()) @ self.A.t()


def attend(q, k, v, allowed=None, causal=False, want_weights=False):
    """Scaled dot-product attention on heads: q (B,H,Lq,dh), k/v (B,H,Lk,dh).

    ``allowed`` (B, Lq, Lk) bool, True = may attend. Returns (out (B,H,Lq,dh), weights or None,
    row_ok (B, Lq) bool or None). Rows without any allowed key are computed as if every key were
    allowed (no NaN in forward or backward) and flagged False in ``row_ok``: the caller zeroes them.
    """
    row_ok = None
    if allowed is not None:
        row_ok = allowed.any(-1)
        if bool(row_ok.all()):
            row_ok = None
        else:
            allowed = allowed | ~row_ok.unsqueeze(-1)
        allowed = allowed.unsqueeze(1)
    if not want_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=causal)
        return out, None, row_ok
    s = (q @ k.transpose(-1, -2)) / (q.shape[-1] ** 0.5)
    if causal:
        lq, lk = s.shape[-2:]
        allowed = torch.ones(lq, lk, dtype=torch.bool, device=s.device).tril()
    if allowed is not None:
        s = s.masked_fill(~allowed, float("-inf"))
    w = s.softmax(-1)
    if row_ok is not None:
        w = w * row_ok[:, None, :, None].to(w.dtype)
    return w @ v, w, row_ok


class Attention(nn.Module):
    """Parameters of a multi-head attention with the layout of ``nn.MultiheadAttention``: one packed
    in-projection (3d, d) with bias and an out-projection with bias. The backbone and the GCA apply
    them to the valid tokens only and run :func:`attend` on a (B, H, L, dh) layout."""

    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.d, self.n_heads = d, n_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)

    def reset(self, gen: torch.Generator) -> None:
        nn.init.xavier_uniform_(self.in_proj_weight, generator=gen)
        nn.init.zeros_(self.in_proj_bias)
        init_linear(self.out_proj, gen)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, n, _ = t.shape
        return t.view(b, n, self.n_heads, self.d // self.n_heads).transpose(1, 2)


# ----------------------------------------------------------------------------- GCA
_GATES = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "identity": lambda a: a}


@dataclass
class Grid:
    """A (B, L) layout of one sequence stream: validity, times for the GCA masks, valid tokens."""

    valid: torch.Tensor  # (B, L) bool, False on padding
    time_q: torch.Tensor  # (B, L) long, time of the element as a query
    time_k: torch.Tensor  # (B, L) long, time of the element as a key
    idx: torch.Tensor = field(init=False)  # (n,) flat index of every valid element, row-major

    def __post_init__(self):
        self.idx = self.valid.reshape(-1).nonzero().squeeze(1)

    def tokens(self, t: torch.Tensor) -> torch.Tensor:
        """(B, L, ...) -> (n, ...) values at the valid elements."""
        return t.reshape(self.valid.numel(), *t.shape[2:])[self.idx]

    def layout(self, tok: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
        """(n, D) tokens -> (B, L, D), padding = 0 (or the row ``fill``)."""
        b, l = self.valid.shape
        base = tok.new_zeros(b * l, tok.shape[1]) if fill is None else fill.expand(b * l, -1).clone()
        return base.index_copy_(0, self.idx, tok).view(b, l, -1)  # in place: no copy of ``base``


@dataclass
class Record:
    """What one GCA direction saw in one forward (probe hook)."""

    x: torch.Tensor  # (n, d) query input X (before LN) at valid query positions
    x_prime: torch.Tensor  # (n, d) cross-attention output X' (before gating)
    is_last: torch.Tensor  # (n,) bool: the position is the last valid one of its sequence
    has_key: torch.Tensor  # (n,) bool: the query had at least one allowed key (else X' = 0)
    row: torch.Tensor  # (n,) batch row of each position
    weights: torch.Tensor  # (B, heads, Lq, Lk) attention weights (0 on rows without keys)
    gate: torch.Tensor  # g(alpha): scalar or (d,)


class GCADirection(nn.Module):
    """One direction of GCA: X (queries) is updated with information from Y (keys/values)."""

    def __init__(self, d: int, heads: int, gate: str, layernorm: bool, alpha_init: float,
                 per_channel: bool, ffn_hidden: int | None, dropout: float):
        super().__init__()
        self.gate_name = gate
        self.ln_q = nn.LayerNorm(d) if layernorm else nn.Identity()
        self.ln_kv = nn.LayerNorm(d) if layernorm else nn.Identity()
        self.attn = Attention(d, heads)
        shape = (d,) if per_channel else (1,)
        self.alpha = nn.Parameter(torch.full(shape, float(alpha_init)))
        self.ffn = None
        if ffn_hidden:
            self.ln_f = nn.LayerNorm(d) if layernorm else nn.Identity()
            self.ffn = SwiGLU(d, ffn_hidden)
            self.alpha_ffn = nn.Parameter(torch.full(shape, float(alpha_init)))
        self.drop = Dropout(dropout)
        self.recording = False
        self.force_zero = False
        self.records: list[Record] = []

    def reset(self, gen: torch.Generator) -> None:
        self.attn.reset(gen)
        if self.ffn is not None:
            self.ffn.reset(gen)

    def gate(self) -> torch.Tensor:
        return _GATES[self.gate_name](self.alpha)

    def forward(self, x: torch.Tensor, y: torch.Tensor, gq: Grid, gk: Grid) -> torch.Tensor:
        """x (nq, d): valid query tokens laid out by ``gq``; y (nk, d): key tokens laid out by ``gk``."""
        if self.force_zero:
            return x
        attn, d = self.attn, self.attn.d
        w, bias = attn.in_proj_weight, attn.in_proj_bias
        q = gq.layout(F.linear(self.ln_q(x), w[:d], bias[:d]))
        k, v = gk.layout(F.linear(self.ln_kv(y), w[d:], bias[d:])).split(d, dim=-1)
        allowed = cross_mask(gq, gk)
        out, wts, row_ok = attend(attn._heads(q), attn._heads(k), attn._heads(v), allowed,
                                  want_weights=self.recording)
        xp = attn.out_proj(gq.tokens(out.transpose(1, 2).flatten(2)))
        has_key = gq.tokens(allowed.any(-1))
        if row_ok is not None:
            xp = xp * has_key.unsqueeze(-1).to(xp.dtype)
        if self.recording:
            self._record(x, xp, wts, gq, has_key)
        out = x + self.gate() * self.drop(xp)
        if self.ffn is not None:
            out = out + _GATES[self.gate_name](self.alpha_ffn) * self.drop(self.ffn(self.ln_f(out)))
        return out

    @torch.no_grad()
    def _record(self, x, xp, w, gq: Grid, has_key):
        b, l = gq.valid.shape
        cols = torch.arange(l, device=x.device).expand(b, l)
        last_col = torch.where(gq.valid, cols, -1).amax(1)  # last valid position of each row
        row, col = gq.idx // l, gq.idx % l
        self.records.append(Record(x=x.detach().clone(), x_prime=xp.detach().clone(),
                                   is_last=col == last_col[row], has_key=has_key, row=row,
                                   weights=w.detach().clone(), gate=self.gate().detach().clone()))


def cross_mask(q: Grid, k: Grid) -> torch.Tensor:
    """allowed[b, i, j] = q.valid[b,i] & k.valid[b,j] & k.time_k[b,j] <= q.time_q[b,i]."""
    return ((k.time_k.unsqueeze(1) <= q.time_q.unsqueeze(2)) & k.valid.unsqueeze(1)
            & q.valid.unsqueeze(2))


class GCAPoint(nn.Module):
    """GCA in both directions at one insertion point (separate weights per direction)."""

    def __init__(self, d: int, heads: int, gate: str, layernorm: bool, alpha_init: float,
                 per_channel: bool, ffn_hidden: int | None, dropout: float):
        super().__init__()
        args = (d, heads, gate, layernorm, alpha_init, per_channel, ffn_hidden, dropout)
        self.a_from_b = GCADirection(*args)  # domain "A" in the probe: A queries B
        self.b_from_a = GCADirection(*args)  # domain "B": B queries A

    def reset(self, gen: torch.Generator) -> None:
        self.a_from_b.reset(gen)
        self.b_from_a.reset(gen)

    def forward(self, xa: torch.Tensor, ga: Grid, xb: torch.Tensor, gb: Grid):
        """Valid tokens xa (na, d) of the A layout ``ga`` and xb of ``gb``: the updated (xa, xb)."""
        return self.a_from_b(xa, xb, ga, gb), self.b_from_a(xb, xa, gb, ga)

    def directions(self) -> dict[str, GCADirection]:
        return {"A": self.a_from_b, "B": self.b_from_a}


def module_labels(points) -> list[str]:
    """One label per GCA module, in insertion order: the point ("0"), then "0#2", "0#3" for further
    modules stacked at the same point (GCA_early with k modules = points (0,) * k)."""
    seen: dict[int, int] = {}
    labels = []
    for p in points:
        seen[p] = seen.get(p, 0) + 1
        labels.append(str(p) if seen[p] == 1 else f"{p}#{seen[p]}")
    return labels


def gca_direction_parameters(d: int, heads: int, layernorm: bool, per_channel: bool,
                             ffn_hidden: int | None) -> int:
    """Analytic trainable-parameter count of one :class:`GCADirection` (see params.py)."""
    del heads  # the head count does not change the parameter count
    alpha = d if per_channel else 1
    n = 4 * d * d + 4 * d + alpha + (4 * d if layernorm else 0)
    if ffn_hidden:
        n += 3 * d * ffn_hidden + alpha + (2 * d if layernorm else 0)
    return n
