"""ABXI's preprocessing recipe on a hand-made raw fixture where every rule changes the result.

Parameters: k_item = 2, k_user = 2, len_max = 6. Raw ids (user / item):

* ``x1`` is in both domains (A by U_b, B by U_a): dropped in step 1, although frequent enough.
* ``U_single`` has only domain-A rows: dropped in step 2, and its rows must not count in step 3
  (with them, ``aR`` would reach 2 interactions).
* ``aR`` has one interaction among overlapping users: dropped in step 3.
* ``U_a`` has 8 rows: its two oldest (``a1``, ``b7``) are cut by len_max = 6.
* ``U_c`` has 3 A rows overall but only 1 among its last 6: dropped in step 5 (so step 5 must
  count within the trimmed sequence).
* ``U_d`` has 1 B row: dropped in step 5. Its and U_c's rows still counted in step 3, which is
  why ``a4`` survives with a single final interaction.
* ``U_b`` has a9, a3 (A, in this file order) and b2 (B) all at t = 100: the stable sort keeps
  a9 before a3 (file order, not id order) and puts the A rows before the B row; its B rows are
  out of chronological order in the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gca_lite.data.abxi_io import read_abxi
from gca_lite.data.dataset import DataError
from gca_lite.data.preprocess import preprocess_amazon, write

RAW_A = """\
U_b,a9,5.0,100
U_b,a3,4.0,100
U_b,aR,3.0,300
U_single,aR,5.0,50
U_single,a3,5.0,60
U_b,x1,5.0,400
U_a,a1,5.0,10
U_a,a3,5.0,20
U_a,a9,5.0,40
U_a,a4,5.0,60
U_c,a1,1.0,1
U_c,a4,1.0,2
U_c,a9,1.0,8
U_d,a1,2.0,5
U_d,a4,2.0,6
"""

RAW_B = """\
U_b,b5,5.0,200
U_b,b2,4.0,100
U_a,b7,5.0,15
U_a,b2,5.0,30
U_a,x1,5.0,45
U_a,b5,5.0,50
U_a,b8,5.0,70
U_c,b7,1.0,3
U_c,b8,1.0,4
U_c,b2,1.0,5
U_c,b5,1.0,6
U_c,b9,1.0,7
U_d,b9,2.0,7
"""

PARAMS = dict(k_item=2, k_user=2, len_max=6)


def _write(tmp_path: Path, a: str = RAW_A, b: str = RAW_B) -> tuple[Path, Path]:
    pa, pb = tmp_path / "ratings_A.csv", tmp_path / "ratings_B.csv"
    pa.write_text(a)
    pb.write_text(b)
    return pa, pb


@pytest.fixture
def raw(tmp_path: Path) -> tuple[Path, Path]:
    return _write(tmp_path)


def test_recipe_exact_result(raw) -> None:
    ds, item_ids, user_ids = preprocess_amazon(*raw, "toy", **PARAMS)
    assert user_ids == ["U_a", "U_b"]  # sorted raw ids; U_c, U_d, U_single dropped
    assert item_ids == ["a3", "a4", "a9", "b2", "b5", "b8"]  # A items 1..3, then B items 4..6
    assert (ds.name, ds.n_items_a, ds.n_items_b) == ("toy", 3, 3)
    items_u0, ts_u0 = ds.sequence(0)  # U_a: last 6 of 8 (a1@10 and b7@15 cut)
    np.testing.assert_array_equal(items_u0, [1, 4, 3, 5, 2, 6])
    np.testing.assert_array_equal(ts_u0, [20, 30, 40, 50, 60, 70])
    items_u1, ts_u1 = ds.sequence(1)  # U_b: a9, a3 (file order), then b2 at the same time
    np.testing.assert_array_equal(items_u1, [3, 1, 4, 5])
    np.testing.assert_array_equal(ts_u1, [100, 100, 100, 200])
    assert ds.meta["k_item"] == 2 and ds.meta["len_max"] == 6


def test_each_parameter_matters(raw) -> None:
    # A longer cap keeps U_a's oldest rows and U_c's third A row (so U_c stays).
    ds, items, users = preprocess_amazon(*raw, "toy", k_item=2, k_user=2, len_max=8)
    assert users == ["U_a", "U_b", "U_c"] and "a1" in items and "b7" in items
    # k_user = 1 keeps U_d; k_item = 1 keeps the rare aR (U_b's only A row at t = 300).
    _, _, users = preprocess_amazon(*raw, "toy", k_item=2, k_user=1, len_max=6)
    assert "U_d" in users
    _, items, _ = preprocess_amazon(*raw, "toy", k_item=1, k_user=2, len_max=6)
    assert "aR" in items and "x1" not in items


def test_roundtrip_through_abxi_files(raw, tmp_path) -> None:
    ds, item_ids, user_ids = preprocess_amazon(*raw, "toy", **PARAMS)
    seq_path, map_path = write(ds, tmp_path / "out", item_ids, user_ids)
    assert seq_path.read_text() == "0 1|20 4|30 3|40 5|50 2|60 6|70\n1 3|100 1|100 4|100 5|200\n"
    back = read_abxi(tmp_path / "out", "toy")
    assert (back.n_items_a, back.n_items_b) == (3, 3)
    for arr in ("items", "timestamps", "offsets"):
        np.testing.assert_array_equal(getattr(back, arr), getattr(ds, arr))
    assert '"U_b": 1' in (tmp_path / "out" / "map_user_50.txt").read_text()
    assert '"a9": [3, 0]' in map_path.read_text() and '"b2": [4, 1]' in map_path.read_text()


def test_numeric_looking_ids_keep_leading_zeros(tmp_path) -> None:
    a = "007,0001,5,1\n007,0002,5,2\n"
    b = "007,0003,5,3\n007,0004,5,4\n"
    _, items, users = preprocess_amazon(*_write(tmp_path, a, b), "ids", k_item=1, k_user=2)
    assert users == ["007"] and items == ["0001", "0002", "0003", "0004"]


# ---------------------------------------------------------------------- bad input
def test_missing_file(tmp_path) -> None:
    pa, _ = _write(tmp_path)
    with pytest.raises(DataError, match=r"nope\.csv: ratings file not found"):
        preprocess_amazon(pa, tmp_path / "nope.csv", "toy")


def test_wrong_number_of_columns(tmp_path) -> None:
    pa, pb = _write(tmp_path, b="U_b,b5,200\nU_a,b2,30\n")
    with pytest.raises(DataError, match=r"ratings_B\.csv, line 1: 3 columns, expected 4"):
        preprocess_amazon(pa, pb, "toy")
    pa, pb = _write(tmp_path, b=RAW_B + "U_a,b9,5.0,80,extra\n")
    with pytest.raises(DataError, match=r"ratings_B\.csv: wrong number of columns"):
        preprocess_amazon(pa, pb, "toy")
    pa, pb = _write(tmp_path, a=RAW_A.replace("U_c,a4,1.0,2\n", "U_c,a4,1.0\n"))
    with pytest.raises(DataError, match=r"ratings_A\.csv, line 12: missing field"):
        preprocess_amazon(pa, pb, "toy")


def test_non_numeric_timestamp_names_line(tmp_path) -> None:
    lines = RAW_A.splitlines(keepends=True)
    lines.insert(2, "\n")  # a blank line must not shift the reported line number
    lines[4] = "U_b,aR,3.0,yesterday\n"
    pa, pb = _write(tmp_path, a="".join(lines))
    with pytest.raises(DataError, match=r"ratings_A\.csv, line 5: timestamp 'yesterday'"):
        preprocess_amazon(pa, pb, "toy")
    pa, pb = _write(tmp_path, a="user,item,rating,timestamp\n" + RAW_A)
    with pytest.raises(DataError, match=r"ratings_A\.csv, line 1: .*no header"):
        preprocess_amazon(pa, pb, "toy")


def test_empty_file(tmp_path) -> None:
    pa, pb = _write(tmp_path, b="")
    with pytest.raises(DataError, match=r"ratings_B\.csv: file is empty"):
        preprocess_amazon(pa, pb, "toy")


@pytest.mark.parametrize("a, b, params, step", [
    ("u1,i1,5,1\n", "u2,i1,5,1\n", {}, "drop item ids present in both domains"),
    ("u1,i1,5,1\n", "u2,i2,5,1\n", {}, "keep users present in both domains"),
    (RAW_A, RAW_B, dict(k_item=100), "drop items with < 100 interactions"),
    (RAW_A, RAW_B, dict(k_item=2, k_user=4, len_max=6), "keep users with >= 4 interactions in each domain"),
])
def test_empty_result_names_step(tmp_path, a, b, params, step) -> None:
    with pytest.raises(DataError, match=step):
        preprocess_amazon(*_write(tmp_path, a, b), "toy", **params)


def test_bad_parameters(raw) -> None:
    with pytest.raises(ValueError, match="len_max"):
        preprocess_amazon(*raw, "toy", len_max=1)
