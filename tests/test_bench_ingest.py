"""The ingest benchmarks run: each at a tiny size prints its figures (the timed figures stay in the
benchmarks; this only keeps a benchmark that breaks from going unnoticed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

# (they write under bench/data: one worker runs them all, one after the other)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench-ingest")]


def _run(script: str, *args: str) -> tuple[str, dict[str, object]]:
    """Run a benchmark; its output and the JSON object it prints last."""
    env = {k: v for k, v in os.environ.items() if k != "RECONCILE_FAULT"}
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=BENCH.parent,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    return result.stdout, figures


def test_bench_ingest_prints_its_ratios() -> None:
    """bench_ingest.py: the ratio to the bare parse, the growth against its first lines, the peak."""
    out, figures = _run("bench_ingest.py", "--lines", "3000")
    assert "ratio ingest / baseline" in out
    assert "growth ingest / its first lines" in out
    assert (figures["lines"], figures["events"], figures["prefix_lines"]) == (3000, 3000, 600)
    for key in ("ratio", "growth", "ingest_rss_mb", "baseline_s"):
        assert float(str(figures[key])) > 0, key


def test_bench_many_files_prints_the_cost_of_a_file() -> None:
    """bench_many_files.py: both ingests give the same counts, the ratio and the cost of a file."""
    out, figures = _run("bench_many_files.py", "--files", "24", "--lines-per-file", "10")
    assert "ratio many / one" in out
    assert "cost of a file" in out
    assert (figures["files"], figures["lines"]) == (24, 240)
    assert float(str(figures["ratio"])) > 0


def test_bench_hostile_prints_every_input() -> None:
    """bench_hostile.py: every hostile input ingested, with its lines and rejects."""
    _out, figures = _run("bench_hostile.py", "--lines", "400", "--big", str(1 << 16))
    assert set(figures) == {"clean", "nul-block", "every-other-odd", "crlf-and-cr", "gib-line", "gzip-bomb"}
    rows = {name: row for name, row in figures.items() if isinstance(row, dict)}
    assert rows["clean"]["lines"] == 400
    assert rows["every-other-odd"]["rejects"] == 200
    assert rows["gib-line"]["rejects"] == rows["gzip-bomb"]["rejects"] == 1


def test_bench_floor_prints_every_kind() -> None:
    """bench_floor.py: every kind measured against the parse, ingest among them."""
    out, figures = _run("bench_floor.py", "--lines", "1000", "--repeat", "1")
    assert "x parse" in out
    assert {"parse", "floor-text-md5", "ingest", "ingest+pair"} <= set(figures)
    ingest = figures["ingest"]
    assert isinstance(ingest, dict)
    assert ingest["events"] == 1000
