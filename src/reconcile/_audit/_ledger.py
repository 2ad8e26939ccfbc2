"""The ledger's side of the audit: the pairing walk's state at each snapshot instant of the window.

The walk is causal and per resource (SPEC section 3), so the state at an instant t is the walk
read as of any cut-off after t: the billed intervals ``[start, end)`` with ``start <= t < end``
(open ones: to the cut-off and on). The audit reads the walk once, through the walker's as-of read
over the store's checkpoints (``Walker.walk`` from the latest valid checkpoint before the window,
``Walker.as_of`` at its cut-off), the very read a run of the window makes: the intervals and
anomalies as the bill has them. It writes no checkpoint: it is a reader of the store.

The walk runs in a connection of its own, closed once the billed intervals and the ledger's events
are written to scratch Parquet (:func:`read_ledger`): a month's walk holds the month's events in
DuckDB, and the comparison after it should not share a memory limit with them. Then, in the
comparison's connection (:func:`ledger_at`): ``audit_instants`` (the snapshot instants compared,
numbered), ``audit_ledger`` (each billed interval with the range of instants it covers) and
``audit_events`` (the ledger's events per resource, bounding what the evidence allows).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import literal
from reconcile._core._period import format_ns
from reconcile._core._policies import DoubleStartPolicy
from reconcile._core._progress import Progress
from reconcile._core._sql import load_sql
from reconcile._pair._walk import AsOf
from reconcile._pair._walker import Walker
from reconcile._store._reader import Store
from reconcile.exceptions import UsageError

BILLED = "ledger-billed.parquet"
EVENTS = "ledger-events.parquet"


@dataclass(frozen=True)
class Window:
    """The bill the audit weighs findings against: ``[start_ns, end_ns)``, as of ``cut_off_ns``
    (in ``(start_ns, end_ns]``): the snapshots compared are those in ``[start_ns, cut_off_ns)``."""

    start_ns: int
    end_ns: int
    cut_off_ns: int

    def __post_init__(self) -> None:
        if not self.start_ns < self.cut_off_ns <= self.end_ns:
            raise UsageError(
                f"audit window [{format_ns(self.start_ns)}, {format_ns(self.end_ns)}) with cut-off"
                f" {format_ns(self.cut_off_ns)}: the cut-off must lie in the window, after its start"
            )

    def holds(self, at_ns: int) -> bool:
        """Whether a snapshot at ``at_ns`` is compared."""
        return self.start_ns <= at_ns < self.cut_off_ns

    def to_json(self) -> dict[str, str]:
        """RFC 3339 bounds."""
        return {
            "start": format_ns(self.start_ns),
            "end": format_ns(self.end_ns),
            "cut_off": format_ns(self.cut_off_ns),
        }


def register_instants(
    con: duckdb.DuckDBPyConnection, instants: Iterable[int], incomplete: set[int]
) -> list[int]:
    """``audit_instants`` (``idx`` from 0, ``observed_ns``, ``complete``) of the instants given,
    in order; returns them sorted."""
    ordered = sorted(set(instants))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_instants AS SELECT unnest(CAST(? AS BIGINT[])) AS idx,"
        " unnest(CAST(? AS BIGINT[])) AS observed_ns, unnest(CAST(? AS BOOLEAN[])) AS complete",
        [list(range(len(ordered))), ordered, [at not in incomplete for at in ordered]],
    )
    return ordered


def read_ledger(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    window: Window,
    *,
    double_start: DoubleStartPolicy,
    scratch: Path,
    progress: Progress,
) -> int:
    """Walk ``store`` for ``window`` and write what the audit needs of it to ``scratch``
    (:data:`BILLED` and :data:`EVENTS`, read back by :func:`ledger_at`): the caller then closes
    ``con``, and with it every relation of the walk. Returns the events before the cut-off (the
    role counts' events, checked)."""
    walker = Walker(con, store, progress, scratch=scratch, write_checkpoints=False)
    walker.walk(window.start_ns, window.cut_off_ns)
    roles = walker.as_of(
        AsOf(window.cut_off_ns, double_start),
        period=(window.start_ns, window.cut_off_ns),
        event_roles=False,
    )
    for sql, target in (("engine/audit/audit_billed", BILLED), ("engine/audit/audit_events", EVENTS)):
        con.execute(
            f"COPY ({load_sql(sql)}) TO ? (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1,"
            " ROW_GROUP_SIZE 100000)",
            [str(scratch / target)],
        )
    return roles.checked("audit").events


def ledger_at(con: duckdb.DuckDBPyConnection, scratch: Path) -> None:
    """``audit_ledger`` and ``audit_events`` from what :func:`read_ledger` wrote (``audit_instants``
    must be made first)."""
    for name, target in (("audit_billed", BILLED), ("audit_events", EVENTS)):
        con.execute(f"SET VARIABLE {name}_file = ?", [literal(scratch / target)])
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet(getvariable('{name}_file'))"
        )
    con.execute("CREATE OR REPLACE TEMP TABLE audit_ledger AS " + load_sql("engine/audit/audit_ledger"))
