"""What one Spark task runs on its bucket of resources: the engine's own pairing and pricing.

A bucket is every input row of the resources whose ``(family, resource_id)`` hash to it: the window's
events, and the starting checkpoint's open starts and seen resources (``_kind`` says which). The
task lands them in an in-process DuckDB (one thread, its own memory limit, spilling to its own
folder), rebuilds the relations pairing reads with their exact types (instants came through Spark as
BIGINT nanoseconds) and runs the pipeline as the in-process engine does (``_base.Stages.run``): it
walks once (``_pair.walk``), and for each period reads the walk as of its cut-off (``_pair.as_of``),
prices it (``Pricer``) and writes its three output tables, in the writer's own form
(``sql/engine/write/output_*.sql``, the period's ``run_id`` included), as one Parquet file per
table, period and bucket under the job's parts folder; last, the state at each checkpoint midnight
(``_pair.state_at``). What it yields to Spark is small: per period and
checkpoint, its role counts and rows; every row of money stays in DuckDB and in those files, so
Spark never computes with a decimal or an instant.

Everything here is per resource (SPEC section 3), so the union of the buckets' files is, row for row,
what the DuckDB engine computes in one connection.
"""

from __future__ import annotations

import os
import resource
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._core import _faults
from reconcile._core import _schema as schema
from reconcile._core._duckdb import PARQUET_OPTIONS
from reconcile._core._period import format_ns
from reconcile._core._policies import DoubleStartPolicy
from reconcile._core._sql import load_sql
from reconcile._engines._base import Stages
from reconcile._engines._spark._cluster import require_shared
from reconcile._engines._spark._context import land_bucket, task_error_text
from reconcile._output import _layout, _staging
from reconcile._pair import _walk as _pair
from reconcile._pair._walk import AsOf, Roles
from reconcile._price._book import PriceBook
from reconcile._price._contracts import Contracts
from reconcile._price._pricer import PeriodBounds, Pricer

KIND: Final = "_kind"  # which input a row is: EVENT, OPEN or SEEN
EVENT, OPEN, SEEN = "event", "open", "seen"
TABLES: Final = _staging.TABLES
_ROWS: Final = "bucket_rows"

RESULT_SCHEMA: Final = pa.schema(
    [
        ("what", pa.string()),  # "period" or "checkpoint"
        ("name", pa.string()),  # the period's name, or the checkpoint's day (YYYY-MM-DD)
        ("bucket", pa.int64()),
        ("attempt", pa.int64()),  # the task attempt that wrote its files (Spark's taskAttemptId)
        ("events", pa.int64()),
        ("start", pa.int64()),
        ("stop", pa.int64()),
        ("unmatched_stop", pa.int64()),
        ("slices", pa.int64()),
        ("intervals", pa.int64()),
        ("anomalies", pa.int64()),
        ("worker_peak_kb", pa.int64()),  # the Python worker's peak RSS when the task ended
    ]
)
"""One row per period and checkpoint a task computed (Spark DDL: :data:`RESULT_DDL`)."""

RESULT_DDL: Final = (
    "what string, name string, bucket bigint, attempt bigint, events bigint, start bigint, stop bigint,"
    " unmatched_stop bigint, slices bigint, intervals bigint, anomalies bigint, worker_peak_kb bigint"
)


@dataclass(frozen=True)
class PeriodJob:
    """One period a job computes: its bounds, cut-off and run_id (Unix nanoseconds, UTC)."""

    name: str
    start_ns: int
    end_ns: int
    cut_off_ns: int
    run_id: str
    root: str  # the period's staging folder in the output: the tasks write its files there


@dataclass(frozen=True)
class BucketJob:
    """Everything a task needs (pickled to the executors with the function)."""

    walk_from_ns: int | None  # the starting checkpoint's instant (None: the start of history)
    walk_to_ns: int
    periods: tuple[PeriodJob, ...]
    checkpoints: tuple[str, ...]  # the midnights (YYYY-MM-DD) whose state is written
    checkpoint_ns: tuple[int, ...]
    double_start: DoubleStartPolicy
    stale_after_ns: int | None
    book: PriceBook
    tenants: pa.Table | None
    parts: str  # the job's parts folder (absolute; shared by the driver and every executor)
    memory_limit: str = "1GB"
    threads: int = 1
    store: str | None = None  # the store's absolute path (a task checks it sees it)
    fault: str | None = None  # the driver's RECONCILE_FAULT (executors have their own environment)
    contracts: Contracts | None = None  # the contracts file, loaded (the same pricing SQL runs)


def input_columns() -> dict[str, str]:
    """The columns of a bucket's input rows, as Spark carries them: every events column (instants as
    BIGINT nanoseconds) and :data:`KIND`; an open start or a seen resource fills the ones it has."""
    spark_types = {"VARCHAR": "string", "BIGINT": "bigint"}
    columns = {
        name: "bigint" if sql_type.startswith("TIMESTAMP") else spark_types[sql_type]
        for name, sql_type in schema.EVENTS.items()
    }
    return {**columns, KIND: "string"}


