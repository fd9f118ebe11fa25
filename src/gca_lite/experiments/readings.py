"""One home for the *readings* of the GCA module in stored results (decision D19).

The paper does not say what its module contains (``model.gca_block``) or where its LayerNorm sits
(``model.gca_ln``). A reading is that pair, e.g. ``("attn", "pre")``, today's reading, which v1 ran.
A variant name carries its reading after the paper's label (``GCA[1]-sigmoid,True{cross_ffn4,out}``);
the claims are written for the paper's labels. :func:`split` therefore turns one store
:class:`~.context.Context` into one per reading, in which every variant of that reading carries
its plain label again, so each claim is decided once per reading, by the same code.

What belongs to a reading ``(block, ln)``:

* the base (it has no module);
* GCA variants with LayerNorm on, of that composition and placement;
* GCA variants with LayerNorm off, of that composition: they have no LayerNorm to place, so one
  model is the "off" side of every placement;
* bases widened to a GCA size of that composition (the size does not depend on the placement).
"""

from __future__ import annotations

import dataclasses

from ..config import GCA_BLOCKS, GCA_LN
from . import variants as V

from .prereg import TODAY  # v1's reading (one home: the pre-registration)
_BLOCK_WORDS = {"attn": "attention-only module", "self_cross_ffn": "self- + cross-attention + FFN module",
                "cross_ffn4": "cross-attention + FFN (4d) module"}
_LN_WORDS = {"pre": "LayerNorm before the attention", "post": "LayerNorm after the residual sum",
             "out": "LayerNorm on the branch output", None: "LayerNorm off only"}


def label(reading: tuple[str, str | None]) -> str:
    """``("cross_ffn4", "out")`` -> ``cross_ffn4,out``: the token pair the CLI and grids use."""
    block, ln = reading
    return f"{block},{ln}" if ln else block


def parse_label(text: str) -> tuple[str, str | None]:
    """``cross_ffn4,out`` -> ``("cross_ffn4", "out")``; ``cross_ffn4`` -> ``("cross_ffn4", None)``."""
    block, _, ln = text.partition(",")
    return block, ln or None


def describe(reading: tuple[str, str | None]) -> str:
    """Plain words, e.g. ``attention-only module, LayerNorm before the attention``."""
    block, ln = reading
    return f"{_BLOCK_WORDS[block]}, {_LN_WORDS[ln]}"


def order(reading: tuple[str, str | None]) -> tuple:
    """Today's reading first, then compositions and placements in the config's order."""
    block, ln = reading
    return (reading != TODAY, GCA_BLOCKS.index(block), GCA_LN.index(ln) if ln else len(GCA_LN))


def of(variant: str) -> tuple[str, str | None] | None:
    """The reading a variant name was run under: ``(block, ln)`` for a GCA variant with LayerNorm on,
    ``(block, None)`` (every placement) for one with LayerNorm off or a widened base of that
    composition's size, ``None`` for the base (every reading)."""
    if variant == V.BASE:
        return None
    if variant.startswith(V.BASE + "~"):
        size = variant[len(V.BASE) + 1:]
        block = size[size.index("{") + 1:-1] if size.endswith("}") else "attn"
        return (block, None)
    fields = V.parse(variant)
    block = fields.get("gca_block", "attn")
    return (block, fields.get("gca_ln", "pre")) if fields["gca_layernorm"] else (block, None)


def plain(variant: str) -> str:
    """The paper's label of a variant, its composition and placement left out (a mask stays):
    ``GCA[1]-sigmoid,True{cross_ffn4,out}`` -> ``GCA[1]-sigmoid,True``,
    ``base~1xGCA,True{cross_ffn4}`` -> ``base~1xGCA,True``."""
    if variant == V.BASE:
        return variant
    if variant.startswith(V.BASE + "~"):
        return variant.split("{")[0]
    fields = {k: v for k, v in V.parse(variant).items() if k not in ("gca_block", "gca_ln")}
    return V.name(**fields)


def belongs(variant: str, reading: tuple[str, str | None]) -> bool:
    found = of(variant)
    return found is None or (found[0] == reading[0] and found[1] in (None, reading[1]))


def present(variants) -> list[tuple[str, str | None]]:
    """The readings that the variant names hold, in :func:`order`: every placement with a
    LayerNorm-on variant, and a composition's ``(block, None)`` only when it has none. Names
    without a module (the base alone) give today's reading."""
    found = {of(v) for v in variants} - {None}
    on = {r for r in found if r[1] is not None}
    out = on | {r for r in found if r[1] is None and not any(o[0] == r[0] for o in on)}
    return sorted(out, key=order) or [TODAY]


def split(ctx) -> list:
    """One context per reading of ``ctx`` (:func:`present`), each holding the runs that belong to
    it (see the module doc) under their plain labels, and ``reading`` set. A context of one
    reading comes back unchanged apart from ``reading``."""
    readings = present(list(ctx.groups) + list(ctx.shuffled or {}))
    out = []
    for reading in readings:
        def keep(pairs, reading=reading):
            return {plain(v): g for v, g in pairs if belongs(v, reading)}

        def runs(rows, reading=reading):
            return [(plain(r[0]), *r[1:]) for r in rows if belongs(r[0], reading)]

        groups = keep((v, dataclasses.replace(g, variant=plain(v))) for v, g in ctx.groups.items())
        shuffled = None if ctx.shuffled is None else keep(
            (v, dataclasses.replace(g, variant=plain(v))) for v, g in ctx.shuffled.items())
        out.append(dataclasses.replace(ctx, groups=groups, shuffled=shuffled, cos=runs(ctx.cos),
                                       modules=runs(ctx.modules), histories=runs(ctx.histories),
                                       reading=reading, _compared={}))
    return out
