"""Helpers for the notebooks that make up the static book.

* :func:`show` turns a plotly figure into HTML that renders offline in the built book (plotly.js is
  vendored once for the whole site, see ``scripts/vendor_assets.sh``) and is deterministic (fixed
  ``div_id``, no random ids).
* :data:`TEMPLATE`, :data:`DOMAIN_COLORS`, :data:`COLORWAY`: one look for every figure.
* :func:`record` stores a notebook's key numbers as a custom MIME output; :func:`read_record` reads
  them back from an executed ``.ipynb`` (used by the tests and by later notebooks).
* :func:`dedupe_inline_scripts` tidies the built site's pages (``scripts/build_book.py`` calls it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

RECORD_MIME = "application/vnd.gca-lite.record+json"

#: Domain colours used in every figure (A = blue, B = orange; colour-blind safe pair).
DOMAIN_COLORS = {"A": "#1f6fb4", "B": "#e07b10"}
#: Further series (GCA variants, baselines ...) in this order.
COLORWAY = ["#1f6fb4", "#e07b10", "#2a9d5c", "#c0392b", "#7b5ea7", "#8c6d31", "#d16ba5", "#6b6b6b"]
#: Name of the registered plotly template (``plotly_white`` plus the settings below).
TEMPLATE = "plotly_white+gca_lite"

_registered = False


def register_template() -> str:
    """Register the ``gca_lite`` plotly template (idempotent) and return :data:`TEMPLATE`."""
    global _registered
    if not _registered:
        import plotly.graph_objects as go
        import plotly.io as pio

        pio.templates["gca_lite"] = go.layout.Template(
            layout=dict(
                colorway=COLORWAY,
                font=dict(family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif", size=13),
                title=dict(x=0, xanchor="left", xref="paper", font=dict(size=15)),
                margin=dict(l=60, r=20, t=60, b=50),
                height=400,
                legend=dict(orientation="h", yanchor="top", y=-0.18, xanchor="left", x=0),
                hoverlabel=dict(namelength=-1),
            )
        )
        _registered = True
    return TEMPLATE


def show(fig, div_id: str):
    """Render a plotly figure for the static book.

    Returns an :class:`IPython.display.HTML` holding only the ``<div>`` and the ``Plotly.newPlot``
    call; plotly.js itself is loaded once per page from the vendored ``plotly.min.js``. A fixed
    ``div_id`` keeps the executed notebook deterministic and lets browser tests find the figure.
    """
    from IPython.display import HTML

    if not div_id or not all(c.isalnum() or c in "-_" for c in div_id):
        raise ValueError(f"div_id must be a non-empty [A-Za-z0-9_-] string, got {div_id!r}")
    html = fig.to_html(include_plotlyjs=False, full_html=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})
    return HTML(html)


def _jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths to plain JSON values (NaN/inf -> None)."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a hard dependency
        np = None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if np is not None:
        if isinstance(value, np.ndarray):
            return _jsonable(value.tolist())
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.integer):
            return int(value)
        if isinstance(value, np.floating):
            value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"record(): cannot store a value of type {type(value).__name__}: {value!r}")


def record(data: dict, *, display: bool = True) -> dict:
    """Store ``data`` (a flat or nested dict of JSON-able values) in the notebook's outputs.

    The output carries the ``application/vnd.gca-lite.record+json`` MIME type (read back with
    :func:`read_record`) plus a short ``text/plain`` line so that renderers without the custom type
    do not warn. Several calls in one notebook are merged by :func:`read_record`, later keys win.
    Returns the JSON-normalised dict.
    """
    if not isinstance(data, dict):
        raise TypeError(f"record() expects a dict, got {type(data).__name__}")
    clean = _jsonable(data)
    json.dumps(clean)  # fail here, not at save time
    if display:
        from IPython.display import display as _display

        keys = ", ".join(list(clean)[:8]) + (", ..." if len(clean) > 8 else "")
        _display({RECORD_MIME: clean, "text/plain": f"gca-lite record: {keys}"}, raw=True)
    return clean


def read_record(ipynb_path: str | Path) -> dict:
    """Merge every :func:`record` output of an executed notebook into one dict.

    Raises :class:`LookupError` naming the notebook when it holds no record (not executed, or
    the recording cell failed).
    """
    path = Path(ipynb_path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    merged: dict = {}
    found = False
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) or []:
            payload = (out.get("data") or {}).get(RECORD_MIME)
            if payload is None:
                continue
            if isinstance(payload, str):  # tolerate writers that stored JSON as text
                payload = json.loads(payload)
            merged.update(payload)
            found = True
    if not found:
        raise LookupError(f"{path}: no {RECORD_MIME} output; was the notebook executed to the end?")
    return merged


def setting_line(dataset: str, preset: str, cfg, seeds, store: str) -> str:
    """The chapters' "Setting" paragraph (markdown): what was trained, how long, on which seeds.

    ``cfg`` is the run configuration the chapter trains (its epoch count and time budget, after
    any overrides). On synthetic data, or with few epochs, the line says how far the chapter's
    findings reach: short runs on data with a planted signal need not behave like converged models
    on the real data."""
    seeds, epochs = list(seeds), cfg.train.epochs
    budget = f" (or {cfg.train.max_minutes:g} minutes, whichever ends first)" if cfg.train.max_minutes else ""
    line = (f"**Setting.** `{dataset}`, preset `{preset}` (d = {cfg.model.d}, FFN {cfg.model.ffn_hidden}, "
            f"dropout {cfg.model.dropout}, lr {cfg.train.lr}), at most {epochs} epochs{budget} with the checkpoint "
            f"selected on validation MRR_A + MRR_B, training seed{'s' if len(seeds) != 1 else ''} "
            f"{', '.join(map(str, seeds))}, results store `{store}`.")
    if len(seeds) == 2:
        line += (" With two seeds the retraining part of each paired interval (decision D16) uses "
                 "t(0.975, 1) = 12.7, so the intervals are wide; `--param seeds=[0,1,2]` narrows them.")
    synthetic = dataset.startswith("synthetic")
    if synthetic or epochs < 40:
        line += (f" These are {epochs}-epoch runs" + (" on synthetic data" if synthetic else "")
                 + ": what they show need not hold for converged models on the real data, which the results "
                   "page reports.")
    return line


def dedupe_inline_scripts(html_dir: Path) -> int:
    """Drop repeated inline ``<script>`` lines from every page; returns how many were dropped.

    Jupyter Book 1 registers the inline configuration scripts of sphinx-thebe and
    sphinx-togglebutton twice, and the second ``const THEBE_JS_URL`` throws "Identifier has
    already been declared" in every page's console. Script files are deduplicated by Sphinx
    itself; only identical inline lines (``<script>...</script>`` without ``src``) are dropped."""
    dropped = 0
    for page in html_dir.rglob("*.html"):
        seen, kept = set(), []
        lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
        for line in lines:
            text = line.strip()
            inline = text.startswith("<script>") and text.endswith("</script>")
            if inline and text in seen:
                dropped += 1
                continue
            if inline:
                seen.add(text)
            kept.append(line)
        if len(kept) != len(lines):
            page.write_text("".join(kept), encoding="utf-8")
    return dropped
