#!/usr/bin/env bash
# One device call: the paper-preset subset (base, GCA[1]-sigmoid,True, GCA[0,1,2]-sigmoid,True) at
# seeds 0, 1 and 2 on afk and abe, all 18 runs at once on one GPU (7-min training budget each), so
# that every seed and every variant trains at equal time and equal sharing (book: decision D18).
# Finished runs are tarred into $OUT every 20 s so a cut-off call still returns what finished.
# The data files are copied into .gpu_data/ (ignored by git, named in the device call's carry):
#   mkdir -p .gpu_data && cp -r ../shared/data/afk ../shared/data/abe .gpu_data/
# Run there as: bash experiments/device/paper_one_window.sh [SEED...] (default seeds 0 1 2; results
# come back as $OUT/gpu_runs.tgz). A second window ran seeds 3 4 5 the same way.
seeds=${*:-0 1 2}
export PYTHONPATH=src PYTHONUNBUFFERED=1 GCA_LITE_CACHE=/tmp/gcache OMP_NUM_THREADS=1
nvidia-smi -L; nproc --all; python3 -c "import torch, yaml, numpy, tqdm, pandas; print(torch.__version__, torch.cuda.is_available())" || exit 3
mkdir -p /tmp/gpu /tmp/gcache
for ds in afk abe; do for p in base 1 0,1,2; do for s in $seeds; do
  timeout 560 python3 experiments/device/paper_seed.py $ds $p $s /tmp/gpu > /tmp/gpu_${ds}_${p//,/}_s$s.log 2>&1 &
done; done; done
snap() { cd /tmp/gpu && d=$(for r in */*/; do [ -f $r/record.json ] && [ ! -f $r/lock ] && echo $r; done); [ -n "$d" ] && tar czf $OUT/gpu_runs.tgz.tmp $d && mv $OUT/gpu_runs.tgz.tmp $OUT/gpu_runs.tgz; cd - >/dev/null; }
( while sleep 20; do snap; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> $OUT/gpu_util.log; uptime >> $OUT/load.log; done ) &
n_runs=$(( 6 * $(echo $seeds | wc -w) ))
wait $(jobs -p | head -$n_runs) 2>/dev/null; sleep 1
snap; for f in /tmp/gpu_*.log; do echo "$f: $(grep -v Warn $f | tail -2)"; done | tee $OUT/summary.log
ls -la $OUT
