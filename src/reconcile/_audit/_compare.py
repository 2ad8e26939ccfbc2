"""Each snapshot instant against the ledger's state then: ``audit_diffs``, the resources that differ.

The instants are compared in batches of about :data:`BATCH_ROWS` snapshot rows (a month of a large
fleet's hourly snapshots is hundreds of millions of rows; a batch of a few instants is a few
million), each batch one statement (``audit_diffs.sql``): its snapshot rows against the billed
intervals covering its instants. Memory is bounded by a batch, not by the month.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from reconcile._audit._inventory import Inventory, load_snapshots
from reconcile._core._period import format_ns
from reconcile._core._progress import Progress
from reconcile._core._sql import load_sql

BATCH_ROWS = 2_000_000


@dataclass
class Compared:
    """What the comparison counted: instants and rows compared, and the rows that differ by kind."""

    instants: int = 0
    rows: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # unbilled, unlisted, drift, conflict, repeated


def _batches(instants: list[int], rows_at: dict[int, int]) -> list[tuple[int, int]]:
    """``(first_idx, last_idx)`` of consecutive instants holding about BATCH_ROWS rows together."""
    out: list[tuple[int, int]] = []
    first, rows = 0, 0
    for idx, at in enumerate(instants):
        rows += rows_at.get(at, 0)
        if rows >= BATCH_ROWS:
            out.append((first, idx))
            first, rows = idx + 1, 0
    if first < len(instants):
        out.append((first, len(instants) - 1))
    return out


def compare(
    con: duckdb.DuckDBPyConnection, inventory: Inventory, instants: list[int], progress: Progress
) -> Compared:
    """``audit_diffs`` over every instant of ``audit_instants`` (``instants``, in order)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_diffs (idx BIGINT, observed_ns BIGINT, family VARCHAR,"
        " resource_id VARCHAR, kind VARCHAR, interval_id VARCHAR, rows BIGINT, cpu BIGINT, mem_bytes BIGINT,"
        " storage_bytes BIGINT, hypervisor VARCHAR, tenant_id VARCHAR, file_no BIGINT, line BIGINT)"
    )
    compared = Compared()
    for first, last in _batches(instants, inventory.rows_at):
        progress.update(
            f"audit: comparing snapshots {first + 1}-{last + 1}/{len(instants)}"
            f" ({format_ns(instants[first])})"
        )
        load_snapshots(con, inventory, instants[first : last + 1])
        con.execute("SET VARIABLE audit_first_idx = ?", [first])
        con.execute("SET VARIABLE audit_last_idx = ?", [last])
        con.execute("INSERT INTO audit_diffs " + load_sql("engine/audit/audit_diffs"))
        compared.instants += last - first + 1
        compared.rows += sum(inventory.rows_at.get(at, 0) for at in instants[first : last + 1])
    for kind, count in con.execute(
        "SELECT kind, count(*) FROM audit_diffs GROUP BY kind ORDER BY kind"
    ).fetchall():
        compared.kinds[str(kind)] = int(count)
    return compared
