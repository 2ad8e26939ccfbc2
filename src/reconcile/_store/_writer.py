"""The writing side of the event store: the lock, one ingest's atomic commit, cleanup, format upgrade.

- A writer stages its events as Parquet partitioned by ``day=YYYY-MM-DD`` under its scratch folder
  (:attr:`StoreWriter.events_stage`) and its rejects as one file; :meth:`StoreWriter.commit` renames
  them to their final names (still invisible: ``store.json`` does not list them yet), writes the
  ingest record and the new per-file state as ``files.<ingest_id>.json``, then commits ``store.json``
  with the ingest's statistics (events, first and last instant, days, from the files' Parquet
  statistics); after the commit it renames ``files.<ingest_id>.json`` to ``files.json``. If it dies
  between the two renames, the next reader or writer uses ``files.<last committed id>.json``.
- The next writer removes whatever a crashed writer left: files of ingests (or days) ``store.json``
  does not list, ``*.tmp`` files, other ``files.<id>.json``, and ``.tmp/``.
- Every file an ingest commits is recorded in its ``store.json`` entry (size, row count, SHA-256:
  ``_integrity``), hashed as it is placed. An entry from before records were kept is given them by
  the first writer that opens the store (:meth:`StoreWriter.record_missing`: its day files' rows
  must add up to its event count, else the store is damaged and nothing is written).
- A format-1 store is upgraded by the first writer that opens it (:meth:`StoreWriter.upgrade`): each
  ingest's one events file is rewritten into day files under the same ingest id, ``store.json`` is
  committed as format 2, then the old files are removed. Killed half-way, the store is still format 1
  (the new files are unlisted and cleaned up) and the next writer starts again.
- One writer at a time: ``fcntl.flock`` on ``DIR/.lock``. A second writer polls for up to ``wait``
  seconds, then raises :class:`StoreLockedError` naming the store and the holder's pid. The lock dies
  with its process, so a killed ingest never leaves a stale lock. Everything a writer creates is
  private (0600 files, 0700 folders).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb

from reconcile._core import _faults
from reconcile._core import _schema as schema
from reconcile._core._duckdb import literal, utc
from reconcile._core._files import (
    flock_exclusive,
    fsync_path,
    open_lock_file,
    private_files,
    write_json_atomic,
)
from reconcile._core._integrity import record_files
from reconcile._core._jsonvalue import JsonObject
from reconcile._core._signals import critical
from reconcile._store._reader import (
    DAMAGED_HINT,
    STORE_FORMAT,
    FileState,
    IngestEntry,
    Store,
    _instant_range,
    new_ingest_id,
)
from reconcile.exceptions import DamagedFileError, StoreError


@contextlib.contextmanager
def open_writer(store: Store, *, wait: float = 0.0) -> Iterator[StoreWriter]:
    """Lock ``store`` for writing (creating the folder if needed), clean up a crashed writer and
    upgrade a format-1 store. Waits up to ``wait`` seconds for another writer, then raises
    :class:`StoreLockedError`."""
    try:
        fd = open_lock_file(store.path)
    except OSError as exc:
        raise StoreError(f"cannot open the event store {store.path}: {exc.strerror}") from None
    try:
        flock_exclusive(
            fd,
            wait=wait,
            busy=lambda holder: (
                f"event store {store.path} is locked by another ingest (pid {holder});"
                " try again later or pass --wait SECONDS"
            ),
        )
        with private_files():  # everything the writer creates is private (0600 / 0700)
            writer = StoreWriter(store)
            writer.cleanup()
            if store.exists() and store.format < STORE_FORMAT:
                writer.upgrade()
            writer.record_missing()
            try:
                yield writer
            finally:
                shutil.rmtree(store.tmp_dir, ignore_errors=True)
    finally:
        os.close(fd)  # releases the flock


class StoreWriter:
    """The locked writing side of a :class:`Store`: one new ingest, committed atomically."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ingest_id = new_ingest_id()

    @property
    def work_dir(self) -> Path:
        """Scratch folder for this ingest (removed when the writer closes or by the next writer)."""
        path = self.store.tmp_dir / self.ingest_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def events_stage(self) -> Path:
        """Where to write this ingest's events before the commit: Parquet partitioned by
        ``day=YYYY-MM-DD`` (DuckDB's ``PARTITION_BY (day)``), in the store's events columns."""
        return self.work_dir / "events"

    @property
    def rejects_tmp(self) -> Path:
        """Where to write this ingest's rejects before the commit."""
        return self.store.rejects_path(self.ingest_id).with_suffix(".parquet.tmp")

    # --- cleanup ------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Remove what crashed writers left behind; finish a half-done ``files.json`` rename."""
        store = self.store
        entries = store.ingests()
        if entries:
            pending = store.pending_files_path(entries[-1].id)
            if pending.is_file():
                pending.replace(store.files_path)
                fsync_path(store.path)
        kept = {store.rejects_path(e.id) for e in entries} | {store.record_path(e.id) for e in entries}
        kept |= {store.flat_events_path(e.id) for e in entries if e.flat}
        kept |= {
            store.day_events_path(day, e.id, k)
            for e in entries
            for day, n in e.days.items()
            for k in range(n)
        }
        for folder in (store.events_dir, store.rejects_dir, store.ingests_dir):
            folder.mkdir(exist_ok=True)
        for entry in [
            *store.events_dir.iterdir(),
            *store.rejects_dir.iterdir(),
            *store.ingests_dir.iterdir(),
        ]:
            if entry.is_dir() and entry.name.startswith("day="):
                for file in entry.iterdir():
                    if file not in kept:
                        _remove(file)
                with contextlib.suppress(OSError):
                    entry.rmdir()  # (only when empty)
            elif entry not in kept:
                _remove(entry)
        for entry in store.path.glob("files.*.json"):
            _remove(entry)
        for pattern in ("*.tmp", "*.tmp-*"):  # write_json_atomic's temp files
            for entry in store.path.glob(pattern):
                _remove(entry)
        shutil.rmtree(store.tmp_dir, ignore_errors=True)

    # --- committing ---------------------------------------------------------------------------

    def _place_events(self, stage: Path, ingest_id: str) -> IngestEntry:
        """Rename the day files staged under ``stage`` to their final names; the ingest's entry."""
        store = self.store
        days: dict[str, int] = {}
        events, lows, highs = 0, [], []
        placed: list[Path] = []
        if stage.is_dir():
            for folder in sorted(stage.glob("day=*")):
                day = folder.name.removeprefix("day=")
                for part, file in enumerate(sorted(folder.glob("*.parquet"))):
                    low, high, rows = _instant_range(file)
                    if rows == 0:
                        continue
                    fsync_path(file)
                    final = store.day_events_path(day, ingest_id, part)
                    final.parent.mkdir(exist_ok=True)
                    file.replace(final)
                    placed.append(final)
                    days[day] = part + 1
                    events += rows
                    lows.append(low)
                    highs.append(high)
            for day in days:
                fsync_path(store.events_dir / f"day={day}")
        return IngestEntry(
            id=ingest_id,
            events=events,
            first_ns=min((v for v in lows if v is not None), default=None),
            last_ns=max((v for v in highs if v is not None), default=None),
            days=days,
            files=dict(zip([store.relative(p) for p in placed], record_files(placed), strict=True)),
        )

    def commit(self, record: JsonObject, files: dict[str, FileState]) -> IngestEntry:
        """Make this ingest visible: rename its files into place, then replace ``store.json``.

        ``record`` is the ingest record; ``files`` the complete per-file state after this ingest.
        The caller has written :attr:`events_stage` and :attr:`rejects_tmp`. Returns its entry.
        """
        with critical():  # a SIGTERM waits for the ingest to be committed whole (``_signals``)
            return self._commit(record, files)

    def _commit(self, record: JsonObject, files: dict[str, FileState]) -> IngestEntry:
        store = self.store
        _faults.point("before-commit")
        entry = self._place_events(self.events_stage, self.ingest_id)
        fsync_path(self.rejects_tmp)
        rejects = store.rejects_path(self.ingest_id)
        self.rejects_tmp.replace(rejects)
        entry = replace(entry, files={**entry.files, store.relative(rejects): record_files([rejects])[0]})
        record = {**record, "store_entry": entry.to_json()}
        write_json_atomic(store.record_path(self.ingest_id), record, compact=True)  # (one entry a file)
        fsync_path(store.events_dir)
        fsync_path(store.rejects_dir)
        pending = store.pending_files_path(self.ingest_id)
        write_json_atomic(
            pending,
            {
                "format": STORE_FORMAT,
                "ingest_id": self.ingest_id,
                "files": {name: state.to_json() for name, state in sorted(files.items())},
            },
            compact=True,  # (an entry for every file the store ever read)
        )
        _faults.point("before-store-json")
        entries = [*store.ingests(), entry]
        write_json_atomic(
            store.catalog_path, {"format": STORE_FORMAT, "ingests": [e.to_json() for e in entries]}
        )
        _faults.point("after-store-json")
        pending.replace(store.files_path)
        fsync_path(store.path)
        return entry

    def record_missing(self) -> None:
        """Give every committed ingest without file records its records (module doc), taken from
        its files as they are now: an ingest's day files must hold its event count, else
        :class:`DamagedFileError` and nothing is written."""
        store = self.store
        entries = store.ingests()
        if not any(not e.files and not e.flat for e in entries):
            return
        updated = []
        for entry in entries:
            if entry.files or entry.flat:
                updated.append(entry)
                continue
            files = [
                store.day_events_path(day, entry.id, k)
                for day, n in sorted(entry.days.items())
                for k in range(n)
            ]
            paths = [*files, store.rejects_path(entry.id)]
            missing = next((p for p in paths if not p.is_file()), None)
            if missing is not None:
                raise DamagedFileError(
                    missing, "a file store.json lists", "no file", DAMAGED_HINT.format(store=store.path)
                )
            records = record_files(paths)
            rows = sum(r.rows for r in records[: len(files)])
            if entry.events is not None and rows != entry.events:
                raise DamagedFileError(
                    store.events_dir / f"day=*/{entry.id}*.parquet",
                    f"{entry.events:,} events (store.json)",
                    f"{rows:,} rows in its {len(files)} day file(s)",
                    DAMAGED_HINT.format(store=store.path),
                )
            updated.append(
                replace(entry, files=dict(zip([store.relative(p) for p in paths], records, strict=True)))
            )
        write_json_atomic(
            store.catalog_path, {"format": STORE_FORMAT, "ingests": [e.to_json() for e in updated]}
        )

    def upgrade(self) -> None:
        """Rewrite a format-1 store's events into day files (same ingest ids) and commit format 2."""
        store = self.store
        entries = []
        con = utc(
            duckdb.connect(config={"memory_limit": "512MB", "temp_directory": str(self.work_dir / "duckdb")})
        )
        try:
            for old in store.ingests():
                if not old.flat:
                    entries.append(old)
                    continue
                stage = self.work_dir / f"upgrade-{old.id}"
                con.execute(
                    copy_events_by_day("SELECT * FROM read_parquet(?, hive_partitioning = false)"),
                    [literal(store.flat_events_path(old.id)), str(stage)],
                )
                entries.append(self._place_events(stage, old.id))
        finally:
            con.close()
        write_json_atomic(
            store.catalog_path, {"format": STORE_FORMAT, "ingests": [e.to_json() for e in entries]}
        )
        for entry in entries:
            store.flat_events_path(entry.id).unlink(missing_ok=True)


def copy_events_by_day(query: str) -> str:
    """A statement writing ``query``'s events (the store's columns) as zstd Parquet partitioned by
    their UTC day into the folder given as its last parameter (zstd level 1: 20% less CPU than
    DuckDB's default 3, and no bigger for an events file, mostly md5 hex)."""
    return (
        f"COPY (SELECT {_EVENT_COLUMNS}, strftime(make_timestamp_ns(emitted_ns), '%Y-%m-%d') AS day"
        f" FROM ({query})) TO ? ({_EVENTS_OPTIONS}, PARTITION_BY (day))"
    )


def copy_events(query: str) -> str:
    """A statement writing ``query``'s events (the store's columns, one UTC day's) as one zstd
    Parquet file, the file given as its last parameter (``events_stage/day=YYYY-MM-DD/...``)."""
    return f"COPY (SELECT {_EVENT_COLUMNS} FROM ({query})) TO ? ({_EVENTS_OPTIONS})"


_EVENT_COLUMNS = ", ".join(schema.EVENTS)  # exactly the contract's columns, in its order
_EVENTS_OPTIONS = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
