"""Checkpointed pairing gives exactly the full walk's rows: on hypothesis histories around midnights,
on a generated fleet run night after night with late files, and through reconcile.pair(since=)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reconcile
from helpers.pairing_ledger import NS, Event, make_event
from helpers.run_fixture import add_ingest, output_rows
from reconcile._core._duckdb import connect
from reconcile._core._period import date_to_ns
from reconcile._core._progress import Progress
from reconcile._pair import _checkpoints as _checkpoint
from reconcile._pair import _walk as _pair
from reconcile._pair._checkpoints import Checkpoints, retained
from reconcile._pair._walk import AsOf
from reconcile._pair._walker import Walker
from reconcile._store._reader import Store

DAY0 = dt.date(2026, 10, 30)  # the days cross a month start: checkpoints there hold the seen set in full
DAYS = [DAY0 + dt.timedelta(days=i) for i in range(4)]
MIDNIGHTS = [date_to_ns(d) for d in [*DAYS, DAYS[-1] + dt.timedelta(days=1)]]
RESOURCES = [("vm.compute", "vm-a"), ("vm.compute", "vm-b"), ("vm.storage", "vm-a"), ("snap.storage", "s-1")]
# instants near midnights (exactly on one, a nanosecond either side, mid-day) and one months back
_OFFSETS = [0, 0, -1, 1, 12 * 3600 * NS, -6 * 3600 * NS]
_INTERVAL_KEYS = ("interval_id", "status", "start_ns", "end_ns", "end_event_id", "end_reason", "end_source")
_ANOMALY_KEYS = ("code", "event_id", "interval_id", "at_ns", "detail")


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[int, Event]]:
    """(ingest number, event) pairs: distinct events of a few resources at instants around midnights,
    spread over up to three ingests (a later ingest may hold earlier events: a late file)."""
    out: list[tuple[int, Event]] = []
    seen: set[str] = set()
    line = 0
    for family, resource in draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=4, unique=True)):
        if draw(st.booleans()):  # its only earlier event is months back
            at = date_to_ns(DAY0 - dt.timedelta(days=90)) + 5 * NS
            line += 1
            out.append(
                (
                    0,
                    make_event(
                        f"{family}.{draw(st.sampled_from(['start', 'stop']))}",
                        resource,
                        at,
                        "/l/old.jsonl",
                        line,
                    ),
                )
            )
        for _ in range(draw(st.integers(0, 7))):
            midnight = draw(st.sampled_from(MIDNIGHTS))
            at = midnight + draw(st.sampled_from(_OFFSETS))
            endpoint = draw(st.sampled_from(["start", "stop"]))
            line += 1
            file = draw(st.sampled_from(["/l/a.jsonl", "/l/b.jsonl"]))
            event = make_event(
                f"{family}.{endpoint}",
                resource,
                at,
                file,
                line,
                reason=draw(st.sampled_from([None, "boot", "stop-crash"])),
                cpu=draw(st.sampled_from([1, 2])),
                mem_bytes=1 << 30,
                storage_bytes=draw(st.sampled_from([0, 5 << 30])),
            )
            if event.event_id not in seen:
                seen.add(event.event_id)
                out.append((draw(st.integers(0, 2)), event))
    return out


def _rows(con: duckdb.DuckDBPyConnection, sql: str, keys: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return sorted(con.execute(f"SELECT {', '.join(keys)} FROM ({sql})").fetchall(), key=repr)


def _period_rows(con: duckdb.DuckDBPyConnection, day: dt.date) -> tuple[Any, ...]:
    lo, hi = date_to_ns(day), date_to_ns(day) + 86_400 * NS
    intervals = _rows(
        con,
        f"SELECT * FROM intervals WHERE start_ns < {hi} AND (end_ns IS NULL OR end_ns >= {lo})",
        _INTERVAL_KEYS,
    )
    anomalies = _rows(
        con,
        f"SELECT * FROM anomalies WHERE (at_ns >= {lo} AND at_ns < {hi}) OR code = 'stale_open'",
        _ANOMALY_KEYS,
    )
    return intervals, anomalies


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    history=histories(), policy=st.sampled_from(["close", "drop"]), stale=st.sampled_from([None, 3600 * NS])
)
def test_checkpointed_walk_equals_the_full_walk(
    tmp_path_factory: pytest.TempPathFactory, history: list[tuple[int, Event]], policy: str, stale: int | None
) -> None:
    """After each ingest, every day run from checkpoints (written by the runs before, invalidated by
    late ingests) gives the full walk's intervals, anomalies and role counts as of its end."""
    root = tmp_path_factory.mktemp("cp")
    store = root / "store"
    for ingest in range(3):
        events = [e for k, e in history if k == ingest]
        add_ingest(store, [_row(e) for e in events], source=f"ledger-{ingest}.jsonl")
        for day in DAYS:
            cut = date_to_ns(day) + 86_400 * NS
            options = AsOf(cut, policy, stale)  # type: ignore[arg-type]
            with connect(memory_limit="500MB") as con:
                walker = Walker(con, Store(store), Progress(quiet=True), scratch=root)
                walker.walk(date_to_ns(day), cut)
                roles = walker.as_of(options)
                got = _period_rows(con, day)
            with connect(memory_limit="500MB") as con:
                _pair.register_events(con, Store(store).event_files())
                _pair.empty_state(con)
                _pair.walk(con, walk_from_ns=None, walk_to_ns=cut)
                _pair.as_of(con, options)
                full_roles = _pair.window_roles(con, cut)
                want = _period_rows(con, day)
            assert got == want, (ingest, day)
            assert roles == full_roles, (ingest, day)
    shutil.rmtree(root, ignore_errors=True)


