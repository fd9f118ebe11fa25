"""Read and write ABXI's released text format.

``<name>_50_preprocessed.txt``: one line per user, ``u i1|t1 i2|t2 ...`` (``u`` = 0-based line
number, ``i`` = 1-based global item index, ``t`` = Unix seconds); the file order is authoritative,
also within equal timestamps, so nothing is re-sorted.
``map_item_50.txt``: JSON ``raw id -> [index, domain]`` with domain 0 = A, 1 = B.

Every problem raises :class:`DataError` naming the file, the line and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .dataset import CDSRDataset, DataError

MIN_PER_DOMAIN = 1  # a CDSR user needs both domains; ABXI's recipe guarantees >= 5


def sequence_file(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}_50_preprocessed.txt"


def map_file(folder: Path) -> Path:
    return Path(folder) / "map_item_50.txt"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_item_map(path: Path) -> tuple[int, int]:
    """Check the item map and return (n_items_a, n_items_b)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: item map not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start}); is the file damaged?") from None
    if not text.strip():
        raise DataError(f"{path}: file is empty")
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                        "is the file truncated?") from None
    if not isinstance(mapping, dict) or not mapping:
        raise DataError(f"{path}: expected a JSON object 'raw id -> [index, domain]'")
    index_domain = {}
    for raw, value in mapping.items():
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
                or value[1] not in (0, 1)):
            raise DataError(f"{path}: entry {raw!r} must be [index, domain] with domain 0 or 1, "
                            f"got {value!r}")
        if value[0] in index_domain:
            raise DataError(f"{path}: item index {value[0]} is used twice (second time by {raw!r})")
        index_domain[value[0]] = value[1]
    n_a = sum(1 for d in index_domain.values() if d == 0)
    n_b = len(index_domain) - n_a
    for index, domain in index_domain.items():
        expected = 0 if 1 <= index <= n_a else 1 if n_a < index <= n_a + n_b else None
        if expected != domain:
            raise DataError(f"{path}: item index {index} has domain {domain}, but A items must take "
                            f"1..{n_a} and B items {n_a + 1}..{n_a + n_b}")
    return n_a, n_b


def _parse_line(line: str, lineno: int, path: Path, n_items: int) -> tuple[list[int], list[int]]:
    tokens = line.split()
    if not tokens:
        raise DataError(f"{path}, line {lineno}: empty line")
    if tokens[0] != str(lineno - 1):
        raise DataError(f"{path}, line {lineno}: user index must be {lineno - 1} (the 0-based line "
                        f"number), got {tokens[0]!r}")
    if len(tokens) < 2:
        raise DataError(f"{path}, line {lineno}: user {tokens[0]} has no interactions")
    items, stamps = [], []
    for tok in tokens[1:]:
        item, sep, stamp = tok.partition("|")
        if not sep or not item.isdigit() or not stamp.isdigit():
            raise DataError(f"{path}, line {lineno}: malformed interaction {tok!r} "
                            "(expected item|timestamp with non-negative integers)")
        i = int(item)
        if not 1 <= i <= n_items:
            raise DataError(f"{path}, line {lineno}: item {i} is not in the item map "
                            f"(valid indices 1..{n_items})")
        items.append(i)
        stamps.append(int(stamp))
    return items, stamps


def read_abxi(folder: str | Path, name: str, *, sequences: Path | None = None,
              item_map: Path | None = None) -> CDSRDataset:
    """Load ``<folder>/<name>_50_preprocessed.txt`` and ``<folder>/map_item_50.txt``."""
    seq_path = Path(sequences) if sequences else sequence_file(folder, name)
    map_path = Path(item_map) if item_map else map_file(folder)
    if not seq_path.is_file():
        raise DataError(f"{seq_path}: sequence file not found")
    n_a, n_b = read_item_map(map_path)
    raw = seq_path.read_bytes()
    if not raw.strip():
        raise DataError(f"{seq_path}: file is empty")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        raise DataError(f"{seq_path}: non-ASCII byte at offset {e.start}; not an ABXI sequence file") from None
    lines = text.rstrip("\n").split("\n")  # trailing newlines end the file; inner blank lines are errors
    all_items, all_stamps = [], []
    offsets = np.zeros(len(lines) + 1, dtype=np.int64)
    for lineno, line in enumerate(lines, start=1):
        items, stamps = _parse_line(line, lineno, seq_path, n_a + n_b)
        n_in_a = sum(1 for i in items if i <= n_a)
        if n_in_a < MIN_PER_DOMAIN or len(items) - n_in_a < MIN_PER_DOMAIN:
            raise DataError(f"{seq_path}, line {lineno}: user {lineno - 1} has {n_in_a} domain-A and "
                            f"{len(items) - n_in_a} domain-B interactions; a cross-domain user needs both")
        if any(b < a for a, b in zip(stamps, stamps[1:])):
            raise DataError(f"{seq_path}, line {lineno}: timestamps decrease; the sequence must be "
                            "chronological")
        all_items.extend(items)
        all_stamps.extend(stamps)
        offsets[lineno] = len(all_items)
    shas = {seq_path.name: sha256_file(seq_path), map_path.name: sha256_file(map_path)}
    checksum = hashlib.sha256("".join(f"{k}:{v};" for k, v in sorted(shas.items())).encode()).hexdigest()
    return CDSRDataset(name=name, n_items_a=n_a, n_items_b=n_b,
                       items=np.asarray(all_items, dtype=np.int64),
                       timestamps=np.asarray(all_stamps, dtype=np.int64), offsets=offsets,
                       checksum=checksum, meta={"files": shas, "folder": str(seq_path.parent)})


def write_abxi(ds: CDSRDataset, folder: str | Path, *, item_ids: list[str] | None = None,
               user_ids: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``ds`` in ABXI's format; raw ids default to the index as a string.

    ``item_ids[k]`` is the raw id of item index ``k + 1``. When ``user_ids`` is given a
    ``map_user_50.txt`` (raw user id -> line number) is written too, as ABXI does.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if item_ids is not None and len(item_ids) != ds.n_items:
        raise ValueError(f"item_ids has {len(item_ids)} entries, dataset has {ds.n_items} items")
    ids = item_ids if item_ids is not None else [str(i) for i in range(1, ds.n_items + 1)]
    for kind, raw in (("item", ids), ("user", user_ids or [])):
        if len(set(raw)) != len(raw):
            raise ValueError(f"{kind}_ids contains duplicate raw ids; each must map to one index")
    seq_path, map_path = sequence_file(folder, ds.name), map_file(folder)
    with open(seq_path, "w", encoding="ascii", newline="\n") as f:
        for u in range(ds.n_users):
            items, stamps = ds.sequence(u)
            f.write(f"{u} " + " ".join(f"{i}|{t}" for i, t in zip(items.tolist(), stamps.tolist())) + "\n")
    mapping = {raw: [k + 1, int(k + 1 > ds.n_items_a)] for k, raw in enumerate(ids)}
    map_path.write_text(json.dumps(mapping), encoding="utf-8")
    if user_ids is not None:
        (folder / "map_user_50.txt").write_text(json.dumps({raw: u for u, raw in enumerate(user_ids)}),
                                                encoding="utf-8")
    return seq_path, map_path
