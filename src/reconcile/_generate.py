"""Seeded, realistic fleet ledgers: for the demo, the benchmarks and the tests.

Everything here is deterministic for a seed: the same arguments give the same bytes every time (the
only randomness is a seeded :class:`random.Random`; no clock, no hash randomisation, gzip with a fixed
header). Waiting times go through ``math.log``, so another platform's libm could in principle move an
instant by a nanosecond; on one machine and Python the output never changes.

How the generated fleet behaves (SPEC section 1, "How the producer behaves"):

- Each host simulates a population of VMs over the period, one after another, with exponential waiting
  times between lifecycle steps. A VM is created by ``boot`` (``vm.storage.start`` then, a few seconds
  later, ``vm.compute.start``) or by ``clone`` (both starts name the ``source_snapshot_id`` they came
  from). About 10% of VMs *predate metering*: they are already running when the ledger starts, so their
  first line is a stop with no start.
- While running: crash and restart (``vm.compute.stop`` ``stop-crash`` and ``vm.compute.start``
  ``restart`` with the **same** ``emitted_at``); a crash noticed later (a ``stop-crash`` back-dated to
  when the process died, written minutes to hours later, with microsecond precision, then a restart);
  a user stop (``stop-user``), later followed by ``restart`` or ``hibernate-wake``; a restore from one
  of the VM's snapshots (``vm.compute.stop`` ``restore`` if running, then ``vm.storage.stop`` and
  ``vm.storage.start`` at the same instant with different disk sizes, and ``vm.compute.start``
  ``restore`` at that instant, all naming ``source_snapshot_id``); a silent resize (no line: the next
  stop carries a different shape than its start); removal (``stop-user`` then ``vm.storage.stop``
  ``vm-rm`` with ``{}``).
- ``vm.*`` lines carry the VM's whole shape (``cpu``, ``mem_bytes``, ``storage_bytes``), as the sample
  fleet does; some stops carry ``{}`` (a fifth of crash stops, a few percent of the others).
- Snapshots: ``snap.storage.start`` without ``reason`` (an incremental one names its parent in
  ``source_snapshot_id``; a copied one has ``reason`` ``clone``), deleted later with
  ``snap.storage.stop`` ``snap-rm`` and ``{}``. Snapshots that predate metering appear only as a
  ``snap-rm`` stop.
- Lost lines (a crash between the database commit and the emit): each start and each stop is lost with
  probability 0.05%, giving orphan stops, double stops and double starts (~0.1% of lines). Starts that
  are still open when the ledger ends stay open.
- Several processes append to one file: a line is written a little after its instant (mostly under
  200 ms, sometimes seconds to minutes, rarely up to an hour, and hours for back-dated crash stops), and
  the file is in write order, so it is roughly but not strictly in ``emitted_at`` order.
- Instants have nanosecond precision (Go's clock), so fractions have 9 digits with trailing zeros
  trimmed; restores use millisecond instants and back-dated stops microsecond ones. Each host writes its
  own zone offset (``Z`` for UTC, ``-05:00``, ``+05:30``, ``+09:00``, ...).

Lines are written byte for byte as Go's ``encoding/json`` writes a ``metering.Entry``: field order
``kind, vm_id, snapshot_id, source_snapshot_id, reason, hypervisor, shape, emitted_at``, empty fields
omitted, ``shape`` always present with its non-zero members only, RFC 3339 with trimmed nanoseconds.
Generated ids are plain ASCII and need no escaping.

Garbage lines (for tests and the demo, never by default in :func:`generate_ledger`): each one produces
exactly one SPEC reject code, listed in :data:`GARBAGE_CODES`; ``crlf`` is not garbage but a valid line
ending in ``\\r\\n``.

The fast bulk path (:func:`generate_ledger` for millions of lines): each host simulates a *base block*
of at most a few tens of thousands of lines, and the output is made of *replicas* of those blocks:
each replica is another group of VMs (its own ids) living the same lifecycles shifted by up to half
an hour. Replicas are interleaved window by window so the file stays roughly in time order, and memory
is bounded by the base blocks whatever the number of lines. A 10M-line ledger holds about 590k VMs and
1.4M snapshots (4 hosts x 63 replicas of ~2,300 VMs), ~208 bytes a line.
"""

from __future__ import annotations

import csv
import gzip
import math
import random
import shutil
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from reconcile._period import NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND
from reconcile._progress import Progress
from reconcile._schema import REJECT_CODES

NS, MINUTE, HOUR = NS_PER_SECOND, NS_PER_MINUTE, NS_PER_HOUR  # the simulator's short names

__all__ = [
    "DEFAULT_FLEET_START",
    "DEFAULT_START",
    "GARBAGE_CODES",
    "FleetHost",
    "FleetInfo",
    "LedgerStats",
    "format_instant",
    "garbage_line",
    "generate_ledger",
    "generate_lines",
    "iter_ledger_chunks",
    "write_fleet",
]

DAY = 24 * HOUR
GIB = 1 << 30
MIB = 1 << 20

DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)
"""Where :func:`generate_ledger` ledgers begin (a month: November 2026)."""
DEFAULT_FLEET_START = datetime(2026, 11, 18, tzinfo=UTC)
"""Where :func:`write_fleet` ledgers begin (a week: 2026-11-18 to 2026-11-25)."""

# Zone offsets in seconds, one per host (host i gets HOST_OFFSETS[i % len]).
HOST_OFFSETS: tuple[int, ...] = (
    0,
    -5 * 3600,
    5 * 3600 + 1800,
    9 * 3600,
    8 * 3600,
    3600,
    -8 * 3600,
    -3 * 3600,
)
HYPERVISORS: tuple[str, ...] = ("cloud-hypervisor", "firecracker")

