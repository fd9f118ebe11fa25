"""ABXI text format reader/writer: a happy path and one test per kind of bad input.

Every error must name the offending file and, for the sequence file, the line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gca_lite.data.abxi_io import read_abxi, sha256_file, write_abxi
from gca_lite.data.dataset import DataError

# Two A items (1, 2) and two B items (3, 4).
GOOD_MAP = {"A1": [1, 0], "A2": [2, 0], "B1": [3, 1], "B2": [4, 1]}
GOOD_SEQ = "0 1|10 3|10 2|20\n1 4|5 2|6 3|6\n"


def _files(tmp_path: Path, seq: str | None = GOOD_SEQ, mapping: dict | str | None = None
           ) -> tuple[Path, Path]:
    """Write ``toy_50_preprocessed.txt`` and ``map_item_50.txt``; None leaves a file out."""
    seq_path, map_path = tmp_path / "toy_50_preprocessed.txt", tmp_path / "map_item_50.txt"
    if seq is not None:
        seq_path.write_text(seq)
    mapping = GOOD_MAP if mapping is None else mapping
    if mapping != "absent":
        map_path.write_text(mapping if isinstance(mapping, str) else json.dumps(mapping))
    return seq_path, map_path


def _error(tmp_path: Path, **kwargs) -> str:
    _files(tmp_path, **kwargs)
    with pytest.raises(DataError) as err:
        read_abxi(tmp_path, "toy")
    return str(err.value)


# ---------------------------------------------------------------------- happy path
def test_read_tiny_file(tmp_path) -> None:
    seq_path, map_path = _files(tmp_path)
    ds = read_abxi(tmp_path, "toy")
    assert (ds.name, ds.n_users, ds.n_items_a, ds.n_items_b) == ("toy", 2, 2, 2)
    np.testing.assert_array_equal(ds.items, [1, 3, 2, 4, 2, 3])
    np.testing.assert_array_equal(ds.timestamps, [10, 10, 20, 5, 6, 6])
    np.testing.assert_array_equal(ds.offsets, [0, 3, 6])
    np.testing.assert_array_equal(ds.domains, [0, 1, 0, 1, 0, 1])
    assert ds.meta["files"] == {seq_path.name: sha256_file(seq_path),
                                map_path.name: sha256_file(map_path)}


def test_write_then_read_is_identity(tmp_path) -> None:
    ds = read_abxi(_files(tmp_path)[0].parent, "toy")
    out = tmp_path / "out"
    write_abxi(ds, out, item_ids=list(GOOD_MAP), user_ids=["ua", "ub"])
    assert (out / "toy_50_preprocessed.txt").read_text() == GOOD_SEQ
    assert json.loads((out / "map_item_50.txt").read_text()) == GOOD_MAP
    back = read_abxi(out, "toy")
    assert back.checksum == ds.checksum  # identical bytes -> identical content checksum


# ---------------------------------------------------------------------- sequence file errors
@pytest.mark.parametrize("seq, line, problem", [
    ("0 1|10 3|x\n", 1, "malformed interaction '3|x'"),
    ("0 1|10 3-20\n", 1, "malformed interaction '3-20'"),
    (GOOD_SEQ.replace("1 4|5", "7 4|5"), 2, "user index must be 1"),
    ("0 1|10 9|20\n", 1, "item 9 is not in the item map"),
    ("0 1|10 0|20\n", 1, "item 0 is not in the item map"),
    ("0 1|10 2|20\n", 1, "user 0 has 2 domain-A and 0 domain-B"),
    ("0 1|10 3|20 2|15\n", 1, "timestamps decrease"),
    ("0 1|10 3|20\n\n1 2|1 4|2\n", 2, "empty line"),
    ("0\n", 1, "no interactions"),
])
def test_sequence_errors_name_file_and_line(tmp_path, seq, line, problem) -> None:
    msg = _error(tmp_path, seq=seq)
    assert f"toy_50_preprocessed.txt, line {line}: " in msg
    assert problem in msg


def test_user_with_one_domain_only(tmp_path) -> None:
    msg = _error(tmp_path, seq="0 1|10 3|10\n1 3|5 4|6\n")
    assert "toy_50_preprocessed.txt, line 2: user 1 has 0 domain-A and 2 domain-B" in msg


def test_empty_sequence_file(tmp_path) -> None:
    assert "toy_50_preprocessed.txt: file is empty" in _error(tmp_path, seq="\n")


def test_non_ascii_sequence_file(tmp_path) -> None:
    assert "toy_50_preprocessed.txt: non-ASCII" in _error(tmp_path, seq="0 1|10 3|1\u00e9\n")


# ---------------------------------------------------------------------- item map errors
@pytest.mark.parametrize("mapping, problem", [
    ({**GOOD_MAP, "B2": [4, 2]}, "entry 'B2' must be [index, domain] with domain 0 or 1"),
    ({**GOOD_MAP, "B2": 4}, "entry 'B2' must be [index, domain]"),
    ({**GOOD_MAP, "A2": [3, 0], "B1": [2, 1]}, "A items must take 1..2 and B items 3..4"),
    ({**GOOD_MAP, "B2": [5, 1]}, "item index 5 has domain 1"),  # gap at 4
    ({**GOOD_MAP, "B2": [3, 1]}, "item index 3 is used twice"),
    ([["A1", 1, 0]], "expected a JSON object"),
    ({}, "expected a JSON object"),
])
def test_map_errors_name_file(tmp_path, mapping, problem) -> None:
    msg = _error(tmp_path, mapping=mapping)
    assert msg.startswith(str(tmp_path / "map_item_50.txt") + ":")
    assert problem in msg


def test_truncated_map_json(tmp_path) -> None:
    text = json.dumps(GOOD_MAP)
    msg = _error(tmp_path, mapping=text[: len(text) // 2])
    assert "map_item_50.txt: not valid JSON (line 1" in msg and "truncated" in msg


def test_empty_map(tmp_path) -> None:
    assert "map_item_50.txt: file is empty" in _error(tmp_path, mapping=" \n")


# ---------------------------------------------------------------------- missing files
def test_missing_sequence_file(tmp_path) -> None:
    msg = _error(tmp_path, seq=None)
    assert str(tmp_path / "toy_50_preprocessed.txt") in msg and "not found" in msg


def test_missing_map_file(tmp_path) -> None:
    msg = _error(tmp_path, mapping="absent")
    assert str(tmp_path / "map_item_50.txt") in msg and "not found" in msg


def test_trailing_newlines_are_accepted(tmp_path) -> None:
    _files(tmp_path, seq=GOOD_SEQ + "\n\n")
    assert read_abxi(tmp_path, "toy").n_users == 2


def test_boolean_in_map_is_rejected(tmp_path) -> None:
    assert "domain 0 or 1" in _error(tmp_path, mapping={**GOOD_MAP, "B2": [4, True]})


def test_writer_rejects_duplicate_raw_ids(tmp_path) -> None:
    ds = read_abxi(_files(tmp_path)[0].parent, "toy")
    with pytest.raises(ValueError, match="item_ids contains duplicate"):
        write_abxi(ds, tmp_path / "out", item_ids=["x", "x", "y", "z"])
