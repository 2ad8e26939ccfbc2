"""De-duplicate the parsed lines of one ingest and write its events and rejects (SPEC section 2).

``ingest_lines`` (``_lines``: the parsed rows of every file, numbered and bounded by the Python
pass's line count) is de-duplicated against the store and within the ingest, by sorted path then
line; the ids read more than once are found in parts of ``DEDUPE_PART_LINES`` lines, by hash, so
memory does not grow with the ingest. New events (``new_events.sql``) are written one UTC day at a
time (:func:`write_events`) and rejects (``rejects.sql``) in one file, as zstd Parquet (level 1:
cheaper than DuckDB's default 3, and no bigger here).

A line the store rejected already (same file, same line: a file read again from its first line
because ``files.json`` was lost or rewritten) is not stored again: like an event read again, it
counts as a duplicate (:func:`known_rejects`).

Before anything is committed the counts are checked: each file gave exactly the rows the Python pass
counted (``lines``), the lines it classified itself are all there, and ``lines = events + duplicates +
rejects + pending`` over the files actually written. An ingest that fails the check stops with an
error naming the file and commits nothing.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import literals
from reconcile._core._sql import load_sql
from reconcile._ingest._parse import Batch, set_var
from reconcile._ingest._prepare import Prepared
from reconcile._ingest._summary import SAMPLE_REJECTS, display_path
from reconcile._store._reader import Store
from reconcile._store._writer import copy_events, copy_events_by_day
from reconcile.exceptions import ReconcileError

DAY_NS = 86_400_000_000_000
ROW_GROUP_ROWS = 122_880  # DuckDB's row group: the unit a filter on a table's column skips
_EPOCH = dt.date(1970, 1, 1)
# Events are written day by day while that reads the scratch files at most this many times (a
# PARTITION_BY query costs about 4.6 passes' CPU here; a time-ordered ledger costs 1 to 2).
MAX_DAY_PASSES = 4.0

# De-duplication runs in parts of about this many lines (by hash of event_id), so its hash tables
# do not grow with the ingest. Measured (10M / 50M lines, 512MB limit): 16M-line parts peaked at
# 587 / 668 MB, 5M-line parts at 459 / 517 MB, at the same speed for 10M lines.
DEDUPE_PART_LINES = 5_000_000


@dataclass(frozen=True)
class Counts:
    """What the written files hold."""

    lines: int  # complete lines read (pending ones not included)
    candidates: int  # lines that parsed into an event, duplicates included
    events: int
    rejects: dict[str, int]
    sample: list[str]  # the first rejects as file:line: code
    repeated_rejects: int = 0  # rejected lines the store holds already: duplicates, not stored again


def find_repeated(con: duckdb.DuckDBPyConnection, lines: int) -> None:
    """The ``repeated_events`` table, built in parts of up to ``DEDUPE_PART_LINES`` lines each (by
    hash of ``event_id``), so the de-duplication's memory does not grow with the ingest."""
    parts = max(1, -(-lines // DEDUPE_PART_LINES))
    set_var(con, "dedupe_parts", parts)
    query = load_sql("engine/ingest/repeated_events")
    for part in range(parts):
        set_var(con, "dedupe_part", part)
        if part == 0:
            con.execute("CREATE OR REPLACE TEMP TABLE repeated_events AS " + query)
        else:
            con.execute("INSERT INTO repeated_events " + query)


def ingest_days(con: duckdb.DuckDBPyConnection) -> list[int]:
    """The UTC days (numbers since 1970-01-01) this ingest's events fall on, in order."""
    return [int(d) for (d,) in con.execute(load_sql("engine/ingest/ingest_days")).fetchall()]


def day_name(day: int) -> str:
    """``YYYY-MM-DD`` of a UTC day number."""
    return (_EPOCH + dt.timedelta(days=day)).isoformat()


def write_events(
    con: duckdb.DuckDBPyConnection, batches: Sequence[Batch], days: Sequence[int], store: Store, stage: Path
) -> None:
    """Write this ingest's new events under ``stage`` as ``day=YYYY-MM-DD/`` folders (the store's
    layout), one query per day.

    Each day's query reads only the scratch row groups whose instants overlap that day (the
    instant filter reaches the Parquet scan) and joins only that day's store ids and repeated ids,
    so the write costs about one pass over the scratch files, in memory that does not grow with the
    ingest. A ledger's lines come in time order, so its rows do too; when they do not (the day
    queries would read the scratch more than ``MAX_DAY_PASSES`` times) the events are written by
    one ``PARTITION_BY`` query instead, which holds each day's rows in buffers that spill past the
    memory limit (measured on 10M lines at 512MB: 4.6 times the CPU of the same rows unpartitioned,
    and more than linear in them).
    """
    if not days:
        return
    if _day_passes(con, batches, days) > MAX_DAY_PASSES:
        _store_ids(con, store, {day_name(d) for d in days})
        set_var(con, "day_lo", days[0] * DAY_NS)
        set_var(con, "day_hi", (days[-1] + 1) * DAY_NS)
        con.execute(copy_events_by_day(load_sql("engine/ingest/new_events")), [str(stage)])
        return
    query = copy_events(load_sql("engine/ingest/new_events"))
    for day in days:
        name = day_name(day)
        _store_ids(con, store, {name})
        set_var(con, "day_lo", day * DAY_NS)
        set_var(con, "day_hi", (day + 1) * DAY_NS)
        folder = stage / f"day={name}"
        folder.mkdir(parents=True, exist_ok=True)
        # (COPY takes the path as a prepared parameter: no path is pasted into SQL text)
        con.execute(query, [str(folder / "data_0.parquet")])


def _store_ids(con: duckdb.DuckDBPyConnection, store: Store, days: set[str]) -> None:
    """``store_event_ids``: the ids of the store's events on ``days`` (duplicates share their instant)."""
    files = literals(store.event_files_of_days(days)) if store.exists() else []
    if files:
        set_var(con, "store_files", files)
        con.execute(
            "CREATE OR REPLACE TEMP VIEW store_event_ids AS "
            "SELECT event_id FROM read_parquet(getvariable('store_files'), hive_partitioning = false)"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW store_event_ids AS SELECT NULL::VARCHAR AS event_id WHERE false"
        )


def _day_passes(con: duckdb.DuckDBPyConnection, batches: Sequence[Batch], days: Sequence[int]) -> float:
    """How many times the day queries would read the scratch tables' events: the rows of each row
    group times the ingest's days its instants span, over all rows."""
    groups = con.execute(
        " UNION ALL ".join(
            f"SELECT count(*), min(emitted_ns), max(emitted_ns) FROM {b.table}"
            f" GROUP BY rowid // {ROW_GROUP_ROWS}"
            for b in batches
        )
    ).fetchall()
    total = sum(int(rows) for rows, _lo, _hi in groups)
    if not total:
        return 0.0
    read = 0
    for rows, lo, hi in groups:
        if lo is None or hi is None:
            continue  # no event in the row group: pruned by every day
        first, last = int(lo) // DAY_NS, int(hi) // DAY_NS
        read += int(rows) * (bisect.bisect_right(days, last) - bisect.bisect_left(days, first))
    return read / total


def copy_zstd(query: str) -> str:
    """A statement writing ``query``'s rows to the zstd Parquet file given as its one parameter.

    zstd level 1 (DuckDB's default is 3): measured 20% less CPU for the events file, and no bigger
    (an events file is mostly md5 hex, which no level compresses much).
    """
    return f"COPY ({query}) TO ? (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"


def known_rejects(
    con: duckdb.DuckDBPyConnection, store_rejects: Sequence[Path], files: Sequence[Prepared]
) -> bool:
    """``known_rejects``: (source_file, source_line) of the store's rejects from the files this ingest
    reads from their first line (new files, or files read again because ``files.json`` was lost);
    True when there are any."""
    again = sorted({str(p.plan.path) for p in files if p.plan.start_lines == 0})
    con.execute("CREATE OR REPLACE TEMP TABLE known_rejects (source_file VARCHAR, source_line BIGINT)")
    if not store_rejects or not again:
        return False
    set_var(con, "known_reject_files", literals(store_rejects))
    set_var(con, "again_files", again)
    con.execute(
        "INSERT INTO known_rejects SELECT DISTINCT source_file, source_line"
        " FROM read_parquet(getvariable('known_reject_files'), hive_partitioning = false)"
        " WHERE list_contains(getvariable('again_files'), source_file)"
    )
    return bool(con.execute("SELECT count(*) FROM known_rejects").fetchall()[0][0])


_KNOWN = (
    "EXISTS (SELECT 1 FROM known_rejects AS k"
    " WHERE k.source_file = r.source_file AND k.source_line = r.source_line)"
)


def rejects_query() -> str:
    """The rejects of this ingest in the store's columns, but those the store holds already
    (``known_rejects``); in no set order: sorting a hundred million rejects of a NUL block would cost
    more than the ingest; readers order them."""
    return (
        "SELECT code, source_file, source_line, raw, ingest_id"
        f" FROM ({load_sql('engine/ingest/rejects')}) AS r WHERE NOT {_KNOWN}"
    )


def count(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[Prepared],
    events: Path,
    rejects: Path,
    *,
    known: bool = False,
) -> Counts:
    """The counts of the files written (``events``: a folder of day partitions), checked: lines =
    events + duplicates + rejects (+ pending); ``known``: some rejected lines were in the store
    already (:func:`known_rejects`), counted apart."""
    row = con.execute("SELECT count(*) FILTER (WHERE code IS NULL) FROM ingest_lines").fetchone()
    candidates = int(row[0]) if row else 0
    event_files = sorted(events.glob("day=*/*.parquet")) if events.is_dir() else []
    n_events = 0
    if event_files:
        row = con.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = false)", [literals(event_files)]
        ).fetchone()
        n_events = int(row[0]) if row else 0
    by_code = {
        str(code): int(n)
        for code, n in con.execute(
            "SELECT code, count(*) FROM read_parquet(?, hive_partitioning = false) GROUP BY code",
            [literals([rejects])],
        ).fetchall()
    }
    sample = [
        f"{display_path(f)}:{line}: {code}"
        for f, line, code in con.execute(
            "SELECT source_file, source_line, code FROM read_parquet(?, hive_partitioning = false)"
            " ORDER BY source_file, source_line LIMIT ?",
            [literals([rejects]), SAMPLE_REJECTS],
        ).fetchall()
    ]
    lines = sum(p.lines for p in files)
    rejected = sum(by_code.values())
    repeated = 0
    if known:
        query = f"SELECT count(*) FROM ({load_sql('engine/ingest/rejects')}) AS r WHERE {_KNOWN}"
        repeated = int(con.execute(query).fetchall()[0][0])
    if lines != candidates + rejected + repeated:
        raise ReconcileError(
            f"ingest identity broken: {lines:,} lines read but {candidates:,} events or duplicates,"
            f" {rejected:,} rejects written and {repeated:,} rejected before; nothing was committed"
            " (please report this)"
        )
    return Counts(lines, candidates, n_events, by_code, sample, repeated)
