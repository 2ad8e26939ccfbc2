"""The field rules of the reviewed TOML inputs (the price book, the contracts file), in one place.

Both files are read and checked the same way: UTF-8 TOML (a BOM tolerated), a currency ISO 4217 knows,
money and quantities as decimal strings of ASCII digits, instants as unquoted TOML dates or
date-times, every problem collected as one line naming the file, the entry (with its header's line)
and the field, all of them reported together.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import TypeVar

from reconcile._core._currency import minor_units
from reconcile._core._period import NS_PER_SECOND, SECONDS_PER_DAY, format_ns

PRICE_SCALE = 12  # fraction digits of unit prices, quantities and amounts
MAX_DECIMAL = Decimal(10) ** 14  # a price, bound or minimum this large is a typo, not a rate

Report = Callable[[str, str], None]  # (field, message) -> records one problem of an entry

_DECIMAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # ASCII digits only: no full-width or Arabic-Indic digits
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
T = TypeVar("T")


class TomlError(ValueError):
    """The bytes are not UTF-8 TOML; the message says where (the caller adds the file)."""


def read_toml(data: bytes) -> tuple[str, dict[str, object]]:
    """The text and the parsed document of ``data``; raises :class:`TomlError`."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")  # a BOM some editors write is not TOML
        return text, tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise TomlError(f"not UTF-8 text: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TomlError(f"not valid TOML: {exc}") from None


def parse_currency(value: object, problems: list[str]) -> tuple[str, int]:
    """``(code, minor units)`` of a ``currency`` field; ``("", 0)`` after reporting a problem."""
    if not isinstance(value, str):
        problems.append('currency: missing, or not a string like "USD"')
        return "", 0
    try:
        return value, minor_units(value)
    except ValueError as exc:
        problems.append(f"currency: {exc}")
        return "", 0


def parse_decimal(value: object, bad: Report, name: str = "price", example: str = "0.0400") -> Decimal | None:
    """A decimal string of ASCII digits, >= 0, with at most 12 fraction digits, below 10^14; a problem
    is reported as field ``name`` (a price, and the contracts file's discounts, tier bounds, minimums)."""
    problem = None
    price = None
    if isinstance(value, float):
        problem = f'{value!r} is a TOML float; write the {name} as a decimal string, e.g. "{value}"'
    elif not isinstance(value, str):
        problem = f'{value!r} must be a decimal string, e.g. "{example}"'
    elif not _DECIMAL_RE.fullmatch(value.strip(" ")):
        problem = f'{value!r} is not a plain decimal number of ASCII digits like "{example}"'
    else:
        price = Decimal(value.strip(" "))
        exponent = price.as_tuple().exponent
        if price < 0:
            problem = f"{value!r} is negative"
        elif isinstance(exponent, int) and -exponent > PRICE_SCALE:
            problem = f"{value!r} has more than {PRICE_SCALE} fraction digits"
        elif price >= MAX_DECIMAL:
            problem = f"{value!r} is implausibly large"
    if problem is not None:
        bad(name, problem)
        return None
    return price


def parse_toml_instant(value: object, name: str, bad: Report) -> int | None:
    """A TOML date (UTC midnight) or date-time (with offset, or local meaning UTC) as Unix ns."""
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        delta = stamp - _EPOCH
        return (delta.days * SECONDS_PER_DAY + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000
    if isinstance(value, dt.date):
        return (value - _EPOCH.date()).days * SECONDS_PER_DAY * NS_PER_SECOND
    bad(name, f"{value!r} must be a TOML date (2026-01-01) or date-time (2026-01-01T00:00:00Z), unquoted")
    return None


def join_problems(source: str, problems: list[str], what: str = "price book") -> str:
    """One message: a head line naming ``source`` and the count, then each problem on its own line."""
    head = f"{source}: invalid {what} ({len(problems)} problem{'s' if len(problems) > 1 else ''})"
    return head + "".join(f"\n  {source}: {p}" for p in problems)


def clamp_int64(ns: int | None) -> int | None:
    """``ns`` clamped to what int64 holds (None stays None): an instant such as ``9999-12-31`` ("until
    further notice") as the nearest one that fits; no event is that early or late."""
    return None if ns is None else max(-(2**63), min(ns, 2**63 - 1))


def format_range(start_ns: int, end_ns: int | None) -> str:
    """``[2026-01-01T00:00:00Z, open)``: an effective range as messages write it."""
    return f"[{format_ns(start_ns)}, {'open' if end_ns is None else format_ns(end_ns)})"


def array_table_lines(text: str, name: str) -> list[int]:
    """The lines (from 1) of the ``[[name]]`` headers in ``text`` (``name`` may be dotted), in order.
    Other spellings (quoted keys, inline arrays) are not found: a caller then names no lines."""
    parts = r"[ \t]*\.[ \t]*".join(re.escape(part) for part in name.split("."))
    pattern = re.compile(rf"^[ \t]*\[\[[ \t]*{parts}[ \t]*\]\]", re.MULTILINE)
    return [text.count("\n", 0, m.start()) + 1 for m in pattern.finditer(text)]


def overlapping(items: Sequence[T], span: Callable[[T], tuple[int, int | None]]) -> Iterator[tuple[T, T]]:
    """Each item whose half-open range ``span(item)`` (``None``: open-ended) starts before an earlier
    starting one ends, with the first such earlier one: ``(later, earlier)``; ties by given order."""
    ordered = sorted(enumerate(items), key=lambda pair: (span(pair[1])[0], pair[0]))
    for i, (_, later) in enumerate(ordered):
        for _, earlier in ordered[:i]:
            end = span(earlier)[1]
            if end is None or end > span(later)[0]:
                yield later, earlier
                break
