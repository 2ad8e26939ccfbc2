"""``reconcile.pair``: the analysts' pairing of a store (through its checkpoints) or of any events table.

A store is walked as runs walk it (``_walker``), reading its checkpoints but never writing them:
with ``since``, from the latest valid checkpoint at or before it; without, over the whole history
a calendar month at a time, each month's settled intervals kept, so memory holds a month of events
and the result, never the whole walk at once. Tables, frames and Parquet files are walked whole.
The rows are the same either way (tests compare them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import duckdb
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._core._duckdb import connect
from reconcile._core._period import date_to_ns
from reconcile._core._policies import DoubleStartPolicy
from reconcile._core._progress import Progress
from reconcile._core._scratch import scratch_dir
from reconcile._pair import _walk as _pair
from reconcile._pair._walk import AsOf, check_options, duration_ns, instant_ns
from reconcile._pair._walker import Walker
from reconcile._store._reader import Store
from reconcile.exceptions import InputError, UsageError

EventsSource: TypeAlias = "pa.Table | pl.DataFrame | pl.LazyFrame | Store | str | Path | Sequence[str | Path]"
MEMORY_LIMIT = "1500MB"


@dataclass(frozen=True)
class Pairing:
    """Intervals, anomalies and event roles of one pairing, as polars LazyFrames.

    With ``since_ns``: the intervals overlapping ``[since, cut_off)`` (and one ending exactly at
    ``since``), the anomalies about events from ``since`` on (and every ``stale_open`` at the
    cut-off), the roles of the events from ``since`` on. Without: everything before the cut-off.
    """

    intervals: pl.LazyFrame
    anomalies: pl.LazyFrame
    roles: pl.LazyFrame
    cut_off_ns: int
    double_start: DoubleStartPolicy
    stale_after_ns: int | None
    since_ns: int | None = None


def _lazy(table: pa.Table) -> pl.LazyFrame:
    frame = pl.from_arrow(table)
    if not isinstance(frame, pl.DataFrame):  # pragma: no cover - a Table always gives a DataFrame
        raise TypeError(f"expected a DataFrame from an Arrow table, got {type(frame).__name__}")
    return frame.lazy()


def _as_store(source: EventsSource) -> Store | None:
    if isinstance(source, Store):
        return source
    if isinstance(source, str | Path) and Path(source).is_dir():
        return Store(source)
    return None


def _files(source: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"events not found: {path} is neither an event store folder nor a Parquet file")
        return [path]
    return [Path(f) for f in source]


def _tables(con: duckdb.DuckDBPyConnection) -> tuple[pa.Table, pa.Table, pa.Table]:
    return (
        con.sql(f"SELECT * FROM {_pair.INTERVALS}").to_arrow_table(),
        con.sql(f"SELECT * FROM {_pair.ANOMALIES}").to_arrow_table(),
        con.sql(f"SELECT * FROM {_pair.EVENT_ROLES}").to_arrow_table(),
    )


def _whole_history(walker: Walker, options: AsOf) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The full walk of a store, month by month (module doc)."""
    con = walker.con
    _pair.empty_state(con)
    parts: list[tuple[pa.Table, pa.Table, pa.Table]] = []
    at: int | None = None
    for step in walker.month_steps(None, options.cut_off_ns - 1):
        end = date_to_ns(step)
        walker.register_events(at, end)
        _pair.walk(con, walk_from_ns=at, walk_to_ns=end)
        _pair.as_of(con, AsOf(end, options.double_start, options.stale_after_ns))
        parts.append(
            (
                con.sql(f"SELECT * FROM {_pair.INTERVALS} WHERE status <> 'open'").to_arrow_table(),
                con.sql(f"SELECT * FROM {_pair.ANOMALIES} WHERE code <> 'stale_open'").to_arrow_table(),
                con.sql(f"SELECT * FROM {_pair.EVENT_ROLES}").to_arrow_table(),
            )
        )
        _pair.state_at(con, end, full_seen=False)
        _pair.adopt_state(con, full_seen=False)
        at = end
    walker.register_events(at, options.cut_off_ns)
    _pair.walk(con, walk_from_ns=at, walk_to_ns=options.cut_off_ns)
    _pair.as_of(con, options)
    parts.append(_tables(con))
    intervals, anomalies, roles = (pa.concat_tables([p[i] for p in parts]) for i in range(3))
    return intervals, anomalies, roles


