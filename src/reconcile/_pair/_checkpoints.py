"""Checkpoints of the pairing walk, kept in the store: the state at UTC midnights (docs/ARCHITECTURE.md).

SPEC section 3's walk is causal: the state after an event depends only on the events before it. A
checkpoint at a midnight T holds, per ``(family, resource_id)`` seen before T:

- ``open.parquet``: the start event of every interval open at T (every field pricing and the outputs
  need: the walk carries it on as the interval's start);
- the resources with an event before T (a later stop of one is a double stop, of any other an orphan
  stop; a resource not open at T had a stop last): in full (``seen.parquet``) at the first of a
  month, or when the walk's base is from an earlier month; else only those its *base* (a checkpoint
  of the same month holding them in full) does not hold (``seen_delta.parquet``, at most about a
  month of new resources), naming the base. So writing a day's
  checkpoint costs about a day of resources, not every resource a year has seen;
- ``checkpoint.json``: the role counts of all events before T (so a run's role identity still covers
  every event before its cut-off), the walk's format, and its *basis*: the ingests holding events
  before T (those whose first event is before T).

It does not depend on the price book, ``--double-start``, ``--stale-after`` or any cut-off, so it
belongs to the store. It is valid while its basis is the store's basis at T: an ingest with a line
before T (a late file, a back-dated crash stop) changes that set, which invalidates T and every later
checkpoint; a run then walks from the latest one still valid. Nothing is ever silently stale:
validity is checked on every read, from ``store.json`` alone.

Integrity (``_integrity``): ``checkpoint.json`` records its files (size, rows, SHA-256) and, as
``store_files``, a digest of the records of the store's events files it summarises (those of its
basis before T). A checkpoint is usable only when its files and its base's match their records:
the candidate's footers are checked when it is chosen (:meth:`Checkpoints.latest_valid`), its bytes
hashed as they are copied (:meth:`Checkpoints.copy_files`); a damaged one raises
:class:`~reconcile.exceptions.DamagedFileError`, and the walker falls back to an older one. A
checkpoint whose summarised store files changed (``store_files`` differs) is invalid. One written
before records were kept is checked by its footers: the row counts its ``checkpoint.json`` states.

Layout: ``STORE/checkpoints/at=YYYY-MM-DD/{checkpoint.json, open.parquet, seen.parquet}``. A
checkpoint is written into a hidden folder and renamed into place (replacing an invalid one) under
``checkpoints/.lock``; readers load it under a shared lock, so none reads one being replaced.

Retention (:func:`retained`): daily for the 3 days up to the newest checkpoint, Mondays for 42
days, the first of each month for 400 days, and every first of January. A walk over many midnights writes
only its last one of the daily ones (``Walker.midnights_to_keep``). A run walks from the latest
valid checkpoint at or before its period, at most a week of events inside the nightly's window.
Daily checkpoints further back would not pay: writing one costs about as much as walking three
days of events (bench/bench_checkpoints.py's fleet: 0.1 s against 0.03 s a day), and a weekly one
bounds the extra walk of a restatement to six days.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import PARQUET_OPTIONS, literal
from reconcile._core._files import fsync_tree, make_private_dir, open_lock_file, private_files
from reconcile._core._integrity import (
    FileRecord,
    copy_checked,
    parquet_rows,
    problem,
    record_files,
    records_from_json,
    records_to_json,
)
from reconcile._core._period import date_to_ns, format_ns
from reconcile._pair import _walk as _pair
from reconcile._pair._walk import WALK_FORMAT, Roles
from reconcile.exceptions import DamagedFileError

CHECKPOINT_FORMAT = 2
_JSON = "checkpoint.json"
_OPEN = "open.parquet"
_SEEN = "seen.parquet"
_DELTA = "seen_delta.parquet"
_SEEN_ORDER = "ORDER BY family, resource_id"
"""How a seen file's rows are written: sorted, its resource ids compress 4-6x better (a year's seen
set is most of a checkpoint's disk); the open set is written as it is (its event ids, over half of
its bytes, do not compress: sorted it was 15% smaller, and sorting a month's open set cost seconds)."""

DAILY_DAYS = 3
WEEKLY_DAYS = 42
MONTHLY_DAYS = 400

BasisOf = Callable[[int], tuple[str, ...]]
FilesOf = Callable[[int], str]  # at_ns -> the digest of the store files a checkpoint there summarises

