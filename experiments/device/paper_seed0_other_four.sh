#!/usr/bin/env bash
# Kept as run, for provenance (the data and helper scripts sat in the git-ignored .gpu_data/;
# .gpu_data/paper_gpu.py and smoke.py are experiments/device/paper_gpu_seed0.py and smoke.py here).
# One device call: 4 paper-preset runs on the GPU (7-min budget each) while 11 CPU workers run the
# lite abe grid in priority order; finished runs come back as tarballs.
export PYTHONPATH=src PYTHONUNBUFFERED=1 GCA_LITE_CACHE=/tmp/gcache OMP_NUM_THREADS=1
nvidia-smi -L; nproc; python3 -c "import torch, yaml, numpy, tqdm; print(torch.__version__)" || exit 3; python3 -c "import os; print(len(os.sched_getaffinity(0)), \"cpus\")"
mkdir -p /tmp/gpu /tmp/cpu
for spec in "abe base" "abe 1" "abe 0,1,2" "afk 0,1,2"; do
  set -- $spec
  timeout 480 python3 .gpu_data/paper_gpu.py $1 $2 /tmp/gpu > /tmp/gpu_$1_${2//,/}.log 2>&1 &
done
sleep 20  # let the GPU runs load their data first
timeout 505 python3 experiments/run_real.py --data-dir .gpu_data --store /tmp/cpu --dataset abe --workers 11 --threads 1 > /tmp/cpu.log 2>&1
pkill -f multiprocessing; sleep 1; wait
cat /tmp/gpu_*.log | grep -v Warning | tail -12; tail -5 /tmp/cpu.log
cd /tmp/cpu && ls */*/record.json | wc -l && tar czf $OUT/cpu_runs.tgz $(ls -d */*/ | while read d; do [ -f $d/record.json ] && echo $d; done)
cd /tmp/gpu && tar czf $OUT/gpu_runs.tgz . && cp /tmp/*.log $OUT/ 2>/dev/null; ls -la $OUT | head