def _since(walker: Walker, options: AsOf, since_ns: int) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The walk from the latest valid checkpoint at or before ``since_ns``, kept from ``since_ns`` on."""
    walker.walk(since_ns, options.cut_off_ns)
    walker.as_of(options)
    con = walker.con
    con.execute("SET VARIABLE since_ns = ?", [since_ns])
    return (
        con.sql(
            f"SELECT * FROM {_pair.INTERVALS} WHERE end_ns IS NULL OR end_ns >= getvariable('since_ns')"
        ).to_arrow_table(),
        con.sql(
            f"SELECT * FROM {_pair.ANOMALIES} WHERE at_ns >= getvariable('since_ns') OR code = 'stale_open'"
        ).to_arrow_table(),
        con.sql(
            f"SELECT r.* FROM {_pair.EVENT_ROLES} AS r JOIN pair_input AS e ON e.event_id = r.event_id"
            " WHERE NOT e.seed AND e.emitted_ns >= getvariable('since_ns')"
        ).to_arrow_table(),
    )


def pair(
    store_or_events: EventsSource,
    cut_off: dt.datetime | int,
    *,
    double_start: DoubleStartPolicy = "close",
    stale_after: dt.timedelta | int | None = None,
    since: dt.datetime | int | None = None,
) -> Pairing:
    """Pair the events of a store (or of a table / frame / Parquet files) as of ``cut_off``.

    ``cut_off`` is an aware datetime or Unix nanoseconds; events at or after it are ignored.
    ``double_start`` is the policy for a start while an interval is open (``close``: the open interval
    ends at the new start, status ``inferred``; ``drop``: status ``dropped``). ``stale_after`` (a
    timedelta or nanoseconds) flags intervals open longer than that at the cut-off (``stale_open``).
    ``since`` (a store only) keeps what concerns ``[since, cut_off)`` (:class:`Pairing`), walking from
    the store's latest valid checkpoint before it: a day after a year of history costs a day.
    Returns polars LazyFrames ``intervals``, ``anomalies`` and ``roles`` (one role per event).
    """
    cut_off_ns = instant_ns(cut_off, "cut_off")
    stale_after_ns = duration_ns(stale_after, "stale_after")
    check_options(cut_off_ns, double_start, stale_after_ns)
    options = AsOf(cut_off_ns, double_start, stale_after_ns)
    since_ns = None if since is None else instant_ns(since, "since")
    store = _as_store(store_or_events)
    if since_ns is not None and store is None:
        raise UsageError("since= needs an event store (its checkpoints): give the store folder")
    if since_ns is not None and not since_ns < cut_off_ns:
        raise UsageError(f"since ({since_ns}) must be before the cut-off ({cut_off_ns})")
    with scratch_dir("pair") as scratch:
        con = connect(memory_limit=MEMORY_LIMIT, scratch=scratch)
        try:
            if store is not None:
                walker = Walker(con, store, Progress(quiet=True), scratch=scratch, write_checkpoints=False)
                tables = (
                    _whole_history(walker, options) if since_ns is None else _since(walker, options, since_ns)
                )
            else:
                source = store_or_events
                if isinstance(source, pl.LazyFrame):
                    source = source.collect()
                if isinstance(source, pl.DataFrame):
                    source = source.to_arrow()
                _pair.register_events(con, source if isinstance(source, pa.Table) else _files(source))  # type: ignore[arg-type]
                _pair.pair_in(
                    con, cut_off_ns=cut_off_ns, double_start=double_start, stale_after_ns=stale_after_ns
                )
                tables = _tables(con)
        finally:
            con.close()
    return Pairing(
        intervals=_lazy(tables[0]),
        anomalies=_lazy(tables[1]),
        roles=_lazy(tables[2]),
        cut_off_ns=cut_off_ns,
        double_start=double_start,
        stale_after_ns=stale_after_ns,
        since_ns=since_ns,
    )
