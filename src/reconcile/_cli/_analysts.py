"""`reconcile sql` and `reconcile export`."""

from __future__ import annotations

import argparse
import io
import json
import sys

from reconcile._cli._base import (
    EXIT_OK,
    common_options,
)
from reconcile.exceptions import UsageError

# --- sql / export (owner: analysts) --------------------------------------------------------------------


def add_sql(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sql", help="print an analyst relation (sql/views/NAME.sql) over an output folder")
    p.add_argument("name", nargs="?", help="the relation; see --list")
    p.add_argument("--list", action="store_true", help="list the relations with their descriptions")
    p.add_argument("--output", help="the output folder of `reconcile run` / `nightly`")
    p.add_argument("--store", help="the event store, for the rejects relation")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="set a relation parameter")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    common_options(p)
    p.set_defaults(handler=_cmd_sql)


def _cmd_sql(args: argparse.Namespace) -> int:

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


def add_export(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("export", help="export billing data in a standard format")
    p.add_argument("format", choices=["focus"], help="focus: FinOps FOCUS 1.2 cost and usage rows")
    p.add_argument("--output", required=True, help="the output folder of `reconcile run` / `nightly`")
    p.add_argument("--period", required=True, help="YYYY-MM-DD (a day) or YYYY-MM (a month)")
    p.add_argument("--to", required=True, help="FILE.parquet or FILE.csv")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="e.g. focus_provider_name=X")
    common_options(p)
    p.set_defaults(handler=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from reconcile._progress import Progress  # noqa: PLC0415
    from reconcile._views import export_focus, parse_params  # noqa: PLC0415

    progress = Progress(quiet=args.quiet)
    progress.note(f"exporting FOCUS rows of period {args.period} from {args.output}")
    rows = export_focus(args.output, period=args.period, to=args.to, params=parse_params(args.param))
    print(f"wrote {rows} FOCUS rows for period {args.period} to {args.to}")
    return EXIT_OK
