"""Instants as Go writes them: ``time.RFC3339Nano`` in a host's own zone offset, in exact nanoseconds."""

from __future__ import annotations

from datetime import UTC, datetime

from reconcile._core._period import NS_PER_HOUR, NS_PER_MINUTE, NS_PER_SECOND

NS, MINUTE, HOUR = NS_PER_SECOND, NS_PER_MINUTE, NS_PER_HOUR  # the simulator's short names
DAY = 24 * HOUR

SEC2: tuple[str, ...] = tuple(f"{i:02d}" for i in range(60))
"""The seconds of a minute as two digits."""


def offset_text(offset_s: int) -> str:
    """Go's RFC 3339 zone: ``Z`` for a zero offset, else ``+hh:mm`` / ``-hh:mm``."""
    if offset_s == 0:
        return "Z"
    sign = "+" if offset_s > 0 else "-"
    minutes = abs(offset_s) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def frac_text(ns: int) -> str:
    """The fraction of an instant as Go's RFC3339Nano writes it: trailing zeros trimmed, none if 0."""
    if ns == 0:
        return ""
    return "." + f"{ns:09d}".rstrip("0")


class MinuteCache(dict[int, str]):
    """Local epoch minute -> ``YYYY-MM-DDTHH:MM:`` (filled on demand)."""

    def __missing__(self, minute: int) -> str:
        text = datetime.fromtimestamp(minute * 60, tz=UTC).strftime("%Y-%m-%dT%H:%M:")
        self[minute] = text
        return text


_MINUTES = MinuteCache()


def format_instant(unix_ns: int, offset_s: int) -> str:
    """``unix_ns`` in the zone ``offset_s`` as Go's ``time.RFC3339Nano`` writes it."""
    sec, frac = divmod(unix_ns, NS)
    local = sec + offset_s
    minute, second = divmod(local, 60)
    return f"{_MINUTES[minute]}{SEC2[second]}{frac_text(frac)}{offset_text(offset_s)}"


def t_ns(start: datetime) -> int:
    """An aware datetime as Unix nanoseconds (a naive one is refused: it would be a guess)."""
    if start.tzinfo is None:
        raise ValueError(f"start must be timezone-aware, got {start!r}")
    return int(start.timestamp()) * NS + start.microsecond * 1000
