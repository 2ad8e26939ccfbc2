"""`reconcile run` as a real process: output, JSON, exit codes, one-line errors, lock, kill safety."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.run_fixture import GIB, PRICES, add_ingest, committed_rows, ev, make_store
from reconcile import read_output, run_period
from reconcile._cli import main
from reconcile._core._faults import ENV as FAULT_ENV
from reconcile._core._period import parse_instant
from reconcile._output._folder import OutputFolder

RECONCILE = str(Path(sys.executable).with_name("reconcile"))
LATER = parse_instant("2030-01-01T00:00:00Z")

EVENTS = [
    ev("vm.compute.start", "vm-1", "2026-10-14T22:00:00Z", cpu=2, mem=GIB, reason="boot"),
    ev("vm.compute.stop", "vm-1", "2026-10-15T02:00:00Z", cpu=2, mem=GIB, reason="stop-user"),
    ev("vm.compute.stop", "vm-2", "2026-10-15T05:00:00Z", reason="stop-user"),
    ev("vm.storage.start", "vm-1", "2026-10-14T22:00:00Z", storage=10 * GIB, reason="boot"),
]
LATE = [
    ev("vm.compute.start", "vm-4", "2026-10-15T03:00:00Z", cpu=4, mem=2 * GIB, reason="boot"),
    ev("vm.compute.stop", "vm-4", "2026-10-15T09:00:00Z", cpu=4, mem=2 * GIB, reason="stop-user"),
    ev("vm.storage.stop", "vm-1", "2026-10-15T12:00:00Z", storage=10 * GIB, reason="vm-rm"),
]


def reconcile(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `reconcile` script; text output captured."""
    return subprocess.run(
        [RECONCILE, *args], capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )


def run_args(store: Path, out: Path, *extra: str) -> list[str]:
    """Arguments of `reconcile run` for 2026-10-15 with the test price book."""
    return [
        "run",
        "--store",
        str(store),
        "--prices",
        str(PRICES),
        "--output",
        str(out),
        "--period",
        "2026-10-15",
        *extra,
    ]


def test_run_prints_the_summary_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The human summary shows the role identity, statuses, anomalies and totals; --json is one object."""
    store = make_store(tmp_path / "store", EVENTS)
    done = reconcile(*run_args(store, tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "events before cut-off: 4 = 2 starts + 1 closing stops + 1 unmatched stops" in done.stdout
    assert "intervals: closed 1, open 1" in done.stdout
    assert "anomalies: orphan_stop 1" in done.stdout
    assert "invoice total  EUR" in done.stdout
    assert "run 2026-10-15: pairing" in done.stderr  # progress on stderr
    assert main(run_args(store, tmp_path / "out", "--json", "--quiet")) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    summary = json.loads(captured.out)
    assert summary["intervals"] == {"closed": 1, "open": 1}
    assert summary["anomalies"] == {"orphan_stop": 1}
    assert summary["period_start"] == "2026-10-15T00:00:00Z"
    assert summary["period_end"] == "2026-10-16T00:00:00Z"
    assert set(summary["totals"]) == {"EUR"}
    assert summary["replaced"] is True
    assert summary["run_id"] == read_output(tmp_path / "out").manifests["2026-10-15"].run_id


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--period", "2026-13"], 2, "period '2026-13' is not a calendar month"),
        (["--period", "2999-01-01"], 2, "has not ended"),
        (["--stale-after", "soon"], 2, "duration 'soon'"),
        (["--cut-off", "yesterday"], 2, "instant 'yesterday' is not RFC 3339"),
        (["--prices", "/nonexistent/prices.toml"], 1, "/nonexistent/prices.toml: cannot read price book"),
        (["--store", "/nonexistent/store"], 1, "no event store at /nonexistent/store"),
        (["--double-start", "keep"], 2, "invalid choice: 'keep'"),
    ],
)
def test_errors_are_one_line_with_their_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], code: int, message: str
) -> None:
    """Usage errors exit 2 and job failures exit 1, each with one `error: ...` line naming the value."""
    store = make_store(tmp_path / "store", EVENTS)
    assert main([*run_args(store, tmp_path / "out"), *extra, "--quiet"]) == code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("error: ")
    assert message in captured.err
    assert captured.out == ""


def test_month_run_into_a_day_folder_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output folder holds one period length: a month run into a folder of days exits 2."""
    store = make_store(tmp_path / "store", EVENTS)
    assert main(run_args(store, tmp_path / "out", "--quiet")) == 0
    args = run_args(store, tmp_path / "out", "--quiet")
    args[args.index("2026-10-15")] = "2026-10"
    assert main(args) == 2
    assert "holds day runs; period 2026-10 is a month" in capsys.readouterr().err


