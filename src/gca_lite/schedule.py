"""Learning-rate schedules and the validation calendar of a run.

``constant`` is the v1 behaviour (and ABXI's): the base lr, with ABXI's linear warm-up stepped once
per epoch from 1e-5 of it. ``cosine`` and ``linear`` are fixed-budget schedules stepped per batch: a
linear warm-up over ``warmup_epochs`` from 1/steps of the lr to the full lr, then a cosine (or linear)
decay to 0 at the end of the last epoch (``wsd``, warm-up/stable/decay: the full lr until the last
``WSD_DECAY`` of the budget, then a linear decay to 0), so the model has converged by the budget's end and the best
validated epoch within the budget is selected (decision D17).
"""

from __future__ import annotations

import math

from .config import SCHEDULES

WSD_DECAY = 0.2  # fraction of the budget (in optimizer steps) over which ``wsd`` decays to 0


def epoch_factor(epoch: int, warmup_epochs: int) -> float:
    """The v1 per-epoch factor: ABXI's LinearLR warm-up (epoch 1 starts near zero), then 1."""
    if epoch <= warmup_epochs:
        return 1e-5 + (1 - 1e-5) * (epoch - 1) / warmup_epochs
    return 1.0


def step_factor(schedule: str, step: int, steps_per_epoch: int, warmup_epochs: int, epochs: int) -> float:
    """Factor of the base lr at optimizer step ``step`` (0-based) of a fixed-budget schedule."""
    warm = warmup_epochs * steps_per_epoch
    total = epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "wsd":
        return min(1.0, (total - step) / (WSD_DECAY * total)) if total else 0.0
    raise ValueError(f"unknown lr schedule {schedule!r}; choose one of {SCHEDULES}")


def validates(epoch: int, warmup_epochs: int, every: int, epochs: int) -> bool:
    """Whether ``epoch`` is validated: never during warm-up, then every ``every`` epochs and the last."""
    if epoch <= warmup_epochs:
        return False
    return every == 1 or epoch % every == 0 or epoch == epochs
