"""An independent, plain-Python reading of docs/SPEC.md, "Contracts": what each list-priced slice is
charged, and each month's invoice lines per tenant, family and meter, with the minimum's true-up.

Written from the SPEC's text, not from ``reconcile._price._contracts``: it reads the contracts file with
``tomllib`` itself (a file the loader accepted), finds each meter's basis itself and rounds exact
rationals (``fractions.Fraction``) itself, half to even, once where the SPEC says. The engine's pricing
and ``invoice_lines`` (issue 24, phase 2) are held to it slice by slice and line by line; its own
properties are tested in ``test_contracts_reference.py``.

Inputs are list-priced slices: the SPEC section 5 columns as the engine prices them with no contracts
file (``unit_price`` and ``amount`` the price book's), plus the interval's ``hypervisor`` and the
instant ``at_ns`` whose tenant and price the slice takes (its start; ``end - 1 ns`` for the zero-length
slice that carries the extra of an interval ending on a midnight).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

NS = 1_000_000_000
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
HOURLY = {"vcpu_hours": "vCPU-hour", "mem_gib_hours": "GiB-hour", "storage_gib_hours": "GiB-hour"}
MONTHLY = {"GiB-month"}


def round_half_even(value: Fraction, digits: int) -> Fraction:
    """``value`` rounded to ``digits`` fraction digits, a tie to the even neighbour."""
    scaled = value * 10**digits
    low = scaled.numerator // scaled.denominator
    rest = scaled - low
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and low % 2 == 1):
        low += 1
    return Fraction(low, 10**digits)


def dec(value: Fraction, digits: int = 12) -> Decimal:
    """An exact rational with at most ``digits`` fraction digits as a Decimal with exactly that many."""
    scaled = value * 10**digits
    assert scaled.denominator == 1, f"{value} has more than {digits} fraction digits"
    return Decimal(scaled.numerator).scaleb(-digits)


def instant_ns(value: object) -> int:
    """A TOML date (UTC midnight) or date-time (a local one means UTC) as Unix nanoseconds."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return (aware - EPOCH) // dt.timedelta(microseconds=1) * 1000
    assert isinstance(value, dt.date)
    return (value - EPOCH.date()).days * 86_400 * NS


@dataclass(frozen=True)
class RefPrice:
    family: str
    meter: str
    unit: str
    price: Decimal
    hours_per_month: int | None
    hypervisor: str | None


@dataclass(frozen=True)
class RefTier:
    family: str
    meter: str
    up_to: Decimal | None
    price: Decimal


@dataclass(frozen=True)
class RefContract:
    tenant: str
    start_ns: int
    end_ns: int | None
    discount: Decimal | None
    minimum: Decimal | None
    prices: tuple[RefPrice, ...]
    tiers: tuple[RefTier, ...]

    @property
    def contract_id(self) -> str:
        start = dt.datetime.fromtimestamp(self.start_ns // NS, dt.UTC)
        fraction = self.start_ns % NS
        text = start.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction:09d}".rstrip("0") if fraction else "")
        return f"{self.tenant}@{text}Z"

    def covers(self, ns: int) -> bool:
        return self.start_ns <= ns and (self.end_ns is None or ns < self.end_ns)

    def basis(self, family: str, meter: str) -> str:
        if any((p.family, p.meter) == (family, meter) for p in self.prices):
            return "price"
        if any((t.family, t.meter) == (family, meter) for t in self.tiers):
            return "tier"
        return "list" if self.discount is None else "discount"

    def tiers_of(self, family: str, meter: str) -> list[RefTier]:
        return [t for t in self.tiers if (t.family, t.meter) == (family, meter)]


def read_contracts(text: str) -> list[RefContract]:
    """The contracts of a file the loader accepted, read with tomllib."""
    out = []
    for raw in tomllib.loads(text).get("contract", []):
        prices = tuple(
            RefPrice(
                p["family"],
                p["meter"],
                p["unit"],
                Decimal(p["price"]),
                p.get("hours_per_month", 730) if p["unit"] in MONTHLY else None,
                p.get("hypervisor"),
            )
            for p in raw.get("price", [])
        )
        tiers = tuple(
            RefTier(
                t["family"], t["meter"], Decimal(t["up_to"]) if "up_to" in t else None, Decimal(t["price"])
            )
            for t in raw.get("tier", [])
        )
        out.append(
            RefContract(
                tenant=raw["tenant"],
                start_ns=instant_ns(raw["effective_from"]),
                end_ns=instant_ns(raw["effective_to"]) if "effective_to" in raw else None,
                discount=Decimal(raw["discount"]) if "discount" in raw else None,
                minimum=Decimal(raw["monthly_minimum"]) if "monthly_minimum" in raw else None,
                prices=prices,
                tiers=tiers,
            )
        )
    return out


