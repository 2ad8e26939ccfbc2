"""Failures that used to reach the user unnamed, or silently: each is one clear line now, or works."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from helpers.damage import copy_tree, truncate, unwritable
from reconcile import ingest
from reconcile._analysts._sources import read_sources
from reconcile._cli import main
from reconcile._core._duckdb import engine_errors
from reconcile._core._signals import Terminated, terminable
from reconcile._store._reader import Store

RECONCILE = str(Path(sys.executable).with_name("reconcile"))


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_unwritable_store_is_still_read(
    capsys: pytest.CaptureFixture[str], demo: Path, demo_root: Path
) -> None:
    """An immutable (or read-only) store: runs, `checkpoints`, `sql` and `verify` read it as
    docs/OPERATIONS.md says (the same bill; no checkpoint written); an ingest is one line, exit 1."""
    store = demo / "store"
    with unwritable(store):
        code, _, err = cli(
            capsys,
            *["run", "--store", str(store), "--prices", "bundled", "--tenants", str(demo / "tenants.csv")],
            *["--output", str(demo / "again"), "--period", "2026-11-24", "--quiet"],
        )
        assert (code, err) == (0, "")
        assert cli(capsys, "checkpoints", "--store", str(store))[0] == 0
        assert cli(capsys, "sql", "rejects", "--store", str(store), "--output", str(demo / "output"))[0] == 0
        assert cli(capsys, "verify", "--store", str(store), "--quiet")[0] == 0
        code, _, err = cli(capsys, "ingest", str(demo_root / "ledgers"), "--store", str(store), "--quiet")
        assert code == 1
        assert err.startswith(f"error: cannot open the event store {store}: ")
        assert len(err.splitlines()) == 1
    runs = [
        json.loads(p.read_text())
        for p in (demo / "again", demo / "output")
        for p in [p / "manifests" / "period=2026-11-24" / "manifest.json"]
    ]
    assert runs[0]["run_id"] == runs[1]["run_id"]
    assert runs[0]["totals"] == runs[1]["totals"]


def test_rejects_are_not_stored_twice_when_files_json_is_lost(demo: Path, demo_root: Path) -> None:
    """files.json deleted, the same ledgers ingested again: no new event and no new reject; the lines
    read again are duplicates and the ingest's identity holds."""
    store = Store(demo / "store")
    before = store.read_table("rejects").num_rows
    (demo / "store" / "files.json").unlink()
    summary = ingest([demo_root / "ledgers"], store, quiet=True)
    assert (summary.events, summary.rejected) == (0, 0)
    assert summary.lines == summary.duplicates + summary.pending
    assert store.read_table("rejects").num_rows == before


def test_nightly_refuses_a_today_after_the_clock(capsys: pytest.CaptureFixture[str], demo: Path) -> None:
    """`nightly --today` tomorrow would bill today, not ended, as final: a usage error, exit 2."""
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    code, _, err = cli(
        capsys,
        *["nightly", str(demo / "ledgers"), "--store", str(demo / "store"), "--output", str(demo / "output")],
        *["--prices", "bundled", "--today", tomorrow, "--quiet"],
    )
    assert code == 2
    assert err.startswith(f"error: --today {tomorrow} is later than today (")
    assert len(err.splitlines()) == 1


