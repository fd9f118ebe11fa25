"""Data hub for the real datasets: where they live, how to fetch them, how to check them.

The two real datasets are ABXI's released preprocessed files (``afk`` and ``abe``). Each file is
pinned to one commit of the ABXI repository and to its SHA-256, so a run on any machine reads
byte-identical data or fails loudly; a present file with the wrong checksum is never used.

Folder resolution (:func:`data_home`): explicit ``data_dir`` > environment variable
``GCA_LITE_DATA`` > the per-user cache folder (``platformdirs.user_cache_dir("gca-lite")``).
Inside that folder both layouts are accepted: ``<data_dir>/<name>/<file>`` (as downloaded, and as
in the shared data folder) and ``<data_dir>/<file>`` (files copied straight into a folder).

Synthetic datasets are generated in code and therefore are not in this registry. A user's own
dataset (what ``gca-lite data preprocess --name NAME --out DIR`` writes) is found by its name in
the same folders (:func:`find_user_dataset`), read without a pinned checksum.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .abxi_io import read_abxi, sequence_file, sha256_file
from .dataset import CDSRDataset, DataError

ABXI_COMMIT = "72e52c9f85c740cb5dbdab11f7e5a70eb28ae00d"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/DiMarzioBian/ABXI/{ABXI_COMMIT}/data"
ENV_DATA_DIR = "GCA_LITE_DATA"
ENV_DATA_URL = "GCA_LITE_DATA_URL"
CACHE_APP_NAME = "gca-lite"


class DataNotFoundError(DataError, FileNotFoundError):
    """The files of a registered dataset are not on disk (catchable as either base class)."""


class UnknownDatasetError(DataError):
    """A dataset name that is neither registered, synthetic, nor a user's dataset on disk."""

    exit_code = 2  # a usage error: the command names something that does not exist


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset: ``path`` is relative to the data folder and to the base URL."""

    path: str  # e.g. "afk/afk_50_preprocessed.txt"
    sha256: str

    @property
    def basename(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class DatasetEntry:
    """A downloadable dataset: its files, checksums and a one-line description."""

    name: str
    description: str
    files: tuple[DataFile, ...]

    def url(self, file: DataFile, base_url: str | None = None) -> str:
        base = base_url or os.environ.get(ENV_DATA_URL) or DEFAULT_BASE_URL
        return f"{base.rstrip('/')}/{file.path}"


def _abxi_entry(name: str, sequence_sha: str, map_sha: str, description: str) -> DatasetEntry:
    return DatasetEntry(name=name, description=description, files=(
        DataFile(f"{name}/{name}_50_preprocessed.txt", sequence_sha),
        DataFile(f"{name}/map_item_50.txt", map_sha),
    ))


# Checksums: /work/shared/data/SHA256SUMS = ABXI.md section 2.1 (files at ABXI commit 72e52c9).
REGISTRY: dict[str, DatasetEntry] = {
    "afk": _abxi_entry(
        "afk",
        "5f9856f574879920a70c93461add1ebc1c997b1ce6d626ba8d475315f53a4a15",
        "64a939f71c0c48ba181d6d24e384af1160812bdf244f20c58ef101f5fc54b3c3",
        "Amazon 2014: A = Grocery and Gourmet Food, B = Home and Kitchen (ABXI release)",
    ),
    "abe": _abxi_entry(
        "abe",
        "e13235003725700fdc709eb78a8865bd7e4ab75dc28ae569f7a4cebcdab1e33b",
        "4e144f3fea1a5e8037cd56167a084ce4d73c6ccc123187055470b3da9818de74",
        "Amazon 2014: A = Beauty, B = Electronics (ABXI release)",
    ),
}


# ---------------------------------------------------------------------- lookup helpers
def get_entry(name: str, registry: Mapping[str, DatasetEntry] | None = None) -> DatasetEntry:
    """Registry entry of ``name``; an unknown name raises :class:`DataError` listing known ones."""
    reg = REGISTRY if registry is None else registry
    if name not in reg:
        known = ", ".join(sorted(reg)) or "(none)"
        raise UnknownDatasetError(f"unknown dataset {name!r}; downloadable datasets are: {known} "
                                  "(synthetic datasets are generated in code, not downloaded)")
    return reg[name]


def data_home(data_dir: str | Path | None = None) -> Path:
    """Root data folder: ``data_dir`` > env ``GCA_LITE_DATA`` > per-user cache folder."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    if env:  # an empty variable means "unset", not the current directory
        return Path(env).expanduser()
    import platformdirs  # imported lazily: only needed when falling back to the cache

    return Path(platformdirs.user_cache_dir(CACHE_APP_NAME))


def _candidate_folders(root: Path, name: str) -> list[Path]:
    # The nested layout wins: it is what download() writes and what the shared folder uses.
    return [root / name, root]


