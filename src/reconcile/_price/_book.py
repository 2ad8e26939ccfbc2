"""Load and validate a price book (TOML) into the price table the pricing stage joins.

A price book is a text file a person edits and a reviewer reads in a diff. One currency per book::

    currency = "USD"                      # ISO 4217 code; invoice lines round to its minor unit

    [[price]]
    family = "vm.compute"                 # a family of reconcile._core._families.CATALOGUE
    meter = "..."                         # one of that family's meters there
    unit = "vCPU-hour"                    # one of the units that meter may be priced in there
    price = "0.0400"                      # a decimal STRING (never a TOML float), >= 0, <= 12 fraction digits
    effective_from = 2026-01-01           # TOML date (UTC midnight) or date-time (offset or UTC), inclusive
    effective_to = 2026-07-01             # optional, exclusive; absent = open-ended
    hypervisor = "firecracker"            # optional: overrides the default (no hypervisor) price

    [[price]]
    family = "vm.storage"
    meter = "..."
    unit = "GiB-month"
    hours_per_month = 730                 # only for GiB-month units; 730 when absent
    price = "0.10"
    effective_from = 2026-01-01

    [billing."vm.compute"]                # optional, per family
    increment_seconds = 1                 # billed time of an interval rounded up to this (absent: exact ns)
    minimum_seconds = 60                  # at least this much billed per interval (absent: 0)

Rules checked on load, each problem reported once, all of them together in one
:class:`~reconcile.exceptions.PriceBookError` naming the file, the entry (``price[3]`` is the third
``[[price]]`` table, counted from 1, with its line) and the field: a price that is a TOML float (or any
non-string), negative or not a decimal; an unknown family, meter or unit, or a unit that does not
measure the meter; overlapping effective ranges for the same (family, meter, hypervisor); a missing
default price for a meter; an unknown currency code; unknown or missing fields. A gap in the default
prices' coverage is checked for a given billing period by :meth:`PriceBook.check_coverage`.

At an instant, a meter's price is the entry for the interval's hypervisor whose range holds it, if
any, else the default entry (no ``hypervisor``) whose range holds it.

``price_version`` is the first 16 hex digits of the SHA-256 of the file's bytes: any edit changes it.

The families, their meters and the units each meter's price may be in are those of
``_families.CATALOGUE`` (read when a book is checked); the bundled book
(``src/reconcile/data/prices.toml``) is a complete example.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._core import _families, _tomlfields
from reconcile._core._period import NS_PER_SECOND, SECONDS_PER_DAY, format_ns
from reconcile._core._tomlfields import (
    Report,
    TomlError,
    array_table_lines,
    clamp_int64,
    format_range,
    join_problems,
    overlapping,
    parse_currency,
    parse_decimal,
    parse_toml_instant,
    read_toml,
)
from reconcile.exceptions import PriceBookError

DEFAULT_HOURS_PER_MONTH = 730
PRICE_SCALE = _tomlfields.PRICE_SCALE  # fraction digits of unit prices, quantities and amounts

_PRICE_FIELDS = frozenset(
    {"family", "meter", "unit", "price", "effective_from", "effective_to", "hypervisor", "hours_per_month"}
)
_BILLING_FIELDS = frozenset({"increment_seconds", "minimum_seconds"})
_TOP_FIELDS = frozenset({"currency", "price", "billing"})

BUNDLED = "bundled"
_MAX_SECONDS = 31 * SECONDS_PER_DAY  # largest increment or minimum: a month


@dataclass(frozen=True)
class PriceEntry:
    """One ``[[price]]`` table: a unit price for (family, meter[, hypervisor]) over ``[from, to)``."""

    index: int  # 1-based position among the [[price]] tables
    line: int | None  # line of its [[price]] header, when known
    family: str
    meter: str
    unit: str
    price: Decimal
    hours_per_month: int | None  # set for monthly units only
    effective_from_ns: int
    effective_to_ns: int | None  # exclusive; None = open-ended
    hypervisor: str | None  # None = the default price

    @property
    def label(self) -> str:
        """``price[3] (line 27)``: how error messages name this entry."""
        return f"price[{self.index}]" + (f" (line {self.line})" if self.line else "")

    @property
    def span(self) -> str:
        """``[2026-01-01T00:00:00Z, open)``: its effective range as messages write it."""
        return format_range(self.effective_from_ns, self.effective_to_ns)


@dataclass(frozen=True)
class BillingRule:
    """Per-family billing increment and minimum per interval, in whole seconds."""

    family: str
    increment_seconds: int | None
    minimum_seconds: int


@dataclass(frozen=True)
class PriceBook:
    """A validated price book. Build with :func:`load_price_book`."""

    source: str  # the file's path (or "bundled:<path>")
    currency: str
    minor_units: int
    price_version: str
    entries: tuple[PriceEntry, ...]
    billing: Mapping[str, BillingRule] = field(default_factory=dict)

    def price_table(self) -> pa.Table:
        """The price table the pricing stage joins: one row per entry.

        Columns: ``entry`` (1-based index), ``family``, ``meter``, ``hypervisor`` (NULL = default),
        ``unit``, ``unit_price`` DECIMAL(38,12), ``unit_price_e12`` DECIMAL(38,0) (the price times
        10^12, an exact integer for integer arithmetic), ``hours_per_month`` (NULL unless monthly),
        ``effective_from_ns``, ``effective_to_ns`` (NULL = open-ended; an instant beyond int64
        nanoseconds, such as ``9999-12-31`` for "until further notice", as the nearest one that fits: no
        event is that early or late).
        """
        rows = self.entries
        scale = Decimal(10) ** PRICE_SCALE
        return pa.table(
            {
                "entry": pa.array([e.index for e in rows], pa.int32()),
                "family": pa.array([e.family for e in rows], pa.string()),
                "meter": pa.array([e.meter for e in rows], pa.string()),
                "hypervisor": pa.array([e.hypervisor for e in rows], pa.string()),
                "unit": pa.array([e.unit for e in rows], pa.string()),
                "unit_price": pa.array([e.price for e in rows], pa.decimal128(38, PRICE_SCALE)),
                "unit_price_e12": pa.array([e.price * scale for e in rows], pa.decimal128(38, 0)),
                "hours_per_month": pa.array([e.hours_per_month for e in rows], pa.int32()),
                "effective_from_ns": pa.array([clamp_int64(e.effective_from_ns) for e in rows], pa.int64()),
                "effective_to_ns": pa.array([clamp_int64(e.effective_to_ns) for e in rows], pa.int64()),
            }
        )

    def billing_table(self) -> pa.Table:
        """Per family: ``increment_ns`` (NULL = exact) and ``minimum_ns`` (0 = none), BIGINT."""
        rules = sorted(self.billing.values(), key=lambda r: r.family)
        return pa.table(
            {
                "family": pa.array([r.family for r in rules], pa.string()),
                "increment_ns": pa.array(
                    [
                        None if r.increment_seconds is None else r.increment_seconds * NS_PER_SECOND
                        for r in rules
                    ],
                    pa.int64(),
                ),
                "minimum_ns": pa.array([r.minimum_seconds * NS_PER_SECOND for r in rules], pa.int64()),
            }
        )

    def check_coverage(self, start_ns: int, end_ns: int) -> None:
        """Raise :class:`PriceBookError` listing every gap in the default prices inside ``[start, end)``.

        Every meter of every family needs a default (no ``hypervisor``) price at every instant of the
        period being billed; overrides alone never cover.
        """
        problems: list[str] = []
        for family, meters in _families.CATALOGUE.family_meters.items():
            for meter in meters:
                entries = sorted(
                    (
                        e
                        for e in self.entries
                        if e.family == family and e.meter == meter and e.hypervisor is None
                    ),
                    key=lambda e: e.effective_from_ns,
                )
                problems.extend(self._gaps(family, meter, entries, start_ns, end_ns))
        if problems:
            raise PriceBookError(join_problems(self.source, problems))

    def _gaps(
        self, family: str, meter: str, entries: list[PriceEntry], start_ns: int, end_ns: int
    ) -> list[str]:
        period = f"the period [{format_ns(start_ns)}, {format_ns(end_ns)})"
        problems: list[str] = []
        covered = start_ns  # everything before `covered` (from start_ns) has a price
        previous: PriceEntry | None = None
        for entry in entries:
            if covered >= end_ns:
                break
            if entry.effective_to_ns is not None and entry.effective_to_ns <= covered:
                previous = entry
                continue
            if entry.effective_from_ns > covered:
                gap = f"{family} {meter} has no default price from {format_ns(covered)} to"
                gap += f" {format_ns(min(entry.effective_from_ns, end_ns))}, inside {period}"
                if previous is not None and previous.effective_to_ns is not None:
                    problems.append(f"{previous.label}: effective_to: {gap}")
                else:
                    problems.append(f"{entry.label}: effective_from: {gap}")
            covered = end_ns if entry.effective_to_ns is None else max(covered, entry.effective_to_ns)
            previous = entry
        if covered < end_ns:
            gap = f"{family} {meter} has no default price from {format_ns(covered)} to {format_ns(end_ns)}"
            gap += f", inside {period}"
            problems.append(f"{previous.label}: effective_to: {gap}" if previous else gap)
        return problems


def load_price_book(path: str | Path) -> PriceBook:
    """Read and validate a price book; ``"bundled"`` selects the example book shipped with the package.

    Raises :class:`PriceBookError` listing every problem (file, entry, field) at once.
    """
    if str(path) == BUNDLED:
        resource = importlib.resources.files("reconcile") / "data" / "prices.toml"
        data = resource.read_bytes()
        source = f"bundled:{resource}"
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise PriceBookError(f"{path}: cannot read price book: {exc.strerror or exc}") from None
        source = str(path)
    return parse_price_book(data, source)


def parse_price_book(data: bytes, source: str) -> PriceBook:
    """Validate the bytes of a price book (``source`` names it in messages)."""
    version = hashlib.sha256(data).hexdigest()[:16]
    try:
        text, doc = read_toml(data)
    except TomlError as exc:
        raise PriceBookError(f"{source}: {exc}") from None

    problems: list[str] = []
    problems.extend(f"unknown top-level field {key!r}" for key in sorted(set(doc) - _TOP_FIELDS))

    currency, units = parse_currency(doc.get("currency"), problems)

    raw_prices = doc.get("price", [])
    lines = array_table_lines(text, "price")
    entries: list[PriceEntry] = []
    if not isinstance(raw_prices, list):
        problems.append("price: must be an array of [[price]] tables")
        raw_prices = []
    for position, raw in enumerate(raw_prices, start=1):
        line = lines[position - 1] if len(lines) == len(raw_prices) else None
        entry = _parse_entry(raw, position, line, problems)
        if entry is not None:
            entries.append(entry)
    problems.extend(_overlaps(entries))
    # a meter without any default entry (an invalid entry already reported counts as one: one message
    # per problem)
    claimed = {
        (r.get("family"), r.get("meter")) for r in raw_prices if isinstance(r, dict) and "hypervisor" not in r
    }
    for family, meters in _families.CATALOGUE.family_meters.items():
        for meter in meters:
            if (family, meter) not in claimed:
                problems.append(f"price: no default [[price]] (without hypervisor) for {family} {meter}")

    billing = _parse_billing(doc.get("billing", {}), problems)
    if problems:
        raise PriceBookError(join_problems(source, problems))
    return PriceBook(
        source=source,
        currency=currency,
        minor_units=units,
        price_version=version,
        entries=tuple(entries),
        billing=billing,
    )


def _parse_entry(raw: object, position: int, line: int | None, problems: list[str]) -> PriceEntry | None:
    label = f"price[{position}]" + (f" (line {line})" if line else "")
    if not isinstance(raw, dict):
        problems.append(f"{label}: not a table")
        return None
    before = len(problems)

    def bad(name: str, message: str) -> None:
        problems.append(f"{label}: {name}: {message}")

    for key in sorted(set(raw) - _PRICE_FIELDS):
        bad(key, f"unknown field (known: {', '.join(sorted(_PRICE_FIELDS))})")
    for key in ("family", "meter", "unit", "price", "effective_from"):
        if key not in raw:
            bad(key, "missing")
    check_names(raw, bad)
    price = parse_decimal(raw["price"], bad) if "price" in raw else None
    start = (
        parse_toml_instant(raw["effective_from"], "effective_from", bad) if "effective_from" in raw else None
    )
    end = parse_toml_instant(raw["effective_to"], "effective_to", bad) if "effective_to" in raw else None
    if start is not None and end is not None and end <= start:
        bad("effective_to", f"{format_ns(end)} is not after effective_from {format_ns(start)}")
    hypervisor = raw.get("hypervisor")
    if "hypervisor" in raw and (not isinstance(hypervisor, str) or not hypervisor):
        bad("hypervisor", f"must be a non-empty string, not {hypervisor!r}")
    hours = parse_hours_per_month(raw, bad)
    if len(problems) > before or price is None or start is None:
        return None
    return PriceEntry(
        index=position,
        line=line,
        family=str(raw["family"]),
        meter=str(raw["meter"]),
        unit=str(raw["unit"]),
        price=price,
        hours_per_month=hours,
        effective_from_ns=start,
        effective_to_ns=end,
        hypervisor=hypervisor if isinstance(hypervisor, str) else None,
    )


def check_names(raw: dict[str, object], bad: Report) -> None:
    """Family, meter and unit: each known, the meter one of the family's, the unit one of the meter's."""
    family, meter, unit = raw.get("family"), raw.get("meter"), raw.get("unit")
    table = _families.CATALOGUE
    family_meters, meter_units = table.family_meters, table.meter_units
    family_ok = meter_ok = False
    if "family" in raw:
        family_ok = isinstance(family, str) and family in family_meters
        if not family_ok:
            bad("family", f"unknown family {family!r} (known: {', '.join(family_meters)})")
    if "meter" in raw:
        if not isinstance(meter, str) or meter not in meter_units:
            bad("meter", f"unknown meter {meter!r} (known: {', '.join(meter_units)})")
        elif family_ok and meter not in family_meters[str(family)]:
            known = ", ".join(family_meters[str(family)])
            bad("meter", f"{meter!r} is not a meter of {family} (its meters: {known})")
        else:
            meter_ok = True
    if "unit" in raw:
        if unit not in table.unit_names:
            bad("unit", f"unknown unit {unit!r} (known: {', '.join(table.unit_names)})")
        elif meter_ok and unit not in meter_units[str(meter)]:
            bad("unit", f"{unit!r} does not measure {meter} (use {' or '.join(meter_units[str(meter)])})")


def parse_hours_per_month(raw: dict[str, object], bad: Report) -> int | None:
    """``hours_per_month``: only with a monthly unit, where it defaults to 730."""
    unit = raw.get("unit")
    monthly = _families.CATALOGUE.monthly_units
    if "hours_per_month" not in raw:
        return DEFAULT_HOURS_PER_MONTH if unit in monthly else None
    value = raw["hours_per_month"]
    if unit not in monthly:
        bad("hours_per_month", f"only for monthly units ({', '.join(sorted(monthly))}), not {unit!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 744:
        bad("hours_per_month", f"must be a whole number of hours from 1 to 744, not {value!r}")
        return None
    return value


def _overlaps(entries: list[PriceEntry]) -> list[str]:
    problems: list[str] = []
    keys = sorted({(e.family, e.meter, e.hypervisor or "") for e in entries})
    for family, meter, hypervisor in keys:
        same = [e for e in entries if (e.family, e.meter, e.hypervisor or "") == (family, meter, hypervisor)]
        who = f"hypervisor {hypervisor!r}" if hypervisor else "default"
        problems.extend(
            f"{later.label}: effective_from: {later.span} overlaps {earlier.label} {earlier.span}"
            f" for {family} {meter} ({who})"
            for later, earlier in overlapping(same, lambda e: (e.effective_from_ns, e.effective_to_ns))
        )
    return problems


def _parse_billing(raw: object, problems: list[str]) -> dict[str, BillingRule]:
    rules: dict[str, BillingRule] = {}
    if not isinstance(raw, dict):
        problems.append('billing: must be a table of [billing."<family>"] tables')
        return rules
    for family, table in raw.items():
        label = f"billing.{family!r}"
        family_meters = _families.CATALOGUE.family_meters
        if family not in family_meters:
            problems.append(f"{label}: unknown family {family!r} (known: {', '.join(family_meters)})")
            continue
        if not isinstance(table, dict):
            problems.append(f"{label}: not a table")
            continue
        before = len(problems)
        problems.extend(
            f"{label}: {key}: unknown field (known: {', '.join(sorted(_BILLING_FIELDS))})"
            for key in sorted(set(table) - _BILLING_FIELDS)
        )
        increment = table.get("increment_seconds")
        minimum = table.get("minimum_seconds", 0)
        if increment is not None and (
            isinstance(increment, bool)
            or not isinstance(increment, int)
            or not 1 <= increment <= _MAX_SECONDS
        ):
            problems.append(
                f"{label}: increment_seconds: must be a whole number of seconds from 1 to {_MAX_SECONDS},"
                f" not {increment!r}"
            )
        if isinstance(minimum, bool) or not isinstance(minimum, int) or not 0 <= minimum <= _MAX_SECONDS:
            problems.append(
                f"{label}: minimum_seconds: must be a whole number of seconds from 0 to {_MAX_SECONDS},"
                f" not {minimum!r}"
            )
        if len(problems) == before:
            rules[family] = BillingRule(family=family, increment_seconds=increment, minimum_seconds=minimum)
    return rules


def price_book(prices: str | Path | PriceBook) -> PriceBook:
    """A loaded price book from a path, ``"bundled"`` or a book."""
    if isinstance(prices, PriceBook):
        return prices
    return load_price_book(prices)
