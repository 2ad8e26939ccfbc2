"""The Spark engine on a standalone cluster (a master and two one-core workers on 127.0.0.1, each
executor a JVM of its own with its own Python workers, working folder and environment): a day and a
month-to-date by `reconcile run --spark-master spark://...` and a nightly with a late file give the
DuckDB engine's rows, run_ids and manifests, on a session whose zone and nanosecond reading a cluster
set otherwise (the engine sets its own); the docs' `spark-submit` line names the command; what a cluster
breaks that local[N] hides fails in one line or works: a worker that cannot see the store, executors
without the driver's Python, a run asked for another master than the running one, paths relative to
the driver's folder, the driver's environment, a worker killed mid-run (Spark runs its task again:
the same rows)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers.run_fixture import output_rows
from reconcile import ingest
from reconcile._cli import main

if TYPE_CHECKING:
    from reconcile.testing import StandaloneCluster

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark-cluster")]

DAY, MONTH, MONTH_CUT_OFF = "2026-11-22", "2026-11", "2026-11-24T06:00:00Z"


def _run(
    capsys: pytest.CaptureFixture[str], store: Path | str, out: Path | str, period: str, *extra: str
) -> tuple[int, dict[str, object] | None, str]:
    """`reconcile run` in this process: its exit code, its JSON summary (None on failure), its stderr."""
    capsys.readouterr()
    args = ["run", "--store", str(store), "--prices", "bundled", "--output", str(out), "--period", period]
    code = main([*args, "--json", *extra])
    done = capsys.readouterr()
    return code, json.loads(done.out) if code == 0 else None, done.err


def _on(cluster: StandaloneCluster, buckets: int = 4) -> list[str]:
    return ["--engine", "spark", "--spark-master", cluster.master_url, "--spark-buckets", str(buckets)]


def _nightly_args(root: Path, demo_root: Path, late: Path) -> list[str]:
    """`reconcile nightly` of the demo's ledgers and ``late`` into ``root``'s store and output."""
    return ["nightly", str(demo_root / "ledgers"), str(late), "--store", str(root / "store"),
            "--output", str(root / "output"), "--prices", "bundled", "--tenants",
            str(demo_root / "tenants.csv"), "--today", "2026-11-26", "--json", "--quiet"]  # fmt: skip


def test_a_day_and_a_month_to_date_equal_the_duckdb_engine(
    on_cluster: StandaloneCluster,
    demo_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`reconcile run --engine spark --spark-master spark://...` of a day and of a month-to-date, with
    the store and output given relative to the driver's folder (an executor's folder is its own),
    gives the DuckDB engine's rows, run_ids and manifests."""
    shutil.copytree(demo_root / "store", tmp_path / "store")
    monkeypatch.chdir(tmp_path)
    for period, extra in ((DAY, ()), (MONTH, ("--cut-off", MONTH_CUT_OFF))):
        code, duck, _ = _run(capsys, "store", f"duckdb-{period}", period, *extra, "--quiet")
        assert code == 0
        assert duck is not None
        code, spark, err = _run(capsys, "store", f"spark-{period}", period, *extra, *_on(on_cluster))
        assert code == 0, err
        assert spark is not None
        assert "2 executor(s) see the store and the output" in err
        assert spark["run_id"] == duck["run_id"]
        assert output_rows(tmp_path / f"spark-{period}") == output_rows(tmp_path / f"duckdb-{period}")
    assert not any(Path("spark-2026-11/.staging").iterdir())


