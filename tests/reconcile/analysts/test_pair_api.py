"""`reconcile.pair`: its inputs (store, Parquet files, frames), options and errors, end to end from
ledgers through ingest on the fleet sample (tests/data/fleet)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import reconcile
from helpers.pairing_ledger import NS, Event, events_table, make_event
from helpers.pairing_model import model_pair
from reconcile.exceptions import InputError, UsageError

FLEET = Path(__file__).resolve().parents[2] / "data" / "fleet"
T0 = 1_777_000_000 * NS


def _small() -> list[Event]:
    return [
        make_event("vm.compute.start", "vm-a", T0, "/l/a.jsonl", 1, cpu=2, reason="boot"),
        make_event("vm.compute.stop", "vm-a", T0 + 60 * NS, "/l/a.jsonl", 2, reason="stop-user"),
        make_event("vm.storage.stop", "vm-a", T0 + 70 * NS, "/l/a.jsonl", 3),
        make_event("snap.storage.start", "snap-1", T0 + 80 * NS, "/l/a.jsonl", 4, storage_bytes=1 << 30),
    ]


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fleet sample copied and ingested into a fresh store: (ledger folder, store folder)."""
    root = tmp_path_factory.mktemp("pair-fleet")
    ledgers = root / "fleet"
    shutil.copytree(FLEET, ledgers)
    store = root / "store"
    reconcile.ingest([ledgers], store, quiet=True)
    return ledgers, store


def _store_events(store: Path) -> list[Event]:
    files = reconcile.Store(store).event_files()
    rows = pl.concat([pl.read_parquet(f) for f in files]).to_dicts()
    names = set(Event.__dataclass_fields__)
    return [Event(**{k: v for k, v in row.items() if k in names}) for row in rows]


def _model_check(pairing: reconcile.Pairing, events: list[Event], cut_off_ns: int, policy: str) -> None:
    model = model_pair(events, cut_off_ns, policy)
    got = {r["interval_id"]: (r["status"], r["end_event_id"]) for r in pairing.intervals.collect().to_dicts()}
    assert got == {i["interval_id"]: (i["status"], i["end_event_id"]) for i in model.intervals}
    got_anomalies = sorted((a["code"], a["event_id"]) for a in pairing.anomalies.collect().to_dicts())
    assert got_anomalies == sorted((a["code"], a["event_id"]) for a in model.anomalies)
    roles = pairing.roles.collect()
    assert dict(zip(roles["event_id"], roles["role"], strict=True)) == model.roles


