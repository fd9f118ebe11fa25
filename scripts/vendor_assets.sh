#!/usr/bin/env bash
# Copy/pack the JavaScript the static book needs so that every page works offline
# (see shared/reference/TOOLING.md section 6). Output: book/_vendor/ (git-ignored).
#
#   plotly.min.js                      from the installed plotly wheel (no network)
#   require.js                         requirejs@2.3.7          (npm pack)
#   jupyter-widgets/embed-amd.js       @jupyter-widgets/html-manager@1.0.6 (npm pack)
#   mathjax/tex-svg.js                 mathjax@3.2.2            (npm pack)
#
# Idempotent: a file that is already present and non-empty is kept; npm is only contacted
# when one of the three npm files is missing. Set FORCE=1 to refresh everything.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
dest=book/_vendor
HTML_MANAGER=1.0.6
REQUIREJS=2.3.7
MATHJAX=3.2.2

mkdir -p "$dest/jupyter-widgets" "$dest/mathjax"

present() { [ "${FORCE:-0}" != 1 ] && [ -s "$1" ]; }

if present "$dest/plotly.min.js"; then
  echo "vendor: $dest/plotly.min.js present"
else
  "$PY" -c 'import plotly, pathlib, shutil, sys; shutil.copy(pathlib.Path(plotly.__file__).parent / "package_data" / "plotly.min.js", sys.argv[1])' "$dest/plotly.min.js"
  echo "vendor: copied plotly.min.js from the plotly wheel"
fi

if present "$dest/require.js" && present "$dest/jupyter-widgets/embed-amd.js" && present "$dest/mathjax/tex-svg.js"; then
  echo "vendor: require.js, embed-amd.js, tex-svg.js present"
  exit 0
fi

command -v npm >/dev/null || { echo "vendor: npm not found; install Node.js or copy the files listed in $0 by hand" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent "@jupyter-widgets/html-manager@$HTML_MANAGER" "requirejs@$REQUIREJS" "mathjax@$MATHJAX" >/dev/null \
  && for t in *.tgz; do mkdir -p "${t%.tgz}" && tar xzf "$t" -C "${t%.tgz}"; done )
# write via a temporary name so an interrupted run never leaves a truncated file that looks present
install_file() { cp "$1" "$2.part" && mv "$2.part" "$2"; }
install_file "$tmp/requirejs-$REQUIREJS/package/require.js" "$dest/require.js"
install_file "$tmp/jupyter-widgets-html-manager-$HTML_MANAGER/package/dist/embed-amd.js" "$dest/jupyter-widgets/embed-amd.js"
install_file "$tmp/mathjax-$MATHJAX/package/es5/tex-svg.js" "$dest/mathjax/tex-svg.js"
echo "vendor: packed html-manager@$HTML_MANAGER, requirejs@$REQUIREJS, mathjax@$MATHJAX from npm"
