"""The findings in an output folder, for analysts: the relation ``inventory_findings``.

``OUT/inventory/findings.parquet`` holds the latest audit's findings (one row each, the columns
of :data:`COLUMNS`, money as exact decimals, instants as UTC nanosecond timestamps) and
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
from reconcile._files import fsync_path, make_private_dir, private_files, write_json_atomic
from reconcile._jsonvalue import JsonObject
from reconcile._period import parse_instant
from reconcile.exceptions import OutputError

FOLDER = "inventory"
FILE = "findings.parquet"

_MONEY = pa.decimal128(38, 12)
_AT = pa.timestamp("ns", tz="UTC")
COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("code", pa.string()),
    ("family", pa.string()),
    ("resource_id", pa.string()),
    ("tenant_id", pa.string()),
    ("hypervisor", pa.string()),
    ("interval_id", pa.string()),
    ("direction", pa.string()),
    ("at_risk_min", _MONEY),
    ("at_risk_max", _MONEY),
    ("currency", pa.string()),
    ("delta_low", _MONEY),
    ("delta_high", _MONEY),
    ("billed_now", _MONEY),
    ("first_seen_at", _AT),
    ("last_seen_at", _AT),
    ("snapshots", pa.int64()),
    ("seen_before_at", _AT),
    ("seen_after_at", _AT),
    ("missed_after_at", _AT),
    ("missed_by_at", _AT),
    ("second_after_at", _AT),
    ("second_by_at", _AT),
    ("ledger_cpu", pa.int64()),
    ("ledger_mem_bytes", pa.int64()),
    ("ledger_storage_bytes", pa.int64()),
    ("seen_cpu", pa.int64()),
    ("seen_mem_bytes", pa.int64()),
    ("seen_storage_bytes", pa.int64()),
    ("evidence", pa.string()),
    ("proposed", pa.string()),
    ("window_start", _AT),
    ("window_end", _AT),
    ("cut_off", _AT),
    ("audited_at", _AT),
)
"""The columns of ``inventory_findings`` (docs/SPEC.md, "Inventory audit"), in order."""


def _row(f: Finding, window: tuple[int, int, int], audited_ns: int) -> tuple[object, ...]:
    ledger = f.ledger_shape or (None, None, None)
    seen = f.seen_shape or (None, None, None)
    return (
        f.code, f.family, f.resource_id, f.tenant_id, f.hypervisor, f.interval_id, f.direction,
        f.at_risk_min, f.at_risk_max, f.currency, f.delta_low, f.delta_high, f.billed_now,
        f.first_seen_ns, f.last_seen_ns, f.snapshots, f.seen_before_ns, f.seen_after_ns,
        f.missed_after_ns, f.missed_by_ns, f.second_after_ns, f.second_by_ns,
        *ledger, *seen, f.evidence, "; ".join(p.describe() for p in f.proposed) or None,
        *window, audited_ns,
    )  # fmt: skip


def findings_table(findings: Sequence[Finding], summary: AuditSummary, audited: dt.datetime) -> pa.Table:
    """The findings as the relation's rows."""
    window = tuple(parse_instant(summary.window[k]) for k in ("start", "end", "cut_off"))
    audited_ns = int(audited.timestamp()) * 1_000_000_000 + audited.microsecond * 1_000
    rows = [_row(f, window, audited_ns) for f in findings]  # type: ignore[arg-type]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    return pa.table(
        [pa.array(list(values), type=kind) for values, (_, kind) in zip(columns, COLUMNS, strict=True)],
        names=[name for name, _ in COLUMNS],
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
