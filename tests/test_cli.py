"""The console script: --help everywhere, clear errors, and `data stats` on real and synthetic data."""

import json
import subprocess
import sys

import pytest

from gca_lite.cli import build_parser, main


def _subcommand_paths(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _subcommand_paths(sub, prefix + (name,))


def test_every_subcommand_has_help(capsys):
    paths = list(_subcommand_paths(build_parser()))
    assert ("data", "stats") in paths and ("train",) in paths
    for path in paths:
        with pytest.raises(SystemExit) as e:
            main([*path, "--help"])
        assert e.value.code == 0
        out = capsys.readouterr().out
        assert "usage: gca-lite" in out
        # argparse interpolates % only in argument help, so a literal "%%" in a description shows.
        assert "%%" not in out, f"{' '.join(path)} --help prints a doubled percent sign"


def test_console_script_help_runs():
    out = subprocess.run([sys.executable, "-m", "gca_lite.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "data" in out.stdout


def test_unknown_dataset_is_a_clear_error(capsys):
    assert main(["data", "stats", "no-such-dataset"]) == 2
    err = capsys.readouterr().err
    assert "no-such-dataset" in err and "afk" in err


def test_stats_synthetic_json(capsys):
    assert main(["data", "stats", "synthetic-tiny", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["users"] > 0 and stats["interactions"] == stats["interactions_a"] + stats["interactions_b"]


def test_book_subcommand_passes_options_to_the_builder(capsys):
    assert main(["book", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("data", "gca_variants", "orthogonality", "scaling", "protocols", "explorer"):
        assert name in out


def test_unknown_option_is_rejected(capsys):
    with pytest.raises(SystemExit) as e:
        main(["data", "stats", "afk", "--bogus"])
    assert e.value.code == 2 and "--bogus" in capsys.readouterr().err