def part_name(bucket: int, attempt: int) -> str:
    """The name of a task attempt's file: its bucket and attempt, so that the files of an attempt that
    died (a lost executor, then Spark's retry) are told from the retry's and dropped by the driver."""
    return f"part-{bucket:05d}-{attempt}.parquet"


def part_key(file: Path) -> tuple[int, int] | None:
    """The ``(bucket, attempt)`` a task's file is of (:func:`part_name`); None for another file."""
    bucket, _, attempt = file.name.removeprefix("part-").removesuffix(".parquet").partition("-")
    if not file.name.startswith("part-") or not bucket.isdigit() or not attempt.isdigit():
        return None
    return int(bucket), int(attempt)


def part_file(parts: str | Path, table: str, name: str, bucket: int, attempt: int = 0) -> Path:
    """Where a task writes one checkpoint table of its bucket."""
    return Path(parts) / table / f"name={name}" / part_name(bucket, attempt)


def scratch_root(parts: str) -> Path:
    """Where a task's DuckDB spills: the executor's own scratch (Spark gives its Python workers
    ``SPARK_LOCAL_DIRS``: local disks, removed with the application), else the job's parts folder."""
    local = os.environ.get("SPARK_LOCAL_DIRS", "").split(",")[0]
    return Path(local) / "reconcile-spill" if local else Path(parts) / "spill"


def _typed(columns: dict[str, str], kind: str) -> str:
    """A SELECT of ``columns`` from the landed rows of ``kind`` with their engine types (a Spark
    BIGINT of nanoseconds back to TIMESTAMPTZ_NS)."""
    parts = []
    for name, sql_type in columns.items():
        if sql_type.startswith("TIMESTAMP"):
            parts.append(f"timezone('UTC', make_timestamp_ns({name})) AS {name}")
        else:
            parts.append(f"CAST({name} AS {sql_type}) AS {name}")
    return f"SELECT {', '.join(parts)} FROM {_ROWS} WHERE {KIND} = '{kind}'"


class BucketRun:
    """``mapInArrow``'s function: the bucket's rows in, its result rows out (module doc)."""

    def __init__(self, job: BucketJob) -> None:
        self.job = job

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext  # noqa: PLC0415 - (a task's; the module is also imported by the driver)

        context = TaskContext.get()
        bucket = context.partitionId() if context is not None else 0
        attempt = context.taskAttemptId() if context is not None else 0
        scratch = scratch_root(self.job.parts) / f"attempt={attempt}"
        try:
            require_shared(self.job.parts, self.job.store)  # (never a folder of its own in their place)
            scratch.mkdir(parents=True, exist_ok=True)
            con = land_bucket(batches, _ROWS, self.job.threads, self.job.memory_limit, str(scratch))
            if con is None:
                return
            try:
                rows = self._run(con, bucket, attempt)
            finally:
                con.close()
        except Exception as error:
            raise RuntimeError(task_error_text(error, bucket)) from None
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        yield pa.RecordBatch.from_pylist(rows, schema=RESULT_SCHEMA)

    def write_rows(
        self, con: duckdb.DuckDBPyConnection, table: str, period: PeriodJob, bucket: int, attempt: int
    ) -> int:
        """Write this bucket's rows of one table of ``period`` into the period's staging folder, as the
        output's own files (``part-<bucket>-<attempt>.parquet`` beside the other buckets'); their count."""
        rows = load_sql(f"engine/write/output_{table}")
        root = Path(period.root)
        if table != "slices":
            dest = root / _layout.period_partition(table, period.name) / part_name(bucket, attempt)
            dest.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT * FROM ({rows}){_staging.ORDER[table]}) TO ? ({PARQUET_OPTIONS})",
                [str(dest)],
            )
            return _rows_in(con, dest)
        con.execute(f"CREATE OR REPLACE TEMP TABLE bucket_slices AS {rows}")
        template = template_file(root, bucket)
        con.execute("COPY (SELECT * FROM bucket_slices LIMIT 0) TO ? (FORMAT parquet)", [str(template)])
        days = [
            d for (d,) in con.execute("SELECT DISTINCT usage_date FROM bucket_slices ORDER BY 1").fetchall()
        ]
        for day in days:
            dest = root / _layout.slices_partition(day) / part_name(bucket, attempt)
            dest.parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT * FROM bucket_slices WHERE usage_date = ?) TO ? ({PARQUET_OPTIONS})",
                [day, str(dest)],
            )
        return int(con.execute("SELECT count(*) FROM bucket_slices").fetchall()[0][0])

    def run_empty(self, bucket: int) -> None:
        """Write the parts of a bucket with no rows (every table with its schema, no row): the driver
        runs it when no task wrote a part (a store with no event and no state)."""
        con = duckdb.connect(config={"threads": 1, "memory_limit": self.job.memory_limit})
        try:
            con.execute("SET TimeZone = 'UTC'")
            kinds = {"string": "VARCHAR", "bigint": "BIGINT"}
            defs = ", ".join(f"{n} {kinds[t]}" for n, t in input_columns().items())
            con.execute(f"CREATE TEMP TABLE {_ROWS} ({defs})")
            self._run(con, bucket, 0)
        finally:
            con.close()

    def _run(self, con: duckdb.DuckDBPyConnection, bucket: int, attempt: int) -> list[dict[str, object]]:
        job = self.job
        con.execute(f"CREATE TEMP TABLE {_pair.EVENTS} AS {_typed(schema.EVENTS, EVENT)}")
        _pair.empty_state(con)
        con.execute(f"INSERT INTO {_pair.STATE_OPEN} {_typed(_pair.STATE_OPEN_COLUMNS, OPEN)}")
        con.execute(f"INSERT INTO {_pair.STATE_SEEN_BASE} {_typed(_pair.STATE_SEEN_COLUMNS, SEEN)}")
        con.execute(f"DROP TABLE {_ROWS}")
        stages = _BucketStages(self, con, bucket, attempt)
        stages.run(job.periods, walk=(job.walk_from_ns, job.walk_to_ns))
        return stages.found