# (cpu, mem GiB, weight): a public-cloud-like catalogue, small machines most common.
_SHAPES: tuple[tuple[int, int, int], ...] = (
    (1, 1, 8),
    (1, 2, 10),
    (2, 2, 8),
    (2, 4, 14),
    (2, 8, 8),
    (4, 4, 6),
    (4, 8, 12),
    (4, 16, 8),
    (8, 8, 4),
    (8, 16, 6),
    (8, 32, 5),
    (16, 32, 3),
    (16, 64, 2),
    (32, 128, 1),
)
_DISKS_GIB: tuple[tuple[int, int], ...] = (
    (10, 14),
    (20, 20),
    (30, 10),
    (50, 14),
    (100, 10),
    (200, 4),
    (500, 2),
)

# Lifecycle rates, per day.
_RATE_CRASH_RESTART = 0.15
_RATE_CRASH_LATE = 0.02
_RATE_USER_STOP = 0.30
_RATE_RESTORE = 0.03
_RATE_SNAPSHOT = 0.20
_RATE_RESIZE = 0.004
_RATE_REMOVE = 0.04
_MEAN_OFF = 6 * HOUR  # a stopped VM comes back after this on average
_MEAN_SNAPSHOT_LIFE = 5 * DAY
_P_PREDATES = 0.10
_P_CLONE = 0.15
_P_LOST = 0.0005  # each start and each stop line is lost with this probability

GARBAGE_CODES: tuple[str, ...] = tuple(code for code in REJECT_CODES if code != "line_too_long")
"""The reject codes garbage lines produce (SPEC section 2), one fault per line. ``line_too_long`` is
available on request (``garbage_codes=(..., "line_too_long")``) but not in the default mix."""

_MARK = "\x00"  # stands for the replica code inside ids; never in an output line
_SEC2: tuple[str, ...] = tuple(f"{i:02d}" for i in range(60))


def _offset_text(offset_s: int) -> str:
    """Go's RFC 3339 zone: ``Z`` for a zero offset, else ``+hh:mm`` / ``-hh:mm``."""
    if offset_s == 0:
        return "Z"
    sign = "+" if offset_s > 0 else "-"
    minutes = abs(offset_s) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _frac_text(ns: int) -> str:
    """The fraction of an instant as Go's RFC3339Nano writes it: trailing zeros trimmed, none if 0."""
    if ns == 0:
        return ""
    return "." + f"{ns:09d}".rstrip("0")


class _MinuteCache(dict[int, str]):
    """Local epoch minute -> ``YYYY-MM-DDTHH:MM:`` (filled on demand)."""

    def __missing__(self, minute: int) -> str:
        text = datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%Y-%m-%dT%H:%M:")
        self[minute] = text
        return text


_MINUTES = _MinuteCache()


def format_instant(unix_ns: int, offset_s: int) -> str:
    """``unix_ns`` in the zone ``offset_s`` as Go's ``time.RFC3339Nano`` writes it."""
    sec, frac = divmod(unix_ns, NS)
    local = sec + offset_s
    minute, second = divmod(local, 60)
    return f"{_MINUTES[minute]}{_SEC2[second]}{_frac_text(frac)}{_offset_text(offset_s)}"


def _head(  # noqa: PLR0917 (the fields in wire order)
    kind: str,
    vm_id: str,
    snapshot_id: str,
    source: str,
    reason: str,
    hypervisor: str,
    cpu: int,
    mem: int,
    storage: int,
) -> str:
    """A line up to and including ``"emitted_at":"``, in Go's field order with omitempty."""
    out = ['{"kind":"', kind, '"']
    if vm_id:
        out.append(f',"vm_id":"{vm_id}"')
    if snapshot_id:
        out.append(f',"snapshot_id":"{snapshot_id}"')
    if source:
        out.append(f',"source_snapshot_id":"{source}"')
    if reason:
        out.append(f',"reason":"{reason}"')
    if hypervisor:
        out.append(f',"hypervisor":"{hypervisor}"')
    members = []
    if cpu:
        members.append(f'"cpu":{cpu}')
    if mem:
        members.append(f'"mem_bytes":{mem}')
    if storage:
        members.append(f'"storage_bytes":{storage}')
    out.append(',"shape":{' + ",".join(members) + '},"emitted_at":"')
    return "".join(out)


