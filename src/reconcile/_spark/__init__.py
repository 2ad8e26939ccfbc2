"""The Spark engine (spike): the engine's own DuckDB SQL run per bucket of resources in Spark tasks.

Needs the ``[spark]`` extra (pyspark 4.x, pandas) and Java 17. Private: nothing outside the engine
imports it, and nothing in the engine imports it yet.
"""

from __future__ import annotations

from reconcile._spark._session import (
    BUCKET_KEYS,
    SESSION_CONF,
    TASK_ERROR,
    BucketTask,
    make_session,
    map_buckets,
    task_error_line,
)

__all__ = [
    "BUCKET_KEYS",
    "SESSION_CONF",
    "TASK_ERROR",
    "BucketTask",
    "make_session",
    "map_buckets",
    "task_error_line",
]
