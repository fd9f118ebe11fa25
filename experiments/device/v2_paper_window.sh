#!/usr/bin/env bash
# One device call of the v2 paper-preset item (book/preregistration.md, "Paper preset"): the 10 runs of
# one dataset (base and GCA[1]-sigmoid,True under the chosen reading, seeds 0-4, 60 epochs each), all
# at once on one GPU. The epoch budget is fixed, so sharing changes how long the call takes, not where
# a run stops. Finished runs are tarred into $OUT every 20 s, so a cut-off call still returns them.
# Here, once:   mkdir -p .gpu_data && cp -r ../shared/data/afk ../shared/data/abe .gpu_data/
# On the device (carry .gpu_data):   bash experiments/device/v2_paper_window.sh afk   (then abe)
# Back here:    tar xzf <files_at>/gpu_runs.tgz -C results_v2_paper/
set -uo pipefail
ds=${1:?usage: v2_paper_window.sh DATASET}
export PYTHONPATH=src PYTHONUNBUFFERED=1 GCA_LITE_CACHE=/tmp/gcache OMP_NUM_THREADS=1
nvidia-smi -L; nproc --all; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())" || exit 3
mkdir -p /tmp/gpu /tmp/gcache
python3 experiments/device/v2_paper_run.py list "$ds" /tmp/gpu | tee $OUT/plan.log || exit 2
pids=()
for i in $(awk '$2 == "missing" {print $1}' $OUT/plan.log); do
  timeout 570 python3 experiments/device/v2_paper_run.py run "$ds" "$i" /tmp/gpu > /tmp/gpu_${ds}_$i.log 2>&1 &
  pids+=($!)
done
snap() { cd /tmp/gpu && d=$(for r in */*/; do [ -f $r/record.json ] && [ ! -f $r/lock ] && echo $r; done); [ -n "$d" ] && tar czf $OUT/gpu_runs.tgz.tmp $d && mv $OUT/gpu_runs.tgz.tmp $OUT/gpu_runs.tgz; cd - >/dev/null; }
( while sleep 20; do snap; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> $OUT/gpu_util.log; done ) &
watcher=$!
[ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"; kill $watcher 2>/dev/null
snap; for f in /tmp/gpu_${ds}_*.log; do echo "$f: $(grep -v Warn $f | tail -1)"; done | tee $OUT/summary.log