def test_a_second_run_on_the_same_output_stops_or_waits(tmp_path: Path) -> None:
    """While another run holds the output, `run` exits 1 naming the holder; with --wait it proceeds."""
    store = make_store(tmp_path / "store", EVENTS)
    out = tmp_path / "out"
    holder = OutputFolder(out)
    try:
        done = reconcile(*run_args(store, out, "--quiet"))
        assert done.returncode == 1
        assert done.stderr == (
            f"error: output folder {out} is in use by another run (pid {os.getpid()}); "
            "wait for it to finish or pass --wait SECONDS\n"
        )
        threading.Timer(1.0, holder.close).start()
        started = time.monotonic()
        waited = reconcile(*run_args(store, out, "--quiet", "--wait", "30"))
        assert waited.returncode == 0, waited.stderr
        assert time.monotonic() - started >= 1.0
    finally:
        holder.close()


@pytest.mark.slow
def test_a_killed_run_leaves_the_previous_or_the_new_output(tmp_path: Path) -> None:
    """A `reconcile run` SIGKILLed at each write phase leaves old or new output whole; the next run heals."""
    old_store, store = make_store(tmp_path / "old-store", EVENTS), tmp_path / "store"
    shutil.copytree(old_store, store)
    add_ingest(store, LATE, source="late.jsonl")
    old_ref, new_ref = tmp_path / "old", tmp_path / "new"
    run_period(old_store, PRICES, old_ref, "2026-10-15", quiet=True, now=LATER)
    run_period(store, PRICES, new_ref, "2026-10-15", quiet=True, now=LATER)
    old, new = committed_rows(old_ref), committed_rows(new_ref)
    assert old != new
    layout = {p.name for p in old_ref.iterdir()}
    # every phase is killed at the writer level in test_write.py; here a real run at four of them
    for phase in ("staging", "journal", "swap", "committed"):
        out = tmp_path / f"out-{phase}"
        shutil.copytree(old_ref, out)  # the previous output of the period
        killed = reconcile(*run_args(store, out, "--quiet"), env={FAULT_ENV: f"{phase}:kill"})
        assert killed.returncode == -9, (phase, killed.stderr)
        assert committed_rows(out) == (old if phase == "staging" else new), phase  # read_output recovers
        assert not (out / ".journal.json").exists()
        healed = run_period(store, PRICES, out, "2026-10-15", quiet=True, now=LATER)
        assert healed.replaced
        assert {p.name for p in out.iterdir()} == layout | {"history"}  # the replaced bill kept
        assert committed_rows(out) == new, phase


