"""One typed configuration for a run; notebook parameters and CLI flags mirror these fields.

``RunConfig`` = data + model + training + evaluation settings. Every field has a default equal to
our recommended choice; ``validate()`` raises :class:`ConfigError` with the field name and the
problem, so a bad notebook parameter or CLI flag fails loudly before any work starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

GATES = ("sigmoid", "tanh", "identity")
GCA_POINTS = (0, 1, 2)


class ConfigError(ValueError):
    """A configuration value is unknown, out of range or inconsistent with another one."""


@dataclass(frozen=True)
class ModelConfig:
    """ABXI backbone dimensions (defaults: ABXI's afk demo) plus the GCA variant."""

    d: int = 256
    n_heads: int = 2
    ffn_hidden: int = 680
    rank_d: int = 16  # per-sequence low-rank domain adapters (ABXI --rd)
    rank_i: int = 64  # invariant-projector low-rank adapters (ABXI --ri)
    dropout: float = 0.5
    max_len: int = 47
    abxi_compat: bool = False  # reproduce the official code's quirks (no key-padding mask, ...)
    # Gated cross-attention: empty tuple = the base model.
    gca_points: tuple[int, ...] = ()
    gca_gate: str = "sigmoid"
    gca_layernorm: bool = True
    gca_alpha_init: float = 0.0
    gca_alpha_per_channel: bool = False
    gca_ffn: bool = False
    gca_heads: int = 2

    def validate(self) -> None:
        _positive(self, "d", "n_heads", "ffn_hidden", "max_len", "gca_heads")
        _non_negative(self, "rank_d", "rank_i")
        if self.d % self.n_heads:
            raise ConfigError(f"model.d={self.d} must be divisible by model.n_heads={self.n_heads}")
        if self.gca_points and self.d % self.gca_heads:
            raise ConfigError(f"model.d={self.d} must be divisible by model.gca_heads={self.gca_heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.gca_gate not in GATES:
            raise ConfigError(f"model.gca_gate must be one of {GATES}, got {self.gca_gate!r}")
        bad = [p for p in self.gca_points if p not in GCA_POINTS]
        if bad or len(set(self.gca_points)) != len(self.gca_points):
            raise ConfigError(f"model.gca_points must be distinct values from {GCA_POINTS}, "
                              f"got {list(self.gca_points)}")
        if list(self.gca_points) != sorted(self.gca_points):
            raise ConfigError(f"model.gca_points must be sorted, got {list(self.gca_points)}")

    @property
    def variant_name(self) -> str:
        """The paper's label, e.g. ``GCA[1]-sigmoid,True``; ``base`` without GCA."""
        if not self.gca_points:
            return "base"
        points = ",".join(str(p) for p in self.gca_points)
        return f"GCA[{points}]-{self.gca_gate},{self.gca_layernorm}"


def _positive(cfg: Any, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{n} must be a positive integer, got {v!r}")


def _non_negative(cfg: Any, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"{n} must be a non-negative integer, got {v!r}")


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def config_hash(cfg: Any) -> str:
    """Stable content hash (sorted JSON of all fields)."""
    blob = json.dumps(to_dict(cfg), sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
