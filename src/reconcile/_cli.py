"""The ``reconcile`` command line: parse arguments, call the library, print results.

Exit codes: 0 done, 1 the job could not be done, 2 usage error, 3 anomalies found with
``nightly --fail-on-anomalies``. Errors are one line ``error: ...`` on stderr; ``--debug`` adds the
traceback. Each command's handler is a small function below; the work lives in the library.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence

from reconcile.exceptions import ReconcileError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ANOMALIES = 3


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as ``error: ...`` with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--debug", action="store_true", help="print tracebacks on errors")


# --- command handlers (each returns an exit code) -------------------------------------------------


def _cmd_not_built(args: argparse.Namespace) -> int:
    raise ReconcileError(f"command {args.command!r} is not available in this build")


# --- ingest / validate (owner: ingest) ---------------------------------------------------------------


def _add_ingest(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="read ledgers into the event store")
    p.add_argument("paths", nargs="+", help="ledger files, folders (recursive) or globs")
    p.add_argument("--store", required=True, help="the event store folder")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another ingest's lock")
    _common(p)
    p.set_defaults(handler=_cmd_ingest)


def _cmd_ingest(args: argparse.Namespace) -> int:
    return _cmd_not_built(args)


def _add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="list the lines ingest would reject, without writing anything")
    p.add_argument("paths", nargs="+", help="ledger files, folders (recursive) or globs")
    _common(p)
    p.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    return _cmd_not_built(args)


# --- run / nightly / demo (owner: pricing and runs) ---------------------------------------------------


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="reconcile and price one period")
    p.add_argument("--store", required=True)
    p.add_argument("--prices", required=True, help="price book file, or 'bundled'")
    p.add_argument("--output", required=True)
    p.add_argument("--period", required=True, help="YYYY-MM-DD (a day) or YYYY-MM (a month)")
    p.add_argument("--cut-off", help="RFC 3339 instant; needed for a period that has not ended")
    p.add_argument("--double-start", choices=["close", "drop"], default="close")
    p.add_argument("--stale-after", help="duration, e.g. 7d, 36h")
    p.add_argument("--tenants", help="CSV or Parquet: resource_id, tenant_id[, valid_from, valid_to]")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    return _cmd_not_built(args)


def _add_nightly(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("nightly", help="ingest, run yesterday (UTC), restate earlier days that changed")
    p.add_argument("paths", nargs="+")
    p.add_argument("--store", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--prices", required=True)
    p.add_argument("--lookback", type=int, default=35, help="days to look back for restatements")
    p.add_argument("--today", help="YYYY-MM-DD to treat as today (UTC); default: the clock")
    p.add_argument("--double-start", choices=["close", "drop"], default="close")
    p.add_argument("--stale-after")
    p.add_argument("--tenants")
    p.add_argument("--fail-on-anomalies", action="store_true")
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(handler=_cmd_nightly)


def _cmd_nightly(args: argparse.Namespace) -> int:
    return _cmd_not_built(args)


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="generate a seeded fleet ledger and run the whole pipeline on it")
    p.add_argument("--output", default="demo-output")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    return _cmd_not_built(args)


# --- sql / export (owner: analysts) --------------------------------------------------------------------


def _add_sql(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sql", help="print an analyst relation")
    p.add_argument("name", nargs="?")
    p.add_argument("--list", action="store_true")
    p.add_argument("--output")
    p.add_argument("--store")
    p.add_argument("--param", action="append", default=[], metavar="K=V")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _common(p)
    p.set_defaults(handler=_cmd_sql)


def _cmd_sql(args: argparse.Namespace) -> int:
    return _cmd_not_built(args)


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="export billing data in a standard format")
    p.add_argument("format", choices=["focus"])
    p.add_argument("--output", required=True)
    p.add_argument("--period", required=True)
    p.add_argument("--to", required=True, help="FILE.parquet or FILE.csv")
    _common(p)
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    return _cmd_not_built(args)


# --- parser ----------------------------------------------------------------------------------------


Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = _Parser(prog="reconcile", description="Turn metering ledgers into priced billing intervals.")
    _common(parser)
    sub: argparse._SubParsersAction[argparse.ArgumentParser] = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser
    )
    sub.required = True
    for add in (_add_ingest, _add_validate, _add_run, _add_nightly, _add_demo, _add_sql, _add_export):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``reconcile`` script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args_list
    try:
        args = build_parser().parse_args(args_list)
        handler: Handler = args.handler
        return handler(args)
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ReconcileError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
