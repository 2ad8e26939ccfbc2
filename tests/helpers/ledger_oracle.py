"""An independent reading of SPEC section 2 (and docs/SPEC.md's choices), in plain Python.

Written from the text, not from the SQL: Python's strict JSON parser (with the members of an object
kept as pairs, so repeated members are seen), explicit RFC 3339 parsing, integer arithmetic for the
instant. Repeated members are read as Go's decoder reads them into a struct: each occurrence in turn,
a null leaving the value as it was, shape objects merging member by member, an occurrence of the
wrong type failing the line. Lone UTF-16 surrogates read as U+FFFD, as Go reads them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from typing import Any

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
MAX_LINE = 1 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")

sys.set_int_max_str_digits(0)  # a JSON integer of any length is JSON


class _Pairs(list[tuple[str, Any]]):
    """A JSON object, its members in order (repeated ones kept)."""


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def _occurrences(obj: _Pairs, name: str) -> list[Any]:
    return [value for key, value in obj if key == name]


def _last(values: list[Any]) -> Any:
    kept = [v for v in values if v is not None]
    return kept[-1] if kept else None


def _fix(value: Any) -> Any:
    """Lone surrogates as U+FFFD (valid pairs were joined by the parser)."""
    return _SURROGATE.sub("\ufffd", value) if isinstance(value, str) else value


def _instant(text: str) -> tuple[int, int] | None:
    """(UTC seconds, nanoseconds) of an RFC 3339 time Go parses, or None."""
    match = RFC3339.fullmatch(text)
    if not match:
        return None
    y, mo, d, h, mi, s, frac, zulu, sign, oh, om = match.groups()
    try:
        day = dt.date(int(y), int(mo), int(d))
    except ValueError:
        return None
    if int(h) > 23 or int(mi) > 59 or int(s) > 59 or (not zulu and (int(oh) > 23 or int(om) > 59)):
        return None
    offset = 0 if zulu else (1 if sign == "+" else -1) * (int(oh) * 3600 + int(om) * 60)
    seconds = (day.toordinal() - dt.date(1970, 1, 1).toordinal()) * 86400
    seconds += int(h) * 3600 + int(mi) * 60 + int(s) - offset
    return seconds, int((frac or "").ljust(9, "0"))


def classify(line: bytes) -> tuple[str, dict[str, Any] | None]:  # noqa: PLR0911, PLR0912 - SPEC order
    """(code, None) for a reject, ("event", fields) for an accepted line (its trailing CR included)."""
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip(b" \t\r"):
        return "blank", None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    if len(line) > MAX_LINE:
        return "line_too_long", None
    try:
        doc = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return "malformed_json", None
    if not isinstance(doc, _Pairs):
        return "not_an_object", None
    seen = {name: _occurrences(doc, name) for name in (*STRINGS, "shape", "emitted_at")}
    for name in (*STRINGS, "emitted_at"):
        if any(v is not None and not isinstance(v, str) for v in seen[name]):
            return "wrong_type", None
    if any(v is not None and not isinstance(v, _Pairs) for v in seen["shape"]):
        return "wrong_type", None
    fields: dict[str, Any] = {name: (_fix(_last(seen[name])) or None) for name in STRINGS}
    if fields["kind"] not in KINDS:
        return "unknown_kind", None
    resource = fields["vm_id"] if fields["kind"].startswith("vm.") else fields["snapshot_id"]
    if resource is None:
        return "missing_id", None
    times = [_fix(v) for v in seen["emitted_at"] if v is not None]
    if not times or any(_instant(t) is None for t in times):
        return "bad_timestamp", None
    seconds, nanos = _instant(times[-1])  # type: ignore[misc]
    if seconds == GO_ZERO and nanos == 0:
        return "zero_timestamp", None
    if not LOW <= seconds < HIGH:
        return "implausible_timestamp", None
    shapes = [v for v in seen["shape"] if v is not None]
    for name in MEMBERS:
        values = [value for shape in shapes for value in _occurrences(shape, name)]
        for value in values:
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63
            ):
                return "bad_shape", None
        final = _last(values)
        if final is not None and final < 0:
            return "bad_shape", None
        fields[name] = final or 0
    fields["emitted_ns"] = seconds * 10**9 + nanos
    fields["family"] = fields["kind"].rsplit(".", 1)[0]
    fields["resource_id"] = resource
    parts = [f"{len(v.encode())}:{v}" if v is not None else "0:" for v in (fields[n] for n in STRINGS)]
    parts += [str(fields[n]) for n in (*MEMBERS, "emitted_ns")]
    fields["event_id"] = hashlib.md5("|".join(parts).encode()).hexdigest()  # noqa: S324 - contract hash
    return "event", fields


def raw_text(line: bytes) -> str:
    """The reject's ``raw``: the first 4 KiB of the line (its trailing CR dropped), cut at a character
    boundary when the line is UTF-8, invalid UTF-8 replaced."""
    if line.endswith(b"\r"):
        line = line[:-1]
    head = line[:4096]
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return head.decode("utf-8", "replace")
    return head.decode("utf-8", "ignore") if len(line) > 4096 else head.decode("utf-8")
