#!/usr/bin/env bash
# One device call: replay a stored paper-preset run to exactly the epochs it reached (no time
# budget), alone on a GPU, and compare every per-user test rank with the stored ones
# (`gca-lite rerun --replay --device cuda`; book: decision D18). Default: afk base, seed 0, from
# the 18-at-once window (49 epochs). The data files travel in .gpu_data/ (see paper_seeds_1_2.sh).
# Run there as: bash experiments/device/replay_paper_run.sh [RUN_FOLDER]
export PYTHONPATH=src PYTHONUNBUFFERED=1 GCA_LITE_CACHE=/tmp/gcache OMP_NUM_THREADS=1
run=${1:-benchmarks/results/paper_one_window/afk/17a2d17129834167}
nvidia-smi -L
timeout 330 python3 -m gca_lite.cli rerun "$run" --data-dir .gpu_data --replay --device cuda --quiet 2>&1 \
  | grep -v Warning | tee "$OUT/replay.log"
