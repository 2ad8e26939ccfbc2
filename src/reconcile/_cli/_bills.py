"""`reconcile close` and `reconcile diff`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reconcile._cli._base import (
    EXIT_OK,
    command_line,
    common_options,
)

# --- bills: close a month, compare versions ---------------------------------------------------------


def add_close(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    common_options(p)
    p.set_defaults(handler=_cmd_close)


def _cmd_close(args: argparse.Namespace) -> int:
    from reconcile._bills._close import close_month  # noqa: PLC0415 - keep `reconcile --help` fast

    summary = close_month(args.output, args.month, wait=args.wait)
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=True))
    else:
        totals = ", ".join(f"{c} {a}" for c, a in summary.totals.items()) or "no charges"
        print(
            f"closed {summary.month}: {summary.lines} invoice lines issued"
            f" ({summary.corrections} corrections of earlier months), {totals}"
        )
        output = str(Path(args.output).resolve())
        print(f"next: {command_line('sql', 'invoice_lines', '--output', output)}")
    return EXIT_OK


def add_diff(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    common_options(p)
    p.set_defaults(handler=_cmd_diff)


def _cmd_diff(args: argparse.Namespace) -> int:
    from reconcile._bills._diff import diff_period, format_diff  # noqa: PLC0415 - keep `reconcile --help` fast

    diff = diff_period(args.output, args.period, from_run=args.from_run, to_run=args.to_run)
    if args.json:
        print(json.dumps(diff.to_json(), sort_keys=True))
    else:
        print("\n".join(format_diff(diff, limit=args.limit)))
    return EXIT_OK
