import sys, time
import torch
sys.path.insert(0, "src")
from gca_lite.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from gca_lite.train import run
print(torch.__version__, torch.cuda.get_device_name(), flush=True)
for mode in ("per_position", "shared"):
    for pts in ((), (0, 1, 2)):
        cfg = RunConfig(DataConfig("synthetic-tiny"), ModelConfig(d=32, ffn_hidden=64, rank_d=4, rank_i=4, gca_points=pts),
                        TrainConfig(epochs=2, batch_size=64, n_neg=32, neg_mode=mode), EvalConfig(n_candidates=99))
        t = time.time(); r = run(cfg, progress=False, device="cuda")
        print("smoke ok", mode, pts, round(time.time() - t, 1), r.record["test"]["sampled"]["A/MRR"], flush=True)
