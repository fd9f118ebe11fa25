"""Issue 26: a tampered, broken or partial run folder is judged the same way by sweep, report and rerun
(``store.inspect_run``), with a message naming the file; the committed store stays readable."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from gca_lite.cli import main
from gca_lite.experiments import ResultsStore, load_grid
from gca_lite.experiments.store import inspect_run
from gca_lite.results import rewrite_record

from conftest import REPO, SMOKE


@pytest.fixture
def store(smoke_store, tmp_path) -> ResultsStore:
    """A private copy of the smoke store (10 tiny runs) to damage."""
    shutil.copytree(smoke_store.root, tmp_path / "store")
    return ResultsStore(tmp_path / "store")


@pytest.fixture
def no_training(monkeypatch):
    """Fail any attempt to train: every check below must decide before training."""
    import gca_lite.train

    def boom(*args, **kwargs):
        raise AssertionError("trained although the stored run is corrupt")

    monkeypatch.setattr(gca_lite.train, "run", boom)


def _run_dir(store: ResultsStore, variant: str = "GCA[1]-sigmoid,True", seed: int = 0) -> Path:
    return next(d for d in store.run_dirs() if (r := json.loads((d / "record.json").read_text()))["variant"]
                == variant and r["seed"] == seed)


def _edit(folder: Path, change, legacy: bool = False) -> None:
    """Edit record.json with ``change(record)``; ``legacy``: drop the content checksum first, as in
    a record written before it existed (then only the other checks can tell)."""
    path = folder / "record.json"
    rec = json.loads(path.read_text())
    if legacy:
        rec.pop("record_sha256", None)
    change(rec)
    path.write_text(json.dumps(rec, indent=1))


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _everyone_sees_corrupt(store: ResultsStore, folder: Path, capsys, fragment: str) -> None:
    """sweep --dry-run, report and rerun all call ``folder`` corrupt, naming ``fragment`` (a file)."""
    assert inspect_run(folder).state == "corrupt" and fragment in inspect_run(folder).reason
    code, out, err = _cli(capsys, "sweep", str(SMOKE), "--store", str(store.root), "--dry-run")
    assert code == 0 and f"missing  {folder.name}" in out and fragment in err, out + err
    code, out, err = _cli(capsys, "report", "--store", str(store.root), "--format", "csv", "--n-boot", "10",
                          "--no-verdicts")
    assert code == 0 and fragment in err and "Traceback" not in err
    code, out, err = _cli(capsys, "rerun", str(folder))
    assert code == 1 and fragment in err and len(err.strip().splitlines()) == 1, err


# ---------------------------------------------------------------- item 1: tampered records
def test_edited_metrics_are_caught_by_the_checksum(store, capsys, no_training):
    folder = _run_dir(store)
    _edit(folder, lambda r: r["test"]["full"].update({"A/NDCG@10": 0.99}))
    _everyone_sees_corrupt(store, folder, capsys, str(folder / "record.json"))
    frame = store.to_frame()  # what report --export writes: never the edited numbers
    assert 0.99 not in frame["NDCG@10"].to_numpy() and folder.name not in set(frame["config_hash"])


@pytest.mark.parametrize("change", [
    lambda r: r["config"]["model"].update(gca_gate="tanh"),  # a row of a variant never trained
    lambda r: r.update(config_hash="0123456789abcdef"),
    lambda r: r.update(dataset="afk"),
])
def test_legacy_records_with_edited_identity_are_corrupt(store, capsys, no_training, change):
    folder = _run_dir(store)
    _edit(folder, change, legacy=True)
    _everyone_sees_corrupt(store, folder, capsys, str(folder / "record.json"))


def test_legacy_record_without_checksum_stays_valid(store):
    folder = _run_dir(store)
    _edit(folder, lambda r: None, legacy=True)
    found = inspect_run(folder)
    assert found.ok and not found.verified
    assert inspect_run(_run_dir(store, "base")).verified  # records written now carry the checksum


def test_rerun_fails_on_any_metric_difference(store, tmp_path, capsys):
    """A forged record (checksum recomputed) whose metrics were edited: rerun trains it again and
    must report DIFFERENT, not IDENTICAL, even though every rank count matches."""
    fake = tmp_path / "fake"
    shutil.copytree(_run_dir(store), fake)

    rec = json.loads((fake / "record.json").read_text())
    rec["test"]["sampled"]["B/MRR"] += 0.25
    rewrite_record(fake, rec)
    code, out, err = _cli(capsys, "rerun", str(fake), "--quiet", "--threads", "1")
    assert code == 1 and "DIFFERENT: sampled metrics: 1 of" in out and "B/MRR" in out, out + err
    assert "IDENTICAL" not in out


# ---------------------------------------------------------------- item 2: JSON that is not an object
@pytest.mark.parametrize("text", ["null", "[]", "3", '"x"'])
def test_record_that_is_not_an_object(store, capsys, no_training, text):
    folder = _run_dir(store)
    (folder / "record.json").write_text(text)
    _everyone_sees_corrupt(store, folder, capsys, f"{folder / 'record.json'}: expected a JSON object")


def test_record_without_test_metrics(store, capsys, no_training):
    folder = _run_dir(store)
    _edit(folder, lambda r: r.pop("test"), legacy=True)
    _everyone_sees_corrupt(store, folder, capsys, f"{folder / 'record.json'}: missing test")


# ---------------------------------------------------------------- item 4: unreadable config, short ranks
def test_unreadable_config_is_rerun_by_sweep_and_named_by_report(store, capsys, no_training):
    folder = _run_dir(store)
    _edit(folder, lambda r: r["config"]["model"].update(some_future_field=1), legacy=True)
    _everyone_sees_corrupt(store, folder, capsys, "cannot read its config")


def _replace_ranks(folder: Path, blob: bytes) -> None:
    """New ranks.npz content with its checksum recomputed in a legacy record (so only the content
    checks can tell)."""
    (folder / "ranks.npz").write_bytes(blob)
    _edit(folder, lambda r: r.update(ranks_sha256=hashlib.sha256(blob).hexdigest()), legacy=True)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def test_ranks_of_the_wrong_length_are_named(store, capsys, no_training):
    folder = _run_dir(store)
    with np.load(folder / "ranks.npz") as z:
        arrays = {k: z[k][:-1] if k.startswith("full") else z[k] for k in z.files}  # one user short
    _replace_ranks(folder, _npz(**arrays))
    _everyone_sees_corrupt(store, folder, capsys, f"{folder / 'ranks.npz'}: full ranks")


# ---------------------------------------------------------------- item 12: damaged ranks content
@pytest.mark.parametrize("damage", ["garbage", "no_domain", "domain_values", "users_per_domain", "extra"])
def test_damaged_ranks_content_names_the_file(store, capsys, no_training, damage):
    folder = _run_dir(store)
    with np.load(folder / "ranks.npz") as z:
        arrays = {k: z[k] for k in z.files}
    if damage == "garbage":
        blob = b"PK\x03\x04 not really a zip file"
    else:
        if damage == "no_domain":
            del arrays["target_domain"]
        elif damage == "domain_values":
            arrays["target_domain"] = arrays["target_domain"] + 5
        elif damage == "users_per_domain":
            arrays["target_domain"] = 1 - arrays["target_domain"]
        else:
            arrays["other_greater"] = arrays["full_greater"]
        blob = _npz(**arrays)
    _replace_ranks(folder, blob)
    _everyone_sees_corrupt(store, folder, capsys, str(folder / "ranks.npz"))


# ---------------------------------------------------------------- item 14: file modes
def test_store_files_are_readable_by_others(tmp_path):
    from gca_lite.evaluate import RankCounts
    from gca_lite.results import write_run

    old = os.umask(0o022)
    try:
        counts = {"full": RankCounts(np.zeros(3, int), np.zeros(3, int), np.full(3, 9))}
        write_run(tmp_path / "run", {"test": {"full": {}}}, counts, np.array([0, 1, 0]))
    finally:
        os.umask(old)
    for name in ("record.json", "ranks.npz"):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o644, name


def test_shared_store_files_are_readable_by_others(smoke_store):
    """Every file a sweep writes (records, ranks, the candidate cache, strata) is readable by the
    other users of a shared store (the sweep ran with the usual umask 022)."""
    private = [p for p in smoke_store.root.rglob("*") if p.is_file() and not p.stat().st_mode & stat.S_IROTH]
    assert private == []


def test_non_finite_numbers_never_reach_a_record(tmp_path):
    from gca_lite.evaluate import RankCounts
    from gca_lite.results import write_run

    counts = {"full": RankCounts(np.zeros(3, int), np.zeros(3, int), np.full(3, 9))}
    with pytest.raises(ValueError, match=r"run/record\.json: the record holds a non-finite number"):
        write_run(tmp_path / "run", {"alpha": float("inf")}, counts, np.array([0, 1, 0]))
    assert not (tmp_path / "run" / "record.json").exists()


# ---------------------------------------------------------------- the committed store
def test_committed_store_is_valid_and_legacy():
    store = ResultsStore(REPO / "results")
    states = [inspect_run(d) for d in store.run_dirs()]
    assert len(states) >= 174
    assert [s.reason for s in states if not s.ok] == []
    assert not any(s.verified for s in states)  # written before the content checksum: legacy


def test_smoke_grid_is_done_after_the_sweep(smoke_store):
    assert all(smoke_store.has(c) for c in load_grid(SMOKE))