REBUILD_HINT = "the walk falls back to an older checkpoint; `reconcile checkpoints --rebuild` rewrites them"


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint on disk (what its ``checkpoint.json`` says)."""

    day: dt.date  # the state at this UTC midnight (before any event of this day)
    basis: tuple[str, ...]  # the ingests holding events before it
    roles: Roles  # of all events before it
    open_rows: int
    seen_rows: int  # of its seen set in full, or of its delta
    walk_format: int
    path: Path
    seen_base: dt.date | None = None  # None: it holds its seen set in full; else the base it extends
    files: dict[str, FileRecord] | None = None  # None: written before records were kept
    store_files: str | None = None  # the digest of the store files it summarises (None: not kept)

    @property
    def at_ns(self) -> int:
        """Its instant: the day's midnight in Unix nanoseconds."""
        return date_to_ns(self.day)

    @property
    def seen_name(self) -> str:
        """Its seen file: the whole set, or the delta over its base."""
        return _SEEN if self.seen_base is None else _DELTA

    def valid(self, basis_of: BasisOf, files_of: FilesOf | None = None) -> bool:
        """Whether it still holds for the store: same walk format, same basis (its base, earlier,
        is then valid too: an ingest that changes the base's basis changes this one's) and, when
        both are known, the same store files summarised."""
        return (
            self.walk_format == WALK_FORMAT
            and self.basis == basis_of(self.at_ns)
            and (files_of is None or self.store_files is None or self.store_files == files_of(self.at_ns))
        )

    def expected(self) -> dict[str, FileRecord | None]:
        """Its Parquet files and their records (None: not recorded; then their rows must be the
        counts its ``checkpoint.json`` states)."""
        if self.files is not None:
            return {name: self.files.get(name) for name in (_OPEN, self.seen_name)}
        return {_OPEN: None, self.seen_name: None}

    def damage(self, *, full: bool) -> DamagedFileError | None:
        """The first of its files that does not match its record (by footer; ``full``: by hash), or
        None."""
        counts = {_OPEN: self.open_rows, self.seen_name: self.seen_rows}
        for name, record in self.expected().items():
            path = self.path / name
            wrong = problem(path, record, full=full)
            if wrong is None and record is None:
                rows = parquet_rows(path)
                if rows != counts[name]:
                    wrong = (f"{counts[name]:,} rows ({_JSON})", f"{rows:,} rows")
            if wrong is not None:
                return DamagedFileError(path, wrong[0], wrong[1], REBUILD_HINT)
        return None

    @property
    def disk_bytes(self) -> int:
        """The bytes of its files."""
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())


def kept_past_daily(day: dt.date) -> bool:
    """Whether retention (:func:`retained`) may keep ``day`` past its daily window: a Monday or a
    first of a month (a first of January among them)."""
    return day.weekday() == 0 or day.day == 1


def retained(days: Sequence[dt.date], newest: dt.date) -> set[dt.date]:
    """The checkpoint days a store keeps, relative to its newest checkpoint (module doc)."""
    keep = set()
    for day in days:
        age = (newest - day).days
        if (
            age < DAILY_DAYS
            or (age < WEEKLY_DAYS and day.weekday() == 0)
            or (age < MONTHLY_DAYS and day.day == 1)
            or (day.month == 1 and day.day == 1)
        ):
            keep.add(day)
    return keep


