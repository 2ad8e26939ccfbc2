"""Ledger entries and their wire format: byte-identical to Go's ``encoding/json`` (SPEC section 1).

The Go side is ``metering.Entry`` v0.4.1 marshalled by Go 1.22 or later. ``Entry.to_line`` is on the
emit path of every VM lifecycle operation, so it is a hand-written encoder: the fields up to the
instant come from ``recorder._wire.line_head`` (the one encoder of the line's head, which the ledger
generator ``reconcile.testing`` uses too), where the C string quoter of the standard ``json`` module
does the escaping Go shares with it (``\\"`` ``\\\\`` ``\\b`` ``\\f`` ``\\n`` ``\\r`` ``\\t`` and
``\\u00XX``); the few characters Go escapes on top (``<`` ``>`` ``&`` U+2028 U+2029, and invalid
UTF-8) are fixed up here on the whole line, only when present.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import StrEnum
from typing import Any, Final, NamedTuple, Self

from recorder._wire import line_head
from recorder.exceptions import InvalidEntryError, ParseError

__all__ = ["Entry", "Kind", "Reason", "Shape"]

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
_MINUTE: Final = timedelta(minutes=1)
_CACHE_SIZE: Final = 1024
_tuple_new: Final = tuple.__new__
_ZERO: Final = timedelta(0)


class Kind(StrEnum):
    """What an entry records: a family (``vm.compute``, ``vm.storage``, ``snap.storage``) and an endpoint."""

    VM_COMPUTE_START = "vm.compute.start"
    VM_COMPUTE_STOP = "vm.compute.stop"
    VM_STORAGE_START = "vm.storage.start"
    VM_STORAGE_STOP = "vm.storage.stop"
    SNAP_STORAGE_START = "snap.storage.start"
    SNAP_STORAGE_STOP = "snap.storage.stop"


class Reason(StrEnum):
    """Why an endpoint happened."""

    BOOT = "boot"
    RESTART = "restart"
    CLONE = "clone"
    RESTORE = "restore"
    HIBERNATE_WAKE = "hibernate-wake"
    STOP_USER = "stop-user"
    STOP_CRASH = "stop-crash"
    VM_RM = "vm-rm"
    SNAP_RM = "snap-rm"


_KINDS: Final[dict[str, Kind]] = {k.value: k for k in Kind}
_REASONS: Final[dict[str, Reason]] = {r.value: r for r in Reason}


def _check_int(name: str, value: object) -> int:
    """``value`` as a Go int64, or InvalidEntryError naming the field."""
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidEntryError(f"shape.{name} must be an int, got {value!r}")
        value = int(value)
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise InvalidEntryError(f"shape.{name} {value} is outside Go's int64 range")
    return value


class _ShapeFields(NamedTuple):
    cpu: int
    mem_bytes: int
    storage_bytes: int


class Shape(_ShapeFields):
    """The resources an endpoint is about (Go int64s); zero members are omitted on the wire (``{}``).

    An immutable named tuple: ``Shape(cpu=4, mem_bytes=8 << 30)``.
    """

    __slots__ = ()

    def __new__(cls, cpu: int = 0, mem_bytes: int = 0, storage_bytes: int = 0) -> Self:
        if type(cpu) is not int or not _INT64_MIN <= cpu <= _INT64_MAX:
            cpu = _check_int("cpu", cpu)
        if type(mem_bytes) is not int or not _INT64_MIN <= mem_bytes <= _INT64_MAX:
            mem_bytes = _check_int("mem_bytes", mem_bytes)
        if type(storage_bytes) is not int or not _INT64_MIN <= storage_bytes <= _INT64_MAX:
            storage_bytes = _check_int("storage_bytes", storage_bytes)
        return _tuple_new(cls, (cpu, mem_bytes, storage_bytes))

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Self:  # type: ignore[override]
        return cls(*iterable)

    def _replace(self, **changes: object) -> Self:
        return type(self)(**(self._asdict() | changes))

    def __reduce__(self) -> tuple[type[Self], tuple[int, int, int]]:
        return type(self), (self.cpu, self.mem_bytes, self.storage_bytes)


ZERO_SHAPE: Final = Shape()

# --- time ------------------------------------------------------------------------------------------

# Fixed-offset zones by offset in minutes, so parsed and normalised entries share tzinfo objects.
_ZONES: dict[int, timezone] = {0: UTC}
# The wire suffix of each zone seen: "Z" or "+hh:mm" (Go writes whole minutes).
_SUFFIXES: dict[tzinfo | None, str] = {UTC: "Z"}


def _zone(minutes: int) -> timezone:
    zone = _ZONES.get(minutes)
    if zone is None:
        zone = _ZONES.setdefault(minutes, timezone(timedelta(minutes=minutes)))
    return zone


def _suffix(tz: tzinfo | None) -> str:
    """The RFC 3339 offset Go writes for the fixed zone ``tz``."""
    suffix = _SUFFIXES.get(tz)
    if suffix is None:
        offset = tz.utcoffset(None) if tz is not None else None
        if offset is None:
            raise InvalidEntryError("emitted_at has no fixed zone offset")
        minutes = offset // _MINUTE
        if minutes == 0:
            suffix = "Z"
        else:
            sign = "-" if minutes < 0 else "+"
            hours, mins = divmod(abs(minutes), 60)
            suffix = f"{sign}{hours:02d}:{mins:02d}"
        _SUFFIXES[tz] = suffix
    return suffix


def _normalise_time(value: object) -> datetime:
    """An aware datetime with a fixed whole-minute ``timezone`` (UTC when the offset has seconds)."""
    if not isinstance(value, datetime):
        raise InvalidEntryError(f"emitted_at must be a datetime, got {value!r}")
    tz = value.tzinfo
    offset = value.utcoffset() if tz is not None else None
    if offset is None:
        raise InvalidEntryError(
            f"emitted_at {value.isoformat()} is naive: give a timezone-aware datetime "
            "(e.g. datetime.now(timezone.utc)), a naive one would be a silently wrong instant"
        )
    if type(value) is not datetime:  # e.g. a subclass with its own isoformat: keep only the value
        value = datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=tz,
            fold=value.fold,
        )
    if offset % _MINUTE != _ZERO:
        # Go's RFC 3339 output carries whole minutes only: keep the instant, write it in UTC.
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise InvalidEntryError(f"emitted_at {value.isoformat()} is out of range in UTC") from exc
    zone = _zone(offset // _MINUTE)
    if tz is zone and not value.fold:
        return value
    return value.replace(tzinfo=zone, fold=0)  # same wall time, same offset: the same instant


# Wall-clock "YYYY-MM-DDTHH:MM:SS" by the first 7 bytes of the datetime's pickle state (year, month,
# day, hour, minute, second): entries come in bursts within the same second.
_PREFIXES: dict[bytes, str] = {}
_reduce: Final[Callable[[datetime], tuple[object, tuple[bytes, tzinfo | None]]]] = datetime.__reduce__  # type: ignore[assignment]


# Fractions by thousands: 3 digits, and 3 digits with trailing zeros trimmed (faster than formatting).
_DIGITS3: Final = [f"{i:03d}" for i in range(1000)]
_DIGITS3_TRIMMED: Final = [f"{i:03d}".rstrip("0") for i in range(1000)]


def _format_time(dt: datetime) -> str:
    """RFC 3339 as Go's ``time.Time.MarshalJSON`` writes it (fraction trimmed, own offset or ``Z``)."""
    state, tz = _reduce(dt)[1]  # (b"YYMDhms" + 3 bytes of microseconds, tzinfo), C-fast
    key = state[:7]
    prefix = _PREFIXES.get(key)
    if prefix is None:
        prefix = dt.isoformat()[:19]  # the year zero-padded to 4 digits (strftime's %Y is not)
        if len(_PREFIXES) >= _CACHE_SIZE:
            _PREFIXES.clear()
        _PREFIXES[key] = prefix
    suffix = "Z" if tz is UTC else _SUFFIXES.get(tz) or _suffix(tz)
    micros = dt.microsecond
    if micros:
        millis, rest = divmod(micros, 1000)
        if rest:
            return prefix + "." + _DIGITS3[millis] + _DIGITS3_TRIMMED[rest] + suffix
        return prefix + "." + _DIGITS3_TRIMMED[millis] + suffix
    return prefix + suffix


