"""Reports from a results store: the tables, setting labels, the CLI, summary tables, the sweep's
wall time and the training-length check (decision D17)."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from gca_lite.experiments import ResultsStore, report_frame, to_markdown
from gca_lite.results import rewrite_record

from conftest import METRIC_COLS, REPO, SMOKE, _cli


# ------------------------------------------------------------------------------ report
@pytest.mark.slow
def test_report_tables(smoke_store):
    frame = report_frame(smoke_store, n_boot=200)
    variants = ["base", "GCA[1]-sigmoid,True", "GCA[0,1,2]-tanh,False",
                "base~1xGCA,True", "base~3xGCA,False"]
    assert list(dict.fromkeys(frame["variant"])) == variants
    assert len(frame) == len(variants) * 2 * 2 * len(METRIC_COLS)  # variants x protocols x domains x metrics
    assert (frame["ci_lo"] <= frame["mean"]).all() and (frame["mean"] <= frame["ci_hi"]).all()
    assert (frame["n_seeds"] == 2).all()
    is_base = frame["variant"] == "base"
    assert frame.loc[is_base, "vs_base_p"].isna().all() and frame.loc[~is_base, "vs_base_p"].between(0, 1).all()
    has_matched = frame["variant"].str.startswith("GCA")
    assert frame.loc[has_matched, "vs_matched_p"].notna().all()
    text = to_markdown(frame)
    assert text.count("### ") == 6  # (means, vs base, vs matched) x 2 protocols
    assert "| synthetic-tiny | GCA[1]-sigmoid,True | 2 |" in text and "A NDCG@10" in text
    assert "Code version: " in text and "synthetic-tiny data SHA-256: " in text
    assert "several code versions" not in text
    # the sampled title names the runs' candidate count (the smoke grid samples 99), not an option name
    assert "the target against 99 sampled same-domain negatives" in text and "eval.n_candidates" not in text


def test_family_labels_matched_bases_and_clashes():
    """A matched base (wider, so its own label may read "d72") is labelled by its setting's other
    runs; a family of matched bases alone (their GCA runs not stored yet) keeps the plain label of
    its setting instead of renaming it; two real settings with one label get hash suffixes."""
    from gca_lite.experiments.report import family_labels
    from gca_lite.experiments.stats import Group

    def group(fam, variant, label, dataset="afk"):
        return (dataset, fam, variant), Group(dataset, fam, variant, label=label)

    groups = dict([group("f1", "base", "lite"), group("f1", "GCA[0]-sigmoid,True", "lite"),
                   group("f1", "base~1xGCA,True", "d72"),  # widened: its own label differs
                   group("f2", "base~3xGCA,True", "lite"),  # orphan: no GCA run of its size stored
                   group("g1", "base", "lite", "abe"), group("g2", "base", "lite", "abe")])
    labels = family_labels(groups)
    assert labels[("afk", "f1")] == "lite" and labels[("afk", "f2")] == "lite"
    assert {labels[("abe", "g1")], labels[("abe", "g2")]} == {"lite [g1]", "lite [g2]"}


def test_report_labels_settings_readably():
    """The committed store mixes presets and the same-day shuffle: its rows are labelled by setting
    (a matched base by the setting it was matched in, not by its own wider backbone), and the
    markdown shows those labels, not hash prefixes."""
    frame = report_frame(ResultsStore(REPO / "results"), metrics=("NDCG@10",), n_boot=20)
    labels = frame.groupby(["dataset", "setting"])["setting_label"].unique()
    assert (labels.str.len() == 1).all(), "one label per setting"
    assert set(frame["setting_label"]) <= {"lite", "paper, 7-min budget", "lite, same-day shuffle"}
    matched = frame[frame["variant"].str.startswith("base~")]  # wider than lite, labelled as its setting
    assert set(matched["setting_label"]) <= {"lite", "lite, same-day shuffle"} and len(matched)
    text = to_markdown(frame)
    assert "| abe | paper, 7-min budget | base |" in text
    assert not any(f"| {h} |" in text for h in frame["setting"].unique())


@pytest.mark.slow
def test_report_and_sweep_cli(smoke_store, tmp_path):
    out = _cli("report", "--store", str(smoke_store.root), "--n-boot", "100", "--format", "csv",
               "--export", str(tmp_path / "runs"), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("protocol,dataset,variant") and (tmp_path / "runs.parquet").exists()
    # markdown: the tables, then the results page's "In short", verdicts and evidence (unless --no-verdicts)
    md = _cli("report", "--store", str(smoke_store.root), "--n-boot", "100", timeout=120)
    assert md.returncode == 0, md.stderr
    heads = [line for line in md.stdout.splitlines() if line.startswith("### ")]
    assert heads[0].startswith("### full ranking: mean over seeds")
    assert heads[-3:] == ["### In short", "### Verdicts, claim by claim: synthetic-tiny",
                          "### The evidence behind each verdict"]
    assert "| GCA variants improve NDCG@10 over the base model |" in md.stdout
    assert "| GCA variants improve AUC over the base model |" in md.stdout  # NDCG and AUC: two claims (D14)
    bare = _cli("report", "--store", str(smoke_store.root), "--n-boot", "100", "--no-verdicts", timeout=120)
    assert "### In short" not in bare.stdout and bare.stdout == md.stdout[:len(bare.stdout)]
    dry = _cli("sweep", str(SMOKE), "--store", str(smoke_store.root), "--dry-run", timeout=60)
    assert dry.stdout.count("done ") == 10
    missing = _cli("report", "--store", str(tmp_path / "nope"), timeout=60)
    assert missing.returncode == 2 and "no such folder" in missing.stderr


def test_cli_help(capsys):
    from gca_lite import cli

    parser = cli.build_parser()
    for name in ("sweep", "report"):
        with pytest.raises(SystemExit) as e:
            parser.parse_args([name, "--help"])
        assert e.value.code == 0
        assert "--store" in capsys.readouterr().out


def test_sweep_wall_counts_runs_side_by_side_once_and_the_stretches_apart(monkeypatch):
    import pandas as pd

    from gca_lite.experiments import summary as S

    # cuda: 0-10 and 5-15 min overlap (one stretch), 60-70 min is a second one; cpu: undated
    runs = pd.DataFrame({"device": ["cuda"] * 3 + ["cpu"],
                         "stored_at": ["2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z", "2026-01-01T01:10:00Z", None],
                         "wall_seconds": [600.0, 600.0, 600.0, 60.0]})
    monkeypatch.setattr(S, "run_table", lambda store: runs)
    wall = S.sweep_wall("unused").set_index("device")
    assert wall.loc["cuda", "stretches"] == 2 and wall.loc["cuda", "timed runs"] == 3
    assert wall.loc["cuda", "wall hours"] == pytest.approx(25 / 60) and wall.loc["cuda", "run hours"] == pytest.approx(0.5)
    assert wall.loc["cpu", "stretches"] == 0 and math.isnan(wall.loc["cpu", "wall hours"])
    assert wall.loc["cpu", "untimed runs"] == 1


def test_summary_tables_from_the_smoke_store(smoke_store):
    from gca_lite.experiments import summary as S
    from gca_lite.experiments.verdicts import verdict_frame

    runs = S.run_table(smoke_store)
    assert len(runs) == len(smoke_store.run_dirs()) and set(runs["device"]) == {"cpu"}
    cov = S.coverage(smoke_store)
    assert cov["runs"].sum() == len(runs)
    assert cov["hours"].sum() * 3600 == pytest.approx(runs["wall_seconds"].sum())
    # the paper's numbers concern afk/abe: the smoke store has none, so every row says so
    side = S.paper_vs_ours(smoke_store)
    assert len(side) and (side["setting"] == "(no run)").all() and side["ours"].isna().all()
    assert S.paper_vs_ours_wide(side).empty
    v = verdict_frame(smoke_store, n_boot=100)
    m = S.verdict_matrix(v, "synthetic-tiny")
    assert list(m["claim"]) == list(dict.fromkeys(v["claim"]))
    assert len(m.columns) == 1 + 2  # one setting x two protocols
    labels = S.setting_labels(smoke_store)
    assert set(labels.values()) == {"d16, 2 epochs"}


def test_training_length_flags_runs_cut_short(smoke_store, tmp_path):
    """summary.training_length (decision D17): r > 0 when runs that trained longer score higher
    within their variant, and a run selected far earlier than its same-seed peers is listed."""
    from gca_lite.experiments import summary as S

    root = tmp_path / "store"
    shutil.copytree(smoke_store.root, root)
    for folder in ResultsStore(root).run_dirs():
        rec = json.loads((folder / "record.json").read_text())
        epoch = 50 + 10 * rec["seed"]  # seed 1 trains longer and scores higher, in every variant
        if rec["seed"] == 1 and rec["variant"] == "base":
            epoch = 12  # ... except its base, stopped early
        rec["best_epoch"] = epoch
        for dom in ("A", "B"):
            rec["test"]["full"][f"{dom}/NDCG@10"] = epoch / 1000
        rewrite_record(folder, rec)
    summary, short = S.training_length(root)
    row = summary.iloc[0]
    assert row["runs"] == 10 and row["runs in r"] == 10 and row["r (epoch, score)"] > 0.99
    assert list(short["variant"]) == ["base"] and short["seed"].tolist() == [1]
    assert short["same-seed median epoch"].iloc[0] == 60 and short["test NDCG@10"].iloc[0] == 0.012
    # verdicts that rest on that base say so; those that do not (or were not judged) stay silent
    from gca_lite.experiments.verdicts import verdict_frame

    noted = S.note_cut_short(verdict_frame(root, protocols=("full",), n_boot=50), short)
    with_note = set(noted.loc[noted["note"] != "", "claim"])
    # the smoke grid compares its GCA variants with the base (seeds 0 and 1) in the primary endpoint,
    # the NDCG and AUC claims and the untied-target check; the ranking needs more variants, the |cos|
    # rows use GCA runs only, and the other claims have no runs here
    assert with_note == {*(f"primary endpoint: GCA[1]-sigmoid,True − base in test NDCG@10 (domain {d}; the "
                           "full-ranking cell)" for d in "AB"),
                         "GCA variants improve NDCG@10 over the base model", "GCA variants improve AUC over the base model",
                         "check: the GCA gain over the base holds on test targets that do not share the "
                         "previous item's day (NDCG@10)"}
    assert (noted.loc[noted["note"] != "", "note"]
            == "rests partly on base seed 1, selected at epoch 12 against 60 for its same-seed peers (cut short)").all()


def test_p_values_print_without_a_false_zero():
    from gca_lite.experiments.stats import fmt_p

    assert [fmt_p(p) for p in (math.nan, 0.0512, 0.001, 1 / 1001, 1e-4)] == ["", "0.051", "0.001", "<0.001", "<0.001"]
