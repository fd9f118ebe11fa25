"""One paper-preset run on a lent GPU, same setting as the stored seed-0 H200 runs (7-min budget,
per-position negatives); usage: paper_seed.py DATASET POINTS|base SEED STORE [--check]."""
import dataclasses, sys, time
sys.path.insert(0, "src")
from gca_lite.config import preset
from gca_lite.experiments.store import ResultsStore

ds_name, points, seed, store = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cfg = preset("paper", ds_name)
pts = () if points == "base" else tuple(int(p) for p in points.split(","))
cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, gca_points=pts),
                          train=dataclasses.replace(cfg.train, neg_mode="per_position", max_minutes=7.0, seed=seed))
if "--check" in sys.argv:
    print(ds_name, points, seed, ResultsStore(store).key(cfg), ResultsStore(store).has(cfg, warn=False))
    sys.exit()
from gca_lite.train import run
t = time.time()
res = run(cfg, ".gpu_data", progress=False, device="cuda")
ResultsStore(store).save(cfg, res)
print(cfg.name, res.record["stop_reason"], res.record["epochs_run"], res.record["best_epoch"],
      round(time.time() - t), res.record["test"]["sampled"]["A/NDCG@10"], res.record["test"]["sampled"]["B/NDCG@10"], flush=True)