def _weighted(rng: random.Random, table: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    total = sum(row[-1] for row in table)
    x = rng.random() * total
    for row in table:
        x -= row[-1]
        if x < 0:
            return row
    return table[-1]


def _exp(rng: random.Random, mean_ns: float) -> int:
    """An exponential waiting time in nanoseconds (at least 1 ms)."""
    return max(1_000_000, int(-math.log(1.0 - rng.random()) * mean_ns))


@dataclass
class _Snap:
    sid: str
    created: int
    deleted: int
    size: int


@dataclass
class _Event:
    write_ns: int
    seq: int
    t_ns: int
    head: str
    start: bool


class _HostSim:
    """Simulates one host's VMs and snapshots; ids carry :data:`_MARK` where the replica code goes."""

    def __init__(self, rng: random.Random, t0: int, t1: int, lost: float = _P_LOST) -> None:
        self.rng = rng
        self.t0 = t0
        self.t1 = t1
        self.lost = lost
        self.events: list[_Event] = []
        self.snaps: list[_Snap] = []
        self.n_vms = 0
        self.n_snaps = 0
        self._seq = 0

    # --- writing -----------------------------------------------------------------------------------

    def _write_delay(self) -> int:
        u = self.rng.random()
        if u < 0.002:
            return self.rng.randrange(MINUTE, HOUR)
        if u < 0.02:
            return self.rng.randrange(NS, 2 * MINUTE)
        return self.rng.randrange(0, 200_000_000)

    def _emit(self, batch: list[tuple[int, str, bool]], write_ns: int | None = None) -> None:
        """Queue lines written together by one process (kept in order); drop lost ones."""
        rng = self.rng
        w = (batch[0][0] + self._write_delay()) if write_ns is None else write_ns
        for t_ns, head, start in batch:
            if t_ns >= self.t1:
                continue
            if rng.random() < self.lost:
                continue
            self._seq += 1
            self.events.append(_Event(max(w, t_ns), self._seq, t_ns, head, start))

    # --- snapshots ---------------------------------------------------------------------------------

    def _new_snap_id(self) -> str:
        self.n_snaps += 1
        return f"snap-{_MARK}-{self.n_snaps:06d}"

    def _snapshot(self, t: int, vm_snaps: list[_Snap], disk: int, hv: str) -> None:
        rng = self.rng
        sid = self._new_snap_id()
        size = max(1, int(disk * (0.05 + 0.85 * rng.random())) // MIB) * MIB
        source, reason = "", ""
        u = rng.random()
        alive = [s for s in vm_snaps if s.created < t < s.deleted]
        if u < 0.10 and alive:
            source = alive[-1].sid  # incremental: names its parent
        elif u < 0.12 and alive:
            source, reason = alive[0].sid, "clone"
        deleted = t + _exp(rng, _MEAN_SNAPSHOT_LIFE)
        snap = _Snap(sid, t, deleted, size)
        vm_snaps.append(snap)
        self.snaps.append(snap)
        self._emit([(t, _head("snap.storage.start", "", sid, source, reason, hv, 0, 0, size), True)])
        self._emit([(deleted, _head("snap.storage.stop", "", sid, "", "snap-rm", hv, 0, 0, 0), False)])

    def _old_snap(self, hv: str) -> _Snap:
        """A snapshot taken before metering began: only its deletion can appear in the ledger."""
        rng = self.rng
        sid = self._new_snap_id()
        deleted = self.t0 + int((self.t1 - self.t0) * rng.random() * 1.5)
        snap = _Snap(sid, self.t0 - DAY, deleted, rng.randrange(1, 4096) * MIB)
        self.snaps.append(snap)
        self._emit([(deleted, _head("snap.storage.stop", "", sid, "", "snap-rm", hv, 0, 0, 0), False)])
        return snap

    def _clone_source(self, t: int) -> str:
        rng = self.rng
        for _ in range(6):
            if not self.snaps:
                break
            snap = self.snaps[rng.randrange(len(self.snaps))]
            if snap.created < t < snap.deleted:
                return snap.sid
        return f"img-{rng.randrange(1, 12):02d}"  # a base image that predates metering

    # --- one VM ------------------------------------------------------------------------------------

    def vm(self) -> None:  # noqa: PLR0912, PLR0915 (one state machine reads best in one place)
        """Simulate one VM from creation (or from the start of metering) to removal or the end."""
        rng = self.rng
        t0, t1 = self.t0, self.t1
        self.n_vms += 1
        vm = f"vm-{_MARK}-{self.n_vms:05d}"
        hv = HYPERVISORS[0] if rng.random() < 0.55 else HYPERVISORS[1]
        cpu, mem_gib, _ = _weighted(rng, _SHAPES)
        mem = mem_gib * GIB
        disk = _weighted(rng, _DISKS_GIB)[0] * GIB
        snaps: list[_Snap] = []

        def shape_of_stop(crash: bool) -> tuple[int, int, int]:
            if rng.random() < (0.2 if crash else 0.03):
                return 0, 0, 0
            return cpu, mem, disk

        if rng.random() < _P_PREDATES:
            t = t0
            running = rng.random() < 0.85
            if rng.random() < 0.3:
                snaps.append(self._old_snap(hv))
        else:
            t = t0 + int((t1 - t0) * rng.random())
            if rng.random() < _P_CLONE:
                source, reason = self._clone_source(t), "clone"
            else:
                source, reason = "", "boot"
            t2 = t + rng.randrange(2 * NS, 30 * NS)
            self._emit([(t, _head("vm.storage.start", vm, "", source, reason, hv, cpu, mem, disk), True)])
            self._emit([(t2, _head("vm.compute.start", vm, "", source, reason, hv, cpu, mem, disk), True)])
            t, running = t2, True

        while True:
            if running:
                rates = (
                    _RATE_CRASH_RESTART,
                    _RATE_CRASH_LATE,
                    _RATE_USER_STOP,
                    _RATE_RESTORE,
                    _RATE_SNAPSHOT,
                    _RATE_RESIZE,
                    _RATE_REMOVE,
                )
            else:
                rates = (0.0, 0.0, DAY / _MEAN_OFF, _RATE_RESTORE, _RATE_SNAPSHOT, _RATE_RESIZE, _RATE_REMOVE)
            total = sum(rates)
            t += _exp(rng, DAY / total)
            if t >= t1:
                return
            x = rng.random() * total
            step = 0
            while step < len(rates) - 1 and x >= rates[step]:
                x -= rates[step]
                step += 1
            if step == 0:  # crash and restart at one instant
                c, m, d = shape_of_stop(True)
                self._emit(
                    [
                        (t, _head("vm.compute.stop", vm, "", "", "stop-crash", hv, c, m, d), False),
                        (t, _head("vm.compute.start", vm, "", "", "restart", hv, cpu, mem, disk), True),
                    ]
                )
            elif step == 1:  # a crash noticed later: the stop is back-dated to when the process died
                died = t - t % 1000
                noticed = t + rng.randrange(MINUTE, 3 * HOUR)
                c, m, d = shape_of_stop(True)
                self._emit(
                    [(died, _head("vm.compute.stop", vm, "", "", "stop-crash", hv, c, m, d), False)],
                    write_ns=noticed,
                )
                t = noticed + rng.randrange(NS, 20 * NS)
                self._emit([(t, _head("vm.compute.start", vm, "", "", "restart", hv, cpu, mem, disk), True)])
            elif step == 2:
                if running:  # a user stop
                    c, m, d = shape_of_stop(False)
                    self._emit([(t, _head("vm.compute.stop", vm, "", "", "stop-user", hv, c, m, d), False)])
                    running = False
                else:  # back on
                    reason = "hibernate-wake" if rng.random() < 0.3 else "restart"
                    self._emit([(t, _head("vm.compute.start", vm, "", "", reason, hv, cpu, mem, disk), True)])
                    running = True
            elif step == 3:  # restore from one of this VM's snapshots
                alive = [s for s in snaps if s.created < t < s.deleted]
                if not alive:
                    self._snapshot(t, snaps, disk, hv)
                    continue
                src = alive[rng.randrange(len(alive))].sid
                if running:
                    c, m, d = shape_of_stop(False)
                    self._emit([(t, _head("vm.compute.stop", vm, "", src, "restore", hv, c, m, d), False)])
                at = t + rng.randrange(3 * NS, 15 * NS)
                at -= at % 1_000_000
                old_disk = disk
                while disk == old_disk:
                    disk = _weighted(rng, _DISKS_GIB)[0] * GIB
                self._emit(
                    [
                        (at, _head("vm.storage.stop", vm, "", src, "restore", hv, cpu, mem, old_disk), False),
                        (at, _head("vm.storage.start", vm, "", src, "restore", hv, cpu, mem, disk), True),
                        (at, _head("vm.compute.start", vm, "", src, "restore", hv, cpu, mem, disk), True),
                    ]
                )
                t, running = at, True
            elif step == 4:
                self._snapshot(t, snaps, disk, hv)
            elif step == 5:  # a resize emits nothing: the next stop carries the new shape
                cpu, mem_gib, _ = _weighted(rng, _SHAPES)
                mem = mem_gib * GIB
            else:  # removal
                batch = []
                if running:
                    c, m, d = shape_of_stop(False)
                    batch.append((t, _head("vm.compute.stop", vm, "", "", "stop-user", hv, c, m, d), False))
                    t += rng.randrange(NS, 5 * NS)
                batch.append((t, _head("vm.storage.stop", vm, "", "", "vm-rm", hv, 0, 0, 0), False))
                self._emit(batch)
                return

    def ordered(self) -> list[_Event]:
        """The lines in write order (several processes appending: not strictly in time order)."""
        return sorted(self.events, key=lambda e: (e.write_ns, e.seq))


def _t_ns(start: datetime) -> int:
    if start.tzinfo is None:
        raise ValueError(f"start must be timezone-aware, got {start!r}")
    return int(start.timestamp()) * NS + start.microsecond * 1000


def _host_rng(seed: int, host: int) -> random.Random:
    return random.Random(f"reconcile-generate:{seed}:{host}")  # noqa: S311 (test data, not secrets)


def _host_name(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return letters[i] if i < 26 else f"{letters[i // 26 - 1]}{letters[i % 26]}"


# --- garbage -------------------------------------------------------------------------------------

# Per reject code, three variants; @VM@, @N@ and @WHEN@ are filled in. Each has exactly one fault, so
# its code is the one ingest must report. "\udcff" is written as the lone byte 0xff (surrogateescape).
_GARBAGE: dict[str, tuple[str, str, str]] = {
    "blank": ("", "", ""),
    "invalid_utf8": (
        '{"kind":"vm.compute.start","vm_id":"vm-\udcff-@N@","shape":{},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","reason":"stop-\udcfe","shape":{},"emitted_at":"@WHEN@"}',
        '{"kind":"snap.storage.start","snapshot_id":"s\udcc3-@N@","shape":{},"emitted_at":"@WHEN@"}',
    ),
    "malformed_json": (
        "not json at all",
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_',
        '{"kind""vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"@WHEN@"}',
    ),
    "not_an_object": ("[1,2,3]", "null", '"vm.compute.start"'),
    "wrong_type": (
        '{"kind":"vm.compute.start","vm_id":@N@,"shape":{"cpu":1},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":"big","emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","reason":7,"shape":{},"emitted_at":"@WHEN@"}',
    ),
    "unknown_kind": (
        '{"kind":"vm.gpu.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.pause","vm_id":"@VM@","shape":{},"emitted_at":"@WHEN@"}',
        '{"kind":"snap.storage.resize","snapshot_id":"s-@N@","shape":{},"emitted_at":"@WHEN@"}',
    ),
    "missing_id": (
        '{"kind":"vm.compute.start","shape":{"cpu":1},"emitted_at":"@WHEN@"}',
        '{"kind":"snap.storage.start","vm_id":"@VM@","shape":{"storage_bytes":1},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.storage.stop","vm_id":"","shape":{},"emitted_at":"@WHEN@"}',
    ),
    "bad_timestamp": (
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{},"emitted_at":"yesterday"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{},"emitted_at":"@LOCAL@"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{}}',
    ),
    "zero_timestamp": (
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"0001-01-01T00:00:00Z"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{},"emitted_at":"0001-01-01T00:00:00Z"}',
        '{"kind":"snap.storage.stop","snapshot_id":"s-@N@","shape":{},"emitted_at":"0001-01-01T00:00:00Z"}',
    ),
    "implausible_timestamp": (
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"1999-12-31T23:59:59Z"}',
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1},"emitted_at":"2200-01-01T00:00:00Z"}',
        '{"kind":"vm.compute.stop","vm_id":"@VM@","shape":{},"emitted_at":"1970-01-01T00:00:00.5Z"}',
    ),
    "bad_shape": (
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":-2},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.compute.start","vm_id":"@VM@","shape":{"cpu":1.5},"emitted_at":"@WHEN@"}',
        '{"kind":"vm.storage.start","vm_id":"@VM@","shape":{"storage_bytes":9223372036854775808},'
        '"emitted_at":"@WHEN@"}',
    ),
    "line_too_long": (
        '{"kind":"vm.compute.start","vm_id":"@VM@","pad":"@PAD@","shape":{},"emitted_at":"@WHEN@"}',
    )
    * 3,
}


