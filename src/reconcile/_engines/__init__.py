"""The engines a session computes its periods on, behind one seam (``_base``; sqlmesh's engine
adapters, narwhals' backends): ``duckdb``, in process (``_duckdb``), and ``spark``, Apache Spark
tasks each running the same pipeline in a DuckDB of its own (``_spark``; the [spark] extra, imported
only when asked for). The session knows the seam and :func:`make_engine`; an engine knows the seam,
never the session nor another engine.
"""

from __future__ import annotations

from reconcile._core._policies import SparkOptions
from reconcile._engines._base import Engine, EngineContext, Pending, PeriodRun, Stages
from reconcile._engines._duckdb import DuckDBEngine
from reconcile.exceptions import UsageError

__all__ = ["DuckDBEngine", "Engine", "EngineContext", "Pending", "PeriodRun", "Stages", "make_engine"]


def make_engine(context: EngineContext, spark: SparkOptions | None = None) -> Engine:
    """The in-process engine, or with ``spark`` the Spark engine (UsageError naming the extra when
    pyspark is missing)."""
    if spark is None:
        return DuckDBEngine(context)
    try:
        from reconcile._engines._spark._engine import SparkEngine  # noqa: PLC0415 - (pyspark only when asked)
    except ImportError as exc:
        raise UsageError(
            f"the Spark engine needs the [spark] extra ({exc.name or exc} is missing):"
            " pip install 'cocoon-billing[spark]'"
        ) from None
    return SparkEngine(context, spark)
