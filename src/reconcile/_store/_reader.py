"""The event store on disk: layout, readers, the per-ingest statistics runs plan with (docs/ARCHITECTURE.md).

Layout of a store folder ``DIR`` (format 2)::

    DIR/store.json                              the commit point: format, and per committed ingest
                                                its id, event count, first and last instant, days,
                                                and the record of each of its files (``_integrity``)
    DIR/events/day=YYYY-MM-DD/<ingest_id>.parquet  the events that ingest added on that UTC day (zstd)
    DIR/rejects/<ingest_id>.parquet             rejects found by that ingest (zstd)
    DIR/ingests/<ingest_id>.json                the ingest record (inputs with size and SHA-256, counts)
    DIR/files.json                              per input file: bytes and lines consumed, SHA-256
    DIR/checkpoints/                            the pairing walk's checkpoints (``_checkpoint``)
    DIR/.lock                                   flock held by the one writer
    DIR/.tmp/                                   scratch space of the running writer

Events are partitioned by the UTC day of their instant, so a run reads the days it needs and no
other (a day run after a year of history opens a day's files, not the year's), and an ingest
de-duplicates against the days its new events fall on only (duplicates share their instant). Each
ingest's first instant is kept in ``store.json``: a run names the ingests it read (``run_id``) and a
checkpoint its basis without opening a file.

A format-1 store (one events file per ingest, ``events/<ingest_id>.parquet``) is read as it is (its
files hold every day) and is rewritten into days, keeping its ingest ids, by the next writer
(:meth:`StoreWriter.upgrade`): run_ids do not change.

Choices (writing: ``_writer``):

- Readers see only what ``store.json`` lists; it is replaced atomically, so a writer killed at any
  point leaves the store as it was before or after its ingest. Committed files are never modified.
- Ingest ids sort by time: ``YYYYMMDDTHHMMSSffffffZ-<8 hex>``.
- Each ingest's entry records its files (size, row count, SHA-256: ``_integrity``), taken where
  the ingest commits them; readers check them (:meth:`Store.check_files`): a run's events in full,
  other reads by their footers. An entry from before records were kept is given them by the next
  writer (``StoreWriter.record_missing``); until then its files are checked by their footers only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile._core import _schema as schema
from reconcile._core._duckdb import literals, plain_connect
from reconcile._core._integrity import FileRecord, check_files, records_from_json, records_to_json
from reconcile._core._jsonvalue import JsonObject, JsonValue, as_int, as_list, as_object, opt_int, opt_str
from reconcile.exceptions import StoreError

DAMAGED_HINT = (
    "the store is damaged: `reconcile verify --store {store}` lists what it affects, and"
    ' docs/OPERATIONS.md ("Damaged files") how to recover'
)

STORE_FORMAT = 2
READABLE_FORMATS = (1, 2)

# The events and rejects columns (docs/ARCHITECTURE.md), as DuckDB column definitions: used to give
# readers a correctly typed empty relation when a store has no ingest yet.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = tuple(schema.EVENTS.items())
REJECT_COLUMNS: tuple[tuple[str, str], ...] = tuple(schema.REJECTS.items())


@dataclass(frozen=True)
class FileState:
    """What the store has consumed of one input file (an entry of ``files.json``).

    ``bytes``/``lines``: the prefix consumed (complete lines only); ``sha256``: digest of that prefix;
    ``compressed``: a compressed file, consumed whole (its digest is of the whole compressed file).
    ``newest_ns``: the latest instant of the events the store took from it (None: none, or a store
    from before this was kept); ``grew_at``: when an ingest last found it longer (RFC 3339, UTC).
    Together they are the file's freshness (``sql/views/sources.sql``).
    """

    bytes: int
    lines: int
    sha256: str
    compressed: bool
    newest_ns: int | None = None
    grew_at: str | None = None
    fresh: bool = True  # False: read from a files.json written before freshness was kept

    def to_json(self) -> JsonObject:
        """The ``files.json`` entry."""
        return {
            "bytes": self.bytes,
            "lines": self.lines,
            "sha256": self.sha256,
            "compressed": self.compressed,
            "newest_ns": self.newest_ns,
            "grew_at": self.grew_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> FileState:
        """Read a ``files.json`` entry."""
        return cls(
            bytes=as_int(data["bytes"], "bytes"),
            lines=as_int(data["lines"], "lines"),
            sha256=str(data["sha256"]),
            compressed=bool(data.get("compressed", False)),
            newest_ns=opt_int(data.get("newest_ns")),
            grew_at=opt_str(data.get("grew_at")),
            fresh="newest_ns" in data,
        )


@dataclass(frozen=True)
class IngestEntry:
    """One committed ingest as ``store.json`` lists it.

    ``days``: UTC day (``YYYY-MM-DD``) -> number of its events files that day. ``first_ns`` /
    ``last_ns``: its earliest and latest event instant (None: no event). ``flat``: a format-1 ingest,
    one events file holding every day (its instants are read from the file's statistics).
    ``files``: relative path in the store -> the record of each of its files, taken at its commit
    (empty: an ingest committed before records were kept).
    """

    id: str
    events: int | None = None
    first_ns: int | None = None
    last_ns: int | None = None
    days: dict[str, int] = field(default_factory=dict)
    flat: bool = False
    files: dict[str, FileRecord] = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        """The ``store.json`` entry."""
        entry: JsonObject = {
            "id": self.id,
            "events": self.events,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            "days": dict(sorted(self.days.items())),
        }
        if self.files:
            entry["files"] = records_to_json(self.files)
        return entry

    @classmethod
    def from_json(cls, data: Mapping[str, JsonValue]) -> IngestEntry:
        """Read a ``store.json`` entry."""
        return cls(
            id=str(data["id"]),
            events=as_int(data["events"], "events"),
            first_ns=opt_int(data.get("first_ns")),
            last_ns=opt_int(data.get("last_ns")),
            days={str(k): as_int(v, f"days {k}") for k, v in as_object(data.get("days")).items()},
            files=records_from_json(data.get("files"), f"ingest {data['id']} files"),
        )


def new_ingest_id() -> str:
    """A fresh ingest id that sorts by time."""
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"


def day_name(day: dt.date) -> str:
    """The partition value of a UTC day (``2026-11-01``)."""
    return day.isoformat()


def _instant_range(path: Path) -> tuple[int | None, int | None, int]:
    """(min, max) ``emitted_ns`` and the row count of an events file, from its Parquet statistics."""
    try:
        meta = pq.ParquetFile(path).metadata
    except OSError as exc:
        raise StoreError(f"cannot read events file {path}: {exc}") from None
    column = meta.schema.names.index("emitted_ns")
    lows, highs = [], []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(column).statistics
        if stats is None or not stats.has_min_max:
            raise StoreError(f"events file {path} has no statistics for emitted_ns")
        lows.append(stats.min)
        highs.append(stats.max)
    return (min(lows) if lows else None), (max(highs) if highs else None), meta.num_rows


class Store:
    """An event store folder. Reading never locks; writing goes through ``_writer.open_writer``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._cache: tuple[float, int, JsonObject] | None = None

    # --- layout ---------------------------------------------------------------------------------

    @property
    def catalog_path(self) -> Path:
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

    @property
    def checkpoints_dir(self) -> Path:
        """``DIR/checkpoints``: the pairing walk's checkpoints."""
        return self.path / "checkpoints"

    def flat_events_path(self, ingest_id: str) -> Path:
        """The events file of a format-1 ingest (every day in one file)."""
        return self.events_dir / f"{ingest_id}.parquet"

    def day_events_path(self, day: str, ingest_id: str, part: int = 0) -> Path:
        """The events file of one ingest on one UTC day (``part`` > 0: a further file that day)."""
        suffix = "" if part == 0 else f".{part}"
        return self.events_dir / f"day={day}" / f"{ingest_id}{suffix}.parquet"

    def rejects_path(self, ingest_id: str) -> Path:
        """The rejects Parquet file of one ingest."""
        return self.rejects_dir / f"{ingest_id}.parquet"

    def record_path(self, ingest_id: str) -> Path:
        """The ingest record of one ingest."""
        return self.ingests_dir / f"{ingest_id}.json"

    def pending_files_path(self, ingest_id: str) -> Path:
        """Where a writer puts the new ``files.json`` before committing ``store.json``."""
        return self.path / f"files.{ingest_id}.json"

    # --- reading --------------------------------------------------------------------------------

    def exists(self) -> bool:
        """True when the folder holds a committed store (``store.json``)."""
        return self.catalog_path.is_file()

    def catalog(self) -> JsonObject:
        """The parsed ``store.json``, the store's catalog of ingests (cached while the file does not
        change)."""
        try:
            info = self.catalog_path.stat()
            if self._cache is not None and self._cache[:2] == (info.st_mtime, info.st_size):
                return self._cache[2]
            data = json.loads(self.catalog_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if not self.path.exists():
                raise StoreError(f"no event store at {self.path}: the folder does not exist") from None
            raise StoreError(
                f"no event store at {self.path}: store.json is missing (run `reconcile ingest` first)"
            ) from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {self.catalog_path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
            raise StoreError(f"{self.catalog_path}: unknown store format {data!r:.80}")
        self._cache = (info.st_mtime, info.st_size, data)
        return data

    @property
    def format(self) -> int:
        """The committed store format (1: one events file per ingest; 2: partitioned by day)."""
        return as_int(self.catalog()["format"], "format")

    def ingests(self) -> list[IngestEntry]:
        """The committed ingests, oldest first (empty for a folder without a store)."""
        if not self.exists():
            return []
        data = self.catalog()
        if data["format"] == 1:
            return [IngestEntry(id=str(i), flat=True) for i in as_list(data.get("ingests"))]
        try:
            return [IngestEntry.from_json(as_object(entry)) for entry in as_list(data.get("ingests"))]
        except (KeyError, ValueError) as exc:
            raise StoreError(f"{self.catalog_path}: a bad ingest entry: {exc}") from None

    def ingest_ids(self) -> list[str]:
        """The committed ingest ids, oldest first (empty for a folder without a store)."""
        return [entry.id for entry in self.ingests()]

    def first_instants(self, entries: Sequence[IngestEntry] | None = None) -> dict[str, int | None]:
        """Per committed ingest (or per one of ``entries``, a snapshot of :meth:`ingests`), the instant
        of its earliest event (None: it added none)."""
        found: dict[str, int | None] = {}
        for entry in self.ingests() if entries is None else entries:
            found[entry.id] = (
                _instant_range(self.flat_events_path(entry.id))[0] if entry.flat else entry.first_ns
            )
        return found

    def event_files(
        self,
        first_day: dt.date | None = None,
        last_day: dt.date | None = None,
        *,
        entries: Sequence[IngestEntry] | None = None,
    ) -> list[Path]:
        """The committed events files holding events of the UTC days ``[first_day, last_day]``
        (both inclusive, None: unbounded), oldest ingest first; of ``entries`` (a snapshot of
        :meth:`ingests`) when given. A format-1 ingest's one file holds every day. Raises
        :class:`StoreError` when ``DIR`` holds no store."""
        self.catalog()  # (the error for a folder without a store)
        lo = None if first_day is None else day_name(first_day)
        hi = None if last_day is None else day_name(last_day)
        files = []
        for entry in self.ingests() if entries is None else entries:
            if entry.flat:
                files.append(self.flat_events_path(entry.id))
                continue
            for day, parts in sorted(entry.days.items()):
                if (lo is None or day >= lo) and (hi is None or day <= hi):
                    files.extend(self.day_events_path(day, entry.id, k) for k in range(parts))
        return files

    def event_files_of_days(self, days: set[str]) -> list[Path]:
        """The committed events files of the given UTC days (``YYYY-MM-DD``); format-1 ones all;
        checked against their records by their footers (an ingest de-duplicates against them)."""
        self.catalog()
        files = []
        for entry in self.ingests():
            if entry.flat:
                files.append(self.flat_events_path(entry.id))
                continue
            for day in sorted(days & entry.days.keys()):
                files.extend(self.day_events_path(day, entry.id, k) for k in range(entry.days[day]))
        self.check_files(files, full=False)
        return files

    def relative(self, path: Path) -> str:
        """``path`` (a file of this store) relative to the store folder, as records name it."""
        return path.relative_to(self.path).as_posix()

    def records(self, entries: Sequence[IngestEntry] | None = None) -> dict[str, FileRecord]:
        """Relative path -> record of every file the committed ingests (or ``entries``) recorded."""
        return {
            name: record
            for e in (self.ingests() if entries is None else entries)
            for name, record in e.files.items()
        }

    def check_files(
        self, paths: Sequence[Path], *, full: bool, entries: Sequence[IngestEntry] | None = None
    ) -> None:
        """Check committed files against their records (``_integrity``): by their footers (size and
        rows), and with ``full`` their SHA-256 too; a file without a record (an ingest from before
        records were kept) only by its footer. :class:`~reconcile.exceptions.DamagedFileError`
        names the first that differs."""
        records = self.records(entries)
        check_files(
            [(p, records.get(self.relative(p))) for p in paths],
            full=full,
            hint=DAMAGED_HINT.format(store=self.path),
        )

    def reject_files(self) -> list[Path]:
        """The committed rejects Parquet files, oldest ingest first."""
        self.catalog()
        return [self.rejects_path(i) for i in self.ingest_ids()]

    def files_state(self) -> dict[str, FileState]:
        """What has been consumed of each input file, as of the last committed ingest."""
        ids = self.ingest_ids()
        if not ids:
            return {}
        path = self.files_path
        pending = self.pending_files_path(ids[-1])
        if pending.is_file():  # the last writer died between committing and renaming files.json
            path = pending
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {path}: {exc}") from None
        return {name: FileState.from_json(entry) for name, entry in data.get("files", {}).items()}

    def relation_sql(
        self, table: str, *, first_day: dt.date | None = None, last_day: dt.date | None = None
    ) -> tuple[str, list[object]]:
        """SQL text and parameters selecting the committed ``events`` (of those days) or ``rejects``.

        With no committed file it selects zero rows with the contract columns and types.
        """
        files: Sequence[Path]
        if table == "events":
            files, columns = self.event_files(first_day, last_day), EVENT_COLUMNS
        elif table == "rejects":
            files, columns = self.reject_files(), REJECT_COLUMNS
        else:
            raise StoreError(f"unknown store table {table!r}: expected 'events' or 'rejects'")
        if files:
            return "SELECT * FROM read_parquet(?, hive_partitioning = false)", [literals(files)]
        casts = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns)
        return f"SELECT {casts} WHERE false", []

    def read_table(self, table: str, con: duckdb.DuckDBPyConnection | None = None) -> pa.Table:
        """The committed ``events`` or ``rejects`` rows as a pyarrow Table."""
        sql, params = self.relation_sql(table)
        conn = con if con is not None else plain_connect()
        try:
            return conn.sql(sql, params=params or None).to_arrow_table()
        finally:
            if con is None:
                conn.close()
