"""Entry, Shape, Kind, Reason and the Go wire format (SPEC section 1)."""

from __future__ import annotations

import json
import pickle
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recorder import Entry, InvalidEntryError, Kind, ParseError, Reason, RecorderError, Shape

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN_FILES = ["go_entries.jsonl", "go_entries_extra.jsonl"]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT64 = st.integers(-(2**63), 2**63 - 1)


def golden_records() -> list[Any]:
    records = []
    for name in GOLDEN_FILES:
        text = (DATA / name).read_text(encoding="utf-8")
        for number, raw in enumerate(text.split("\n")[:-1], 1):  # JSONL: only \n ends a line
            record = json.loads(raw)
            records.append(pytest.param(record, id=f"{name}:{number}:{record['case']['name']}"))
    return records


GOLDEN = golden_records()


def micro_precision(case: dict[str, Any]) -> bool:
    return case["unix_nanos"] is None or case["unix_nanos"] % 1000 == 0


def entry_from_case(case: dict[str, Any]) -> Entry:
    """The Entry a Python host builds for a gowire case (nanoseconds truncated to microseconds)."""
    if case["unix_nanos"] is None:
        at = datetime(1, 1, 1, tzinfo=UTC)  # Go's zero time
    else:
        at = EPOCH + timedelta(microseconds=case["unix_nanos"] // 1000)
        if case["offset_seconds"]:
            at = at.astimezone(timezone(timedelta(seconds=case["offset_seconds"])))
    return Entry.unchecked(
        kind=case["kind"],
        vm_id=case["vm_id"],
        snapshot_id=case["snapshot_id"],
        source_snapshot_id=case["source_snapshot_id"],
        reason=case["reason"],
        hypervisor=case["hypervisor"],
        shape=Shape(case["cpu"], case["mem_bytes"], case["storage_bytes"]),
        emitted_at=at,
    )


# --- an independent reference encoder, written from SPEC section 1 character by character ----------

_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def reference_quote(value: str) -> str:
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif code < 0x20 or ch in "<>&\u2028\u2029":
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def reference_time(at: datetime) -> str:
    offset = at.utcoffset()
    assert offset is not None
    text = f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:{at.second:02d}"
    if at.microsecond:
        text += ("." + str(at.microsecond).rjust(6, "0")).rstrip("0")
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return text + "Z"
    sign = "-" if minutes < 0 else "+"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def reference_line(entry: Entry) -> bytes:
    parts = ['"kind":' + reference_quote(entry.kind)]
    for name in ("vm_id", "snapshot_id", "source_snapshot_id", "reason", "hypervisor"):
        value = getattr(entry, name)
        if value:
            parts.append(f'"{name}":' + reference_quote(value))
    members = [f'"{name}":{value}' for name, value in entry.shape._asdict().items() if value]
    parts.append('"shape":{' + ",".join(members) + "}")
    parts.append('"emitted_at":"' + reference_time(entry.emitted_at) + '"')
    return ("{" + ",".join(parts) + "}\n").encode("utf-8")


# --- golden lines from Go --------------------------------------------------------------------------


@pytest.mark.parametrize("record", GOLDEN)
def test_golden_line_parses(record: dict[str, Any]) -> None:
    """Every golden line parses, with the case's values (fraction truncated to microseconds)."""
    case = record["case"]
    entry = Entry.from_line(record["line"])
    expected = entry_from_case(case)
    assert entry == expected
    assert entry.emitted_at.utcoffset() == expected.emitted_at.utcoffset()
    assert entry.kind == case["kind"]
    assert entry.reason == case["reason"]
    assert entry.shape == (case["cpu"], case["mem_bytes"], case["storage_bytes"])


@pytest.mark.parametrize("record", [r for r in GOLDEN if micro_precision(r.values[0]["case"])])
def test_golden_line_round_trips_byte_identically(record: dict[str, Any]) -> None:
    """A golden line with at most microsecond precision is re-encoded to Go's exact bytes, both from
    the parsed line and from an Entry built from the case's values."""
    line = record["line"].encode("utf-8") + b"\n"
    assert Entry.from_line(line).to_line() == line
    assert entry_from_case(record["case"]).to_line() == line


@pytest.mark.parametrize("record", [r for r in GOLDEN if not micro_precision(r.values[0]["case"])])
def test_golden_nanosecond_line_reencodes_truncated(record: dict[str, Any]) -> None:
    """A golden line with a finer fraction re-encodes to Go's bytes with the fraction cut to 6 digits."""
    expected = re.sub(
        r'(\.\d{1,6})\d*([Z+-][0-9:]*"\}$)',
        lambda m: m.group(1).rstrip("0").rstrip(".") + m.group(2),
        record["line"],
    )
    assert expected != record["line"]
    assert Entry.from_line(record["line"]).to_line() == expected.encode("utf-8") + b"\n"


def test_golden_files_cover_the_wire_format() -> None:
    """The golden set holds every kind and reason, offsets, nanoseconds and the Go 1.22 \\b \\f forms."""
    lines = [record.values[0]["line"] for record in GOLDEN]
    cases = [record.values[0]["case"] for record in GOLDEN]
    assert {c["kind"] for c in cases} >= {k.value for k in Kind}
    assert {c["reason"] for c in cases} >= {r.value for r in Reason}
    assert any(not micro_precision(c) for c in cases)
    assert any(c["offset_seconds"] % 3600 for c in cases)
    assert any("\\b" in line for line in lines)
    assert any("\\f" in line for line in lines)
    assert len(cases) >= 100


def test_nanoseconds_are_truncated_not_rounded() -> None:
    """A 9-digit fraction parses to its first 6 digits (…123456789 -> …123456)."""
    line = (
        '{"kind":"vm.compute.start","vm_id":"vm-7","shape":{},"emitted_at":"2026-05-20T01:02:03.999999999Z"}'
    )
    entry = Entry.from_line(line)
    assert entry.emitted_at == datetime(2026, 5, 20, 1, 2, 3, 999999, tzinfo=UTC)
    assert entry.to_line().endswith(b'"emitted_at":"2026-05-20T01:02:03.999999Z"}\n')


# --- escaping ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("\b", b'"\\b"'),
        ("\f", b'"\\f"'),
        ("a\b\fb", b'"a\\b\\fb"'),
        ("\n\r\t", b'"\\n\\r\\t"'),
        ("\x00\x01\x1f", b'"\\u0000\\u0001\\u001f"'),
        ("\x7f", b'"\x7f"'),
        ('"\\', b'"\\"\\\\"'),
        ("<>&", b'"\\u003c\\u003e\\u0026"'),
        ("</script>", b'"\\u003c/script\\u003e"'),
        ("\u2028\u2029", b'"\\u2028\\u2029"'),
        ("\ud800", b'"\\ufffd"'),
        ("a\udfffb", b'"a\\ufffdb"'),
        ("\ud83d\ude00", b'"\\ufffd\\ufffd"'),
        ("\U0001f600", '"\U0001f600"'.encode()),
        ("\ufffd", '"\ufffd"'.encode()),
        ("é雪\u0085\u00a0\ufeff", '"é雪\u0085\u00a0\ufeff"'.encode()),
        ("vm-1\n", b'"vm-1\\n"'),
        ("'", b'"\'"'),
    ],
    ids=repr,
)
def test_string_escaping_matches_go(value: str, wire: bytes) -> None:
    """Strings are escaped as Go 1.22+ does (short \\b \\f, HTML and U+2028/9 escapes, lone
    surrogates as Go's \\ufffd for invalid UTF-8, DEL and other non-ASCII raw)."""
    line = Entry.unchecked(kind="k", vm_id=value, emitted_at=EPOCH).to_line()
    assert line == b'{"kind":"k","vm_id":' + wire + b',"shape":{},"emitted_at":"1970-01-01T00:00:00Z"}\n'


