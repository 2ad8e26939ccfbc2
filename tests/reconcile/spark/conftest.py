"""The one SparkSession the Spark tests share (a JVM starts once: every Spark test module carries the
marks ``spark`` and ``xdist_group("spark")``, so they all run on one pytest worker)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

try:
    import pyspark  # noqa: F401 - (whether the [spark] extra is installed)
except ImportError:  # a quick run without the extra (`-m "not spark"`): these are not collected;
    # CI installs the extra (`uv run --locked --extra spark pytest`) and runs every one of them
    collect_ignore_glob = ["test_*.py"]

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MASTER = "local[2]"


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """A local SparkSession on two cores, as the engine makes it; the engine's runs reuse it."""
    from reconcile._spark import make_session  # noqa: PLC0415

    session = make_session(MASTER, conf={"spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g"})
    yield session
    session.stop()
