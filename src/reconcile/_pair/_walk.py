"""Stage: events -> intervals, anomalies and event roles (SPEC section 3), walked from a checkpoint.

The walk is SQL (``sql/engine/pair/*.sql``) over named relations in one DuckDB connection:

- :func:`walk` reads ``events`` (the store's events, or any table of its columns), ``state_open``
  and ``state_seen`` (the state of every resource before ``walk_from_ns``: a checkpoint, or empty)
  and materialises ``pair_steps`` (from the views ``pair_window`` and ``pair_input``): within one
  ``(family, resource_id)`` the events of ``[walk_from_ns, walk_to_ns)`` in the order
  ``emitted_ns``, stop before start, ``source_file``, ``source_line``, ``event_id``, each with the
  previous and the next event. The state after an event is ``open`` exactly when the event is a
  start, so one window pass settles every role.
- :func:`as_of` projects the walk as it stood at a cut-off (any cut-off up to the walk's end: the
  walk is causal) into ``intervals`` (a view), ``anomalies`` and ``event_roles`` (tables), and
  :func:`window_roles` counts the roles of the window's events before it.
- :func:`state_at` makes the state at a midnight inside the walk: the next checkpoint.

Everything is per resource, with no state across resources: the same SQL runs on a bucket of
resources (the Spark engine) as on a whole store. :func:`pair_in` is the walk of a whole table from
an empty state. :func:`pair` (public, in ``_analysis``) uses a store's checkpoints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._core import _schema as schema
from reconcile._core._duckdb import drop_relation, literals
from reconcile._core._period import NS_PER_MICROSECOND, NS_PER_SECOND, SECONDS_PER_DAY
from reconcile._core._policies import DOUBLE_START_POLICIES, DoubleStartPolicy
from reconcile._core._sql import load_sql
from reconcile.exceptions import InputError, ReconcileError, UsageError

# Relations of the stage (docs/ARCHITECTURE.md, "Pairing").
EVENTS = "events"
STATE_OPEN = "state_open"
STATE_SEEN = "state_seen"  # a view: state_seen_base (a month start's full set) + state_seen_delta
STATE_SEEN_BASE = "state_seen_base"
STATE_SEEN_DELTA = "state_seen_delta"
NEXT_OPEN = "next_open"  # the state at a midnight inside the walk (state_at)
NEXT_SEEN = "next_seen"
NEXT_SEEN_DELTA = "next_seen_delta"
WINDOW_FIRST_SEEN = "window_first_seen"  # made by the first state_at of a walk
INTERVALS = "intervals"
ANOMALIES = "anomalies"
EVENT_ROLES = "event_roles"

#: Bumped when the walk would give other states for the same events: checkpoints record it and one
#: of another format is not used.
WALK_FORMAT = 1

# The columns of an open start in a state (the events columns the walk carries).
STATE_OPEN_COLUMNS: dict[str, str] = {
    name: schema.EVENTS[name]
    for name in (
        "event_id",
        "family",
        "resource_id",
        "vm_id",
        "snapshot_id",
        "source_snapshot_id",
        "reason",
        "hypervisor",
        "cpu",
        "mem_bytes",
        "storage_bytes",
        "emitted_ns",
        "source_file",
        "source_line",
    )
}
STATE_SEEN_COLUMNS: dict[str, str] = {"family": "VARCHAR", "resource_id": "VARCHAR"}

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Roles:
    """Role counts of SPEC section 2: events, and their starts, closing stops and unmatched stops."""

    events: int = 0
    start: int = 0
    stop: int = 0
    unmatched_stop: int = 0

    def __add__(self, other: Roles) -> Roles:
        return Roles(
            self.events + other.events,
            self.start + other.start,
            self.stop + other.stop,
            self.unmatched_stop + other.unmatched_stop,
        )

    def checked(self, what: str = "") -> Roles:
        """These counts, or ReconcileError when they break the role identity (every event a start, a
        closing stop or an unmatched stop); ``what`` names where they were summed."""
        if self.events != self.start + self.stop + self.unmatched_stop:
            raise ReconcileError(
                f"{what}{': ' if what else ''}role identity broken: {self.events} events, {self.start}"
                f" starts + {self.stop} stops + {self.unmatched_stop} unmatched stops"
            )
        return self

    def to_json(self) -> dict[str, int]:
        """As the manifest's ``roles`` and a checkpoint's."""
        return {
            "events": self.events,
            "start": self.start,
            "stop": self.stop,
            "unmatched_stop": self.unmatched_stop,
        }

    @classmethod
    def from_json(cls, data: dict[str, int]) -> Roles:
        """Read ``to_json``'s form."""
        return cls(int(data["events"]), int(data["start"]), int(data["stop"]), int(data["unmatched_stop"]))


