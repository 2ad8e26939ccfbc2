"""The output stage's staging step: a batch of periods' rows, written to Parquet files in parallel.

A session runs its periods together (the nightly job's restated days, the one period of
``reconcile run``). Each period's rows are collected into a :class:`Batch` (tables in the
connection's main catalog: ``batch_slices``, ``batch_intervals``, ``batch_anomalies``, each with a
``batch_period`` column, and ``batch_scope``), and the writer (``_write``) then stages every file of
every period at once with :func:`write_files`. DuckDB writes one Parquet file on one thread, so the
files are written on a pool of cursors of the connection, one per DuckDB thread (a cursor sees the
main catalog but not the connection's temp tables: hence the batch tables). A re-run that keeps
committed rows (``_reuse``) has them added to each of its files here (``kept_rows``), under its new
``run_id``.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from reconcile import _schema as schema
from reconcile._engine import PARQUET_OPTIONS, literals
from reconcile._period import Period
from reconcile._sql import load_sql
from reconcile.exceptions import OutputError

TABLES = ("slices", "intervals", "anomalies")
BATCH_SCOPE = "batch_scope"

# Columns SPEC section 5 names with their exact types, plus the instants as nanoseconds the writer
# filters on.
SLICE_COLUMNS: dict[str, str] = schema.SLICES
INTERVAL_COLUMNS: dict[str, str] = schema.INTERVALS | {"start_ns": "BIGINT", "end_ns": "BIGINT"}
ANOMALY_COLUMNS: dict[str, str] = schema.ANOMALIES | {"at_ns": "BIGINT"}
SPEC_COLUMNS = {"slices": SLICE_COLUMNS, "intervals": INTERVAL_COLUMNS, "anomalies": ANOMALY_COLUMNS}

# How each file's rows are ordered (slices carry no order: sorting doubled the time to write a month).
ORDER = {
    "slices": "",
    "intervals": " ORDER BY family, resource_id, start_ns, interval_id",
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

    def __post_init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Drop the batch tables: an empty batch."""
        for table in (*(f"batch_{t}" for t in TABLES), BATCH_SCOPE):
            self.con.execute(f"DROP TABLE IF EXISTS main.{table}")
        self.con.execute(
            f"CREATE TABLE main.{BATCH_SCOPE} (batch_period VARCHAR, family VARCHAR, resource_id VARCHAR)"
        )
        self.entries = []
        self.rows = 0
        self._made = set()

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
        files about resources outside the relation named ``scope`` are added when staging.
        ``slices=False``: its slices come later (:meth:`add_slices`, once they are priced).
        Raises :class:`OutputError` for a missing or mistyped column or a slice dated outside the
        period, before anything is added."""
        con = self.con
        tables = TABLES if slices else tuple(t for t in TABLES if t != "slices")
        for table in tables:
            check_columns(con.table(table), table, SPEC_COLUMNS[table])
        if any(e.period.name == period.name for e in self.entries):
            raise OutputError(f"period {period.name} is twice in one batch")
        if slices:
            self._check_dates(period)
        set_period(con, period.name, period.start_ns, period.end_ns, run_id)
        for table in tables:
            self._insert(table)
        if kept is not None:
            if scope is None or not scope.isidentifier():
                raise OutputError(f"period {period.name}: kept rows need the name of a scope relation")
            con.execute(
                f"INSERT INTO main.{BATCH_SCOPE} SELECT ?, family, resource_id FROM {scope}", [period.name]
            )
        self.rows += _count_rows(con, period.name, [t for t in tables if t != "anomalies"])
        self.entries.append(BatchEntry(period, cut_off_ns, run_id, kept))

    def add_slices(self, period: Period) -> None:
        """Add the relation ``slices`` as the slices of ``period``, collected before without them
        (checked as :meth:`collect` checks them)."""
        entry = next((e for e in self.entries if e.period.name == period.name), None)
        if entry is None:
            raise OutputError(f"period {period.name} is not in the batch")
        check_columns(self.con.table("slices"), "slices", SLICE_COLUMNS)
        self._check_dates(period)
        set_period(self.con, period.name, period.start_ns, period.end_ns, entry.run_id)
        self._insert("slices")
        self.rows += _count_rows(self.con, period.name, ["slices"])

    def _check_dates(self, period: Period) -> None:
        outside = int(
            self.con.execute(
                "SELECT count(*) FROM slices WHERE usage_date IS NULL OR usage_date NOT BETWEEN ? AND ?",
                [period.first_day, period.days()[-1]],
            ).fetchall()[0][0]
        )
        if outside:
            raise OutputError(f"slices: {outside} rows have a usage_date outside period {period.name}")

    def _insert(self, table: str) -> None:
        """Add the rows of ``output_<table>.sql`` for the period :func:`set_period` set."""
        rows = (
            "SELECT getvariable('batch_period_name') AS batch_period, o.*"
            f" FROM ({load_sql(f'engine/write/output_{table}')}) AS o"
        )
        if table in self._made:
            self.con.execute(f"INSERT INTO main.batch_{table} BY NAME {rows}")
        else:
            self.con.execute(f"CREATE TABLE main.batch_{table} AS {rows}")
            self._made.add(table)

    def jobs(self, entry: BatchEntry, staging: Path) -> list[FileJob]:
        """The files of one period under ``staging`` (its tree: ``slices/usage_date=D/``,
        ``intervals/period=P/``, ``anomalies/period=P/``), each ``data_0.parquet``. A day without
        slices gets an empty file, so a re-run replaces every day of its period and readers always
        find the schema."""
        name = entry.period.name
        jobs = []
        for table in TABLES:
            parts: list[tuple[str, str | None]]
            if table == "slices":
                parts = [(f"usage_date={d.isoformat()}", d.isoformat()) for d in entry.period.days()]
            else:
                parts = [(f"period={name}", None)]
            kept = None if entry.kept is None else entry.kept[table]
            for index, (folder, day) in enumerate(parts):
                sql = load_sql(f"engine/write/staged_{table}")
                params: dict[str, object] = {"period": name}
                if day is not None:
                    params["day"] = day
                if kept is not None:
                    sql = f"{sql}\nUNION ALL BY NAME\n{load_sql('engine/write/kept_rows')}"
                    params["files"] = literals([kept[index]])
                    params["run_id"] = entry.run_id
                sql = f"SELECT * FROM (\n{sql}\n){ORDER[table]}"
                jobs.append(FileJob(table, sql, params, staging / table / folder / "data_0.parquet"))
        return jobs


def set_period(con: duckdb.DuckDBPyConnection, name: str, start_ns: int, end_ns: int, run_id: str) -> None:
    """The variables ``sql/engine/write/output_*.sql`` read: the period and the run writing it."""
    for variable, value in (
        ("batch_run_id", run_id),
        ("batch_period_name", name),
        ("batch_period_start_ns", start_ns),
        ("batch_period_end_ns", end_ns),
    ):
        con.execute(f"SET VARIABLE {variable} = ?", [value])


def _count_rows(con: duckdb.DuckDBPyConnection, period: str, tables: Sequence[str]) -> int:
    """The rows of one period in the batch tables of ``tables``."""
    return sum(
        int(
            con.execute(
                f"SELECT count(*) FROM main.batch_{table} WHERE batch_period = ?", [period]
            ).fetchall()[0][0]
        )
        for table in tables
    )


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
