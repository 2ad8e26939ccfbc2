"""The Spark engine: the pipeline run per bucket of resources in Spark tasks, each in a DuckDB of its own.

Needs the ``[spark]`` extra (pyspark 4.x, pandas) and Java 17; imported only when a session asks for
it (``reconcile._engines.make_engine``). ``_context``: the SparkSession and a task's DuckDB;
``_task``: what a task runs on its bucket; ``_engine``: the driver's side (plan, job, checkpoint,
commit); ``_cluster``: what a cluster must give it, checked at start.
"""

from __future__ import annotations

from reconcile._engines._spark._context import (
    BUCKET_KEYS,
    SESSION_CONF,
    TASK_ERROR,
    make_session,
    task_error_line,
)

__all__ = ["BUCKET_KEYS", "SESSION_CONF", "TASK_ERROR", "make_session", "task_error_line"]
