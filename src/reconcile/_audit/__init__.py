"""The inventory audit: the ledger reconciled against the platform's own list of what runs.

The producer loses lines by design (SPEC section 1), and a resize emits nothing: a lost stop bills
a customer until the next start, a lost start bills nothing, a silent resize bills the old shape.
The platform's database knows what runs; its inventory snapshots (docs/SPEC.md, "Inventory
snapshots") are compared, instant by instant, with the state of the pairing walk then, and every
disagreement becomes a finding with the money at risk (docs/SPEC.md, "Inventory audit"):

- ``_formats``, ``_inventory``: the snapshot files read and checked (bad files and rows named);
- ``_ledger``: the walk's state at the snapshot instants (the walker's as-of read of the window);
- ``_compare``: each instant against that state, in batches (``audit_diffs``);
- ``_money``: runs of instants into findings, priced by the pricing stage (``audit_findings``);
- ``_findings``, ``_propose``: the findings as objects, and the ledger lines they support;
- ``_output``: the relation ``inventory_findings`` in an output folder; ``_summary``: the report.

:func:`audit` runs them for ``reconcile audit``; :func:`audit_window` for the nightly job.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._audit._compare import compare
from reconcile._audit._findings import read_findings
from reconcile._audit._inventory import read_inventory
from reconcile._audit._ledger import Window, ledger_at, read_ledger, register_instants
from reconcile._audit._money import price_findings
from reconcile._audit._output import write_findings
from reconcile._audit._propose import POLICIES, write_proposal
from reconcile._audit._summary import CODES, AuditSummary, Finding, Proposed
from reconcile._core._duckdb import connect, engine_errors
from reconcile._core._duckdb import memory_limit as checked_memory_limit
from reconcile._core._files import holding_output
from reconcile._core._period import NS_PER_DAY, format_ns, parse_instant, parse_period
from reconcile._core._policies import DOUBLE_START_POLICIES, DoubleStartPolicy
from reconcile._core._progress import Progress
from reconcile._core._scratch import scratch_dir
from reconcile._price import _book as _pricebook
from reconcile._price import _tenants
from reconcile._price._book import price_book
from reconcile._store._reader import Store
from reconcile.exceptions import StoreError, UsageError

__all__ = ["CODES", "POLICIES", "AuditSummary", "Finding", "Proposed", "Window", "audit", "audit_window"]


def _paths(inventory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(inventory, str | os.PathLike):
        return [Path(inventory)]
    return [Path(p) for p in inventory]


def _window(
    instants: Sequence[int], period: str | None, cut_off: str | None, window: Window | None
) -> Window:
    """The window given, the period's, or the UTC days the snapshots span; the cut-off its end
    unless given."""
    if window is not None:
        return window
    if period is not None:
        p = parse_period(period)
        start, end = p.start_ns, p.end_ns
    elif instants:
        start = min(instants) - min(instants) % NS_PER_DAY
        end = max(instants) - max(instants) % NS_PER_DAY + NS_PER_DAY
    else:
        raise UsageError(
            "the inventory holds no snapshot row to audit (give --period to audit an empty window)"
        )
    return Window(start, end, end if cut_off is None else parse_instant(cut_off))


def audit_window(
    store: str | os.PathLike[str],
    inventory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    book: _pricebook.PriceBook,
    *,
    window: Window | None = None,
    period: str | None = None,
    cut_off: str | None = None,
    tenants: pa.Table | None = None,
    double_start: DoubleStartPolicy = "close",
    policy: str = "customer",
    memory_limit: str | None = None,
    progress: Progress | None = None,
) -> AuditSummary:
    """Audit ``store`` against the snapshots of ``inventory`` (files, folders, globs) over a window
    (``window``; else ``period``, a day or a month; else the UTC days the snapshots span; cut-off
    its end unless ``cut_off``), priced with ``book`` and ``tenants``. Writes nothing."""
    if policy not in POLICIES:
        raise UsageError(f"--propose-at {policy!r}: expected one of {', '.join(POLICIES)}")
    if double_start not in DOUBLE_START_POLICIES:
        raise UsageError(f"double_start must be 'close' or 'drop', got {double_start!r}")
    progress = progress if progress is not None else Progress(quiet=True)
    source = Store(store)
    if not source.exists():
        raise StoreError(f"no event store at {source.path} (run `reconcile ingest` first)")
    limit = checked_memory_limit(memory_limit)
    # three connections one after the other, each closed before the next (one memory limit at a time):
    # the files checked; the walk; the comparison and the money
    with scratch_dir("audit") as scratch:
        with (
            connect(memory_limit=limit, scratch=scratch) as con,
            engine_errors("audit: reading the inventory", memory_limit=limit, where=str(scratch)),
        ):
            found = read_inventory(con, _paths(inventory), scratch / "inventory", progress)
            con.execute("COPY audit_excluded TO ? (FORMAT parquet)", [str(scratch / "excluded.parquet")])
        chosen = _window(list(found.instants), period, cut_off, window)
        instants = [at for at in found.instants if chosen.holds(at)]
        progress.note(
            f"audit: {len(instants)} snapshot instant(s) in [{format_ns(chosen.start_ns)},"
            f" {format_ns(chosen.cut_off_ns)}); pairing the store's events"
        )
        with (
            connect(memory_limit=limit, scratch=scratch) as con,
            engine_errors("audit: pairing", memory_limit=limit, where=str(source.path)),
        ):
            events = read_ledger(
                con, source, chosen, double_start=double_start, scratch=scratch, progress=progress
            )
        with connect(memory_limit=limit, scratch=scratch) as con:
            with engine_errors("audit: comparing", memory_limit=limit, where=str(scratch)):
                ordered = register_instants(con, instants, found.incomplete)
                ledger_at(con, scratch)
                con.execute("SET VARIABLE audit_excluded_file = ?", [str(scratch / "excluded.parquet")])
                con.execute(
                    "CREATE TEMP TABLE audit_excluded AS"
                    " SELECT * FROM read_parquet(getvariable('audit_excluded_file'))"
                )
                compared = compare(con, found, ordered, progress)
            with engine_errors("audit: pricing the findings", memory_limit=limit):
                price_findings(con, book, tenants, chosen)
                findings = read_findings(con, found, policy)
    progress.note(f"audit: {len(findings)} finding(s)")
    return AuditSummary(
        store=str(source.path),
        window=chosen.to_json(),
        currency=book.currency,
        files=len(found.files),
        instants=len(instants),
        outside=len(found.instants) - len(instants),
        incomplete=len(found.incomplete & set(instants)),
        rows=compared.rows,
        events=events,
        findings=findings,
        skipped=found.findings,
        bad_rows=found.bad_rows,
        bad_counts=dict(sorted(found.bad_counts.items())),
        repeated=compared.kinds.get("repeated", 0),
        conflicts=compared.kinds.get("conflict", 0),
        policy=policy,
    )


def audit(
    store: str | os.PathLike[str],
    inventory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    prices: str | os.PathLike[str] | _pricebook.PriceBook,
    *,
    tenants: str | os.PathLike[str] | None = None,
    period: str | None = None,
    cut_off: str | None = None,
    double_start: DoubleStartPolicy = "close",
    output: str | os.PathLike[str] | None = None,
    propose: str | os.PathLike[str] | None = None,
    policy: str = "customer",
    quiet: bool = False,
    memory_limit: str | None = None,
    wait: float = 0.0,
    lock_fd: int | None = None,
) -> AuditSummary:
    """``reconcile audit``: :func:`audit_window`, then the findings written to ``output`` (the
    relation ``inventory_findings``; under the folder's lock, taken here unless ``lock_fd`` says
    the caller holds it) and the ledger lines they support to ``propose`` (a new file)."""
    if propose is not None and Path(propose).exists():
        raise UsageError(
            f"--propose {propose}: the file exists; each proposal is a new ledger file: pick another name"
        )
    if output is not None and not Path(output).is_dir():
        raise UsageError(
            f"--output {output}: no such folder (an output folder of `reconcile run` or `nightly`)"
        )
    book = price_book(prices if isinstance(prices, _pricebook.PriceBook) else str(prices))
    table = None if tenants is None else _tenants.load_tenants(Path(tenants))
    progress = Progress(quiet=quiet)
    summary = audit_window(
        store,
        inventory,
        book,
        period=period,
        cut_off=cut_off,
        tenants=table,
        double_start=double_start,
        policy=policy,
        memory_limit=memory_limit,
        progress=progress,
    )
    if output is not None:
        audited = dt.datetime.now(dt.UTC)
        if lock_fd is None:
            with holding_output(output, wait=wait):
                summary.output = str(write_findings(output, summary, audited))
        else:
            summary.output = str(write_findings(output, summary, audited))
    if propose is not None:
        summary.proposed_lines = write_proposal(propose, [p for f in summary.findings for p in f.proposed])
        summary.proposal = str(propose)
    return summary
