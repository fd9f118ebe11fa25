"""The variant-name language: one home for how a configuration is named, ordered and shortened.

A name is what ``ModelConfig.variant_name`` writes: ``base``, ``GCA[1]-sigmoid,True`` (insertion
points, gate, LayerNorm) or ``base~1xGCA,True`` (a base widened to that GCA size). :func:`parse`
reads a name back into the ``ModelConfig`` fields it stands for, so ``name -> fields -> name`` is
the identity (``tests/test_variants.py``). To add a variant to the paper's grid or a series, edit
the tuples below; every table, claim and chapter reads them from here.
"""

from __future__ import annotations

import re

from ..config import GATES, GCA_BLOCKS, GCA_LN, GCA_MASKS, GCA_POINTS, ModelConfig

BASE = "base"
_GCA = re.compile(r"^GCA\[(?P<points>\d(?:,\d)*)\]-(?P<gate>\w+),(?P<ln>True|False)"
                  r"(?:\{(?P<reading>[a-z_0-9]+(?:,[a-z_0-9]+)*)\})?$")
#: a reading token (``{...}`` after a name) -> the field it sets; the value sets are disjoint
_READING = {**{v: "gca_block" for v in GCA_BLOCKS}, **{v: "gca_ln" for v in GCA_LN},
            **{v: "gca_mask" for v in GCA_MASKS}}
#: the paper's 16-variant grid: insertion points x gate x LayerNorm, in the paper's order
GCA16 = tuple(f"GCA[{p}]-{g},{ln}" for p in ("0", "1", "2", "0,1,2") for g in ("sigmoid", "tanh")
              for ln in (True, False))
#: the scaling series of the blog's figure; GCA[0] starts both curves
EARLY = ("GCA[0]-sigmoid,True", "GCA[0,0]-sigmoid,True", "GCA[0,0,0]-sigmoid,True")
STACK = ("GCA[0]-sigmoid,True", "GCA[0,1]-sigmoid,True", "GCA[0,1,2]-sigmoid,True")
#: the base and its parameter-matched widenings to one, two and three modules
BASES = ("base", "base~1xGCA,True", "base~2xGCA,True", "base~3xGCA,True")
#: the paper's headline variant (its tables' best) and the primary endpoint's comparison
HEADLINE = "GCA[1]-sigmoid,True"


class VariantNameError(ValueError):
    """A string is not a variant name."""


def parse(name: str) -> dict:
    """The ``ModelConfig`` fields a name stands for: ``gca_points`` (tuple), and for a GCA variant
    ``gca_gate`` and ``gca_layernorm``, for a matched base ``matched_to``."""
    if name == BASE:
        return {"gca_points": ()}
    if isinstance(name, str) and name.startswith(BASE + "~") and len(name) > len(BASE) + 1:
        return {"gca_points": (), "matched_to": name[len(BASE) + 1:]}
    m = _GCA.match(name) if isinstance(name, str) else None
    if not m:
        raise VariantNameError(f"{name!r} is not a variant name; use 'base' or e.g. 'GCA[1]-sigmoid,True'")
    fields = {"gca_points": tuple(int(p) for p in m["points"].split(",")), "gca_gate": m["gate"],
              "gca_layernorm": m["ln"] == "True"}
    for token in m["reading"].split(",") if m["reading"] else ():
        if token not in _READING or _READING[token] in fields:
            raise VariantNameError(f"{name!r}: {token!r} is not a reading token (one each of "
                                   f"{GCA_BLOCKS}, {GCA_LN}, {GCA_MASKS})")
        fields[_READING[token]] = token
    return fields


def name(gca_points=(), gca_gate: str = "sigmoid", gca_layernorm: bool = True, matched_to: str = "",
         **reading) -> str:
    """The name of the given fields: ``ModelConfig.variant_name`` itself, so there is one spelling
    (``reading`` = gca_block, gca_ln, gca_mask where they are not today's)."""
    return ModelConfig(gca_points=tuple(gca_points), gca_gate=gca_gate, gca_layernorm=gca_layernorm,
                       matched_to=matched_to, **reading).variant_name


