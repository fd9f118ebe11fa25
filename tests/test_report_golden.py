"""``gca-lite report --store results --format md`` against the committed golden file.

The golden file is the report of the committed store; a change of the findings layer that moves a
byte of it must regenerate the file in a commit that says why (``tests/golden/README.md``). Reading
and judging the whole store takes about half a minute, so this is one of the suite's slow tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "golden" / "report_results.md"


@pytest.mark.skipif(not (REPO / "results").is_dir(), reason="the committed results store is absent")
def test_report_of_the_committed_store_matches_the_golden_file(tmp_path):
    from gca_lite.cli import main

    out = tmp_path / "report.md"
    assert main(["report", "--store", str(REPO / "results"), "--format", "md", "--out", str(out)]) == 0
    got, want = out.read_text(), GOLDEN.read_text()
    if got != want:
        import difflib

        diff = "\n".join(list(difflib.unified_diff(want.splitlines(), got.splitlines(), "golden", "now",
                                                   n=0, lineterm=""))[:40])
        pytest.fail("the report of results/ differs from tests/golden/report_results.md "
                    "(regenerate it only for an intended change):\n" + diff)
