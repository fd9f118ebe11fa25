"""The GCA (gated cross-attention) module: our documented readings of the paper's
``GCA(X, Y) = X + alpha * X'`` (PAPER.md 3.2). The layers it is built from are in ``layers.py``.

One direction updates X (queries) with information from Y (keys/values) through a stack of gated
residual sublayers, each with its own gate parameter alpha (and its own LayerNorm), chosen by
``model.gca_block`` (the paper does not say which it used; decisions page, D18):

    attn            cross                  (today's module; + ffn(ffn_hidden) with gca_ffn)
    self_cross_ffn  self, cross, ffn(ffn_hidden)     ~2.10M per module at d 256: the blog's size
    cross_ffn4      cross, ffn(4 d)                  ~2.10M per module at d 256: the blog's size

A sublayer with function f (X' = f(X)) and LayerNorm placement ``model.gca_ln``:

    pre   X + g(alpha) * Dropout(f(LN(X)))     (cross: q from LN_q(X), k = v from LN_kv(Y))
    post  LN(X + g(alpha) * Dropout(f(X)))     (ABXI's own post-norm style)
    out   X + g(alpha) * Dropout(LN(f(X)))
    gca_layernorm=False: no LayerNorm anywhere in the module.

g in {sigmoid, tanh, identity}. With ``post`` a zero gate leaves LN(X), not X: only holding the
module at zero (``force_zero``) is the identity for every reading.

* ``cross``: the backbone's own attention class (:class:`Attention`: one packed in-projection with
  bias, ``gca_heads`` heads, out-projection with bias, attention dropout 0), query from X and
  key/value from Y; init as the backbone (xavier in-projection, N(0, 0.02^2) out-projection, zero
  biases). Query row i may attend to key j iff key j is valid (non-padding) and
  ``time_k[j] <= time_q[i]``; a row with no allowed key (or a padding query) gets ``X' = 0``.
  The caller supplies the times (model/abxi.py): training = position on the mixed grid,
  evaluation = index in the mixed history with the last query position set to "sees everything";
  with ``gca_mask="day"`` the query times are moved back to just before the first position of the
  query's day, so only keys from strictly earlier days remain.
* ``self``: the same attention class on X alone, causal over the stream's own (chronological)
  layout with padding keys masked, as the backbone's MHA: an element never sees a later element.
* ``ffn``: the backbone's SwiGLU block without biases.
* ``alpha``: a scalar (or one value per channel with ``gca_alpha_per_channel``) initialised to
  ``gca_alpha_init``, one per sublayer. Dropout on every branch uses the backbone's rate.
* A :class:`GCAPoint` holds two independent directions (A queries B, B queries A), both computed
  from the *pre-update* A and B tensors (simultaneous update). Initialisation draws from the
  model's generator in sublayer order (self, cross, ffn), A direction first.

The module works on the valid tokens of each stream (no work on padding); a :class:`Grid` gives their
(B, L) layout for the attention itself.

Probe hooks: ``direction.recording = True`` makes every forward append a :class:`Record` of the
cross-attention sublayer (its input X and the branch X' added to it before gating, at valid query
positions, a flag for the last valid position of each sequence, the attention weights and the
cross-attention gate g(alpha)). Off by default: no extra cost in training.
``direction.force_zero = True`` makes the direction the exact identity (nothing computed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .layers import Attention, Dropout, Grid, SwiGLU, attend

_GATES = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "identity": lambda a: a}
_WEIGHTS = {"self": "self_attn", "cross": "attn", "ffn": "ffn"}  # the module holding each sublayer's weights


def sublayers(cfg: ModelConfig) -> tuple[tuple[str, int], ...]:
    """The residual sublayers of one direction, in order: (kind, FFN hidden width or 0)."""
    if cfg.gca_block == "self_cross_ffn":
        return ("self", 0), ("cross", 0), ("ffn", cfg.ffn_hidden)
    if cfg.gca_block == "cross_ffn4":
        return ("cross", 0), ("ffn", 4 * cfg.d)
    return (("cross", 0),) + ((("ffn", cfg.ffn_hidden),) if cfg.gca_ffn else ())


@dataclass
class Record:
    """What the cross-attention sublayer of one GCA direction saw in one forward (probe hook)."""

    x: torch.Tensor  # (n, d) query input X (before any LN) at valid query positions
    x_prime: torch.Tensor  # (n, d) the branch X' added to X before gating (after LN with gca_ln="out")
    is_last: torch.Tensor  # (n,) bool: the position is the last valid one of its sequence
    has_key: torch.Tensor  # (n,) bool: the query had at least one allowed key (else X' = 0)
    row: torch.Tensor  # (n,) batch row of each position
    weights: torch.Tensor  # (B, heads, Lq, Lk) attention weights (0 on rows without keys)
    gate: torch.Tensor  # g(alpha) of the cross-attention: scalar or (d,)


class GCADirection(nn.Module):
    """One direction of GCA: X (queries) is updated with information from Y (keys/values) by the
    gated residual sublayers of ``cfg.gca_block`` (module docstring)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, ln_on = cfg.d, cfg.gca_layernorm
        self.gate_name, self.ln = cfg.gca_gate, cfg.gca_ln
        self.kinds = [kind for kind, _ in sublayers(cfg)]
        shape = (d,) if cfg.gca_alpha_per_channel else (1,)

        def norm() -> nn.Module:
            return nn.LayerNorm(d) if ln_on else nn.Identity()

        def alpha() -> nn.Parameter:
            return nn.Parameter(torch.full(shape, float(cfg.gca_alpha_init)))

        # registration order and names of today's module kept (ln_q, ln_kv, attn, alpha, ln_f, ...)
        for kind, hidden in sublayers(cfg):
            if kind == "self":
                self.ln_s, self.self_attn, self.alpha_self = norm(), Attention(d, cfg.gca_heads), alpha()
            elif kind == "cross":
                if self.ln == "pre":
                    self.ln_q, self.ln_kv = norm(), norm()
                else:
                    self.ln_x = norm()
                self.attn, self.alpha = Attention(d, cfg.gca_heads), alpha()
            else:
                self.ln_f, self.ffn, self.alpha_ffn = norm(), SwiGLU(d, hidden), alpha()
        self.drop = Dropout(cfg.dropout)
        self.recording = False
        self.force_zero = False
        self.records: list[Record] = []

    def reset(self, gen: torch.Generator) -> None:
        for kind in self.kinds:
            getattr(self, _WEIGHTS[kind]).reset(gen)

    def gate(self) -> torch.Tensor:
        """g(alpha) of the cross-attention sublayer (what the probe reports)."""
        return _GATES[self.gate_name](self.alpha)

    def forward(self, x: torch.Tensor, y: torch.Tensor, gq: Grid, gk: Grid) -> torch.Tensor:
        """x (nq, d): valid query tokens laid out by ``gq``; y (nk, d): key tokens laid out by ``gk``."""
        if self.force_zero:
            return x
        for kind in self.kinds:
            if kind == "self":
                x = self._residual(x, self._self(x, gq), self.alpha_self, self.ln_s)
            elif kind == "cross":
                x = self._residual(x, self._cross(x, y, gq, gk), self.alpha, getattr(self, "ln_x", None))
            else:
                h = self.ffn(self.ln_f(x) if self.ln == "pre" else x)
                x = self._residual(x, self.ln_f(h) if self.ln == "out" else h, self.alpha_ffn, self.ln_f)
        return x

    def _residual(self, x, branch, alpha, norm) -> torch.Tensor:
        """X + g(alpha) Dropout(branch), then LN for ``post`` (``out``: the caller normalised the branch)."""
        out = x + _GATES[self.gate_name](alpha) * self.drop(branch)
        return norm(out) if self.ln == "post" else out

    def _self(self, x: torch.Tensor, g: Grid) -> torch.Tensor:
        """Causal self-attention of the stream on its own valid tokens (padding keys masked)."""
        attn, d = self.self_attn, self.self_attn.d
        h = self.ln_s(x) if self.ln == "pre" else x
        b, l = g.valid.shape
        q, k, v = g.layout(F.linear(h, attn.in_proj_weight, attn.in_proj_bias)).split(d, dim=-1)
        causal = torch.ones(l, l, dtype=torch.bool, device=x.device).tril()
        out, _, _ = attend(attn._heads(q), attn._heads(k), attn._heads(v), causal & g.valid.unsqueeze(1))
        out = attn.out_proj(g.tokens(out.transpose(1, 2).flatten(2)))
        return self.ln_s(out) if self.ln == "out" else out

    def _cross(self, x: torch.Tensor, y: torch.Tensor, gq: Grid, gk: Grid) -> torch.Tensor:
        """X' = CrossAttn(X, Y), zero on queries without an allowed key (recorded for the probe)."""
        attn, d = self.attn, self.attn.d
        w, bias = attn.in_proj_weight, attn.in_proj_bias
        pre = self.ln == "pre"
        q = gq.layout(F.linear(self.ln_q(x) if pre else x, w[:d], bias[:d]))
        k, v = gk.layout(F.linear(self.ln_kv(y) if pre else y, w[d:], bias[d:])).split(d, dim=-1)
        allowed = cross_mask(gq, gk)
        out, wts, row_ok = attend(attn._heads(q), attn._heads(k), attn._heads(v), allowed,
                                  want_weights=self.recording)
        xp = attn.out_proj(gq.tokens(out.transpose(1, 2).flatten(2)))
        has_key = gq.tokens(allowed.any(-1))
        if self.ln == "out":
            xp = self.ln_x(xp)
        if row_ok is not None:
            xp = xp * has_key.unsqueeze(-1).to(xp.dtype)
        if self.recording:
            self._record(x, xp, wts, gq, has_key)
        return xp

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

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.a_from_b = GCADirection(cfg)  # domain "A" in the probe: A queries B
        self.b_from_a = GCADirection(cfg)  # domain "B": B queries A

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


def gca_direction_parameters(cfg: ModelConfig) -> int:
    """Analytic trainable-parameter count of one :class:`GCADirection` of ``cfg`` (see params.py):
    per sublayer its alpha, attention 4 d^2 + 4 d or SwiGLU 3 d h, and its LayerNorms (2 d each;
    two for the cross-attention with ``pre``: query and key/value)."""
    d, alpha = cfg.d, (cfg.d if cfg.gca_alpha_per_channel else 1)
    n = 0
    for kind, hidden in sublayers(cfg):
        n += alpha + (3 * d * hidden if kind == "ffn" else 4 * d * d + 4 * d)
        if cfg.gca_layernorm:
            n += 2 * d * (2 if kind == "cross" and cfg.gca_ln == "pre" else 1)
    return n