class _BucketStages(Stages[PeriodJob]):
    """The pipeline's stages over one bucket (module doc); what it computed in :attr:`found`."""

    def __init__(self, task: BucketRun, con: duckdb.DuckDBPyConnection, bucket: int, attempt: int) -> None:
        self.task = task
        self.job = task.job
        self.con = con
        self.bucket = bucket
        self.attempt = attempt
        self.found: list[dict[str, object]] = []
        self.pricer = (
            Pricer(con, self.job.book, self.job.tenants, self.job.contracts) if self.job.periods else None
        )

    def walk(self, from_ns: int | None, to_ns: int) -> None:
        _pair.walk(self.con, walk_from_ns=from_ns, walk_to_ns=to_ns)

    def as_of(self, period: PeriodJob) -> Roles:
        roles = _pair.window_roles(self.con, period.cut_off_ns)
        options = AsOf(period.cut_off_ns, self.job.double_start, self.job.stale_after_ns)
        _pair.as_of(self.con, options, period=(period.start_ns, period.end_ns), event_roles=False)
        return roles

    def price(self, period: PeriodJob) -> None:
        assert self.pricer is not None
        self.pricer.price(PeriodBounds(period.start_ns, period.end_ns, period.cut_off_ns))

    def stage(self, period: PeriodJob, roles: Roles) -> None:
        con, bucket, attempt = self.con, self.bucket, self.attempt
        _staging.set_period(con, period.name, period.start_ns, period.end_ns, period.run_id)
        counts = {table: self.task.write_rows(con, table, period, bucket, attempt) for table in TABLES}
        self.found.append(_result("period", period.name, bucket, roles, counts, attempt=attempt))
        _faults.point("spark-task", self.job.fault)

    def finish(self) -> None:
        """The state at each checkpoint midnight of the job, as this bucket's parts of it."""
        job, con = self.job, self.con
        for day, at_ns in zip(job.checkpoints, job.checkpoint_ns, strict=True):
            roles = _pair.window_roles(con, at_ns)
            _pair.state_at(con, at_ns, full_seen=True)
            for table, relation in (
                ("checkpoint_open", _pair.NEXT_OPEN),
                ("checkpoint_seen", _pair.NEXT_SEEN),
            ):
                dest = part_file(job.parts, table, day, self.bucket, self.attempt)
                dest.parent.mkdir(parents=True, exist_ok=True)
                con.execute(f"COPY {relation} TO ? (FORMAT parquet, COMPRESSION zstd)", [str(dest)])
            self.found.append(_result("checkpoint", day, self.bucket, roles, {}, attempt=self.attempt))


def template_file(root: str | Path, bucket: int) -> Path:
    """An empty slices file with the exact columns, for a day no bucket has a slice of."""
    return Path(root) / f"empty-slices-{bucket:05d}.parquet"


def _rows_in(con: duckdb.DuckDBPyConnection, file: Path) -> int:
    return int(con.execute("SELECT count(*) FROM read_parquet(?)", [str(file)]).fetchall()[0][0])


def _result(
    what: str, name: str, bucket: int, roles: Roles, counts: dict[str, int], *, attempt: int
) -> dict[str, object]:
    return {
        "what": what,
        "name": name,
        "bucket": bucket,
        "attempt": attempt,
        **roles.to_json(),
        **{table: counts.get(table, 0) for table in TABLES},
        "worker_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def describe(job: BucketJob) -> str:
    """One line for progress: the walk and what it computes."""
    begin = "the start" if job.walk_from_ns is None else format_ns(job.walk_from_ns)
    return f"walk from {begin} to {format_ns(job.walk_to_ns)}, {len(job.periods)} period(s)"