def test_escaping_applies_to_every_string_field() -> None:
    """Kind, ids, reason and hypervisor all get the same escaping, in the Go field order."""
    entry = Entry.unchecked(
        kind="<k>",
        vm_id="&v",
        snapshot_id="s\u2028",
        source_snapshot_id='"',
        reason="\b",
        hypervisor="\ud800",
        shape=Shape(1, 2, 3),
        emitted_at=EPOCH,
    )
    assert entry.to_line() == (
        b'{"kind":"\\u003ck\\u003e","vm_id":"\\u0026v","snapshot_id":"s\\u2028","source_snapshot_id":"\\"",'
        b'"reason":"\\b","hypervisor":"\\ufffd","shape":{"cpu":1,"mem_bytes":2,"storage_bytes":3},'
        b'"emitted_at":"1970-01-01T00:00:00Z"}\n'
    )


# --- time -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "wire"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
        (datetime(5, 3, 4, 5, 6, 7, tzinfo=UTC), "0005-03-04T05:06:07Z"),
        (datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "0999-12-31T23:59:59.999999Z"),
        (
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
            "9999-12-31T23:59:59-05:00",
        ),
        (datetime(2026, 5, 20, 1, 2, 3, 120000, tzinfo=UTC), "2026-05-20T01:02:03.12Z"),
        (datetime(2026, 5, 20, 1, 2, 3, 1, tzinfo=UTC), "2026-05-20T01:02:03.000001Z"),
        (datetime(2026, 5, 20, 1, 2, 3, 100000, tzinfo=UTC), "2026-05-20T01:02:03.1Z"),
        (datetime(2026, 5, 20, 1, 2, 3, tzinfo=timezone(timedelta(0))), "2026-05-20T01:02:03Z"),
        (
            datetime(2026, 5, 20, 1, 2, 3, tzinfo=timezone(timedelta(minutes=345))),
            "2026-05-20T01:02:03+05:45",
        ),
        (datetime(2026, 5, 20, 1, 2, 3, tzinfo=timezone(timedelta(minutes=-1))), "2026-05-20T01:02:03-00:01"),
    ],
    ids=str,
)
def test_time_format_matches_go(at: datetime, wire: str) -> None:
    """RFC 3339 with a zero-padded year, the fraction's trailing zeros trimmed, the own offset or Z."""
    line = Entry.unchecked(emitted_at=at).to_line()
    assert line.endswith(f'"emitted_at":"{wire}"}}\n'.encode())


