"""The event store on disk: layout, writer lock, atomic commit, readers (docs/ARCHITECTURE.md).

Layout of a store folder ``DIR``::

    DIR/store.json                  the commit point: {"format": 1, "ingests": [ingest ids, oldest first]}
    DIR/events/<ingest_id>.parquet  events added by that ingest (zstd)
    DIR/rejects/<ingest_id>.parquet rejects found by that ingest (zstd)
    DIR/ingests/<ingest_id>.json    the ingest record (inputs with size and SHA-256, counts)
    DIR/files.json                  per input file: bytes and lines consumed, SHA-256 of that prefix
    DIR/.lock                       flock held by the one writer
    DIR/.tmp/                       scratch space of the running writer (DuckDB spill files, copies)

Choices:

- Readers see only what ``store.json`` lists; it is replaced atomically (write a temp file, fsync,
  ``rename``, fsync the folder), so a writer killed at any point leaves the store as it was before or
  after its ingest. Committed files are never modified or removed: the store only grows.
- A writer writes its Parquet files under ``*.tmp`` names, renames them to their final names (still
  invisible: ``store.json`` does not list them yet), writes the ingest record and the new per-file state
  as ``files.<ingest_id>.json``, then commits ``store.json``; after the commit it renames
  ``files.<ingest_id>.json`` to ``files.json``. If it dies between the two renames, the next reader
  or writer sees ``files.<last committed id>.json`` and uses it (a writer completes the rename).
- The next writer removes whatever a crashed writer left: files of ingests not in ``store.json``,
  ``*.tmp`` files, other ``files.<id>.json``, and ``.tmp/``.
- One writer at a time: ``fcntl.flock`` on ``DIR/.lock``. A second writer polls for up to ``wait``
  seconds, then raises :class:`StoreLockedError` naming the store and the holder's pid. The lock dies
  with its process, so a killed ingest never leaves a stale lock.
- Ingest ids sort by time: ``YYYYMMDDTHHMMSSffffffZ-<8 hex>``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from reconcile import _schema as schema
from reconcile._engine import literals
from reconcile._files import flock_exclusive, fsync_path, open_lock_file, private_files, write_json_atomic
from reconcile.exceptions import StoreError

STORE_FORMAT = 1

# The events and rejects columns (docs/ARCHITECTURE.md), as DuckDB column definitions: used to give
# readers a correctly typed empty relation when a store has no ingest yet.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = tuple(schema.EVENTS.items())
REJECT_COLUMNS: tuple[tuple[str, str], ...] = tuple(schema.REJECTS.items())


@dataclass(frozen=True)
class FileState:
    """What the store has consumed of one input file (an entry of ``files.json``).

    ``bytes``/``lines``: the prefix consumed (complete lines only); ``sha256``: digest of that prefix;
    ``compressed``: a gzip file, consumed whole (its digest is of the whole compressed file).
    """

    bytes: int
    lines: int
    sha256: str
    compressed: bool

    def to_json(self) -> dict[str, Any]:
        """The ``files.json`` entry."""
        return {
            "bytes": self.bytes,
            "lines": self.lines,
            "sha256": self.sha256,
            "compressed": self.compressed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileState:
        """Read a ``files.json`` entry."""
        return cls(
            bytes=int(data["bytes"]),
            lines=int(data["lines"]),
            sha256=str(data["sha256"]),
            compressed=bool(data.get("compressed", False)),
        )


def new_ingest_id() -> str:
    """A fresh ingest id that sorts by time."""
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"


class Store:
    """An event store folder. Reading never locks; writing goes through :meth:`writer`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # --- layout ---------------------------------------------------------------------------------

    @property
    def manifest_path(self) -> Path:
        """``DIR/store.json``, the commit point."""
        return self.path / "store.json"

    @property
    def events_dir(self) -> Path:
        """``DIR/events``."""
        return self.path / "events"

    @property
    def rejects_dir(self) -> Path:
        """``DIR/rejects``."""
        return self.path / "rejects"

    @property
    def ingests_dir(self) -> Path:
        """``DIR/ingests``."""
        return self.path / "ingests"

    @property
    def files_path(self) -> Path:
        """``DIR/files.json``."""
        return self.path / "files.json"

    @property
    def tmp_dir(self) -> Path:
        """``DIR/.tmp``: scratch space of the running writer."""
        return self.path / ".tmp"

    def events_path(self, ingest_id: str) -> Path:
        """The events Parquet file of one ingest."""
        return self.events_dir / f"{ingest_id}.parquet"

    def rejects_path(self, ingest_id: str) -> Path:
        """The rejects Parquet file of one ingest."""
        return self.rejects_dir / f"{ingest_id}.parquet"

    def record_path(self, ingest_id: str) -> Path:
        """The ingest record of one ingest."""
        return self.ingests_dir / f"{ingest_id}.json"

    def _pending_files_path(self, ingest_id: str) -> Path:
        return self.path / f"files.{ingest_id}.json"

    # --- reading --------------------------------------------------------------------------------

    def exists(self) -> bool:
        """True when the folder holds a committed store (``store.json``)."""
        return self.manifest_path.is_file()

    def _manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if not self.path.exists():
                raise StoreError(f"no event store at {self.path}: the folder does not exist") from None
            raise StoreError(
                f"no event store at {self.path}: store.json is missing (run `reconcile ingest` first)"
            ) from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {self.manifest_path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != STORE_FORMAT:
            raise StoreError(f"{self.manifest_path}: unknown store format {data!r:.80}")
        return data

    def ingest_ids(self) -> list[str]:
        """The committed ingest ids, oldest first (empty for a folder without a store)."""
        if not self.exists():
            return []
        return [str(i) for i in self._manifest().get("ingests", [])]

    def event_files(self) -> list[Path]:
        """The committed events Parquet files, oldest ingest first.

        Raises :class:`StoreError` when ``DIR`` holds no store. May be empty only if a store was
        created without events files, which ingest never does (every ingest writes both files, possibly
        with zero rows).
        """
        return [self.events_path(i) for i in self._manifest_ids()]

    def reject_files(self) -> list[Path]:
        """The committed rejects Parquet files, oldest ingest first."""
        return [self.rejects_path(i) for i in self._manifest_ids()]

    def _manifest_ids(self) -> list[str]:
        return [str(i) for i in self._manifest().get("ingests", [])]

    def ingest_records(self) -> list[dict[str, Any]]:
        """The committed ingest records (parsed ``ingests/<id>.json``), oldest first."""
        records = []
        for ingest_id in self._manifest_ids():
            path = self.record_path(ingest_id)
            try:
                records.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise StoreError(f"cannot read ingest record {path}: {exc}") from None
        return records

    def files_state(self) -> dict[str, FileState]:
        """What has been consumed of each input file, as of the last committed ingest."""
        ids = self.ingest_ids()
        if not ids:
            return {}
        path = self.files_path
        pending = self._pending_files_path(ids[-1])
        if pending.is_file():  # the last writer died between committing and renaming files.json
            path = pending
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {path}: {exc}") from None
        return {name: FileState.from_json(entry) for name, entry in data.get("files", {}).items()}

    def relation_sql(self, table: str) -> tuple[str, list[Any]]:
        """SQL text and parameters selecting the committed ``events`` or ``rejects`` rows.

        With no committed file it selects zero rows with the contract columns and types.
        """
        if table == "events":
            files, columns = self.event_files(), EVENT_COLUMNS
        elif table == "rejects":
            files, columns = self.reject_files(), REJECT_COLUMNS
        else:
            raise StoreError(f"unknown store table {table!r}: expected 'events' or 'rejects'")
        if files:
            return "SELECT * FROM read_parquet(?)", [literals(files)]
        casts = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns)
        return f"SELECT {casts} WHERE false", []

    def read_table(self, table: str, con: duckdb.DuckDBPyConnection | None = None) -> Any:  # noqa: ANN401
        """The committed ``events`` or ``rejects`` rows as a pyarrow Table."""
        sql, params = self.relation_sql(table)
        conn = con if con is not None else duckdb.connect()
        try:
            return conn.sql(sql, params=params or None).to_arrow_table()
        finally:
            if con is None:
                conn.close()

    # --- writing --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writer(self, *, wait: float = 0.0) -> Iterator[StoreWriter]:
        """Lock the store for writing (creating the folder if needed) and clean up a crashed writer.

        Waits up to ``wait`` seconds for another writer, then raises :class:`StoreLockedError`.
        """
        try:
            fd = open_lock_file(self.path)
        except OSError as exc:
            raise StoreError(f"cannot open the event store {self.path}: {exc.strerror}") from None
        try:
            flock_exclusive(
                fd,
                wait=wait,
                busy=lambda holder: (
                    f"event store {self.path} is locked by another ingest (pid {holder});"
                    " try again later or pass --wait SECONDS"
                ),
            )
            with private_files():  # everything the writer creates is private (0600 / 0700)
                writer = StoreWriter(self)
                writer.cleanup()
                try:
                    yield writer
                finally:
                    shutil.rmtree(self.tmp_dir, ignore_errors=True)
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
    def events_tmp(self) -> Path:
        """Where to write this ingest's events before the commit."""
        return self.store.events_path(self.ingest_id).with_suffix(".parquet.tmp")

    @property
    def rejects_tmp(self) -> Path:
        """Where to write this ingest's rejects before the commit."""
        return self.store.rejects_path(self.ingest_id).with_suffix(".parquet.tmp")

    def cleanup(self) -> None:
        """Remove what crashed writers left behind; finish a half-done ``files.json`` rename."""
        store = self.store
        committed = set(store.ingest_ids())
        ids = store.ingest_ids()
        if ids:
            pending = store._pending_files_path(ids[-1])
            if pending.is_file():
                pending.replace(store.files_path)
                fsync_path(store.path)
        for folder, suffix in (
            (store.events_dir, ".parquet"),
            (store.rejects_dir, ".parquet"),
            (store.ingests_dir, ".json"),
        ):
            folder.mkdir(exist_ok=True)
            for entry in folder.iterdir():
                stem = entry.name[: -len(suffix)] if entry.name.endswith(suffix) else None
                if stem is None or stem not in committed:
                    _remove(entry)
        for entry in store.path.glob("files.*.json"):
            _remove(entry)
        for pattern in ("*.tmp", "*.tmp-*"):  # write_json_atomic's temp files
            for entry in store.path.glob(pattern):
                _remove(entry)
        shutil.rmtree(store.tmp_dir, ignore_errors=True)

    def commit(self, record: dict[str, Any], files: dict[str, FileState]) -> None:
        """Make this ingest visible: rename its files into place, then replace ``store.json``.

        ``record`` is the ingest record; ``files`` the complete per-file state after this ingest.
        The caller has written :attr:`events_tmp` and :attr:`rejects_tmp`.
        """
        store = self.store
        hook("before-commit")
        for tmp, final in (
            (self.events_tmp, store.events_path(self.ingest_id)),
            (self.rejects_tmp, store.rejects_path(self.ingest_id)),
        ):
            fsync_path(tmp)
            tmp.replace(final)
        write_json_atomic(store.record_path(self.ingest_id), record)
        fsync_path(store.events_dir)
        fsync_path(store.rejects_dir)
        pending = store._pending_files_path(self.ingest_id)
        write_json_atomic(
            pending,
            {
                "format": STORE_FORMAT,
                "ingest_id": self.ingest_id,
                "files": {name: state.to_json() for name, state in sorted(files.items())},
            },
        )
        hook("before-store-json")
        ids = store.ingest_ids()
        write_json_atomic(store.manifest_path, {"format": STORE_FORMAT, "ingests": [*ids, self.ingest_id]})
        hook("after-store-json")
        pending.replace(store.files_path)
        fsync_path(store.path)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# Crash tests set RECONCILE_TEST_HOOK=<phase>:<action> (action "sleep" or "kill") to stop a real
# ingest at a chosen phase; it has no effect otherwise.
_HOOK_ENV = "RECONCILE_TEST_HOOK"


def hook(phase: str) -> None:
    """Test hook: at ``phase``, sleep (so a test can kill the process) or SIGKILL itself."""
    spec = os.environ.get(_HOOK_ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, action = item.partition(":")
        if name != phase:
            continue
        if action == "kill":
            os.kill(os.getpid(), 9)
        elif action.startswith("sleep"):
            time.sleep(float(action[len("sleep") :] or 60))


def as_paths(files: Sequence[Path]) -> list[str]:
    """Paths as strings (for DuckDB list parameters)."""
    return [str(f) for f in files]
