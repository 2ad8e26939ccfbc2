"""What every command shares: exit codes, the parser class, common options, a run's summary."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconcile.exceptions import UsageError

if TYPE_CHECKING:  # (the engine is loaded only when a command runs)
    from reconcile._core._policies import SparkOptions
    from reconcile._run._config import NightlyOptions
    from reconcile._run._results import RunSummary

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ANOMALIES = 3


class Formatter(argparse.HelpFormatter):
    """Help that shows every option's default (unless its text already says it) and marks the
    required ones."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.required and action.option_strings and "required" not in text:
            return f"{text} (required)"
        default = action.default
        if "default" in text or not action.option_strings or default in (None, False, [], argparse.SUPPRESS):
            return text
        return f"{text} (default: {default})"


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as ``error: ...`` with exit code 2, with :class:`Formatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 (argparse's own)
        kwargs.setdefault("formatter_class", Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def command_line(*args: str) -> str:
    """A ``reconcile ...`` command line runnable as printed, in any shell: the script that is running
    by its absolute path (``uv run`` and an inactive virtual environment put ``reconcile`` on the
    PATH of this process only), or ``python -m reconcile._cli``; arguments quoted."""
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "reconcile" and script.is_file():
        head = [str(script.resolve())]
    else:
        head = [sys.executable, "-m", "reconcile._cli"]
    return " ".join(shlex.quote(part) for part in [*head, *args])


def memory_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="DuckDB's memory limit, e.g. 4GB (default: $RECONCILE_MEMORY_LIMIT, else 1500MB); past it"
        " DuckDB spills to disk",
    )


def pairing_options(p: argparse.ArgumentParser, *, defaults: bool = True, stale: bool = True) -> None:
    """How pairing reads the ledger: ``--double-start`` and (``stale``) ``--stale-after``, defined once
    for run, nightly and audit (``defaults=False``: None when not given, for the nightly's other
    sources of options)."""
    p.add_argument(
        "--double-start",
        choices=["close", "drop"],
        default="close" if defaults else None,
        help="a start while the resource is open: close the open interval there, or drop the start"
        " (default close)",
    )
    if stale:
        p.add_argument(
            "--stale-after", help="report intervals open longer than this, e.g. 7d, 36h (default: never)"
        )


def pricing_inputs(p: argparse.ArgumentParser, *, defaults: bool = True, contracts: bool = True) -> None:
    """Who pays and on which terms: ``--tenants`` and (``contracts``) ``--contracts``, defined once
    (``defaults=False``: None when not given, for the nightly, whose other sources are its config
    file and RECONCILE_CONTRACTS)."""
    p.add_argument(
        "--tenants",
        help="CSV or Parquet: resource_id, tenant_id[, valid_from, valid_to] (default: unattributed)",
    )
    if contracts:
        p.add_argument(
            "--contracts",
            default=(os.environ.get("RECONCILE_CONTRACTS") or None) if defaults else None,
            help="customer contracts (TOML, docs/SPEC.md 'Contracts'): negotiated prices, discounts, tiers,"
            " monthly minimums; a change restates the days it changes (default: $RECONCILE_CONTRACTS,"
            " else none: every tenant at list price)",
        )


def engine_options(p: argparse.ArgumentParser, *, defaults: bool = True) -> None:
    """``--engine`` and the Spark engine's options (``defaults=False``: None when not given, for the
    nightly's other sources of options)."""
    p.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        default="duckdb" if defaults else None,
        help="where pairing and pricing run: this process's DuckDB, or Spark tasks (the [spark] extra"
        " and Java 17; docs/SCALING.md)" + ("" if defaults else " (default duckdb)"),
    )
    p.add_argument(
        "--spark-master",
        metavar="URL",
        help="Spark's master: local[N], spark://HOST:PORT, ..."
        " (default: what spark-submit set, else local[*])",
    )
    p.add_argument(
        "--spark-buckets",
        type=int,
        metavar="N",
        help="buckets of (family, resource_id) the events are hashed into (default: 4 per Spark core)",
    )
    p.add_argument(
        "--spark-task-memory",
        metavar="SIZE",
        help="the memory limit of each Spark task's DuckDB, which spills past it (default 1GB)",
    )


def spark_options(args: argparse.Namespace | NightlyOptions) -> SparkOptions | None:
    """The Spark engine's options from ``engine_options``' arguments, or the nightly's resolved
    options (None: the DuckDB engine); a task memory not given is the engine's default."""
    from reconcile._core._policies import SparkOptions  # noqa: PLC0415 - standard library only

    if getattr(args, "engine", None) != "spark":
        return None
    memory = args.spark_task_memory
    return SparkOptions(
        master=args.spark_master, buckets=args.spark_buckets, **({"task_memory": memory} if memory else {})
    )


def common_options(p: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--quiet`` and ``--debug``, taken before the command (``top``: the main parser's, default
    False) or after it (a command's: given or not, it never resets what was given before the
    command: argparse copies a command's defaults over the main parser's values)."""
    default = False if top else argparse.SUPPRESS
    p.add_argument(
        "--quiet", action="store_true", default=default, help="no progress on stderr (default: progress on)"
    )
    p.add_argument("--debug", action="store_true", default=default, help="print tracebacks on errors")


def print_run(summary: RunSummary, *, heading: bool = True) -> None:
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


Handler = Callable[[argparse.Namespace], int]
