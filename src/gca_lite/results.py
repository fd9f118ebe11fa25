"""Write and read one run's results: ``record.json`` plus ``ranks.npz`` (per-user test ranks).

Files are written atomically (temporary file + rename), so an interrupted run never leaves a half
record; the record stores the SHA-256 of its ranks file, so a damaged pair is detected on read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .evaluate import RankCounts

RECORD, RANKS = "record.json", "ranks.npz"


class CorruptRecord(ValueError):
    """A stored run is incomplete or inconsistent; the message names the file."""


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ranks_bytes(counts: dict[str, RankCounts], domain: np.ndarray) -> bytes:
    arrays = {"target_domain": domain.astype(np.int8)}
    for protocol, c in counts.items():
        arrays[f"{protocol}_greater"] = c.greater.astype(np.int32)
        arrays[f"{protocol}_equal"] = c.equal.astype(np.int32)
        arrays[f"{protocol}_n"] = c.n_candidates.astype(np.int32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def write_run(folder: str | Path, record: dict, counts: dict[str, RankCounts], domain: np.ndarray) -> Path:
    """Write ranks first, then the record that vouches for them (the record marks completion)."""
    folder = Path(folder)
    blob = ranks_bytes(counts, domain)
    _atomic_write(folder / RANKS, blob)
    record = {**record, "ranks_sha256": hashlib.sha256(blob).hexdigest()}
    _atomic_write(folder / RECORD, (json.dumps(record, indent=1, default=_json_default) + "\n").encode())
    return folder


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def read_run(folder: str | Path) -> tuple[dict, dict[str, RankCounts], np.ndarray]:
    """Load a run; raise :class:`CorruptRecord` if anything is missing or does not match."""
    folder = Path(folder)
    rec_path, ranks_path = folder / RECORD, folder / RANKS
    if not rec_path.is_file() or not ranks_path.is_file():
        raise CorruptRecord(f"{folder}: incomplete run (needs {RECORD} and {RANKS})")
    try:
        record = json.loads(rec_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptRecord(f"{rec_path}: unreadable JSON ({e})") from None
    blob = ranks_path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != record.get("ranks_sha256"):
        raise CorruptRecord(f"{ranks_path}: SHA-256 does not match the one in {RECORD}")
    with np.load(io.BytesIO(blob)) as z:
        domain = z["target_domain"].astype(np.int64)
        protocols = sorted({k.rsplit("_", 1)[0] for k in z.files if k != "target_domain"})
        counts = {p: RankCounts(z[f"{p}_greater"].astype(np.int64), z[f"{p}_equal"].astype(np.int64),
                                z[f"{p}_n"].astype(np.int64)) for p in protocols}
    return record, counts, domain
