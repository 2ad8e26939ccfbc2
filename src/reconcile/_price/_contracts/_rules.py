"""Rules across the tables of one contract and across contracts; each problem one line.

- A meter has at most one price per hypervisor (and one default) in a contract; a hypervisor's price
  overrides the contract's default price for the meter, so it needs one (as in the price book).
- A meter is priced by a ``[[contract.price]]`` or by ``[[contract.tier]]``s, not both.
- A meter's tiers, in the file's order: ``up_to`` ascending, every tier but the last has one, the last
  has none (quantities above the last bound would have no price).
- A contract with tiers or a ``monthly_minimum`` runs whole UTC calendar months.
- A tenant's contracts never overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from reconcile._core._period import format_ns
from reconcile._core._tomlfields import overlapping
from reconcile._price._contracts._entries import RawTier
from reconcile._price._contracts._model import Contract, ContractPrice, ContractTier, is_month_start


def prices(owner: str, entries: Sequence[ContractPrice], defaults: set[tuple[object, object]]) -> list[str]:
    """Duplicate prices, and overrides without a default (``defaults``: the ``(family, meter)`` of
    every price table written without a hypervisor, valid or not: one message per problem)."""
    problems: list[str] = []
    seen: dict[tuple[str, str, str | None], ContractPrice] = {}
    for price in entries:
        key = (price.family, price.meter, price.hypervisor)
        who = f"hypervisor {price.hypervisor!r}" if price.hypervisor else "default"
        if key in seen:
            problems.append(
                f"{owner}.{price.label}: {'hypervisor' if price.hypervisor else 'meter'}: {price.family}"
                f" {price.meter} ({who}) already has a price in this contract: {seen[key].label}"
            )
            continue
        seen[key] = price
        if price.hypervisor is not None and (price.family, price.meter) not in defaults:
            problems.append(
                f"{owner}.{price.label}: hypervisor: {price.hypervisor!r} overrides the price of"
                f" {price.family} {price.meter}, which has no default price (without hypervisor) in this"
                " contract"
            )
    return problems


def tiers(
    owner: str, raw: Sequence[RawTier], entries: Sequence[ContractPrice], problems: list[str]
) -> tuple[ContractTier, ...]:
    """The tiers of each meter, checked and numbered; a meter whose tiers break a rule has none."""
    groups: dict[tuple[str, str], list[RawTier]] = {}
    for tier in raw:
        groups.setdefault((tier.family, tier.meter), []).append(tier)
    out: list[ContractTier] = []
    for (family, meter), group in groups.items():
        priced = next((p for p in entries if (p.family, p.meter) == (family, meter)), None)
        if priced is not None:
            problems.append(
                f"{owner}.{group[0].label}: meter: {family} {meter} has a price in this contract"
                f" ({priced.label}): a meter is priced by a [[contract.price]] or by tiers, not both"
            )
            continue
        checked = _one_meter(owner, family, meter, group)
        problems.extend(checked[1])
        out.extend(checked[0])
    return tuple(out)


def _one_meter(
    owner: str, family: str, meter: str, group: list[RawTier]
) -> tuple[list[ContractTier], list[str]]:
    problems: list[str] = []
    out: list[ContractTier] = []
    lower = Decimal(0)
    for position, tier in enumerate(group, start=1):
        where = f"{owner}.{tier.label}: up_to:"
        last = position == len(group)
        if tier.up_to is None and not last:
            problems.append(
                f"{where} missing: only the last tier of {family} {meter} has no up_to"
                f" ({group[position].label} follows)"
            )
        elif tier.up_to is not None and last:
            problems.append(
                f"{where} the last tier of {family} {meter} must have no up_to: quantities above"
                f" {tier.up_to} in a month would have no price"
            )
        elif tier.up_to is not None and position > 1 and tier.up_to <= lower:
            previous = group[position - 2]
            problems.append(
                f"{where} {str(tier.up_to)!r} is not above the previous tier's up_to {str(lower)!r}"
                f" ({previous.label}): tiers ascend"
            )
        out.append(
            ContractTier(tier.index, tier.line, family, meter, position, lower, tier.up_to, tier.price)
        )
        lower = tier.up_to if tier.up_to is not None else lower
    return ([] if problems else out), problems


def whole_months(label: str, start_ns: int, end_ns: int | None, tiers: bool, minimum: bool) -> list[str]:
    """A contract with tiers or a minimum must start (and end, if it ends) on UTC month starts."""
    has = (["tiers"] if tiers else []) + (["a monthly_minimum"] if minimum else [])
    if not has:
        return []
    why = f"a contract with {' and '.join(has)} runs whole UTC calendar months"
    return [
        f"{label}: {name}: {format_ns(ns)} is not the start of a UTC month: {why}"
        for name, ns in (("effective_from", start_ns), ("effective_to", end_ns))
        if ns is not None and not is_month_start(ns)
    ]


def overlaps(contracts: Sequence[Contract]) -> list[str]:
    """A tenant's contracts must not overlap: each one starting inside an earlier one, once."""
    problems: list[str] = []
    for tenant in sorted({c.tenant for c in contracts}):
        same = [c for c in contracts if c.tenant == tenant]
        problems.extend(
            f"{later.label}: effective_from: {later.span} overlaps {earlier.label} {earlier.span}"
            f" of tenant {tenant!r}"
            for later, earlier in overlapping(same, lambda c: (c.effective_from_ns, c.effective_to_ns))
        )
    return problems
