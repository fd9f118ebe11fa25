#!/usr/bin/env python3
"""Write the data chapter's counts of the real datasets to src/gca_lite/resources/data_summaries.json.

    python scripts/data_summaries.py --data-dir ../shared/data

The file holds histograms and counts only (a few kB per dataset, no interactions), so the book
shows the real datasets on a fresh clone without the data (gca_lite.book_data).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gca_lite.book_data import STORED, data_summary
from gca_lite.data.registry import load

OUT = Path(__file__).resolve().parents[1] / "src" / "gca_lite" / "resources" / STORED


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True, help="folder with ABXI's afk and abe files")
    p.add_argument("--datasets", nargs="+", default=["afk", "abe"])
    args = p.parse_args()
    summaries = {name: data_summary(load(name, args.data_dir)) for name in args.datasets}
    OUT.write_text(json.dumps(summaries, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
