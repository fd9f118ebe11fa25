"""Raw Amazon-2014 rating CSVs (two domains) -> :class:`CDSRDataset`, following ABXI's recipe.

ABXI's ``data/prepare_amazon.py`` (ABXI.md section 2.2), with ``k_item = 10``, ``k_user = 5``,
``len_max = 50``:

1. drop item ids present in both domains;
2. keep users present in both domains; concatenate A rows then B rows and sort by
   (user, timestamp) *stably*, so within equal timestamps A rows precede B rows and each domain's
   file order is kept (the released files show exactly this tie order, ABXI.md section 2.4);
3. drop items with fewer than ``k_item`` interactions, counted on the mixed data;
4. keep each user's last ``len_max`` mixed interactions;
5. keep users with at least ``k_user`` interactions in each domain among those;
6. re-index users (0-based), then A items (``1..n_A``), then B items (``n_A+1..``), each by
   sorted raw id.

Step 3 runs before 4-5, so some final items have fewer than ``k_item`` interactions; this is
ABXI's behaviour and is kept on purpose. Input CSVs have no header: ``user,item,rating,timestamp``;
the rating is dropped. Ids are read as strings, so ids that look numeric keep leading zeros.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .abxi_io import write_abxi
from .dataset import DOMAIN_A, DOMAIN_B, CDSRDataset, DataError

RAW_COLUMNS = ("user", "item", "rating", "timestamp")


# ---------------------------------------------------------------------- reading
def _physical_line(path: Path, row: int) -> tuple[int, str]:
    """(1-based line number, text) of data row ``row``; pandas skips blank lines, so count them."""
    seen = -1
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                seen += 1
                if seen == row:
                    return lineno, line.rstrip("\r\n")
    return row + 1, ""  # not reached for rows pandas produced


def _row_error(path: Path, row: int, problem: str) -> DataError:
    lineno, text = _physical_line(path, row)
    return DataError(f"{path}, line {lineno}: {problem} (line: {text[:120]!r})")


def read_ratings(path: str | Path) -> pd.DataFrame:
    """Read one domain's ratings CSV into columns ``user, item, timestamp`` (int64 timestamps)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: ratings file not found")
    try:
        # dtype=str + no NA parsing: ids stay exactly as written; empty fields stay "".
        df = pd.read_csv(path, header=None, dtype=str, keep_default_na=False, na_values=[])
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty") from None
    except pd.errors.ParserError as e:  # a later line has more fields than the first
        raise DataError(f"{path}: wrong number of columns, expected 4 "
                        f"(user,item,rating,timestamp; no header): {e}") from None
    if df.shape[1] != len(RAW_COLUMNS):
        raise DataError(f"{path}, line 1: {df.shape[1]} columns, expected 4 "
                        "(user,item,rating,timestamp; no header)")
    df.columns = list(RAW_COLUMNS)
    # A short line is padded with "" by pandas; flag it (ids and timestamp are required).
    empty = (df["user"] == "") | (df["item"] == "") | (df["timestamp"] == "")
    if empty.any():
        raise _row_error(path, int(np.flatnonzero(empty.to_numpy())[0]),
                         "missing field; expected 4 columns user,item,rating,timestamp")
    return pd.DataFrame({"user": df["user"], "item": df["item"],
                         "timestamp": _parse_timestamps(df["timestamp"], path)})


def _parse_timestamps(column: pd.Series, path: Path) -> np.ndarray:
    """Integer Unix seconds; the first bad value raises naming its line."""
    try:  # fast path: a strict vectorised cast (to_numeric on strings is ~10x slower)
        ts = column.astype(np.int64).to_numpy()
        bad = ts < 0
    except (ValueError, TypeError, OverflowError):  # slow path: find out which value is bad
        parsed = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(parsed) | (parsed < 0) | (parsed % 1 != 0)
        ts = np.where(bad, 0, parsed).astype(np.int64)  # e.g. "1.4e9" is still a whole second
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise _row_error(path, row, f"timestamp {column.iloc[row]!r} is not a non-negative "
                                    "integer (Unix seconds; the file must have no header)")
    return ts


# ---------------------------------------------------------------------- recipe steps
def _nonempty(df: pd.DataFrame, step: str) -> pd.DataFrame:
    if df.empty:
        raise DataError(f"preprocessing left no interactions after step '{step}'")
    return df


def encode_ids(df_a: pd.DataFrame, df_b: pd.DataFrame
               ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray]:
    """Replace raw user/item ids by integer codes shared by both domains.

    ``factorize(sort=True)`` numbers ids in sorted (code-point) order, the order of ABXI's
    ``sorted(set(...))``, so ranking codes later equals ranking raw ids; integer columns make
    the set operations, counts and group-bys below fast on millions of rows.
    Returns the coded frames and the vocabularies (``vocab[code] = raw id``).
    """
    coded_a, coded_b = df_a.copy(), df_b.copy()
    vocabs = []
    for col in ("user", "item"):
        codes, vocab = pd.factorize(pd.concat([df_a[col], df_b[col]], ignore_index=True),
                                    sort=True)
        coded_a[col], coded_b[col] = codes[:len(df_a)], codes[len(df_a):]
        vocabs.append(np.asarray(vocab, dtype=object))
    return coded_a, coded_b, vocabs[0], vocabs[1]


