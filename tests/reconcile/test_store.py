"""The event store: commit point, readers, lock, clean-up of a crashed writer."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import duckdb
import pytest

from reconcile import Store, StoreError, StoreLockedError
from reconcile._store import EVENT_COLUMNS, REJECT_COLUMNS, FileState


def _write_parquet(path: Path, columns: tuple[tuple[str, str], ...]) -> None:
    con = duckdb.connect()
    casts = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns)
    con.sql(f"SELECT {casts} WHERE false").write_parquet(str(path))


def _commit_empty(store: Store, files: dict[str, FileState] | None = None) -> str:
    with store.writer() as writer:
        _write_parquet(writer.events_tmp, EVENT_COLUMNS)
        _write_parquet(writer.rejects_tmp, REJECT_COLUMNS)
        writer.commit({"ingest_id": writer.ingest_id, "lines": 0}, files or {})
        return writer.ingest_id


def test_no_store_is_an_error(tmp_path: Path) -> None:
    """Reading a folder without store.json raises StoreError naming it; ingest_ids is empty."""
    store = Store(tmp_path / "missing")
    assert store.ingest_ids() == []
    with pytest.raises(StoreError, match="folder does not exist"):
        store.event_files()
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match=r"store\.json is missing"):
        Store(tmp_path / "empty").event_files()


def test_commit_makes_files_visible_in_order(tmp_path: Path) -> None:
    """Each commit appends one ingest; readers list its events and rejects files, oldest first."""
    store = Store(tmp_path / "s")
    first = _commit_empty(store, {"/a": FileState(10, 2, "ab", compressed=False)})
    second = _commit_empty(store, {"/a": FileState(20, 4, "cd", compressed=False)})
    assert store.ingest_ids() == [first, second]
    assert first < second
    assert store.event_files() == [
        store.events_dir / f"{first}.parquet",
        store.events_dir / f"{second}.parquet",
    ]
    assert all(p.is_file() for p in store.event_files() + store.reject_files())
    assert [r["ingest_id"] for r in store.ingest_records()] == [first, second]
    assert store.files_state() == {"/a": FileState(20, 4, "cd", compressed=False)}
    manifest = json.loads(store.manifest_path.read_text())
    assert manifest == {"format": 1, "ingests": [first, second]}


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
    kept = _commit_empty(store)
    stray = ["20990101T000000000000Z-deadbeef.parquet", "x.parquet.tmp"]
    for name in stray:
        (store.events_dir / name).write_bytes(b"junk")
    (store.ingests_dir / "20990101T000000000000Z-deadbeef.json").write_text("{}")
    (store.path / "files.20990101T000000000000Z-deadbeef.json").write_text("{}")
    (store.path / "store.json.tmp").write_text("{}")
    assert store.ingest_ids() == [kept]
    with store.writer():
        pass
    assert sorted(p.name for p in store.events_dir.iterdir()) == [f"{kept}.parquet"]
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
    with store.writer():
        pass
    assert not pending.exists()
    assert json.loads(store.files_path.read_text())["files"]["/a"]["sha256"] == "new"


def test_lock_refuses_or_waits(tmp_path: Path) -> None:
    """A second writer fails at once with a clear error, or waits for the first with wait=."""
    store = Store(tmp_path / "s")
    released = threading.Event()

    def hold() -> None:
        with store.writer():
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
            store.writer(),
        ):
            pass
        released.set()
        started = time.monotonic()
        with store.writer(wait=10):
            waited = time.monotonic() - started
        assert waited > 0.1
    finally:
        released.set()
        thread.join()
