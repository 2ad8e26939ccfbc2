"""What an operator sees of a store's checkpoints (``reconcile checkpoints``), and their rebuild."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from reconcile._core._duckdb import connect, engine_errors, memory_limit
from reconcile._core._jsonvalue import JsonObject
from reconcile._core._period import NS_PER_DAY, date_to_ns, format_ns, ns_to_date
from reconcile._core._progress import Progress
from reconcile._core._scratch import scratch_dir
from reconcile._pair._walk import WALK_FORMAT
from reconcile._pair._walker import Walker
from reconcile._store._reader import Store
from reconcile.exceptions import StoreError


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint as the report shows it."""

    day: str
    valid: bool
    why: str  # "valid", "an ingest since holds events before it", "another walk format", "damaged: ..."
    events: int  # events before it
    open: int
    seen: int
    bytes: int

    def to_json(self) -> JsonObject:
        """As ``--json`` prints it."""
        return {
            "day": self.day,
            "valid": self.valid,
            "why": self.why,
            "events": self.events,
            "open": self.open,
            "seen": self.seen,
            "bytes": self.bytes,
        }


@dataclass(frozen=True)
class CheckpointReport:
    """A store's checkpoints, and their disk next to the events'."""

    store: str
    checkpoints: list[CheckpointRow] = field(default_factory=list)
    checkpoint_bytes: int = 0
    event_bytes: int = 0
    rebuilt: bool = False

    def to_json(self) -> JsonObject:
        """As ``--json`` prints it."""
        return {
            "store": self.store,
            "checkpoints": [row.to_json() for row in self.checkpoints],
            "checkpoint_bytes": self.checkpoint_bytes,
            "event_bytes": self.event_bytes,
            "rebuilt": self.rebuilt,
        }

    def lines(self) -> list[str]:
        """The human report."""
        out = [f"checkpoints of {self.store}: {len(self.checkpoints)}"]
        for row in self.checkpoints:
            state = "valid" if row.valid else f"INVALID ({row.why})"
            out.append(
                f"  {row.day}  {state:<10} events before {row.events:>12,}  open {row.open:>9,}"
                f"  seen {row.seen:>10,}  {row.bytes / 1e6:8.2f} MB"
            )
        share = self.checkpoint_bytes / self.event_bytes if self.event_bytes else 0.0
        disk = f"checkpoints {self.checkpoint_bytes / 1e6:,.1f} MB, events {self.event_bytes / 1e6:,.1f} MB"
        out.append(f"disk: {disk} ({share:.0%})")
        return out


def checkpoint_report(store: str | Path, *, rebuilt: bool = False) -> CheckpointReport:
    """Which checkpoints the store has, and which are valid."""
    target = Store(store)
    if not target.exists():
        raise StoreError(f"no event store at {target.path} (run `reconcile ingest` first)")
    with scratch_dir("checkpoints") as scratch, connect(memory_limit="256MB", scratch=scratch) as con:
        walker = Walker(con, target, Progress(quiet=True), scratch=scratch, write_checkpoints=False)
        rows = []
        for cp in walker.checkpoints.all():
            damaged = cp.damage(full=False)
            if cp.walk_format != WALK_FORMAT:
                why = "another walk format"
            elif cp.basis != walker.basis(cp.at_ns):
                why = "an ingest since holds events before it"
            elif not cp.valid(walker.basis, walker.summarised):
                why = "the store files it summarises changed"
            elif damaged is not None:
                why = (
                    f"damaged: {Path(damaged.path).name}: expected {damaged.expected}, found {damaged.found}"
                )
            else:
                why = "valid"
            rows.append(
                CheckpointRow(
                    cp.day.isoformat(),
                    why == "valid",
                    why,
                    cp.roles.events,
                    cp.open_rows,
                    cp.seen_rows,
                    cp.disk_bytes,
                )
            )
        events = sum(f.stat().st_size for f in target.event_files(entries=walker.entries) if f.is_file())
    return CheckpointReport(str(target.path), rows, sum(r.bytes for r in rows), events, rebuilt)


def rebuild_checkpoints(
    store: str | Path, *, quiet: bool = True, memory: str | None = None
) -> CheckpointReport:
    """Remove every checkpoint of ``store`` and walk its whole history again (a month at a time),
    writing the checkpoints retention keeps."""
    target = Store(store)
    if not target.exists():
        raise StoreError(f"no event store at {target.path} (run `reconcile ingest` first)")
    progress = Progress(quiet=quiet)
    limit = memory_limit(memory)
    shutil.rmtree(target.checkpoints_dir, ignore_errors=True)
    with scratch_dir("checkpoints") as scratch, connect(memory_limit=limit, scratch=scratch) as con:
        walker = Walker(con, target, progress, scratch=scratch)
        lasts = [e.last_ns for e in walker.entries if e.last_ns is not None]
        if lasts:
            end = date_to_ns(ns_to_date(max(lasts))) + NS_PER_DAY
            progress.note(f"checkpoints: walking the history up to {format_ns(end)}")
            with engine_errors("checkpoints: rebuilding", memory_limit=limit, where=str(target.path)):
                walker.walk(end, end)
    return checkpoint_report(store, rebuilt=True)
