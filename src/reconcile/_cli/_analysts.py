"""`reconcile sql` and `reconcile export`."""

from __future__ import annotations

import argparse
import io
import json
import sys
from typing import TYPE_CHECKING

from reconcile._cli._base import (
    EXIT_OK,
    common_options,
)
from reconcile.exceptions import UsageError

if TYPE_CHECKING:  # (polars is loaded only when a command runs)
    import polars as pl


def add_sql(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sql", help="print an analyst relation (sql/views/NAME.sql) over an output folder")
    p.add_argument("name", nargs="?", help="the relation; see --list")
    p.add_argument("--list", action="store_true", help="list the relations with their descriptions")
    p.add_argument("--output", help="the output folder of `reconcile run` / `nightly`")
    p.add_argument("--store", help="the event store, for the rejects relation")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="set a relation parameter")
    p.add_argument(
        "--format", choices=["table", "csv", "json"], default="table", help="how the rows are printed"
    )
    p.add_argument("--limit", type=int, metavar="N", help="print the first N rows only (default: all)")
    p.add_argument(
        "--query",
        metavar="SQL",
        help="run one read-only SELECT over the relations instead of NAME, e.g."
        ' "SELECT tenant_id, sum(amount) FROM slices GROUP BY 1"',
    )
    common_options(p)
    p.set_defaults(handler=_cmd_sql)


def _cmd_sql(args: argparse.Namespace) -> int:
    from reconcile._analysts._views import PARAMS, list_relations, parse_params, read_query, read_relation  # noqa: PLC0415

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
    if args.name is None and args.query is None:
        raise UsageError("sql: give a relation NAME (see `reconcile sql --list`) or --query SQL")
    if args.name is not None and args.query is not None:
        raise UsageError("sql: give a relation NAME or --query SQL, not both")
    if args.output is None:
        raise UsageError("sql: --output DIR is required")
    if args.name in ("rejects", "events", "sources") and args.store is None:
        raise UsageError(f"sql {args.name}: these rows live in the event store: give --store DIR")
    params = parse_params(args.param)
    if args.query is not None:
        frame = read_query(args.query, args.output, store=args.store, params=params, limit=args.limit)
    else:
        frame = read_relation(args.name, args.output, store=args.store, params=params, limit=args.limit)
    _print_frame(frame, args.format)
    return EXIT_OK


def _print_frame(frame: pl.DataFrame, fmt: str) -> None:
    """Print rows as a table, CSV (formula-like text neutralised) or JSON (decimals as text)."""
    import polars as pl  # noqa: PLC0415

    if fmt == "csv":
        from reconcile._core._csv import write_csv  # noqa: PLC0415

        buffer = io.StringIO()
        write_csv(frame, buffer)  # formula-like text neutralised, instants with Z
        sys.stdout.write(buffer.getvalue())
    elif fmt == "json":
        text = frame.with_columns(
            pl.col(pl.Decimal).cast(pl.String),
            pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%S.%9fZ"),
            pl.col(pl.Date).dt.to_string("%Y-%m-%d"),
        )
        print(json.dumps(text.rows(named=True), indent=1))
    else:
        from reconcile._ingest._summary import escape_control  # noqa: PLC0415

        # text as the terminal shows it: control characters (an ESC sequence in an id) escaped
        shown = frame.rename({c: escape_control(c) for c in frame.columns}).with_columns(
            pl.col(pl.String).map_elements(escape_control, return_dtype=pl.String, skip_nulls=True)
        )
        with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=10_000, fmt_str_lengths=200):
            print(shown)


def add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="export billing data in a standard format")
    p.add_argument("format", choices=["focus"], help="focus: FinOps FOCUS 1.2 cost and usage rows")
    p.add_argument("--output", required=True, help="the output folder of `reconcile run` / `nightly`")
    p.add_argument("--period", required=True, help="YYYY-MM-DD (a day) or YYYY-MM (a month)")
    p.add_argument("--to", required=True, help="FILE.parquet or FILE.csv")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="e.g. focus_provider_name=X")
    p.add_argument(
        "--allow-partial",
        action="store_true",
        help="export a period some of whose days have no run; every row then has x_PartialExport true",
    )
    common_options(p)
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from reconcile._analysts._views import export_focus, parse_params  # noqa: PLC0415
    from reconcile._core._progress import Progress  # noqa: PLC0415

    progress = Progress(quiet=args.quiet)
    progress.note(f"exporting FOCUS rows of period {args.period} from {args.output}")
    rows = export_focus(
        args.output,
        period=args.period,
        to=args.to,
        params=parse_params(args.param),
        allow_partial=args.allow_partial,
    )
    print(f"wrote {rows} FOCUS rows for period {args.period} to {args.to}")
    return EXIT_OK


def add_report(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "report", help="write one self-contained HTML page of a period for finance and support"
    )
    p.add_argument("--output", required=True, help="the output folder of `reconcile run` / `nightly`")
    p.add_argument("--period", required=True, help="YYYY-MM-DD (a day) or YYYY-MM (a month)")
    p.add_argument("--to", required=True, help="FILE.html (its folder must exist)")
    p.add_argument(
        "--store", help="the event store, for rejects and source freshness (default: without them)"
    )
    p.add_argument(
        "--max-silence", default="6h", help="a source with no event this long before the period end is silent"
    )
    common_options(p)
    p.set_defaults(handler=_cmd_report)


def _cmd_report(args: argparse.Namespace) -> int:
    from reconcile._analysts._report import write_report  # noqa: PLC0415 - keep `reconcile --help` fast

    summary = write_report(
        args.output, period=args.period, to=args.to, store=args.store, max_silence=args.max_silence
    )
    size = f"{summary.images} images, {summary.bytes:,} bytes"
    print(f"wrote the report of {summary.period} to {summary.path} ({size})")
    return EXIT_OK
