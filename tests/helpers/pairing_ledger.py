"""Test helper: ledger lines (JSON) -> rows of the `events` table (docs/ARCHITECTURE.md).

Independent of the ingest stage, so that pairing can be tested on its own: parses `emitted_at`
exactly (nanoseconds, zone offsets), derives family / endpoint / resource_id, computes `event_id`
per the hash rule and drops duplicates (same `event_id`) keeping the first, as ingest does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pyarrow as pa

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})",
)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
NS = 1_000_000_000


def parse_instant_ns(text: str) -> int:
    """Unix nanoseconds of an RFC 3339 instant, exactly (no float, no microsecond rounding)."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 instant: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction = (m.group(7) or "").ljust(9, "0")
    zone = m.group(8)
    offset_s = 0
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset_s = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    days = dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s
    return seconds * NS + int(fraction)


def format_instant(ns: int) -> str:
    """RFC 3339 UTC text of Unix nanoseconds with 9 fraction digits (for readable test files)."""
    seconds, fraction = divmod(ns, NS)
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def _hash_part(value: str | int | None) -> str:
    if value is None:
        return "0:"
    if isinstance(value, int):
        return str(value)
    return f"{len(value.encode('utf-8'))}:{value}"


@dataclass(frozen=True)
class Event:
    """One row of the events table."""

    event_id: str
    family: str
    endpoint: str
    resource_id: str
    kind: str
    vm_id: str | None
    snapshot_id: str | None
    source_snapshot_id: str | None
    reason: str | None
    hypervisor: str | None
    cpu: int
    mem_bytes: int
    storage_bytes: int
    emitted_ns: int
    source_file: str
    source_line: int
    ingest_id: str = "test-ingest"

    @property
    def order_key(self) -> tuple[int, int, str, int, str]:
        """The pairing order within one resource: instant, stop before start, source, event_id."""
        return (
            self.emitted_ns,
            0 if self.endpoint == "stop" else 1,
            self.source_file,
            self.source_line,
            self.event_id,
        )

    @property
    def source(self) -> str:
        """`file:line` as the intervals table writes it."""
        return f"{self.source_file}:{self.source_line}"


def make_event(
    kind: str,
    resource_id: str,
    emitted_ns: int,
    source_file: str,
    source_line: int,
    *,
    reason: str | None = None,
    hypervisor: str | None = None,
    source_snapshot_id: str | None = None,
    cpu: int = 0,
    mem_bytes: int = 0,
    storage_bytes: int = 0,
) -> Event:
    """An event with its id computed from the normalised fields (the ARCHITECTURE hash rule)."""
    family, endpoint = kind.rsplit(".", 1)
    vm_id = resource_id if family.startswith("vm.") else None
    snapshot_id = None if family.startswith("vm.") else resource_id
    parts = [
        kind,
        vm_id,
        snapshot_id,
        source_snapshot_id,
        reason,
        hypervisor,
        cpu,
        mem_bytes,
        storage_bytes,
        emitted_ns,
    ]
    event_id = hashlib.md5("|".join(_hash_part(p) for p in parts).encode("utf-8")).hexdigest()  # noqa: S324
    return Event(
        event_id=event_id,
        family=family,
        endpoint=endpoint,
        resource_id=resource_id,
        kind=kind,
        vm_id=vm_id,
        snapshot_id=snapshot_id,
        source_snapshot_id=source_snapshot_id,
        reason=reason,
        hypervisor=hypervisor,
        cpu=cpu,
        mem_bytes=mem_bytes,
        storage_bytes=storage_bytes,
        emitted_ns=emitted_ns,
        source_file=source_file,
        source_line=source_line,
    )


def event_from_line(line: str, source_file: str, source_line: int) -> Event:
    """The event of one well-formed ledger line."""
    obj = json.loads(line)
    kind = obj["kind"]
    shape = obj.get("shape", {})
    resource_id = obj["vm_id"] if kind.startswith("vm.") else obj["snapshot_id"]
    return make_event(
        kind,
        resource_id,
        parse_instant_ns(obj["emitted_at"]),
        source_file,
        source_line,
        reason=obj.get("reason") or None,
        hypervisor=obj.get("hypervisor") or None,
        source_snapshot_id=obj.get("source_snapshot_id") or None,
        cpu=shape.get("cpu", 0),
        mem_bytes=shape.get("mem_bytes", 0),
        storage_bytes=shape.get("storage_bytes", 0),
    )


def events_from_ledger(path: Path, source_file: str | None = None) -> list[Event]:
    """The events of a ledger file (every line well-formed), duplicates removed."""
    name = source_file if source_file is not None else str(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    return dedupe(event_from_line(text, name, n) for n, text in enumerate(lines, start=1))


def dedupe(events: Iterable[Event]) -> list[Event]:
    """Keep the first event of each event_id (the store holds distinct events)."""
    seen: dict[str, Event] = {}
    for e in events:
        seen.setdefault(e.event_id, e)
    return list(seen.values())


# The events table of docs/ARCHITECTURE.md as Arrow (also used by run_fixture).
EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("family", pa.string()),
        ("endpoint", pa.string()),
        ("resource_id", pa.string()),
        ("kind", pa.string()),
        ("vm_id", pa.string()),
        ("snapshot_id", pa.string()),
        ("source_snapshot_id", pa.string()),
        ("reason", pa.string()),
        ("hypervisor", pa.string()),
        ("cpu", pa.int64()),
        ("mem_bytes", pa.int64()),
        ("storage_bytes", pa.int64()),
        ("emitted_at", pa.timestamp("ns", tz="UTC")),
        ("emitted_ns", pa.int64()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("ingest_id", pa.string()),
    ]
)


def events_table(events: Sequence[Event]) -> pa.Table:
    """The events as an Arrow table with the store's schema."""
    columns: dict[str, list[object]] = {f.name: [] for f in fields(Event)}
    for e in events:
        for name, value in asdict(e).items():
            columns[name].append(value)
    columns["emitted_at"] = list(columns["emitted_ns"])
    return pa.table(
        {name: pa.array(columns[name], type=EVENT_SCHEMA.field(name).type) for name in EVENT_SCHEMA.names}
    )
