"""The Spark engine's context (its SparkSession, a task's DuckDB over its bucket, a failing task's
line): instants as BIGINT nanoseconds and money as DECIMAL(38,12) come back exactly from Parquet
written by DuckDB, rows of a resource meet in one bucket, and a failing task says why in one line.
Needs the [spark] extra and Java 17."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, localcontext
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pytest

from reconcile._engines._spark import BUCKET_KEYS, task_error_line
from reconcile._engines._spark._context import land_bucket, task_error_text

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]


# The events' instants (TIMESTAMPTZ_NS's extremes among them) and amounts (DECIMAL(38,12)'s extremes),
# two events per resource
INSTANTS = [
    -9223372036854775806,
    -1,
    0,
    1,
    1795610096123456789,
    1795610096123456001,
    9223372036854775806,
]
AMOUNTS = [
    "99999999999999999999999999.999999999999",
    "-99999999999999999999999999.999999999999",
    "12345678901234567890123.123456789012",
    "-0.000000000001",
    "0.000000000000",
    "1.000000000001",
    "0.016666666667",
]

EVENTS_SQL = """
SELECT
    CASE WHEN i % 2 = 0 THEN 'vm.compute' ELSE 'snap.storage' END AS family,
    'r-' || (i // 2) AS resource_id,
    CAST(make_timestamp_ns(ns) AS TIMESTAMPTZ_NS) AS emitted_at,
    ns AS emitted_ns,
    CAST(amount AS DECIMAL(38, 12)) AS amount
FROM (SELECT unnest($instants) AS ns, unnest($amounts) AS amount, generate_subscripts($instants, 1) AS i)
"""


def map_buckets(df: DataFrame, sql_text: str, schema: str, buckets: int) -> DataFrame:
    """``sql_text`` over the table ``events`` in each of ``buckets`` buckets of ``df``'s rows, hashed on
    the engine's keys: a task lands its bucket with the engine's own ``land_bucket`` and fails with
    its ``task_error_text``, as the engine's tasks do."""

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        try:
            con = land_bucket(batches, "events", 1, "512MB")
            if con is None:
                return
            try:
                yield from con.sql(sql_text).to_arrow_reader(10_000)
            finally:
                con.close()
        except Exception as error:
            raise RuntimeError(task_error_text(error)) from None

    return df.repartition(buckets, *BUCKET_KEYS).mapInArrow(task, schema)


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zstd Parquet file DuckDB wrote, as the store's events files are (TIMESTAMPTZ_NS and BIGINT ns)."""
    path = tmp_path_factory.mktemp("events") / "events.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"COPY ({EVENTS_SQL}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)",
        {"instants": INSTANTS, "amounts": AMOUNTS},
    )
    described = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE '{path}')").fetchall())
    assert (
        described["emitted_at"] == "TIMESTAMP WITH TIME ZONE" or "TIMESTAMPTZ_NS" in described["emitted_at"]
    )
    return path


