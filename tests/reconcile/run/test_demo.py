"""`reconcile demo`: a seeded fleet through ingest, every day's run, and the Parquet output."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from reconcile import UsageError, demo, read_output

RECONCILE = str(Path(sys.executable).with_name("reconcile"))


@pytest.mark.slow
def test_demo_command_runs_the_whole_pipeline(tmp_path: Path) -> None:
    """The README's first command writes ledgers, a store and one committed run per fleet day."""
    root = tmp_path / "demo"
    done = subprocess.run(
        [RECONCILE, "demo", "--output", str(root), "--seed", "3", "--json", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["output"] == str(root / "output")
    days = [run["period"] for run in summary["runs"]]
    assert len(days) >= 7
    assert days == sorted(days)
    tables = read_output(root / "output")
    assert sorted(tables.manifests) == days
    last = summary["runs"][-1]
    # nothing lost: every event the ingest kept has exactly one role in the last day's run
    assert last["roles"]["events"] == summary["ingest"]["events"]
    assert last["roles"]["events"] == sum(last["roles"][r] for r in ("start", "stop", "unmatched_stop"))
    slices = tables.slices.collect()
    assert slices.height > 1000
    assert set(slices["currency"]) == {"USD"}
    assert slices["amount"].dtype == pl.Decimal(38, 12)
    by_day = slices.group_by("usage_date").agg(pl.col("amount").sum()).sort("usage_date")
    exact = {run["period"]: Decimal(run["totals_exact"]["USD"]) for run in summary["runs"]}
    assert {d.isoformat(): a for d, a in by_day.rows()} == exact
    # every slice's interval is listed in the intervals of the slice's period (a day here)
    intervals = tables.intervals.select("interval_id", "period").collect()
    keyed = slices.select("interval_id", pl.col("usage_date").cast(pl.String).alias("period")).unique()
    assert keyed.join(intervals, on=["interval_id", "period"], how="anti").height == 0
    assert tables.anomalies.collect().height == sum(sum(r["anomalies"].values()) for r in summary["runs"])


@pytest.mark.slow
def test_demo_again_replaces_its_folder_with_the_same_rows(tmp_path: Path) -> None:
    """A second demo with the same seed reuses its folder and writes the same rows (new ingest ids)."""
    first = demo(tmp_path / "demo", seed=5, quiet=True)
    rows_1 = read_output(first.output).slices.drop("run_id").collect().sort(pl.all())
    second = demo(tmp_path / "demo", seed=5, quiet=True)
    rows_2 = read_output(second.output).slices.drop("run_id").collect().sort(pl.all())
    assert rows_1.equals(rows_2)
    assert [r.totals for r in first.runs] == [r.totals for r in second.runs]


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    """A non-empty folder without the demo marker is never overwritten."""
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not made by `reconcile demo`"):
        demo(tmp_path, quiet=True)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_demo_attributes_tenants_and_shows_inferred_intervals(tmp_path: Path) -> None:
    """The demo bills with its tenant table (few unattributed slices) and shows inferred intervals."""
    summary = demo(tmp_path / "demo", quiet=True)
    assert (tmp_path / "demo" / "tenants.csv").is_file()
    tables = read_output(summary.output)
    slices = tables.slices.collect()
    attributed = slices.filter(pl.col("tenant_id").is_not_null()).height
    assert attributed > 0.9 * slices.height
    assert slices.filter(pl.col("tenant_id").is_null()).height > 0
    statuses = set(tables.intervals.collect()["status"].to_list())
    assert "inferred" in statuses
