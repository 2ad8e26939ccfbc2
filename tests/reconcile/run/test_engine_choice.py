"""Choosing an engine: an unknown one is a usage error, and the Spark engine without its extra says
which extra to install, in one line, before anything is read or written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from reconcile import UsageError, run_period
from reconcile._cli import main


def test_an_unknown_engine_is_a_usage_error(demo_root: Path, tmp_path: Path) -> None:
    """run_period refuses an engine it does not know, naming it and the two it has."""
    with pytest.raises(UsageError, match=r"engine 'gpu': expected one of duckdb, spark"):
        run_period(demo_root / "store", "bundled", tmp_path / "out", "2026-11-20", quiet=True, engine="gpu")  # type: ignore[arg-type]


def test_the_spark_engine_without_its_extra_names_the_extra(
    demo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without pyspark, `--engine spark` exits 2 with one line saying to install the [spark] extra,
    and writes no output."""
    # what a missing pyspark makes of the Spark engine
    monkeypatch.setitem(sys.modules, "reconcile._engines._spark._engine", None)
    args = [
        "run",
        "--store",
        str(demo_root / "store"),
        "--prices",
        "bundled",
        "--output",
        str(tmp_path / "out"),
    ]
    assert main([*args, "--period", "2026-11-20", "--engine", "spark", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "pip install 'cocoon-billing[spark]'" in err
    assert not (tmp_path / "out" / "manifests").exists()
