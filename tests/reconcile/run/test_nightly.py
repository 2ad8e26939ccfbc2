"""The nightly job: ingest, run yesterday, restate earlier days whose inputs changed, fill gaps."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from helpers.run_fixture import GIB, PRICES, line, output_rows, write
from reconcile import UsageError, nightly, read_output, run_period, write_fleet
from reconcile._cli import main
from reconcile._core._period import format_ns, parse_instant

NIGHT_1 = [
    line("vm.compute.start", "vm-1", "2026-10-14T22:00:00Z", cpu=2, mem=GIB, reason="boot"),
    line("vm.compute.stop", "vm-1", "2026-10-15T02:00:00+01:00", cpu=2, mem=GIB, reason="stop-user"),
    line("vm.storage.start", "vm-1", "2026-10-14T22:00:00Z", storage=10 * GIB, reason="boot"),
    line("vm.compute.start", "vm-2", "2026-10-15T08:00:00Z", cpu=1, reason="boot"),
    line("vm.compute.stop", "vm-3", "2026-10-15T09:00:00Z", reason="stop-crash"),  # an orphan stop
]


def night(tmp_path: Path, today: str, **options: object):  # type: ignore[no-untyped-def]
    """Run the nightly job over tmp_path/ledgers with the test price book."""
    return nightly(
        [tmp_path / "ledgers"],
        tmp_path / "store",
        tmp_path / "out",
        PRICES,
        today=today,
        quiet=True,
        **options,  # type: ignore[arg-type]
    )


def test_first_night_runs_yesterday_and_a_second_pass_changes_nothing(tmp_path: Path) -> None:
    """Night one runs yesterday; running the job again with nothing new leaves every day unchanged."""
    write(tmp_path / "ledgers/host-a/ledger.jsonl", *NIGHT_1)
    first = night(tmp_path, "2026-10-16")
    assert first.ingest.events == 5
    assert [(d.period, d.action) for d in first.days] == [("2026-10-15", "new")]
    assert first.restated == []
    assert first.anomalies == 1
    again = night(tmp_path, "2026-10-16")
    assert [(d.period, d.action) for d in again.days] == [("2026-10-15", "unchanged")]
    assert again.days[0].run_id == first.days[0].run_id
    assert again.ingest.events == 0


def test_late_lines_restate_exactly_the_days_they_can_change(tmp_path: Path) -> None:
    """A late line before a day's end restates that day and later ones; lines after it do not."""
    ledger = tmp_path / "ledgers/host-a/ledger.jsonl"
    write(ledger, *NIGHT_1)
    night(tmp_path, "2026-10-16")
    write(
        ledger, *NIGHT_1, line("vm.compute.stop", "vm-2", "2026-10-16T10:00:00Z", cpu=1, reason="stop-user")
    )
    second = night(tmp_path, "2026-10-17")
    assert [(d.period, d.action) for d in second.days] == [("2026-10-16", "new")]  # 10-15 unaffected
    before = read_output(tmp_path / "out").manifests["2026-10-15"].run_id
    # host-b ships a rotated file late: a storage stop on the 15th changes the 15th and the 16th
    write(
        tmp_path / "ledgers/host-b/ledger.jsonl",
        line("vm.storage.stop", "vm-1", "2026-10-15T12:00:00Z", storage=10 * GIB, reason="vm-rm"),
    )
    third = night(tmp_path, "2026-10-18")
    assert [(d.period, d.action) for d in third.days] == [
        ("2026-10-15", "restated"),
        ("2026-10-16", "restated"),
        ("2026-10-17", "new"),
    ]
    assert third.restated == ["2026-10-15", "2026-10-16"]
    assert third.days[0].previous_run_id == before
    tables = read_output(tmp_path / "out")
    storage = tables.slices.filter(pl.col("family") == "vm.storage").collect()
    assert storage.select("usage_date", "seconds").rows() == [(dt.date(2026, 10, 15), Decimal(12 * 3600))]
    # the restated days are what a fresh run over the same store writes
    fresh = run_period(tmp_path / "store", PRICES, tmp_path / "fresh", "2026-10-15", quiet=True)
    assert fresh.run_id == tables.manifests["2026-10-15"].run_id


def test_days_in_batches_of_one_write_what_one_batch_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nightly whose days are each their own batch (priced, written and counted alone) commits
    exactly the rows and manifests of one batch holding them all."""
    import shutil  # noqa: PLC0415

    from reconcile import ingest  # noqa: PLC0415

    together, alone = tmp_path / "together", tmp_path / "alone"
    write(together / "ledgers/host-a/ledger.jsonl", *NIGHT_1)
    night(together, "2026-10-16")
    write(
        together / "ledgers/host-b/ledger.jsonl",
        line("vm.storage.stop", "vm-1", "2026-10-15T12:00:00Z", storage=10 * GIB, reason="vm-rm"),
        line("vm.compute.stop", "vm-2", "2026-10-16T10:00:00Z", cpu=1, reason="stop-user"),
    )
    ingest([together / "ledgers"], together / "store", quiet=True)  # (both stores: the same ingests)
    shutil.copytree(together, alone)
    summary = night(together, "2026-10-18")
    monkeypatch.setattr("reconcile._engines._duckdb.BATCH_ROWS", 1)
    assert night(alone, "2026-10-18").days == summary.days
    assert [(d.period, d.action) for d in summary.days] == [
        ("2026-10-15", "restated"),
        ("2026-10-16", "filled"),
        ("2026-10-17", "new"),
    ]
    assert output_rows(alone / "out") == output_rows(together / "out")


def test_lookback_limits_restatement_and_gaps_are_filled(tmp_path: Path) -> None:
    """Days older than the lookback are never restated; a missed night's day is filled."""
    ledger = tmp_path / "ledgers/host-a/ledger.jsonl"
    write(ledger, *NIGHT_1)
    night(tmp_path, "2026-10-16")
    night(tmp_path, "2026-10-17")
    write(ledger, *NIGHT_1, line("vm.compute.stop", "vm-2", "2026-10-14T10:00:00Z", reason="stop-user"))
    summary = night(tmp_path, "2026-10-19", lookback=2)  # window: 10-16, 10-17; yesterday 10-18
    assert [(d.period, d.action) for d in summary.days] == [
        ("2026-10-16", "restated"),
        ("2026-10-17", "filled"),
        ("2026-10-18", "new"),
    ]
    manifests = read_output(tmp_path / "out").manifests
    assert sorted(manifests) == ["2026-10-15", "2026-10-16", "2026-10-17", "2026-10-18"]
    fresh = run_period(tmp_path / "store", PRICES, tmp_path / "fresh", "2026-10-15", quiet=True)
    assert manifests["2026-10-15"].run_id != fresh.run_id  # out of the window: left as it was


