#!/usr/bin/env bash
# One device call: lite runs of the real grid on the lent machine's CPU cores (the GPU stays idle:
# every lite run in results/ trained on a CPU, and a lite run is not time-budgeted, so its result
# does not depend on how many share the machine). The runs are taken from the END of run_real.py's
# priority order (--from-end) while the home machine's sweep works from the start, so the two
# never train the same run. The store is the repo's results/ as sent, so stored runs are skipped.
# Every run that finishes is tarred into $OUT every 15 s: a call cut off at its limit still returns
# what finished (unfinished runs are lost; nothing half-trained is kept).
# Data: mkdir -p .gpu_data && cp -r ../shared/data/afk ../shared/data/abe .gpu_data/  (carry .gpu_data)
# Run there as: bash experiments/device/lite_cpu_window.sh [WORKERS] [SECONDS]   (default 16, 540)
# Back here: tar xzf <files_at>/lite_runs.tgz -C results/
workers=${1:-16}; seconds=${2:-540}
export PYTHONPATH=src PYTHONUNBUFFERED=1 GCA_LITE_CACHE=/tmp/gcache OMP_NUM_THREADS=1
nproc; python3 -c "import torch, yaml, numpy, tqdm, pandas; print(torch.__version__)" || exit 3
touch /tmp/t0
snap() {
  d=$(cd results && find . -mindepth 3 -maxdepth 3 -name record.json -newer /tmp/t0 | xargs -r -n1 dirname)
  [ -n "$d" ] && tar czf $OUT/lite_runs.tgz.tmp -C results $d && mv $OUT/lite_runs.tgz.tmp $OUT/lite_runs.tgz
}
( while sleep 15; do snap; uptime >> $OUT/load.log; done ) &
timeout $seconds python3 experiments/run_real.py --data-dir .gpu_data --store results --from-end \
  --workers $workers --threads 1 > $OUT/sweep.log 2>&1
pkill -f multiprocessing; sleep 2; snap
echo "finished runs: $(cd results && find . -mindepth 3 -maxdepth 3 -name record.json -newer /tmp/t0 | wc -l)"
grep -a -o "FAILED[^\r]*" $OUT/sweep.log | head
ls -la $OUT