def _row(event: Event) -> dict[str, Any]:
    row = {k: getattr(event, k) for k in event.__dataclass_fields__}
    for name in ("source_file", "source_line", "ingest_id"):
        row.pop(name)
    return row


def _events_over_days(days: int, per_day: int = 3) -> list[dict[str, Any]]:
    """Each day: a VM starts, one stops from the day before, a snapshot is taken."""
    from helpers.run_fixture import ev  # noqa: PLC0415

    rows = []
    for i in range(days):
        day = (DAY0 + dt.timedelta(days=i)).isoformat()
        rows.append(ev("vm.compute.start", f"vm-{i}", f"{day}T06:00:00Z", cpu=2, mem=1 << 30))
        if i:
            rows.append(ev("vm.compute.stop", f"vm-{i - 1}", f"{day}T00:00:00Z"))
        rows.append(ev("snap.storage.start", f"snap-{i}", f"{day}T12:00:00Z", storage=1 << 30))
    return rows[: days * per_day]


def test_day_runs_write_checkpoints_and_start_from_them(tmp_path: Path) -> None:
    """A day run writes the checkpoint at its cut-off; the next day's walk starts from it and reads
    that day's events only; the checkpoint holds the open starts, the seen resources and the roles."""
    store = tmp_path / "store"
    add_ingest(store, _events_over_days(4))
    out = tmp_path / "out"
    prices = Path(__file__).resolve().parents[2] / "data" / "runs" / "prices.toml"
    reconcile.run_period(store, prices, out, DAY0.isoformat(), quiet=True)
    checkpoints = Checkpoints(Store(store).checkpoints_dir)
    (cp,) = checkpoints.all()
    assert cp.day == DAY0 + dt.timedelta(days=1)
    assert (cp.open_rows, cp.seen_rows) == (2, 2)  # vm-0 and snap-0: open, and seen
    assert cp.roles.events == 2
    with connect(memory_limit="500MB") as con:
        walker = Walker(con, Store(store), Progress(quiet=True), scratch=tmp_path)
        day1 = date_to_ns(DAY0 + dt.timedelta(days=1))
        walker.walk(day1, day1 + 86_400 * NS)
        assert walker.walk_from_ns == day1
        assert con.execute("SELECT count(*) FROM pair_input WHERE NOT seed").fetchone() == (3,)
        roles = walker.as_of(AsOf(day1 + 86_400 * NS))
        assert roles.events == 5
    summary = reconcile.run_period(store, prices, out, (DAY0 + dt.timedelta(days=1)).isoformat(), quiet=True)
    full = reconcile.run_period(
        store,
        prices,
        tmp_path / "full",
        (DAY0 + dt.timedelta(days=1)).isoformat(),
        quiet=True,
        full_walk=True,
    )
    assert summary.run_id == full.run_id
    assert summary.roles == full.roles
    assert [c.day for c in checkpoints.all()] == [DAY0 + dt.timedelta(days=1), DAY0 + dt.timedelta(days=2)]


