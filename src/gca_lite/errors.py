"""Exception types of the command line, and how the top-level handler (cli.main) reports them.

Every error a user can cause ends as one line ``gca-lite: error: ...`` naming the file, flag or
parameter, with exit status 2 for a usage error (a bad flag value or parameter: fix the command)
and 1 for a runtime error (a corrupt store, an unreadable file, a failed run). An exception says
which by its ``exit_code`` attribute; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

USAGE, RUNTIME, INTERRUPTED = 2, 1, 130


class CliError(RuntimeError):
    """A runtime problem the message fully explains (exit status 1)."""

    exit_code = RUNTIME


class UsageError(CliError):
    """A bad command-line value: the message names the flag (exit status 2, as argparse's errors)."""

    exit_code = USAGE


def describe(error: BaseException) -> tuple[str, int]:
    """The one-line message and the exit status for ``error``. Our own errors (CliError, and the
    ValueError family: ConfigError, DataError, CorruptRecord) explain themselves; an OSError names
    its file; anything else is a bug, said as such with its type."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        where = error.filename if error.filename2 is None else f"{error.filename} -> {error.filename2}"
        return f"{where}: {error.strerror}", RUNTIME
    text = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, (CliError, ValueError, OSError)):
        text = f"{type(error).__name__}: {text} (an unexpected error; --debug shows where)"
    return text, getattr(error, "exit_code", RUNTIME)


def positive_int(text: str) -> int:
    """argparse type of a count flag (--workers, --threads, ...): argparse names the flag on error."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
