"""Issue 26: seeded random corruptions of data, grid, record and ranks files, fed to ``data stats``,
``sweep --dry-run``, ``report`` and ``rerun``. Whatever the damage: no traceback, an error or
warning that names the damaged file, and never a silently changed table.

The generator is seeded (no new test dependency); each case's id says which mutation hit which
file, so a failure reproduces with ``-k``; ``FUZZ_CASES=N`` runs N cases per kind (80 passed when written).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from gca_lite.cli import main

from conftest import SMOKE
from test_user_dataset import raw_ratings

SEED = 26
CASES = int(os.environ.get("FUZZ_CASES", 25))  # per kind of file


def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One random corruption of ``data`` that changes it: (name of the mutation, new bytes)."""
    while True:
        kind = ["truncate", "flip", "drop_line", "repeat_line", "insert", "digit", "empty"][rng.integers(7)]
        lines = data.splitlines(keepends=True)
        at = int(rng.integers(len(data))) if data else 0
        line = int(rng.integers(len(lines))) if lines else 0
        if kind == "truncate":
            out = data[:at]
        elif kind == "flip":
            out = data[:at] + bytes([data[at] ^ int(rng.integers(1, 256))]) + data[at + 1:]
        elif kind == "drop_line":
            out = b"".join(lines[:line] + lines[line + 1:])
        elif kind == "repeat_line":
            out = b"".join(lines[:line + 1] + lines[line:])
        elif kind == "insert":
            out = data[:at] + rng.bytes(int(rng.integers(1, 8))) + data[at:]
        elif kind == "digit":
            digits = [i for i, b in enumerate(data) if 48 <= b <= 57]
            if not digits:
                continue
            i = digits[int(rng.integers(len(digits)))]
            out = data[:i] + bytes([48 + (data[i] - 48 + int(rng.integers(1, 10))) % 10]) + data[i + 1:]
        else:
            out = b""
        if out != data:
            return kind, out


def _cli(capsys, args: list[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _assert_named_failure(code: int, err: str, path: Path) -> None:
    assert "Traceback" not in err, err
    assert code in (1, 2), f"exit {code}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gca-lite: error: "), err
    assert str(path) in lines[0] or path.name in lines[0], f"{path.name} not named: {err}"


def _cases(kind: str):
    return [pytest.param(i, id=f"{kind}-{i}") for i in range(CASES)]


# ---------------------------------------------------------------- data files -> data stats
@pytest.fixture(scope="module")
def own_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzzdata")
    a, b = raw_ratings(root)
    assert main(["data", "preprocess", "--csv-a", str(a), "--csv-b", str(b), "--name", "mine",
                 "--out", str(root / "data"), "--k-item", "2", "--k-user", "2"]) == 0
    return root / "data"


@pytest.mark.parametrize("case", _cases("data"))
def test_damaged_data_files(own_data, tmp_path, capsys, case):
    rng = np.random.default_rng([SEED, 1, case])
    folder = tmp_path / "data"
    shutil.copytree(own_data, folder)
    target = folder / ["mine_50_preprocessed.txt", "map_item_50.txt"][case % 2]
    kind, blob = mutate(target.read_bytes(), rng)
    target.write_bytes(blob)
    code, out, err = _cli(capsys, ["data", "stats", "mine", "--data-dir", str(folder), "--json"])
    if code == 0:  # still a well-formed dataset (a user's own data has no pinned checksum)
        assert json.loads(out)["users"] > 0 and "Traceback" not in err
    else:
        _assert_named_failure(code, err, target)


# ---------------------------------------------------------------- grid files -> sweep --dry-run
@pytest.mark.parametrize("case", _cases("grid"))
def test_damaged_grid_files(tmp_path, capsys, case):
    rng = np.random.default_rng([SEED, 2, case])
    grid = tmp_path / "grid.yaml"
    kind, blob = mutate(SMOKE.read_bytes(), rng)
    grid.write_bytes(blob)
    code, out, err = _cli(capsys, ["sweep", str(grid), "--store", str(tmp_path / "s"), "--dry-run"])
    if code == 0:  # still a valid grid: it lists its configs
        assert out and all(line.split()[0] == "missing" for line in out.splitlines()), out
        assert "Traceback" not in err
    else:
        _assert_named_failure(code, err, grid)


# ---------------------------------------------------------------- record and ranks files -> report, rerun
@pytest.fixture(scope="module")
def pristine(smoke_store, tmp_path_factory):
    """A copy of the smoke store and its report table before any damage."""
    root = tmp_path_factory.mktemp("fuzzstore") / "store"
    shutil.copytree(smoke_store.root, root)
    return root, _report(root)


def _report(root: Path) -> tuple[int, str, str]:
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["report", "--store", str(root), "--format", "csv", "--n-boot", "20", "--no-verdicts"])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_training(monkeypatch):
    import gca_lite.train

    class Trained(BaseException):  # past the CLI's handler of errors
        pass

    def train(*args, **kwargs):
        raise Trained

    monkeypatch.setattr(gca_lite.train, "run", train)
    return Trained


def _damage_run(root: Path, rng: np.random.Generator, file: str) -> tuple[Path, Path, bytes, dict]:
    """Corrupt ``file`` of a random run of the store at ``root``; returns (run folder, damaged file,
    its original bytes, the original record). For ranks files, every other case also recomputes the
    checksum in a legacy record, so that only the content checks can tell."""
    folders = sorted(p for p in root.glob("*/*") if (p / "record.json").is_file())
    folder = folders[int(rng.integers(len(folders)))]
    target = folder / file
    original = target.read_bytes()
    record = json.loads((folder / "record.json").read_text())
    kind, blob = mutate(original, rng)
    target.write_bytes(blob)
    if file == "ranks.npz" and rng.integers(2):
        resealed = {k: v for k, v in record.items() if k != "record_sha256"}
        resealed["ranks_sha256"] = hashlib.sha256(blob).hexdigest()
        (folder / "record.json").write_text(json.dumps(resealed))
    return folder, target, original, record


@pytest.mark.parametrize("file", ["record.json", "ranks.npz"])
@pytest.mark.parametrize("case", _cases("run"))
def test_damaged_run_files(pristine, capsys, no_training, case, file):
    root, (code0, table0, _) = pristine
    assert code0 == 0
    rng = np.random.default_rng([SEED, 3, case, len(file)])
    folder, target, original, record = _damage_run(root, rng, file)
    try:
        code, table, err = _report(root)
        assert code == 0 and "Traceback" not in err, err
        if table != table0:  # the damaged run left the table: never silently
            assert str(folder) in err and "warning" in err, err
        code, out, err = _cli(capsys, ["rerun", str(folder), "--quiet"])
    except no_training:  # rerun judged it sound and went on to train: the run must be intact
        assert table == table0
        if file == "record.json":
            assert json.loads(target.read_text()) == record
        else:  # damage numpy does not see (zip padding, a resealed checksum): the same arrays
            with np.load(io.BytesIO(original)) as before, np.load(target) as after:
                assert sorted(before.files) == sorted(after.files)
                assert all(np.array_equal(before[k], after[k]) for k in before.files)
    else:
        _assert_named_failure(code, err, folder)
    finally:
        target.write_bytes(original)
        (folder / "record.json").write_text(json.dumps(record, indent=1) + "\n")
