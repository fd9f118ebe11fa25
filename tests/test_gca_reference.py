"""The default GCA module is numerically unchanged: outputs of today's reading (attention-only
module, ``pre`` LayerNorm, file-order mask), with and without ``gca_ffn``, against a frozen
reference computed by the code *before* the reading switches were added (issue 21).

``tests/fixtures/gca_reference.npz`` was written by ``python tests/test_gca_reference.py`` on that
code; it must never be regenerated from newer code (that would make this test unable to fail)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import random_splits  # noqa: E402

from gca_lite.config import ModelConfig  # noqa: E402
from gca_lite.model import ABXI  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "gca_reference.npz"
NA, NB, MAXLEN = 20, 25, 12
TINY = ModelConfig(d=16, n_heads=2, ffn_hidden=24, rank_d=2, rank_i=4, max_len=MAXLEN, dropout=0.1)
CASES = {
    "p012_sigmoid_ln": dict(gca_points=(0, 1, 2)),
    "p1_tanh_noln": dict(gca_points=(1,), gca_gate="tanh", gca_layernorm=False),
    "p02_ffn_ln": dict(gca_points=(0, 2), gca_ffn=True),
    "p00_ffn_noln_channel": dict(gca_points=(0, 0), gca_ffn=True, gca_layernorm=False,
                                 gca_alpha_per_channel=True),
}


def outputs(changes: dict) -> dict[str, np.ndarray]:
    """Evaluation representations, training loss (dropout on, seeded) and the GCA gradients."""
    cfg = dataclasses.replace(TINY, gca_alpha_init=0.3, **changes)
    m = ABXI(cfg, NA, NB, torch.Generator().manual_seed(5))
    with torch.no_grad():  # move every GCA weight away from its init (LayerNorms included)
        for p in m.gca.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    sp = random_splits(NA, NB, MAXLEN, 12, seed=9, min_len=6)
    ev = {k: torch.as_tensor(getattr(sp.valid, k)) for k in
          ("seq_x", "seq_a", "seq_b", "order_a", "order_b", "target_domain")}
    tr = {k: torch.as_tensor(getattr(sp.train, k)) for k in ("seq_x", "seq_a", "seq_b", "target")}
    negs = torch.arange(1, 7), torch.arange(NA + 1, NA + 7)
    with torch.no_grad():
        enc = m.eval().encode_eval(ev)
    torch.manual_seed(3)
    loss, _ = m.train().loss(tr, *negs)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for _, p in sorted(m.gca.named_parameters())])
    return {"encode": enc.numpy(), "loss": loss.detach().numpy(), "grads": grads.numpy()}


def test_default_module_matches_frozen_reference():
    ref = np.load(FIXTURE)
    for name, changes in CASES.items():
        got = outputs(changes)
        for key, value in got.items():
            np.testing.assert_allclose(value, ref[f"{name}/{key}"], rtol=1e-6, atol=1e-7,
                                       err_msg=f"{name}/{key}")


if __name__ == "__main__":
    arrays = {f"{name}/{k}": v for name, changes in CASES.items() for k, v in outputs(changes).items()}
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
