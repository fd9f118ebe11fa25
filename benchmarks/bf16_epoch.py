"""bf16 autocast vs fp32 on the first training batches of an afk epoch (decision: train.bf16).

Modes, interleaved, median of 3 after one warm-up pass: fp32; fp32 with the trimmed width padded to
a multiple of 8 (fewer distinct shapes); bf16 autocast of the loss with and without that padding.
Prints the seconds per pass and the speedups over fp32 (results: benchmarks/results/bf16_epoch.json).

    python benchmarks/bf16_epoch.py lite|d256 [threads] [batches]
"""
import time, numpy as np, torch, sys
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
from dataclasses import replace
from gca_lite.data import load_dataset
from gca_lite.data.splits import make_splits
from gca_lite.config import preset
from gca_lite.model import ABXI
from gca_lite.train import train_batch, length_buckets, NegativeSampler
from gca_lite.precision import bf16_autocast, cpu_has_bf16
print("cpu_has_bf16", cpu_has_bf16())
ds = load_dataset("afk", "../shared/data"); sp = make_splits(ds, 47)
which = sys.argv[1]
cfg = preset("lite" if which == "lite" else "paper", "afk")
m = ABXI(cfg.model, ds.n_items_a, ds.n_items_b, generator=torch.Generator().manual_seed(0))
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, fused=True)
rng = np.random.default_rng(0)
batches = length_buckets(sp.train.lengths, 256, rng)[:int(sys.argv[3]) if len(sys.argv) > 3 else 30]
sampler = NegativeSampler("shared", 128, ds.n_items_a, ds.n_items_b, sp.train, np.random.default_rng(0))
def epoch(bf16, pad):
    t0 = time.perf_counter()
    for rows in batches:
        b = train_batch(sp.train, rows, pad_to=pad)
        na, nb = sampler(rows, tuple(b["target"].shape))
        with bf16_autocast(bf16):
            loss, _ = m.loss(b, na, nb)
        opt.zero_grad(); loss.backward(); opt.step()
    return time.perf_counter() - t0
modes = {"fp32": (False, 1), "fp32pad8": (False, 8), "bf16pad8": (True, 8), "bf16": (True, 1)}
for k, v in modes.items(): epoch(*v)  # warm
t = {k: [] for k in modes}
for rep in range(3):
    for k, v in modes.items(): t[k].append(epoch(*v))
med = {k: float(np.median(v)) for k, v in t.items()}
print(which, {k: round(v, 2) for k, v in med.items()}, {k: round(med["fp32"] / v, 2) for k, v in med.items()})