def test_emitted_at_defaults_to_now_in_utc() -> None:
    """Without emitted_at the current UTC time is stamped."""
    before = datetime.now(UTC)
    entry = Entry.unchecked(kind=Kind.VM_COMPUTE_START, vm_id="vm-1")
    after = datetime.now(UTC)
    assert entry.emitted_at.tzinfo is UTC
    assert before <= entry.emitted_at <= after


def test_naive_datetime_is_an_error() -> None:
    """A naive emitted_at is refused at construction, naming the value."""
    with pytest.raises(InvalidEntryError, match="naive"):
        Entry.unchecked(emitted_at=datetime(2026, 5, 20, 1, 2, 3))


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


def test_tzinfo_without_offset_counts_as_naive() -> None:
    """A tzinfo whose utcoffset is None is as naive as none at all."""
    with pytest.raises(InvalidEntryError, match="naive"):
        Entry.unchecked(emitted_at=datetime(2026, 5, 20, tzinfo=_NoOffset()))


def test_sub_minute_offset_is_converted_to_utc() -> None:
    """An offset with seconds (which Go cannot write) keeps the instant and is written in UTC."""
    at = datetime(2026, 5, 20, 1, 2, 3, tzinfo=timezone(timedelta(hours=1, seconds=30)))
    entry = Entry.unchecked(emitted_at=at)
    assert entry.emitted_at == at
    assert entry.emitted_at.utcoffset() == timedelta(0)
    assert entry.to_line().endswith(b'"emitted_at":"2026-05-20T00:01:33Z"}\n')


def test_sub_minute_offset_out_of_range_in_utc_is_an_error() -> None:
    """A sub-minute offset at the edge of datetime's range cannot be moved to UTC: a clear error."""
    with pytest.raises(InvalidEntryError, match="out of range"):
        Entry.unchecked(emitted_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(seconds=30))))


def test_zoneinfo_becomes_its_fixed_offset() -> None:
    """A named zone is kept as the offset it has at that instant (what Go writes)."""
    zoneinfo = pytest.importorskip("zoneinfo")
    try:
        paris = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:
        pytest.skip("no tz database")
    summer = Entry.unchecked(emitted_at=datetime(2026, 7, 1, 12, 0, tzinfo=paris))
    winter = Entry.unchecked(emitted_at=datetime(2026, 1, 1, 12, 0, tzinfo=paris))
    assert summer.to_line().endswith(b'"2026-07-01T12:00:00+02:00"}\n')
    assert winter.to_line().endswith(b'"2026-01-01T12:00:00+01:00"}\n')
    assert isinstance(summer.emitted_at.tzinfo, timezone)


# --- construction -----------------------------------------------------------------------------------


def test_defaults_are_go_zero_values() -> None:
    """Unset fields are empty strings and a zero shape, written as Go writes them."""
    entry = Entry.unchecked(emitted_at=EPOCH)
    assert (entry.kind, entry.vm_id, entry.snapshot_id, entry.source_snapshot_id) == ("", "", "", "")
    assert (entry.reason, entry.hypervisor, entry.shape) == ("", "", Shape())
    assert entry.to_line() == b'{"kind":"","shape":{},"emitted_at":"1970-01-01T00:00:00Z"}\n'


