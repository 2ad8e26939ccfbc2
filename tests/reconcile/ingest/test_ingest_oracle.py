"""Property: ingest classifies and parses random ledger lines exactly as a plain Python model does.

The model (``ledger_oracle.classify``) is written from SPEC section 2 and docs/SPEC.md,
independently of the SQL.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.ledger_oracle import KINDS, MEMBERS, STRINGS
from helpers.ledger_oracle import classify as model
from reconcile import Store, ingest, validate

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
