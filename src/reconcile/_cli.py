"""The ``reconcile`` command line: parse arguments, call the library, print results.

Exit codes: 0 done, 1 the job could not be done, 2 usage error, 3 anomalies found with
``nightly --fail-on-anomalies``. Errors are one line ``error: ...`` on stderr; ``--debug`` adds the
traceback. Each command's handler is a small function below; the work lives in the library.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from reconcile.exceptions import ReconcileError, UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ANOMALIES = 3


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as ``error: ...`` with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _memory(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="DuckDB's memory limit, e.g. 4GB (default: $RECONCILE_MEMORY_LIMIT, else 1500MB); past it"
        " DuckDB spills to disk",
    )


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
    """Ingest ledgers; summary on stdout (human or ``--json``), progress on stderr."""
    from reconcile._ingest import format_summary, ingest  # noqa: PLC0415 - keep `reconcile --help` fast

    if args.wait < 0:
        raise UsageError(f"--wait must be zero or more seconds, not {args.wait}")
    summary = ingest(args.paths, args.store, quiet=args.quiet, wait=args.wait)
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=True))
    else:
        print(format_summary(summary))
    return EXIT_OK


def _add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="list the lines ingest would reject, without writing anything")
    p.add_argument("paths", nargs="+", help="ledger files, folders (recursive) or globs")
    _common(p)
    p.set_defaults(handler=_cmd_validate)


def _cmd_validate(args: argparse.Namespace) -> int:
    """Print ``file:line: code: raw`` per reject; exit 0 when clean, 1 when something was rejected."""
    from reconcile._ingest import validate_files  # noqa: PLC0415 - keep `reconcile --help` fast
    from reconcile._ingest._summary import display_path, escape_control  # noqa: PLC0415

    rejects, findings = validate_files(args.paths, quiet=args.quiet)
    for r in rejects:  # (control bytes escaped: a terminal never receives them)
        print(f"{display_path(r.source_file)}:{r.source_line}: {r.code}: {escape_control(r.raw)}")
    for finding in findings:
        print(f"validate: {finding}", file=sys.stderr)
    if not args.quiet:
        print(f"validate: {len(rejects)} rejected line(s), {len(findings)} file(s) skipped", file=sys.stderr)
    return EXIT_FAILED if rejects or findings else EXIT_OK


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
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another run on the output")
    _memory(p)
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(handler=_cmd_run)


def _print_run(summary: Any, *, heading: bool = True) -> None:  # noqa: ANN401 - a reconcile.RunSummary
    """The human summary of one run on stdout."""
    roles = summary.roles
    if heading:
        print(f"period {summary.period}  [{summary.period_start}, {summary.period_end})", end="")
        print(f"  cut-off {summary.cut_off}")
        print(f"run_id {summary.run_id}")
    print(
        f"events before cut-off: {roles['events']} = {roles['start']} starts + {roles['stop']} closing stops"
        f" + {roles['unmatched_stop']} unmatched stops"
    )
    intervals = ", ".join(f"{k} {v}" for k, v in summary.intervals.items()) or "none"
    anomalies = ", ".join(f"{k} {v}" for k, v in summary.anomalies.items()) or "none"
    print(f"intervals: {intervals}")
    print(f"anomalies: {anomalies}")
    print("totals:")
    for family, amounts in sorted(summary.totals_by_family.items()):
        for currency, amount in sorted(amounts.items()):
            print(f"  {family:<14} {currency} {amount}")
    for currency, amount in sorted(summary.totals.items()):
        print(f"  {'invoice total':<14} {currency} {amount}")
    if summary.unattributed_slices:
        print(f"unattributed slices (no tenant): {summary.unattributed_slices}")


def _cmd_run(args: argparse.Namespace) -> int:
    from reconcile._run import run_period  # noqa: PLC0415 - keep `reconcile --help` fast

    summary = run_period(
        args.store,
        args.prices,
        args.output,
        args.period,
        cut_off=args.cut_off,
        double_start=args.double_start,
        stale_after=args.stale_after,
        tenants=args.tenants,
        quiet=args.quiet,
        wait=args.wait,
        memory_limit=args.memory_limit,
    )
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=True))
        return EXIT_OK
    _print_run(summary)
    action = "replaced the previous run" if summary.replaced else "new"
    print(f"output: {summary.output} ({action})")
    return EXIT_OK


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
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another run or ingest")
    p.add_argument("--fail-on-anomalies", action="store_true")
    _memory(p)
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(handler=_cmd_nightly)


def _cmd_nightly(args: argparse.Namespace) -> int:
    from reconcile._nightly import nightly  # noqa: PLC0415 - keep `reconcile --help` fast

    summary = nightly(
        args.paths,
        args.store,
        args.output,
        args.prices,
        lookback=args.lookback,
        today=args.today,
        double_start=args.double_start,
        stale_after=args.stale_after,
        tenants=args.tenants,
        quiet=args.quiet,
        wait=args.wait,
        memory_limit=args.memory_limit,
    )
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=True))
    else:
        ingest = summary.ingest
        print(
            f"ingest: {ingest.get('events', 0)} new events, {ingest.get('duplicates', 0)} duplicates,"
            f" {sum(ingest.get('rejects', {}).values())} rejects, {ingest.get('pending', 0)} pending"
        )
        for day in summary.days:
            print(f"{day.period}: {day.action:<9} run_id {day.run_id}  anomalies {day.anomalies}")
        print(f"restated: {', '.join(summary.restated) or 'none'}")
        for restatement in summary.restatements:
            print(restatement.line())
        for run in summary.runs:
            if run.period == summary.yesterday:
                _print_run(run)
    if args.fail_on_anomalies and summary.anomalies:
        print(f"error: {summary.anomalies} anomalies found (--fail-on-anomalies)", file=sys.stderr)
        return EXIT_ANOMALIES
    return EXIT_OK


def _add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="generate a seeded fleet ledger and run the whole pipeline on it")
    p.add_argument("--output", default="demo-output")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true")
    _common(p)
    p.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from reconcile._demo import demo  # noqa: PLC0415 - keep `reconcile --help` fast

    summary = demo(args.output, seed=args.seed, quiet=args.quiet)
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=True))
        return EXIT_OK
    ingest = summary.ingest
    print(f"ledgers:  {summary.ledgers}")
    print(
        f"store:    {summary.store} ({ingest.get('events', 0)} events,"
        f" {ingest.get('duplicates', 0)} duplicates,"
        f" {sum(ingest.get('rejects', {}).values())} rejects, {ingest.get('pending', 0)} pending)"
    )
    for run in summary.runs:
        totals = ", ".join(f"{c} {a}" for c, a in run.totals.items())
        anomalies = sum(run.anomalies.values())
        print(f"{run.period}: {sum(run.intervals.values())} intervals, {anomalies} anomalies, {totals}")
    if summary.runs:
        print(f"\nlast day, {summary.runs[-1].period}:")
        _print_run(summary.runs[-1], heading=False)
    print(
        f"\nParquet output: {summary.output}/slices, intervals, anomalies"
        f" (manifests in {summary.output}/manifests)"
    )
    print(f"next: reconcile sql daily_spend --output {summary.output}")
    return EXIT_OK


def _add_checkpoints(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("checkpoints", help="show the pairing checkpoints of a store, or rebuild them")
    p.add_argument("--store", required=True, help="the event store folder")
    p.add_argument("--rebuild", action="store_true", help="remove them and walk the whole history again")
    _memory(p)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    _common(p)
    p.set_defaults(handler=_cmd_checkpoints)


def _cmd_checkpoints(args: argparse.Namespace) -> int:
    from reconcile._checkpoint_admin import checkpoint_report, rebuild_checkpoints  # noqa: PLC0415

    if args.rebuild:
        report = rebuild_checkpoints(args.store, quiet=args.quiet, memory=args.memory_limit)
    else:
        report = checkpoint_report(args.store)
    if args.json:
        print(json.dumps(report.to_json(), sort_keys=True))
    else:
        print("\n".join(report.lines()))
    return EXIT_OK


# --- bills: close a month, compare versions ---------------------------------------------------------


def _add_close(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "close",
        help="freeze a month's invoice lines as issued (later changes are billed as corrections)",
    )
    p.add_argument("month", help="the month to close, YYYY-MM; every day of it (or the month) must be run")
    p.add_argument("--output", required=True, help="the output folder of `reconcile run` / `nightly`")
    p.add_argument(
        "--wait", type=float, default=0.0, help="seconds to wait for a run holding the output (default 0)"
    )
    p.add_argument("--json", action="store_true", help="print what was issued as one JSON object")
    _common(p)
    p.set_defaults(handler=_cmd_close)


def _cmd_close(args: argparse.Namespace) -> int:
    from reconcile._close import close_month  # noqa: PLC0415 - keep `reconcile --help` fast

    summary = close_month(args.output, args.month, wait=args.wait)
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=True))
    else:
        totals = ", ".join(f"{c} {a}" for c, a in summary.totals.items()) or "no charges"
        print(
            f"closed {summary.month}: {summary.lines} invoice lines issued"
            f" ({summary.corrections} corrections of earlier months), {totals}"
        )
        print(f"next: reconcile sql invoice_lines --output {shlex.quote(args.output)}")
    return EXIT_OK


def _add_diff(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("diff", help="what changed between two versions of a period's bill, and why")
    p.add_argument("--output", required=True, help="the output folder of `reconcile run` / `nightly`")
    p.add_argument("--period", required=True, help="the period, YYYY-MM-DD or YYYY-MM")
    p.add_argument(
        "--from",
        dest="from_run",
        help="run_id (or a unique prefix) of the earlier version (default: the one before --to)",
    )
    p.add_argument(
        "--to", dest="to_run", help="run_id (or a unique prefix) of the later version (default: the current)"
    )
    p.add_argument(
        "--limit", type=int, default=20, help="intervals to print, largest change first (default 20)"
    )
    p.add_argument("--json", action="store_true", help="print the whole diff as one JSON object")
    _common(p)
    p.set_defaults(handler=_cmd_diff)


def _cmd_diff(args: argparse.Namespace) -> int:
    from reconcile._diff import diff_period, format_diff  # noqa: PLC0415 - keep `reconcile --help` fast

    diff = diff_period(args.output, args.period, from_run=args.from_run, to_run=args.to_run)
    if args.json:
        print(json.dumps(diff.to_json(), sort_keys=True))
    else:
        print("\n".join(format_diff(diff, limit=args.limit)))
    return EXIT_OK


# --- sql / export (owner: analysts) --------------------------------------------------------------------


def _add_sql(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sql", help="print an analyst relation (sql/views/NAME.sql) over an output folder")
    p.add_argument("name", nargs="?", help="the relation; see --list")
    p.add_argument("--list", action="store_true", help="list the relations with their descriptions")
    p.add_argument("--output", help="the output folder of `reconcile run` / `nightly`")
    p.add_argument("--store", help="the event store, for the rejects relation")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="set a relation parameter")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _common(p)
    p.set_defaults(handler=_cmd_sql)


def _cmd_sql(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415 - the analyst commands load their dependencies only when used

    import polars as pl  # noqa: PLC0415

    from reconcile._views import PARAMS, list_relations, parse_params, read_relation  # noqa: PLC0415

    if args.list:
        infos = list_relations()
        if args.format == "json":
            print(json.dumps([{"name": i.name, "description": i.description} for i in infos], indent=2))
            return EXIT_OK
        width = max(len(i.name) for i in infos)
        for info in infos:
            print(f"{info.name:<{width}}  {info.description}")
        print("\nparameters (--param NAME=VALUE):")
        pwidth = max(len(name) for name in PARAMS)
        for param in PARAMS.values():
            print(f"  {param.name:<{pwidth}}  {param.description} (default: {param.default})")
        return EXIT_OK
    if args.name is None:
        raise UsageError("sql: give a relation NAME (see `reconcile sql --list`)")
    if args.output is None:
        raise UsageError("sql: --output DIR is required")
    if args.name in ("rejects", "events") and args.store is None:
        raise UsageError(f"sql {args.name}: these rows live in the event store: give --store DIR")
    frame = read_relation(args.name, args.output, store=args.store, params=parse_params(args.param))
    if args.format == "csv":
        from reconcile._csv import write_csv  # noqa: PLC0415

        buffer = io.StringIO()
        write_csv(frame, buffer)  # formula-like text neutralised, instants with Z
        sys.stdout.write(buffer.getvalue())
    elif args.format == "json":
        text = frame.with_columns(
            pl.col(pl.Decimal).cast(pl.String),
            pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S.%9fZ"),
            pl.col(pl.Date).dt.to_string("%Y-%m-%d"),
        )
        print(json.dumps(text.rows(named=True), indent=1))
    else:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=10_000, fmt_str_lengths=200):
            print(frame)
    return EXIT_OK


def _add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="export billing data in a standard format")
    p.add_argument("format", choices=["focus"], help="focus: FinOps FOCUS 1.2 cost and usage rows")
    p.add_argument("--output", required=True, help="the output folder of `reconcile run` / `nightly`")
    p.add_argument("--period", required=True, help="YYYY-MM-DD (a day) or YYYY-MM (a month)")
    p.add_argument("--to", required=True, help="FILE.parquet or FILE.csv")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="e.g. focus_provider_name=X")
    _common(p)
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from reconcile._progress import Progress  # noqa: PLC0415
    from reconcile._views import export_focus, parse_params  # noqa: PLC0415

    progress = Progress(quiet=args.quiet)
    progress.note(f"exporting FOCUS rows of period {args.period} from {args.output}")
    rows = export_focus(args.output, period=args.period, to=args.to, params=parse_params(args.param))
    print(f"wrote {rows} FOCUS rows for period {args.period} to {args.to}")
    return EXIT_OK


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
    for add in (
        _add_ingest,
        _add_validate,
        _add_run,
        _add_nightly,
        _add_demo,
        _add_checkpoints,
        _add_close,
        _add_diff,
        _add_sql,
        _add_export,
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
    except BrokenPipeError:
        # the reader of stdout went away (`reconcile sql ... | head`): nothing more to say to it; point
        # stdout at /dev/null so the interpreter's final flush does not fail again
        with contextlib.suppress(OSError, ValueError):  # (a stdout without a file descriptor)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # a bug or an engine failure: still one line, the traceback with --debug
        if debug:
            traceback.print_exc()
        return _unforeseen(exc)


def _unforeseen(exc: Exception) -> int:
    """One line for an exception no handler foresaw; Ctrl-C inside a DuckDB query is an interruption."""
    if type(exc).__name__ == "InterruptException" or str(exc) == "Query interrupted":
        print("error: interrupted", file=sys.stderr)  # Ctrl-C while DuckDB ran a query
        return 130
    first = str(exc).splitlines()[0] if str(exc) else ""
    print(f"error: unexpected {type(exc).__name__}: {first} (--debug: traceback)", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
