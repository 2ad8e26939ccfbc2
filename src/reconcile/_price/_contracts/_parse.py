"""Read a contracts file: its bytes -> a validated :class:`Contracts`, or every problem at once.

Each problem is one line naming the file, the table (``contract[2] (line 14)``, or
``contract[2].tier[1] (line 20)`` for a table inside it; the line of its header when the file writes
headers), the field and the value, in the price book's style; all of them are raised together in one
:class:`~reconcile.exceptions.ContractsError`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from reconcile._core._period import format_ns
from reconcile._core._tomlfields import (
    Report,
    TomlError,
    array_table_lines,
    join_problems,
    parse_currency,
    parse_decimal,
    parse_toml_instant,
    read_toml,
)
from reconcile._price._book import PriceBook
from reconcile._price._contracts import _rules
from reconcile._price._contracts._entries import check_name, parse_price, parse_tier
from reconcile._price._contracts._model import Contract, Contracts, label_of
from reconcile.exceptions import ContractsError

_TOP_FIELDS = frozenset({"currency", "contract"})
_CONTRACT_FIELDS = frozenset(
    {"tenant", "effective_from", "effective_to", "discount", "monthly_minimum", "price", "tier"}
)


def load_contracts(path: str | Path, book: PriceBook) -> Contracts:
    """Read and validate the contracts file at ``path`` against the price book it bills with.

    Raises :class:`~reconcile.exceptions.ContractsError` listing every problem (file, contract, line,
    field and value) at once.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ContractsError(f"{path}: cannot read contracts file: {exc.strerror or exc}") from None
    return parse_contracts(data, str(path), book)


def parse_contracts(data: bytes, source: str, book: PriceBook) -> Contracts:
    """Validate the bytes of a contracts file (``source`` names it in messages)."""
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        text, doc = read_toml(data)
    except TomlError as exc:
        raise ContractsError(f"{source}: {exc}") from None
    problems: list[str] = [
        f"unknown top-level field {key!r} (known: {', '.join(sorted(_TOP_FIELDS))})"
        for key in sorted(set(doc) - _TOP_FIELDS)
    ]
    currency, units = parse_currency(doc.get("currency"), problems)
    if currency and currency != book.currency:
        problems.append(
            f"currency: {currency!r} is not the price book's currency {book.currency!r} ({book.source}):"
            " contracts bill in the book's currency"
        )
    raw = doc.get("contract", [])
    if not isinstance(raw, list):
        problems.append("contract: must be an array of [[contract]] tables")
        raw = []
    windows: list[Contract] = []  # every contract whose tenant and dates are valid, for the overlaps
    valid: list[Contract] = []
    for index, (table, lines) in enumerate(zip(raw, _header_lines(text, raw), strict=True), start=1):
        before = len(problems)
        contract = _contract(table, index, lines, (currency, units), problems)
        if contract is not None:
            windows.append(contract)
            if len(problems) == before:
                valid.append(contract)
    problems.extend(_rules.overlaps(windows))
    if problems:
        raise ContractsError(join_problems(source, problems, "contracts file"))
    return Contracts(source, currency, units, sha256, tuple(valid))


@dataclass(frozen=True)
class _Lines:
    """The header lines of one [[contract]] and of the tables inside it (None: not found)."""

    contract: int | None
    prices: list[int | None]
    tiers: list[int | None]


def _header_lines(text: str, raw: list[object]) -> list[_Lines]:
    def count(table: object, key: str) -> int:
        inner = table.get(key) if isinstance(table, dict) else None
        return len(inner) if isinstance(inner, list) else 0

    unknown = [_Lines(None, [None] * count(t, "price"), [None] * count(t, "tier")) for t in raw]
    heads = array_table_lines(text, "contract")
    if len(heads) != len(raw):
        return unknown
    nested = {key: array_table_lines(text, f"contract.{key}") for key in ("price", "tier")}
    out = []
    for i, table in enumerate(raw):
        low, high = heads[i], heads[i + 1] if i + 1 < len(heads) else len(text) + 1
        found: dict[str, list[int | None]] = {}
        for key, lines in nested.items():
            inside: list[int | None] = [line for line in lines if low < line < high]
            found[key] = inside if len(inside) == count(table, key) else [None] * count(table, key)
        out.append(_Lines(heads[i], found["price"], found["tier"]))
    return out


