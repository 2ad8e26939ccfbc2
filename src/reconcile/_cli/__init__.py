"""The ``reconcile`` command line: parse arguments, call the library, print results.

Exit codes: 0 done, 1 the job could not be done, 2 usage error, 3 anomalies found with
``nightly --fail-on-anomalies``. Errors are one line ``error: ...`` on stderr; ``--debug`` adds the
traceback. Each command's parser and handler live in a module of this package by what it serves
(``_ingest``, ``_runs``, ``_nightly``, ``_bills``, ``_audit``, ``_analysts``); the work lives in the library.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence

from reconcile._cli import _analysts, _audit, _bills, _ingest, _nightly, _runs
from reconcile._cli._base import (
    EXIT_ANOMALIES,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Handler,
    Parser,
    common_options,
)
from reconcile._core._signals import EXIT_SIGINT, EXIT_SIGTERM, Terminated, interruption, terminable
from reconcile.exceptions import InterruptedRunError, ReconcileError, UsageError


def _version() -> str:
    """This distribution's version (read from its metadata: no engine import)."""
    import importlib.metadata  # noqa: PLC0415 - only when the parser is built

    try:
        return importlib.metadata.version("cocoon-billing")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = Parser(prog="reconcile", description="Turn metering ledgers into priced billing intervals.")
    parser.add_argument("--version", action="version", version=f"reconcile {_version()}")
    common_options(parser, top=True)
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=Parser
    )
    sub.required = True
    for add in (
        _ingest.add_ingest,
        _ingest.add_validate,
        _runs.add_run,
        _nightly.add_nightly,
        _runs.add_demo,
        _runs.add_checkpoints,
        _runs.add_verify,
        _runs.add_upgrade,
        _bills.add_close,
        _bills.add_diff,
        _audit.add_audit,
        _analysts.add_sql,
        _analysts.add_export,
        _analysts.add_report,
    ):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reconcile`` script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        args = build_parser().parse_args(args_list)
        handler: Handler = args.handler
        with terminable():  # SIGTERM stops at the next safe point, like Ctrl-C
            return handler(args)
    except BaseException as exc:
        return _exit_code(exc, debug=debug)


def _exit_code(exc: BaseException, *, debug: bool) -> int:
    """The one line and the exit code of a failure (the traceback first with ``--debug``)."""
    if isinstance(exc, SystemExit):
        raise exc
    if debug and isinstance(exc, (ReconcileError, Exception)) and not isinstance(exc, BrokenPipeError):
        traceback.print_exc()
    if isinstance(exc, InterruptedRunError):
        code = exc.exit_code
    elif isinstance(exc, Terminated):
        exc = ReconcileError("terminated (SIGTERM)")
        code = EXIT_SIGTERM
    elif isinstance(exc, KeyboardInterrupt):
        exc = ReconcileError("interrupted")
        code = EXIT_SIGINT
    elif isinstance(exc, BrokenPipeError):
        # the reader of stdout went away (`reconcile sql ... | head`): nothing more to say to it; point
        # stdout at /dev/null so the interpreter's final flush does not fail again
        with contextlib.suppress(OSError, ValueError):  # (a stdout without a file descriptor)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    elif isinstance(exc, ReconcileError):
        code = EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED
    elif isinstance(exc, Exception):  # a bug or an engine failure: still one line
        return _unforeseen(exc)
    else:
        raise exc
    print(f"error: {exc}", file=sys.stderr)
    return code


def _unforeseen(exc: Exception) -> int:
    """One line for an exception no handler foresaw; Ctrl-C inside a DuckDB query is an interruption."""
    if type(exc).__name__ == "InterruptException" or str(exc) == "Query interrupted":
        if isinstance(interruption(), Terminated):  # SIGTERM while DuckDB ran a query
            print("error: terminated (SIGTERM)", file=sys.stderr)
            return EXIT_SIGTERM
        print("error: interrupted", file=sys.stderr)  # Ctrl-C while DuckDB ran a query
        return EXIT_SIGINT
    first = str(exc).splitlines()[0] if str(exc) else ""
    print(f"error: unexpected {type(exc).__name__}: {first} (--debug: traceback)", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["EXIT_ANOMALIES", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]
