"""The checkpointed walk over a store: from the latest valid checkpoint, in month-long steps, to a cut-off.

Runs (``_session``) and the analysts' ``reconcile.pair`` (``_analysis``) walk a store through a
:class:`Walker`. It takes one snapshot of ``store.json`` (the ingests it reads, and so the basis of
every checkpoint and the ``run_id`` of every period) and holds the pairing stage's relations in one
DuckDB connection:

1. :meth:`Walker.walk` from ``from_ns`` to ``to_ns``: the state at the latest valid checkpoint at or
   before ``from_ns`` is loaded (or the empty state before every event); while it lies more than a
   month before ``from_ns`` it is advanced a calendar month at a time (each step reads its days'
   events only, so memory is bounded by a month of events, however long the history: the first run
   on a store of a year is twelve such steps); then the events of ``[state, to_ns)`` are walked once.
   Each state it passes at a midnight that retention keeps is written as a checkpoint (when the
   store can be written; a run never fails for want of a checkpoint).
2. :meth:`Walker.as_of` reads that one walk at any cut-off up to ``to_ns``, with the role counts of
   every event before it (the checkpoint's counts plus the window's).

A checkpoint is the exact state of the full walk at its midnight, so rows and ``run_id`` are those of
the full walk whatever path was taken; tests compare the two.

Integrity (``_integrity``): every events file a walk reads is checked in full against the record
``store.json`` holds (size, rows, SHA-256) before DuckDB reads it, so a damaged store file stops the
walk with one line naming it, never a bill from other events under the same ``run_id``. A damaged
checkpoint (its files or its base's not the recorded ones) is passed over with a warning on stderr
and removed when the store may be written; the walk starts from an older one (or from the start),
with the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import is_read_failure
from reconcile._core._integrity import digest
from reconcile._core._period import date_to_ns, format_ns, ns_to_date
from reconcile._core._progress import Progress
from reconcile._pair import _walk as _pair
from reconcile._pair._checkpoints import Checkpoint, Checkpoints, kept_past_daily, retained
from reconcile._pair._walk import AsOf, Roles
from reconcile._store._reader import IngestEntry, Store
from reconcile.exceptions import DamagedFileError, StoreError


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after the one holding ``day``."""
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


@dataclass
class _State:
    at_ns: int | None  # None: before every event
    roles: Roles


