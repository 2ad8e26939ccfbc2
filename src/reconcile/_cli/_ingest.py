"""`reconcile ingest` and `reconcile validate`."""

from __future__ import annotations

import argparse
import json
import sys

from reconcile._cli._base import (
    EXIT_FAILED,
    EXIT_OK,
    common_options,
)
from reconcile.exceptions import UsageError


def add_ingest(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("ingest", help="read ledgers into the event store")
    p.add_argument("paths", nargs="+", help="ledger files, folders (recursive) or globs")
    p.add_argument("--store", required=True, help="the event store folder")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another ingest's lock")
    common_options(p)
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


def add_validate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate", help="list the lines ingest would reject, without writing anything")
    p.add_argument("paths", nargs="+", help="ledger files, folders (recursive) or globs")
    common_options(p)
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
