"""One host's VMs and snapshots over a period, step by step: the lines they write, in write order.

Ids carry :data:`MARK` where the host's (or the replica's) code goes: the fleet layout replaces it with
the host's name, the bulk ledger splits lines there and joins them with each replica's code.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field

from reconcile.testing._catalogue import (
    DISKS_GIB,
    GIB,
    HYPERVISORS,
    MEAN_OFF,
    MEAN_SNAPSHOT_LIFE,
    MIB,
    P_CLONE,
    P_LOST,
    P_PREDATES,
    RATE_CRASH_LATE,
    RATE_CRASH_RESTART,
    RATE_REMOVE,
    RATE_RESIZE,
    RATE_RESTORE,
    RATE_SNAPSHOT,
    RATE_USER_STOP,
    SHAPES,
)
from reconcile.testing._instants import DAY, HOUR, MINUTE, NS
from recorder._wire import line_head  # private to the distribution: the recorder's one wire encoder

MARK = "\x7f"
"""Stands for the host's or replica's code inside ids. DEL: the wire encoder leaves it as it is (it
escapes control characters below U+0020 only), no generated id or line holds it, and it is replaced in
every line before one is written."""

_NO_SHAPE = (0, 0, 0)  # written {}


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
class Event:
    """One line of a host: when it is written, its instant, and its text up to the instant."""

    write_ns: int
    seq: int
    t_ns: int
    head: str  # the line up to and including "emitted_at":" (recorder._wire.line_head), ids with MARK
    start: bool


@dataclass(frozen=True)
class Truth:
    """One change of what really runs on a host (kept when :class:`HostSim` is asked to):
    a resource starts or stops, or a running VM's priced shape changes (``endpoint`` ``resize``).
    Lost lines are here too (the change happened), and the starts of resources that predate
    metering (before ``t0``, never written)."""

    t_ns: int
    family: str
    resource_id: str  # with MARK
    endpoint: str  # "start", "stop", "resize"
    shape: tuple[int, int, int]
    hypervisor: str


@dataclass
class Faults:
    """How often the producer fails, per :class:`HostSim`: ``lost`` (a start or stop line lost),
    ``resizes`` (silent resizes per VM and day), ``predates`` (the share of VMs already running when
    metering starts). ``emit_resizes``: write each resize of a running VM as a stop and a start at
    its instant (what a producer reporting resizes would write: the truth a silent resize hides);
    those lines are never lost and draw nothing from the random stream, so a fleet written with
    and without them is otherwise the same. ``truth``: keep every change in ``HostSim.truth``."""

    lost: float = P_LOST
    resizes: float = RATE_RESIZE
    predates: float = P_PREDATES
    emit_resizes: bool = False
    truth: bool = False
    kept: list[Truth] = field(default_factory=list)


class HostSim:
    """Simulates one host's VMs and snapshots; ids carry :data:`MARK` where the replica code goes."""

    def __init__(
        self, rng: random.Random, t0: int, t1: int, lost: float = P_LOST, faults: Faults | None = None
    ) -> None:
        self.rng = rng
        self.t0 = t0
        self.t1 = t1
        self.faults = faults if faults is not None else Faults(lost=lost)
        self.lost = self.faults.lost
        self.events: list[Event] = []
        self.lost_events: list[Event] = []  # the lines the producer lost (written nowhere)
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

    def _emit(
        self, batch: list[tuple[int, str, bool]], write_ns: int | None = None, *, lossless: bool = False
    ) -> None:
        """Queue lines written together by one process (kept in order); drop lost ones.
        ``lossless``: none is lost, and no random number is drawn."""
        rng = self.rng
        w = (batch[0][0] + self._write_delay()) if write_ns is None else write_ns
        for t_ns, head, start in batch:
            if t_ns >= self.t1:
                continue
            self._seq += 1
            event = Event(max(w, t_ns), self._seq, t_ns, head, start)
            if self.faults.truth:
                self._keep_line(t_ns, head, start)
            if not lossless and rng.random() < self.lost:
                self.lost_events.append(event)
                continue
            self.events.append(event)

    def _keep_line(self, t_ns: int, head: str, start: bool) -> None:
        """Keep the change a line records (its head read back: ids, shape, hypervisor)."""
        entry = json.loads(head + '"}')
        family = entry["kind"].rsplit(".", 1)[0]
        resource = entry.get("snapshot_id", "") if family == "snap.storage" else entry.get("vm_id", "")
        shape = entry.get("shape", {})
        self.keep(
            Truth(
                t_ns,
                family,
                resource,
                "start" if start else "stop",
                (shape.get("cpu", 0), shape.get("mem_bytes", 0), shape.get("storage_bytes", 0)),
                entry.get("hypervisor", ""),
            )
        )

    def keep(self, change: Truth) -> None:
        """Keep one change of what runs (when truth is kept)."""
        if self.faults.truth and change.t_ns < self.t1:
            self.faults.kept.append(change)

    # --- snapshots ---------------------------------------------------------------------------------

    def _new_snap_id(self) -> str:
        self.n_snaps += 1
        return f"snap-{MARK}-{self.n_snaps:06d}"

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
        deleted = t + _exp(rng, MEAN_SNAPSHOT_LIFE)
        snap = _Snap(sid, t, deleted, size)
        vm_snaps.append(snap)
        self.snaps.append(snap)
        self._emit([(t, line_head("snap.storage.start", "", sid, source, reason, hv, (0, 0, size)), True)])
        self._emit([(deleted, line_head("snap.storage.stop", "", sid, "", "snap-rm", hv, _NO_SHAPE), False)])

    def _old_snap(self, hv: str) -> _Snap:
        """A snapshot taken before metering began: only its deletion can appear in the ledger."""
        rng = self.rng
        sid = self._new_snap_id()
        deleted = self.t0 + int((self.t1 - self.t0) * rng.random() * 1.5)
        snap = _Snap(sid, self.t0 - DAY, deleted, rng.randrange(1, 4096) * MIB)
        self.snaps.append(snap)
        self.keep(Truth(snap.created, "snap.storage", sid, "start", (0, 0, snap.size), hv))
        self._emit([(deleted, line_head("snap.storage.stop", "", sid, "", "snap-rm", hv, _NO_SHAPE), False)])
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
        vm = f"vm-{MARK}-{self.n_vms:05d}"
        hv = HYPERVISORS[0] if rng.random() < 0.55 else HYPERVISORS[1]
        cpu, mem_gib, _ = _weighted(rng, SHAPES)
        mem = mem_gib * GIB
        disk = _weighted(rng, DISKS_GIB)[0] * GIB
        snaps: list[_Snap] = []

        def head(kind: str, source: str, reason: str, shape: tuple[int, int, int]) -> str:
            return line_head(kind, vm, "", source, reason, hv, shape)

        def shape_of_stop(crash: bool) -> tuple[int, int, int]:
            if rng.random() < (0.2 if crash else 0.03):
                return _NO_SHAPE
            return cpu, mem, disk

        if rng.random() < self.faults.predates:
            t = t0
            running = rng.random() < 0.85
            before = t0 - 1  # (never written: metering had not started)
            self.keep(Truth(before, "vm.storage", vm, "start", (cpu, mem, disk), hv))
            if running:
                self.keep(Truth(before, "vm.compute", vm, "start", (cpu, mem, disk), hv))
            if rng.random() < 0.3:
                snaps.append(self._old_snap(hv))
        else:
            t = t0 + int((t1 - t0) * rng.random())
            if rng.random() < P_CLONE:
                source, reason = self._clone_source(t), "clone"
            else:
                source, reason = "", "boot"
            t2 = t + rng.randrange(2 * NS, 30 * NS)
            self._emit([(t, head("vm.storage.start", source, reason, (cpu, mem, disk)), True)])
            self._emit([(t2, head("vm.compute.start", source, reason, (cpu, mem, disk)), True)])
            t, running = t2, True

        while True:
            if running:
                rates = (
                    RATE_CRASH_RESTART,
                    RATE_CRASH_LATE,
                    RATE_USER_STOP,
                    RATE_RESTORE,
                    RATE_SNAPSHOT,
                    self.faults.resizes,
                    RATE_REMOVE,
                )
            else:
                rates = (
                    0.0,
                    0.0,
                    DAY / MEAN_OFF,
                    RATE_RESTORE,
                    RATE_SNAPSHOT,
                    self.faults.resizes,
                    RATE_REMOVE,
                )
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
                stop_shape = shape_of_stop(True)
                self._emit(
                    [
                        (t, head("vm.compute.stop", "", "stop-crash", stop_shape), False),
                        (t, head("vm.compute.start", "", "restart", (cpu, mem, disk)), True),
                    ]
                )
            elif step == 1:  # a crash noticed later: the stop is back-dated to when the process died
                died = t - t % 1000
                noticed = t + rng.randrange(MINUTE, 3 * HOUR)
                stop_shape = shape_of_stop(True)
                self._emit(
                    [(died, head("vm.compute.stop", "", "stop-crash", stop_shape), False)], write_ns=noticed
                )
                t = noticed + rng.randrange(NS, 20 * NS)
                self._emit([(t, head("vm.compute.start", "", "restart", (cpu, mem, disk)), True)])
            elif step == 2:
                if running:  # a user stop
                    stop_shape = shape_of_stop(False)
                    self._emit([(t, head("vm.compute.stop", "", "stop-user", stop_shape), False)])
                    running = False
                else:  # back on
                    reason = "hibernate-wake" if rng.random() < 0.3 else "restart"
                    self._emit([(t, head("vm.compute.start", "", reason, (cpu, mem, disk)), True)])
                    running = True
            elif step == 3:  # restore from one of this VM's snapshots
                alive = [s for s in snaps if s.created < t < s.deleted]
                if not alive:
                    self._snapshot(t, snaps, disk, hv)
                    continue
                src = alive[rng.randrange(len(alive))].sid
                if running:
                    stop_shape = shape_of_stop(False)
                    self._emit([(t, head("vm.compute.stop", src, "restore", stop_shape), False)])
                at = t + rng.randrange(3 * NS, 15 * NS)
                at -= at % 1_000_000
                old_disk = disk
                while disk == old_disk:
                    disk = _weighted(rng, DISKS_GIB)[0] * GIB
                self._emit(
                    [
                        (at, head("vm.storage.stop", src, "restore", (cpu, mem, old_disk)), False),
                        (at, head("vm.storage.start", src, "restore", (cpu, mem, disk)), True),
                        (at, head("vm.compute.start", src, "restore", (cpu, mem, disk)), True),
                    ]
                )
                t, running = at, True
            elif step == 4:
                self._snapshot(t, snaps, disk, hv)
            elif step == 5:  # a resize emits nothing: the next stop carries the new shape
                old = (cpu, mem, disk)
                cpu, mem_gib, _ = _weighted(rng, SHAPES)
                mem = mem_gib * GIB
                if running and (cpu, mem) != old[:2]:
                    self._resized(t, vm, hv, old, (cpu, mem, disk))
            else:  # removal
                batch = []
                if running:
                    stop_shape = shape_of_stop(False)
                    batch.append((t, head("vm.compute.stop", "", "stop-user", stop_shape), False))
                    t += rng.randrange(NS, 5 * NS)
                batch.append((t, head("vm.storage.stop", "", "vm-rm", _NO_SHAPE), False))
                self._emit(batch)
                return

    def _resized(
        self, t: int, vm: str, hv: str, old: tuple[int, int, int], new: tuple[int, int, int]
    ) -> None:
        """A running VM's shape changed at ``t``: kept as truth, written only with ``emit_resizes``."""
        if t >= self.t1:
            return
        if self.faults.emit_resizes:
            self._emit(
                [
                    (t, line_head("vm.compute.stop", vm, "", "", "resize", hv, old), False),
                    (t, line_head("vm.compute.start", vm, "", "", "resize", hv, new), True),
                ],
                write_ns=t,
                lossless=True,
            )
        else:
            self.keep(Truth(t, "vm.compute", vm, "resize", new, hv))

    def ordered(self) -> list[Event]:
        """The lines in write order (several processes appending: not strictly in time order)."""
        return sorted(self.events, key=lambda e: (e.write_ns, e.seq))
