"""`reconcile nightly`: its options (command line, RECONCILE_*, --config), the output's lock taken
first, the summary."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import TYPE_CHECKING

from reconcile._cli._base import (
    EXIT_ANOMALIES,
    EXIT_OK,
    common_options,
    engine_options,
    memory_option,
    pairing_options,
    pricing_inputs,
    print_run,
    spark_options,
)
from reconcile.exceptions import UsageError

if TYPE_CHECKING:  # (the engine is loaded only when a command runs: `reconcile --help` stays fast)
    from reconcile._run._config import NightlyOptions
    from reconcile._run._results import NightlySummary


def add_nightly(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "nightly",
        help="ingest, run yesterday (UTC), restate earlier days that changed",
        description="Every option can also come from RECONCILE_<NAME> (e.g. RECONCILE_MAX_SILENCE) or"
        " from the TOML file of --config; the command line wins, then the environment, then the file.",
    )
    p.add_argument("paths", nargs="*", help="ledger files, folders or globs to ingest (RECONCILE_PATHS: a:b)")
    p.add_argument("--config", help="a TOML file of these options (default: $RECONCILE_CONFIG, none)")
    p.add_argument("--store", help="the event store folder (required)")
    p.add_argument("--output", help="the output folder of the day runs (required)")
    p.add_argument("--prices", help="price book file, or 'bundled' (required)")
    p.add_argument("--lookback", type=int, help="days before yesterday to restate when changed (default 35)")
    p.add_argument("--today", help="YYYY-MM-DD to treat as today (UTC) (default: the clock)")
    pairing_options(p, defaults=False)
    pricing_inputs(p, defaults=False)
    p.add_argument(
        "--max-silence",
        help="report each ledger source whose newest event is older than this at the cut-off, e.g. 6h"
        " (default: not checked)",
    )
    p.add_argument(
        "--fail-on",
        action="append",
        metavar="WHAT",
        help="exit 3 after committing when the night found these: a comma list of anomalies, rejects,"
        " findings, silent-sources, inventory (default: none)",
    )
    p.add_argument("--fail-on-anomalies", action="store_true", help="the same as --fail-on anomalies")
    p.add_argument("--wait", type=float, help="seconds to wait for another run or ingest (default 0)")
    p.add_argument(
        "--inventory",
        action="append",
        metavar="PATH",
        help="the platform's inventory snapshots (files, folders, globs; repeatable; RECONCILE_INVENTORY:"
        " a:b): the lookback window's are audited against the ledger (default: no audit)",
    )
    memory_option(p)
    engine_options(p, defaults=False)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    common_options(p)
    p.set_defaults(handler=_cmd_nightly)


def _nightly_options(args: argparse.Namespace) -> NightlyOptions:
    from reconcile._run._config import NightlyOptions, resolve  # noqa: PLC0415 - standard library only
    from reconcile._run._results import FAIL_ON  # noqa: PLC0415

    given = dict(vars(args))
    given["fail_on"] = [x.strip() for v in args.fail_on or [] for x in v.split(",") if x.strip()]
    o = NightlyOptions.of(resolve(given))
    fail_on = o.fail_on + (["anomalies"] if o.fail_on_anomalies else [])
    unknown = [x for x in fail_on if x not in FAIL_ON]
    if unknown:
        raise UsageError(f"--fail-on {', '.join(unknown)}: expected some of {', '.join(FAIL_ON)}")
    if "silent-sources" in fail_on and o.max_silence is None:
        raise UsageError("--fail-on silent-sources needs --max-silence DURATION")
    if "inventory" in fail_on and not o.inventory:
        raise UsageError("--fail-on inventory needs --inventory PATH (the platform's snapshots)")
    return dataclasses.replace(o, fail_on=sorted(set(fail_on)))


def _cmd_nightly(args: argparse.Namespace) -> int:
    from reconcile._core._files import holding_output  # noqa: PLC0415 - standard library only

    o = _nightly_options(args)
    # the output's lock first: a second nightly is refused before the engine is even loaded
    with holding_output(o.output, wait=o.wait) as lock_fd:
        from reconcile._run._nightly import nightly  # noqa: PLC0415 - keep `reconcile --help` fast

        summary = nightly(
            o.paths,
            o.store,
            o.output,
            o.prices,
            lookback=o.lookback,
            today=o.today,
            double_start=o.double_start,
            stale_after=o.stale_after,
            tenants=o.tenants,
            contracts=o.contracts,
            max_silence=o.max_silence,
            quiet=o.quiet,
            wait=o.wait,
            memory_limit=o.memory_limit,
            lock_fd=lock_fd,
            engine=o.engine,
            spark=spark_options(o),
            inventory=o.inventory or None,
        )
    failures = summary.failures(o.fail_on)
    if o.json:
        print(json.dumps({**summary.to_json(), "failed_on": failures}, sort_keys=True))
    else:
        _print_nightly(summary)
    for line in failures:
        print(f"error: {line} (--fail-on)", file=sys.stderr)
    return EXIT_ANOMALIES if failures else EXIT_OK


def _print_nightly(summary: NightlySummary) -> None:
    ingest = summary.ingest
    print(
        f"ingest: {ingest.events} new events, {ingest.duplicates} duplicates,"
        f" {summary.rejected} rejects, {ingest.pending} pending"
    )
    if summary.rejected:
        codes = ", ".join(f"{c} {n}" for c, n in sorted(ingest.rejects.items()) if n)
        print(f"rejects: {codes}")
        sample = ingest.reject_sample
        for item in sample:
            print(f"  {item}")
        if summary.rejected > len(sample):
            print(f"  ... {summary.rejected - len(sample)} more: reconcile sql rejects --store STORE")
    for finding in ingest.findings:
        print(f"skipped: {finding.path}: {finding.detail}")
    for day in summary.days:
        print(f"{day.period}: {day.action:<9} run_id {day.run_id}  anomalies {day.anomalies}")
    print(f"restated: {', '.join(summary.restated) or 'none'}")
    for restatement in summary.restatements:
        print(restatement.line())
    if summary.max_silence_ns is not None:
        for source in summary.silent_sources:
            print(
                f"silent source: {source.source}: newest event {source.newest_at or 'none'},"
                f" last grew {source.grew_at or 'never'}"
            )
        if not summary.silent_sources:
            print(f"sources: {len(summary.sources)}, none silent")
    for run in summary.runs:
        if run.period == summary.yesterday:
            print_run(run)
    _print_inventory(summary)


def _print_inventory(summary: NightlySummary) -> None:
    """The inventory audit's summary (``--inventory``), each line marked."""
    if summary.inventory is not None:
        for line in summary.inventory.lines():
            print(f"inventory: {line}")
