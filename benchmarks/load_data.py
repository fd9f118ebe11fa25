"""Time loading a real dataset from ABXI's text files (median of N runs).

    python benchmarks/load_data.py --data-dir ../shared/data --name afk --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from gca_lite.data.abxi_io import read_abxi
from gca_lite.data.splits import make_splits
from gca_lite.provenance import machine_description


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--name", default="afk")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--out", default="benchmarks/results/load_data.json")
    args = p.parse_args()
    folder = Path(args.data_dir) / args.name
    load, split = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        ds = read_abxi(folder, args.name)
        t1 = time.perf_counter()
        make_splits(ds)
        t2 = time.perf_counter()
        load.append(t1 - t0)
        split.append(t2 - t1)
    result = {
        "dataset": args.name,
        "load_seconds_median": round(statistics.median(load), 3),
        "load_seconds_all": [round(t, 3) for t in load],
        "split_seconds_median": round(statistics.median(split), 3),
        "interactions": int(len(ds.items)),
        "machine": machine_description(),
        "command": f"python benchmarks/load_data.py --data-dir {args.data_dir} --name {args.name} "
                   f"--repeat {args.repeat}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