class Checkpoints:
    """The checkpoints of one store."""

    def __init__(self, folder: Path, files_of: FilesOf | None = None) -> None:
        self.folder = folder
        self.files_of = files_of  # (None: the summarised store files are not compared)
        self.skip: set[dt.date] = set()  # damaged ones found by this process: never chosen again

    def _path(self, day: dt.date) -> Path:
        return self.folder / f"at={day.isoformat()}"

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        """Hold ``checkpoints/.lock`` (``mode``: shared to read, exclusive to write). A store that may
        not be written (read-only, immutable) is read under the lock file opened read-only, or, when
        there is none, without a lock: nothing can replace a checkpoint there."""
        try:
            make_private_dir(self.folder)
            fd = open_lock_file(self.folder)
        except OSError:
            if mode != fcntl.LOCK_SH:
                raise
            try:
                fd = os.open(self.folder / ".lock", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                yield
                return
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)

    def all(self) -> list[Checkpoint]:
        """Every checkpoint on disk, oldest first (an unreadable one is left out)."""
        if not self.folder.is_dir():
            return []
        found = []
        for folder in sorted(self.folder.glob("at=*")):
            try:
                data = json.loads((folder / _JSON).read_text(encoding="utf-8"))
                if data["format"] != CHECKPOINT_FORMAT:
                    continue
                base = data.get("seen_base")
                files = data.get("files")
                found.append(
                    Checkpoint(
                        day=dt.date.fromisoformat(data["day"]),
                        basis=tuple(data["basis"]),
                        roles=Roles.from_json(data["roles"]),
                        open_rows=int(data["open"]),
                        seen_rows=int(data["seen"]),
                        walk_format=int(data["walk_format"]),
                        path=folder,
                        seen_base=None if base is None else dt.date.fromisoformat(base),
                        files=None if files is None else records_from_json(files, str(folder / _JSON)),
                        store_files=data.get("store_files"),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return found

    def _base_of(self, cp: Checkpoint, every: list[Checkpoint]) -> Checkpoint | None:
        """The checkpoint holding ``cp``'s seen set in full (``cp`` itself, or its base), or None."""
        if cp.seen_base is None:
            return cp
        return next((b for b in every if b.day == cp.seen_base and b.seen_base is None), None)

    def latest_valid(
        self,
        at_or_before_ns: int,
        basis_of: BasisOf,
        *,
        on_damage: Callable[[DamagedFileError], None] | None = None,
    ) -> Checkpoint | None:
        """The latest valid checkpoint at or before ``at_or_before_ns`` whose seen base is there and
        whose files and base's match their records by their footers, or None. A damaged one is
        passed over (and given to ``on_damage``)."""
        every = self.all()
        for cp in reversed(every):
            if cp.day in self.skip or cp.at_ns > at_or_before_ns or not cp.valid(basis_of, self.files_of):
                continue
            base = self._base_of(cp, every)
            if base is None:
                continue
            damaged = cp.damage(full=False) or (base.damage(full=False) if base is not cp else None)
            if damaged is not None:
                self.skip.add(cp.day)
                if on_damage is not None:
                    on_damage(damaged)
                continue
            return cp
        return None

    def load(self, con: duckdb.DuckDBPyConnection, cp: Checkpoint, scratch: Path) -> dt.date:
        """``state_open``, ``state_seen_base`` and ``state_seen_delta`` in ``con`` from ``cp``: its
        files are copied (under the shared lock) into ``scratch``, so a checkpoint replaced meanwhile
        cannot change what this walk reads. Returns the day of the base (the seen set in full)."""
        folder, base_day = self.copy_files(cp, scratch)
        _pair.empty_state(con)
        reader = "SELECT * FROM read_parquet(?, hive_partitioning = false)"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_pair.STATE_OPEN} AS {reader}", [literal(folder / _OPEN)])
        con.execute(f"DROP TABLE {_pair.STATE_SEEN_BASE}")
        # (a view: a year's seen resources stay on disk; the walk semi-joins them with its window's)
        con.execute("SET VARIABLE seen_base_file = ?", [literal(folder / _SEEN)])
        con.execute(
            f"CREATE TEMP VIEW {_pair.STATE_SEEN_BASE} AS"
            " SELECT * FROM read_parquet(getvariable('seen_base_file'), hive_partitioning = false)"
        )
        if cp.seen_base is not None:
            con.execute(f"INSERT INTO {_pair.STATE_SEEN_DELTA} {reader}", [literal(folder / _DELTA)])
        _pair.seen_view(con)
        return base_day

    def copy_files(self, cp: Checkpoint, scratch: Path) -> tuple[Path, dt.date]:
        """Copy ``cp``'s files (under the shared lock) into a folder of ``scratch``: ``open.parquet``,
        ``seen.parquet`` (its base's, in full) and, for a delta checkpoint, ``seen_delta.parquet``.
        Returns the folder and the day of the base."""
        with self._locked(fcntl.LOCK_SH):
            base = self._base_of(cp, self.all())
            if base is None:
                raise ValueError(f"checkpoint {cp.day}: its seen base {cp.seen_base} is gone")
            folder = scratch / f"checkpoint-{cp.day.isoformat()}"
            folder.mkdir(exist_ok=True)
            try:
                copy_checked(cp.path / _OPEN, folder / _OPEN, cp.expected()[_OPEN], hint=REBUILD_HINT)
                copy_checked(base.path / _SEEN, folder / _SEEN, base.expected()[_SEEN], hint=REBUILD_HINT)
                if cp.seen_base is not None:
                    copy_checked(cp.path / _DELTA, folder / _DELTA, cp.expected()[_DELTA], hint=REBUILD_HINT)
            except DamagedFileError:
                self.skip.add(cp.day)
                shutil.rmtree(folder, ignore_errors=True)
                raise
        return folder, base.day

    def discard(self, day: dt.date) -> bool:
        """Remove the checkpoint of ``day`` (a damaged one); False when the store may not be written."""
        try:
            with self._locked(fcntl.LOCK_EX):
                shutil.rmtree(self._path(day))
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    def save(
        self,
        con: duckdb.DuckDBPyConnection,
        day: dt.date,
        *,
        basis: tuple[str, ...],
        roles: Roles,
        seen_base: dt.date | None,
        store_files: str | None = None,
    ) -> Checkpoint:
        """Write the state of :func:`~reconcile._pair._walk.state_at` as the checkpoint of ``day``,
        replacing any other checkpoint of that day: ``next_open``, and ``next_seen`` in full
        (``seen_base`` None) or ``next_seen_delta`` over ``seen_base``."""
        self.skip.discard(day)  # (a damaged one of that day is replaced)
        with private_files():
            make_private_dir(self.folder)
            staging = self.folder / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
            staging.mkdir()
            try:
                counts = {}
                seen = (_pair.NEXT_SEEN, _SEEN) if seen_base is None else (_pair.NEXT_SEEN_DELTA, _DELTA)
                for table, name in ((_pair.NEXT_OPEN, _OPEN), seen):
                    rows = table if name == _OPEN else f"(SELECT * FROM {table} {_SEEN_ORDER})"
                    con.execute(f"COPY {rows} TO ? ({PARQUET_OPTIONS})", [str(staging / name)])
                    counts[name] = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
                names = [_OPEN, seen[1]]
                files = dict(zip(names, record_files([staging / n for n in names]), strict=True))
                document = {
                    "format": CHECKPOINT_FORMAT,
                    "walk_format": WALK_FORMAT,
                    "day": day.isoformat(),
                    "at": format_ns(date_to_ns(day)),
                    "basis": list(basis),
                    "roles": roles.to_json(),
                    "open": counts[_OPEN],
                    "seen": counts[seen[1]],
                    "seen_base": None if seen_base is None else seen_base.isoformat(),
                    "files": records_to_json(files),
                    "store_files": store_files,
                }
                (staging / _JSON).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
                fsync_tree(staging)
                with self._locked(fcntl.LOCK_EX):
                    final = self._path(day)
                    if final.exists():
                        old = self.folder / f".old-{staging.name}"
                        final.rename(old)
                        staging.rename(final)
                        shutil.rmtree(old, ignore_errors=True)
                    else:
                        staging.rename(final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return Checkpoint(
            day,
            basis,
            roles,
            counts[_OPEN],
            counts[seen[1]],
            WALK_FORMAT,
            self._path(day),
            seen_base,
            files,
            store_files,
        )

    def prune(self, basis_of: BasisOf) -> list[dt.date]:
        """Remove invalid checkpoints and those retention does not keep; the days removed."""
        with self._locked(fcntl.LOCK_EX):
            every = self.all()
            valid = [cp for cp in every if cp.valid(basis_of, self.files_of) and cp.day not in self.skip]
            keep = retained([cp.day for cp in valid], max((cp.day for cp in valid), default=dt.date.min))
            keep |= {cp.seen_base for cp in valid if cp.day in keep and cp.seen_base is not None}
            removed = []
            for cp in every:
                if cp.day not in keep or cp not in valid:
                    shutil.rmtree(cp.path, ignore_errors=True)
                    removed.append(cp.day)
            for leftover in self.folder.glob(".tmp-*"):
                if not _held_by_live_process(leftover):
                    shutil.rmtree(leftover, ignore_errors=True)
            for leftover in self.folder.glob(".old-*"):
                shutil.rmtree(leftover, ignore_errors=True)
        return removed


def _held_by_live_process(staging: Path) -> bool:
    """Whether the process that names this staging folder (``.tmp-<pid>-...``) is alive."""
    try:
        pid = int(staging.name.split("-")[1])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
