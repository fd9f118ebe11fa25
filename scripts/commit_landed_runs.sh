#!/usr/bin/env bash
# Commit every run the background sweep has finished (record.json present, no lock) and not yet
# committed, in one commit that names each run: dataset, variant, seed and minutes. For the default
# store the README's store figures are rewritten in the same commit (scripts/readme_counts.py), so
# that no commit holds runs the README does not account for (the tests check it).
# Usage: bash scripts/commit_landed_runs.sh [STORE]   (default: results)
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-results}
py=${PYTHON:-.venv/bin/python}
names=()
for d in $(git status --short --untracked-files=all -- "$store" | awk '{print $2}' | xargs -r -n1 dirname | sort -u); do
  [ -f "$d/record.json" ] && [ ! -f "$d/lock" ] || continue
  git add -- "$d"
  names+=("$("$py" - "$d/record.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
shuffled = " (same-day-shuffled)" if r["config"]["data"].get("tie_shuffle_seed") is not None else ""
print(f"{r['dataset']} {r['variant']} seed {r['seed']}{shuffled} {r['wall_seconds'] / 60:.0f} min")
PY
)")
done
if [ ${#names[@]} -eq 0 ]; then echo "no finished runs to commit"; exit 0; fi
if [ "$store" = results ]; then
  "$py" scripts/readme_counts.py --write >/dev/null
  git add README.md
fi
msg=$(printf '; %s' "${names[@]}")
git commit -qm "$store/: lite ${msg#; }" && git log --oneline -1
