"""Layers shared by the ABXI backbone and the GCA modules: initialisation, a fast dropout, the
SwiGLU feed-forward block, the LoRA branch, multi-head attention (parameters and the masked core) and
the (B, L) layout of a stream's valid tokens (:class:`Grid`)."""

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