def test_construction_is_keyword_only_and_immutable() -> None:
    """Entry takes keywords only and cannot be changed after construction."""
    with pytest.raises(TypeError):
        Entry.unchecked("vm.compute.start")  # type: ignore[misc]
    entry = Entry.unchecked(kind=Kind.VM_COMPUTE_START)
    with pytest.raises(AttributeError):
        entry.vm_id = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Shape(1).cpu = 2  # type: ignore[misc]


def test_known_strings_become_enum_members_unknown_stay_strings() -> None:
    """'vm.compute.start' becomes Kind.VM_COMPUTE_START; an unknown kind or reason stays a plain str."""
    entry = Entry.unchecked(kind="vm.compute.start", reason="stop-crash")
    assert entry.kind is Kind.VM_COMPUTE_START
    assert entry.reason is Reason.STOP_CRASH
    other = Entry.unchecked(kind="vm.gpu.start", reason="evicted")
    assert type(other.kind) is str
    assert type(other.reason) is str
    assert Kind.SNAP_STORAGE_STOP == "snap.storage.stop"
    assert Reason.HIBERNATE_WAKE == "hibernate-wake"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"vm_id": 5},
        {"kind": None},
        {"reason": b"boot"},
        {"hypervisor": 1.0},
        {"snapshot_id": None},
        {"source_snapshot_id": ["x"]},
        {"shape": (1, 2, 3)},
        {"emitted_at": "2026-05-20T01:02:03Z"},
    ],
    ids=str,
)
def test_wrong_types_are_refused(kwargs: dict[str, Any]) -> None:
    """A field of the wrong type is an InvalidEntryError naming the field."""
    with pytest.raises(InvalidEntryError, match=next(iter(kwargs))):
        Entry.unchecked(**kwargs)


@pytest.mark.parametrize(
    "args", [(True,), (1.5,), ("1",), (2**63,), (0, -(2**63) - 1), (0, 0, 10**30)], ids=str
)
def test_shape_members_must_be_int64(args: tuple[Any, ...]) -> None:
    """Shape members are Go int64s: bools, floats, strings and out-of-range ints are refused."""
    with pytest.raises(InvalidEntryError, match="shape"):
        Shape(*args)


def test_shape_extremes_and_negatives_are_written() -> None:
    """int64 extremes and negative values are written as Go writes them; zeros are omitted."""
    shape = Shape(cpu=-(2**63), mem_bytes=0, storage_bytes=2**63 - 1)
    line = Entry.unchecked(shape=shape, emitted_at=EPOCH).to_line()
    assert b'"shape":{"cpu":-9223372036854775808,"storage_bytes":9223372036854775807}' in line


def test_replace_and_make_validate() -> None:
    """The named-tuple helpers build through the validating constructor."""
    entry = Entry.unchecked(kind=Kind.VM_COMPUTE_START, vm_id="vm-1", emitted_at=EPOCH)
    assert entry._replace(vm_id="vm-2").vm_id == "vm-2"
    assert entry._replace(reason="boot").reason is Reason.BOOT
    with pytest.raises(InvalidEntryError):
        entry._replace(vm_id=3)
    with pytest.raises(InvalidEntryError):
        entry._replace(emitted_at=datetime(2026, 1, 1))
    assert Shape._make([1, 2, 3]) == Shape(1, 2, 3)
    with pytest.raises(InvalidEntryError):
        Shape(1)._replace(cpu=2**64)


def test_entries_pickle_and_hash_as_values() -> None:
    """Entries pickle, compare and hash by value."""
    entry = Entry.unchecked(kind="vm.compute.stop", vm_id="vm-1", shape=Shape(1, 2, 3), emitted_at=EPOCH)
    clone = pickle.loads(pickle.dumps(entry))  # noqa: S301 - our own bytes
    assert clone == entry
    assert hash(clone) == hash(entry)
    assert type(clone) is Entry
    assert clone.kind is Kind.VM_COMPUTE_STOP
    assert len({entry, clone, entry._replace(vm_id="vm-2")}) == 2


def test_exceptions_share_a_base() -> None:
    """InvalidEntryError and ParseError are RecorderErrors and ValueErrors."""
    assert issubclass(InvalidEntryError, RecorderError)
    assert issubclass(InvalidEntryError, ValueError)
    assert issubclass(ParseError, RecorderError)
    assert issubclass(ParseError, ValueError)


