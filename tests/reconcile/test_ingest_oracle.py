"""Property: ingest classifies and parses random ledger lines exactly as a plain Python model does.

The model below is written from SPEC section 2 and docs/ARCHITECTURE.md, independently of the SQL:
Python's strict JSON parser, explicit RFC 3339 parsing, integer arithmetic for the instant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile import Store, ingest, validate

KINDS = ("vm.compute.start", "vm.compute.stop", "vm.storage.start", "vm.storage.stop")
KINDS += ("snap.storage.start", "snap.storage.stop")
STRINGS = ("kind", "vm_id", "snapshot_id", "source_snapshot_id", "reason", "hypervisor")
MEMBERS = ("cpu", "mem_bytes", "storage_bytes")
RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
LOW, HIGH = 946684800, 7258118400  # 2000-01-01, 2200-01-01 (UTC seconds)
GO_ZERO = -62135596800  # 0001-01-01T00:00:00Z


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def _first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def model(line: bytes) -> tuple[str, dict[str, Any] | None]:  # noqa: PLR0911, PLR0912 - SPEC order
    """(code, None) for a reject, ("event", fields) for an accepted line."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip(b" \t\r"):
        return "blank", None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    if len(line) > 1 << 20:
        return "line_too_long", None
    try:
        doc = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_first_wins)
    except ValueError:
        return "malformed_json", None
    if not isinstance(doc, dict):
        return "not_an_object", None
    for name in (*STRINGS, "emitted_at"):
        if doc.get(name) is not None and not isinstance(doc[name], str):
            return "wrong_type", None
    if doc.get("shape") is not None and not isinstance(doc["shape"], dict):
        return "wrong_type", None
    fields = {name: (doc.get(name) or None) for name in STRINGS}
    if fields["kind"] not in KINDS:
        return "unknown_kind", None
    resource = fields["vm_id"] if fields["kind"].startswith("vm.") else fields["snapshot_id"]
    if resource is None:
        return "missing_id", None
    match = RFC3339.fullmatch(doc.get("emitted_at") or "")
    if not match:
        return "bad_timestamp", None
    y, mo, d, h, mi, s, frac, zulu, sign, oh, om = match.groups()
    try:
        day = dt.date(int(y), int(mo), int(d))
    except ValueError:
        return "bad_timestamp", None
    if int(h) > 23 or int(mi) > 59 or int(s) > 59 or (not zulu and (int(oh) > 23 or int(om) > 59)):
        return "bad_timestamp", None
    offset = 0 if zulu else (1 if sign == "+" else -1) * (int(oh) * 3600 + int(om) * 60)
    seconds = (day.toordinal() - dt.date(1970, 1, 1).toordinal()) * 86400
    seconds += int(h) * 3600 + int(mi) * 60 + int(s) - offset
    nanos = int((frac or "").ljust(9, "0"))
    if seconds == GO_ZERO and nanos == 0:
        return "zero_timestamp", None
    if not LOW <= seconds < HIGH:
        return "implausible_timestamp", None
    shape = doc.get("shape") or {}
    for name in MEMBERS:
        value = shape.get(name)
        if value is None:
            fields[name] = 0
        elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
            return "bad_shape", None
        else:
            fields[name] = value
    fields["emitted_ns"] = seconds * 10**9 + nanos
    fields["family"] = fields["kind"].rsplit(".", 1)[0]
    fields["resource_id"] = resource
    parts = [f"{len(v.encode())}:{v}" if v is not None else "0:" for v in (fields[n] for n in STRINGS)]
    parts += [str(fields[n]) for n in (*MEMBERS, "emitted_ns")]
    fields["event_id"] = hashlib.md5("|".join(parts).encode()).hexdigest()  # noqa: S324 - contract hash
    return "event", fields


# --- random lines ---------------------------------------------------------------------------------

