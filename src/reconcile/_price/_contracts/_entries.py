"""One ``[[contract.price]]`` or ``[[contract.tier]]`` table, its fields checked one by one.

The field rules are the price book's (``_tomlfields``, ``_pricebook.check_names``): a problem is one
line naming the contract, the table (with its header's line), the field and the value. Rules across
tables (duplicates, overrides, tier order) are ``_rules``'.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from reconcile._core._tomlfields import Report, parse_decimal
from reconcile._price._book import check_names, parse_hours_per_month
from reconcile._price._contracts._model import ContractPrice, label_of

PRICE_FIELDS = frozenset({"family", "meter", "unit", "price", "hypervisor", "hours_per_month"})
TIER_FIELDS = frozenset({"family", "meter", "up_to", "price"})
_TIER_KEYS_ADVICE = {
    "unit": "tiers count and price the meter's own hours (vCPU-hour, GiB-hour); no unit is written",
    "hypervisor": "tiers count a meter's quantity on every hypervisor; they take no hypervisor",
}


@dataclass(frozen=True)
class RawTier:
    """A ``[[contract.tier]]`` whose own fields are valid; its place among its meter's tiers is
    checked by ``_rules.tiers``."""

    index: int
    line: int | None
    family: str
    meter: str
    up_to: Decimal | None  # None: written without up_to
    price: Decimal

    @property
    def label(self) -> str:
        return label_of("tier", self.index, self.line)


def _reporter(owner: str, kind: str, index: int, line: int | None, problems: list[str]) -> Report:
    label = f"{owner}.{label_of(kind, index, line)}"

    def bad(name: str, message: str) -> None:
        problems.append(f"{label}: {name}: {message}")

    return bad


def check_name(value: object, name: str, bad: Report) -> bool:
    """A tenant or hypervisor name: a non-empty string without spaces around it (``' acme'`` would
    match no slice). Reports and returns False otherwise."""
    if not isinstance(value, str) or not value.strip():
        bad(name, f"must be a non-empty string, not {value!r}")
        return False
    if value != value.strip():
        what = "slice" if name == "tenant" else "interval"
        bad(name, f"{value!r} has spaces around it: it would match no {what}")
        return False
    return True


def _unknown(raw: dict[str, object], known: frozenset[str], bad: Report, advice: dict[str, str]) -> None:
    for key in sorted(set(raw) - known):
        bad(key, advice.get(key, f"unknown field (known: {', '.join(sorted(known))})"))


def parse_price(
    raw: object, owner: str, index: int, line: int | None, problems: list[str]
) -> ContractPrice | None:
    """A ``[[contract.price]]`` of contract ``owner`` (its label), or None after reporting why."""
    bad = _reporter(owner, "price", index, line, problems)
    if not isinstance(raw, dict):
        bad("price", "not a table")
        return None
    before = len(problems)
    _unknown(raw, PRICE_FIELDS, bad, {})
    for key in ("family", "meter", "unit", "price"):
        if key not in raw:
            bad(key, "missing")
    check_names(raw, bad)
    price = parse_decimal(raw["price"], bad) if "price" in raw else None
    hypervisor = raw.get("hypervisor")
    if "hypervisor" in raw:
        check_name(hypervisor, "hypervisor", bad)
    hours = parse_hours_per_month(raw, bad)
    if len(problems) > before or price is None:
        return None
    return ContractPrice(
        index=index,
        line=line,
        family=str(raw["family"]),
        meter=str(raw["meter"]),
        unit=str(raw["unit"]),
        price=price,
        hours_per_month=hours,
        hypervisor=hypervisor if isinstance(hypervisor, str) else None,
    )


def parse_tier(raw: object, owner: str, index: int, line: int | None, problems: list[str]) -> RawTier | None:
    """A ``[[contract.tier]]`` of contract ``owner``, or None after reporting why."""
    bad = _reporter(owner, "tier", index, line, problems)
    if not isinstance(raw, dict):
        bad("tier", "not a table")
        return None
    before = len(problems)
    _unknown(raw, TIER_FIELDS, bad, _TIER_KEYS_ADVICE)
    for key in ("family", "meter", "price"):
        if key not in raw:
            bad(key, "missing")
    check_names({k: v for k, v in raw.items() if k != "unit"}, bad)  # a unit is refused above
    price = parse_decimal(raw["price"], bad) if "price" in raw else None
    up_to = None
    if "up_to" in raw:
        up_to = parse_decimal(raw["up_to"], bad, name="up_to", example="100")
        if up_to is not None and up_to == 0:
            bad("up_to", f"{raw['up_to']!r} must be above 0 (a tier covers quantities above the one before)")
    if len(problems) > before or price is None:
        return None
    return RawTier(index, line, str(raw["family"]), str(raw["meter"]), up_to, price)