def _in_both(codes_a: np.ndarray, codes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row masks: does each row's code also occur in the other frame? (O(n) table lookups)"""
    size = max(codes_a.max(initial=-1), codes_b.max(initial=-1)) + 1
    seen_a = np.bincount(codes_a, minlength=size) > 0
    seen_b = np.bincount(codes_b, minlength=size) > 0
    return seen_b[codes_a], seen_a[codes_b]


def drop_shared_items(df_a: pd.DataFrame, df_b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Step 1: an item id in both domains would have no single domain, so ABXI drops it."""
    shared_a, shared_b = _in_both(df_a["item"].to_numpy(), df_b["item"].to_numpy())
    step = "drop item ids present in both domains"
    return (_nonempty(df_a[~shared_a], step + " (domain A)"),
            _nonempty(df_b[~shared_b], step + " (domain B)"))


def mix_overlapping_users(df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.DataFrame:
    """Step 2: users of both domains, one mixed frame sorted stably by (user, timestamp)."""
    both_a, both_b = _in_both(df_a["user"].to_numpy(), df_b["user"].to_numpy())
    mixed = pd.concat([df_a[both_a].assign(domain=DOMAIN_A), df_b[both_b].assign(domain=DOMAIN_B)],
                      ignore_index=True)
    mixed = _nonempty(mixed, "keep users present in both domains")
    # np.lexsort is a stable sort by definition (last key = primary): ties keep A-then-B
    # concatenation order and each file's order, as the released data shows.
    order = np.lexsort((mixed["timestamp"].to_numpy(), mixed["user"].to_numpy()))
    return mixed.iloc[order].reset_index(drop=True)


def drop_rare_items(mixed: pd.DataFrame, k_item: int) -> pd.DataFrame:
    """Step 3: keep items with >= k_item interactions, counted over both domains' rows."""
    counts = np.bincount(mixed["item"].to_numpy())[mixed["item"].to_numpy()]
    return _nonempty(mixed[counts >= k_item], f"drop items with < {k_item} interactions")


def trim_and_filter_users(mixed: pd.DataFrame, len_max: int, k_user: int) -> pd.DataFrame:
    """Steps 4-5: each user's last len_max rows, then users with >= k_user rows in each domain."""
    from_end = mixed.groupby("user", sort=False).cumcount(ascending=False)
    recent = mixed[(from_end < len_max).to_numpy()]
    users, domains = recent["user"].to_numpy(), recent["domain"].to_numpy()
    n_a = np.bincount(users[domains == DOMAIN_A], minlength=users.max() + 1)
    n_b = np.bincount(users[domains == DOMAIN_B], minlength=users.max() + 1)
    keep = (n_a >= k_user) & (n_b >= k_user)
    return _nonempty(recent[keep[users]],
                     f"keep users with >= {k_user} interactions in each domain "
                     f"(within their last {len_max})")


def reindex(mixed: pd.DataFrame, name: str, user_vocab: np.ndarray, item_vocab: np.ndarray
            ) -> tuple[CDSRDataset, list[str], list[str]]:
    """Step 6: users, then A items, then B items, numbered by sorted raw id (= sorted code)."""
    user_codes, item_codes = mixed["user"].to_numpy(), mixed["item"].to_numpy()
    domains = mixed["domain"].to_numpy()
    kept_users = np.unique(user_codes)  # np.unique sorts: code order = raw-id order
    items_a = np.unique(item_codes[domains == DOMAIN_A])
    items_b = np.unique(item_codes[domains == DOMAIN_B])
    new_item = np.zeros(len(item_vocab), dtype=np.int64)
    new_item[np.concatenate([items_a, items_b])] = np.arange(1, len(items_a) + len(items_b) + 1)
    users = np.searchsorted(kept_users, user_codes)
    # Rows are already grouped by user in sorted raw-id order; a stable sort only guarantees it
    # without touching the chronological order inside each user.
    order = np.argsort(users, kind="stable")
    offsets = np.zeros(len(kept_users) + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=len(kept_users)), out=offsets[1:])
    ds = CDSRDataset(name, len(items_a), len(items_b), new_item[item_codes][order],
                     mixed["timestamp"].to_numpy(dtype=np.int64)[order], offsets)
    item_ids = [str(x) for x in item_vocab[np.concatenate([items_a, items_b])]]
    return ds, item_ids, [str(x) for x in user_vocab[kept_users]]


# ---------------------------------------------------------------------- entry points
def preprocess_amazon(csv_a: str | Path, csv_b: str | Path, name: str, k_item: int = 10,
                      k_user: int = 5, len_max: int = 50
                      ) -> tuple[CDSRDataset, list[str], list[str]]:
    """Apply ABXI's recipe to two ratings CSVs (A, B).

    Returns ``(dataset, item_ids, user_ids)``: ``item_ids[k]`` is the raw id of item index
    ``k + 1`` and ``user_ids[u]`` the raw id of user ``u`` (what :func:`write` needs for the maps).
    """
    if k_item < 1 or k_user < 1 or len_max < 2:
        raise ValueError(f"need k_item >= 1, k_user >= 1, len_max >= 2; got k_item={k_item}, "
                         f"k_user={k_user}, len_max={len_max}")
    df_a, df_b, user_vocab, item_vocab = encode_ids(read_ratings(csv_a), read_ratings(csv_b))
    df_a, df_b = drop_shared_items(df_a, df_b)
    mixed = mix_overlapping_users(df_a, df_b)
    mixed = drop_rare_items(mixed, k_item)
    mixed = trim_and_filter_users(mixed, len_max, k_user)
    ds, item_ids, user_ids = reindex(mixed, name, user_vocab, item_vocab)
    params = dict(k_item=k_item, k_user=k_user, len_max=len_max)
    ds = ds.replace(meta={"source": [str(csv_a), str(csv_b)], "recipe": "ABXI prepare_amazon",
                          **params})
    return ds, item_ids, user_ids


def write(ds: CDSRDataset, folder: str | Path, item_ids: list[str] | None = None,
          user_ids: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``ds`` in ABXI's format (sequence file, item map, and user map when ids are given)."""
    return write_abxi(ds, folder, item_ids=item_ids, user_ids=user_ids)
