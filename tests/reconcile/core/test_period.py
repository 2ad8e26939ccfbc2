"""Periods, durations, instants and cut-off rules of a run."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile import UsageError
from reconcile._core._period import (
    NS_PER_DAY,
    Period,
    format_ns,
    parse_duration,
    parse_instant,
    parse_period,
    resolve_cut_off,
)

NOV_25 = 1_795_564_800 * 10**9  # 2026-11-25T00:00:00Z


def test_day_and_month_periods() -> None:
    """A day is [midnight, next midnight); a month runs to the first of the next month."""
    day = parse_period("2026-11-25")
    assert (day.start_ns, day.end_ns, day.name, day.length) == (
        NOV_25,
        NOV_25 + NS_PER_DAY,
        "2026-11-25",
        "day",
    )
    month = parse_period("2026-02")
    assert month.length == "month"
    assert len(month.days()) == 28
    assert month.days()[0] == dt.date(2026, 2, 1)
    assert parse_period("2024-02").end_ns - parse_period("2024-02").start_ns == 29 * NS_PER_DAY
    assert parse_period("2026-12").end_ns == parse_period("2027-01").start_ns


@pytest.mark.parametrize("bad", ["2026-13", "2026-11-31", "26-11-25", "2026/11/25", "", "2026-11-25T00"])
def test_bad_periods_are_usage_errors(bad: str) -> None:
    """Anything but a calendar day or month is a UsageError naming the value."""
    with pytest.raises(UsageError, match="period"):
        parse_period(bad)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * 86400), ("36h", 36 * 3600), ("1d12h", 36 * 3600), ("90m", 5400), ("45s", 45)],
)
def test_durations(text: str, seconds: int) -> None:
    """Durations combine d, h, m, s parts into exact nanoseconds."""
    assert parse_duration(text) == seconds * 10**9


@pytest.mark.parametrize("bad", ["", "7", "7x", "d", "0h", "1.5h", "-3h", "3h 2m"])
def test_bad_durations(bad: str) -> None:
    """A malformed or zero duration is a UsageError."""
    with pytest.raises(UsageError, match="duration"):
        parse_duration(bad)


def test_instants_keep_nanoseconds_and_offsets() -> None:
    """RFC 3339 with any offset and 0-9 fraction digits becomes exact UTC nanoseconds."""
    assert parse_instant("2026-11-25T00:00:00Z") == NOV_25
    assert parse_instant("2026-11-25T01:30:00.000000001+01:30") == NOV_25 + 1
    assert parse_instant("2026-11-24T19:00:00.5-05:00") == NOV_25 + 500_000_000
    with pytest.raises(UsageError, match="RFC 3339"):
        parse_instant("2026-11-25 00:00")
    with pytest.raises(UsageError, match="not a valid time"):
        parse_instant("2026-02-30T00:00:00Z")


@given(st.integers(min_value=0, max_value=4_000_000_000 * 10**9))
def test_format_and_parse_round_trip(ns: int) -> None:
    """format_ns writes what parse_instant reads back exactly."""
    assert parse_instant(format_ns(ns)) == ns


def test_cut_off_rules() -> None:
    """The cut-off defaults to the period end; an unended period needs an earlier explicit one."""
    day = Period.day(dt.date(2026, 11, 25))
    assert resolve_cut_off(day, None, now_ns=day.end_ns) == day.end_ns
    with pytest.raises(UsageError, match="has not ended"):
        resolve_cut_off(day, None, now_ns=day.end_ns - 1)
    assert resolve_cut_off(day, NOV_25 + 3600 * 10**9, now_ns=day.end_ns - 1) == NOV_25 + 3600 * 10**9
    with pytest.raises(UsageError, match="outside period"):
        resolve_cut_off(day, NOV_25, now_ns=day.end_ns)
    with pytest.raises(UsageError, match="outside period"):
        resolve_cut_off(day, day.end_ns + 1, now_ns=day.end_ns * 2)
    with pytest.raises(UsageError, match="in the future"):
        resolve_cut_off(day, NOV_25 + 10, now_ns=NOV_25 + 5)
