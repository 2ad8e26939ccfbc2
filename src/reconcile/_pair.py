"""Stage: events -> intervals, anomalies and event roles (SPEC section 3).

The pairing is SQL (``sql/engine/pair_*.sql``) run by DuckDB over a relation named ``events``
(the store's events table). Within one ``(family, resource_id)`` the events before the cut-off are
walked in the order ``emitted_ns``, stop before start, ``source_file``, ``source_line``,
``event_id``. The state after an event is ``open`` exactly when the event is a start, so a single
window pass (the previous and the next event of each event) settles every role and every interval.

Memory: DuckDB holds the whole walk in memory unless the connection has a ``memory_limit``; with
``SET memory_limit = '1500MB'`` 10M events pair in about 1.6 GB peak RSS (and faster than without,
see bench/bench_pair.py), spilling the rest to DuckDB's temp directory.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, TypeAlias, runtime_checkable

import duckdb
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile import _schema as schema
from reconcile._engine import literals
from reconcile._sql import load_sql
from reconcile.exceptions import InputError, UsageError

DoubleStartPolicy: TypeAlias = Literal["close", "drop"]
DOUBLE_START_POLICIES: tuple[str, ...] = ("close", "drop")

# Relations the stage leaves in the connection (docs/ARCHITECTURE.md): `intervals` is a temp view over
# the temp table `pair_steps` (the materialised walk), `anomalies` and `event_roles` are temp tables.
INTERVALS = "intervals"
ANOMALIES = "anomalies"
EVENT_ROLES = "event_roles"
_STEPS = "pair_steps"

# The events columns pairing reads (docs/ARCHITECTURE.md, `events`); used for an empty store.
_EVENT_COLUMNS_SQL = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.EVENTS.items())

_NS_PER_US = 1_000
_NS_PER_S = 1_000_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@runtime_checkable
class _EventStore(Protocol):
    """What pairing needs from an event store: the committed events Parquet files."""

    def event_files(self) -> Sequence[Path]: ...


EventsSource: TypeAlias = (
    "duckdb.DuckDBPyConnection | pa.Table | pl.DataFrame | pl.LazyFrame | _EventStore | str | Path"
    " | Sequence[str | Path]"
)


@dataclass(frozen=True)
class PairTables:
    """The stage's output as Arrow tables (columns as in docs/ARCHITECTURE.md)."""

    intervals: pa.Table
    anomalies: pa.Table
    roles: pa.Table


@dataclass(frozen=True)
class Pairing:
    """Intervals, anomalies and event roles of one pairing run, as polars LazyFrames."""

    intervals: pl.LazyFrame
    anomalies: pl.LazyFrame
    roles: pl.LazyFrame
    cut_off_ns: int
    double_start: DoubleStartPolicy
    stale_after_ns: int | None


def _check_options(cut_off_ns: int, double_start: str, stale_after_ns: int | None) -> None:
    if isinstance(cut_off_ns, bool) or not isinstance(cut_off_ns, int):
        raise UsageError(f"cut-off must be Unix nanoseconds (int), got {cut_off_ns!r}")
    if double_start not in DOUBLE_START_POLICIES:
        raise UsageError(f"double_start must be 'close' or 'drop', got {double_start!r}")
    if stale_after_ns is not None and (
        isinstance(stale_after_ns, bool) or not isinstance(stale_after_ns, int) or stale_after_ns < 0
    ):
        raise UsageError(f"stale_after must be a non-negative duration, got {stale_after_ns!r}")


def pair_in(
    con: duckdb.DuckDBPyConnection,
    *,
    cut_off_ns: int,
    double_start: str = "close",
    stale_after_ns: int | None = None,
) -> None:
    """Pair the relation ``events`` in ``con`` into ``intervals``, ``anomalies`` and ``event_roles``.

    The walk is materialised once as the temp table ``pair_steps`` (starts and unmatched stops with
    their neighbours); ``intervals`` is a view projecting it, ``anomalies`` and ``event_roles`` are
    temp tables. Events with ``emitted_ns >= cut_off_ns`` are ignored. Existing relations of those
    names are replaced.
    """
    _check_options(cut_off_ns, double_start, stale_after_ns)
    con.execute("SET VARIABLE cut_off_ns = CAST(? AS BIGINT)", [cut_off_ns])
    con.execute("SET VARIABLE double_start = CAST(? AS VARCHAR)", [double_start])
    con.execute("SET VARIABLE stale_after_ns = CAST(? AS BIGINT)", [stale_after_ns])
    for name in (INTERVALS, ANOMALIES, EVENT_ROLES):
        _drop_relation(con, name)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_STEPS} AS\n{load_sql('engine/pair_steps')}")
    con.execute(f"CREATE TEMP VIEW {INTERVALS} AS\n{load_sql('engine/pair_intervals')}")
    con.execute(f"CREATE TEMP TABLE {ANOMALIES} AS\n{load_sql('engine/pair_anomalies')}")
    con.execute(f"CREATE TEMP TABLE {EVENT_ROLES} AS\n{load_sql('engine/pair_event_roles')}")