@dataclass(frozen=True)
class AsOf:
    """How to read the walk: its cut-off and the options of SPEC section 3."""

    cut_off_ns: int
    double_start: DoubleStartPolicy = "close"
    stale_after_ns: int | None = None


def check_options(cut_off_ns: int, double_start: DoubleStartPolicy | str, stale_after_ns: int | None) -> None:
    """Raise :class:`UsageError` naming a bad cut-off, policy or duration."""
    if isinstance(cut_off_ns, bool) or not isinstance(cut_off_ns, int):
        raise UsageError(f"cut-off must be Unix nanoseconds (int), got {cut_off_ns!r}")
    if double_start not in DOUBLE_START_POLICIES:
        raise UsageError(f"double_start must be 'close' or 'drop', got {double_start!r}")
    if stale_after_ns is not None and (
        isinstance(stale_after_ns, bool) or not isinstance(stale_after_ns, int) or stale_after_ns < 0
    ):
        raise UsageError(f"stale_after must be a non-negative duration, got {stale_after_ns!r}")


def _set(con: duckdb.DuckDBPyConnection, name: str, value: object, sql_type: str) -> None:
    con.execute(f"SET VARIABLE {name} = CAST(? AS {sql_type})", [value])


def _empty_table(con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, str]) -> None:
    drop_relation(con, name)
    defs = ", ".join(f"{c} {t}" for c, t in columns.items())
    con.execute(f"CREATE TEMP TABLE {name} ({defs})")


def seen_view(con: duckdb.DuckDBPyConnection) -> None:
    """``state_seen``: the union of the base and the delta (disjoint)."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {STATE_SEEN} AS SELECT family, resource_id FROM {STATE_SEEN_BASE}"
        f" UNION ALL SELECT family, resource_id FROM {STATE_SEEN_DELTA}"
    )


def empty_state(con: duckdb.DuckDBPyConnection) -> None:
    """``state_open`` and ``state_seen`` (its base and delta) as the state before every event: empty."""
    _empty_table(con, STATE_OPEN, STATE_OPEN_COLUMNS)
    _empty_table(con, STATE_SEEN_BASE, STATE_SEEN_COLUMNS)
    _empty_table(con, STATE_SEEN_DELTA, STATE_SEEN_COLUMNS)
    seen_view(con)


def walk(con: duckdb.DuckDBPyConnection, *, walk_from_ns: int | None, walk_to_ns: int) -> None:
    """Walk the events of ``[walk_from_ns, walk_to_ns)`` from the state in ``state_open`` /
    ``state_seen`` (the state before ``walk_from_ns``; None: from the start of history). The roles of
    the window's events are settled once (``walk_roles``) and checked: one role per event."""
    _set(con, "pair_walk_from_ns", walk_from_ns, "BIGINT")
    _set(con, "pair_walk_to_ns", walk_to_ns, "BIGINT")
    con.execute(f"DROP TABLE IF EXISTS {WINDOW_FIRST_SEEN}")
    con.execute("CREATE OR REPLACE TEMP VIEW pair_window AS " + load_sql("engine/pair/pair_window"))
    con.execute("CREATE OR REPLACE TEMP VIEW pair_input AS " + load_sql("engine/pair/pair_input"))
    con.execute("CREATE OR REPLACE TEMP TABLE pair_steps AS " + load_sql("engine/pair/pair_steps"))
    _set(con, "pair_cut_off_ns", walk_to_ns, "BIGINT")
    _set(con, "pair_double_start", "close", "VARCHAR")  # (roles do not depend on it)
    restrict(con, None)
    con.execute("CREATE OR REPLACE TEMP VIEW pair_as_of AS " + load_sql("engine/pair/pair_as_of"))
    con.execute("CREATE OR REPLACE TEMP TABLE walk_roles AS " + load_sql("engine/pair/pair_event_roles"))
    events, roles, distinct_events = con.execute(load_sql("engine/pair/walk_identity")).fetchall()[0]
    if not int(events) == int(roles) == int(distinct_events):
        raise ReconcileError(
            f"role identity broken: {events} events in the walk, {roles} roles for {distinct_events} of them"
        )


