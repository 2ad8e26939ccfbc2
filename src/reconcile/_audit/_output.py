"""The findings in an output folder, for analysts: the relation ``inventory_findings``.

``OUT/inventory/findings.parquet`` holds the latest audit's findings (one row each, the columns
of :data:`FINDINGS`, money as exact decimals, instants as UTC nanosecond timestamps) and
``OUT/inventory/audit.json`` what that audit read (its window, snapshots, counts). Each audit
that writes to the folder replaces both (a file written beside and renamed into place: a reader
sees the old findings or the new, never part of either); the nightly job audits its lookback
window every night, so the relation is the current state of the ledger against the inventory.
``sql/views/inventory_findings.sql`` reads the file; without one it is empty.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile._audit._summary import AuditSummary, Finding
from reconcile._core._files import fsync_path, make_private_dir, private_files, write_json_atomic
from reconcile._core._jsonvalue import JsonObject
from reconcile._core._period import parse_instant
from reconcile._core._schema import INSTANT, MONEY
from reconcile.exceptions import OutputError

FOLDER = "inventory"
FILE = "findings.parquet"

FINDINGS: dict[str, str] = {
    "code": "VARCHAR",
    "family": "VARCHAR",
    "resource_id": "VARCHAR",
    "tenant_id": "VARCHAR",
    "hypervisor": "VARCHAR",
    "interval_id": "VARCHAR",
    "direction": "VARCHAR",
    "at_risk_min": MONEY,
    "at_risk_max": MONEY,
    "currency": "VARCHAR",
    "delta_low": MONEY,
    "delta_high": MONEY,
    "billed_now": MONEY,
    "first_seen_at": INSTANT,
    "last_seen_at": INSTANT,
    "snapshots": "BIGINT",
    "seen_before_at": INSTANT,
    "seen_after_at": INSTANT,
    "after_state": "VARCHAR",
    "missed_after_at": INSTANT,
    "missed_by_at": INSTANT,
    "second_after_at": INSTANT,
    "second_by_at": INSTANT,
    "ledger_cpu": "BIGINT",
    "ledger_mem_bytes": "BIGINT",
    "ledger_storage_bytes": "BIGINT",
    "seen_cpu": "BIGINT",
    "seen_mem_bytes": "BIGINT",
    "seen_storage_bytes": "BIGINT",
    "evidence": "VARCHAR",
    "proposed": "VARCHAR",
    "window_start": INSTANT,
    "window_end": INSTANT,
    "cut_off": INSTANT,
    "audited_at": INSTANT,
}
"""The columns of ``inventory_findings`` with their DuckDB types (docs/SPEC.md, "Inventory audit"),
in order: the file's schema and the view's empty relation."""

_ARROW = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    MONEY: pa.decimal128(38, 12),
    INSTANT: pa.timestamp("ns", tz="UTC"),
}


def _row(f: Finding, window: tuple[int, int, int], audited_ns: int) -> tuple[object, ...]:
    ledger = f.ledger_shape or (None, None, None)
    seen = f.seen_shape or (None, None, None)
    return (
        f.code, f.family, f.resource_id, f.tenant_id, f.hypervisor, f.interval_id, f.direction,
        f.at_risk_min, f.at_risk_max, f.currency, f.delta_low, f.delta_high, f.billed_now,
        f.first_seen_ns, f.last_seen_ns, f.snapshots, f.seen_before_ns, f.seen_after_ns, f.after_state,
        f.missed_after_ns, f.missed_by_ns, f.second_after_ns, f.second_by_ns,
        *ledger, *seen, f.evidence, "; ".join(p.describe() for p in f.proposed) or None,
        *window, audited_ns,
    )  # fmt: skip


def findings_table(findings: Sequence[Finding], summary: AuditSummary, audited: dt.datetime) -> pa.Table:
    """The findings as the relation's rows."""
    window = tuple(parse_instant(summary.window[k]) for k in ("start", "end", "cut_off"))
    audited_ns = int(audited.timestamp()) * 1_000_000_000 + audited.microsecond * 1_000
    rows = [_row(f, window, audited_ns) for f in findings]  # type: ignore[arg-type]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(FINDINGS)
    return pa.table(
        [
            pa.array(list(values), type=_ARROW[kind])
            for values, kind in zip(columns, FINDINGS.values(), strict=True)
        ],
        names=list(FINDINGS),
    )


def write_findings(output: str | os.PathLike[str], summary: AuditSummary, audited: dt.datetime) -> Path:
    """Replace the output folder's findings with ``summary``'s (module doc); the caller holds the
    folder's lock. Returns the findings file."""
    folder = Path(output) / FOLDER
    target = folder / FILE
    tmp = folder / f".{FILE}.tmp-{os.getpid()}"
    try:
        make_private_dir(folder)
        with private_files():
            pq.write_table(findings_table(summary.findings, summary, audited), tmp, compression="zstd")
            document: JsonObject = {k: v for k, v in summary.to_json().items() if k != "findings"}
            document["audited_at"] = audited.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            write_json_atomic(folder / "audit.json", document)
            fsync_path(tmp)
            os.replace(tmp, target)
            fsync_path(folder)
    except OSError as exc:
        raise OutputError(f"inventory findings in {folder}: cannot write: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
