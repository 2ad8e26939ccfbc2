"""The run side's benchmarks still run: each script at a tiny size prints its figures (a bench that
breaks fails here; its timed figures stay in the bench, at the sizes users have)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _bench(tmp_path: Path, script: str, *args: str) -> str:
    """Run ``bench/<script>`` with ``args``, its data under ``tmp_path``; its stdout."""
    env = {**os.environ, "RECONCILE_BENCH_DATA": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_bench_floor_run_prints_both_and_the_ratio(tmp_path: Path) -> None:
    """bench_floor_run.py: the plain script and the run write the same rows and amounts, and it
    prints both times and their ratio."""
    out = _bench(tmp_path, "bench_floor_run.py", "--lines", "3000")
    assert "(the same in both)" in out
    assert "plain DuckDB script" in out
    assert "ratio run / plain script:" in out


def test_bench_run_prints_a_day_and_a_month(tmp_path: Path) -> None:
    """bench_run.py: the baseline, the day run, its re-run and the month run, with their ratios."""
    out = _bench(tmp_path, "bench_run.py", "--lines", "3000")
    for label in ("baseline", "day run 2026-10-15", "day re-run (replace)", "month run 2026-10"):
        assert label in out


def test_bench_pair_prints_its_ratio(tmp_path: Path) -> None:
    """bench_pair.py: pairing next to sorting the same events, with the ratio and the peaks."""
    out = _bench(tmp_path, "bench_pair.py", "--events", "3000", "--repeat", "1")
    assert "pairing" in out
    assert "(target <= 1.5x)" in out


def test_bench_price_prints_its_ratio(tmp_path: Path) -> None:
    """bench_price.py: pricing a month next to writing as many rows, with the ratio."""
    out = _bench(tmp_path, "bench_price.py", "--intervals", "2000", "--repeat", "1")
    assert "pricing" in out.lower()


def test_bench_fleet_day_prints_the_per_event_costs(tmp_path: Path) -> None:
    """bench_fleet_day.py: the nightly after a history, its per-event cost and the plain script's."""
    out = _bench(tmp_path, "bench_fleet_day.py", "--per-day", "1500", "--days", "1")
    assert "per event" in out
    assert "nightly" in out


@pytest.mark.slow
def test_bench_checkpoints_prints_every_figure(tmp_path: Path) -> None:
    """bench_checkpoints.py: every figure of a night after a month and after a year, with targets."""
    out = _bench(tmp_path, "bench_checkpoints.py", "--per-day", "60", "--long-days", "75")
    assert "target" in out
    assert "nightly" in out


def test_bench_spark_duckdb_side_prints_the_month(tmp_path: Path) -> None:
    """bench_spark.py --duckdb-only: the DuckDB engine's month run of its generated month (the Spark
    side starts a JVM per run: the Spark engine's own tests cover it)."""
    out = _bench(tmp_path, "bench_spark.py", "--events", "3000", "--small", "2000", "--duckdb-only")
    assert "month run on the DuckDB engine (defaults)" in out
