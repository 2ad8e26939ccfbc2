"""The output stage's staging step: a batch of periods' rows, written to Parquet files in parallel.

A session runs its periods together (the nightly job's restated days, the one period of
``reconcile run``). Each period collected into a :class:`Batch` has its intervals and anomalies
files written at once, straight from pairing's relations (``output_*.sql``, with the committed rows
a re-run keeps, ``kept_rows``, under its new ``run_id``) into the batch's spool folder, by the
connection itself (DuckDB encodes one file's row groups on every thread: the run's connection does
not preserve insertion order); the writer (``_write``) moves them into each period's staging folder
(:meth:`Batch.moves`, :func:`place`). No copy of a month's intervals is held. Slices are staged a
*chunk* at a time: the caller fills ``batch_slices`` with the rows of some :class:`SliceUnit` s (a
nightly's days together, or one day of a month: pricing writes them there, keyed by
``price_period``), their day files are written (:meth:`Batch.slice_jobs`) and their sums added to
``batch_slice_sums``, which the manifest's figures are read from (:meth:`Batch.sum_slices`: the rows
as written, not read back); then the next chunk replaces them. So no step holds more than a chunk
of slices, however long the period. A chunk's day files are written on a pool of cursors of the
connection, one per DuckDB thread (a cursor sees the main catalog but not the connection's temp
tables: hence ``batch_slices`` and ``batch_scope`` are tables of the main catalog).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from reconcile._core import _schema as schema
from reconcile._core._duckdb import PARQUET_OPTIONS, literals
from reconcile._core._files import private_files
from reconcile._core._period import NS_PER_DAY, Period, ns_to_date
from reconcile._core._sql import load_sql
from reconcile._output import _layout
from reconcile.exceptions import OutputError

TABLES = _layout.TABLES
BATCH_SCOPE = "batch_scope"
BATCH_SLICES = "batch_slices"  # a chunk's slices: SLICE_COLUMNS but run_id, and price_period (the unit)
BATCH_UNITS = "batch_units"  # the chunk's units: price_period, batch_period, first_day, last_day
BATCH_SLICE_SUMS = "batch_slice_sums"  # slice_sums.sql of every row staged: the figures' input

# Columns SPEC section 5 names with their exact types, plus the instants as nanoseconds the writer
# filters on.
SLICE_COLUMNS: dict[str, str] = schema.SLICES
INTERVAL_COLUMNS: dict[str, str] = schema.INTERVALS | {"start_ns": "BIGINT", "end_ns": "BIGINT"}
ANOMALY_COLUMNS: dict[str, str] = schema.ANOMALIES | {"at_ns": "BIGINT"}
SPEC_COLUMNS = {"slices": SLICE_COLUMNS, "intervals": INTERVAL_COLUMNS, "anomalies": ANOMALY_COLUMNS}

# How each file's rows are ordered. Slices and intervals carry no order: sorting doubled the time to
# write a month's slices, and sorting a 10M-event month's 5.4M intervals (27 columns, past the memory
# limit) took 30 s of its 150 s run.
ORDER = {
    "slices": "",
    "intervals": "",
    "anomalies": " ORDER BY at_ns, code, family, resource_id, source_file, source_line",
}


def _normal_type(type_name: str) -> str:
    """``DECIMAL(38, 12)`` and ``DECIMAL(38,12)`` alike, upper case."""
    return type_name.upper().replace(" ", "")


def check_columns(rel: duckdb.DuckDBPyRelation, table: str, spec: dict[str, str]) -> None:
    """Raise :class:`OutputError` if ``rel`` misses a SPEC column or holds one of the wrong type."""
    types = {c: _normal_type(str(t)) for c, t in zip(rel.columns, rel.types, strict=True)}
    for column, want in spec.items():
        if column not in types:
            raise OutputError(f"{table}: column {column!r} is missing (SPEC section 5)")
        got = types[column]
        if got != _normal_type(want) and not (want == "VARCHAR" and got == '"NULL"'):
            raise OutputError(f"{table}: column {column!r} is {got}, expected {want}")
    for column, got in types.items():
        if got in {"FLOAT", "DOUBLE", "REAL"}:
            raise OutputError(f"{table}: column {column!r} is {got}: amounts and quantities must be DECIMAL")


@dataclass(frozen=True)
class BatchEntry:
    """One period of a batch: its run_id and the committed files whose rows it keeps (if any)."""

    period: Period
    cut_off_ns: int
    run_id: str
    kept: dict[str, list[Path]] | None = None


@dataclass(frozen=True)
class SliceUnit:
    """Some slices of one period in ``batch_slices``: the rows keyed ``key``, dated ``days``."""

    key: str
    period: str
    days: tuple[dt.date, ...]


@dataclass(frozen=True)
class FileJob:
    """One Parquet file to write: the query of its rows (named parameters) and where."""

    table: str
    sql: str
    params: dict[str, object]
    path: Path


@dataclass
class Batch:
    """The rows of the periods a session writes together (module doc)."""

    con: duckdb.DuckDBPyConnection
    entries: list[BatchEntry] = field(default_factory=list)
    rows: int = 0  # rows collected (all tables)
    _made: set[str] = field(default_factory=set)  # the batch tables created since the last clear
    units: list[SliceUnit] = field(default_factory=list)  # the units collect() put in batch_slices
    spool: Path | None = None  # where collect() writes each period's intervals and anomalies files
    _spooled: dict[tuple[str, str], Path] = field(default_factory=dict)  # (period, table) -> file
    _own_spool: bool = False

    def __post_init__(self) -> None:
        if self.spool is None:
            self.spool = Path(tempfile.mkdtemp(prefix="reconcile-batch-"))
            self._own_spool = True
        self.spool.mkdir(exist_ok=True)
        self.clear()

    def close(self) -> None:
        """:meth:`clear`, and remove the spool folder when the batch made it."""
        self.clear()
        if self._own_spool and self.spool is not None:
            shutil.rmtree(self.spool, ignore_errors=True)

    def clear(self) -> None:
        """Drop the batch tables and the spooled files: an empty batch."""
        for path in self._spooled.values():
            path.unlink(missing_ok=True)
        self._spooled = {}
        for table in (
            *(f"batch_{t}" for t in TABLES),
            BATCH_SCOPE,
            BATCH_UNITS,
            BATCH_SLICE_SUMS,
        ):
            self.con.execute(f"DROP TABLE IF EXISTS main.{table}")
        self.con.execute(
            f"CREATE TABLE main.{BATCH_SCOPE} (batch_period VARCHAR, family VARCHAR, resource_id VARCHAR)"
        )
        self.entries = []
        self.rows = 0
        self._made = set()
        self.units = []

    def collect(
        self,
        *,
        period: Period,
        cut_off_ns: int,
        run_id: str,
        kept: dict[str, list[Path]] | None = None,
        scope: str | None = None,
        slices: bool = True,
    ) -> None:
        """Add one period's rows from the relations ``slices`` (the period's priced slices),
        ``intervals`` and ``anomalies`` (pairing's, as of ``cut_off_ns``: this stage keeps those the
        period lists) in the connection; with ``kept`` (table -> committed files), the rows of those
        files about resources outside the relation named ``scope`` are added. Its intervals and
        anomalies files are written now (into the spool folder), its slices when staging.
        ``slices=False``: its slices come later, a chunk at a time (:meth:`slice_jobs`).
        Raises :class:`OutputError` for a missing or mistyped column or a slice dated outside the
        period, before anything is added."""
        con = self.con
        tables = TABLES if slices else tuple(t for t in TABLES if t != "slices")
        for table in tables:
            check_columns(con.table(table), table, SPEC_COLUMNS[table])
        if any(e.period.name == period.name for e in self.entries):
            raise OutputError(f"period {period.name} is twice in one batch")
        set_period(con, period.name, period.start_ns, period.end_ns, run_id)
        if kept is not None:
            if scope is None or not scope.isidentifier():
                raise OutputError(f"period {period.name}: kept rows need the name of a scope relation")
            con.execute(
                f"INSERT INTO main.{BATCH_SCOPE} SELECT ?, family, resource_id FROM {scope}", [period.name]
            )
        entry = BatchEntry(period, cut_off_ns, run_id, kept)
        for table in ("intervals", "anomalies"):
            written = self._spool(entry, table)
            self.rows += written if table == "intervals" else 0
        if slices:  # (one unit: the whole period, keyed by its name)
            rows = "SELECT CAST(? AS VARCHAR) AS price_period, s.* FROM slices AS s"
            made = BATCH_SLICES in self._made
            into = (
                f"INSERT INTO main.{BATCH_SLICES} BY NAME" if made else f"CREATE TABLE main.{BATCH_SLICES} AS"
            )
            con.execute(f"{into} {rows}", [period.name])
            self._made.add(BATCH_SLICES)
            self.units.append(SliceUnit(period.name, period.name, tuple(period.days())))
            self.rows += int(con.execute("SELECT count(*) FROM slices").fetchall()[0][0])
        self.entries.append(entry)

    def _spool(self, entry: BatchEntry, table: str) -> int:
        """Write the period's file of ``table`` (``output_<table>.sql`` for the period
        :func:`set_period` set, with the committed rows it keeps) into the spool folder, straight
        from pairing's relation: no copy of a month's intervals is held (copying a 10M-event
        month's 5.4M intervals into a table before writing them took 9 s); :meth:`moves` places it
        in the staging folder. Its row count."""
        assert self.spool is not None
        sql = f"SELECT * FROM ({load_sql(f'engine/write/output_{table}')}) AS o"
        params: dict[str, object] = {}
        if entry.kept is not None:
            sql = f"{sql}\nUNION ALL BY NAME\n{load_sql('engine/write/kept_rows')}"
            params = {"files": literals([entry.kept[table][0]]), "run_id": entry.run_id}
            params["period"] = entry.period.name
        path = self.spool / f"{len(self.entries)}-{table}.parquet"
        self._spooled[(entry.period.name, table)] = path
        with private_files():
            row = self.con.execute(
                f"COPY (SELECT * FROM (\n{sql}\n){ORDER[table]}) TO $output_file ({PARQUET_OPTIONS})",
                {**params, "output_file": str(path)},
            ).fetchall()
        return int(row[0][0])

    def entry(self, period: str) -> BatchEntry:
        """The batch's entry of ``period``."""
        found = next((e for e in self.entries if e.period.name == period), None)
        if found is None:
            raise OutputError(f"period {period} is not in the batch")
        return found

    def moves(self, entry: BatchEntry, staging: Path) -> list[tuple[str, Path, Path]]:
        """The intervals and anomalies files of one period (spooled by :meth:`collect`) and where
        they go under ``staging`` (the period's folders of the output's layout, ``_layout``):
        ``(table, spooled file, staged file)``."""
        name = entry.period.name
        files = _layout.period_files(staging, name)
        return [
            (table, self._spooled[(name, table)], files[table][0]) for table in ("intervals", "anomalies")
        ]

    def slice_files(self, entry: BatchEntry, staging: Path) -> list[Path]:
        """Where the slices files of one period go under ``staging``: a day folder for every day of
        the period (a day without slices gets an empty file, so a re-run replaces every day of its
        period and readers always find the schema)."""
        return _layout.period_files(staging, entry.period.name)["slices"]

    def slice_jobs(self, units: Sequence[SliceUnit], staging: dict[str, Path]) -> list[FileJob]:
        """The day files of ``units`` (their rows in ``batch_slices``; ``staging``: each period's
        staging folder), and ``batch_units`` made for :meth:`sum_slices`. Raises
        :class:`OutputError` for a slice dated outside its unit."""
        con = self.con
        con.execute(
            f"CREATE OR REPLACE TABLE main.{BATCH_UNITS} (price_period VARCHAR, batch_period VARCHAR,"
            " first_day DATE, last_day DATE)"
        )
        con.executemany(
            f"INSERT INTO main.{BATCH_UNITS} VALUES (?, ?, ?, ?)",
            [[u.key, u.period, u.days[0], u.days[-1]] for u in units],
        )
        outside = con.execute(load_sql("engine/write/slices_outside")).fetchall()
        if outside:
            raise OutputError(
                f"slices: {outside[0][1]} rows have a usage_date outside period {outside[0][0]}"
            )
        jobs = []
        for unit in units:
            entry = self.entry(unit.period)
            for day in unit.days:
                index = (day - entry.period.first_day).days
                sql = load_sql("engine/write/staged_slices")
                params: dict[str, object] = {"unit": unit.key, "day": day.isoformat(), "run_id": entry.run_id}
                if entry.kept is not None:
                    sql = f"{sql}\nUNION ALL BY NAME\n{load_sql('engine/write/kept_rows')}"
                    params["files"] = literals([entry.kept["slices"][index]])
                    params["period"] = entry.period.name
                path = self.slice_files(entry, staging[entry.period.name])[index]
                jobs.append(FileJob("slices", sql, params, path))
        return jobs

    def sum_slices(self, units: Sequence[SliceUnit]) -> None:
        """Add the sums of the rows :meth:`slice_jobs` wrote for ``units`` from the chunk's
        ``batch_slices`` to ``batch_slice_sums`` (``slice_sums.sql``), which the figures are read
        from; the periods keeping committed rows are summed from their files (:meth:`sum_kept`)."""
        kept = [e.period.name for e in self.entries if e.kept is not None] or [""]
        self.con.sql(  # (a relation's view, as sum_kept's: one kind, so each replaces the other)
            "SELECT u.batch_period AS run_period, s.*"
            f" FROM main.{BATCH_SLICES} AS s JOIN main.{BATCH_UNITS} AS u USING (price_period)"
            " WHERE NOT list_contains(CAST($kept AS VARCHAR[]), u.batch_period)",
            params={"kept": kept},
        ).create_view("summed_slices", replace=True)
        self._add_sums()

    def sum_kept(self, roots: dict[str, Path]) -> None:
        """Add the sums of the periods that keep committed rows (a restated day: new rows and kept
        ones in each file) from their written files, all in one pass."""
        kept = [e for e in self.entries if e.kept is not None]
        if not kept:
            return
        parts = " UNION ALL BY NAME ".join(
            f"SELECT CAST($name_{i} AS VARCHAR) AS run_period, * FROM read_parquet($files_{i},"
            " hive_partitioning = false)"
            for i in range(len(kept))
        )
        params: dict[str, object] = {}
        for i, entry in enumerate(kept):
            params[f"name_{i}"] = entry.period.name
            params[f"files_{i}"] = literals(self.slice_files(entry, roots[entry.period.name]))
        self.con.sql(parts, params=params).create_view("summed_slices", replace=True)
        self._add_sums()

    def _add_sums(self) -> None:
        rows = load_sql("engine/write/slice_sums")
        if BATCH_SLICE_SUMS in self._made:
            self.con.execute(f"INSERT INTO main.{BATCH_SLICE_SUMS} BY NAME {rows}")
        else:
            self.con.execute(f"CREATE TABLE main.{BATCH_SLICE_SUMS} AS {rows}")
            self._made.add(BATCH_SLICE_SUMS)

    def drop_slices(self) -> None:
        """Drop a chunk's ``batch_slices`` (its files written and summed)."""
        self.con.execute(f"DROP TABLE IF EXISTS main.{BATCH_SLICES}")
        self._made.discard(BATCH_SLICES)


def days_of(start_ns: int, end_ns: int) -> tuple[dt.date, ...]:
    """The UTC days of ``[start_ns, end_ns)`` (midnight-aligned)."""
    return tuple(ns_to_date(d) for d in range(start_ns, end_ns, NS_PER_DAY))


def chunked(units: Sequence[tuple[SliceUnit, int]], cap: int) -> list[list[SliceUnit]]:
    """``units`` (each with its estimated intervals) grouped in order into chunks of at most ``cap``
    intervals (a unit larger than that alone): each chunk is priced and written together."""
    chunks: list[list[SliceUnit]] = []
    size = 0
    for unit, estimate in units:
        if chunks and size + estimate <= cap:
            chunks[-1].append(unit)
            size += estimate
        else:
            chunks.append([unit])
            size = estimate
    return chunks


def stage_slices(
    batch: Batch,
    chunks: Iterable[Sequence[SliceUnit]],
    price: Callable[[Sequence[SliceUnit]], None] | None,
    roots: dict[str, Path],
) -> None:
    """For each chunk: ``price`` fills ``batch_slices`` (None: :meth:`Batch.collect` did), its day
    files are written under each period's staging root, its sums kept, and it is dropped. Raises
    :class:`OutputError` when a day of a period got no file."""
    for chunk in chunks:
        if price is not None:
            price(chunk)
        write_files(batch.con, batch.slice_jobs(chunk, roots))
        batch.sum_slices(chunk)
        batch.drop_slices()
    for entry in batch.entries:
        missing = [f for f in batch.slice_files(entry, roots[entry.period.name]) if not f.is_file()]
        if missing:
            raise OutputError(f"period {entry.period.name}: no slices staged for {missing[0].parent.name}")
    batch.sum_kept(roots)


def set_period(con: duckdb.DuckDBPyConnection, name: str, start_ns: int, end_ns: int, run_id: str) -> None:
    """The variables ``sql/engine/write/output_*.sql`` read: the period and the run writing it."""
    for variable, value in (
        ("batch_run_id", run_id),
        ("batch_period_name", name),
        ("batch_period_start_ns", start_ns),
        ("batch_period_end_ns", end_ns),
    ):
        con.execute(f"SET VARIABLE {variable} = ?", [value])


def place(moves: Sequence[tuple[str, Path, Path]], *, after_first: Callable[[], None] | None = None) -> None:
    """Move each spooled file to its staged place (:meth:`Batch.moves`): a rename, or a copy when
    the spool is on another filesystem."""
    for number, (_table, source, target) in enumerate(moves):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        if number == 0 and after_first is not None:
            after_first()


def write_files(
    con: duckdb.DuckDBPyConnection,
    jobs: Sequence[FileJob],
    *,
    after_first: Callable[[], None] | None = None,
) -> None:
    """Write every job's file (zstd Parquet), several at once on cursors of ``con`` (module doc).

    The first error stops the rest (running writes are interrupted) and is raised; so is an
    interrupt of the caller, once the running writes have stopped."""
    threads = max(1, min(len(jobs), int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])))
    local = threading.local()
    cursors: list[duckdb.DuckDBPyConnection] = []
    lock = threading.Lock()

    def write(job: FileJob) -> None:
        cursor = getattr(local, "cursor", None)
        if cursor is None:
            cursor = con.cursor()
            local.cursor = cursor
            with lock:
                cursors.append(cursor)
        job.path.parent.mkdir(parents=True, exist_ok=True)
        cursor.execute(
            f"COPY ({job.sql}) TO $output_file ({PARQUET_OPTIONS})",
            {**job.params, "output_file": str(job.path)},
        )

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="reconcile-write")
    futures: list[concurrent.futures.Future[None]] = []
    try:
        futures = [pool.submit(write, job) for job in jobs]
        first = True
        for future in concurrent.futures.as_completed(futures):
            future.result()
            if first and after_first is not None:
                after_first()
            first = False
    except BaseException:
        for future in futures:
            future.cancel()
        with lock:
            for cursor in cursors:
                cursor.interrupt()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for cursor in cursors:
            cursor.close()
