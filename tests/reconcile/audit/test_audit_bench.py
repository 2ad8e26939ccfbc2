"""bench/bench_audit.py runs end to end on a small fleet (its month-end figures are measured by hand,
under the machine's lock: bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_audit.py"


@pytest.mark.slow
def test_the_benchmark_smoke_run_prints_its_figures() -> None:
    """--smoke: the baseline scan and the audit each run in a child; the figures name rows,
    instants, times, the ratio, peak memory and the findings."""
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=BENCH.parent,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["snapshot_rows"] > 0
    assert figures["instants"] == figures["snapshot_files"]
    assert figures["findings"] == sum(figures["counts"].values()) > 0
    assert figures["audit_peak_mb"] > 0
    assert figures["ratio_to_baseline"] > 0