def restrict(con: duckdb.DuckDBPyConnection, scope: str | None) -> None:
    """``as_of_steps``, what :func:`as_of` reads: the walk's rows (``pair_steps``; :func:`walk`
    leaves this), or those of the resources in the relation named ``scope`` (a restatement
    recomputing the resources new ingests touched: every resource is walked alone, so their rows
    are exactly those of the whole walk)."""
    if scope is None:
        drop_relation(con, "as_of_steps")
        con.execute("CREATE TEMP VIEW as_of_steps AS SELECT * FROM pair_steps")
        return
    if not scope.isidentifier():
        raise UsageError(f"scope {scope!r} is not a relation name")
    drop_relation(con, "as_of_steps")
    con.execute(  # (a table: read by the intervals and the anomalies, the scan of the walk done once)
        "CREATE TEMP TABLE as_of_steps AS SELECT * FROM pair_steps"
        f" SEMI JOIN {scope} USING (family, resource_id)"
    )


def as_of(
    con: duckdb.DuckDBPyConnection,
    options: AsOf,
    *,
    period: tuple[int, int] | None = None,
    event_roles: bool = True,
) -> None:
    """``intervals``, ``anomalies`` and ``event_roles`` of the walk as of ``options.cut_off_ns``.

    With ``period`` (``[start_ns, end_ns)``, a run's): ``intervals`` and ``anomalies`` are tables of
    what that period bills and reports only (the intervals overlapping it, the anomalies about its
    events and every ``stale_open``), read once from the walk. Without: views and a table of all.
    It reads ``as_of_steps`` (every resource, or a scope: :func:`restrict`). ``event_roles=False``:
    that table is not made (a run reads the role counts only).
    """
    check_options(options.cut_off_ns, options.double_start, options.stale_after_ns)
    _set(con, "pair_cut_off_ns", options.cut_off_ns, "BIGINT")
    _set(con, "pair_double_start", options.double_start, "VARCHAR")
    _set(con, "pair_stale_after_ns", options.stale_after_ns, "BIGINT")
    _set(con, "pair_overlap_start_ns", None if period is None else period[0], "BIGINT")
    _set(con, "pair_overlap_end_ns", None if period is None else period[1], "BIGINT")
    for name in (INTERVALS, ANOMALIES, EVENT_ROLES):
        drop_relation(con, name)
    con.execute("CREATE OR REPLACE TEMP VIEW pair_as_of AS " + load_sql("engine/pair/pair_as_of"))
    kind = "VIEW" if period is None else "TABLE"
    con.execute(f"CREATE TEMP {kind} {INTERVALS} AS\n{load_sql('engine/pair/pair_intervals')}")
    con.execute(f"CREATE TEMP TABLE {ANOMALIES} AS\n{load_sql('engine/pair/pair_anomalies')}")
    if event_roles:
        con.execute(
            f"CREATE TEMP TABLE {EVENT_ROLES} AS SELECT event_id, role FROM walk_roles WHERE at_ns < ?",
            [options.cut_off_ns],
        )


def window_roles(con: duckdb.DuckDBPyConnection, cut_off_ns: int) -> Roles:
    """The role counts of the window's events before ``cut_off_ns`` (any cut-off inside the walk:
    an event's role follows from the events before it), checked against the events."""
    _set(con, "pair_cut_off_ns", cut_off_ns, "BIGINT")
    row = con.execute(load_sql("engine/pair/run_roles")).fetchall()[0]
    return Roles(int(row[0]), int(row[1]), int(row[2]), int(row[3])).checked()


def state_at(con: duckdb.DuckDBPyConnection, at_ns: int, *, full_seen: bool) -> None:
    """The state at ``at_ns`` (a midnight inside the walk): tables ``next_open`` and
    ``next_seen_delta`` (the resources seen before it that the starting base does not hold) and, with
    ``full_seen``, ``next_seen`` (every resource seen before it: a new base)."""
    _set(con, "pair_state_at_ns", at_ns, "BIGINT")
    con.execute(  # (once per walk and base: the walk's other midnights filter it)
        f"CREATE TEMP TABLE IF NOT EXISTS {WINDOW_FIRST_SEEN} AS " + load_sql("engine/pair/window_first_seen")
    )
    con.execute("CREATE OR REPLACE TEMP TABLE next_open AS " + load_sql("engine/pair/state_open"))
    con.execute("CREATE OR REPLACE TEMP TABLE next_seen_delta AS " + load_sql("engine/pair/state_seen_delta"))
    if full_seen:
        con.execute("CREATE OR REPLACE TEMP TABLE next_seen AS " + load_sql("engine/pair/state_seen"))


