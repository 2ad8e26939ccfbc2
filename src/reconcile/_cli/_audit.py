"""`reconcile audit`: the ledger against the platform's inventory snapshots, with the money at risk.

Prices come from ``--prices`` and ``--tenants`` like a run's; a contracts table (discounts,
commitments) is not in the engine yet: when it is, its option joins these and is passed to
``reconcile._audit._money`` (where every amount of the audit is priced) with no other change.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from reconcile._cli._base import EXIT_OK, common_options, memory_option, pairing_options, pricing_inputs
from reconcile.exceptions import UsageError


def add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="compare the ledger with the platform's inventory snapshots: unbilled and overbilled resources",
        description="Each snapshot instant is compared with the pairing walk's state then; every resource"
        " that differs is a finding (missing_start, missing_stop, shape_drift) with the money at risk"
        " (docs/SPEC.md, 'Inventory audit'; docs/OPERATIONS.md, 'Inventory audit').",
    )
    p.add_argument("--store", required=True, help="the event store folder (`reconcile ingest --store`)")
    p.add_argument(
        "--inventory",
        required=True,
        nargs="+",
        action="extend",
        metavar="PATH",
        help="snapshot files (.csv, .jsonl, .parquet, maybe .gz/.zst), folders or globs",
    )
    p.add_argument("--prices", required=True, help="price book file, or 'bundled'")
    pricing_inputs(p, contracts=False)
    p.add_argument(
        "--period",
        help="the bill the money is weighed against: YYYY-MM-DD or YYYY-MM (default: the UTC days the"
        " snapshots span)",
    )
    p.add_argument("--cut-off", help="RFC 3339 instant inside the window (default: the window's end)")
    pairing_options(p, stale=False)
    p.add_argument(
        "--output", help="an output folder: write the findings there (relation inventory_findings)"
    )
    p.add_argument(
        "--propose",
        metavar="FILE",
        help="write the ledger lines the findings support to this new file, for a person to review and"
        " ingest (default: none)",
    )
    p.add_argument(
        "--propose-at",
        choices=["customer", "midpoint"],
        default="customer",
        help="where in its range each proposed instant goes: in the customer's favour, or halfway",
    )
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a run holding --output")
    memory_option(p)
    p.add_argument("--json", action="store_true", help='print {"findings": [...], ...} as one JSON object')
    common_options(p)
    p.set_defaults(handler=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    from reconcile._core._files import holding_output  # noqa: PLC0415 - standard library only

    def run(lock_fd: int | None) -> int:
        from reconcile._audit import audit  # noqa: PLC0415 - keep `reconcile --help` fast

        summary = audit(
            args.store,
            args.inventory,
            args.prices,
            tenants=args.tenants,
            period=args.period,
            cut_off=args.cut_off,
            double_start=args.double_start,
            output=args.output,
            propose=args.propose,
            policy=args.propose_at,
            quiet=args.quiet,
            memory_limit=args.memory_limit,
            wait=args.wait,
            lock_fd=lock_fd,
        )
        if args.json:
            print(json.dumps(summary.to_json(), sort_keys=True))
        else:
            print("\n".join(summary.lines()))
        return EXIT_OK

    if args.output is None:
        return run(None)
    if not Path(args.output).is_dir():  # (the lock would make it)
        raise UsageError(
            f"--output {args.output}: no such folder (an output folder of `reconcile run` or `nightly`)"
        )
    with holding_output(args.output, wait=args.wait) as fd:  # (before the engine is loaded)
        return run(fd)