def test_nightly_refuses_a_month_folder_and_a_bad_lookback(tmp_path: Path) -> None:
    """The nightly job writes days only, and needs a lookback of at least one day."""
    write(tmp_path / "ledgers/host-a/ledger.jsonl", *NIGHT_1)
    night(tmp_path, "2026-10-16")
    run_period(tmp_path / "store", PRICES, tmp_path / "month", "2026-09", quiet=True)
    with pytest.raises(UsageError, match="holds month runs"):
        nightly([tmp_path / "ledgers"], tmp_path / "store", tmp_path / "month", PRICES, today="2026-10-16")
    with pytest.raises(UsageError, match="lookback"):
        night(tmp_path, "2026-10-16", lookback=0)


def test_cli_nightly_fails_on_anomalies_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`nightly --fail-on-anomalies` writes its output, then exits 3 when anomalies were found."""
    write(tmp_path / "ledgers/host-a/ledger.jsonl", *NIGHT_1)
    args = ["nightly", str(tmp_path / "ledgers"), "--store", str(tmp_path / "store")]
    args += ["--output", str(tmp_path / "out"), "--prices", str(PRICES), "--today", "2026-10-16", "--quiet"]
    assert main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["days"][0]["action"] == "new"
    assert summary["anomalies"] == 1
    assert main([*args, "--fail-on-anomalies"]) == 3
    captured = capsys.readouterr()
    assert "2026-10-15: unchanged" in captured.out
    assert "restated: none" in captured.out
    assert captured.err == "error: anomalies: 1 in yesterday's or a restated day's output (--fail-on)\n"
    assert main([*args[:-1], "--today", "2026-10-16x"]) == 2


@pytest.mark.slow
def test_a_torn_line_completed_later_restates_from_its_day(tmp_path: Path) -> None:
    """On a generated fleet, the torn tail's completion next night restates its day and every later one."""
    fleet = write_fleet(tmp_path / "ledgers", seed=2)
    last_day = dt.date.fromisoformat(format_ns(parse_instant(fleet.last_emitted))[:10])
    today = (last_day + dt.timedelta(days=1)).isoformat()
    first = night(tmp_path, today, lookback=10)
    assert first.ingest.pending == 1
    # backfill the earlier days by hand, as an operator would before the first nightly
    first_day = dt.date.fromisoformat(format_ns(parse_instant(fleet.first_emitted))[:10])
    day = first_day
    while day < last_day:
        run_period(tmp_path / "store", PRICES, tmp_path / "out", day.isoformat(), quiet=True)
        day += dt.timedelta(days=1)
    torn = next(h for h in fleet.hosts if h.torn)
    with torn.live.open("ab") as live:
        live.write(torn.torn_rest)
    late_at = parse_instant(json.loads(torn.torn + torn.torn_rest)["emitted_at"])
    late_day = dt.date.fromisoformat(format_ns(late_at)[:10])
    second = night(tmp_path, today, lookback=10)
    assert second.ingest.events == 1
    expected = [
        d.isoformat()
        for d in (first_day + dt.timedelta(days=i) for i in range(10))
        if late_day <= d <= last_day
    ]
    assert [d.period for d in second.days if d.action == "restated"] == expected
    assert all(d.action in ("restated", "unchanged") for d in second.days)
    # an edited price book changes every day's inputs: the whole window is restated
    third = nightly(
        [tmp_path / "ledgers"],
        tmp_path / "store",
        tmp_path / "out",
        "bundled",
        today=today,
        lookback=10,
        quiet=True,
    )
    assert third.restated == [
        d.isoformat() for d in (first_day + dt.timedelta(days=i) for i in range(10)) if d <= last_day
    ]  # yesterday (last_day) included


def test_the_plan_repairs_damaged_days_with_the_same_run_id() -> None:
    """A committed day whose files are damaged but whose run_id holds is `repaired` (yesterday too);
    a damaged day whose run_id changed is restated as any other."""
    from reconcile._run._nightly import plan_nightly  # noqa: PLC0415

    yesterday = dt.date(2026, 10, 18)
    days = [yesterday - dt.timedelta(days=i) for i in range(3, -1, -1)]
    committed = {d: f"r{d.day}" for d in days}
    current = {**committed, days[1]: "changed"}
    plan = plan_nightly(
        yesterday=yesterday,
        lookback=3,
        committed=committed,
        current=current,
        damaged={days[0], days[1], yesterday},
    )
    assert [(p.day.day, p.action) for p in plan] == [(15, "repaired"), (16, "restated"), (18, "repaired")]