@dataclass(frozen=True)
class ListSlice:
    """A slice and meter as priced from the price book alone (SPEC section 5 columns)."""

    interval_id: str
    family: str
    resource_id: str
    tenant_id: str | None
    hypervisor: str | None
    slice_start_ns: int
    slice_end_ns: int
    meter: str
    quantity: Decimal
    billed_quantity: Decimal
    unit_price: Decimal
    price_unit: str
    hours_per_month: int | None
    amount: Decimal
    currency: str
    at_ns: int | None = None  # None: slice_start_ns

    @property
    def instant(self) -> int:
        return self.slice_start_ns if self.at_ns is None else self.at_ns

    @property
    def usage_date(self) -> dt.date:
        return dt.date(1970, 1, 1) + dt.timedelta(days=self.slice_start_ns // (86_400 * NS))


def slice_amount(billed_quantity: Decimal, unit_price: Decimal, hours_per_month: int | None) -> Decimal:
    """``billed_quantity * unit_price`` (divided by ``hours_per_month`` for a monthly unit), rounded
    half-even once to 12 fraction digits: how every slice's amount is computed."""
    exact = Fraction(billed_quantity) * Fraction(unit_price) / (hours_per_month or 1)
    return dec(round_half_even(exact, 12))


@dataclass(frozen=True)
class Charged:
    """A slice as charged under the contracts: the SPEC section 5 columns with ``unit_price``,
    ``price_unit``, ``hours_per_month`` and ``amount`` what the tenant is charged, and the list's."""

    slice: ListSlice
    contract_id: str | None
    price_basis: str  # list | price | discount | tier
    discount_percent: Decimal | None
    unit_price: Decimal
    price_unit: str
    hours_per_month: int | None
    amount: Decimal

    @property
    def list_unit_price(self) -> Decimal:
        return self.slice.unit_price

    @property
    def list_amount(self) -> Decimal:
        return self.slice.amount


def contract_at(contracts: Sequence[RefContract], tenant: str | None, ns: int) -> RefContract | None:
    found = [c for c in contracts if c.tenant == tenant and c.covers(ns)]
    assert len(found) <= 1
    return found[0] if found else None


def charge(slices: Iterable[ListSlice], contracts: Sequence[RefContract]) -> list[Charged]:
    """What each slice is charged. A slice must already be cut where a contract of its tenant starts
    or ends (pricing cuts there, as at tenant changes): one that is not is refused."""
    out = []
    for s in slices:
        bounds = {c.start_ns for c in contracts if c.tenant == s.tenant_id}
        bounds |= {c.end_ns for c in contracts if c.tenant == s.tenant_id and c.end_ns is not None}
        if any(s.slice_start_ns < b < s.slice_end_ns for b in bounds):
            raise ValueError(f"slice {s.interval_id} {s.meter} is not cut at a contract boundary")
        assert slice_amount(s.billed_quantity, s.unit_price, s.hours_per_month) == s.amount, "not list-priced"
        contract = contract_at(contracts, s.tenant_id, s.instant)
        basis = "list" if contract is None else contract.basis(s.family, s.meter)
        price, unit, hours = s.unit_price, s.price_unit, s.hours_per_month
        if contract is not None and basis == "price":
            own = [
                p
                for p in contract.prices
                if (p.family, p.meter, p.hypervisor) == (s.family, s.meter, s.hypervisor)
            ]
            default = [
                p for p in contract.prices if (p.family, p.meter, p.hypervisor) == (s.family, s.meter, None)
            ]
            chosen = (own or default)[0]
            price, unit, hours = chosen.price, chosen.unit, chosen.hours_per_month
        elif contract is not None and basis == "discount":
            assert contract.discount is not None
            keep = (100 - Fraction(contract.discount)) / 100
            price = dec(round_half_even(Fraction(s.unit_price) * keep, 12))
        elif contract is not None and basis == "tier":
            price, unit, hours = contract.tiers_of(s.family, s.meter)[0].price, HOURLY[s.meter], None
        out.append(
            Charged(
                slice=s,
                contract_id=None if contract is None else contract.contract_id,
                price_basis=basis,
                discount_percent=None if contract is None or basis != "discount" else contract.discount,
                unit_price=price,
                price_unit=unit,
                hours_per_month=hours,
                amount=slice_amount(s.billed_quantity, price, hours),
            )
        )
    return out


def tier_parts(quantity: Fraction, tiers: Sequence[RefTier]) -> list[tuple[Fraction, Decimal]]:
    """The month's billed quantity split into its tiers, lowest first: ``(part, price)``; each tier
    covers the quantities above the previous ``up_to`` (0 for the first) up to its own."""
    parts, lower = [], Fraction(0)
    for tier in tiers:
        upper = quantity if tier.up_to is None else min(quantity, Fraction(tier.up_to))
        parts.append((max(Fraction(0), upper - lower), tier.price))
        if tier.up_to is not None:
            lower = Fraction(tier.up_to)
    return parts


def tiered_amount(quantity: Fraction, tiers: Sequence[RefTier]) -> Fraction:
    """Each part times its tier's price, summed: exact."""
    return sum((part * Fraction(price) for part, price in tier_parts(quantity, tiers)), Fraction(0))


@dataclass(frozen=True)
class Line:
    """An invoice line: ``Usage`` per tenant, month, currency, family and meter, or a ``Minimum``
    true-up per tenant and month (family None, meter ``monthly_minimum``)."""

    tenant_id: str | None
    invoice_month: dt.date
    currency: str
    family: str | None
    meter: str
    charge_class: str
    contract_ids: tuple[str, ...]
    slices: int
    quantity: Decimal | None
    billed_quantity: Decimal | None
    list_amount_exact: Decimal
    list_amount_minor: int
    amount_exact: Decimal
    amount_minor: int
    tier_adjustment: Decimal = field(default=Decimal(0))  # amount_exact - the slices' amounts

    def key(self) -> tuple[object, ...]:
        """invoice_lines' order: month, tenant (unattributed last), usage before minimum, family, meter."""
        usage_first = self.charge_class != "Usage"
        return (
            self.invoice_month,
            self.tenant_id is None,
            self.tenant_id or "",
            usage_first,
            self.family or "",
            self.meter,
        )


def minor(value: Fraction, minor_units: int) -> int:
    """``value`` rounded half-even once to the currency's minor unit, in minor units."""
    return int(round_half_even(value, minor_units) * 10**minor_units)


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_start_ns(month: dt.date) -> int:
    return (month - dt.date(1970, 1, 1)).days * 86_400 * NS


def invoice_lines(
    charged: Iterable[Charged],
    contracts: Sequence[RefContract],
    currency: str,
    minor_units: int,
    complete_months: Iterable[dt.date] = (),
) -> list[Line]:
    """The invoice lines of the charged slices: per tenant, month (of ``usage_date``), currency,
    family and meter, the list and billed amounts. The billed amount is the exact sum of the slices'
    amounts, but for the slices charged by tiers: for each contract whose tiers charged some, their
    billed quantity through its tiers (in practice one contract, the month's; a zero-length slice on
    the month's first midnight is charged as of the instant before, under the previous month's
    terms); rounded once. Then, for each month in ``complete_months`` and each contract with a
    minimum in effect at its start, a ``Minimum`` line when the tenant's usage lines of the month (as
    billed, in minor units) are below the minimum."""
    groups: dict[tuple[str | None, dt.date, str, str, str], list[Charged]] = defaultdict(list)
    for c in charged:
        s = c.slice
        groups[(s.tenant_id, month_of(s.usage_date), s.currency, s.family, s.meter)].append(c)
    lines = []
    for (tenant, month, money, family, meter), members in groups.items():
        listed = sum((Fraction(c.list_amount) for c in members), Fraction(0))
        charged_sum = sum((Fraction(c.amount) for c in members), Fraction(0))
        billed = sum((Fraction(c.slice.billed_quantity) for c in members), Fraction(0))
        exact = sum((Fraction(c.amount) for c in members if c.price_basis != "tier"), Fraction(0))
        for contract in contracts:  # each contract whose tiers charged some of the line's slices
            under = [c for c in members if c.price_basis == "tier" and c.contract_id == contract.contract_id]
            if under:
                quantity = sum((Fraction(c.slice.billed_quantity) for c in under), Fraction(0))
                exact += tiered_amount(quantity, contract.tiers_of(family, meter))
        amount_exact = dec(round_half_even(exact, 12))
        lines.append(
            Line(
                tenant_id=tenant,
                invoice_month=month,
                currency=money,
                family=family,
                meter=meter,
                charge_class="Usage",
                contract_ids=tuple(sorted({c.contract_id for c in members if c.contract_id})),
                slices=len(members),
                quantity=dec(sum((Fraction(c.slice.quantity) for c in members), Fraction(0))),
                billed_quantity=dec(billed),
                list_amount_exact=dec(listed),
                list_amount_minor=minor(listed, minor_units),
                amount_exact=amount_exact,
                amount_minor=minor(exact, minor_units),
                tier_adjustment=amount_exact - dec(charged_sum),
            )
        )
    for month in sorted(set(complete_months)):
        for contract in contracts:
            if contract.minimum is None or not contract.covers(month_start_ns(month)):
                continue
            usage = sum(
                line.amount_minor
                for line in lines
                if (line.tenant_id, line.invoice_month, line.currency) == (contract.tenant, month, currency)
            )
            owed = int(contract.minimum * 10**minor_units) - usage
            if owed > 0:
                amount = Decimal(owed).scaleb(-minor_units).quantize(Decimal(1).scaleb(-12))
                lines.append(
                    Line(
                        tenant_id=contract.tenant,
                        invoice_month=month,
                        currency=currency,
                        family=None,
                        meter="monthly_minimum",
                        charge_class="Minimum",
                        contract_ids=(contract.contract_id,),
                        slices=0,
                        quantity=None,
                        billed_quantity=None,
                        list_amount_exact=amount,
                        list_amount_minor=owed,
                        amount_exact=amount,
                        amount_minor=owed,
                    )
                )
    return sorted(lines, key=Line.key)