ids = st.one_of(st.sampled_from(["vm-1", "vm-2", "snap-1"]), st.text(min_size=1, max_size=6))
odd_ids = st.one_of(st.just(""), st.text(max_size=3))
good_times = st.builds(
    lambda y, mo, d, h, mi, s, frac, zone: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
    st.integers(2000, 2199),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.one_of(st.just(""), st.integers(0, 10**9 - 1).map(lambda n: "." + str(n).rjust(9, "0")[: 1 + n % 9])),
    st.sampled_from(["Z", "z", "+00:00", "+05:30", "-08:00", "+23:59", "-00:45"]),
)
odd_times = st.one_of(
    st.builds(
        lambda y, mo, d, h, s, zone: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:00:{s:02d}{zone}",
        st.sampled_from([1, 1999, 2000, 2199, 2200, 9999]),
        st.integers(1, 13),
        st.integers(28, 32),
        st.integers(0, 24),
        st.integers(58, 60),
        st.sampled_from(["Z", "-24:00", "+01:60", "+14:00", "-12:00", ".1234567891Z", "t"]),
    ),
    st.sampled_from(["0001-01-01T00:00:00Z", "2026-05-01 00:00:00Z", "2026-05-01T00:00:00.Z", "yesterday"]),
)
good_sizes = st.integers(0, 2**40)
odd_sizes = st.sampled_from([-1, 2**63 - 1, 2**63, 1.5, 4.0, "3", None, True, -0])
values = st.one_of(st.none(), st.integers(-2, 2), st.booleans(), st.lists(st.integers(), max_size=1))


@st.composite
def entries(draw: st.DrawFn) -> bytes:
    """A line: mostly well-formed entries, some with one random fault or another format."""
    odd = draw(st.integers(0, 3)) == 0  # a quarter of the lines get odd values
    kind = draw(st.sampled_from([*KINDS, "vm.gpu.start", ""]) if odd else st.sampled_from(KINDS))
    doc: dict[str, Any] = {"kind": kind}
    id_name = "snapshot_id" if kind.startswith("snap.") else "vm_id"
    for name in STRINGS[1:]:
        if name == id_name or draw(st.booleans()):
            doc[name] = draw(odd_ids if odd and draw(st.booleans()) else ids)
    doc["shape"] = {
        n: draw(odd_sizes if odd and draw(st.booleans()) else good_sizes)
        for n in MEMBERS
        if draw(st.booleans())
    }
    doc["emitted_at"] = draw(odd_times if odd and draw(st.booleans()) else good_times)
    if odd and draw(st.integers(0, 3)) == 0:  # a wrong or null type somewhere
        doc[draw(st.sampled_from([*STRINGS, "shape", "emitted_at"]))] = draw(values)
    if odd and draw(st.integers(0, 3)) == 0:
        doc.pop(draw(st.sampled_from(list(doc))))
    if draw(st.integers(0, 6)) == 0:
        doc["extra"] = draw(st.sampled_from([{"x": [1, None]}, "NaN", 1e300]))
    style = draw(st.integers(0, 9))
    if style == 0:
        text = json.dumps(doc)  # spaces after separators, \u escapes
    else:
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=draw(st.booleans()))
    raw = text.encode()
    fault = draw(st.integers(0, 30))
    if fault == 0:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif fault == 1:
        raw = raw[:-1] + b",}"
    elif fault == 2:
        raw = raw.replace(b'"emitted_at"', b'"x":NaN,"emitted_at"', 1)
    elif fault == 3:
        raw = draw(st.sampled_from([b"", b"  ", b"[]", b"1", b'"s"', b"\xc3", b"{} x"]))
    elif fault == 4:
        raw = b"  " + raw + b"\t"
    return raw


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries(), min_size=1, max_size=25))
def test_ingest_matches_the_model(lines: list[bytes]) -> None:
    """Codes, event fields, instants, event ids and duplicates agree with the Python model."""
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "l.jsonl"
        ledger.write_bytes(b"".join(line + b"\n" for line in lines))
        got_codes = {r.source_line: r.code for r in validate([ledger])}
        summary = ingest([ledger], Path(tmp) / "store")
        con = duckdb.connect()
        sql, params = Store(Path(tmp) / "store").relation_sql("events")
        cur = con.execute(sql, params)
        names = [d[0] for d in cur.description]
        got_events = {
            row[names.index("source_line")]: dict(zip(names, row, strict=True)) for row in cur.fetchall()
        }
    expected_events: dict[int, dict[str, Any]] = {}
    seen: set[str] = set()
    duplicates = 0
    for number, line in enumerate(lines, start=1):
        code, fields = model(line)
        assert got_codes.get(number, "event") == code, (number, line)
        if fields is not None:
            if fields["event_id"] in seen:
                duplicates += 1
            else:
                seen.add(fields["event_id"])
                expected_events[number] = fields
    assert summary.duplicates == duplicates
    assert sorted(got_events) == sorted(expected_events)
    for number, fields in expected_events.items():
        event = got_events[number]
        for name, value in fields.items():
            assert event[name] == value, (number, name, lines[number - 1])
