"""The paper's published numbers, packaged as data (``resources/paper_numbers.csv``).

The CSV is a copy of ``shared/reference/paper_numbers.csv`` (PAPER.md sections 4 and 6): the two
table cells quoted by third-party summaries (``source = paper-summary``), the Pearson r values and
the digitised parameter-matched scaling points of the author's blog figures
(``author-blog-figure``), and ABXI's own README results (``abxi-readme``). Every row carries its
provenance in ``note``. Columns: ``source, dataset, base_model, variant, params_millions, domain,
metric, value, stat, note``.
"""

from __future__ import annotations

from importlib import resources

COLUMNS = ("source", "dataset", "base_model", "variant", "params_millions", "domain", "metric", "value",
           "stat", "note")
#: Blog scaling panels in the order the blog shows them: (base model, dataset, title).
SCALING_PANELS = (("CDSRNP", "Electronics-Phone", "CDSRNP / Electronics-Phone"),
                  ("ABXI", "abe", "ABXI / Beauty-Electronics"),
                  ("ABXI", "afk", "ABXI / Food-Kitchen"),
                  ("LLM4CDSR", "Cloth-Sport", "LLM4CDSR / Cloth-Sport"),
                  ("LLM4CDSR", "Elec-Phone", "LLM4CDSR / Elec-Phone"))


def load_paper_numbers():
    """All rows of the packaged CSV as a pandas DataFrame (``params_millions`` NaN where not given)."""
    import pandas as pd

    with resources.files("gca_lite").joinpath("resources/paper_numbers.csv").open("r", encoding="utf-8") as f:
        frame = pd.read_csv(f)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"resources/paper_numbers.csv lacks column(s) {', '.join(missing)}")
    frame["domain"] = frame["domain"].fillna("")
    return frame


def paper_cells(frame=None):
    """The two table cells reported for ``GCA[1]-sigmoid,True`` on Food-Kitchen (unverified)."""
    frame = load_paper_numbers() if frame is None else frame
    return frame[frame["source"] == "paper-summary"].reset_index(drop=True)


def paper_correlations(frame=None):
    """Pearson r of |cos(X, X')| vs NDCG@10 per base model and domain (blog Figure 2)."""
    frame = load_paper_numbers() if frame is None else frame
    sel = frame[frame["metric"] == "pearson_r_cos_vs_ndcg10"]
    return sel[["base_model", "domain", "value", "note"]].rename(columns={"value": "r"}).reset_index(drop=True)


def paper_scaling(frame=None):
    """Digitised points of the blog's parameter-matched scaling figure (Figure 3), with a
    ``panel`` title column and ``series`` in {base, GCA_early, GCA_stack}."""
    frame = load_paper_numbers() if frame is None else frame
    titles = {(m, d): t for m, d, t in SCALING_PANELS}
    sel = frame[(frame["source"] == "author-blog-figure") & frame["params_millions"].notna()].copy()
    sel["panel"] = [titles.get((m, d), f"{m} / {d}") for m, d in zip(sel["base_model"], sel["dataset"])]
    sel["series"] = sel["variant"].replace({"baseline": "base", "baseline_enlarged": "base"})
    sel["original"] = sel["variant"] == "baseline"
    return sel[["panel", "base_model", "dataset", "series", "original", "domain", "params_millions",
                "value"]].reset_index(drop=True)