def _drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a temp table or view called ``name`` if there is one (a re-run replaces its output)."""
    found = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'"
        " AND table_catalog = 'temp'",
        [name],
    ).fetchall()
    for (table_type,) in found:
        kind = "VIEW" if table_type == "VIEW" else "TABLE"
        con.execute(f"DROP {kind} IF EXISTS temp.main.{name}")


def register_events(con: duckdb.DuckDBPyConnection, events: EventsSource) -> None:
    """Make ``events`` a relation of ``con`` from a table, a frame, a store or Parquet file paths."""
    if isinstance(events, duckdb.DuckDBPyConnection):
        raise UsageError("a DuckDB connection already holds its events: call pair_in on it")
    if isinstance(events, pl.LazyFrame):
        events = events.collect()
    if isinstance(events, pl.DataFrame):
        events = events.to_arrow()
    if isinstance(events, pa.Table):
        con.register("events", events)
        return
    files = _event_files(events)
    if not files:
        con.execute(f"CREATE OR REPLACE TEMP TABLE events ({_EVENT_COLUMNS_SQL})")
        return
    con.execute("SET VARIABLE pair_event_files = ?", [literals(files)])
    con.execute(
        "CREATE OR REPLACE TEMP VIEW events AS"
        " SELECT * FROM read_parquet(getvariable('pair_event_files'), hive_partitioning = false)"
    )


def _event_files(events: _EventStore | str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(events, _EventStore):
        return [Path(f) for f in events.event_files()]
    if isinstance(events, str | Path):
        path = Path(events)
        if path.is_dir():
            return _store_event_files(path)
        if path.is_file():
            return [path]
        raise InputError(f"events not found: {path} is neither an event store folder nor a Parquet file")
    files = [Path(f) for f in events]
    for f in files:
        if not f.is_file():
            raise InputError(f"events file not found: {f}")
    return files


def _store_event_files(path: Path) -> list[Path]:
    try:
        store_module = importlib.import_module("reconcile._store")
    except ImportError as exc:  # pragma: no cover - only before the store module exists
        raise InputError(f"cannot read the event store {path}: store support is not available") from exc
    store: _EventStore = store_module.Store(path)
    return [Path(f) for f in store.event_files()]


def pair_tables(
    events: EventsSource,
    *,
    cut_off_ns: int,
    double_start: str = "close",
    stale_after_ns: int | None = None,
) -> PairTables:
    """Pair ``events`` (a connection holding ``events``, a table, a store, Parquet files) into Arrow."""
    _check_options(cut_off_ns, double_start, stale_after_ns)
    if isinstance(events, duckdb.DuckDBPyConnection):
        con = events
        owned = False
    else:
        con = duckdb.connect()
        owned = True
    try:
        if owned:
            register_events(con, events)
        pair_in(con, cut_off_ns=cut_off_ns, double_start=double_start, stale_after_ns=stale_after_ns)
        return PairTables(
            intervals=con.sql(f"SELECT * FROM {INTERVALS}").to_arrow_table(),
            anomalies=con.sql(f"SELECT * FROM {ANOMALIES}").to_arrow_table(),
            roles=con.sql(f"SELECT * FROM {EVENT_ROLES}").to_arrow_table(),
        )
    finally:
        if owned:
            con.close()


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
        return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * _NS_PER_US
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
        return (value.days * 86_400 + value.seconds) * _NS_PER_S + value.microseconds * _NS_PER_US
    raise UsageError(f"{what} must be a timedelta or nanoseconds, got {value!r}")


def _lazy(table: pa.Table) -> pl.LazyFrame:
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a Table always gives a DataFrame
        raise TypeError(f"expected a DataFrame from an Arrow table, got {type(frame).__name__}")
    return frame.lazy()


def pair(
    store_or_events: EventsSource,
    cut_off: dt.datetime | int,
    *,
    double_start: DoubleStartPolicy = "close",
    stale_after: dt.timedelta | int | None = None,
) -> Pairing:
    """Pair the events of a store (or of a table / frame / Parquet files) as of ``cut_off``.

    ``cut_off`` is an aware datetime or Unix nanoseconds; events at or after it are ignored.
    ``double_start`` is the policy for a start while an interval is open (``close``: the open interval
    ends at the new start, status ``inferred``; ``drop``: status ``dropped``). ``stale_after`` (a
    timedelta or nanoseconds) flags intervals open longer than that at the cut-off (``stale_open``).
    Returns polars LazyFrames ``intervals``, ``anomalies`` and ``roles`` (one role per event).
    """
    cut_off_ns = instant_ns(cut_off, "cut_off")
    stale_after_ns = duration_ns(stale_after, "stale_after")
    tables = pair_tables(
        store_or_events, cut_off_ns=cut_off_ns, double_start=double_start, stale_after_ns=stale_after_ns
    )
    return Pairing(
        intervals=_lazy(tables.intervals),
        anomalies=_lazy(tables.anomalies),
        roles=_lazy(tables.roles),
        cut_off_ns=cut_off_ns,
        double_start=double_start,
        stale_after_ns=stale_after_ns,
    )