def test_nanoseconds_and_decimals_round_trip_exactly(spark: SparkSession, events_file: Path) -> None:
    """TIMESTAMPTZ_NS reads as BIGINT nanoseconds, BIGINT ns and DECIMAL(38,12) come back as they
    were, after a DuckDB pass in each of three buckets."""
    df = spark.read.parquet(str(events_file))
    assert dict(df.dtypes) == {
        "family": "string",
        "resource_id": "string",
        "emitted_at": "bigint",
        "emitted_ns": "bigint",
        "amount": "decimal(38,12)",
    }
    out = map_buckets(
        df,
        "SELECT resource_id, emitted_at, emitted_ns, amount, CASE WHEN abs(amount) < CAST('5e25' AS"
        " DECIMAL(38, 12)) THEN amount * 2 END AS doubled FROM events",
        "resource_id string, emitted_at bigint, emitted_ns bigint, amount decimal(38,12),"
        " doubled decimal(38,12)",
        3,
    )
    table = out.toArrow()
    assert str(table.schema.field("amount").type) == "decimal128(38, 12)"
    rows = sorted(table.to_pylist(), key=lambda row: row["emitted_ns"])
    assert [row["emitted_ns"] for row in rows] == sorted(INSTANTS)
    assert all(row["emitted_at"] == row["emitted_ns"] for row in rows)
    by_ns = dict(zip(INSTANTS, AMOUNTS, strict=True))
    assert [format(row["amount"], "f") for row in rows] == [by_ns[row["emitted_ns"]] for row in rows]
    # DuckDB's DECIMAL(38,12) * 2 in the task is exact (and an error, never a rounding, past 5e25)
    # (in Python with 38 digits: the default context keeps 28 and would round the expectation)
    with localcontext() as context:
        context.prec = 38
        for row in rows:
            expected = row["amount"] * 2 if abs(row["amount"]) < Decimal("5e25") else None
            assert row["doubled"] == expected


def test_a_resource_is_walked_in_one_bucket(spark: SparkSession, events_file: Path) -> None:
    """A window per resource in the task gives what one DuckDB pass over every row gives."""
    sql = (
        "SELECT family, resource_id, emitted_ns, lag(emitted_ns) OVER "
        "(PARTITION BY family, resource_id ORDER BY emitted_ns) AS prev_ns FROM events"
    )
    out = map_buckets(
        spark.read.parquet(str(events_file)),
        sql,
        "family string, resource_id string, emitted_ns bigint, prev_ns bigint",
        4,
    )
    got = sorted((r.family, r.resource_id, r.emitted_ns, r.prev_ns) for r in out.collect())
    con = duckdb.connect()
    con.execute(f"CREATE TEMP TABLE events AS SELECT * FROM '{events_file}'")
    assert got == sorted(con.execute(sql).fetchall())


def test_a_failing_task_says_why_in_one_line(spark: SparkSession, events_file: Path) -> None:
    """DuckDB's error inside a task reaches the driver as one line naming the bucket and the error."""
    out = map_buckets(
        spark.read.parquet(str(events_file)), "SELECT no_such_column FROM events", "x bigint", 2
    )
    with pytest.raises(Exception) as caught:  # noqa: PT011 (pyspark's PythonException; its module varies)
        out.collect()
    line = task_error_line(caught.value)
    assert "\n" not in line
    assert line.startswith("bucket ")
    assert "BinderException" in line
    assert "no_such_column" in line


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "An exception was thrown from the Python worker:\nTraceback (most recent call last):\n"
            '  File "x.py", line 3, in task\n    raise RuntimeError(f"RECONCILE_TASK_ERROR: {where}")\n'
            "RuntimeError: RECONCILE_TASK_ERROR: bucket 1: BinderException: Binder Error: no x",
            "bucket 1: BinderException: Binder Error: no x",
        ),
        (
            "An exception was thrown from the Python worker:\nTraceback (most recent call last):\n"
            '  File "x.py", line 3, in task\nValueError: bucket 1: an amount the output cannot hold\n',
            "ValueError: bucket 1: an amount the output cannot hold",
        ),
        (
            "An error occurred while calling o70.save.\n: org.apache.spark.SparkException: Job aborted due "
            "to stage failure: Lost task 1.0: org.apache.spark.SparkException: Python worker exited "
            "unexpectedly (crashed).\n\tat org.apache.spark.api.python.X(X.scala:1)\nCaused by: "
            "java.io.EOFException\n",
            "Python worker exited unexpectedly (crashed).",
        ),
    ],
    ids=["task-line", "python-traceback", "worker-crash"],
)
def test_the_one_line_of_an_error(text: str, line: str) -> None:
    """The task's marked line wins over the source line quoting the mark; then a traceback's last
    line; then the reason a JVM-side failure gives."""
    assert task_error_line(RuntimeError(text)) == line
