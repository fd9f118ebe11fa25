"""One paper-preset run on the GPU, same settings as results/afk's two H200 runs (7-min budget)."""
import dataclasses, sys, time
sys.path.insert(0, "src")
from gca_lite.config import preset
from gca_lite.experiments.store import ResultsStore
from gca_lite.train import run
ds_name, points, store = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = preset("paper", ds_name)
pts = () if points == "base" else tuple(int(p) for p in points.split(","))
cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, gca_points=pts),
                          train=dataclasses.replace(cfg.train, neg_mode="per_position", max_minutes=7.0))
t = time.time()
res = run(cfg, ".gpu_data", progress=False, device="cuda")
ResultsStore(store).save(cfg, res)
print(cfg.name, res.record["stop_reason"], res.record["epochs_run"], res.record["best_epoch"],
      round(time.time() - t), res.record["test"]["sampled"]["A/NDCG@10"], res.record["test"]["sampled"]["B/NDCG@10"], flush=True)
