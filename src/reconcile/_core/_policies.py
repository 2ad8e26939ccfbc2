"""The words a run's options take (standard library only: the command line checks them before the
engine is loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

DoubleStartPolicy: TypeAlias = Literal["close", "drop"]
"""What a start while the resource is open does (SPEC section 3): ``close`` the open interval at it
(``inferred``), or ``drop`` the open one."""

DOUBLE_START_POLICIES: tuple[DoubleStartPolicy, ...] = ("close", "drop")

Engine: TypeAlias = Literal["duckdb", "spark"]
"""Where a run's pairing and pricing run: in this process's DuckDB, or in Spark tasks (each with an
in-process DuckDB running the same SQL on a bucket of resources)."""

ENGINES: tuple[Engine, ...] = ("duckdb", "spark")


@dataclass(frozen=True)
class SparkOptions:
    """How the Spark engine runs (docs/SCALING.md).

    ``master``: Spark's master URL (``local[2]``, ``spark://host:7077``, ...); None: what
    ``spark-submit`` set, else ``local[*]``. ``buckets``: how many buckets of ``(family,
    resource_id)`` the events are hashed into (None: four per core Spark offers). ``task_memory``:
    the memory limit of each task's DuckDB (it spills to disk past it).
    """

    master: str | None = None
    buckets: int | None = None
    task_memory: str = "1GB"
