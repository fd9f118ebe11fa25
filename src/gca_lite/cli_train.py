"""``gca-lite train``: flags -> RunConfig -> one run -> record.json + ranks.npz."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from .config import (GATES, GCA_BLOCKS, GCA_LN, GCA_MASKS, NEG_MODES, NO_DECAY, PRESETS, SCHEDULES, ConfigError,
                     RunConfig, preset)
from .errors import UsageError

#: config field -> its flag, so a bad value is reported under the name the user typed (completed by
#: register() with every flag whose destination is a dotted config field)
FLAGS = {"model.gca_points": "--gca", "model.gca_gate": "--gate", "model.gca_layernorm": "--layernorm",
         "model.gca_alpha_init": "--alpha-init"}


def _points(text: str) -> tuple[int, ...]:
    text = text.strip().strip("[]")
    if text.lower() in ("", "none", "base"):
        return ()
    try:
        return tuple(sorted(int(p) for p in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--gca expects comma-separated points such as 0,1,2, got {text!r}")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train one configuration and write its result record",
                       description="Train the ABXI base model or a GCA variant; writes record.json "
                                   "(config, metrics, orthogonality, provenance) and ranks.npz "
                                   "(per-user test ranks) into --out.")
    p.add_argument("dataset", help="afk, abe, or synthetic[-tiny|-small|-afk_like][-nocross]")
    p.add_argument("--data-dir", default=None, help="folder with the real data files")
    p.add_argument("--preset", choices=PRESETS, default="lite", help="starting configuration (lite)")
    p.add_argument("--out", default=None, help="output folder (default: runs/<dataset>/<variant>/seed<N>)")
    g = p.add_argument_group("GCA variant")
    g.add_argument("--gca", type=_points, default=None, metavar="POINTS",
                   help="insertion points, e.g. 1 or 0,1,2 (none = base model)")
    g.add_argument("--gate", choices=GATES, default=None, help="gate activation")
    g.add_argument("--layernorm", action=argparse.BooleanOptionalAction, default=None,
                   help="LayerNorm inside the GCA module (the True/False of the paper's names)")
    g.add_argument("--alpha-init", type=float, default=None, help="initial gate parameter alpha")
    g.add_argument("--gca-block", dest="model.gca_block", choices=GCA_BLOCKS, default=None,
                   help="module composition: attn (today's), self_cross_ffn, cross_ffn4 (the blog's size)")
    g.add_argument("--gca-ln", dest="model.gca_ln", choices=GCA_LN, default=None,
                   help="LayerNorm placement: pre LN(X) inputs, post LN(X + gX'), out X + g LN(X')")
    g.add_argument("--gca-mask", dest="model.gca_mask", choices=GCA_MASKS, default=None,
                   help="cross-attention keys: order (file order) or day (strictly earlier days only)")
    g.add_argument("--match-params", action="store_true",
                   help="train a base model widened to the GCA variant's parameter count instead")
    m = p.add_argument_group("model dimensions")
    for flag, field, typ in (("--d", "d", int), ("--heads", "n_heads", int), ("--ffn", "ffn_hidden", int),
                             ("--rank-d", "rank_d", int), ("--rank-i", "rank_i", int),
                             ("--dropout", "dropout", float)):
        m.add_argument(flag, dest=f"model.{field}", type=typ, default=None)
    m.add_argument("--abxi-compat", dest="model.abxi_compat", action="store_true", default=None,
                   help="reproduce the official code's quirks (no key-padding mask)")
    t = p.add_argument_group("training")
    for flag, field, typ in (("--epochs", "epochs", int), ("--patience", "patience", int),
                             ("--lr", "lr", float), ("--weight-decay", "weight_decay", float),
                             ("--batch-size", "batch_size", int), ("--warmup", "warmup_epochs", int),
                             ("--n-neg", "n_neg", int), ("--seed", "seed", int),
                             ("--min-epochs", "min_epochs", int)):
        t.add_argument(flag, dest=f"train.{field}", type=typ, default=None)
    t.add_argument("--neg-mode", dest="train.neg_mode", choices=NEG_MODES, default=None)
    t.add_argument("--lr-schedule", dest="train.lr_schedule", choices=SCHEDULES, default=None,
                   help="constant (v1), or a fixed budget: cosine, linear, wsd (decay over the last 20 %%)")
    t.add_argument("--no-decay", dest="train.no_decay", choices=NO_DECAY, default=None,
                   help="keep out of weight decay: none, gca (GCA alphas, LayerNorms, biases), all (every 1-D)")
    e = p.add_argument_group("data and evaluation")
    e.add_argument("--tie-shuffle", dest="data.tie_shuffle_seed", type=int, default=None, metavar="SEED",
                   help="shuffle items within equal timestamps (ablation)")
    e.add_argument("--candidate-seed", dest="eval.candidate_seed", type=int, default=None,
                   help="seed of the saved sampled-protocol candidates (shared by all models)")
    e.add_argument("--n-candidates", dest="eval.n_candidates", type=int, default=None,
                   help="sampled negatives per user (ABXI: 999)")
    e.add_argument("--eval-every", dest="eval.every", type=int, default=None, metavar="K",
                   help="validate every K epochs (and the last); patience still counts epochs")
    e.add_argument("--quiet", action="store_true", help="no progress output")
    e.add_argument("--dry-run", action="store_true",
                   help="print the configuration and its parameter counts (per GCA module too); train nothing")
    p.set_defaults(func=_cmd_train)
    FLAGS.update({a.dest: a.option_strings[0] for a in p._actions if "." in a.dest})  # the dotted dests


def config_from_args(args: argparse.Namespace) -> RunConfig:
    cfg = preset(args.preset, args.dataset)
    parts = {"data": cfg.data, "model": cfg.model, "train": cfg.train, "eval": cfg.eval}
    for key, value in vars(args).items():
        if "." in key and value is not None:
            section, field = key.split(".", 1)
            parts[section] = dataclasses.replace(parts[section], **{field: value})
    gca = {k: v for k, v in (("gca_points", args.gca), ("gca_gate", args.gate),
                             ("gca_layernorm", args.layernorm), ("gca_alpha_init", args.alpha_init))
           if v is not None}
    parts["model"] = dataclasses.replace(parts["model"], **gca)
    try:
        cfg = RunConfig(**parts).validate()
    except ConfigError as e:
        flag = FLAGS.get(e.field or "")
        raise (ConfigError(f"{flag}: {e}", e.field) if flag else e) from None
    if args.match_params:
        if not cfg.model.gca_points:
            raise ConfigError("--match-params needs a GCA variant (--gca) whose size the base model matches")
        from .data import load_dataset
        from .model.params import matched_base_config

        ds = load_dataset(cfg.data.dataset, args.data_dir, seed=cfg.data.synthetic_seed)
        matched = matched_base_config(cfg.model, ds.n_items_a, ds.n_items_b)
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(matched, matched_to=cfg.model.size_name))
    return cfg


def check_fits_data(cfg: RunConfig, ds) -> None:
    """Values the dataset's size rules out, named by their flags before any training: the sampled
    protocol draws ``--n-candidates`` unseen items per test user, training ``--n-neg`` per domain."""
    smallest = min(ds.n_items_a, ds.n_items_b)
    if cfg.eval.n_candidates >= smallest:
        raise UsageError(f"--n-candidates {cfg.eval.n_candidates}: {cfg.data.dataset} has only {smallest} items in "
                         f"its smaller domain, and a test user's candidates must be items they have not seen; "
                         f"pass a smaller --n-candidates (e.g. {max(1, smallest // 2)})")
    if cfg.train.n_neg > smallest:
        raise UsageError(f"--n-neg {cfg.train.n_neg}: {cfg.data.dataset} has only {smallest} items in its smaller "
                         f"domain; pass --n-neg {max(1, smallest // 2)} or less")


def _cmd_train(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .results import check_writable, write_run
    from .train import run

    cfg = config_from_args(args)
    if args.dry_run:
        print(model_summary(cfg, args.data_dir))
        return 0
    out = Path(args.out or f"runs/{cfg.data.dataset}/{cfg.model.variant_name}/seed{cfg.train.seed}")
    check_writable(out, "--out")  # before training, not after: the result would be lost
    ds = load_dataset(cfg.data.dataset, args.data_dir, seed=cfg.data.synthetic_seed)
    check_fits_data(cfg, ds)
    result = run(cfg, args.data_dir, progress=not args.quiet, dataset=ds)
    write_run(out, result.record, result.test_counts, result.test_domain)
    print(json.dumps({"out": str(out), "variant": result.record["variant"],
                      "n_parameters": result.record["n_parameters"], "test": result.record["test"]},
                     indent=1))
    return 0


def model_summary(cfg: RunConfig, data_dir: str | None = None) -> str:
    """The run's name, its parameter count and what one GCA module adds (``train --dry-run``)."""
    from .data import load_dataset
    from .model.params import analytic_parameters, gca_module_parameters

    ds = load_dataset(cfg.data.dataset, data_dir, seed=cfg.data.synthetic_seed)
    m = cfg.model
    lines = [f"{cfg.name}  (config {json.dumps(dataclasses.asdict(m), default=list)})",
             f"parameters: {analytic_parameters(m, ds.n_items_a, ds.n_items_b):,}"]
    if m.gca_points:
        base = analytic_parameters(dataclasses.replace(m, gca_points=()), ds.n_items_a, ds.n_items_b)
        lines.append(f"per GCA module (both directions): +{gca_module_parameters(m):,} "
                     f"(gca_block={m.gca_block}, gca_ln={m.gca_ln}, LayerNorm {m.gca_layernorm}; "
                     f"{len(m.gca_points)} module(s) on a base of {base:,})")
        if m.gca_layernorm_inert:
            lines.append("LayerNorm flag: inert for this reading (its on/off pair is untestable)")
    return "\n".join(lines)