def test_a_nightly_with_a_late_file_equals_the_duckdb_engine(
    on_cluster: StandaloneCluster, demo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`reconcile nightly --spark-master spark://...` with a late file restating days reports and writes
    what the DuckDB engine's nightly does: the same days, run_ids, rows and manifests."""
    late = tmp_path / "late" / "host-z.jsonl"
    late.parent.mkdir()
    lines = (demo_root / "ledgers" / "host-b" / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    late.write_bytes(b"".join(x.replace(b'"vm-b-', b'"vm-z-') for x in lines[:40]))  # new VMs
    shutil.copytree(demo_root / "store", tmp_path / "store")
    ingest([late], tmp_path / "store", quiet=True)  # (once: both stores hold the same ingests)
    reports = {}
    for engine in ("duckdb", "spark"):
        shutil.copytree(tmp_path / "store", tmp_path / engine / "store")
        shutil.copytree(demo_root / "output", tmp_path / engine / "output")
        capsys.readouterr()
        args = _nightly_args(tmp_path / engine, demo_root, late)
        assert main(args + (_on(on_cluster, 3) if engine == "spark" else [])) == 0
        reports[engine] = json.loads(capsys.readouterr().out)
    days = {name: [(d["period"], d["action"], d["run_id"]) for d in r["days"]] for name, r in reports.items()}
    assert days["spark"] == days["duckdb"]
    assert "restated" in [action for _, action, _ in days["duckdb"]]
    assert output_rows(tmp_path / "spark" / "output") == output_rows(tmp_path / "duckdb" / "output")


def test_a_worker_that_cannot_see_the_store_fails_the_run_in_one_line(
    on_cluster: StandaloneCluster,
    demo_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A store the driver sees and one worker does not (an empty mount point there) fails the run at
    its start with one `error:` line naming the path; the previous output is whole."""
    assert on_cluster.hidden is not None
    store = on_cluster.hidden / "store"
    shutil.copytree(demo_root / "store", store)
    try:
        out = tmp_path / "out"
        shutil.copytree(demo_root / "output", out)
        before = output_rows(out)
        code, _, err = _run(capsys, store, out, DAY, *_on(on_cluster), "--quiet")
        assert code == 1
        assert err.count("\n") == 1
        assert err.startswith("error: spark: an executor on ")
        assert f"cannot see the store at {store}: the store and the output folder must be" in err
        assert "worker-1/work/app-" in err  # (the worker whose mount point is empty)
        assert output_rows(out) == before
        assert not any((out / ".staging").iterdir())
    finally:
        shutil.rmtree(store)


def test_executors_without_the_drivers_python_fail_in_one_line(
    on_cluster: StandaloneCluster,
    demo_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Executors told to run a Python only the driver has (PYSPARK_PYTHON of a path the workers lack)
    fail the run with one line naming it and saying to ship the driver's environment."""
    from pyspark import SparkContext  # noqa: PLC0415

    context = SparkContext._active_spark_context
    assert context is not None
    python = str(tmp_path / "driver-only" / "bin" / "python")
    monkeypatch.setattr(context, "pythonExec", python)  # (what PYSPARK_PYTHON sets in the driver)
    shutil.copytree(demo_root / "store", tmp_path / "store")
    code, _, err = _run(capsys, tmp_path / "store", tmp_path / "out", DAY, *_on(on_cluster), "--quiet")
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith(f"error: spark: a task failed: the executors cannot run the Python {python}")
    assert "give them the driver's environment" in err


def test_a_run_asked_for_another_master_than_the_running_one_fails_in_one_line(
    on_cluster: StandaloneCluster,
    demo_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A process has one SparkContext: a run asked for local[2] while the cluster's runs does not run
    on the cluster unsaid (nor the reverse); it fails in one line naming both, committing nothing."""
    code, _, err = _run(capsys, demo_root / "store", tmp_path / "out", DAY, "--engine", "spark",
                        "--spark-master", "local[2]", "--quiet")  # fmt: skip
    assert code == 1
    assert err == (
        f"error: spark: this process already runs Spark on {on_cluster.master_url}, not local[2]: stop that"
        " session first (spark.stop()), or leave the master unset to use it\n"
    )
    assert not list((tmp_path / "out").glob("manifests/*"))


def test_a_worker_killed_mid_run_has_its_tasks_run_again_with_the_same_rows(
    on_cluster: StandaloneCluster,
    demo_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A worker (its executor and Python workers) killed while its task holds half-written parts: Spark
    runs the task again on the other worker, the driver drops the dead attempt's files, and the run
    commits the DuckDB engine's rows. The fault reaches the executors from the driver's environment
    alone (the workers were started without it)."""
    store = tmp_path / "store"
    shutil.copytree(demo_root / "store", store)
    code, duck, _ = _run(capsys, store, tmp_path / "duckdb", MONTH, "--cut-off", MONTH_CUT_OFF, "--quiet")
    assert code == 0
    assert duck is not None
    out = tmp_path / "spark"
    shutil.copytree(tmp_path / "duckdb", out)  # (a previous output the run replaces)
    monkeypatch.setenv("RECONCILE_FAULT", "spark-task:sleep2")  # each task waits once it wrote its parts
    killed: list[float] = []

    def kill_when_both_tasks_wait() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(list(out.glob(".staging/*/intervals/period=*/part-*.parquet"))) >= 2:
                on_cluster.kill_worker(0)
                killed.append(time.monotonic())
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_both_tasks_wait)
    killer.start()
    try:
        code, spark, err = _run(capsys, store, out, MONTH, "--cut-off", MONTH_CUT_OFF, *_on(on_cluster, 2))
    finally:
        killer.join()
        on_cluster.restart_worker(0)
    assert killed, "the two tasks never waited together"
    assert code == 0, err
    assert spark is not None
    assert "spark: removed" in err  # (the killed attempt's parts)
    assert spark["run_id"] == duck["run_id"]
    assert output_rows(out) == output_rows(tmp_path / "duckdb")
    assert not any((out / ".staging").iterdir())


def test_the_recipes_script_line_names_the_command_lines_main() -> None:
    """The `$(python -c ...)` of docs/SCALING.md's spark-submit recipe prints the path of the command
    line's `__main__.py` (importing that module would run the command instead)."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "SCALING.md").read_text(encoding="utf-8")
    line = next(x for x in docs.splitlines() if '"$(env/bin/python -c' in x)
    code = line.split("-c '", 1)[1].split("')", 1)[0]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert Path(done.stdout.strip()).name == "__main__.py"
    assert Path(done.stdout.strip()).parent.name == "_cli"


def test_an_executor_whose_python_lacks_the_engine_is_told_in_one_line() -> None:
    """The line a probe task fails with on an executor whose Python has no `reconcile` (as Spark gives
    it: the worker's last error line) says to ship the driver's environment."""
    from reconcile._engines._spark._cluster import explain  # noqa: PLC0415

    line = explain("ModuleNotFoundError: No module named 'reconcile'", "/s", [])
    assert line.startswith("the executors' Python cannot import the engine (ModuleNotFoundError: No module")
    assert "give them the driver's environment" in line