def test_fleet_end_to_end_through_ingest(fleet_store: tuple[Path, Path]) -> None:
    """Ledgers -> ingest -> pair: every stored event before the cut-off has one role; SQL equals model."""
    _, store = fleet_store
    events = _store_events(store)
    assert len(events) > 500
    instants = sorted(e.emitted_ns for e in events)
    for cut_off_ns in (instants[len(instants) // 2], instants[-1] + 1):
        for policy in ("close", "drop"):
            pairing = reconcile.pair(reconcile.Store(store), cut_off_ns, double_start=policy)
            roles = pairing.roles.collect()
            before = sorted(e.event_id for e in events if e.emitted_ns < cut_off_ns)
            assert sorted(roles["event_id"]) == before
            assert roles["event_id"].n_unique() == roles.height
            _model_check(pairing, events, cut_off_ns, policy)


def test_fleet_pairing_shows_producer_patterns(fleet_store: tuple[Path, Path]) -> None:
    """On the fleet sample, restarts and restores pair at their shared instant; interval_id is the start's."""
    _, store = fleet_store
    pairing = reconcile.pair(store, dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    intervals = pairing.intervals.collect()
    assert set(intervals["status"]) >= {"closed", "open"}
    assert (intervals["interval_id"] == intervals["start_event_id"]).all()
    closed = intervals.filter(pl.col("status") == "closed")
    assert (closed["end_ns"] >= closed["start_ns"]).all()
    # an interval ending exactly where the resource's next one starts: the same-instant patterns
    chained = intervals.join(
        intervals, left_on=["family", "resource_id", "end_ns"], right_on=["family", "resource_id", "start_ns"]
    )
    pattern = chained.group_by("status", "end_reason", "start_reason_right").len()
    found = {(r["status"], r["end_reason"], r["start_reason_right"]): r["len"] for r in pattern.to_dicts()}
    assert found.get(("closed", "stop-crash", "restart"), 0) > 0  # crash stop + restart at one instant
    assert found.get(("closed", "restore", "restore"), 0) > 0  # storage restore at one instant
    double_starts = set(pairing.anomalies.collect().filter(pl.col("code") == "double_start")["event_id"])
    restarted_after_crash = set(chained.filter(pl.col("end_reason") == "stop-crash")["start_event_id_right"])
    assert not double_starts & restarted_after_crash


def test_interval_ids_survive_reingest_and_later_ingests(
    fleet_store: tuple[Path, Path], tmp_path: Path
) -> None:
    """Re-ingesting the same files, then ingesting a later file, keeps every earlier interval_id."""
    ledgers, store = fleet_store
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    cut_off = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    before = reconcile.pair(copy, cut_off).intervals.collect()
    reconcile.ingest([ledgers], copy, quiet=True)  # nothing new: rotated copies are duplicates
    again = reconcile.pair(copy, cut_off).intervals.collect()
    assert sorted(again.rows()) == sorted(before.rows())
    later = tmp_path / "later" / "ledger.jsonl"
    later.parent.mkdir()
    open_rows = before.filter(pl.col("status") == "open").sort("interval_id").head(1).to_dicts()
    assert open_rows, "the fleet sample leaves some interval open"
    row = open_rows[0]
    family, resource = row["family"], row["resource_id"]
    id_field = "vm_id" if family.startswith("vm.") else "snapshot_id"
    later.write_text(
        f'{{"kind":"{family}.stop","{id_field}":"{resource}","reason":"stop-user","shape":{{}},'
        '"emitted_at":"2099-01-01T00:00:00Z"}\n',
        encoding="utf-8",
    )
    reconcile.ingest([later], copy, quiet=True)
    after = reconcile.pair(copy, cut_off).intervals.collect()
    assert set(before["interval_id"]) <= set(after["interval_id"])
    closed = after.filter(pl.col("interval_id") == row["interval_id"]).to_dicts()[0]
    assert closed["status"] == "closed"
    assert closed["end_source"] == f"{later}:1"


def test_pair_accepts_files_frames_and_tables(tmp_path: Path) -> None:
    """A list of Parquet files, a Parquet path, a polars frame and an Arrow table pair the same way."""
    table = events_table(_small())
    path = tmp_path / "events.parquet"
    pq.write_table(table, path)
    cut = T0 + 3600 * NS
    results = [
        reconcile.pair(table, cut),
        reconcile.pair([path], cut),
        reconcile.pair(path, cut),
        reconcile.pair(pl.from_arrow(table), cut),
        reconcile.pair(pl.from_arrow(table).lazy(), cut),  # type: ignore[union-attr]
    ]
    first = sorted(results[0].intervals.collect().rows())
    assert {r[0] for r in first} == {_small()[0].event_id, _small()[3].event_id}
    for other in results[1:]:
        assert sorted(other.intervals.collect().rows()) == first
        assert sorted(other.anomalies.collect().rows()) == sorted(results[0].anomalies.collect().rows())


def test_pair_options_datetime_and_timedelta() -> None:
    """cut_off as an aware datetime equals its nanoseconds; stale_after as a timedelta flags stale opens."""
    table = events_table(_small())
    cut_dt = dt.datetime.fromtimestamp(T0 // NS, tz=dt.UTC) + dt.timedelta(hours=2)
    by_dt = reconcile.pair(table, cut_dt, stale_after=dt.timedelta(hours=1))
    by_ns = reconcile.pair(table, T0 + 7200 * NS, stale_after=3600 * NS)
    assert by_dt.cut_off_ns == by_ns.cut_off_ns == T0 + 7200 * NS
    assert sorted(by_dt.anomalies.collect()["code"]) == ["orphan_stop", "stale_open"]
    assert sorted(by_dt.anomalies.collect().rows()) == sorted(by_ns.anomalies.collect().rows())
    off = reconcile.pair(table, cut_dt)
    assert sorted(off.anomalies.collect()["code"]) == ["orphan_stop"]


def test_pair_refuses_bad_options(tmp_path: Path) -> None:
    """Naive datetimes, unknown policies, negative durations and missing inputs are usage/input errors."""
    table = events_table(_small())
    with pytest.raises(UsageError, match="naive"):
        reconcile.pair(table, dt.datetime(2026, 5, 1))
    with pytest.raises(UsageError, match="double_start"):
        reconcile.pair(table, T0, double_start="keep")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="stale_after"):
        reconcile.pair(table, T0, stale_after=-1)
    with pytest.raises(UsageError, match="cut_off"):
        reconcile.pair(table, "2026-05-01")  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"missing\.parquet"):
        reconcile.pair([tmp_path / "missing.parquet"], T0)
    with pytest.raises(InputError, match="nowhere"):
        reconcile.pair(tmp_path / "nowhere", T0)


def test_pair_of_no_events_gives_typed_empty_frames() -> None:
    """An empty list of event files pairs to empty frames that still carry the contract columns."""
    pairing = reconcile.pair([], T0)
    intervals = pairing.intervals.collect()
    assert intervals.height == 0
    assert intervals.schema["start_at"] == pl.Datetime("ns", "UTC")
    assert pairing.anomalies.collect().height == 0
    assert pairing.roles.collect().columns == ["event_id", "role"]