def adopt_state(con: duckdb.DuckDBPyConnection, *, full_seen: bool) -> None:
    """Make the ``next_*`` tables of :func:`state_at` the walk's starting state (the new base with
    an empty delta when ``full_seen``; else the same base, the new delta)."""
    for target, source in (
        (STATE_OPEN, "next_open"),
        *(((STATE_SEEN_BASE, "next_seen"),) if full_seen else ()),
        (STATE_SEEN_DELTA, "next_seen_delta"),
    ):
        drop_relation(con, target)
        con.execute(f"ALTER TABLE {source} RENAME TO {target}")
    if full_seen:
        _empty_table(con, STATE_SEEN_DELTA, STATE_SEEN_COLUMNS)
    con.execute(f"DROP TABLE IF EXISTS {WINDOW_FIRST_SEEN}")  # (of the window just adopted)
    seen_view(con)


def rebase_seen(con: duckdb.DuckDBPyConnection, at_ns: int) -> None:
    """Make ``next_seen`` (the full seen set at a midnight M inside the walk, just written as a
    base) the seen base, with an empty delta: the delta :func:`state_at` makes at a later midnight
    T of the same walk is then the resources first seen in ``[M, T)`` (a window resource seen
    before M is in the base), so it holds days of new resources, not the walk's starting month's."""
    drop_relation(con, STATE_SEEN_BASE)
    con.execute(f"ALTER TABLE {NEXT_SEEN} RENAME TO {STATE_SEEN_BASE}")
    _empty_table(con, STATE_SEEN_DELTA, STATE_SEEN_COLUMNS)
    # the window's resources first seen before M are in the new base now
    con.execute(f"DELETE FROM {WINDOW_FIRST_SEEN} WHERE first_ns < ?", [at_ns])
    seen_view(con)


def pair_in(
    con: duckdb.DuckDBPyConnection,
    *,
    cut_off_ns: int,
    double_start: DoubleStartPolicy = "close",
    stale_after_ns: int | None = None,
) -> None:
    """The whole walk of the relation ``events`` in ``con`` (from an empty state) as of ``cut_off_ns``:
    leaves ``intervals``, ``anomalies`` and ``event_roles`` (and the walk's own tables)."""
    check_options(cut_off_ns, double_start, stale_after_ns)
    empty_state(con)
    walk(con, walk_from_ns=None, walk_to_ns=cut_off_ns)
    as_of(con, AsOf(cut_off_ns, double_start, stale_after_ns))


# --- event sources -----------------------------------------------------------------------------------


def register_events(con: duckdb.DuckDBPyConnection, events: pa.Table | Sequence[str | Path]) -> None:
    """Make ``events`` a relation of ``con`` from an Arrow table or Parquet file paths (replacing
    the one it held)."""
    with contextlib.suppress(duckdb.Error):
        con.unregister(EVENTS)
    drop_relation(con, EVENTS)
    if isinstance(events, pa.Table):
        con.register(EVENTS, events)
        return
    files = [Path(f) for f in events]
    for f in files:
        if not f.is_file():
            raise InputError(f"events file not found: {f}")
    if not files:
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.EVENTS.items())
        con.execute(f"CREATE OR REPLACE TEMP TABLE {EVENTS} ({columns})")
        return
    con.execute("SET VARIABLE pair_event_files = ?", [literals(files)])
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {EVENTS} AS"
        " SELECT * FROM read_parquet(getvariable('pair_event_files'), hive_partitioning = false)"
    )


def instant_ns(value: dt.datetime | int, what: str) -> int:
    """Unix nanoseconds of an aware datetime (exact, no float) or of an int taken as nanoseconds."""
    if isinstance(value, bool):
        raise UsageError(f"{what} must be an aware datetime or Unix nanoseconds, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise UsageError(f"{what} must carry a time zone (UTC is safest), got naive {value.isoformat()}")
        delta = value - _EPOCH
        return (
            delta.days * SECONDS_PER_DAY + delta.seconds
        ) * NS_PER_SECOND + delta.microseconds * NS_PER_MICROSECOND
    raise UsageError(f"{what} must be an aware datetime or Unix nanoseconds, got {value!r}")


def duration_ns(value: dt.timedelta | int | None, what: str) -> int | None:
    """Nanoseconds of a timedelta (exact) or of an int taken as nanoseconds; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{what} must be a timedelta or nanoseconds, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, dt.timedelta):
        return (
            value.days * SECONDS_PER_DAY + value.seconds
        ) * NS_PER_SECOND + value.microseconds * NS_PER_MICROSECOND
    raise UsageError(f"{what} must be a timedelta or nanoseconds, got {value!r}")
