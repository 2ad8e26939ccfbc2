"""The Spark engine on local[2] gives the DuckDB engine's output row for row: the demo fleet and a
generated fleet of 20k events, run as a day, a month and a nightly with a late file; the same run_ids
and manifests (versions and reuse aside); whatever the number of buckets; a failing task fails the run
in one line and leaves the output whole; its checkpoint serves the next DuckDB run. (`reconcile run`
and `reconcile nightly` run it from the command line in test_spark_cluster.py, on a cluster.)"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers.run_fixture import output_rows
from reconcile import ingest, nightly, run_period
from reconcile._core._policies import SparkOptions
from reconcile._pair._checkpoints import Checkpoints
from reconcile._store._reader import Store
from reconcile.exceptions import SparkEngineError
from reconcile.testing import generate_ledger, write_tenants

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
LOCAL = SparkOptions(master="local[2]", buckets=4)


def _day(offset: int) -> str:
    return (START.date() + dt.timedelta(days=offset)).isoformat()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of a generated fleet (20k lines, 4 hosts, 20 days from 2026-10-01) with tenants, and a
    late file: every 20th line of a stretch of its second half, left out of the store."""
    root = tmp_path_factory.mktemp("fleet")
    generate_ledger(root / "all.jsonl", lines=20_000, seed=11, hosts=4, start=START, days=20)
    lines = (root / "all.jsonl").read_bytes().splitlines(keepends=True)
    late = set(range(len(lines) * 55 // 100, len(lines) * 60 // 100, 20))
    (root / "ledger.jsonl").write_bytes(b"".join(x for i, x in enumerate(lines) if i not in late))
    (root / "late.jsonl").write_bytes(b"".join(lines[i] for i in sorted(late)))
    ingest([root / "ledger.jsonl"], root / "store", quiet=True)
    resources = Store(root / "store").read_table("events").column("resource_id").unique().to_pylist()
    write_tenants(root / "tenants.csv", sorted(resources), 11)
    return root


def _both(store: Path, out: Path, period: str, tenants: Path | None, spark: SparkOptions = LOCAL) -> None:
    """The period run by each engine into out/duckdb and out/spark; their run_ids equal."""
    a = run_period(store, "bundled", out / "duckdb", period, tenants=tenants, quiet=True)
    b = run_period(
        store, "bundled", out / "spark", period, tenants=tenants, quiet=True, engine="spark", spark=spark
    )
    assert a.run_id == b.run_id
    assert a.totals == b.totals


@pytest.mark.parametrize(
    ("source", "periods"),
    [
        pytest.param("demo", ("2026-11-21", "2026-11"), id="demo"),
        pytest.param("fleet", (_day(12), "2026-10"), id="20k-fleet", marks=pytest.mark.slow),
    ],
)
def test_a_day_and_a_month_equal_the_duckdb_engine(
    spark: SparkSession, request: pytest.FixtureRequest, source: str, periods: tuple[str, str], tmp_path: Path
) -> None:
    """On the demo fleet and on a generated fleet of 20k events, a day and a month give the same rows,
    run_ids and manifests on both engines."""
    root: Path = request.getfixturevalue("demo_root" if source == "demo" else "fleet")
    store = tmp_path / "store"
    shutil.copytree(root / "store", store)
    assert Store(store).read_table("events").num_rows >= (19_000 if source == "fleet" else 1)
    for period in periods:
        _both(store, tmp_path / period, period, root / "tenants.csv")
        assert output_rows(tmp_path / period / "duckdb") == output_rows(tmp_path / period / "spark")


@pytest.mark.slow
def test_a_nightly_with_a_late_file_equals_the_duckdb_engine(
    spark: SparkSession, fleet: Path, tmp_path: Path
) -> None:
    """After a late file, the nightly restates the same days with the same rows on both engines."""
    store = tmp_path / "store"
    shutil.copytree(fleet / "store", store)
    seed = tmp_path / "seed"
    for offset in range(10, 18):
        run_period(store, "bundled", seed, _day(offset), tenants=fleet / "tenants.csv", quiet=True)
    outs = {engine: tmp_path / engine for engine in ("duckdb", "spark")}
    for out in outs.values():
        shutil.copytree(seed, out)
    ingest([fleet / "late.jsonl"], store, quiet=True)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    nights = {
        engine: nightly(
            [tmp_path / "empty.jsonl"],
            store,
            out,
            "bundled",
            today=_day(19),
            lookback=10,
            tenants=fleet / "tenants.csv",
            quiet=True,
            engine="duckdb" if engine == "duckdb" else "spark",
            spark=LOCAL,
        )
        for engine, out in outs.items()
    }
    assert nights["duckdb"].restated
    assert nights["spark"].restated == nights["duckdb"].restated
    assert [r.run_id for r in nights["spark"].runs] == [r.run_id for r in nights["duckdb"].runs]
    assert output_rows(outs["duckdb"]) == output_rows(outs["spark"])


def test_the_number_of_buckets_changes_no_row(spark: SparkSession, demo_root: Path, tmp_path: Path) -> None:
    """One bucket or seven: the same rows (every resource is walked whole in one of them)."""
    store = tmp_path / "store"
    shutil.copytree(demo_root / "store", store)
    for buckets in (1, 7):
        run_period(
            store,
            "bundled",
            tmp_path / f"b{buckets}",
            "2026-11-22",
            quiet=True,
            engine="spark",
            spark=SparkOptions(master="local[2]", buckets=buckets),
        )
    assert output_rows(tmp_path / "b1") == output_rows(tmp_path / "b7")


def test_a_failing_task_fails_the_run_in_one_line_and_leaves_the_output_whole(
    spark: SparkSession, demo_root: Path, tmp_path: Path
) -> None:
    """A task that cannot run (its DuckDB refuses the memory limit) fails the run with one line naming
    the bucket; the period's earlier output is exactly as it was, and nothing is left staged."""
    store, out = tmp_path / "store", tmp_path / "out"
    shutil.copytree(demo_root / "store", store)
    run_period(store, "bundled", out, "2026-11-20", quiet=True, engine="spark", spark=LOCAL)
    before = output_rows(out)
    bad = SparkOptions(master="local[2]", buckets=2, task_memory="no-such-size")
    with pytest.raises(SparkEngineError) as raised:
        run_period(store, "bundled", out, "2026-11-20", quiet=True, engine="spark", spark=bad)
    message = str(raised.value)
    assert "\n" not in message
    assert "bucket" in message
    assert "memory" in message.lower()
    assert output_rows(out) == before
    assert not any((out / ".staging").glob("*"))


def test_its_checkpoint_serves_the_next_duckdb_run(spark: SparkSession, fleet: Path, tmp_path: Path) -> None:
    """The Spark engine writes a valid checkpoint at its walk's last midnight, and a DuckDB run of the
    next day walked from it gives the full walk's rows."""
    store = tmp_path / "store"
    shutil.copytree(fleet / "store", store)
    shutil.rmtree(store / "checkpoints", ignore_errors=True)
    run_period(store, "bundled", tmp_path / "spark", _day(14), quiet=True, engine="spark", spark=LOCAL)
    days = [cp.day.isoformat() for cp in Checkpoints(Store(store).checkpoints_dir).all()]
    assert days == [_day(15)]
    run_period(store, "bundled", tmp_path / "from-checkpoint", _day(15), quiet=True)
    run_period(store, "bundled", tmp_path / "full", _day(15), quiet=True, full_walk=True)
    assert output_rows(tmp_path / "from-checkpoint") == output_rows(tmp_path / "full")
