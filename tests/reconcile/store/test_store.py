"""The event store: commit point, readers, lock, clean-up of a crashed writer."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from helpers.pairing_ledger import EVENT_SCHEMA
from helpers.run_fixture import ev, ingest_records, stage_events
from reconcile import Store, StoreError, StoreLockedError
from reconcile._core._period import parse_instant
from reconcile._store._reader import EVENT_COLUMNS, REJECT_COLUMNS, FileState
from reconcile._store._writer import open_writer


def _write_parquet(path: Path, columns: tuple[tuple[str, str], ...]) -> None:
    con = duckdb.connect()
    casts = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns)
    con.sql(f"SELECT {casts} WHERE false").write_parquet(str(path))


def _commit_empty(store: Store, files: dict[str, FileState] | None = None) -> str:
    with open_writer(store) as writer:
        _write_parquet(writer.rejects_tmp, REJECT_COLUMNS)  # (no event: no events file)
        writer.commit({"ingest_id": writer.ingest_id, "lines": 0}, files or {})
        return writer.ingest_id


def _commit_events(store: Store, *instants: str) -> str:
    """One ingest whose events are at the given instants (one resource each)."""
    rows = [ev("vm.compute.start", f"vm-{at}", at, cpu=1) for at in instants]
    with open_writer(store) as writer:
        table = pa.Table.from_pylist(
            [
                {
                    **row,
                    "emitted_at": pa.scalar(row["emitted_ns"], pa.timestamp("ns", tz="UTC")),
                    "source_file": "/l.jsonl",
                    "source_line": n,
                    "ingest_id": writer.ingest_id,
                }
                for n, row in enumerate(rows, start=1)
            ],
            schema=EVENT_SCHEMA,
        )
        stage_events(writer, table)
        _write_parquet(writer.rejects_tmp, REJECT_COLUMNS)
        writer.commit({"ingest_id": writer.ingest_id}, {})
        return writer.ingest_id


def test_no_store_is_an_error(tmp_path: Path) -> None:
    """Reading a folder without store.json raises StoreError naming it; ingest_ids is empty."""
    store = Store(tmp_path / "nothing")
    assert store.ingest_ids() == []
    with pytest.raises(StoreError, match="nothing"):
        store.event_files()
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match=r"store\.json is missing"):
        Store(tmp_path / "empty").event_files()


def test_commit_makes_files_visible_in_order(tmp_path: Path) -> None:
    """Each commit appends one ingest with its statistics; readers list its files, oldest first."""
    store = Store(tmp_path / "s")
    first = _commit_empty(store, {"/a": FileState(10, 2, "ab", compressed=False)})
    second = _commit_empty(store, {"/a": FileState(20, 4, "cd", compressed=False)})
    assert store.ingest_ids() == [first, second]
    assert first < second
    assert store.event_files() == []
    assert all(p.is_file() for p in store.reject_files())
    assert [r["ingest_id"] for r in ingest_records(store.path)] == [first, second]
    assert store.files_state() == {"/a": FileState(20, 4, "cd", compressed=False)}
    manifest = json.loads(store.catalog_path.read_text())
    records = [entry.pop("files") for entry in manifest["ingests"]]
    assert manifest == {
        "format": 2,
        "ingests": [
            {"id": first, "events": 0, "first_ns": None, "last_ns": None, "days": {}},
            {"id": second, "events": 0, "first_ns": None, "last_ns": None, "days": {}},
        ],
    }
    # each ingest records its one file, its rejects, as committed (size, rows, hash)
    for ingest_id, files in zip([first, second], records, strict=True):
        rejects = store.rejects_path(ingest_id)
        assert files == {
            f"rejects/{ingest_id}.parquet": {
                "bytes": rejects.stat().st_size,
                "rows": 0,
                "sha256": hashlib.sha256(rejects.read_bytes()).hexdigest(),
            }
        }


def test_events_are_partitioned_by_utc_day_and_read_by_days(tmp_path: Path) -> None:
    """An ingest's events land in one file per UTC day; a range of days reads only those files;
    store.json holds each ingest's first and last instant."""
    store = Store(tmp_path / "s")
    first = _commit_events(
        store, "2026-11-01T23:59:59.999999999Z", "2026-11-02T00:00:00Z", "2026-11-05T12:00:00+09:00"
    )
    second = _commit_events(store, "2026-11-02T10:00:00Z")
    assert store.event_files(dt.date(2026, 11, 2), dt.date(2026, 11, 2)) == [
        store.day_events_path("2026-11-02", first),
        store.day_events_path("2026-11-02", second),
    ]
    assert store.event_files(dt.date(2026, 11, 5)) == [store.day_events_path("2026-11-05", first)]
    assert len(store.event_files()) == 4
    assert store.first_instants() == {
        first: parse_instant("2026-11-01T23:59:59.999999999Z"),
        second: parse_instant("2026-11-02T10:00:00Z"),
    }
    (entry, _) = store.ingests()
    assert (entry.events, entry.days) == (3, {"2026-11-01": 1, "2026-11-02": 1, "2026-11-05": 1})
    assert entry.last_ns == parse_instant("2026-11-05T03:00:00Z")
    sql, params = store.relation_sql("events", first_day=dt.date(2026, 11, 2))
    assert duckdb.connect().execute(f"SELECT count(*) FROM ({sql})", params).fetchone() == (3,)


