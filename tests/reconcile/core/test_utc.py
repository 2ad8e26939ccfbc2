"""Every instant in the store and the output is a UTC-adjusted nanosecond timestamp, read the same in
any zone; a folder written before (naive instants) is refused until upgraded, and upgrades exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

import reconcile
from helpers.run_fixture import GIB, PRICES, add_ingest, ev, exact
from reconcile._cli import main
from reconcile._core._period import parse_instant
from reconcile.exceptions import OutputError

NOW = "2026-12-01T00:00:00Z"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    store, out = tmp_path / "store", tmp_path / "out"
    add_ingest(
        store,
        [
            ev("vm.compute.start", "vm-1", "2026-11-24T23:30:00.123456789Z", cpu=2, mem=GIB),
            ev("vm.compute.stop", "vm-1", "2026-11-25T01:00:00.000000001Z"),
            ev("vm.compute.stop", "vm-9", "2026-11-25T23:59:59.999999999Z"),  # an orphan stop
        ],
    )
    reconcile.run_period(store, PRICES, out, "2026-11-25", quiet=True)
    return store, out


def test_every_instant_column_is_utc_adjusted_nanoseconds(folders: tuple[Path, Path]) -> None:
    """Each instant column of every output file and of the store's events is timestamp[ns, tz=UTC]
    in Parquet and Arrow, and polars reads Datetime(ns, UTC) with the nanoseconds kept."""
    store, out = folders
    files = [*out.glob("*/*/*.parquet"), *store.glob("events/*/*.parquet")]
    assert files
    for file in files:
        schema = pq.read_schema(file)
        instants = [f for f in schema if str(f.type).startswith("timestamp")]
        assert instants, file
        assert all(str(f.type) == "timestamp[ns, tz=UTC]" for f in instants), (file, schema)
    intervals = pl.read_parquet(next(out.glob("intervals/*/*.parquet")))
    assert intervals.schema["start_at"] == pl.Datetime("ns", "UTC")
    assert intervals.select(pl.col("start_at").dt.epoch("ns")).item() == parse_instant(
        "2026-11-24T23:30:00.123456789Z"
    )


def test_an_analyst_in_another_zone_gets_the_same_instants_and_days(folders: tuple[Path, Path]) -> None:
    """With the machine in Tokyo, DuckDB on the files gives the same instants, and the analyst
    relations the same UTC days and CSV text (with Z), as in UTC."""
    _, out = folders
    file = next(out.glob("anomalies/*/*.parquet"))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Tokyo'")
    got = con.execute(
        'SELECT epoch_ns("at") FROM read_parquet(?, hive_partitioning = false)', [str(file)]
    ).fetchall()
    assert got == [(parse_instant("2026-11-25T23:59:59.999999999Z"),)]
    con.close()
    argv = [sys.executable, "-m", "reconcile._cli", "sql", "anomaly_summary", "--output", str(out)]
    runs = {
        zone: subprocess.run(
            [*argv, "--format", "csv"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TZ": zone},
        ).stdout
        for zone in ("UTC", "Asia/Tokyo", "America/Los_Angeles")
    }
    assert len(set(runs.values())) == 1
    assert "2026-11-25" in runs["UTC"]
    slices = subprocess.run(
        [*argv[:4], "slices", "--output", str(out), "--format", "csv"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "Asia/Tokyo"},
    ).stdout
    assert "2026-11-25T01:00:00.000000001Z" in slices


def _make_format_1(out: Path) -> None:
    """Rewrite an output folder as the previous format wrote it: naive instants, format 1."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for file in out.glob("*/*/*.parquet"):
        columns = [
            c
            for c, t, *_ in con.execute(
                "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [str(file)]
            ).fetchall()
            if t in {"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ_NS"}
        ]
        cast = ", ".join(f'timezone(\'UTC\', "{c}") AS "{c}"' for c in columns)
        con.execute(
            f"COPY (SELECT * REPLACE ({cast}) FROM read_parquet(?, hive_partitioning = false)) TO ?"
            " (FORMAT parquet)",
            [str(file), f"{file}.tmp"],
        )
        os.replace(f"{file}.tmp", file)
    con.close()
    meta = json.loads((out / "output.json").read_text())
    (out / "output.json").write_text(json.dumps({**meta, "format": 1}))


def test_a_folder_of_the_old_format_is_refused_then_upgraded_exactly(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A run into a folder of naive instants is one error naming the upgrade; `upgrade-output`
    rewrites every file with the same nanoseconds and rows, and the run then commits."""
    store, out = folders
    before = {f.relative_to(out): exact(pq.read_table(f)).to_pylist() for f in out.glob("*/*/*.parquet")}
    _make_format_1(out)
    assert all(
        str(f.type) == "timestamp[ns]"
        for p in out.glob("*/*/*.parquet")
        for f in pq.read_schema(p)
        if str(f.type).startswith("timestamp")
    )
    with pytest.raises(OutputError, match=r"upgrade it once with `reconcile upgrade-output --output"):
        reconcile.run_period(store, PRICES, out, "2026-11-25", quiet=True)
    assert main(["upgrade-output", "--output", str(out)]) == 0
    assert "3 files rewritten" in capsys.readouterr().out
    after = {f.relative_to(out): exact(pq.read_table(f)).to_pylist() for f in out.glob("*/*/*.parquet")}
    assert after == before
    assert json.loads((out / "output.json").read_text())["format"] == 2
    assert main(["upgrade-output", "--output", str(out)]) == 0  # again: nothing to do
    assert "0 files rewritten" in capsys.readouterr().out
    reconcile.run_period(store, PRICES, out, "2026-11-25", quiet=True)


def test_cursors_of_the_engine_connections_are_in_utc_too() -> None:
    """A cursor of an engine connection (the staging pool, the history keeping) derives UTC days,
    whatever the machine's zone, like the connection itself."""
    script = (
        "from reconcile._core._duckdb import connect, plain_connect\n"
        "for con in (plain_connect(), connect(memory_limit='500MB')):\n"
        "    cur = con.cursor()\n"
        "    q = \"SELECT current_setting('TimeZone'), CAST(TIMESTAMPTZ '2024-01-01 02:00+00' AS DATE)\"\n"
        "    print(cur.execute(q).fetchall())\n"
    )
    env = {**os.environ, "TZ": "America/Los_Angeles"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert proc.stdout.split("\n")[:2] == ["[('UTC', datetime.date(2024, 1, 1))]"] * 2
