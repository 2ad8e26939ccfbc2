"""Reference model of SPEC section 3 pairing: plain Python, slow, obviously correct.

It walks each resource's events with the state machine exactly as the SPEC table states it (an
explicit `open` interval, not the previous endpoint), so agreeing with the SQL proves that the SQL's
shortcut (role from the previous event's endpoint) is the same machine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from helpers.pairing_ledger import Event

PRICED_FIELDS = {
    "vm.compute": ("cpu", "mem_bytes"),
    "vm.storage": ("storage_bytes",),
    "snap.storage": ("storage_bytes",),
}


@dataclass
class ModelResult:
    """Rows keyed like the SQL tables (a subset of columns; `detail` is free text and not modelled)."""

    intervals: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)


def _interval(start: Event, end: Event | None, status: str) -> dict[str, Any]:
    closed = status == "closed"
    return {
        "interval_id": start.event_id,
        "family": start.family,
        "resource_id": start.resource_id,
        "vm_id": start.vm_id,
        "snapshot_id": start.snapshot_id,
        "source_snapshot_id": start.source_snapshot_id,
        "hypervisor": start.hypervisor,
        "cpu": start.cpu,
        "mem_bytes": start.mem_bytes,
        "storage_bytes": start.storage_bytes,
        "start_ns": start.emitted_ns,
        "end_ns": end.emitted_ns if end else None,
        "start_reason": start.reason,
        "end_reason": end.reason if end and closed else None,
        "status": status,
        "start_source": start.source,
        "end_source": end.source if end else None,
        "start_event_id": start.event_id,
        "end_event_id": end.event_id if end else None,
        "end_cpu": end.cpu if end and closed else None,
        "end_mem_bytes": end.mem_bytes if end and closed else None,
        "end_storage_bytes": end.storage_bytes if end and closed else None,
    }


def _anomaly(code: str, about: Event, interval_id: str | None) -> dict[str, Any]:
    return {
        "code": code,
        "family": about.family,
        "resource_id": about.resource_id,
        "at_ns": about.emitted_ns,
        "source_file": about.source_file,
        "source_line": about.source_line,
        "event_id": about.event_id,
        "interval_id": interval_id,
    }


def _shape_mismatch(start: Event, stop: Event) -> bool:
    if stop.cpu == 0 and stop.mem_bytes == 0 and stop.storage_bytes == 0:
        return False  # `{}`: the stop says nothing about the shape
    return any(getattr(start, f) != getattr(stop, f) for f in PRICED_FIELDS[start.family])


def model_pair(
    events: Iterable[Event], cut_off_ns: int, double_start: str = "close", stale_after_ns: int | None = None
) -> ModelResult:
    """Pair `events` as SPEC section 3 says."""
    by_resource: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in events:
        if e.emitted_ns < cut_off_ns:  # events at or after the cut-off do not exist for the run
            by_resource[(e.family, e.resource_id)].append(e)
    result = ModelResult()
    for history in by_resource.values():
        history.sort(key=lambda e: e.order_key)
        state = "closed"
        open_start: Event | None = None
        previous: Event | None = None
        for e in history:
            if e.endpoint == "start":
                if state == "open":
                    assert open_start is not None
                    status = "dropped" if double_start == "drop" else "inferred"
                    result.intervals.append(_interval(open_start, e, status))
                    result.anomalies.append(_anomaly("double_start", e, open_start.event_id))
                result.roles[e.event_id] = "start"
                state, open_start = "open", e
            elif state == "open":
                assert open_start is not None
                result.intervals.append(_interval(open_start, e, "closed"))
                if _shape_mismatch(open_start, e):
                    result.anomalies.append(_anomaly("shape_mismatch", e, open_start.event_id))
                result.roles[e.event_id] = "stop"
                state, open_start = "closed", None
            else:
                code = "orphan_stop" if previous is None else "double_stop"
                result.anomalies.append(_anomaly(code, e, None))
                result.roles[e.event_id] = "unmatched_stop"
            previous = e
        if state == "open":
            assert open_start is not None
            result.intervals.append(_interval(open_start, None, "open"))
            if stale_after_ns is not None and cut_off_ns - open_start.emitted_ns > stale_after_ns:
                result.anomalies.append(_anomaly("stale_open", open_start, open_start.event_id))
    return result