def garbage_line(code: str, variant: int, when: str, n: int = 0) -> str:
    """A line ingest must reject with ``code`` and no earlier code (``when``: a valid RFC 3339 instant).

    ``variant`` (0-2) picks one of three ways to make the fault; ``n`` makes ids distinct.
    """
    try:
        template = _GARBAGE[code][variant % 3]
    except KeyError:
        raise ValueError(f"unknown garbage code {code!r}; expected one of {sorted(_GARBAGE)}") from None
    line = template.replace("@VM@", f"junk-{n:05d}").replace("@N@", str(n)).replace("@WHEN@", when)
    line = line.replace("@LOCAL@", when[:19])  # a date and time with no zone: not RFC 3339
    return line.replace("@PAD@", "x" * (1 << 20))


# --- the bulk ledger -----------------------------------------------------------------------------

_BASE_TOTAL = 160_000  # lines simulated at most (all hosts together); the rest are replicas
_WINDOWS = 720  # interleaving windows (about one per hour of a month)


@dataclass
class LedgerStats:
    """What :func:`generate_ledger` wrote. ``first_emitted``/``last_emitted``: of the first/last line."""

    path: str
    lines: int = 0
    bytes: int = 0
    seed: int = 0
    hosts: int = 0
    replicas: int = 0
    base_lines: int = 0
    first_emitted: str = ""
    last_emitted: str = ""
    garbage: dict[str, int] = field(default_factory=dict)
    crlf: int = 0

    def describe(self) -> str:
        """One line for people."""
        junk = sum(self.garbage.values())
        return (
            f"wrote {self.lines:,} lines ({self.bytes:,} bytes) to {self.path}: seed {self.seed}, "
            f"{self.hosts} hosts x {self.replicas} replicas of {self.base_lines:,}-line blocks, "
            f"{junk} garbage, {self.crlf} CRLF, {self.first_emitted} .. {self.last_emitted}"
        )


