"""Experiment grids: YAML file -> list of validated, de-duplicated :class:`RunConfig`.

Grid file format (every key optional except that some dataset must be named somewhere)::

    name: smoke                      # free text, shown in progress output
    description: ...                 # free text
    base:                            # overrides applied to every config
      preset: lite                   # starting point (config.preset), default "lite"
      dataset: synthetic-tiny        # shorthand for data.dataset
      model: {d: 16, ffn_hidden: 32} # nested sections ...
      train.epochs: 2                # ... or dotted keys, both work
    grid:                            # cartesian product of dotted keys -> lists of values
      model.gca_points: [[], [1], [0, 1, 2]]
      model.gca_gate: [sigmoid, tanh]
      train.seed: [0, 1]
    include:                         # explicit extra configs: base + entry, crossed with the
      - {model.gca_points: [1], model.gca_gate: identity}   # grid keys the entry does not set
                                     # (with a list of grids: the first grid's keys)
    matched_bases: true              # add a parameter-matched base for every GCA config

``grid`` may also be a list of such mappings (the union of several products). ``preset`` and
``dataset`` may be grid axes: the preset is applied per config *after* the dataset is known,
because the paper preset differs between afk and abe.

Normalisation: a base model ignores every ``gca_*`` field, so those are reset to their defaults
(:func:`normalize`); otherwise a grid over gates would train the identical base model once per
gate. Configs identical after normalisation are kept once, in first-seen order.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import itertools
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import (ConfigError, DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig, config_hash,
                      preset)

SECTIONS: dict[str, type] = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}
SPECIAL = ("preset", "dataset")  # grid-level keys that are not RunConfig fields
TOP_LEVEL = ("name", "description", "base", "grid", "include", "matched_bases")
_GCA_FIELDS = tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name.startswith("gca_"))


class GridError(ConfigError):
    """A grid file or config mapping is malformed; the message names the file and the key."""


# ------------------------------------------------------------------------------ dict -> config
def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def flatten(mapping: Mapping, where: str = "<dict>", prefix: str = "") -> dict[str, Any]:
    """``{"model": {"d": 16}, "train.seed": 0}`` -> ``{"model.d": 16, "train.seed": 0}``."""
    if not isinstance(mapping, Mapping):
        raise GridError(f"{where}: {prefix.rstrip('.') or 'value'} must be a mapping, got "
                        f"{type(mapping).__name__}")
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(key, str):
            raise GridError(f"{where}: key {key!r} must be a string")
        full = prefix + key
        if isinstance(value, Mapping):
            out.update(flatten(value, where, full + "."))
        else:
            out[full] = value
    return out


def _coerce(value: Any, hint: Any, path: str, where: str) -> Any:
    """YAML/JSON value -> the field's Python type (lists -> tuples, ints -> floats); strict otherwise."""
    def bad(expected: str) -> GridError:
        return GridError(f"{where}: {path} must be {expected}, got {value!r}")

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # X | None
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], path, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad("a list")
        return tuple(_coerce(v, args[0], f"{path}[{i}]", where) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad("a string")
        return value
    raise GridError(f"{where}: {path} has an unsupported type {hint!r}")  # a new field type


@functools.cache
def _type_hints(cls) -> dict[str, Any]:
    """Field types of a config section (resolving them is slow; results pages read hundreds of runs)."""
    return typing.get_type_hints(cls)


def apply_overrides(cfg: RunConfig, flat: Mapping[str, Any], where: str = "<dict>") -> RunConfig:
    """Replace the dotted ``section.field`` keys of ``flat`` in ``cfg``; unknown keys name the path."""
    parts = {name: getattr(cfg, name) for name in SECTIONS}
    changes: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for path, value in flat.items():
        section, _, fname = path.partition(".")
        if section not in SECTIONS:
            raise GridError(f"{where}: unknown key {path!r} (sections are {', '.join(SECTIONS)})"
                            + _suggest(section, SECTIONS))
        cls = SECTIONS[section]
        hints = _type_hints(cls)
        if fname not in hints or "." in fname:
            raise GridError(f"{where}: unknown key {path!r} ({section} has no field {fname!r}"
                            + _suggest(fname, hints) + ")")
        changes[section][fname] = _coerce(value, hints[fname], path, where)
    for name, ch in changes.items():
        if ch:
            parts[name] = dataclasses.replace(parts[name], **ch)
    return RunConfig(**parts)


def config_from_dict(d: Mapping[str, Any], base: RunConfig | None = None, where: str = "<dict>") -> RunConfig:
    """Build and validate a RunConfig from a (nested or dotted) mapping, e.g. a record's ``config``.

    Keys ``preset`` and ``dataset`` are accepted as in grid files. Without them the dataclass
    defaults (or ``base``) are the starting point. Raises :class:`GridError` naming the key path.
    """
    flat = flatten(d, where)
    start = base
    if "preset" in flat or base is None and "dataset" in flat:
        dataset = flat.get("dataset", flat.get("data.dataset", DataConfig().dataset))
        start = _preset(flat.get("preset", "lite"), dataset, where)
    cfg = apply_overrides(start or RunConfig(), _without_special(flat, where), where)
    return _validated(cfg, where)


def _without_special(flat: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = {k: v for k, v in flat.items() if k not in SPECIAL}
    if "dataset" in flat:
        if "data.dataset" in flat and flat["data.dataset"] != flat["dataset"]:
            raise GridError(f"{where}: 'dataset' and 'data.dataset' disagree")
        out["data.dataset"] = flat["dataset"]
    return out


def _preset(name: Any, dataset: Any, where: str) -> RunConfig:
    if not isinstance(dataset, str):
        raise GridError(f"{where}: dataset must be a string, got {dataset!r}")
    try:
        return preset(name, dataset)
    except ConfigError as e:
        raise GridError(f"{where}: preset: {e}") from None


def _validated(cfg: RunConfig, where: str) -> RunConfig:
    try:
        return cfg.validate()
    except ConfigError as e:
        if isinstance(e, GridError):
            raise
        raise GridError(f"{where}: {e}") from None


def normalize(cfg: RunConfig) -> RunConfig:
    """Reset the ``gca_*`` fields of a base model to their defaults (a base ignores them)."""
    if cfg.model.gca_points:
        return cfg
    defaults = ModelConfig()
    model = dataclasses.replace(cfg.model, **{f: getattr(defaults, f) for f in _GCA_FIELDS})
    return dataclasses.replace(cfg, model=model)


# ------------------------------------------------------------------------------ grid expansion
def _axes(grid: Any, where: str) -> list[dict[str, list]]:
    """The ``grid:`` value as a list of {dotted key: list of values} products."""
    if grid is None:
        return [{}]
    blocks = grid if isinstance(grid, list) else [grid]
    out = []
    for i, block in enumerate(blocks):
        loc = f"{where}: grid" + (f"[{i}]" if isinstance(grid, list) else "")
        if not isinstance(block, Mapping):
            raise GridError(f"{loc} must be a mapping of keys to lists")
        axes = {}
        for key, values in flatten(block, loc).items():
            if not isinstance(values, list) or not values:
                raise GridError(f"{loc}.{key} must be a non-empty list of values, got {values!r}")
            axes[key] = values
        out.append(axes)
    return out


def _product(axes: Mapping[str, list]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def _build(overrides: Mapping[str, Any], where: str) -> RunConfig:
    dataset = overrides.get("dataset", overrides.get("data.dataset"))
    if dataset is None:
        raise GridError(f"{where}: no dataset given (set base.dataset or a grid axis data.dataset)")
    start = _preset(overrides.get("preset", "lite"), dataset, where)
    return _validated(apply_overrides(start, _without_special(overrides, where), where), where)


def expand(spec: Mapping[str, Any], where: str = "<grid>", data_dir: str | Path | None = None) -> list[RunConfig]:
    """Expand a parsed grid mapping (format in the module docstring) into unique configs."""
    if not isinstance(spec, Mapping):
        raise GridError(f"{where}: the grid file must be a mapping with keys {', '.join(TOP_LEVEL)}")
    unknown = [k for k in spec if k not in TOP_LEVEL]
    if unknown:
        raise GridError(f"{where}: unknown top-level key {unknown[0]!r} (allowed: {', '.join(TOP_LEVEL)})"
                        + _suggest(str(unknown[0]), TOP_LEVEL))
    base = flatten(spec.get("base") or {}, f"{where}: base")
    products = _axes(spec.get("grid"), where)
    include = spec.get("include") or []
    if not isinstance(include, list):
        raise GridError(f"{where}: include must be a list of mappings")
    combos: list[tuple[dict, str]] = []
    for axes in products:
        for combo in _product(axes):
            label = ", ".join(f"{k}={v!r}" for k, v in combo.items())
            combos.append(({**base, **combo}, f"{where}: grid combination ({label})"))
    for i, entry in enumerate(include):
        fixed = flatten(entry, f"{where}: include[{i}]")
        # An include entry keeps varying over the grid axes it does not set (e.g. the seeds).
        free = {k: v for axes in products[:1] for k, v in axes.items() if k not in fixed}
        for combo in _product(free):
            combos.append(({**base, **combo, **fixed}, f"{where}: include[{i}]"))
    configs = [normalize(_build(ov, loc)) for ov, loc in combos]
    matched = spec.get("matched_bases", False)
    if not isinstance(matched, bool):
        raise GridError(f"{where}: matched_bases must be true or false, got {matched!r}")
    if matched:
        configs += matched_bases(configs, data_dir, where)
    if not configs:
        raise GridError(f"{where}: the grid expands to no configs (an empty grid list?)")
    return dedupe(configs)


def dedupe(configs: list[RunConfig]) -> list[RunConfig]:
    """Keep the first of configs with equal content hash (after normalisation)."""
    seen, out = set(), []
    for cfg in configs:
        h = config_hash(normalize(cfg))
        if h not in seen:
            seen.add(h)
            out.append(normalize(cfg))
    return out


def matched_bases(configs: list[RunConfig], data_dir: str | Path | None = None,
                  where: str = "<grid>") -> list[RunConfig]:
    """A base widened to each GCA config's parameter count (``model.matched_to`` = its size name)."""
    from ..data import load_dataset
    from ..model.params import matched_base_config

    sizes: dict[tuple[str, int], tuple[int, int]] = {}
    out, seen = [], set()
    for cfg in configs:
        if not cfg.model.gca_points:
            continue
        key = (cfg.data.dataset, cfg.data.synthetic_seed)
        if key not in sizes:  # item counts are all the matching needs; load each dataset once
            ds = load_dataset(cfg.data.dataset, data_dir, seed=cfg.data.synthetic_seed)
            sizes[key] = (ds.n_items_a, ds.n_items_b)
        try:
            model = matched_base_config(cfg.model, *sizes[key])
        except ConfigError as e:
            raise GridError(f"{where}: matched_bases for {cfg.name}: {e}") from None
        model = dataclasses.replace(model, matched_to=cfg.model.size_name)
        matched = normalize(dataclasses.replace(cfg, model=model))
        if config_hash(matched) not in seen:  # sigmoid and tanh variants share one matched base
            seen.add(config_hash(matched))
            out.append(matched)
    return out


def load_grid(path: str | Path, data_dir: str | Path | None = None) -> list[RunConfig]:
    """Read a YAML grid file and expand it (errors name the file and the key)."""
    try:
        return expand(read_grid_spec(path), str(path), data_dir)
    except GridError:
        raise
    except ValueError as e:  # e.g. an unknown dataset, met while sizing the matched bases
        error = GridError(f"{path}: {e}")
        error.exit_code = getattr(e, "exit_code", 1)  # a missing data file stays a runtime error
        raise error from None


def _unique_key_loader():
    """A safe YAML loader that refuses a key repeated in one mapping (plain YAML keeps the last,
    so a second ``grid:`` would silently drop the first one's axes)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice",
                                                        key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep)

    UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return UniqueKeyLoader


def read_grid_spec(path: str | Path):
    """The parsed YAML of a grid file (errors name the file)."""
    import yaml

    path = Path(path)
    try:
        return yaml.load(path.read_text(), Loader=_unique_key_loader())
    except OSError as e:
        raise GridError(f"{path}: cannot read grid file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise GridError(f"{path}: not a text file ({e.reason})") from None
    except (yaml.YAMLError, TypeError, ValueError) as e:  # TypeError: an unhashable key ({[1]: 2})
        raise GridError(f"{path}: invalid YAML ({' '.join(str(e).split())})") from None


def grid_name(path: str | Path) -> str:
    """The ``name:`` of a grid file, else its file stem (for progress output)."""
    import yaml

    try:
        spec = yaml.safe_load(Path(path).read_text())
        return str(spec.get("name") or Path(path).stem)
    except Exception:  # the name is cosmetic; load_grid reports real problems
        return Path(path).stem