def test_a_format_1_store_is_read_and_upgraded_with_the_same_ingest_ids(tmp_path: Path) -> None:
    """A store of the old layout (one events file per ingest) is read as it is, and the next writer
    rewrites it into day files under the same ingest ids, so run_ids do not change."""
    store = Store(tmp_path / "s")
    ids = [
        _commit_events(store, "2026-11-01T10:00:00Z", "2026-11-03T10:00:00Z"),
        _commit_events(store, "2026-11-02T00:00:00Z"),
    ]
    con = duckdb.connect()
    before = con.execute(
        f"SELECT * FROM ({store.relation_sql('events')[0]}) ORDER BY ALL", store.relation_sql("events")[1]
    ).fetchall()
    for ingest_id in ids:  # back to format 1: one file per ingest, store.json a list of ids
        files = [f for f in store.event_files() if f.name.startswith(ingest_id)]
        con.execute(
            "COPY (SELECT * FROM read_parquet(?, hive_partitioning = false)) TO ? (FORMAT parquet)",
            [[str(f) for f in files], str(store.flat_events_path(ingest_id))],
        )
        for f in files:
            f.unlink()
    store.catalog_path.write_text(json.dumps({"format": 1, "ingests": ids}))
    old = Store(store.path)
    assert old.format == 1
    assert old.event_files() == [old.flat_events_path(i) for i in ids]
    assert old.first_instants() == {
        ids[0]: parse_instant("2026-11-01T10:00:00Z"),
        ids[1]: parse_instant("2026-11-02T00:00:00Z"),
    }
    with open_writer(old):
        pass
    new = Store(store.path)
    assert new.format == 2
    assert new.ingest_ids() == ids
    assert not any(new.flat_events_path(i).exists() for i in ids)
    assert new.ingests()[0].days == {"2026-11-01": 1, "2026-11-03": 1}
    after = con.execute(
        f"SELECT * FROM ({new.relation_sql('events')[0]}) ORDER BY ALL", new.relation_sql("events")[1]
    ).fetchall()
    assert after == before


def test_empty_relation_has_contract_types(tmp_path: Path) -> None:
    """A store with only empty ingests still gives typed events and rejects relations."""
    store = Store(tmp_path / "s")
    _commit_empty(store)
    con = duckdb.connect()
    for table, columns in (("events", EVENT_COLUMNS), ("rejects", REJECT_COLUMNS)):
        sql, params = store.relation_sql(table)
        described = con.execute(f"DESCRIBE {sql}", params).fetchall()
        assert [(row[0], row[1]) for row in described] == list(columns)
        assert store.read_table(table).num_rows == 0


def test_uncommitted_files_are_ignored_then_removed(tmp_path: Path) -> None:
    """Files a crashed writer left are invisible to readers and removed by the next writer."""
    store = Store(tmp_path / "s")
    kept = _commit_events(store, "2026-11-01T10:00:00Z")
    day = store.events_dir / "day=2026-11-01"
    stray = [day / "20990101T000000000000Z-deadbeef.parquet", store.events_dir / "x.parquet.tmp"]
    (store.events_dir / "day=2026-11-09").mkdir()
    stray.append(store.events_dir / "day=2026-11-09" / f"{kept}.parquet")
    for path in stray:
        path.write_bytes(b"junk")
    (store.ingests_dir / "20990101T000000000000Z-deadbeef.json").write_text("{}")
    (store.path / "files.20990101T000000000000Z-deadbeef.json").write_text("{}")
    (store.path / "store.json.tmp").write_text("{}")
    assert store.ingest_ids() == [kept]
    with open_writer(store):
        pass
    assert sorted(p.name for p in store.events_dir.iterdir()) == ["day=2026-11-01"]
    assert sorted(p.name for p in day.iterdir()) == [f"{kept}.parquet"]
    assert sorted(p.name for p in store.ingests_dir.iterdir()) == [f"{kept}.json"]
    assert not list(store.path.glob("*.tmp"))
    assert not list(store.path.glob("files.*.json"))


def test_files_state_survives_a_crash_between_commit_and_rename(tmp_path: Path) -> None:
    """If the writer died after store.json but before files.json, readers use the pending state."""
    store = Store(tmp_path / "s")
    _commit_empty(store, {"/a": FileState(1, 1, "old", compressed=False)})
    last = _commit_empty(store, {"/a": FileState(2, 2, "new", compressed=False)})
    # simulate the crash: the new state is still under its pending name, files.json is the old one
    pending = store.path / f"files.{last}.json"
    store.files_path.replace(pending)
    store.files_path.write_text(
        json.dumps({"format": 1, "files": {"/a": FileState(1, 1, "old", False).to_json()}})
    )
    assert store.files_state()["/a"].sha256 == "new"
    with open_writer(store):
        pass
    assert not pending.exists()
    assert json.loads(store.files_path.read_text())["files"]["/a"]["sha256"] == "new"


def test_lock_refuses_or_waits(tmp_path: Path) -> None:
    """A second writer fails at once with a clear error, or waits for the first with wait=."""
    store = Store(tmp_path / "s")
    released = threading.Event()

    def hold() -> None:
        with open_writer(store):
            entered.set()
            released.wait(10)
            time.sleep(0.3)

    entered = threading.Event()
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert entered.wait(10)
        with (
            pytest.raises(StoreLockedError, match=r"is locked by another ingest \(pid \d+\).*--wait"),
            open_writer(store),
        ):
            pass
        released.set()
        started = time.monotonic()
        with open_writer(store, wait=10):
            waited = time.monotonic() - started
        assert waited > 0.1
    finally:
        released.set()
        thread.join()
