#!/usr/bin/env bash
# Commit the v2 runs stored since the last commit (and the grid files the runner wrote for them,
# experiments/v2/as_run/), with the snapshot and README passage that quote
# them (results_v2/progress.json, README.md's v2 paragraph), in one commit. Reads no test score
# while the store is sealed.
#   bash scripts/land_v2.sh [DATA_DIR]     (default ../shared/data; run from the repository root)
set -euo pipefail
data=${1:-../shared/data}
py=${PYTHON:-.venv/bin/python}
$py -m gca_lite.experiments.v2_progress --data-dir "$data" --write > /tmp/v2_progress.txt
$py scripts/readme_counts.py --write > /dev/null
git add results_v2 README.md $(ls -d experiments/v2/as_run 2>/dev/null)
if git diff --cached --quiet; then echo "land_v2: nothing new"; exit 0; fi
runs=$(git diff --cached --name-only -- 'results_v2/*/*/record.json' | wc -l)
git commit -qm "v2 runs: $runs more stored ($(tail -1 /tmp/v2_progress.txt))"
git log --oneline -1
