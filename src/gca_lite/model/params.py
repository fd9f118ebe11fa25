"""Parameter counting and the parameter-matched base model (PAPER.md 3.4, decision D11).

``count_parameters(model)`` counts trainable parameters exactly (padding rows of the embeddings
included, as ABXI's totals do). ``analytic_parameters(cfg, n_a, n_b)`` gives the same number from
the configuration alone (tests check both agree), so matching needs no model construction.

Matching rule (our decision for D11): the base model (no GCA) is widened until its parameter count
is within ``tol`` (relative) of the GCA model's:

1. widen the FFN hidden width ``ffn_hidden`` (shared by the encoder FFN and the three projectors,
   so one unit adds ``12 d`` parameters), taking the width whose count is closest to the target
   (ties: the smaller width); d, heads, ranks and everything else unchanged;
2. only if step 1 cannot get within ``tol`` (e.g. a target below the base, or a tiny model whose
   FFN step is coarser than the tolerance) widen ``d`` over multiples of ``n_heads`` (ffn_hidden
   scaled by the same factor, then re-tuned as in step 1) and keep the closest.

A ``ConfigError`` is raised if no candidate gets within ``tol``.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ..config import ConfigError, ModelConfig
from .gca import gca_direction_parameters


def count_parameters(model: nn.Module) -> int:
    """Exact number of trainable parameters (shared tensors counted once)."""
    seen, n = set(), 0
    for p in model.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


def analytic_parameters(cfg: ModelConfig, n_items_a: int, n_items_b: int) -> int:
    """Trainable parameters of ``ABXI(cfg, n_items_a, n_items_b)`` without building it.

    ei (n_items + 1) d; ep (max_len + 1) d; MHA 4 d^2 + 4 d; 8 LayerNorms (norm_mha, norm_sa x/a/b,
    i2a, i2b, a2a, b2b) 2 d each; 4 SwiGLU (ffn, proj_i, proj_a, proj_b) 3 d h each; dLoRA x3
    2 d rank_d; iLoRA x2 2 d rank_i; plus one GCA module (2 directions) per entry of gca_points.
    """
    d, h = cfg.d, cfg.ffn_hidden
    n = (n_items_a + n_items_b + 1) * d + (cfg.max_len + 1) * d
    n += 4 * d * d + 4 * d + 8 * 2 * d + 4 * 3 * d * h
    n += 3 * 2 * d * cfg.rank_d + 2 * 2 * d * cfg.rank_i
    return n + len(cfg.gca_points) * gca_module_parameters(cfg)


def gca_module_parameters(cfg: ModelConfig) -> int:
    """Parameters one GCA module (both directions at one point) adds to the model of ``cfg``."""
    return 2 * gca_direction_parameters(cfg)


def _best_ffn(base: ModelConfig, target: int, n_a: int, n_b: int, min_h: int) -> ModelConfig:
    """ffn_hidden >= min_h whose count is closest to ``target`` (the count is linear in h)."""
    at_min = analytic_parameters(dataclasses.replace(base, ffn_hidden=min_h), n_a, n_b)
    step = 12 * base.d
    k = max(0, round((target - at_min) / step))
    cands = {max(min_h, min_h + k + j) for j in (-1, 0, 1)}
    return min((dataclasses.replace(base, ffn_hidden=hh) for hh in sorted(cands)),
               key=lambda c: abs(analytic_parameters(c, n_a, n_b) - target))


def matched_base_config(gca_cfg: ModelConfig, n_items_a: int, n_items_b: int,
                        tol: float = 0.01) -> ModelConfig:
    """A base (no-GCA) config within ``tol`` of the GCA model's parameter count (rule above)."""
    gca_cfg.validate()
    if not tol > 0:
        raise ConfigError(f"tol must be > 0, got {tol}")
    # the LayerNorm placement changes the count by at most 2 d per direction: one matched base
    # (of the ``pre`` count) serves every placement, as the size name says
    target = analytic_parameters(dataclasses.replace(gca_cfg, gca_ln="pre"), n_items_a, n_items_b)
    base = dataclasses.replace(gca_cfg, gca_points=())

    def rel(c: ModelConfig) -> float:
        return abs(analytic_parameters(c, n_items_a, n_items_b) - target) / target

    best = _best_ffn(base, target, n_items_a, n_items_b, min_h=base.ffn_hidden)
    if rel(best) <= tol:
        return best
    # step 2: widen d (multiples of n_heads), FFN scaled with it and then re-tuned
    cands = [best]
    d0, nh = base.d, base.n_heads
    for dd in range(d0 + nh, 4 * d0 + 1, nh):
        wide = dataclasses.replace(base, d=dd, ffn_hidden=max(1, round(base.ffn_hidden * dd / d0)))
        if analytic_parameters(dataclasses.replace(wide, ffn_hidden=1), n_items_a, n_items_b) \
                > target * (1 + tol):
            break  # wider models overshoot even with the narrowest FFN
        cands.append(_best_ffn(wide, target, n_items_a, n_items_b, min_h=1))
    best = min(cands, key=rel)
    if rel(best) > tol:
        raise ConfigError(f"no base config within tol={tol} of {target} parameters "
                          f"(closest: d={best.d}, ffn_hidden={best.ffn_hidden}, rel {rel(best):.4f})")
    best.validate()
    return best
