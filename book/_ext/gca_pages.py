"""Sphinx extension of the gca-lite book: each page loads only the JavaScript it uses.

* plotly.js (4.8 MB) only on pages with a plotly figure, MathJax only on pages with math, and
  require.js with the Jupyter widget manager only on pages holding widget state. Everything is
  vendored and listed once in ``_config.yml``; this drops what a page does not need, so a page of
  text loads no megabytes of script and a reader's browser has nothing to parse.
* The theme's colour mode defaults to ``light``: with no default the theme reads an empty mode
  and logs "Got invalid theme mode" on every page.
"""

from __future__ import annotations

#: script file name fragment -> text of the page body that means the page needs it
NEEDS = {
    "plotly.min.js": ("plotly-graph-div",),
    "mathjax": ('class="math',),
    "require.js": ("application/vnd.jupyter.widget",),
    "embed-amd.js": ("application/vnd.jupyter.widget",),
}


def _needed(name: str, body: str) -> bool:
    for fragment, markers in NEEDS.items():
        if fragment in name.lower():
            return any(m in body for m in markers)
    return True


def prune_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    body = context.get("body", "")
    context["script_files"] = [js for js in scripts if _needed(str(getattr(js, "filename", "") or js), body)]


def light_mode(app, config) -> None:
    context = dict(config.html_context or {})
    context.setdefault("default_mode", "light")  # read by the theme's layout, not a theme option
    config.html_context = context


def setup(app):
    app.connect("config-inited", light_mode)
    app.connect("html-page-context", prune_scripts, priority=900)  # after the themes add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}
