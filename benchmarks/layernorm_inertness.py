"""How much the GCA LayerNorm flag changes the model at initialisation, per reading (issue 21).

For every composition (``model.gca_block``) x LayerNorm placement (``model.gca_ln``) x insertion
point, build the model twice from one seed, LayerNorm on and off (off = no LayerNorm anywhere in the
module), and compare the user representations of the first validation users:
``|h_on - h_off| / |h_off|``. Below 1e-3 the flag is inert: ``validate`` refuses such readings for
new runs, except today's (attn, pre) at points 1 and 2, which stays valid and is marked inert
(``ModelConfig.gca_layernorm_inert``). Refused readings are built with validation switched off.

    python benchmarks/layernorm_inertness.py [--data-dir ../shared/data] [--dataset afk] [--users 512]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    from gca_lite.config import GCA_BLOCKS, GCA_LN, GCA_POINTS, ConfigError, ModelConfig, preset
    from gca_lite.data.abxi_io import read_abxi
    from gca_lite.data.splits import make_splits
    from gca_lite.evaluate import eval_batch
    from gca_lite.model import ABXI

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--dataset", default="afk")
    ap.add_argument("--users", type=int, default=512)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "layernorm_inertness.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ds = read_abxi(Path(args.data_dir) / args.dataset, args.dataset)
    batch = eval_batch(make_splits(ds).valid, np.arange(args.users))
    check = ModelConfig._validate_reading
    ModelConfig._validate_reading = lambda self: None  # build the refused readings too
    rows = []
    for name in ("paper", "lite"):
        base = preset(name, args.dataset).model
        for block, ln, point in ((b, ln, p) for b in GCA_BLOCKS for ln in GCA_LN for p in GCA_POINTS):
            on = dataclasses.replace(base, gca_points=(point,), gca_block=block, gca_ln=ln)
            off = dataclasses.replace(on, gca_layernorm=False, gca_ln="pre")
            with torch.no_grad():
                h_on, h_off = (ABXI(c, ds.n_items_a, ds.n_items_b, torch.Generator().manual_seed(0))
                               .eval().encode_eval(batch) for c in (on, off))
            try:
                check(on)
                status = "inert (kept: today's reading)" if on.gca_layernorm_inert else "valid"
            except ConfigError:
                status = "refused (inert)"
            rel = float((h_on - h_off).norm() / h_off.norm())
            rows.append({"preset": name, "d": base.d, "gca_block": block, "gca_ln": ln, "point": point,
                         "relative_change": rel, "status": status})
            print(f"{name:5} d{base.d} {block:14} {ln:4} [{point}] {rel:9.2e}  {status}", flush=True)
    ModelConfig._validate_reading = check
    Path(args.out).write_text(json.dumps({
        "what": "relative change |h_on - h_off| / |h_off| of the user representation at initialisation "
                "(seed 0), LayerNorm on vs off, per reading",
        "dataset": args.dataset, "users": args.users, "split": "valid",
        "command": " ".join(["python benchmarks/layernorm_inertness.py", *(argv or sys.argv[1:])]),
        "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