def test_report_and_export_to_a_folder_are_usage_errors(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """`--to` an existing folder: one usage line, exit 2, and no temporary file left anywhere."""
    out = str(demo / "output")
    for command, name in ((["report"], "report.html"), (["export", "focus"], "focus.parquet")):
        target = demo / name
        target.mkdir()
        code, _, err = cli(
            capsys, *command, "--output", out, "--period", "2026-11-20", "--to", str(target), "--quiet"
        )
        assert code == 2
        suggested = target / ("report.html" if name == "report.html" else "focus.parquet")
        assert err == f"error: --to {target} is a folder: give the file to write in it, e.g. {suggested}\n"
    assert [p.name for p in demo.rglob("*tmp*")] == []


def test_sigterm_inside_a_duckdb_query_is_termination() -> None:
    """SIGTERM while DuckDB runs a query (DuckDB reports its own interruption): Terminated, exit 143."""
    # One thread: the query's tasks run on this thread, which checks for signals between them. With
    # more threads a loaded machine can leave this thread waiting on a worker's single long task, and
    # the signal is seen only as that task ends (tens of seconds for this query).
    con = duckdb.connect(config={"threads": 1})

    def long_query() -> None:
        with engine_errors("a long query"):
            con.execute("SELECT count(*) FROM range(10000000000) t(i) WHERE i % 7 = 3").fetchall()

    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    with terminable():
        timer.start()
        with pytest.raises(Terminated):
            long_query()
    timer.join()


_LONG_QUERY = """
import os, signal, sys, threading
from reconcile._core._duckdb import connect, engine_errors
from reconcile._core._signals import Terminated, terminable
con = connect(memory_limit="500MB")  # DuckDB's default threads: here, both cores
con.execute("SET threads = 2")
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
try:
    with terminable(), engine_errors("a query of hours"):
        con.execute("SELECT count(*) FROM range(10000000000000) t(i) WHERE i % 7 = 3").fetchall()
except Terminated:
    sys.exit(143)
"""


def test_sigterm_interrupts_a_query_running_on_two_threads_at_once() -> None:
    """A SIGTERM stops an engine connection's query of hours on two threads (where DuckDB alone sees
    the signal only as its running tasks end): the watcher interrupts it, Terminated, exit 143.
    (The timeout only guards the suite against a query of hours; no speed is asserted.)"""
    proc = subprocess.run(
        [sys.executable, "-c", _LONG_QUERY], capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 143, proc.stderr


@pytest.mark.slow
def test_sigterm_during_an_ingests_read_exits_143(tmp_path: Path) -> None:
    """A real ingest stopped by SIGTERM while DuckDB parses its ledger exits 143 with one line."""
    from reconcile.testing import generate_ledger  # noqa: PLC0415

    ledger = tmp_path / "ledger.jsonl"
    generate_ledger(ledger, lines=600_000, seed=3)
    proc = subprocess.Popen(
        [RECONCILE, "ingest", str(ledger), "--store", str(tmp_path / "store")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "parsing" in line:  # printed as the batch's DuckDB read starts; it takes seconds
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.wait() == 143, err
    assert err.strip().splitlines()[-1].startswith("error: terminated")


def test_sql_tables_escape_terminal_control_characters(
    capsys: pytest.CaptureFixture[str], demo: Path
) -> None:
    """Text holding an ESC sequence (an id written by a hostile host) prints escaped in a table."""
    code, out, _ = cli(
        capsys, "sql", "--output", str(demo / "output"), "--query", "SELECT 'vm-' || chr(27) || '[2J' AS id"
    )
    assert code == 0
    assert "\x1b" not in out
    assert "vm-\\x1b[2J" in out


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_works_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], demo: Path, where: str
) -> None:
    """`reconcile --quiet run ...` and `reconcile run ... --quiet` both print no progress."""
    args = ["run", "--store", str(demo / "store"), "--prices", "bundled"]
    args += ["--output", str(demo / "again"), "--period", "2026-11-20"]
    code, _, err = cli(capsys, *(["--quiet", *args] if where == "before" else [*args, "--quiet"]))
    assert (code, err) == (0, "")


def test_silent_source_times_are_rfc3339_with_z(demo: Path) -> None:
    """A source's last growth prints as an RFC 3339 instant in UTC ending in Z, nanoseconds kept."""
    for source in read_sources(Store(demo / "store")):
        assert source.grew_at is not None
        assert source.grew_at.endswith("Z")
        assert "+00:00" not in source.grew_at
        dt.datetime.fromisoformat(source.grew_at[:26] + "+00:00")


def test_a_restatement_never_keeps_rows_of_a_damaged_committed_file(
    capsys: pytest.CaptureFixture[str], demo: Path, demo_root: Path, tmp_path: Path
) -> None:
    """A late ingest restates a day whose committed intervals file is damaged: the run does not keep
    its rows (it recomputes every resource, saying so) and rewrites the file (the replaced version is
    kept as it was: verify names its damaged file); the bill is that of a
    clean restatement (its run_id differs only by the late ingest's id, made anew in each store)."""
    late = tmp_path / "late.jsonl"
    late.write_text(
        '{"kind":"vm.compute.start","vm_id":"late-1","reason":"boot","hypervisor":"firecracker",'
        '"shape":{"cpu":2,"mem_bytes":1073741824},"emitted_at":"2026-11-20T10:00:00Z"}\n'
    )
    clean = copy_tree(demo, tmp_path / "clean")
    runs = []
    for root, damaged in ((clean, False), (demo, True)):
        ingest([late], root / "store", quiet=True)
        if damaged:
            truncate(root / "output" / "intervals" / "period=2026-11-20" / "data_0.parquet")
        code, _, err = cli(
            capsys,
            *[
                "run",
                "--store",
                str(root / "store"),
                "--prices",
                "bundled",
                "--tenants",
                str(root / "tenants.csv"),
            ],
            *["--output", str(root / "output"), "--period", "2026-11-20", "--quiet"],
        )
        assert code == 0
        assert ("is damaged" in err) is damaged
        runs.append(
            json.loads((root / "output" / "manifests" / "period=2026-11-20" / "manifest.json").read_text())
        )
    assert runs[0]["reused"] is not None
    assert runs[1]["reused"] is None
    assert (runs[1]["totals"], runs[1]["rows"]) == (runs[0]["totals"], runs[0]["rows"])
    # the replaced version is kept as it was, damaged file and all: verify says so, and nothing else
    code, out, _ = cli(capsys, "verify", "--output", str(demo / "output"), "--quiet", "--json")
    assert code == 1
    kept = demo / "output" / "history" / "period=2026-11-20" / "version=1" / "intervals" / "data_0.parquet"
    assert [(d["path"], d["kind"]) for d in json.loads(out)["damage"]] == [(str(kept), "kept bill version")]


def test_the_nightly_repairs_a_damaged_day_of_its_window(demo: Path, demo_root: Path) -> None:
    """A committed day of the window with a file deleted: the nightly runs it again (`repaired`: the
    same run_id and totals, no new version) and names the file in a warning; verify is clean after."""
    import io  # noqa: PLC0415
    from contextlib import redirect_stderr  # noqa: PLC0415

    from reconcile import nightly  # noqa: PLC0415
    from reconcile._run._verify import verify  # noqa: PLC0415

    out = demo / "output"
    before = json.loads((out / "manifests" / "period=2026-11-21" / "manifest.json").read_text())
    damaged = out / "slices" / "usage_date=2026-11-21" / "data_0.parquet"
    damaged.unlink()
    err = io.StringIO()
    with redirect_stderr(err):
        summary = nightly(
            [demo_root / "ledgers"],
            demo / "store",
            out,
            "bundled",
            today="2026-11-25",
            tenants=demo / "tenants.csv",
            quiet=True,
        )
    assert {d.period: d.action for d in summary.days}["2026-11-21"] == "repaired"
    assert f"warning: {damaged}: damaged (expected " in err.getvalue()
    after = json.loads((out / "manifests" / "period=2026-11-21" / "manifest.json").read_text())
    assert (after["run_id"], after["totals"], after["version"]) == (before["run_id"], before["totals"], 1)
    assert verify(demo / "store", out).clean
