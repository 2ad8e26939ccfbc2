"""The output writer: layout, types, period selection, atomic replacement, lock, recovery."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from helpers.run_fixture import bare_manifest, without_history, write_period
from reconcile import OutputError, StoreLockedError, UsageError
from reconcile._core._duckdb import plain_connect
from reconcile._core._faults import ENV as FAULT_ENV
from reconcile._core._period import Period, parse_period
from reconcile._output import _staging
from reconcile._output._folder import OutputFolder, read_output, recover_output

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

# Interval rows: (interval_id, resource_id, start, end or None, status, cpu)
_INTERVALS = [
    ("before", "vm-a", "2026-11-24 10:00:00", "2026-11-24 12:00:00", "closed", 2),
    ("cross", "vm-b", "2026-11-24 23:00:00", "2026-11-25 01:00:00.5", "closed", 2),
    ("inside", "vm-c", "2026-11-25 08:00:00", "2026-11-25 09:00:00", "inferred", 4),
    ("open", "vm-d", "2026-11-20 00:00:00", None, "open", 1),
    ("zero_at_start", "vm-e", "2026-11-25 00:00:00", "2026-11-25 00:00:00", "closed", 1),
    ("zero_at_end", "vm-f", "2026-11-26 00:00:00", "2026-11-26 00:00:00", "closed", 1),
    ("ends_at_start", "vm-g", "2026-11-24 20:00:00", "2026-11-25 00:00:00", "closed", 1),
    ("dropped", "vm-h", "2026-11-25 03:00:00", "2026-11-25 04:00:00", "dropped", 1),
    ("after", "vm-i", "2026-11-26 01:00:00", "2026-11-26 02:00:00", "closed", 1),
]
# Anomaly rows: (code, resource_id, at)
_ANOMALIES = [
    ("orphan_stop", "vm-x", "2026-11-24 23:59:59.999999999"),
    ("double_start", "vm-c", "2026-11-25 09:00:00"),
    ("stale_open", "vm-d", "2026-11-20 00:00:00"),
    ("double_stop", "vm-y", "2026-11-26 00:00:00"),
]


def build_tables(con: duckdb.DuckDBPyConnection, *, variant: int = 0, days: list[str] | None = None) -> None:
    """Create `slices`, `intervals`, `anomalies` relations shaped as the stages produce them."""
    con.execute(
        """
        CREATE OR REPLACE TABLE intervals (
            interval_id VARCHAR, family VARCHAR, resource_id VARCHAR, vm_id VARCHAR, snapshot_id VARCHAR,
            source_snapshot_id VARCHAR, hypervisor VARCHAR, cpu BIGINT, mem_bytes BIGINT,
            storage_bytes BIGINT, start_at TIMESTAMPTZ_NS, end_at TIMESTAMPTZ_NS, start_ns BIGINT,
            end_ns BIGINT, start_reason VARCHAR, end_reason VARCHAR, status VARCHAR,
            start_source VARCHAR, end_source VARCHAR, start_event_id VARCHAR, end_event_id VARCHAR)
        """
    )
    for iid, rid, start, end, status, cpu in _INTERVALS:
        con.execute(
            """
            INSERT INTO intervals
            SELECT $1, 'vm.compute', $2, $2, NULL, NULL, 'firecracker', $3, 1073741824, 0,
                   $4::TIMESTAMPTZ_NS, $5::TIMESTAMPTZ_NS,
                   epoch_ns($4::TIMESTAMPTZ_NS), epoch_ns($5::TIMESTAMPTZ_NS),
                   'boot', NULL, $6, 'l.jsonl:1', NULL, $1, NULL
            """,
            [iid, rid, cpu + variant, start, end, status],
        )
    con.execute(
        """
        CREATE OR REPLACE TABLE anomalies (
            code VARCHAR, family VARCHAR, resource_id VARCHAR, "at" TIMESTAMPTZ_NS, at_ns BIGINT,
            source_file VARCHAR, source_line BIGINT, event_id VARCHAR, interval_id VARCHAR, detail VARCHAR)
        """
    )
    for code, rid, at in _ANOMALIES:
        con.execute(
            """
            INSERT INTO anomalies
            SELECT $1, 'vm.compute', $2, $3::TIMESTAMPTZ_NS, epoch_ns($3::TIMESTAMPTZ_NS),
                   'l.jsonl', 7, 'e1', NULL, $4
            """,
            [code, rid, at, f"variant {variant}"],
        )
    con.execute(
        """
        CREATE OR REPLACE TABLE slices (
            interval_id VARCHAR, family VARCHAR, resource_id VARCHAR, tenant_id VARCHAR, usage_date DATE,
            slice_start TIMESTAMPTZ_NS, slice_end TIMESTAMPTZ_NS, seconds DECIMAL(18, 9), meter VARCHAR,
            quantity DECIMAL(38, 12), billed_quantity DECIMAL(38, 12), unit_price DECIMAL(38, 12),
            price_unit VARCHAR, hours_per_month INTEGER, amount DECIMAL(38, 12), currency VARCHAR,
            price_version VARCHAR, status VARCHAR)
        """
    )
    for day in days or ["2026-11-25"]:
        con.execute(
            """
            INSERT INTO slices SELECT 'cross', 'vm.compute', 'vm-b', NULL, $1::DATE, $1::TIMESTAMPTZ_NS,
                   $1::TIMESTAMPTZ_NS + INTERVAL 1 HOUR, 3600, 'vcpu_hours', 2, 2, $2, 'vCPU-hour', NULL,
                   2 * $2, 'EUR', 'v1', 'closed'
            """,
            [day, Decimal("0.041") + variant],
        )


def write(out: Path, period: Period, *, variant: int = 0, days: list[str] | None = None) -> None:
    """Write one period of the hand-made tables into `out`."""
    con = plain_connect()
    build_tables(con, variant=variant, days=days)
    run_id = f"run-{period.name}-{variant}"
    with OutputFolder(out) as folder:
        write_period(
            folder,
            con,
            period=period,
            cut_off_ns=period.end_ns,
            run_id=run_id,
            manifest=bare_manifest(run_id, period.name),
        )


def snapshot(out: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every committed row of an output folder (read through read_output), sorted, per table."""
    tables = read_output(out)
    result: dict[str, list[tuple[object, ...]]] = {}
    for name in ("slices", "intervals", "anomalies"):
        frame = getattr(tables, name).collect()
        result[name] = sorted(frame.rows(), key=repr)
    result["manifests"] = [
        (k, json.dumps(v, sort_keys=True)) for k, v in sorted(without_history(tables.manifests).items())
    ]
    return result