def test_a_long_walk_writes_its_last_midnight_mondays_and_month_starts(tmp_path: Path) -> None:
    """A walk over two weeks writes its last midnight, its Mondays and its month start, not the
    daily ones before its end; the seen deltas after the month start's base are the resources first
    seen since, and a run from those checkpoints gives the full walk's run_id and roles."""
    store = tmp_path / "store"
    add_ingest(store, _events_over_days(20))
    with connect(memory_limit="500MB") as con:
        walker = Walker(con, Store(store), Progress(quiet=True), scratch=tmp_path)
        walker.walk(date_to_ns(DAY0), date_to_ns(dt.date(2026, 11, 15)))
    by_day = {cp.day: cp for cp in Checkpoints(Store(store).checkpoints_dir).all()}
    assert sorted(by_day) == [dt.date(2026, 11, d) for d in (1, 2, 9, 15)]  # 11-13, 11-14 not written
    assert by_day[dt.date(2026, 11, 1)].seen_base is None  # a base: vm-0, vm-1, snap-0, snap-1
    assert by_day[dt.date(2026, 11, 1)].seen_rows == 4
    # deltas over that base: each day from 11-01 on brings a VM and a snapshot
    assert (by_day[dt.date(2026, 11, 9)].seen_base, by_day[dt.date(2026, 11, 9)].seen_rows) == (
        dt.date(2026, 11, 1),
        16,
    )
    assert by_day[dt.date(2026, 11, 15)].seen_rows == 28
    prices = Path(__file__).resolve().parents[2] / "data" / "runs" / "prices.toml"
    day = "2026-11-16"
    summary = reconcile.run_period(store, prices, tmp_path / "out", day, quiet=True)
    full = reconcile.run_period(store, prices, tmp_path / "full", day, quiet=True, full_walk=True)
    assert (summary.run_id, summary.roles) == (full.run_id, full.roles)


def test_a_late_ingest_invalidates_later_checkpoints_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest with an event before a checkpoint's midnight makes it and every later one invalid;
    the walk then starts from the latest one still valid, and the rows are the full walk's."""
    from helpers.run_fixture import ev  # noqa: PLC0415

    monkeypatch.setattr(_checkpoint, "DAILY_DAYS", 8)  # (keep every day's checkpoint here)

    store = tmp_path / "store"
    add_ingest(store, _events_over_days(5))
    prices = Path(__file__).resolve().parents[2] / "data" / "runs" / "prices.toml"
    for i in range(4):
        reconcile.run_period(
            store, prices, tmp_path / "out", (DAY0 + dt.timedelta(days=i)).isoformat(), quiet=True
        )
    checkpoints = Checkpoints(Store(store).checkpoints_dir)
    assert len(checkpoints.all()) == 4
    late_day = DAY0 + dt.timedelta(days=2)
    add_ingest(
        store, [ev("vm.compute.stop", "vm-1", f"{late_day.isoformat()}T03:00:00Z")], source="late.jsonl"
    )
    with connect(memory_limit="500MB") as con:
        basis = Walker(con, Store(store), Progress(quiet=True), scratch=tmp_path).basis
    valid = {cp.day: cp.valid(basis) for cp in checkpoints.all()}
    assert valid == {DAY0 + dt.timedelta(days=i): i <= 2 for i in range(1, 5)}
    assert checkpoints.latest_valid(date_to_ns(DAY0 + dt.timedelta(days=4)), basis).day == late_day  # type: ignore[union-attr]
    for i in range(2, 5):
        day = (DAY0 + dt.timedelta(days=i)).isoformat()
        ck = reconcile.run_period(store, prices, tmp_path / "out", day, quiet=True)
        full = reconcile.run_period(store, prices, tmp_path / f"full{i}", day, quiet=True, full_walk=True)
        assert (ck.run_id, ck.roles, ck.intervals, ck.anomalies, ck.totals_exact) == (
            full.run_id,
            full.roles,
            full.intervals,
            full.anomalies,
            full.totals_exact,
        )
    assert all(
        cp.valid(
            Walker(connect(memory_limit="500MB"), Store(store), Progress(quiet=True), scratch=tmp_path).basis
        )
        for cp in checkpoints.all()
    )


def test_retention_keeps_recent_days_mondays_months_and_years() -> None:
    """Daily for 3 days, Mondays for 42, first of the month for 400, every first of January."""
    newest = dt.date(2026, 11, 30)
    days = [newest - dt.timedelta(days=i) for i in range(800)]
    keep = retained(days, newest)
    assert all(newest - dt.timedelta(days=i) in keep for i in range(3))
    assert (newest - dt.timedelta(days=3)) not in keep  # a Friday, 3 days back
    assert dt.date(2026, 11, 23) in keep  # a Monday
    assert dt.date(2026, 11, 2) in keep
    assert dt.date(2026, 11, 3) not in keep
    assert dt.date(2026, 10, 26) in keep
    assert dt.date(2026, 10, 19) not in keep
    assert dt.date(2025, 11, 1) in keep
    assert dt.date(2025, 10, 1) not in keep
    assert dt.date(2025, 1, 1) in keep
    assert dt.date(2025, 1, 2) not in keep
    assert len(keep) == 3 + 5 + 13 + 1  # days (11-30 a Monday), other Mondays, months, 2025-01-01