def _verify(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(f"{path}: SHA-256 mismatch (expected {expected}, got {actual}); the file "
                        "is corrupt, truncated or another version; delete it and download again")


# ---------------------------------------------------------------------- public API
def locate(name: str, data_dir: str | Path | None = None, *,
           registry: Mapping[str, DatasetEntry] | None = None) -> Path:
    """Folder holding the verified files of ``name``.

    Looks in ``<root>/<name>/`` then ``<root>/`` (``root`` from :func:`data_home`). The first
    folder holding any of the files must hold all of them with the registered SHA-256.

    Raises:
        DataNotFoundError: no file present (the message says how to download).
        DataError: a file is present with the wrong checksum, or only some files are present.
    """
    entry = get_entry(name, registry)
    root = data_home(data_dir)
    for folder in _candidate_folders(root, name):
        present = [f for f in entry.files if (folder / f.basename).is_file()]
        if not present:
            continue
        missing = [f.basename for f in entry.files if f not in present]
        if missing:
            raise DataNotFoundError(f"{folder}: dataset {name!r} is incomplete, missing "
                                    f"{', '.join(missing)}; run `gca-lite data download {name}`")
        for f in entry.files:
            _verify(folder / f.basename, f.sha256)
        return folder
    raise DataNotFoundError(
        f"dataset {name!r} not found in {root / name} or {root}; "
        f"run `gca-lite data download {name}` "
        f"(or gca_lite.data.registry.download({name!r})), or point {ENV_DATA_DIR} / data_dir at a "
        "folder holding the files")


def download(name: str, data_dir: str | Path | None = None, progress: bool = True,
             base_url: str | None = None, *,
             registry: Mapping[str, DatasetEntry] | None = None) -> Path:
    """Download ``name`` into ``<data_home>/<name>/`` with pooch and return that folder.

    Files already present with the right checksum are not downloaded again (pooch compares the
    hash first); a present file with a wrong checksum is replaced by a fresh, verified download.
    ``base_url`` (or env ``GCA_LITE_DATA_URL``) replaces the pinned GitHub URL, e.g. a mirror.
    A download whose checksum does not match raises :class:`DataError` and leaves no file behind.
    """
    entry = get_entry(name, registry)
    try:  # already usable (either layout): no network at all
        return locate(name, data_dir, registry=registry)
    except DataError:
        pass  # missing or corrupt: fetch into the nested layout below
    folder = data_home(data_dir) / name
    for path in (folder.parent, folder):  # before any network access
        if path.exists() and not path.is_dir():
            raise DataError(f"{path}: is a file; the dataset goes into a folder of that name")
    for f in entry.files:
        _fetch(entry.url(f, base_url), folder, f, progress)
    return locate(name, data_dir, registry=registry)


def _fetch(url: str, folder: Path, file: DataFile, progress: bool) -> None:
    import pooch  # lazy: importing pooch pulls in requests, only needed to download
    import requests

    try:
        pooch.retrieve(url, known_hash=f"sha256:{file.sha256}", fname=file.basename,
                       path=folder, progressbar=progress)
    except ValueError as e:  # pooch's hash mismatch; it already deleted the download
        raise DataError(f"{url}: downloaded file failed verification: {e}") from None
    except requests.exceptions.RequestException as e:
        raise DataError(f"{url}: download failed ({e}); check the network, or set "
                        f"{ENV_DATA_URL} to a mirror / copy the files into {folder}") from None


def find_user_dataset(name: str, data_dir: str | Path | None = None) -> Path | None:
    """Folder holding ``<name>_50_preprocessed.txt`` (a user's own dataset in ABXI's format, as
    ``gca-lite data preprocess`` writes it): ``<root>/<name>/`` or ``<root>/``; None if neither."""
    root = data_home(data_dir)
    return next((f for f in _candidate_folders(root, name) if sequence_file(f, name).is_file()), None)


def load(name: str, data_dir: str | Path | None = None, download: bool = False, *,
         registry: Mapping[str, DatasetEntry] | None = None) -> CDSRDataset:
    """Read a registered dataset after verifying its files; ``download=True`` fetches if missing.
    A name the registry does not know is looked up as a user's own dataset (no checksum to verify)."""
    reg = REGISTRY if registry is None else registry
    if name not in reg:
        folder = find_user_dataset(name, data_dir)
        if folder is None:
            root = data_home(data_dir)
            raise UnknownDatasetError(
                f"unknown dataset {name!r}: not one of {', '.join(sorted(reg)) or '(none)'} or synthetic-*, and "
                f"no {sequence_file(Path(), name)} in {root / name} or {root} (make one from raw ratings with "
                f"`gca-lite data preprocess --name {name} --out FOLDER`, then pass --data-dir FOLDER)")
        return read_abxi(folder, name)
    try:
        folder = locate(name, data_dir, registry=registry)
    except DataNotFoundError:
        if not download:
            raise
        folder = _download(name, data_dir, registry=registry)
    return read_abxi(folder, name)


_download = download  # load()'s ``download`` flag shadows the function inside load
