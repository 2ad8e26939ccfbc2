"""The Spark tests' sessions and cluster. Every Spark test module carries the mark ``spark`` and an
``xdist_group``: ``spark`` for the local[2] tests, ``spark-cluster`` for the cluster's, so that each
group runs on one pytest worker, in one JVM (which holds one SparkContext at a time), and the cluster
starts once. ``spark`` gives a local session on two cores, ``on_cluster`` one on the standalone
cluster ``cluster`` (a master and two one-core workers, started once per session); each stops the
other's when both groups share a worker."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from _pytest.nodeid import NodeId

from reconcile.testing import StandaloneCluster

try:
    import pyspark  # noqa: F401 - (whether the [spark] extra is installed)
except ImportError:  # a quick run without the extra (`-m "not spark"`): these are not collected;
    # CI installs the extra (`uv run --locked --extra spark pytest`) and runs every one of them
    collect_ignore_glob = ["test_*.py"]

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MASTER = "local[2]"
QUIET = Path(__file__).resolve().parents[3] / "src" / "reconcile" / "data" / "spark"
CLUSTER_CONF = {
    # (as a cluster's spark-defaults.conf or spark-submit's --conf may set them: the engine sets its own)
    "spark.sql.session.timeZone": "America/New_York",
    "spark.sql.legacy.parquet.nanosAsLong": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.executor.memory": "1g",
    "spark.sql.shuffle.partitions": "4",
    "spark.driver.memory": "1g",
}


def stop_active_session() -> None:
    """Stop this process's SparkContext, if one runs (a cluster's executors end with it)."""
    from pyspark import SparkContext  # noqa: PLC0415
    from pyspark.sql import SparkSession  # noqa: PLC0415

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    elif SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()


def session_on(master: str, conf: dict[str, str], executors: int = 0) -> SparkSession:
    """The process's SparkSession on ``master`` (the running one if it is on it, else a new one after
    stopping it), once ``executors`` executors have registered."""
    from pyspark import SparkContext  # noqa: PLC0415

    from reconcile._engines._spark import make_session  # noqa: PLC0415

    active = SparkContext._active_spark_context
    if active is not None and active.master != master:
        stop_active_session()
    # (the JVM starts once, with the environment it finds: quiet, on the loopback, whichever comes first)
    os.environ.setdefault("SPARK_CONF_DIR", str(QUIET))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = make_session(master, conf=conf)
    deadline = time.monotonic() + 60
    status = session.sparkContext._jsc.sc().getExecutorMemoryStatus()  # (the driver's block manager too)
    while status.size() < executors + 1:
        assert time.monotonic() < deadline, f"{executors} executors did not register on {master}"
        time.sleep(0.1)
        status = session.sparkContext._jsc.sc().getExecutorMemoryStatus()
    return session


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-xdist's ``--dist loadgroup`` gives a grouped test's node id the suffix ``@group`` (its
    scheduler keeps a group on one worker by it), but it sets ``item._nodeid``, which pytest 9 no
    longer reads (a node's id is ``item._id``): every group was spread over the workers. Set it where
    pytest reads it."""
    if not getattr(config.option, "loadgroup", False):  # (an xdist worker of --dist loadgroup only)
        return
    for item in items:
        mark = item.get_closest_marker("xdist_group")
        if mark is not None and mark.args and "@" not in item.nodeid.rpartition("]")[2]:
            item._id = NodeId.parse(f"{item.nodeid}@{mark.args[0]}")


@pytest.fixture(scope="session")
def _spark_stopped() -> Iterator[None]:
    """Whatever SparkContext the tests leave running is stopped at the end of the session."""
    yield
    stop_active_session()


@pytest.fixture
def spark(_spark_stopped: None) -> SparkSession:
    """A local SparkSession on two cores, as the engine makes it; the engine's runs reuse it."""
    return session_on(MASTER, {"spark.sql.shuffle.partitions": "4", "spark.driver.memory": "1g"})


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory, _spark_stopped: None) -> Iterator[StandaloneCluster]:
    """A Spark standalone master and two workers of one core on 127.0.0.1, for the whole session; the
    last worker cannot see ``cluster.hidden`` (reconcile.testing.StandaloneCluster). Stopped by
    process group whatever happens (and with this process, if it is killed)."""
    root = tmp_path_factory.mktemp("cluster")
    with StandaloneCluster(root, workers=2, cores=1, hidden=root / "hidden") as running:
        yield running
        stop_active_session()  # (the application's executors end before their workers)


@pytest.fixture
def on_cluster(cluster: StandaloneCluster) -> StandaloneCluster:
    """``cluster``, with this process's SparkSession on it and both executors registered (the driver is
    this test process; the executors are the workers' JVMs, with their own Python workers and folders)."""
    for n in range(cluster.workers - 1):  # (a test may have killed one: the hiding one it may not)
        if cluster.processes[f"worker-{n}"].poll() is not None:
            cluster.restart_worker(n)
    session_on(cluster.master_url, CLUSTER_CONF, executors=cluster.workers)
    return cluster