# --- parsing ----------------------------------------------------------------------------------------


def test_from_line_accepts_bytes_str_and_line_endings() -> None:
    """from_line takes bytes or str, with \\n, \\r\\n or no line end."""
    entry = Entry.unchecked(kind="vm.compute.start", vm_id="vm-é", emitted_at=EPOCH)
    line = entry.to_line()
    for data in (line, line[:-1], line[:-1] + b"\r\n", line.decode(), bytearray(line), memoryview(line)):
        assert Entry.from_line(data) == entry


def test_from_line_reads_missing_and_null_fields_as_go_does() -> None:
    """Missing strings are empty, a missing shape is {}, null is unset, unknown fields are ignored."""
    line = '{"kind":"vm.compute.stop","vm_id":null,"extra":[1,2],"emitted_at":"2026-05-20T01:02:03+08:00"}'
    entry = Entry.from_line(line)
    assert entry.vm_id == ""
    assert entry.shape == Shape()
    assert entry.emitted_at.utcoffset() == timedelta(hours=8)
    assert (
        entry.to_line() == b'{"kind":"vm.compute.stop","shape":{},"emitted_at":"2026-05-20T01:02:03+08:00"}\n'
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"\xff\xfe", "UTF-8"),
        ("{not json", "not JSON"),
        ("[1,2]", "not a JSON object"),
        ('{"kind":1,"emitted_at":"2026-05-20T01:02:03Z"}', "kind"),
        ('{"kind":"k","vm_id":2,"emitted_at":"2026-05-20T01:02:03Z"}', "vm_id"),
        ('{"kind":"k","shape":[],"emitted_at":"2026-05-20T01:02:03Z"}', "shape"),
        ('{"kind":"k","shape":{"cpu":1.5},"emitted_at":"2026-05-20T01:02:03Z"}', "shape.cpu"),
        ('{"kind":"k","shape":{"mem_bytes":9223372036854775808},"emitted_at":"2026-05-20T01:02:03Z"}', "mem"),
        ('{"kind":"k","shape":{"storage_bytes":"1"},"emitted_at":"2026-05-20T01:02:03Z"}', "storage"),
        ('{"kind":"k","shape":{"cpu":true},"emitted_at":"2026-05-20T01:02:03Z"}', "shape.cpu"),
        ('{"kind":"k"}', "emitted_at"),
        ('{"kind":"k","emitted_at":12}', "emitted_at"),
        ('{"kind":"k","emitted_at":"2026-05-20 01:02:03Z"}', "RFC 3339"),
        ('{"kind":"k","emitted_at":"2026-05-20T01:02:03"}', "RFC 3339"),
        ('{"kind":"k","emitted_at":"2026-05-20T01:02:03.Z"}', "RFC 3339"),
        ('{"kind":"k","emitted_at":"2026-05-20T01:02:03.1234567890Z"}', "RFC 3339"),
        ('{"kind":"k","emitted_at":"2026-02-30T01:02:03Z"}', "not a valid time"),
        ('{"kind":"k","emitted_at":"2026-05-20T24:00:00Z"}', "not a valid time"),
        ('{"kind":"k","emitted_at":"2026-05-20T01:02:03+24:00"}', "offset"),
        ('{"kind":"k","emitted_at":"2026-05-20T01:02:03Z\\n"}', "RFC 3339"),
    ],
    ids=str,
)
def test_from_line_refuses_bad_lines(line: str | bytes, message: str) -> None:
    """A line that is not a ledger entry is a ParseError naming what is wrong."""
    with pytest.raises(ParseError, match=re.escape(message)):
        Entry.from_line(line)


# --- properties -------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)  # any valid Unicode (no lone surrogates)
WIRE_TEXT = st.one_of(
    TEXT, st.text(st.sampled_from('"\\<>&\b\f\n\r\t\x00\x1f\x7f\u2028\u2029é😀 aZ'), max_size=20)
)
ZONES = st.integers(-1439, 1439).map(lambda m: UTC if m == 0 else timezone(timedelta(minutes=m)))
TIMES = st.datetimes(timezones=ZONES)
KINDS = st.one_of(st.sampled_from(list(Kind)), WIRE_TEXT)
REASONS = st.one_of(st.sampled_from(list(Reason)), WIRE_TEXT)
ENTRIES = st.builds(
    Entry.unchecked,
    kind=KINDS,
    vm_id=WIRE_TEXT,
    snapshot_id=WIRE_TEXT,
    source_snapshot_id=WIRE_TEXT,
    reason=REASONS,
    hypervisor=WIRE_TEXT,
    shape=st.builds(Shape, INT64, INT64, INT64),
    emitted_at=TIMES,
)


