"""The ``gca-lite`` command line: thin argparse wrappers over the library.

Every subcommand has ``--help``. Every error ends in :func:`main`, the one handler: one line
``gca-lite: error: ...`` naming the file, flag or parameter, exit status 2 for a usage error (bad
flag or config value, unknown name) and 1 for a runtime error (corrupt store, unreadable or
unwritable file, failed run); ``--debug`` (anywhere on the line, or ``GCA_LITE_DEBUG=1``) shows the
traceback instead. Ctrl-C prints one line and exits 130; a closed pipe (``| head``) ends quietly.
Store warnings (a corrupt run) print as ``gca-lite: warning: ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import warnings

from .errors import INTERRUPTED, RUNTIME, describe


def _seed(text: str) -> int:
    """argparse type of a seed flag: a non-negative integer (argparse names the flag on error)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=None,
                   help="folder holding the dataset files (default: $GCA_LITE_DATA, then the user cache)")


def _cmd_data_stats(args: argparse.Namespace) -> int:
    from .data import load_dataset
    from .data.splits import shuffle_within_ties
    from .data.stats import dataset_stats, format_stats

    ds = load_dataset(args.name, args.data_dir, seed=args.seed)
    if args.shuffle_ties is not None:
        ds = shuffle_within_ties(ds, args.shuffle_ties)
    stats = dataset_stats(ds)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from .data.registry import download

    folder = download(args.name, args.data_dir, base_url=args.base_url)
    print(f"{args.name}: verified files in {folder}")
    return 0


def _cmd_data_preprocess(args: argparse.Namespace) -> int:
    from .config import DataConfig
    from .data.abxi_io import write_abxi
    from .data.preprocess import preprocess_amazon
    from .errors import UsageError
    from .results import check_writable

    try:  # the name other commands will know the dataset by (and a store folder's name)
        DataConfig(dataset=args.name).validate()
    except ValueError as e:
        raise UsageError(f"--name {args.name}: {e}") from None
    if args.name.startswith("synthetic") or args.name in ("afk", "abe"):
        raise UsageError(f"--name {args.name}: taken by a built-in dataset; choose another name")
    check_writable(args.out, "--out")

    ds, item_ids, user_ids = preprocess_amazon(args.csv_a, args.csv_b, args.name, k_item=args.k_item,
                                               k_user=args.k_user, len_max=args.len_max)
    seq, mp = write_abxi(ds, args.out, item_ids=item_ids, user_ids=user_ids)
    print(f"wrote {seq} and {mp}: {ds.n_users} users, {ds.n_items_a} A items, {ds.n_items_b} B items\n"
          f"use it as `gca-lite data stats {args.name} --data-dir {args.out}` (train, sweep grids and the book: "
          f"dataset {args.name} with data_dir {args.out})")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    """Run scripts/build_book.py of this checkout (the book sources live beside the package)."""
    import runpy
    from pathlib import Path

    from .errors import CliError

    from .provenance import REPO

    script = Path(REPO) / "scripts" / "build_book.py"
    if not script.is_file():
        raise CliError(f"{script} not found: `gca-lite book` needs a source checkout of gca_lite")
    build = runpy.run_path(str(script))["main"]
    return build(args.book_args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gca-lite",
        description="Reproducible companion to 'Cross-attention Secretly Performs Orthogonal "
                    "Alignment in Recommendation Models' (ABXI base model + Gated Cross-Attention).")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also accepted after the subcommand)")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="datasets: statistics, download, preprocessing",
                          description="Work with the datasets (real afk/abe or synthetic).")
    data_sub = data.add_subparsers(dest="data_command", required=True)

    p = data_sub.add_parser("stats", help="print dataset statistics (ABXI.md's table)",
                            description="Print users, items, interactions, split counts and the "
                                        "same-day ordering artefact of a dataset.")
    p.add_argument("name", help="afk, abe, synthetic[-tiny|-small|-afk_like][-nocross], or the --name of a "
                                "dataset `data preprocess` wrote (with --data-dir its --out)")
    _add_data_dir(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--seed", type=_seed, default=0, help="generator seed for synthetic data")
    p.add_argument("--shuffle-ties", type=_seed, default=None, metavar="SEED",
                   help="shuffle items within equal-timestamp groups first (seeded ablation)")
    p.set_defaults(func=_cmd_data_stats)

    p = data_sub.add_parser("download", help="download and verify a real dataset",
                            description="Download afk or abe (checksum-verified) into --data-dir, "
                                        "$GCA_LITE_DATA or the user cache; verified files are reused.")
    p.add_argument("name", help="afk or abe")
    _add_data_dir(p)
    p.add_argument("--base-url", default=None, help="mirror to download from (default: ABXI's repository)")
    p.set_defaults(func=_cmd_data_download)

    p = data_sub.add_parser("preprocess", help="raw Amazon rating CSVs -> ABXI files",
                            description="Apply ABXI's preprocessing recipe to two raw Amazon ratings "
                                        "CSVs (user,item,rating,timestamp; no header).")
    p.add_argument("--csv-a", required=True, help="ratings CSV of domain A")
    p.add_argument("--csv-b", required=True, help="ratings CSV of domain B")
    p.add_argument("--name", required=True, help="dataset name used in the output file name")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--k-item", type=int, default=10, help="minimum interactions per item (10)")
    p.add_argument("--k-user", type=int, default=5, help="minimum interactions per user and domain (5)")
    p.add_argument("--len-max", type=int, default=50, help="keep each user's last N interactions (50)")
    p.set_defaults(func=_cmd_data_preprocess)

    p = sub.add_parser("book", help="execute the notebooks (papermill) and build the static book",
                       description="Same as `python scripts/build_book.py ARGS` (what `make book` runs): "
                                   "e.g. `gca-lite book --only gca_variants --param epochs=2`. "
                                   "Pass `-- --help` to list the builder's own options.")
    p.add_argument("book_args", nargs="*", help="options for scripts/build_book.py")
    p.set_defaults(func=_cmd_book)

    from . import cli_experiments, cli_train

    cli_train.register(sub)
    cli_experiments.register(sub)
    return parser


def _take_debug(argv: list[str]) -> bool:
    """Remove ``--debug`` from ``argv`` (anywhere before a ``--``); True if it was there."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = "--debug" in argv[:end]
    argv[:end] = [a for a in argv[:end] if a != "--debug"]
    return found or os.environ.get("GCA_LITE_DEBUG") == "1"


@contextlib.contextmanager
def _one_line_warnings():
    """Show warnings as ``gca-lite: warning: MESSAGE`` (they name their file), not with source lines."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"gca-lite: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _quiet_stdout() -> None:
    """After a closed pipe: point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured in tests)
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = _take_debug(argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == "book":  # everything after `book` belongs to the book builder
        args.book_args = [*extra, *args.book_args]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    with _one_line_warnings():
        try:
            return args.func(args)
        except BrokenPipeError:  # `gca-lite ... | head`: the reader has all it wanted
            _quiet_stdout()
            return RUNTIME
        except KeyboardInterrupt:
            if debug:
                raise
            print("\ngca-lite: interrupted", file=sys.stderr)
            return INTERRUPTED
        except Exception as e:
            if debug:
                raise
            message, code = describe(e)
            print(f"gca-lite: error: {message}", file=sys.stderr)
            return code


if __name__ == "__main__":
    sys.exit(main())
