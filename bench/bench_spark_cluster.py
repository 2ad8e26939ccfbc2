"""A month run on a Spark standalone cluster of two one-core workers next to ``local[2]``, in one run.

A generated month of ``--events`` ledger lines (four hosts, default 1M; the store bench_spark.py
makes, under bench/data/spark/) is run, each time in a fresh process from no checkpoint into a fresh
output folder, its wall time with interpreter and JVM start (and, on the cluster, the executors'
start) as an operator sees it:

- ``reconcile run --engine spark --spark-master local[2]`` (the baseline: one JVM, two task threads),
  first and again last (the baseline is their mean: a machine whose load drifts moves both);
- the same run with ``--spark-master spark://127.0.0.1:PORT`` on a standalone cluster this script
  starts (``reconcile.testing.StandaloneCluster``: a master and two workers of one core, each executor
  a JVM of its own with its own Python workers);
- docs/SCALING.md's ``spark-submit`` line on that cluster (``--master spark://...``, the executors'
  Python this environment's: the same path on every worker here).

Checks that the runs give the same run_id and totals, and prints each figure beside the
baseline's.

    uv run --locked --extra spark python bench/bench_spark_cluster.py [--events 1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_spark
from reconcile.testing import StandaloneCluster

MONTH = bench_spark.MONTH


def _cli() -> str:
    """The command line's ``__main__.py``: what spark-submit runs (docs/SCALING.md)."""
    spec = importlib.util.find_spec("reconcile._cli.__main__")
    assert spec is not None
    assert spec.origin is not None
    return spec.origin


def _timed(
    name: str, command: list[str], store: Path, env: dict[str, str] | None = None, *extra: str
) -> dict[str, object]:
    """One month run (``command``, the run's arguments, ``extra``) in a fresh process: its JSON summary
    and wall."""
    shutil.rmtree(store / "checkpoints", ignore_errors=True)
    out = store.parent / f"out-{name.replace(' ', '-')}"
    shutil.rmtree(out, ignore_errors=True)
    args = ["run", "--store", str(store), "--prices", "bundled", "--output", str(out), "--period", MONTH]
    started = time.perf_counter()
    done = subprocess.run(
        [*command, *args, "--engine", "spark", *extra, "--json", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr[-2000:]}")
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    found["wall"] = wall
    shutil.rmtree(out, ignore_errors=True)
    print(f"  {name:<34} {wall:8.2f} s", file=sys.stderr)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="ledger lines of the month (default 1M)"
    )
    args = parser.parse_args()
    store = bench_spark._store(args.events)  # (the same generated month as bench_spark.py)
    reconcile = [sys.executable, "-m", "reconcile._cli"]
    submit = str(Path(sys.executable).parent / "spark-submit")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # (children start as an installed package does)
    subprocess.run([*reconcile, "--help"], check=True, capture_output=True, env=env)  # (bytecode caches)

    local = _timed("local[2]", reconcile, store, env, "--spark-master", "local[2]")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as root:
        cluster = StandaloneCluster(Path(root), workers=2, cores=1, worker_memory="3g")
        started = time.perf_counter()
        cluster.start()
        up = time.perf_counter() - started
        print(f"  cluster up in {up:.2f} s ({cluster.master_url})", file=sys.stderr)
        try:
            on = _timed("cluster, reconcile", reconcile, store, env, "--spark-master", cluster.master_url)
            submitted = _timed(
                "cluster, spark-submit",
                [submit, "--master", cluster.master_url, "--deploy-mode", "client",
                 "--conf", "spark.executor.memory=1g", "--conf", "spark.executor.cores=1", _cli()],
                store, env,
            )  # fmt: skip
        finally:
            cluster.stop()
    again = _timed("local[2] again", reconcile, store, env, "--spark-master", "local[2]")  # (drift)
    runs = {"local[2]": local, "cluster": on, "spark-submit": submitted, "local[2] again": again}
    if (
        len({str(r["run_id"]) for r in runs.values()}) != 1
        or len({json.dumps(r["totals"]) for r in runs.values()}) != 1
    ):
        raise SystemExit(f"the runs disagree: {runs}")
    events = local["roles"]["events"] if isinstance(local.get("roles"), dict) else "?"  # type: ignore[index]
    print(f"month {MONTH} of {events:,} events (run_id {local['run_id']}, the same in every run)")
    first, last = float(local["wall"]), float(again["wall"])  # type: ignore[arg-type]
    base = (first + last) / 2
    print(f"  {'local[2] (the baseline: the mean of the first and last run)':<52} {base:8.2f} s  1.00x")
    print(f"  {'  (local[2] first, last)':<52} {first:8.2f} s, {last:.2f} s")
    for label, found in (
        ("cluster of 2 one-core workers, reconcile --spark-master", on),
        ("cluster of 2 one-core workers, spark-submit", submitted),
    ):
        wall = float(found["wall"])  # type: ignore[arg-type]
        print(f"  {label:<52} {wall:8.2f} s  {wall / base:.2f}x")
    print(f"  (the cluster's master and workers started in {up:.2f} s, before the runs)")


if __name__ == "__main__":
    main()
