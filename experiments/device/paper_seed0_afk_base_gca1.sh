#!/usr/bin/env bash
# Kept as run, for provenance (the data and helper scripts sat in the git-ignored .gpu_data/;
# .gpu_data/paper_gpu.py and smoke.py are experiments/device/paper_gpu_seed0.py and smoke.py here).
# One device call: smoke on CUDA, then the learning check and the two quality runs in parallel.
export PYTHONPATH=src PYTHONUNBUFFERED=1 GCA_LITE_CACHE=/tmp/gcache
nvidia-smi -L
timeout 90 python3 .gpu_data/smoke.py > $OUT/smoke.log 2>&1 || { cat $OUT/smoke.log; exit 3; }
cat $OUT/smoke.log
B=benchmarks/afk_reference.py
python3 $B learning --data-dir .gpu_data --device cuda --out $OUT/learning.json --store /tmp/st > /tmp/l.log 2>&1 &
python3 $B quality --variants base --neg-mode per_position --max-minutes $1 --data-dir .gpu_data --device cuda --out $OUT/quality_base.json --store /tmp/st > /tmp/qb.log 2>&1 &
python3 $B quality --variants 1 --neg-mode per_position --max-minutes $1 --data-dir .gpu_data --device cuda --out $OUT/quality_gca1.json --store /tmp/st > /tmp/qg.log 2>&1 &
wait
grep -h "epoch .*valid" /tmp/qb.log | tail -3; grep -h "epoch .*valid" /tmp/qg.log | tail -3; tail -3 /tmp/l.log
tar czf $OUT/runs.tgz -C /tmp st l.log qb.log qg.log