@dataclass
class _Base:
    parts: list[tuple[str, ...]]  # the line up to emitted_at, split where the replica code goes
    secs: list[int]  # the instant, Unix seconds (UTC)
    fracs: list[str]  # its fraction as written (".123456789", ".5", "")


def _simulate_base(rng: random.Random, t0: int, t1: int, target: int) -> _Base:
    sim = _HostSim(rng, t0, t1)
    while len(sim.events) < target:
        sim.vm()
    events = sim.ordered()[:target]
    return _Base(
        parts=[tuple(e.head.split(_MARK)) for e in events],
        secs=[e.t_ns // NS for e in events],
        fracs=[_frac_text(e.t_ns % NS) for e in events],
    )


def _emitted_at(line: str) -> str:
    return line.rsplit('"emitted_at":"', 1)[-1].rstrip('"}\r\n')


class _Bulk:
    """A bulk ledger of exactly ``lines`` lines: hosts, their base blocks, replicas, windows, garbage."""

    def __init__(
        self,
        *,
        lines: int,
        seed: int,
        hosts: int,
        start: datetime,
        days: float,
        garbage: float,
        garbage_codes: tuple[str, ...],
    ) -> None:
        if lines < 0:
            raise ValueError(f"lines must be >= 0, got {lines}")
        if hosts < 1:
            raise ValueError(f"hosts must be >= 1, got {hosts}")
        if not 0.0 <= garbage < 1.0:
            raise ValueError(f"garbage must be a fraction in [0, 1), got {garbage}")
        if days <= 0:
            raise ValueError(f"days must be > 0, got {days}")
        for code in garbage_codes:
            if code not in (*_GARBAGE, "crlf"):
                raise ValueError(f"unknown garbage code {code!r}; expected some of {sorted(_GARBAGE)}")
        self.lines, self.hosts, self.garbage_codes = lines, hosts, garbage_codes
        self.g_ratio = garbage / (1.0 - garbage)
        t0 = _t_ns(start)
        t1 = t0 + int(days * DAY)
        per_host = max(1, -(-lines // hosts))  # enough valid lines even with no garbage
        cap = max(1, _BASE_TOTAL // hosts)
        self.replicas = -(-per_host // cap)
        base_lines = -(-per_host // self.replicas)
        self.rng = random.Random(f"reconcile-generate-plan:{seed}")  # noqa: S311 (test data, not secrets)
        self.offsets = [HOST_OFFSETS[h % len(HOST_OFFSETS)] for h in range(hosts)]
        self.offset_texts = [_offset_text(o) for o in self.offsets]
        # replica 0 keeps the simulated instants; the others shift by up to half an hour
        self.shifts = [
            [0] + [self.rng.randrange(-1800, 1801) for _ in range(self.replicas - 1)] for _ in range(hosts)
        ]
        width = max(2, len(f"{self.replicas - 1:x}"))
        self.codes = [[f"{_host_name(h)}{r:0{width}x}" for r in range(self.replicas)] for h in range(hosts)]
        empty = _Base([], [], [])
        self.bases = [
            _simulate_base(_host_rng(seed, h), t0, t1, base_lines) if lines else empty for h in range(hosts)
        ]
        self.base_lines = min(len(b.parts) for b in self.bases)
        windows = max(1, min(_WINDOWS, -(-self.base_lines // 64)))
        self.edges = [self.base_lines * w // windows for w in range(windows + 1)]
        self.minutes = _MinuteCache()
        self.normal = self.junk = 0
        self.counts: dict[str, int] = {}
        self.crlf = 0

    def render(self, host: int, a: int, b: int) -> list[str]:
        """Base lines ``a:b`` of ``host`` for every replica (the hot loop)."""
        base = self.bases[host]
        parts, secs, fracs = base.parts, base.secs, base.fracs
        off_text, minutes, sec2 = self.offset_texts[host], self.minutes, _SEC2
        out: list[str] = []
        append = out.append
        for code, shift in zip(self.codes[host], self.shifts[host], strict=True):
            d = shift + self.offsets[host]
            for i in range(a, b):
                s = secs[i] + d
                m = s // 60
                append(f'{code.join(parts[i])}{minutes[m]}{sec2[s - m * 60]}{fracs[i]}{off_text}"}}\n')
        return out

    def add_garbage(self, out: list[str]) -> None:
        """Insert garbage so that it stays the asked fraction of the lines written so far."""
        self.normal += len(out)
        want = int(self.normal * self.g_ratio) - self.junk
        when = _emitted_at(out[0])
        rng = self.rng
        for _ in range(want):
            code = self.garbage_codes[rng.randrange(len(self.garbage_codes))]
            self.junk += 1
            pos = rng.randrange(len(out) + 1)
            if code == "crlf":  # not garbage: a valid line ending in CRLF
                j = min(pos, len(out) - 1)
                if out[j].endswith('"}\n'):
                    out[j] = out[j][:-1] + "\r\n"
                    self.crlf += 1
                continue
            self.counts[code] = self.counts.get(code, 0) + 1
            out.insert(pos, garbage_line(code, rng.randrange(3), when, self.junk) + "\n")

    def chunks(self, stats: LedgerStats) -> Iterator[tuple[int, bytes]]:
        """The ledger as ``(host, bytes)`` chunks (one per window and host), ``stats`` kept up to date."""
        stats.hosts, stats.replicas, stats.base_lines = self.hosts, self.replicas, self.base_lines
        room = self.lines
        for w in range(len(self.edges) - 1):
            for h in range(self.hosts):
                out = self.render(h, self.edges[w], self.edges[w + 1])
                if not out:
                    continue
                if self.g_ratio:
                    self.add_garbage(out)
                if len(out) > room:
                    del out[room:]
                room -= len(out)
                chunk = "".join(out).encode("utf-8", "surrogateescape")
                stats.lines += len(out)
                stats.bytes += len(chunk)
                stats.first_emitted = stats.first_emitted or _emitted_at(out[0])
                stats.last_emitted = _emitted_at(out[-1])
                stats.garbage = dict(sorted(self.counts.items()))
                stats.crlf = self.crlf
                yield h, chunk
                if room == 0:
                    return


def iter_ledger_chunks(
    *,
    lines: int,
    seed: int = 0,
    hosts: int = 4,
    start: datetime = DEFAULT_START,
    days: float = 30,
    garbage: float = 0.0,
    garbage_codes: tuple[str, ...] = GARBAGE_CODES,
    stats: LedgerStats | None = None,
) -> Iterator[bytes]:
    """Yield the ledger of :func:`generate_ledger` as byte chunks of a few MB at most (bounded memory).

    If ``stats`` is given it is filled in as chunks are produced (its ``path`` is left alone).
    """
    bulk = _Bulk(
        lines=lines,
        seed=seed,
        hosts=hosts,
        start=start,
        days=days,
        garbage=garbage,
        garbage_codes=garbage_codes,
    )
    if stats is None:
        stats = LedgerStats(path="")
    stats.seed = seed
    return (chunk for _, chunk in bulk.chunks(stats))


def generate_ledger(
    out: str | Path | BinaryIO,
    *,
    lines: int,
    seed: int = 0,
    hosts: int = 4,
    start: datetime = DEFAULT_START,
    days: float = 30,
    garbage: float = 0.0,
    garbage_codes: tuple[str, ...] = GARBAGE_CODES,
    split: bool = False,
    quiet: bool = True,
) -> LedgerStats:
    """Write a realistic ledger of exactly ``lines`` lines (``\\n``-terminated) and return what it wrote.

    ``out`` is a path (the file is replaced) or a binary stream. With ``split``, ``out`` is a folder
    and each host's lines go to ``out/host-a/ledger.jsonl``, ``out/host-b/...`` (``lines`` in total),
    as hosts leave them for the nightly job. ``hosts`` hosts, each with its own zone
    offset (:data:`HOST_OFFSETS`: ``Z``, ``-05:00``, ``+05:30``, ``+09:00``, ...), write into the one
    file, as a collector merging them would. The ledger spans ``days`` days from ``start`` (default a
    month from 2026-11-01T00:00Z). ``garbage`` is the fraction of lines that are garbage, 0 by default
    (benchmarks measure clean ledgers; ``1e-4`` exercises the reject path); they are drawn from
    ``garbage_codes`` (:data:`GARBAGE_CODES`; ``"crlf"`` there turns a valid line into CRLF instead of
    adding one). See the module docstring for what the lines model and how big ledgers are made: memory
    stays bounded whatever ``lines`` is (measured here: 212 MB peak RSS for 10M lines, 226 MB for 50M),
    and a quiet core writes about 1.7M lines (350 MB) a second: 10M lines (2.08 GB) in about 6 s (19 s
    measured while other jobs shared the machine).
    Progress on stderr unless ``quiet``.
    """
    path = str(out) if isinstance(out, str | Path) else str(getattr(out, "name", "<stream>"))
    stats = LedgerStats(path=path, seed=seed)
    progress = Progress(quiet=quiet)
    bulk = _Bulk(
        lines=lines,
        seed=seed,
        hosts=hosts,
        start=start,
        days=days,
        garbage=garbage,
        garbage_codes=garbage_codes,
    )
    if split:
        if not isinstance(out, str | Path):
            raise ValueError("split=True needs a folder path as out")
        folders = [Path(out) / f"host-{_host_name(h)}" for h in range(hosts)]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            files = [stack.enter_context(open(folder / "ledger.jsonl", "wb")) for folder in folders]
            for h, chunk in bulk.chunks(stats):
                files[h].write(chunk)
                progress.update(f"generate: {stats.lines:,} / {lines:,} lines")
    else:
        with open(out, "wb") if isinstance(out, str | Path) else nullcontext(out) as f:
            for _, chunk in bulk.chunks(stats):
                f.write(chunk)
                progress.update(f"generate: {stats.lines:,} / {lines:,} lines")
    progress.note(f"generate: {stats.describe()}")
    return stats


def generate_lines(
    *,
    lines: int,
    seed: int = 0,
    hosts: int = 4,
    start: datetime = DEFAULT_START,
    days: float = 30,
    garbage: float = 0.0,
    garbage_codes: tuple[str, ...] = GARBAGE_CODES,
) -> list[str]:
    """The lines :func:`generate_ledger` would write, as text without their ``\\n`` (for small tests).

    A CRLF line keeps its ``\\r``; invalid UTF-8 bytes appear as lone surrogates (``surrogateescape``).
    """
    chunks = iter_ledger_chunks(
        lines=lines,
        seed=seed,
        hosts=hosts,
        start=start,
        days=days,
        garbage=garbage,
        garbage_codes=garbage_codes,
    )
    return b"".join(chunks).decode("utf-8", "surrogateescape").split("\n")[:-1]


# --- the fleet layout ----------------------------------------------------------------------------


@dataclass
class FleetHost:
    """One host folder of :func:`write_fleet`."""

    name: str
    offset: str
    live: Path
    rotated: Path
    copy: Path | None
    live_lines: int  # complete lines in the live file (garbage included, torn tail excluded)
    rotated_lines: int
    torn: bytes  # the partial last line of the live file (b"" if none)
    torn_rest: bytes  # the bytes that complete it, "\n" included


@dataclass
class FleetInfo:
    """What :func:`write_fleet` wrote, with the counts an ingest of the whole folder should report."""

    root: Path
    hosts: list[FleetHost]
    lines: int  # lines in all files, the copy and the pending torn tail included (as ingest counts)
    events: int  # distinct valid lines: what ingest keeps
    duplicates: int  # the lines of the copy
    rejects: dict[str, int]  # SPEC code -> count
    pending: int  # torn tails
    first_emitted: str  # earliest and latest instant of a valid line, UTC
    last_emitted: str


def _write_gz(path: Path, data: bytes) -> None:
    """Deterministic gzip: no file name, mtime 0."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(data)


def _write_host(
    folder: Path,
    name: str,
    offset: int,
    rendered: list[str],
    *,
    rotated_fraction: float,
    garbage: list[str],
    crlf: int,
    torn_tail: bool,
    copy_rotated: bool,
    rng: random.Random,
) -> FleetHost:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    cut = int(len(rendered) * rotated_fraction)
    rotated, live = rendered[:cut], rendered[cut:]
    torn = torn_rest = b""
    if torn_tail and live:  # a writer mid-append: the last line is half written
        last = live.pop().encode("utf-8")
        torn, torn_rest = last[: len(last) // 2], last[len(last) // 2 :]
    for _ in range(crlf):  # a valid line written by a Windows-minded tool
        if live:
            j = rng.randrange(len(live))
            live[j] = live[j].removesuffix("\r\n").removesuffix("\n") + "\r\n"
    for text in garbage:
        live.insert(rng.randrange(len(live) + 1), text + "\n")
    live_path, rot_path = folder / "ledger.jsonl", folder / "ledger.jsonl.1.gz"
    _write_gz(rot_path, "".join(rotated).encode("utf-8"))
    live_path.write_bytes("".join(live).encode("utf-8", "surrogateescape") + torn)
    copy_path = None
    if copy_rotated:
        copy_path = folder / "ledger.jsonl.1.copy.gz"
        shutil.copyfile(rot_path, copy_path)
    return FleetHost(
        name=folder.name,
        offset=_offset_text(offset),
        live=live_path,
        rotated=rot_path,
        copy=copy_path,
        live_lines=len(live),
        rotated_lines=len(rotated),
        torn=torn,
        torn_rest=torn_rest,
    )


def write_fleet(
    directory: str | Path,
    seed: int = 0,
    *,
    hosts: int = 4,
    vms_per_host: int = 75,
    days: float = 7,
    start: datetime = DEFAULT_FLEET_START,
    garbage: bool = True,
    garbage_codes: tuple[str, ...] = GARBAGE_CODES,
    copy_rotated: bool = True,
    torn_tail: bool = True,
    rotated_fraction: float = 0.6,
    lost: float = _P_LOST,
) -> FleetInfo:
    """Write a fleet's ledgers as they reach the nightly job, like ``../shared/samples/fleet``.

    ``directory/host-a/ledger.jsonl`` (live) and ``ledger.jsonl.1.gz`` (rotated: the first
    ``rotated_fraction`` of the host's lines in write order) for each of ``hosts`` hosts, each simulating
    ``vms_per_host`` VMs over ``days`` days from ``start`` (default 2026-11-18T00:00Z) in its own zone
    offset. With ``copy_rotated`` host-b's rotated file is shipped twice (``ledger.jsonl.1.copy.gz``,
    identical bytes: its lines are duplicates). With ``garbage`` one line of each of ``garbage_codes``
    goes into a random host's live file at a random place, and one valid line becomes CRLF. With
    ``torn_tail`` host-a's live file ends in the first half of a line (a writer mid-append;
    :attr:`FleetHost.torn_rest` completes it). The defaults (4 hosts, 300 VMs, a week) make about 2k
    lines in a few tens of milliseconds. ``lost`` is the probability that a start or stop line is lost
    (the producer's crash between commit and emit): raise it to see more double starts and stops.
    Existing host folders are replaced; the result says what an
    ingest of the folder should count: ``lines = events + duplicates + rejects + pending``.
    """
    root = Path(directory)
    t0 = _t_ns(start)
    t1 = t0 + int(days * DAY)
    rng = random.Random(f"reconcile-fleet:{seed}")  # noqa: S311 (test data, not secrets)
    rendered: list[list[str]] = []
    first_ns, last_ns = t1, t0
    for h in range(hosts):
        sim = _HostSim(_host_rng(seed, h), t0, t1, lost)
        for _ in range(vms_per_host):
            sim.vm()
        offset, name = HOST_OFFSETS[h % len(HOST_OFFSETS)], _host_name(h)
        lines = []
        for e in sim.ordered():
            first_ns, last_ns = min(first_ns, e.t_ns), max(last_ns, e.t_ns)
            lines.append(f'{e.head.replace(_MARK, name)}{format_instant(e.t_ns, offset)}"}}\n')
        rendered.append(lines)
    junk: list[list[str]] = [[] for _ in range(hosts)]
    crlf = [0] * hosts
    rejects: dict[str, int] = {}
    if garbage:
        for n, code in enumerate(garbage_codes):
            h = rng.randrange(hosts)
            when = format_instant(t0 + int((t1 - t0) * rng.random()), HOST_OFFSETS[h % len(HOST_OFFSETS)])
            junk[h].append(garbage_line(code, rng.randrange(3), when, n))
            rejects[code] = rejects.get(code, 0) + 1
        crlf[rng.randrange(hosts)] += 1
    out = [
        _write_host(
            root / f"host-{_host_name(h)}",
            _host_name(h),
            HOST_OFFSETS[h % len(HOST_OFFSETS)],
            rendered[h],
            rotated_fraction=rotated_fraction,
            garbage=junk[h],
            crlf=crlf[h],
            torn_tail=torn_tail and h == 0,
            copy_rotated=copy_rotated and h == min(1, hosts - 1),
            rng=rng,
        )
        for h in range(hosts)
    ]
    pending = sum(1 for host in out if host.torn)
    duplicates = sum(host.rotated_lines for host in out if host.copy is not None)
    return FleetInfo(
        root=root,
        hosts=out,
        lines=sum(host.live_lines + host.rotated_lines for host in out) + duplicates + pending,
        events=sum(len(r) for r in rendered) - pending,
        duplicates=duplicates,
        rejects=dict(sorted(rejects.items())),
        pending=pending,
        first_emitted=format_instant(first_ns, 0),
        last_emitted=format_instant(last_ns, 0),
    )


_TENANT_NAMES: tuple[str, ...] = (
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "tyrell",
    "cyberdyne",
    "soylent",
)


def write_tenants(
    path: str | Path,
    resource_ids: Iterable[str],
    seed: int = 0,
    *,
    tenants: int = 6,
    move_at: datetime | None = None,
    moved: float = 0.05,
    unattributed: float = 0.03,
) -> int:
    """Write a tenant attribution CSV (``resource_id,tenant_id,valid_from,valid_to``) and return its rows.

    Deterministic for ``seed`` and the set of ``resource_ids``. Tenants get resources with skewed
    weights (the first tenant is the largest, as real fleets are). A ``moved`` fraction of resources
    changes tenant at ``move_at`` (two rows, split there; needs ``move_at``), an ``unattributed``
    fraction gets no row at all, so its slices are counted as unattributed. The rest get one row with
    open validity (empty ``valid_from`` and ``valid_to``).
    """
    if not 1 <= tenants <= len(_TENANT_NAMES):
        raise ValueError(f"tenants must be between 1 and {len(_TENANT_NAMES)}, not {tenants}")
    rng = random.Random(f"reconcile-tenants:{seed}")  # noqa: S311 (test data, not secrets)
    names = _TENANT_NAMES[:tenants]
    weights = [1.0 / (rank + 1) for rank in range(tenants)]
    split = "" if move_at is None else format_instant(_t_ns(move_at), 0)
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["resource_id", "tenant_id", "valid_from", "valid_to"])
        for resource_id in sorted(set(resource_ids)):
            u = rng.random()
            if u < unattributed:
                continue
            first = rng.choices(names, weights)[0]
            if split and u < unattributed + moved and tenants > 1:
                second = rng.choice([name for name in names if name != first])
                out.writerows([[resource_id, first, "", split], [resource_id, second, split, ""]])
                rows += 2
            else:
                out.writerow([resource_id, first, "", ""])
                rows += 1
    return rows
