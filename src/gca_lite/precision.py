"""bfloat16 mixed precision for training, only where the CPU computes bf16 natively.

On CPUs with AVX512-BF16 or AMX-BF16 (oneDNN's fast bf16 paths) a bf16 matmul is several times
faster than fp32; on AVX2-only CPUs bf16 is emulated and slower. ``train.bf16`` asks for autocast of
the training loss; it is used only when the running CPU has native bf16 (checked here at run time),
and each record says whether it was (``bf16``). Evaluation scores are always fp32: bf16 would
create spurious exact ties over thousands of candidates (EVALUATION.md §4).
"""

from __future__ import annotations

import contextlib
from functools import lru_cache

import torch

BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU advertises native bf16 arithmetic and torch's oneDNN can use it."""
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return False
    mkldnn = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return any(f in flags for f in BF16_FLAGS) and (mkldnn is None or bool(mkldnn()))


def use_bf16(requested: bool, device: str | torch.device = "cpu") -> bool:
    """Whether this run trains under bf16 autocast: asked for, on a CPU with native bf16."""
    return bool(requested) and str(device) == "cpu" and cpu_has_bf16()


def bf16_autocast(enabled: bool):
    """CPU autocast to bf16 (matmuls and linear layers), or nothing when disabled."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()
