"""Write and read one run's results: ``record.json`` plus ``ranks.npz`` (per-user test ranks).

Files are written atomically (temporary file + rename), so an interrupted run never leaves a half
record. The record stores the SHA-256 of its ranks file and of its own content (``record_sha256``,
over the canonical JSON of every other field), so an edited record or a damaged pair is detected
on read. Records written before the content checksum existed have none: they are read as
*legacy, unverified* (their ranks are still checked). Every problem raises :class:`CorruptRecord`
naming the file.
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
#: Keys every stored record must have (what sweep, report and rerun read).
REQUIRED_KEYS = ("config", "config_hash", "variant", "dataset", "seed", "test", "ranks_sha256")


class CorruptRecord(ValueError):
    """A stored run is incomplete or inconsistent; the message names the file."""


def default_file_mode() -> int:
    """0666 minus the process umask: what ``open()`` would give a new file (mkstemp gives 0600)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename. The file gets the usual
    permissions (0666 minus the umask), not mkstemp's private 0600: a store shared between users
    (the Dask setup) must be readable by all of them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), default_file_mode())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(folder: str | Path, what: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written there, before any long work
    whose result would otherwise be lost; :class:`~gca_lite.errors.CliError` names ``what`` (a flag)."""
    from .errors import CliError

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise CliError(f"{what} {folder}: cannot write there ({e.strerror or e})") from None
    return folder


def ranks_bytes(counts: dict[str, RankCounts], domain: np.ndarray) -> bytes:
    arrays = {"target_domain": domain.astype(np.int8)}
    for protocol, c in counts.items():
        arrays[f"{protocol}_greater"] = c.greater.astype(np.int32)
        arrays[f"{protocol}_equal"] = c.equal.astype(np.int32)
        arrays[f"{protocol}_n"] = c.n_candidates.astype(np.int32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def record_checksum(record: dict) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no spaces) of ``record`` without ``record_sha256``."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _sealed(record: dict, path: Path) -> bytes:
    """``record`` as the bytes of a record.json, with ``record_sha256`` over exactly what a reader
    will load (a JSON round trip first); NaN or infinity is refused (not valid JSON elsewhere)."""
    try:
        record = json.loads(json.dumps(record, default=_json_default, allow_nan=False))
    except ValueError as e:
        raise ValueError(f"{path}: the record holds a non-finite number ({e})") from None
    record["record_sha256"] = record_checksum(record)
    return (json.dumps(record, indent=1) + "\n").encode()


def write_run(folder: str | Path, record: dict, counts: dict[str, RankCounts], domain: np.ndarray) -> Path:
    """Write ranks first, then the record that vouches for them (the record marks completion)."""
    folder = Path(folder)
    blob = ranks_bytes(counts, domain)
    sealed = _sealed({**record, "ranks_sha256": hashlib.sha256(blob).hexdigest()}, folder / RECORD)
    _atomic_write(folder / RANKS, blob)
    _atomic_write(folder / RECORD, sealed)
    return folder


def rewrite_record(folder: str | Path, record: dict) -> Path:
    """Replace a run's record after a deliberate change (a migration, a test's scenario), its
    content checksum recomputed; any other edit of a record makes the run corrupt."""
    path = Path(folder) / RECORD
    _atomic_write(path, _sealed(record, path))
    return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def read_record(path: Path) -> dict:
    """The record at ``path``: a JSON object with the required keys and, if it has one, a matching
    content checksum; else :class:`CorruptRecord` naming the file and the problem."""
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptRecord(f"{path}: unreadable JSON ({e})") from None
    except OSError as e:
        raise CorruptRecord(f"{path}: cannot read ({e.strerror})") from None
    if not isinstance(record, dict):
        raise CorruptRecord(f"{path}: expected a JSON object, found {type(record).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise CorruptRecord(f"{path}: missing {', '.join(missing)}")
    if "record_sha256" in record and record_checksum(record) != record["record_sha256"]:
        raise CorruptRecord(f"{path}: content does not match its record_sha256 (edited after it was written)")
    test = record["test"]
    if not isinstance(test, dict) or not test or not all(isinstance(m, dict) for m in test.values()):
        raise CorruptRecord(f"{path}: 'test' must map each protocol to its metrics")
    return record


def _read_ranks(path: Path, blob: bytes, record: dict) -> tuple[dict[str, RankCounts], np.ndarray]:
    """Parse ``ranks.npz`` and check it against the record: one value per test user and array,
    the protocols of the record, and the record's number of test users per domain."""
    try:
        with np.load(io.BytesIO(blob)) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:  # zip, npy header or compression damage: numpy raises many kinds
        raise CorruptRecord(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    domain = arrays.get("target_domain")
    if domain is None or domain.ndim != 1 or not np.isin(domain, (0, 1)).all():
        raise CorruptRecord(f"{path}: target_domain missing or not a vector of 0/1")
    counts = {}
    for protocol, metrics in record["test"].items():
        parts = [arrays.get(f"{protocol}_{s}") for s in ("greater", "equal", "n")]
        if any(a is None or a.shape != domain.shape or a.dtype.kind not in "iu" for a in parts):
            raise CorruptRecord(f"{path}: {protocol} ranks missing, or not one integer per test user "
                                f"({len(domain)})")
        for dom, code in (("A", 0), ("B", 1)):
            n = metrics.get(f"{dom}/n")
            if n is not None and n != int((domain == code).sum()):
                raise CorruptRecord(f"{path}: {int((domain == code).sum())} domain-{dom} test users, "
                                    f"the record's {protocol} metrics say {n}")
        counts[protocol] = RankCounts(*(a.astype(np.int64) for a in parts))
    extra = sorted({k.rsplit("_", 1)[0] for k in arrays if k != "target_domain"} - set(counts))
    if extra:
        raise CorruptRecord(f"{path}: ranks of protocol(s) {', '.join(extra)} that the record has no metrics for")
    return counts, domain.astype(np.int64)


def read_run(folder: str | Path) -> tuple[dict, dict[str, RankCounts], np.ndarray]:
    """Load a run; raise :class:`CorruptRecord` if anything is missing or does not match."""
    folder = Path(folder)
    rec_path, ranks_path = folder / RECORD, folder / RANKS
    if not rec_path.is_file() or not ranks_path.is_file():
        raise CorruptRecord(f"{folder}: incomplete run (needs {RECORD} and {RANKS})")
    record = read_record(rec_path)
    try:
        blob = ranks_path.read_bytes()
    except OSError as e:
        raise CorruptRecord(f"{ranks_path}: cannot read ({e.strerror})") from None
    if hashlib.sha256(blob).hexdigest() != record.get("ranks_sha256"):
        raise CorruptRecord(f"{ranks_path}: SHA-256 does not match the one in {RECORD}")
    counts, domain = _read_ranks(ranks_path, blob, record)
    return record, counts, domain