# --- strings ---------------------------------------------------------------------------------------

_now: Final = datetime.now
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _finish_unicode(line: str) -> bytes:
    """The slow path of ``to_line`` for non-ASCII lines: U+2028, U+2029, lone surrogates, ``<>&``."""
    line = line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if "<" in line or ">" in line or "&" in line:
        line = line.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    try:
        return line.encode()
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8; Go writes invalid UTF-8 as the escape \ufffd.
        return _SURROGATE.sub(r"\\ufffd", line).encode()


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidEntryError(f"{name} must be a str, got {value!r}")
    return value


# --- the entry -------------------------------------------------------------------------------------


class _EntryFields(NamedTuple):
    kind: Kind | str
    vm_id: str
    snapshot_id: str
    source_snapshot_id: str
    reason: Reason | str
    hypervisor: str
    shape: Shape
    emitted_at: datetime


class Entry(_EntryFields):
    """One ledger entry: an immutable value (a named tuple), built with keywords; unset fields take
    Go's zero values (empty strings, a zero shape).

    ``emitted_at`` must be timezone-aware (a naive datetime raises :class:`InvalidEntryError`); when
    omitted, the current UTC time is stamped. An offset that is not a whole number of minutes is
    converted to UTC. Known ``kind`` and ``reason`` strings become :class:`Kind` / :class:`Reason`
    members; an unknown reason stays a plain string.

    What the reconciler would reject raises :class:`InvalidEntryError` here, where the VM code's
    tests see it, rather than a line that bills nothing: an empty or unknown ``kind``
    (``vm.compute.begin``), and a missing id for the kind's family (``vm_id`` for ``vm.*``,
    ``snapshot_id`` for ``snap.*``). :meth:`unchecked` builds any entry (what :meth:`from_line`
    reads, a test writing odd lines on purpose).
    """

    __slots__ = ()

    def __new__(
        cls,
        *,
        kind: Kind | str = "",
        vm_id: str = "",
        snapshot_id: str = "",
        source_snapshot_id: str = "",
        reason: Reason | str = "",
        hypervisor: str = "",
        shape: Shape = ZERO_SHAPE,
        emitted_at: datetime | None = None,
    ) -> Self:
        if type(kind) is not Kind:
            kind = _KINDS.get(kind, kind) if type(kind) is str else _check_str("kind", kind)
        if type(reason) is not Reason:
            reason = _REASONS.get(reason, reason) if type(reason) is str else _check_str("reason", reason)
        if type(vm_id) is not str:
            _check_str("vm_id", vm_id)
        if type(snapshot_id) is not str:
            _check_str("snapshot_id", snapshot_id)
        if type(source_snapshot_id) is not str:
            _check_str("source_snapshot_id", source_snapshot_id)
        if type(hypervisor) is not str:
            _check_str("hypervisor", hypervisor)
        if type(shape) is not Shape:
            raise InvalidEntryError(f"shape must be a Shape, got {shape!r}")
        if emitted_at is None:
            emitted_at = _now(UTC)
        elif type(emitted_at) is not datetime or emitted_at.tzinfo is not UTC:
            emitted_at = _normalise_time(emitted_at)
        if type(kind) is not Kind:
            known = ", ".join(k.value for k in Kind)
            raise InvalidEntryError(f"kind {kind!r} is not a ledger kind (known: {known})")
        if kind.value.startswith("vm.") and not vm_id:
            raise InvalidEntryError(f"{kind.value} needs a vm_id")
        if kind.value.startswith("snap.") and not snapshot_id:
            raise InvalidEntryError(f"{kind.value} needs a snapshot_id")
        return _tuple_new(
            cls, (kind, vm_id, snapshot_id, source_snapshot_id, reason, hypervisor, shape, emitted_at)
        )

    @classmethod
    def unchecked(cls, **fields: Any) -> Self:  # noqa: ANN401 (the fields of Entry)
        """An entry without the kind and id checks (types and the instant are still checked): what
        :meth:`from_line` reads, or a test writing a line the reconciler rejects on purpose."""
        kind = fields.pop("kind", "")
        checked = cls(**{**fields, "kind": Kind.VM_COMPUTE_START, "vm_id": fields.get("vm_id") or "-"})
        if type(kind) is not Kind:
            kind = _KINDS.get(kind, kind) if type(kind) is str else _check_str("kind", kind)
        values = list(checked)
        values[0] = kind
        values[1] = fields.get("vm_id", "")
        return _tuple_new(cls, tuple(values))

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Self:  # type: ignore[override]
        return cls(**dict(zip(cls._fields, iterable, strict=True)))

    def _replace(self, **changes: object) -> Self:
        return type(self)(**(self._asdict() | changes))

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_entry, (type(self), tuple(self))

    def to_line(self) -> bytes:
        """The ledger line, ``\\n`` included, byte-identical to Go's ``json.Marshal`` of the entry."""
        kind, vm_id, snapshot_id, source_snapshot_id, reason, hypervisor, shape, emitted_at = self
        line = (
            line_head(kind, vm_id, snapshot_id, source_snapshot_id, reason, hypervisor, shape)
            + _format_time(emitted_at)
            + '"}\n'
        )
        if not line.isascii():
            return _finish_unicode(line)
        if "<" in line or ">" in line or "&" in line:
            line = line.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        return line.encode()

    @classmethod
    def from_line(cls, data: bytes | bytearray | memoryview | str) -> Entry:
        """Parse a ledger line (with or without its ``\\n``) back into an entry.

        Accepts every line Go writes: unknown kinds and reasons stay plain strings, a fraction finer
        than microseconds is truncated. Raises :class:`ParseError` naming the bad value.
        """
        if isinstance(data, str):
            text = data
        else:
            try:
                text = bytes(data).decode()
            except UnicodeDecodeError as exc:
                raise ParseError(f"ledger line is not valid UTF-8: {exc}") from exc
        if text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise ParseError(f"ledger line is not JSON ({exc}): {text[:200]!r}") from exc
        if not isinstance(obj, dict):
            raise ParseError(f"ledger line is not a JSON object: {text[:200]!r}")
        shape = _parse_shape(obj.get("shape"), text)
        stamp = obj.get("emitted_at")
        if not isinstance(stamp, str):
            raise ParseError(f"field emitted_at must be an RFC 3339 string, got {stamp!r} in {text[:200]!r}")
        return cls.unchecked(
            kind=_field(obj, "kind", text),
            vm_id=_field(obj, "vm_id", text),
            snapshot_id=_field(obj, "snapshot_id", text),
            source_snapshot_id=_field(obj, "source_snapshot_id", text),
            reason=_field(obj, "reason", text),
            hypervisor=_field(obj, "hypervisor", text),
            shape=shape,
            emitted_at=parse_time(stamp),
        )


