"""The Spark engine's context: a SparkSession set up for it, a task's DuckDB over its bucket of
resources, and the one line a failing task says.

What this rests on (pyspark 4.3.0, Java 17, DuckDB 2.0.1, measured here):

- Spark's timestamps are microseconds and it refuses Parquet ``TIMESTAMP(NANOS)`` ("Illegal Parquet
  type") unless ``spark.sql.legacy.parquet.nanosAsLong`` is true: then ``emitted_at`` (TIMESTAMPTZ_NS)
  and naive TIMESTAMP_NS columns read as BIGINT nanoseconds, every nanosecond kept. Instants stay
  BIGINT nanoseconds through Spark; the session time zone is pinned to UTC all the same.
- Spark SQL rounds decimal(38,12) arithmetic silently (``*`` gives decimal(38,6), ``+ 0``
  decimal(38,11), ``abs`` and ``-`` keep 34 significant digits), so no money is computed in Spark:
  decimal(38,12) columns pass through ``mapInArrow`` as Arrow decimal128(38,12) unchanged, and every
  computation happens in the task's DuckDB.
- A task receives its bucket as an iterator of Arrow record batches. The engine's SQL reads its input
  more than once (``pair_steps``: the file ranks and the walk), and a RecordBatchReader can be scanned
  once only, so the stream lands in a DuckDB temporary table first (DuckDB's storage: compressed,
  spilled to its temp directory past ``memory_limit``).
- ``spark.pyspark.python`` set on the builder is ignored by a session made from Python: its workers
  run ``PYSPARK_PYTHON`` (default ``python3`` from PATH, which lacks pyarrow), so it is set to this
  interpreter unless the caller chose one.
- A task's exception reaches the driver as ``pyspark.errors.exceptions.captured.PythonException``
  whose text is the worker's whole traceback; the task raises one line marked :data:`TASK_ERROR`,
  and :func:`task_error_line` finds it.
"""

from __future__ import annotations

import importlib.resources
import itertools
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
from pyspark import TaskContext
from pyspark.sql import SparkSession

SESSION_CONF: Final[Mapping[str, str]] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.legacy.parquet.nanosAsLong": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
"""Every session's settings; the SQL ones are set again on a session that already existed."""

_RUNTIME_CONF: Final = ("spark.sql.session.timeZone", "spark.sql.legacy.parquet.nanosAsLong")

BUCKET_KEYS: Final = ("family", "resource_id")
"""What a bucket is hashed on: everything the engine computes is per resource (SPEC section 3)."""

TASK_ERROR: Final = "RECONCILE_TASK_ERROR"
"""The mark of the one line a failing task raises, found in the driver by :func:`task_error_line`."""

_TASK_ERROR_LINE: Final = re.compile(rf"{TASK_ERROR}: ([^\n]*)")
_PYTHON_ERROR_LINE: Final = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt): \S")
_SPARK_EXCEPTION: Final = "SparkException: "
_STREAM: Final = "bucket_stream"
_QUIET_CONF: Final = Path(str(importlib.resources.files("reconcile") / "data" / "spark"))  # log4j2: off


def make_session(
    master: str | None = "local[2]",
    *,
    app_name: str = "reconcile",
    conf: Mapping[str, str] | None = None,
    log_level: str = "OFF",
) -> SparkSession:
    """A SparkSession on ``master`` with :data:`SESSION_CONF` (and ``conf`` over it).

    ``log_level`` is Spark's own (log4j) level: ``OFF`` by default, since a failing task otherwise
    prints the executor's Java and Python stack traces on stderr before the driver sees the error.
    An existing session is returned as it is, its SQL settings (UTC, nanoseconds as BIGINT) set again;
    ValueError if it runs on another master than ``master`` (a process has one SparkContext: a run
    asked for a cluster must not run on the local one a notebook or a test left, nor the reverse).
    """
    from pyspark import SparkContext  # noqa: PLC0415

    active = SparkContext._active_spark_context  # (pyspark's one running context, or None)
    if master is not None and active is not None and active.master != master:
        raise ValueError(
            f"this process already runs Spark on {active.master}, not {master}: stop that session first"
            " (spark.stop()), or leave the master unset to use it"
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master is None or master.startswith("local"):  # (a cluster's conf and addresses are its own)
        os.environ.setdefault("SPARK_CONF_DIR", str(_QUIET_CONF))
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName(app_name)
    if master is not None:  # (None: what spark-submit set, else Spark's own default, local[*])
        builder = builder.master(master)
    for key, value in {**SESSION_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    for key in _RUNTIME_CONF:
        session.conf.set(key, (conf or {}).get(key, SESSION_CONF[key]))
    session.sparkContext.setLogLevel(log_level)
    return session


def land_bucket(
    batches: Iterator[pa.RecordBatch],
    relation: str,
    threads: int,
    memory_limit: str,
    temp_directory: str | None = None,
) -> duckdb.DuckDBPyConnection | None:
    """A task's in-process DuckDB (``threads``, ``memory_limit``, spilling to ``temp_directory``, its
    zone UTC) holding the bucket's batches as the temp table ``relation``; None for an empty bucket.
    The stream lands in a table first: the engine's SQL reads its input more than once."""
    first = next(batches, None)
    if first is None:
        return None
    config: dict[str, str | bool | int | float | list[str]] = {
        "threads": threads,
        "memory_limit": memory_limit,
    }
    if temp_directory is not None:
        config["temp_directory"] = temp_directory
    con = duckdb.connect(config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")
        stream = pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], batches))
        con.register(_STREAM, stream)
        con.execute(f"CREATE TEMP TABLE {relation} AS SELECT * FROM {_STREAM}")
        con.unregister(_STREAM)
    except BaseException:
        con.close()
        raise
    return con


def task_error_text(error: BaseException, bucket: int | None = None) -> str:
    """The one line a failing task raises: :data:`TASK_ERROR`, its bucket (this task's partition
    when not given), the error's type and text on one line."""
    if bucket is None:
        context = TaskContext.get()
        bucket = context.partitionId() if context is not None else None
    where = "driver" if bucket is None else f"bucket {bucket}"
    text = " ".join(str(error).split())
    return f"{TASK_ERROR}: {where}: {type(error).__name__}: {text}"


def task_error_line(error: BaseException) -> str:
    """One line saying why a Spark action failed.

    The failing task's own line when a task raised it (:func:`task_error_text`) (the last one in the text: the
    traceback before it may quote source lines); else the last ``Type: message`` line of a Python
    traceback; else, for a JVM-side failure such as a Python worker that died (``Py4JJavaError``),
    the reason after the last ``SparkException:``; else the first line of the error's text.
    """
    text = str(error)
    found = _TASK_ERROR_LINE.findall(text)
    if found:
        return str(found[-1]).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    python = [line for line in lines if _PYTHON_ERROR_LINE.match(line)]
    if python:
        return python[-1]
    for line in lines:
        if _SPARK_EXCEPTION in line:
            return line.rsplit(_SPARK_EXCEPTION, 1)[1].strip()
    return lines[0] if lines else type(error).__name__