def is_gca(variant: str) -> bool:
    return bool(_GCA.match(variant))


def overrides(variant: str, param: str = "variants") -> dict:
    """Dotted config overrides of a grid variant (``base`` or a GCA name; points from
    :data:`GCA_POINTS` in increasing order, a known gate); a bad name raises naming ``param``."""
    if not isinstance(variant, str):
        raise ValueError(f"{param}: every entry must be a string, got {variant!r}")
    if variant == BASE:
        return {"model.gca_points": []}
    m = _GCA.match(variant.replace(" ", ""))
    if not m or m["gate"] not in GATES:
        raise ValueError(f"{param}: {variant!r} is not a variant name; use 'base' or e.g. "
                         "'GCA[1]-sigmoid,True' (points from 0,1,2 in increasing order; gate sigmoid, "
                         "tanh or identity; LayerNorm True or False)")
    fields = parse(variant.replace(" ", ""))
    points = list(fields["gca_points"])
    if any(p not in GCA_POINTS for p in points) or points != sorted(points):
        raise ValueError(f"{param}: {variant!r} needs insertion points from {GCA_POINTS} in increasing "
                         "order (repeat a point to stack modules there, e.g. GCA[0,0])")
    return {"model.gca_points": points, **{f"model.{k}": v for k, v in fields.items() if k != "gca_points"}}


def grid(point_sets=((0,), (1,), (2,), (0, 1, 2)), gates=("sigmoid", "tanh")) -> list[str]:
    """``base`` and insertion points x gate x LayerNorm (the paper's 17 names by default)."""
    return [BASE] + [name(pts, g, ln) for pts in point_sets for g in gates for ln in (True, False)]


def paper_order(variant: str) -> tuple:
    """Fewest modules first, then by insertion points and gate: GCA[0] ... GCA[2], GCA[0,1,2]."""
    fields = parse(variant)
    return len(fields["gca_points"]), fields["gca_points"], fields["gca_gate"]


def config_order(model) -> tuple:
    """Table order of a ``ModelConfig``: base, GCA by module count and points, gate, LayerNorm
    on first; matched bases last (``report.collect`` places them beside their GCA size)."""
    if not model.gca_points:
        return (2, model.matched_to) if model.matched_to else (0,)
    gate = GATES.index(model.gca_gate) if model.gca_gate in GATES else len(GATES)
    return (1, len(model.gca_points), model.gca_points, gate, not model.gca_layernorm)


def points_name(variant: str) -> str:
    """``GCA[1]-tanh,False`` -> ``GCA[1]``: the insertion points only."""
    return variant.split("-")[0]


def short_name(variant: str) -> str:
    """``GCA[1]-sigmoid,True`` -> ``GCA[1]``: the default gate and LayerNorm left unsaid."""
    return variant.removesuffix("-sigmoid,True")


def layernorm_partner(variant: str) -> str:
    """The same variant with LayerNorm off: ``...,True`` -> ``...,False``. A LayerNorm-off module
    has no placement, so ``...,True{cross_ffn4,post}`` pairs with ``...,False{cross_ffn4}``."""
    fields = parse(variant)
    fields.update(gca_layernorm=False, gca_ln="pre")
    return name(**fields)


def layernorm_pairs(variants) -> list[tuple[str, str]]:
    """(LayerNorm on, LayerNorm off) pairs present in ``variants``."""
    return [(v, layernorm_partner(v)) for v in variants
            if is_gca(v) and parse(v)["gca_layernorm"] and layernorm_partner(v) in variants]


def layernorm_inert(model) -> bool:
    """Whether the LayerNorm flag makes no numerical difference for this ``ModelConfig``: the
    config's own ``gca_layernorm_inert`` (one home for the rule; decision D2). Judge a pair by its
    LayerNorm-on side."""
    return bool(model.gca_layernorm_inert)