class Walker:
    """Walks one store snapshot in one connection (module doc)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        store: Store,
        progress: Progress,
        *,
        scratch: Path,
        write_checkpoints: bool = True,
        full: bool = False,
    ) -> None:
        self.con = con
        self.scratch = scratch  # (a checkpoint's files are copied here before they are read)
        self._base: dt.date | None = None  # the checkpoint holding the starting state's seen set
        self.store = store
        self.progress = progress
        self.entries: list[IngestEntry] = store.ingests()
        self.first_ns = store.first_instants(self.entries)
        self._summaries: dict[int, str] = {}
        self.checkpoints = Checkpoints(store.checkpoints_dir, self.summarised)
        self.full = full  # walk every event from the start in one window: no checkpoint read or written
        self.write_checkpoints = write_checkpoints and not full
        self._state = _State(None, Roles())
        self.walk_to_ns: int | None = None
        self.written: list[dt.date] = []
        self.checkpoint_error: str | None = None
        self._scope_key: object = None  # the scope as_of reads (None: every resource)

    # --- what the snapshot says --------------------------------------------------------------

    def basis(self, at_ns: int) -> tuple[str, ...]:
        """The ingests holding at least one event before ``at_ns``, sorted."""
        return tuple(sorted(i for i, first in self.first_ns.items() if first is not None and first < at_ns))

    def summarised(self, at_ns: int) -> str:
        """The digest of the records of the events files a checkpoint at ``at_ns`` summarises: those
        of its basis on the days before it (``_integrity.digest``)."""
        if at_ns not in self._summaries:
            basis = set(self.basis(at_ns))
            last = ns_to_date(at_ns - 1)
            files = self.store.event_files(None, last, entries=[e for e in self.entries if e.id in basis])
            records = self.store.records(self.entries)
            self._summaries[at_ns] = digest(
                (name, records.get(name)) for name in (self.store.relative(f) for f in files)
            )
        return self._summaries[at_ns]

    def _earliest_day(self) -> dt.date | None:
        firsts = [f for f in self.first_ns.values() if f is not None]
        return ns_to_date(min(firsts)) if firsts else None

    def month_steps(self, after: dt.date | None, up_to_ns: int) -> list[dt.date]:
        """Where a long walk from the midnight of ``after`` (None: the start of history) stops on its
        way to ``up_to_ns``: the first day of each month following a month that holds events, up to
        ``up_to_ns`` (months without events are not walked). A format-1 store (whose files hold
        every day, so each step would read them all) is walked in one step."""
        if any(entry.flat for entry in self.entries):
            return []
        months = sorted({dt.date.fromisoformat(day).replace(day=1) for e in self.entries for day in e.days})
        steps = []
        for month in months:
            step = next_month(month)
            if (after is None or step > after) and date_to_ns(step) <= up_to_ns:
                steps.append(step)
        return steps

    def register_events(self, from_ns: int | None, to_ns: int) -> None:
        """``events``: the snapshot's events files of the days of ``[from_ns, to_ns)``."""
        first_day = None if from_ns is None else ns_to_date(from_ns)
        last_day = ns_to_date(to_ns - 1)
        files = self.store.event_files(first_day, last_day, entries=self.entries)
        self.store.check_files(files, full=True, entries=self.entries)
        _pair.register_events(self.con, files)

    # --- the walk -----------------------------------------------------------------------------

    def walk(self, from_ns: int, to_ns: int) -> None:
        """Walk so that every cut-off in ``(from_ns, to_ns]`` can be read (module doc)."""
        cp = None
        while not self.full:
            cp = self.checkpoints.latest_valid(from_ns, self.basis, on_damage=self._damaged)
            if cp is None:
                break
            try:
                self._base = self.checkpoints.load(self.con, cp, self.scratch)
                break
            except DamagedFileError as exc:
                self._damaged(exc)
        if cp is not None:
            self._state = _State(cp.at_ns, cp.roles)
            self.progress.note(f"pairing: from the checkpoint at {format_ns(cp.at_ns)}")
        else:
            _pair.empty_state(self.con)
            self._state = _State(None, Roles())
            self._base = None
        for step in [] if self.full else self.month_steps(None if cp is None else cp.day, from_ns):
            self._advance(date_to_ns(step))
        begin = "the start" if self._state.at_ns is None else format_ns(self._state.at_ns)
        self.progress.note(f"pairing: events from {begin} to {format_ns(to_ns)}")
        self.register_events(self._state.at_ns, to_ns)
        self._walk_window(to_ns)
        self._scope_key = None  # (the walk reads every resource again)
        self.walk_to_ns = to_ns
        self._save_midnights(to_ns)

    def starting_checkpoint(self, from_ns: int) -> Checkpoint | None:
        """The checkpoint a walk from ``from_ns`` starts at: the latest valid one whose files (and
        its base's) match their records in full; damaged ones passed over as :meth:`walk` does
        (the Spark engine's plan)."""
        while True:
            cp = self.checkpoints.latest_valid(from_ns, self.basis, on_damage=self._damaged)
            if cp is None:
                return None
            base = next((b for b in self.checkpoints.all() if b.day == cp.seen_base), cp)
            damaged = cp.damage(full=True) or (base.damage(full=True) if base is not cp else None)
            if damaged is None:
                return cp
            self.checkpoints.skip.add(cp.day)
            self._damaged(damaged)

    def _damaged(self, exc: DamagedFileError) -> None:
        """Say that a checkpoint is damaged and passed over; remove it when the store may be written."""
        folder = Path(exc.path).parent
        day = dt.date.fromisoformat(folder.name.removeprefix("at="))
        removed = self.write_checkpoints and self.checkpoints.discard(day)
        self.progress.warn(
            f"{exc.path}: damaged checkpoint file (expected {exc.expected}, found {exc.found}):"
            f" walking from an older checkpoint instead{'; removed it' if removed else ''}"
        )

    def _walk_window(self, to_ns: int) -> None:
        """Walk the registered events from the state to ``to_ns``; a file DuckDB cannot read (one
        without a record to check it by, from before records were kept) is a StoreError."""
        try:
            _pair.walk(self.con, walk_from_ns=self._state.at_ns, walk_to_ns=to_ns)
        except duckdb.Error as exc:
            if not is_read_failure(exc):
                raise
            first = str(exc).strip().splitlines()[0]
            raise StoreError(f"pairing: a file of {self.store.path} cannot be read: {first}") from None

    def _advance(self, to_ns: int) -> None:
        """Walk the state forward to the midnight ``to_ns`` (one step of a long walk)."""
        self.progress.note(f"pairing: a step to {format_ns(to_ns)}")
        self.register_events(self._state.at_ns, to_ns)
        self._walk_window(to_ns)
        roles = self._roles_at(to_ns)
        _pair.state_at(self.con, to_ns, full_seen=True)  # (a first of the month: a new base)
        self._maybe_save(ns_to_date(to_ns), roles, keep_always=False, full_seen=True)
        _pair.adopt_state(self.con, full_seen=True)
        self._state = _State(to_ns, roles)
        self._base = ns_to_date(to_ns)

    def _roles_at(self, cut_off_ns: int) -> Roles:
        return self._state.roles + _pair.window_roles(self.con, cut_off_ns)

    def midnights_to_keep(self, from_ns: int | None, to_ns: int) -> list[dt.date]:
        """The midnights in ``(from_ns, to_ns]`` (None: from the store's first event) that this walk
        writes checkpoints at, up to the day after the store's last event (a later one would repeat
        it); none when this walker writes no checkpoint.

        Of the midnights retention keeps, the walk's last one, and those retention keeps beyond its
        daily window (Mondays, firsts of a month, firsts of January). A walk over many days (a
        nightly restating two weeks after a late file) does not also write the two days before its
        last midnight: each costs about 0.1 s to write, and would only spare a later restatement
        starting on those days a walk from the Monday before (at most six days of events, about
        0.04 s a day on bench/bench_checkpoints.py's fleet)."""
        if not self.write_checkpoints:
            return []
        start = ns_to_date(from_ns) if from_ns is not None else self._earliest_day()  # (before: nothing)
        first = None if start is None else start + dt.timedelta(days=1)
        lasts = [e.last_ns for e in self.entries if e.last_ns is not None]
        if first is None or not lasts:
            return []
        last = min(ns_to_date(to_ns), ns_to_date(max(lasts)) + dt.timedelta(days=1))
        candidates = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        candidates = [d for d in candidates if date_to_ns(d) <= to_ns]
        if not candidates:
            return []
        existing = [cp.day for cp in self.checkpoints.all() if cp.valid(self.basis, self.summarised)]
        keep = retained([*existing, *candidates], max([*existing, *candidates]))
        return [d for d in candidates if d in keep and (d == candidates[-1] or kept_past_daily(d))]

    def save_state(self, day: dt.date, roles: Roles) -> None:
        """Write ``next_open`` and ``next_seen`` (the state at ``day``, in full, made by another walk:
        the Spark engine's buckets) as the checkpoint of ``day``, then prune."""
        self._maybe_save(day, roles, keep_always=True, full_seen=True)
        if self.written:
            self._prune()

    def _save_midnights(self, to_ns: int) -> None:
        """Checkpoints at the midnights of the walk that retention keeps (:meth:`midnights_to_keep`)."""
        days = self.midnights_to_keep(self._state.at_ns, to_ns)
        for day in days:
            at = date_to_ns(day)
            roles = self._roles_at(at)
            # a new base at a month start, or when the base is from an earlier month (a delta
            # holds at most about a month of new resources)
            full = day.day == 1 or self._base is None or self._base < day.replace(day=1)
            _pair.state_at(self.con, at, full_seen=full)
            self._maybe_save(day, roles, keep_always=True, full_seen=full)
            if full and day in self.written:  # the later midnights' deltas are over this base
                _pair.rebase_seen(self.con, at)
                self._base = day
        if days and self.written:
            self._prune()

    def _maybe_save(self, day: dt.date, roles: Roles, *, keep_always: bool, full_seen: bool) -> None:
        if not self.write_checkpoints or self.checkpoint_error is not None:
            return
        if not keep_always:
            existing = [cp.day for cp in self.checkpoints.all() if cp.valid(self.basis, self.summarised)]
            if day not in retained([*existing, day], max([*existing, day])):
                return
        try:
            self.checkpoints.save(
                self.con,
                day,
                basis=self.basis(date_to_ns(day)),
                roles=roles,
                seen_base=None if full_seen else self._base,
                store_files=self.summarised(date_to_ns(day)),
            )
        except OSError as exc:  # a read-only store: the run goes on, slower next time
            self.checkpoint_error = f"checkpoint at {day} not written: {exc.strerror or exc}"
            self.progress.note(f"pairing: {self.checkpoint_error}")
            return
        self.written.append(day)

    def _prune(self) -> None:
        try:
            self.checkpoints.prune(self.basis)
        except OSError as exc:
            self.checkpoint_error = f"checkpoints not pruned: {exc.strerror or exc}"

    # --- reading the walk ------------------------------------------------------------------------

    def as_of(
        self,
        options: AsOf,
        *,
        period: tuple[int, int] | None = None,
        scope: tuple[str, object] | None = None,
        event_roles: bool = True,
    ) -> Roles:
        """``intervals``, ``anomalies`` and ``event_roles`` as of ``options.cut_off_ns`` (at most
        the walk's end; ``period``, ``event_roles``: see :func:`_pair.as_of`); the role counts of
        every event before it, checked. ``scope``: (the name of a relation of ``(family,
        resource_id)``, its key): only those resources' rows (:func:`_pair.restrict`; the walk's
        rows of a scope are taken once per key)."""
        if self.walk_to_ns is None or options.cut_off_ns > self.walk_to_ns:
            raise ValueError(f"the walk ends at {self.walk_to_ns}, not at or after {options.cut_off_ns}")
        key = None if scope is None else scope[1]
        if scope is None or key is None or key != self._scope_key:
            if scope is not None or self._scope_key is not None:
                _pair.restrict(self.con, None if scope is None else scope[0])
            self._scope_key = key
        _pair.as_of(self.con, options, period=period, event_roles=event_roles)
        return self._state.roles + _pair.window_roles(self.con, options.cut_off_ns)

    @property
    def walk_from_ns(self) -> int | None:
        """Where the current walk started (the checkpoint's instant; None: the start of history)."""
        return self._state.at_ns