def test_layout_types_and_run_id(tmp_path: Path) -> None:
    """A day run writes zstd Parquet in the SPEC layout with TIMESTAMPTZ_NS, DECIMAL and run_id."""
    write(tmp_path, parse_period("2026-11-25"))
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == [
        ".lock",
        "anomalies/period=2026-11-25/data_0.parquet",
        "intervals/period=2026-11-25/data_0.parquet",
        "manifests/period=2026-11-25/manifest.json",
        "output.json",
        "slices/usage_date=2026-11-25/data_0.parquet",
    ]
    meta = pq.ParquetFile(tmp_path / "slices/usage_date=2026-11-25/data_0.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    con = plain_connect()
    rel = con.sql(
        "SELECT * FROM read_parquet(?, hive_partitioning=false)", params=[str(tmp_path / "slices/*/*")]
    )
    types = dict(zip(rel.columns, map(str, rel.types), strict=True))
    assert types["slice_start"] == "TIMESTAMPTZ_NS"
    assert types["amount"] == "DECIMAL(38,12)"
    assert types["quantity"] == "DECIMAL(38,12)"
    assert types["run_id"] == "VARCHAR"
    assert con.execute("SELECT DISTINCT run_id FROM rel").fetchall() == [("run-2026-11-25-0",)]
    manifest = json.loads((tmp_path / "manifests/period=2026-11-25/manifest.json").read_text())
    assert manifest["rows"] == {"slices": 1, "intervals": 6, "anomalies": 2}


def test_intervals_and_anomalies_selected_for_the_period(tmp_path: Path) -> None:
    """Intervals overlapping the period (or ending on its start) and anomalies in it (plus stale_open)."""
    write(tmp_path, parse_period("2026-11-25"))
    tables = read_output(tmp_path)
    ids = set(tables.intervals.select("interval_id").collect().to_series().to_list())
    assert ids == {"cross", "inside", "open", "zero_at_start", "dropped", "ends_at_start"}
    codes = sorted(tables.anomalies.select("code").collect().to_series().to_list())
    assert codes == ["double_start", "stale_open"]
    assert tables.intervals.select("period").unique().collect().item() == "2026-11-25"


def test_rerun_replaces_exactly_that_period(tmp_path: Path) -> None:
    """Re-writing one day replaces its rows and manifest and leaves the other day alone."""
    write(tmp_path, parse_period("2026-11-25"))
    write(tmp_path, parse_period("2026-11-26"), days=["2026-11-26"])
    before_26 = pl.read_parquet(tmp_path / "slices/usage_date=2026-11-26/data_0.parquet")
    write(tmp_path, parse_period("2026-11-25"), variant=1)
    tables = read_output(tmp_path)
    slices = tables.slices.collect()
    assert sorted(set(slices["run_id"].to_list())) == ["run-2026-11-25-1", "run-2026-11-26-0"]
    assert slices.filter(pl.col("usage_date") == pl.date(2026, 11, 25))["unit_price"].item() == Decimal(
        "1.041000000000"
    )
    assert pl.read_parquet(tmp_path / "slices/usage_date=2026-11-26/data_0.parquet").equals(before_26)
    assert tables.manifests["2026-11-25"].run_id == "run-2026-11-25-1"
    assert not (tmp_path / ".staging").exists()
    assert not (tmp_path / ".trash").exists()
    assert not (tmp_path / ".journal.json").exists()


def test_month_writes_every_day_and_refuses_mixed_lengths(tmp_path: Path) -> None:
    """A month writes one slices partition per day (empty ones too); a day run into it is refused."""
    write(tmp_path, parse_period("2026-11"), days=["2026-11-03", "2026-11-25"])
    parts = sorted(p.name for p in (tmp_path / "slices").iterdir())
    assert len(parts) == 30
    assert pl.read_parquet(tmp_path / "slices/usage_date=2026-11-04/data_0.parquet").height == 0
    assert read_output(tmp_path).slices.collect().height == 2
    with pytest.raises(UsageError, match="holds month runs"):
        write(tmp_path, parse_period("2026-11-25"))


def test_a_folder_is_bound_to_a_period_length_only_once_something_is_committed(tmp_path: Path) -> None:
    """A first run that never committed does not stop the folder from taking another period length."""
    con = plain_connect()
    build_tables(con)
    con.execute("CREATE OR REPLACE TABLE slices AS SELECT * REPLACE (amount::DOUBLE AS amount) FROM slices")
    day = parse_period("2026-11-25")
    with OutputFolder(tmp_path) as folder, pytest.raises(OutputError):
        write_period(
            folder, con, period=day, cut_off_ns=day.end_ns, run_id="r", manifest=bare_manifest("r", day.name)
        )
    write(tmp_path, parse_period("2026-11"), days=["2026-11-25"])
    assert json.loads((tmp_path / "output.json").read_text())["period_length"] == "month"


def test_float_money_and_slices_outside_the_period_are_refused(tmp_path: Path) -> None:
    """A DOUBLE amount or a slice dated outside the period stops the write before anything changes."""
    con = plain_connect()
    build_tables(con)
    con.execute("CREATE OR REPLACE TABLE slices AS SELECT * REPLACE (amount::DOUBLE AS amount) FROM slices")
    period = parse_period("2026-11-25")
    with OutputFolder(tmp_path) as folder, pytest.raises(OutputError, match="'amount' is DOUBLE"):
        write_period(
            folder,
            con,
            period=period,
            cut_off_ns=period.end_ns,
            run_id="r",
            manifest=bare_manifest("r", period.name),
        )
    build_tables(con, days=["2026-11-24"])
    with OutputFolder(tmp_path) as folder, pytest.raises(OutputError, match="outside period"):
        write_period(
            folder,
            con,
            period=period,
            cut_off_ns=period.end_ns,
            run_id="r",
            manifest=bare_manifest("r", period.name),
        )
    assert not (tmp_path / "manifests").exists()
    assert not any((tmp_path / ".staging").glob("*"))


def test_second_writer_is_refused_then_waits(tmp_path: Path) -> None:
    """A second writer on a held folder gets StoreLockedError; after release it gets the lock."""
    first = OutputFolder(tmp_path)
    with pytest.raises(StoreLockedError, match=f"in use by another run \\(pid {os.getpid()}\\)"):
        OutputFolder(tmp_path, wait=0.1)
    first.close()
    with OutputFolder(tmp_path, wait=1.0) as second:
        assert second.manifests() == {}


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{here!r}, {tests!r}]
    from test_write import write
    from reconcile._core._period import parse_period
    write(__import__("pathlib").Path({out!r}), parse_period("2026-11-25"), variant=1)
    """
)


@pytest.mark.parametrize("phase", ["staged", "journal", "swap", "swapped", "committed"])
def test_killed_writer_leaves_old_or_new_output(tmp_path: Path, phase: str) -> None:
    """A writer SIGKILLed at any commit phase leaves the old or the new period whole, then recovers."""
    old_dir, new_dir, out = tmp_path / "old", tmp_path / "new", tmp_path / "out"
    for folder in (old_dir, out):
        write(folder, parse_period("2026-11-25"))
    write(new_dir, parse_period("2026-11-25"), variant=1)
    old, new = snapshot(old_dir), snapshot(new_dir)
    script = _KILL_SCRIPT.format(here=str(HERE), tests=str(HERE.parents[1]), out=str(out))
    env = {**os.environ, FAULT_ENV: f"{phase}:kill"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr.decode()
    journal_left = (out / ".journal.json").exists()
    assert journal_left == (phase in {"journal", "swap", "swapped"})
    if phase == "swap":
        # On disk, before recovery: the slices are new, the manifest still old.
        assert json.loads((out / "manifests/period=2026-11-25/manifest.json").read_text())["run_id"].endswith(
            "-0"
        )
    seen = snapshot(out)  # read_output rolls the journal forward first
    assert seen == (old if phase == "staged" else new)
    assert not (out / ".journal.json").exists()
    write(out, parse_period("2026-11-25"), variant=1)
    assert snapshot(out) == new
    assert sorted(p.name for p in out.iterdir()) == [
        ".lock",
        "anomalies",
        "history",
        "intervals",
        "manifests",
        "output.json",
        "slices",
    ]
    # the replaced bill is kept once, whole, whichever phase the kill hit
    kept = sorted((out / "history/period=2026-11-25").iterdir())
    assert [p.name for p in kept] == ["version=1"]
    assert json.loads((kept[0] / "manifest.json").read_text())["run_id"] == "run-2026-11-25-0"
    assert pq.read_table(kept[0] / "intervals").num_rows == len(old["intervals"])


def test_an_output_folder_that_cannot_be_made_is_an_output_error(tmp_path: Path) -> None:
    """A folder the run cannot create or lock is an OutputError naming it, not a traceback."""
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match="cannot take its lock"):
        OutputFolder(tmp_path / "file" / "out")
    with pytest.raises(OutputError, match="is not a folder"):
        OutputFolder(tmp_path / "file")


def test_recover_output_without_journal_is_a_no_op(tmp_path: Path) -> None:
    """recover_output reports False when no commit was interrupted."""
    write(tmp_path, parse_period("2026-11-25"))
    assert recover_output(tmp_path) is False


def test_read_output_errors_name_the_folder(tmp_path: Path) -> None:
    """Reading a missing or empty output folder is an OutputError naming it."""
    with pytest.raises(OutputError, match="does not exist"):
        read_output(tmp_path / "nope")
    with pytest.raises(OutputError, match="holds no committed run"):
        read_output(tmp_path)


def test_writer_module_is_importable_from_the_source_tree() -> None:
    """The SQL files the writer loads exist in sql/engine/write."""
    for name in ("output_slices", "output_intervals", "output_anomalies"):
        assert (ROOT / "sql" / "engine" / "write" / f"{name}.sql").read_text().startswith(f"-- {name}:")


def test_the_next_writer_finishes_an_interrupted_commit(tmp_path: Path) -> None:
    """Opening a folder for writing rolls an interrupted commit forward before anything else."""
    write(tmp_path / "new", parse_period("2026-11-25"), variant=1)
    write(tmp_path / "out", parse_period("2026-11-25"))
    script = _KILL_SCRIPT.format(here=str(HERE), tests=str(HERE.parents[1]), out=str(tmp_path / "out"))
    proc = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, FAULT_ENV: "swap:kill"}, check=False
    )
    assert proc.returncode == -9
    with OutputFolder(tmp_path / "out") as folder:
        assert not (tmp_path / "out" / ".journal.json").exists()
        committed = folder.manifest("2026-11-25")
        assert committed is not None
        expected = without_history({"p": bare_manifest("run-2026-11-25-1", "2026-11-25")})["p"]
        assert without_history({"p": committed})["p"] == {
            **expected,
            "rows": {"slices": 1, "intervals": 6, "anomalies": 2},
        }
    assert snapshot(tmp_path / "out") == snapshot(tmp_path / "new")


def test_a_failed_file_write_commits_nothing_and_leaves_no_staging(tmp_path: Path) -> None:
    """When a period's file write fails, the error is raised and the period is not added; no period
    of the batch is committed and staged files are removed."""
    con = plain_connect()
    build_tables(con)
    batch = _staging.Batch(con)
    day, other = parse_period("2026-11-25"), parse_period("2026-11-26")
    batch.collect(period=day, cut_off_ns=day.end_ns, run_id="r1")
    build_tables(con, days=["2026-11-26"])
    con.execute("CREATE TEMP TABLE scope AS SELECT family, resource_id FROM intervals LIMIT 0")
    missing = tmp_path / "gone.parquet"
    kept = {"slices": [missing], "intervals": [missing], "anomalies": [missing]}
    with pytest.raises(duckdb.IOException, match=r"gone\.parquet"):  # (its files are written first)
        batch.collect(period=other, cut_off_ns=other.end_ns, run_id="r2", kept=kept, scope="scope")
    assert [e.period.name for e in batch.entries] == ["2026-11-25"]
    with OutputFolder(tmp_path / "out") as folder:
        folder.discard(folder.stage(batch))  # (the period collected before still stages whole)
        assert folder.manifests() == {}
    batch.close()
    assert not any((tmp_path / "out" / ".staging").glob("*"))


def test_a_batch_stages_every_period_and_commits_each_alone(tmp_path: Path) -> None:
    """Two periods staged together are committed one at a time, each with its own rows and manifest."""
    con = plain_connect()
    batch = _staging.Batch(con)
    for name, variant in (("2026-11-25", 0), ("2026-11-26", 1)):
        build_tables(con, variant=variant, days=[name])
        period = parse_period(name)
        batch.collect(period=period, cut_off_ns=period.end_ns, run_id=f"run-{name}")
    with OutputFolder(tmp_path) as folder:
        staged = folder.stage(batch)
        assert [s.period.name for s in staged] == ["2026-11-25", "2026-11-26"]
        folder.commit(staged[0], bare_manifest("run-2026-11-25", "2026-11-25"))
        assert sorted(folder.manifests()) == ["2026-11-25"]
        folder.commit(staged[1], bare_manifest("run-2026-11-26", "2026-11-26"))
    tables = read_output(tmp_path)
    runs = tables.slices.select("usage_date", "run_id").collect().rows()
    assert sorted(runs) == [
        (dt.date(2026, 11, 25), "run-2026-11-25"),
        (dt.date(2026, 11, 26), "run-2026-11-26"),
    ]
    write(tmp_path / "alone", parse_period("2026-11-26"), variant=1, days=["2026-11-26"])
    assert tables.manifests["2026-11-26"].rows == read_output(tmp_path / "alone").manifests["2026-11-26"].rows
    assert not any((tmp_path / ".staging").glob("*"))