def _rebuild_entry(cls: type[Entry], values: tuple[Any, ...]) -> Entry:
    return cls.unchecked(**dict(zip(cls._fields, values, strict=True)))


def _field(obj: dict[str, Any], name: str, text: str) -> str:
    value = obj.get(name)
    if value is None:
        return ""  # absent (Go's omitempty) or null (Go's Unmarshal leaves the field unset)
    if not isinstance(value, str):
        raise ParseError(f"field {name} must be a string, got {value!r} in {text[:200]!r}")
    return value


def _parse_shape(value: object, text: str) -> Shape:
    if value is None:
        return ZERO_SHAPE
    if not isinstance(value, dict):
        raise ParseError(f"field shape must be an object, got {value!r} in {text[:200]!r}")
    members: dict[str, int] = {}
    for name in ("cpu", "mem_bytes", "storage_bytes"):
        member = value.get(name, 0)
        if member is None:
            member = 0
        if type(member) is not int or not _INT64_MIN <= member <= _INT64_MAX:
            raise ParseError(f"shape.{name} must be an int64, got {member!r} in {text[:200]!r}")
        members[name] = member
    return Shape(**members)


_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))"
)


def parse_time(stamp: str) -> datetime:
    """An RFC 3339 timestamp as Go writes it, as an aware datetime (fraction truncated to microseconds)."""
    match = _RFC3339.fullmatch(stamp)
    if match is None:
        raise ParseError(f"emitted_at {stamp!r} is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu:
        zone = UTC
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ParseError(f"emitted_at {stamp!r} has an invalid zone offset")
        minutes = int(off_h) * 60 + int(off_m)
        zone = _zone(-minutes if sign == "-" else minutes)
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=zone
        )
    except ValueError as exc:
        raise ParseError(f"emitted_at {stamp!r} is not a valid time: {exc}") from exc