def test_pair_since_a_day_equals_the_full_pairing_of_that_day(tmp_path: Path) -> None:
    """reconcile.pair(store, cut_off, since=D) walks from a checkpoint and gives the full pairing's
    rows for [D, cut_off): intervals overlapping it, anomalies in it, roles of its events."""
    store = tmp_path / "store"
    add_ingest(store, _events_over_days(6))
    prices = Path(__file__).resolve().parents[2] / "data" / "runs" / "prices.toml"
    for i in range(3):
        reconcile.run_period(
            store, prices, tmp_path / "out", (DAY0 + dt.timedelta(days=i)).isoformat(), quiet=True
        )
    since = date_to_ns(DAY0 + dt.timedelta(days=3))
    cut = since + 2 * 86_400 * NS
    part = reconcile.pair(store, cut, since=since)
    whole = reconcile.pair(store, cut)
    import polars as pl  # noqa: PLC0415

    want = whole.intervals.filter(pl.col("end_ns").is_null() | (pl.col("end_ns") >= since)).collect()
    assert sorted(part.intervals.collect()["interval_id"]) == sorted(want["interval_id"])
    starts = {r["event_id"] for r in whole.roles.collect().to_dicts()}
    assert set(part.roles.collect()["event_id"]) < starts
    assert part.since_ns == since
    with pytest.raises(reconcile.UsageError, match="since= needs an event store"):
        reconcile.pair(pq.read_table(Store(store).event_files()[0]), cut, since=since)


@pytest.mark.slow
def test_a_fleet_run_night_after_night_gives_the_full_walks_output(tmp_path: Path) -> None:
    """A generated fleet shipped night by night, with late lines in every night's file: the nightly
    job from checkpoints writes exactly the output (rows, run_ids, manifests) of the full walk."""
    import random  # noqa: PLC0415

    from reconcile._core._period import parse_instant  # noqa: PLC0415

    ledger = tmp_path / "fleet.jsonl"
    reconcile.generate_ledger(
        ledger, lines=24_000, seed=5, hosts=2, start=dt.datetime(2026, 10, 22, tzinfo=dt.UTC), days=12
    )
    rng = random.Random(5)
    nights: dict[int, list[bytes]] = {}
    first = dt.date(2026, 10, 22)  # (the nights cross 2026-11-01: delta checkpoints over a base)
    for line in ledger.read_bytes().splitlines(keepends=True):
        at = json.loads(line)["emitted_at"]
        day = (dt.date.fromisoformat(reconcile._core._period.format_ns(parse_instant(at))[:10]) - first).days
        late = rng.random() < 0.03
        nights.setdefault(day + (rng.randint(1, 6) if late else 1), []).append(line)
    store = tmp_path / "store"
    prices = Path(__file__).resolve().parents[2] / "data" / "runs" / "prices.toml"
    results: dict[str, list[Any]] = {"ck": [], "full": []}
    for night in range(1, 14):
        shipped = tmp_path / "ledgers" / f"night-{night:02d}.jsonl"
        shipped.parent.mkdir(exist_ok=True)
        shipped.write_bytes(b"".join(nights.get(night, [])))
        today = (first + dt.timedelta(days=night)).isoformat()
        for name, full in (("ck", False), ("full", True)):
            summary = reconcile.nightly(
                [shipped], store, tmp_path / f"out-{name}", prices, today=today, quiet=True, full_walk=full
            )
            results[name].append([(d.period, d.action, d.run_id) for d in summary.days])
    assert results["ck"] == results["full"]
    assert any(action == "restated" for night in results["ck"] for _, action, _ in night), results["ck"]
    assert output_rows(tmp_path / "out-ck") == output_rows(tmp_path / "out-full")
    checkpoints = Checkpoints(Store(store).checkpoints_dir).all()
    days = [cp.day for cp in checkpoints]
    assert days == sorted(retained(days, max(days)))  # pruned to retention
    assert len(days) >= 4  # the last 3 days, Mondays, the month start
    deltas = [cp for cp in checkpoints if cp.seen_base is not None]
    assert deltas  # checkpoints holding a delta over their month's base
    assert all(
        cp.seen_base is not None and cp.seen_base.replace(day=1) == cp.day.replace(day=1) for cp in deltas
    )