@given(ENTRIES)
def test_round_trip_preserves_value_and_bytes(entry: Entry) -> None:
    """to_line then from_line gives the same entry (offset included) and re-encodes to the same bytes."""
    line = entry.to_line()
    parsed = Entry.from_line(line)
    assert parsed == entry
    assert parsed.emitted_at.utcoffset() == entry.emitted_at.utcoffset()
    assert parsed.to_line() == line


@given(ENTRIES)
def test_line_matches_reference_encoder_and_json(entry: Entry) -> None:
    """to_line equals a character-by-character encoder written from SPEC section 1, and any JSON
    decoder reads the original values back."""
    line = entry.to_line()
    assert line == reference_line(entry)
    assert line.endswith(b"}\n")
    assert line.count(b"\n") == 1
    assert not re.search(rb"[\x00-\x1f<>&]", line[:-1])
    decoded = json.loads(line)
    assert next(iter(decoded)) == "kind"
    assert list(decoded)[-2:] == ["shape", "emitted_at"]
    assert decoded["kind"] == entry.kind
    assert decoded.get("vm_id", "") == entry.vm_id
    assert decoded["shape"].get("mem_bytes", 0) == entry.shape.mem_bytes


@given(TEXT.map(lambda s: s + "\ud800") | st.text(st.characters(categories=["Cs"]), min_size=1, max_size=5))
def test_lone_surrogates_become_the_replacement_escape(value: str) -> None:
    """Each lone surrogate is written as Go writes invalid UTF-8, \\ufffd; the line stays valid UTF-8."""
    line = Entry.unchecked(vm_id=value, emitted_at=EPOCH).to_line()
    assert line == reference_line(Entry.unchecked(vm_id=value, emitted_at=EPOCH))
    assert Entry.from_line(line).vm_id == "".join(
        "\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value
    )


@given(st.datetimes(), st.integers(-86399, 86399).filter(lambda s: s % 60 != 0))
def test_any_offset_keeps_the_instant(local: datetime, offset_seconds: int) -> None:
    """An offset of whole minutes is kept; any other is moved to UTC; the instant never changes."""
    at = local.replace(tzinfo=timezone(timedelta(seconds=offset_seconds)))
    try:
        entry = Entry.unchecked(emitted_at=at)
    except InvalidEntryError:
        with pytest.raises(OverflowError):
            at.astimezone(UTC)
        return
    assert entry.emitted_at == at
    assert entry.emitted_at.utcoffset() == timedelta(0)
    assert Entry.from_line(entry.to_line()).emitted_at == at


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "kind '' is not a ledger kind"),
        ({"kind": "vm.compute.begin", "vm_id": "vm-1"}, "kind 'vm.compute.begin' is not a ledger kind"),
        ({"kind": "vm.compute.start"}, "vm.compute.start needs a vm_id"),
        ({"kind": Kind.VM_STORAGE_STOP, "snapshot_id": "s-1"}, "vm.storage.stop needs a vm_id"),
        ({"kind": "snap.storage.start", "vm_id": "vm-1"}, "snap.storage.start needs a snapshot_id"),
    ],
)
def test_an_entry_the_reconciler_would_reject_raises_when_built(
    fields: dict[str, object], message: str
) -> None:
    """An empty or unknown kind, or a kind without its family's id, raises at construction (where the
    VM code's tests see it), naming the bad value; unchecked() still builds it."""
    with pytest.raises(InvalidEntryError, match=re.escape(message)):
        Entry(**fields)  # type: ignore[arg-type]
    assert Entry.unchecked(**fields).to_line().endswith(b"\n")


def test_valid_entries_build_and_unpickle() -> None:
    """Entries of every kind with their id build, and an unchecked entry survives pickling."""
    for kind in Kind:
        ids = {"vm_id": "vm-1"} if kind.value.startswith("vm.") else {"snapshot_id": "s-1"}
        assert Entry(kind=kind, **ids).kind is kind
    odd = Entry.unchecked(kind="vm.gpu.start", emitted_at=EPOCH)
    assert pickle.loads(pickle.dumps(odd)) == odd  # noqa: S301 (our own bytes)