def test_an_amount_beyond_the_output_is_one_error_and_keeps_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shape so big its amount does not fit the output's money columns stops the run with one line
    naming the interval's resource, and the period's earlier output stays as it was."""
    store = make_store(tmp_path / "store", EVENTS)
    out = tmp_path / "out"
    assert main([*run_args(store, out), "--quiet"]) == 0
    before = committed_rows(out)
    huge = 2**63 - 1
    add_ingest(
        store,
        [
            ev("vm.compute.start", "vm-huge", "2026-10-15T01:00:00Z", cpu=huge, mem=huge, reason="boot"),
            ev("vm.compute.stop", "vm-huge", "2026-10-15T09:00:00Z", cpu=huge, mem=huge, reason="stop-user"),
        ],
        source="huge.jsonl",
    )
    capsys.readouterr()
    assert main([*run_args(store, out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: run 2026-10-15: an amount cannot be computed or held")
    assert "of vm-huge" in err
    assert committed_rows(out) == before


def test_an_unexpected_failure_is_one_line_and_the_traceback_only_with_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception the engine did not foresee still prints one `error: ...` line and exits 1; the
    traceback is printed only with --debug."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("engine exploded\nsecond line")

    monkeypatch.setattr("reconcile._run._period_run.run_period", broken)
    store = make_store(tmp_path / "store", EVENTS)
    assert main([*run_args(store, tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err == "error: unexpected RuntimeError: engine exploded (--debug: traceback)\n"
    assert main([*run_args(store, tmp_path / "out"), "--quiet", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.endswith("error: unexpected RuntimeError: engine exploded (--debug: traceback)\n")


def test_an_amount_pricing_cannot_compute_names_the_likeliest_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When even the priced amount is beyond DECIMAL(38,12) (a huge shape at a huge price), the one
    error line names the interval with the largest estimated hourly amount, not merely the largest
    shape (here a cheap snapshot of 2^62 bytes)."""
    book = tmp_path / "prices.toml"
    book.write_text(PRICES.read_text().replace('price = "0.04"', 'price = "99999999999999"'))
    big = 2**62
    store = make_store(
        tmp_path / "store",
        [
            *EVENTS,
            ev("vm.compute.start", "vm-huge", "2026-10-15T01:00:00Z", cpu=big, mem=GIB, reason="boot"),
            ev("vm.compute.stop", "vm-huge", "2026-10-15T09:00:00Z", cpu=big, mem=GIB, reason="stop-user"),
            ev("snap.storage.start", "snap-big", "2026-10-15T01:00:00Z", storage=big, reason="snapshot"),
        ],
    )
    args = run_args(store, tmp_path / "out", "--quiet")
    args[args.index("--prices") + 1] = str(book)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: run 2026-10-15: an amount cannot be computed or held")
    assert "of vm-huge (about " in err
    assert " EUR an hour)" in err
    assert not (tmp_path / "out" / "manifests").exists()


def test_ctrl_c_during_a_query_is_an_interruption(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while DuckDB runs a query (DuckDB raises its InterruptException) exits 130 with
    `error: interrupted`, as a Ctrl-C anywhere else does."""
    import duckdb  # noqa: PLC0415

    def interrupted(*_args: object, **_kwargs: object) -> None:
        con = duckdb.connect(config={"threads": 1})  # (one thread: see test_failures_named's SIGTERM test)
        threading.Timer(0.2, con.interrupt).start()
        con.execute("SELECT count(*) FROM range(10000000000) t(x) WHERE x % 7 = 3").fetchall()

    monkeypatch.setattr("reconcile._run._period_run.run_period", interrupted)
    store = make_store(tmp_path / "store", EVENTS)
    assert main([*run_args(store, tmp_path / "out"), "--quiet"]) == 130
    assert capsys.readouterr().err == "error: interrupted\n"


def test_an_amount_pricing_cannot_compute_in_days_priced_together_names_its_day(tmp_path: Path) -> None:
    """Days priced together (a nightly restating two days): an amount pricing cannot compute stops
    the run naming the day and the resource that caused it, before any day is written."""
    from reconcile import PricingError, nightly  # noqa: PLC0415

    book = tmp_path / "prices.toml"
    book.write_text(PRICES.read_text().replace('price = "0.04"', 'price = "99999999999999"'))
    store = make_store(tmp_path / "store", EVENTS)
    out = tmp_path / "out"
    for day in ("2026-10-14", "2026-10-15"):
        run_period(store, book, out, day, quiet=True)
    before = committed_rows(out)
    big = 2**62
    add_ingest(
        store,
        [
            ev("vm.compute.start", "vm-5", "2026-10-14T03:00:00Z", cpu=1, mem=GIB, reason="boot"),
            ev("vm.compute.start", "vm-huge", "2026-10-15T01:00:00Z", cpu=big, mem=GIB, reason="boot"),
            ev("vm.compute.stop", "vm-huge", "2026-10-15T09:00:00Z", cpu=big, mem=GIB, reason="stop-user"),
        ],
        source="late.jsonl",
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(PricingError, match=r"^run 2026-10-15: an amount cannot be computed or held") as info:
        nightly([empty], store, out, book, today="2026-10-16", quiet=True)
    assert "of vm-huge (about " in str(info.value)
    assert committed_rows(out) == before
