"""The paper's own effect sizes, for equivalence verdicts ("absent at the paper's size").

The blog's parameter-matched scaling figure (``paper_numbers.csv``, ``author-blog-figure``, ABXI
panels) gives NDCG@10 of the base and of GCA_early with k = 1, 2, 3 modules per dataset and
domain. Its numbers are on another scale than ours (paper preset, its own protocol; its base is
three times our lite full-ranking NDCG@10), so the paper's gain is taken as a fraction of its
reference model and applied to our reference mean: δ = (paper first / paper second − 1) x our
second (decision D14).
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _curves() -> dict:
    """{(dataset, domain, series): [base, k=1, k=2, ...]} of NDCG@10 from the blog's ABXI panels;
    ``series`` GCA_early or GCA_stack (whose first module is GCA_early's, GCA[0])."""
    from ..paper import load_paper_numbers

    frame = load_paper_numbers()
    sel = frame[(frame["source"] == "author-blog-figure") & (frame["base_model"] == "ABXI")
                & (frame["metric"] == "NDCG@10")]
    out = {}
    for (dataset, domain), part in sel.groupby(["dataset", "domain"]):
        base = part[part["variant"] == "baseline"]["value"].tolist()
        early = part[part["variant"] == "GCA_early"].sort_values("params_millions")["value"].tolist()
        stack = part[part["variant"] == "GCA_stack"].sort_values("params_millions")["value"].tolist()
        if base and early:
            out[(dataset, domain, "GCA_early")] = [base[0], *early]
            out[(dataset, domain, "GCA_stack")] = [base[0], early[0], *stack]
    return out


def series_of(points) -> str:
    """The blog's series a GCA model belongs to: modules at distinct points stack, else early."""
    return "GCA_stack" if len(set(points)) > 1 else "GCA_early"


def relative_gain(dataset: str, domain: str, k_first: int, k_second: int,
                  series: str = "GCA_early") -> float | None:
    """The paper's NDCG@10 of ``series`` with ``k_first`` modules over that with ``k_second`` (0: the
    base), minus 1; None where the blog gives no such point."""
    curve = _curves().get((dataset, domain, series))
    if curve is None or max(k_first, k_second) >= len(curve) or not curve[k_second]:
        return None
    return curve[k_first] / curve[k_second] - 1


def delta(dataset: str, domain: str, k_first: int, k_second: int, reference_mean: float,
          series: str = "GCA_early") -> float | None:
    """δ for a comparison of a k_first-module model with a k_second-module one whose NDCG@10 is
    ``reference_mean`` here: the paper's relative gain at our scale (module doc); None without one."""
    rel = relative_gain(dataset, domain, k_first, k_second, series)
    return None if rel is None else abs(rel) * reference_mean
