"""Data layer: the dataset type, ABXI file I/O, the registry of real datasets, the synthetic
generator, leave-one-out splits and statistics."""

from __future__ import annotations

from pathlib import Path

from .dataset import CDSRDataset, DataError

__all__ = ["CDSRDataset", "DataError", "load_dataset"]


def load_dataset(name: str, data_dir: str | Path | None = None, *, seed: int = 0,
                 download: bool = False) -> CDSRDataset:
    """Load a dataset by name: ``synthetic[-preset][-nocross]`` (generated, no files needed) or a
    registered real dataset (``afk``, ``abe``) from ``data_dir`` / ``$GCA_LITE_DATA`` / the cache.

    ``seed`` only matters for synthetic data; ``download`` fetches missing real files.
    """
    if name.startswith("synthetic"):
        from .synthetic import load_synthetic

        return load_synthetic(name, seed=seed)
    from .registry import load

    return load(name, data_dir, download=download)
