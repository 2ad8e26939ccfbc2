"""Billing periods, durations and RFC 3339 instants, all as exact UTC nanoseconds.

A period is a UTC day (``2026-11-25``) or a UTC month (``2026-11``): ``[start, end)``. Instants are
integers of nanoseconds since the Unix epoch, so no precision is lost on the way to DuckDB's
``TIMESTAMPTZ_NS`` (UTC).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from reconcile.exceptions import UsageError

# The time constants, in one place (every module and the SQL's `ns_per_day` variable use these).
NS_PER_MICROSECOND = 1_000
NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_HOUR = 3_600 * NS_PER_SECOND
SECONDS_PER_DAY = 86_400
NS_PER_DAY = SECONDS_PER_DAY * NS_PER_SECOND

_EPOCH = dt.date(1970, 1, 1)
_DAY_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
_DURATION_PART_RE = re.compile(r"(\d+)([dhms])")
_DURATION_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_INSTANT_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def date_to_ns(day: dt.date) -> int:
    """Unix nanoseconds of UTC midnight at the start of ``day``."""
    return (day - _EPOCH).days * NS_PER_DAY


def ns_to_date(ns: int) -> dt.date:
    """The UTC date holding the instant ``ns``."""
    return _EPOCH + dt.timedelta(days=ns // NS_PER_DAY)


def format_ns(ns: int) -> str:
    """``ns`` as RFC 3339 in UTC, with the fraction digits it needs (none, or up to 9, trimmed)."""
    seconds, frac = divmod(ns, NS_PER_SECOND)
    stamp = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    text = f"{stamp.year:04d}-{stamp.month:02d}-{stamp.day:02d}T{stamp:%H:%M:%S}"
    if frac:
        text += "." + f"{frac:09d}".rstrip("0")
    return text + "Z"


@dataclass(frozen=True, order=True)
class Period:
    """A billing period ``[start_ns, end_ns)`` in UTC: a day or a month."""

    start_ns: int
    end_ns: int
    name: str  # "2026-11-25" or "2026-11": the value of the output's period partition (``_layout``)
    length: str  # "day" or "month"

    @property
    def first_day(self) -> dt.date:
        """The first UTC date of the period."""
        return ns_to_date(self.start_ns)

    def days(self) -> list[dt.date]:
        """Every UTC date in the period, in order."""
        first = self.first_day
        return [first + dt.timedelta(days=i) for i in range((self.end_ns - self.start_ns) // NS_PER_DAY)]

    @classmethod
    def day(cls, day: dt.date) -> Period:
        """The period of one UTC day."""
        start = date_to_ns(day)
        return cls(start, start + NS_PER_DAY, day.isoformat(), "day")

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        """The period of one UTC calendar month."""
        first = dt.date(year, month, 1)
        days = calendar.monthrange(year, month)[1]
        start = date_to_ns(first)
        return cls(start, start + days * NS_PER_DAY, f"{year:04d}-{month:02d}", "month")


def parse_date(text: str, *, what: str = "date") -> dt.date:
    """``YYYY-MM-DD`` as a date; :class:`UsageError` naming the value otherwise."""
    match = _DAY_RE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"{what} {text!r} is not YYYY-MM-DD")
    try:
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError as exc:
        raise UsageError(f"{what} {text!r} is not a calendar date: {exc}") from None


def parse_period(text: str) -> Period:
    """``2026-11-25`` (a UTC day) or ``2026-11`` (a UTC month)."""
    value = text.strip()
    if _DAY_RE.fullmatch(value):
        return Period.day(parse_date(value, what="period"))
    match = _MONTH_RE.fullmatch(value)
    if match is not None:
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or year < 1970:
            raise UsageError(f"period {text!r} is not a calendar month")
        return Period.month(year, month)
    raise UsageError(f"period {text!r} is neither a day (YYYY-MM-DD) nor a month (YYYY-MM)")


def parse_duration(text: str) -> int:
    """A positive duration such as ``7d``, ``36h``, ``1d12h``, ``90m``, ``45s`` in nanoseconds."""
    value = text.strip().lower()
    parts = _DURATION_PART_RE.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise UsageError(f"duration {text!r} is not like 7d, 36h, 1d12h, 90m or 45s")
    total = sum(int(n) * _DURATION_UNITS[u] for n, u in parts) * NS_PER_SECOND
    if total <= 0:
        raise UsageError(f"duration {text!r} must be longer than zero")
    return total


def parse_instant(text: str) -> int:
    """An RFC 3339 instant (any offset, 0-9 fraction digits) as exact UTC Unix nanoseconds."""
    match = _INSTANT_RE.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"instant {text!r} is not RFC 3339 (e.g. 2026-11-25T00:00:00Z)")
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    try:
        naive = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError as exc:
        raise UsageError(f"instant {text!r} is not a valid time: {exc}") from None
    frac = int((match[7] or "").ljust(9, "0"))
    offset_s = 0
    if match[9]:
        oh, om = int(match[10]), int(match[11])
        if oh > 23 or om > 59:
            raise UsageError(f"instant {text!r} has an invalid offset")
        offset_s = (oh * 3600 + om * 60) * (1 if match[9] == "+" else -1)
    seconds = (naive - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(seconds=1) - offset_s
    return seconds * NS_PER_SECOND + frac


def resolve_cut_off(period: Period, cut_off_ns: int | None, *, now_ns: int) -> int:
    """The run's cut-off: ``period.end_ns`` by default; an explicit one must lie in the period.

    A period that has not ended at ``now_ns`` needs an explicit cut-off no later than now, since
    events after the cut-off may not have arrived yet.
    """
    if cut_off_ns is None:
        if period.end_ns > now_ns:
            raise UsageError(
                f"period {period.name} has not ended (it ends {format_ns(period.end_ns)}); "
                "give an earlier --cut-off"
            )
        return period.end_ns
    if cut_off_ns <= period.start_ns or cut_off_ns > period.end_ns:
        raise UsageError(
            f"cut-off {format_ns(cut_off_ns)} is outside period {period.name} "
            f"({format_ns(period.start_ns)} exclusive to {format_ns(period.end_ns)} inclusive)"
        )
    if cut_off_ns > now_ns:
        raise UsageError(f"cut-off {format_ns(cut_off_ns)} is in the future")
    return cut_off_ns