def _contract(
    raw: object, index: int, lines: _Lines, money: tuple[str, int], problems: list[str]
) -> Contract | None:
    """One [[contract]]: None when its tenant or dates are invalid (its other problems reported too)."""
    label = label_of("contract", index, lines.contract)
    if not isinstance(raw, dict):
        problems.append(f"{label}: not a table")
        return None

    def bad(name: str, message: str) -> None:
        problems.append(f"{label}: {name}: {message}")

    for key in sorted(set(raw) - _CONTRACT_FIELDS):
        bad(key, f"unknown field (known: {', '.join(sorted(_CONTRACT_FIELDS))})")
    for key in ("tenant", "effective_from"):
        if key not in raw:
            bad(key, "missing")
    tenant_ok = "tenant" in raw and check_name(raw["tenant"], "tenant", bad)
    start = (
        parse_toml_instant(raw["effective_from"], "effective_from", bad) if "effective_from" in raw else None
    )
    end = parse_toml_instant(raw["effective_to"], "effective_to", bad) if "effective_to" in raw else None
    if start is not None and end is not None and end <= start:
        bad("effective_to", f"{format_ns(end)} is not after effective_from {format_ns(start)}")
        end = None
    if start is not None:
        tiered = bool(raw.get("tier"))
        problems.extend(_rules.whole_months(label, start, end, tiered, "monthly_minimum" in raw))
    discount = _discount(raw, bad)
    minimum = _minimum(raw, *money, bad)
    owner = f"contract[{index}]"
    prices = _tables(raw, "price", bad)
    entries = [
        p for i, t in enumerate(prices, 1) if (p := parse_price(t, owner, i, lines.prices[i - 1], problems))
    ]
    defaults = {
        (t.get("family"), t.get("meter")) for t in prices if isinstance(t, dict) and "hypervisor" not in t
    }
    problems.extend(_rules.prices(owner, entries, defaults))
    raw_tiers = _tables(raw, "tier", bad)
    parsed = [
        t for i, r in enumerate(raw_tiers, 1) if (t := parse_tier(r, owner, i, lines.tiers[i - 1], problems))
    ]
    tiers = _rules.tiers(owner, parsed, entries, problems)
    if start is None or not tenant_ok:
        return None
    return Contract(
        index, lines.contract, str(raw["tenant"]), start, end, discount, minimum, tuple(entries), tiers
    )


def _tables(raw: dict[str, object], key: str, bad: Report) -> list[object]:
    value = raw.get(key, [])
    if isinstance(value, list):
        return value
    bad(key, f"must be an array of [[contract.{key}]] tables")
    return []


def _discount(raw: dict[str, object], bad: Report) -> Decimal | None:
    if "discount" not in raw:
        return None
    discount = parse_decimal(raw["discount"], bad, name="discount", example="10")
    if discount is not None and discount > 100:
        bad("discount", f"{raw['discount']!r} is over 100: a discount is a percentage of the list price")
        return None
    return discount


def _minimum(raw: dict[str, object], currency: str, units: int, bad: Report) -> Decimal | None:
    if "monthly_minimum" not in raw:
        return None
    minimum = parse_decimal(raw["monthly_minimum"], bad, name="monthly_minimum", example="100.00")
    exponent = None if minimum is None else minimum.as_tuple().exponent
    if currency and isinstance(exponent, int) and -exponent > units:
        bad(
            "monthly_minimum",
            f"{raw['monthly_minimum']!r} has more fraction digits than {currency}'s minor unit ({units}):"
            " an invoice line cannot bill it",
        )
        return None
    return minimum
