"""`reconcile run`, `demo` and `checkpoints`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reconcile._cli._base import (
    EXIT_FAILED,
    EXIT_OK,
    command_line,
    common_options,
    engine_options,
    memory_option,
    pairing_options,
    pricing_inputs,
    print_run,
    spark_options,
)


def add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="reconcile and price one period")
    p.add_argument("--store", required=True, help="the event store folder (`reconcile ingest --store`)")
    p.add_argument("--prices", required=True, help="price book file, or 'bundled'")
    p.add_argument("--output", required=True, help="the output folder; the period is replaced atomically")
    p.add_argument("--period", required=True, help="YYYY-MM-DD (a day) or YYYY-MM (a month)")
    p.add_argument(
        "--cut-off",
        help="RFC 3339 instant; needed for a period that has not ended (default: the period's end)",
    )
    pairing_options(p)
    pricing_inputs(p)
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for another run on the output")
    memory_option(p)
    engine_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    common_options(p)
    p.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from reconcile._run._period_run import run_period  # noqa: PLC0415 - keep `reconcile --help` fast

    summary = run_period(
        args.store,
        args.prices,
        args.output,
        args.period,
        cut_off=args.cut_off,
        double_start=args.double_start,
        stale_after=args.stale_after,
        tenants=args.tenants,
        contracts=args.contracts,
        quiet=args.quiet,
        wait=args.wait,
        memory_limit=args.memory_limit,
        engine=args.engine,
        spark=spark_options(args),
    )
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=True))
        return EXIT_OK
    print_run(summary)
    action = "replaced the previous run" if summary.replaced else "new"
    print(f"output: {summary.output} ({action})")
    return EXIT_OK


def add_demo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="generate a seeded fleet ledger and run the whole pipeline on it")
    p.add_argument("--output", default="demo-output", help="the folder for the ledgers, store and output")
    p.add_argument("--seed", type=int, default=7, help="the generator's seed: the same seed, the same fleet")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    common_options(p)
    p.set_defaults(handler=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from reconcile._run._demo import demo  # noqa: PLC0415 - keep `reconcile --help` fast

    summary = demo(args.output, seed=args.seed, quiet=args.quiet)
    if args.json:
        print(json.dumps(summary.to_json(), sort_keys=True))
        return EXIT_OK
    ingest = summary.ingest
    print(f"ledgers:  {summary.ledgers}")
    print(
        f"store:    {summary.store} ({ingest.events} events, {ingest.duplicates} duplicates,"
        f" {ingest.rejected} rejects, {ingest.pending} pending)"
    )
    for run in summary.runs:
        totals = ", ".join(f"{c} {a}" for c, a in run.totals.items())
        anomalies = sum(run.anomalies.values())
        print(f"{run.period}: {sum(run.intervals.values())} intervals, {anomalies} anomalies, {totals}")
    if summary.runs:
        print(f"\nlast day, {summary.runs[-1].period}:")
        print_run(summary.runs[-1], heading=False)
    if summary.inventory is not None:
        counts = ", ".join(f"{c} {n}" for c, n in summary.inventory.counts().items())
        print(f"inventory audit: {len(summary.inventory.findings)} findings ({counts})")
    print(
        f"\nParquet output: {summary.output}/slices, intervals, anomalies, inventory"
        f" (manifests in {summary.output}/manifests)"
    )
    output = str(Path(summary.output).resolve())
    print(f"next: {command_line('sql', 'daily_spend', '--output', output)}")
    return EXIT_OK


def add_checkpoints(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("checkpoints", help="show the pairing checkpoints of a store, or rebuild them")
    p.add_argument("--store", required=True, help="the event store folder")
    p.add_argument("--rebuild", action="store_true", help="remove them and walk the whole history again")
    memory_option(p)
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    common_options(p)
    p.set_defaults(handler=_cmd_checkpoints)


def _cmd_checkpoints(args: argparse.Namespace) -> int:
    from reconcile._pair._checkpoint_admin import checkpoint_report, rebuild_checkpoints  # noqa: PLC0415

    if args.rebuild:
        report = rebuild_checkpoints(args.store, quiet=args.quiet, memory=args.memory_limit)
    else:
        report = checkpoint_report(args.store)
    if args.json:
        print(json.dumps(report.to_json(), sort_keys=True))
    else:
        print("\n".join(report.lines()))
    return EXIT_OK


def add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "verify",
        help="check every file of a store and an output against what they record (size, rows, SHA-256)",
        description="A scrub: exit 0 when every file is the one its store.json, checkpoint.json,"
        " manifest.json or close.json records; exit 1 with one line per damaged file, what it affects"
        ' and how to recover it (docs/OPERATIONS.md, "Damaged files").',
    )
    p.add_argument("--store", help="the event store folder (default: none)")
    p.add_argument("--output", help="the output folder of `reconcile run` / `nightly` (default: none)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    common_options(p)
    p.set_defaults(handler=_cmd_verify)


def _cmd_verify(args: argparse.Namespace) -> int:
    from reconcile._run._verify import verify  # noqa: PLC0415 - keep `reconcile --help` fast

    report = verify(args.store, args.output, quiet=args.quiet)
    if args.json:
        print(json.dumps(report.to_json(), sort_keys=True))
    else:
        print("\n".join(report.lines()))
    if report.clean:
        return EXIT_OK
    print(f"error: {len(report.damage)} damaged file(s), listed above", file=sys.stderr)
    return EXIT_FAILED


def add_upgrade(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "upgrade-output",
        help="rewrite an output folder of an older format (naive instants) as the current one",
    )
    p.add_argument("--output", required=True, help="the output folder to upgrade in place")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a run holding the output")
    common_options(p)
    p.set_defaults(handler=_cmd_upgrade)


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from reconcile._output._upgrade import upgrade_output  # noqa: PLC0415 - keep `reconcile --help` fast

    done = upgrade_output(args.output, wait=args.wait)
    print(
        f"upgraded {done.output} from output format {done.from_format}: {done.files} files rewritten,"
        f" {done.skipped} already current"
    )
    return EXIT_OK
