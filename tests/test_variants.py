"""The variant-name language: name -> config fields -> name is the identity, and the series, order
and short forms come from one place."""

from __future__ import annotations

import pytest

from gca_lite.config import ModelConfig
from gca_lite.experiments import variants as V

NAMES = [*V.grid(), *V.EARLY, *V.STACK, *V.BASES, "GCA[2]-identity,False", "base~2xGCA,False+ffn"]


@pytest.mark.parametrize("name", NAMES)
def test_a_name_round_trips_through_its_config_fields(name):
    fields = V.parse(name)
    assert V.name(**fields) == name
    assert ModelConfig(**fields).variant_name == name  # the same language as the config's own


def test_parse_rejects_what_is_not_a_name():
    for bad in ("gca1", "GCA[1]-sigmoid,Maybe", "base~", 3):
        with pytest.raises(V.VariantNameError):
            V.parse(bad)


def test_the_grid_series_and_orders():
    assert V.grid()[1:] == list(V.GCA16) and len(V.GCA16) == 16
    assert V.EARLY[0] == V.STACK[0] == "GCA[0]-sigmoid,True"
    assert sorted(["GCA[0,1,2]-sigmoid,True", "GCA[2]-tanh,True", "GCA[0]-sigmoid,True"], key=V.paper_order) == \
        ["GCA[0]-sigmoid,True", "GCA[2]-tanh,True", "GCA[0,1,2]-sigmoid,True"]
    assert V.config_order(ModelConfig()) < V.config_order(ModelConfig(gca_points=(1,))) < \
        V.config_order(ModelConfig(matched_to="1xGCA,True"))
    assert (V.points_name("GCA[1]-tanh,False"), V.short_name("GCA[1]-sigmoid,True"),
            V.short_name("GCA[1]-tanh,True")) == ("GCA[1]", "GCA[1]", "GCA[1]-tanh,True")
    assert V.layernorm_pairs(["GCA[1]-tanh,True", "GCA[1]-tanh,False", "GCA[2]-tanh,True"]) == \
        [("GCA[1]-tanh,True", "GCA[1]-tanh,False")]


def test_layernorm_inert_is_the_config_rule():
    assert V.layernorm_inert(ModelConfig(gca_points=(1,)))
    assert V.layernorm_inert(ModelConfig(gca_points=(1, 2), gca_layernorm=False))
    assert V.layernorm_inert(ModelConfig(gca_points=(1,), gca_ffn=True))  # LN_f meets X + small X' too
    assert not V.layernorm_inert(ModelConfig(gca_points=(0, 1, 2)))
    assert not V.layernorm_inert(ModelConfig(gca_points=(1,), gca_ln="out"))
    assert not V.layernorm_inert(ModelConfig())


@pytest.mark.parametrize("variant", ["GCA[1]-sigmoid,True{self_cross_ffn,post}", "GCA[0]-tanh,False{day}",
                                     "GCA[1]-sigmoid,True{out}", "GCA[0,1]-sigmoid,True{cross_ffn4,out,day}"])
def test_reading_names_round_trip_and_pair(variant):
    assert V.name(**V.parse(variant)) == variant
    assert V.overrides(variant)["model.gca_gate"] == V.parse(variant)["gca_gate"]
    off = V.layernorm_partner(variant)
    assert ",False" in off and "post" not in off and "out}" not in off and ",out," not in off


def test_reading_tokens_are_checked():
    for bad in ("GCA[1]-sigmoid,True{foo}", "GCA[1]-sigmoid,True{post,out}"):
        with pytest.raises(V.VariantNameError):
            V.parse(bad)
