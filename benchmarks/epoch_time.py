"""Time one training epoch of the ABXI backbone on afk (CPU).

One epoch = every training user once, in batches of 256 users sorted (bucketed) by length, batch order
shuffled, leading all-padding columns trimmed per batch; per batch: negatives, ``model.loss``,
backward, AdamW step (lr 1e-4, weight decay 3.0, as ABXI's afk demo; ``fused=True``, about 10x faster
than the default for-each AdamW on CPU). Presets:

* ``d256``              ABXI afk dims (d 256, 2 heads, FFN 680, ranks 16/64), shared negatives
                        (128 A + 128 B item ids per batch, uniform without replacement);
* ``d256_per_position`` the same model with 128 + 128 negatives per target position (uniform with
                        replacement; timing only): timed on a sample of batches and extrapolated to
                        the epoch by the number of target positions;
* ``lite``              our recommended CPU preset (d 64, 2 heads, FFN 170, ranks 8/16), shared.

Each preset runs in its own subprocess per torch thread count (``--threads``, default 1 and 2), so
that its peak RSS (``resource.getrusage``) is its own; the fastest thread count is reported. On a
2-core machine shared with another busy process, 2 torch threads are several times *slower* than 1
(OpenMP threads wait for each other at every parallel region), hence the choice.
Reported: seconds/epoch (median over ``--repeats`` epochs), peak RSS, matmul FLOPs of one epoch
(``torch.utils.flop_counter.FlopCounterMode``, forward + backward) and achieved GFLOP/s, the machine
and its load average (timings on a shared machine are noisy: compare only runs with a low load).

    python benchmarks/epoch_time.py [--data-dir ../shared/data] [--repeats 3] [--presets d256,lite]

``--compositions`` times the GCA readings instead (issue 21): per preset (lite and d256, shared
negatives, ``--threads`` 2 by default) one process builds GCA[0] with every ``model.gca_block``
(``pre`` LayerNorm, sigmoid gate) and times an epoch of each in turn, ``--repeats`` rounds with the
order rotated each round (interleaved, so the load of the shared machine hits all alike); an epoch
is extrapolated by target positions from ``--composition-batches`` length-stratified batches per
preset (the same batches for every model; 0 = the whole epoch). Reported: the median over rounds of
each model's epoch time as a ratio to today's module (``attn``) in the same round, and the seconds.
Merged into the JSON under ``gca_compositions.threads_<n>`` (other keys kept):

    python benchmarks/epoch_time.py --compositions [--repeats 3] [--threads 2] [--composition-batches lite=6,d256=3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
PRESETS = {
    "d256": dict(model=dict(d=256, n_heads=2, ffn_hidden=680, rank_d=16, rank_i=64), neg="shared"),
    "d256_per_position": dict(model=dict(d=256, n_heads=2, ffn_hidden=680, rank_d=16, rank_i=64),
                              neg="per_position"),
    "lite": dict(model=dict(d=64, n_heads=2, ffn_hidden=170, rank_d=8, rank_i=16), neg="shared"),
}
BATCH, N_NEG = 256, 128


def machine() -> str:
    from gca_lite.provenance import machine_description

    return machine_description()


def load(data_dir: str):
    from gca_lite.data.abxi_io import read_abxi
    from gca_lite.data.splits import make_splits
    ds = read_abxi(Path(data_dir) / "afk", "afk")
    return ds, make_splits(ds).train


def batches(train, rng):
    order = np.argsort(train.lengths, kind="stable")
    chunks = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    return [chunks[i] for i in rng.permutation(len(chunks))]


def make_batch(train, rows):
    b = {k: torch.from_numpy(getattr(train, k)[rows]) for k in ("seq_x", "seq_a", "seq_b", "target")}
    first = int((b["seq_x"] != 0).any(0).to(torch.uint8).argmax())
    return {k: v[:, first:].contiguous() for k, v in b.items()}


def negatives(mode, ds, batch, gen):
    if mode == "shared":
        return (torch.randperm(ds.n_items_a, generator=gen)[:N_NEG] + 1,
                torch.randperm(ds.n_items_b, generator=gen)[:N_NEG] + ds.n_items_a + 1)
    b, l = batch["target"].shape
    return (torch.randint(1, ds.n_items_a + 1, (b, l, N_NEG), generator=gen),
            torch.randint(ds.n_items_a + 1, ds.n_items + 1, (b, l, N_NEG), generator=gen))


def child(preset: str, data_dir: str, repeats: int, sample: int, flops: bool, threads: int) -> dict:
    from gca_lite.config import ModelConfig
    from gca_lite.model import ABXI, count_parameters
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = PRESETS[preset]
    ds, train = load(data_dir)
    model = ABXI(ModelConfig(**spec["model"]), ds.n_items_a, ds.n_items_b, torch.Generator().manual_seed(0))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=3.0, fused=True)
    gen = torch.Generator().manual_seed(1)
    rng = np.random.default_rng(0)
    n_pos_total = int((train.target != 0).sum())

    def step(rows):
        batch = make_batch(train, rows)
        loss, _ = model.loss(batch, *negatives(spec["neg"], ds, batch, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return int((batch["target"] != 0).sum())

    epochs, cpu, extrapolated = [], [], False
    step(batches(train, rng)[0])  # warm-up (allocator, kernels)
    for _ in range(repeats):
        order = batches(train, rng)
        if sample:  # a length-stratified sample of batches, extrapolated by target positions
            by_len = sorted(order, key=lambda r: int(train.lengths[r].max()))
            order = [by_len[i] for i in np.linspace(0, len(by_len) - 1, sample).round().astype(int)]
            extrapolated = True
        t0, c0, n_pos = time.perf_counter(), time.process_time(), 0
        for rows in order:
            n_pos += step(rows)
        scale = n_pos_total / n_pos
        epochs.append((time.perf_counter() - t0) * scale)
        cpu.append((time.process_time() - c0) * scale)
    out = {"preset": preset, "threads": threads, "negatives": spec["neg"], "model": spec["model"],
           "parameters": count_parameters(model), "batches_per_epoch": len(batches(train, rng)),
           "epoch_seconds": statistics.median(epochs), "epoch_seconds_all": epochs,
           "epoch_cpu_seconds": statistics.median(cpu), "extrapolated_from_batches": sample if extrapolated else 0,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "loadavg": os.getloadavg()}
    if flops:
        from torch.utils.flop_counter import FlopCounterMode
        counter = FlopCounterMode(display=False)
        with counter:
            for rows in batches(train, rng):
                step(rows)
        out["epoch_gflop"] = counter.get_total_flops() / 1e9
        out["gflops"] = out["epoch_gflop"] / out["epoch_seconds"]
    return out


def compositions_child(preset: str, data_dir: str, repeats: int, sample: int, threads: int) -> dict:
    """Interleaved epoch times of the base and of GCA[0] with every composition (see docstring)."""
    from gca_lite.config import GCA_BLOCKS, ModelConfig
    from gca_lite.model import ABXI, count_parameters
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    spec = PRESETS[preset]
    ds, train = load(data_dir)
    names = list(GCA_BLOCKS)
    cfgs = {n: ModelConfig(**spec["model"], gca_points=(0,), gca_block=n) for n in names}
    models = {n: ABXI(c, ds.n_items_a, ds.n_items_b, torch.Generator().manual_seed(0)).train()
              for n, c in cfgs.items()}
    opts = {n: torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=3.0, fused=True) for n, m in models.items()}
    order = batches(train, np.random.default_rng(0))
    if sample:
        by_len = sorted(order, key=lambda r: int(train.lengths[r].max()))
        order = [by_len[i] for i in np.linspace(0, len(by_len) - 1, sample).round().astype(int)]
    n_pos_total = int((train.target != 0).sum())
    n_pos = sum(int((train.target[rows] != 0).sum()) for rows in order)

    def epoch(name: str, rows_list=None) -> float:
        gen = torch.Generator().manual_seed(1)
        t0 = time.perf_counter()
        for rows in rows_list or order:
            batch = make_batch(train, rows)
            loss, _ = models[name].loss(batch, *negatives("shared", ds, batch, gen))
            opts[name].zero_grad(set_to_none=True)
            loss.backward()
            opts[name].step()
        return (time.perf_counter() - t0) * n_pos_total / n_pos

    for n in names:  # warm-up: allocator, kernels
        epoch(n, order[:1])
    print(json.dumps({"preset": preset, "warm": True, "loadavg": os.getloadavg()}), file=sys.stderr, flush=True)
    rounds = []
    for r in range(repeats):
        rot = names[r % len(names):] + names[:r % len(names)]
        times = {n: epoch(n) for n in rot}
        rounds.append({"order": rot, "seconds": times, "loadavg": os.getloadavg()})
        print(json.dumps({"preset": preset, "round": r, **rounds[-1]}), file=sys.stderr, flush=True)
    ratio = {n: statistics.median(rd["seconds"][n] / rd["seconds"]["attn"] for rd in rounds) for n in names}
    return {"preset": preset, "threads": threads, "negatives": "shared", "model": spec["model"],
            "gca": "GCA[0]-sigmoid,True (pre LayerNorm)",
            "parameters": {n: count_parameters(m) for n, m in models.items()},
            "extrapolated_from_batches": len(order) if sample else 0,
            "ratio_to_attn": ratio,
            "epoch_seconds": {n: statistics.median(rd["seconds"][n] for rd in rounds) for n in names},
            "rounds": rounds}


def compositions_main(args) -> int:
    samples = dict((k, int(v)) for k, v in (kv.split("=") for kv in args.composition_batches.split(",")))
    out = {"machine": machine(), "cpu": _lscpu(), "threads": int(args.threads), "repeats": args.repeats,
           "command": " ".join(["python benchmarks/epoch_time.py", *sys.argv[1:]]),
           "notes": ("interleaved: every round times one epoch of each model in a rotated order and the "
                     "ratio to 'attn' (today's module) is taken within the round; median over rounds. "
                     "The 2-core machine was shared with 3-4 other helpers' jobs (see loadavg per "
                     "round): seconds are noisy, ratios less so. GCA[0], pre LayerNorm, sigmoid gate, "
                     "shared negatives, AdamW fused; each epoch extrapolated from the same length-stratified "
                     "batches for every model (composition_batches).") + (" " + args.note if args.note else ""),
           "composition_batches": samples,
           "presets": {}}
    for preset in ("lite", "d256"):
        sample = samples.get(preset, 0)
        cmd = [sys.executable, __file__, "--child", preset, "--compositions", "--data-dir", args.data_dir,
               "--threads", args.threads, "--repeats", str(args.repeats),
               "--composition-batches", f"{preset}={sample}"]
        proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
        res = json.loads(proc.stdout.splitlines()[-1])
        out["presets"][preset] = res
        print(f"{preset}: " + ", ".join(f"{n} {v:.2f}x ({res['epoch_seconds'][n]:.1f} s)"
                                        for n, v in res["ratio_to_attn"].items()), flush=True)
    path = Path(args.out)
    summary = json.loads(path.read_text()) if path.exists() else {}
    runs = summary.get("gca_compositions", {})
    runs[f"threads_{args.threads}"] = out  # one entry per thread count, the others kept
    summary["gca_compositions"] = runs
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {path} (gca_compositions.threads_{args.threads})")
    return 0


def _lscpu() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name")), "")


def _report(res: dict) -> None:
    note = (f" (extrapolated from {res['extrapolated_from_batches']} length-stratified batches)"
            if res["extrapolated_from_batches"] else f" (median of {len(res['epoch_seconds_all'])})")
    print(f"{res['preset']:>18} [{res['threads']} thr]: {res['epoch_seconds']:7.1f} s/epoch{note}, "
          f"cpu {res['epoch_cpu_seconds']:.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB, "
          f"load avg {res['loadavg'][0]:.2f}"
          + (f", {res['gflops']:.1f} GFLOP/s ({res['epoch_gflop']:.0f} GFLOP/epoch)" if "gflops" in res else ""),
          flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--presets", default="d256,d256_per_position,lite")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--per-position-batches", type=int, default=4)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "epoch_time.json"))
    ap.add_argument("--threads", default="1,2",
                    help="torch intra-op thread counts to try; each preset reports its fastest")
    ap.add_argument("--compositions", action="store_true",
                    help="time the GCA compositions (model.gca_block) as ratios to today's module")
    ap.add_argument("--composition-batches", default="lite=6,d256=3",
                    help="batches timed per epoch and preset with --compositions (extrapolated; 0 = all)")
    ap.add_argument("--note", default="", help="a remark stored with the --compositions results")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--flops", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.compositions and args.child:
        res = compositions_child(args.child, args.data_dir, args.repeats,
                                 int(args.composition_batches.split("=")[-1]), int(args.threads))
        print(json.dumps(res))
        return 0
    if args.compositions:
        if "," in args.threads:
            args.threads = "2"  # the setting; --threads 1 on a machine too loaded for 2
        return compositions_main(args)
    if args.child:
        sample = args.per_position_batches if PRESETS[args.child]["neg"] == "per_position" else 0
        repeats = 1 if sample else args.repeats
        print(json.dumps(child(args.child, args.data_dir, repeats, sample, args.flops, int(args.threads))))
        return 0
    results, runs = {}, []
    for preset in args.presets.split(","):
        for threads in args.threads.split(","):
            cmd = [sys.executable, __file__, "--child", preset, "--data-dir", args.data_dir, "--threads",
                   threads, "--repeats", str(args.repeats), "--per-position-batches", str(args.per_position_batches)]
            if preset == "d256":
                cmd.append("--flops")
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            runs.append(res)
            if preset not in results or res["epoch_seconds"] < results[preset]["epoch_seconds"]:
                results[preset] = res
            _report(res)
    for preset, res in results.items():
        print(f"best {preset}: {res['epoch_seconds']:.1f} s/epoch with {res['threads']} thread(s)")
    summary = {
        "afk_epoch_seconds_d256": results.get("d256", {}).get("epoch_seconds"),
        "afk_epoch_seconds_d256_per_position": results.get("d256_per_position", {}).get("epoch_seconds"),
        "afk_epoch_seconds_lite": results.get("lite", {}).get("epoch_seconds"),
        "peak_rss_mb_d256": results.get("d256", {}).get("peak_rss_mb"),
        "gflops_d256": results.get("d256", {}).get("gflops"),
        "machine": machine(),
        "command": " ".join(["python benchmarks/epoch_time.py", *(argv if argv is not None else sys.argv[1:])]),
        "threads_d256": results.get("d256", {}).get("threads"),
        "notes": ("per preset the fastest of the thread counts tried is reported (all runs under 'runs'); "
                  "per_position is extrapolated from a length-stratified sample of batches by target "
                  "positions; timings on a shared machine are noisy (see loadavg): with another busy "
                  "process on the 2 cores, 2 torch threads are several times slower than 1"),
        "details": results,
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
