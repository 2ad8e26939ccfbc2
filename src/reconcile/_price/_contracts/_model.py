"""The validated contracts: immutable values, the terms each one sets per meter, and lookups.

How a contract prices a slice of its tenant's meter (docs/SPEC.md, "Contracts") is its *basis* for
that meter: ``price`` (a negotiated unit price, for the slice's hypervisor if the contract has one
for it, else the default), ``tier`` (graduated tiers of the month's billed quantity, billed on the
invoice line), ``discount`` (the list price less the contract's percentage) or ``list`` (the
contract sets nothing for the meter: list price; the contract still applies, e.g. for its minimum).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from reconcile._core import _families
from reconcile._core._period import NS_PER_DAY, format_ns, ns_to_date
from reconcile._core._tomlfields import format_range

Basis = Literal["price", "tier", "discount", "list"]
BASES: tuple[Basis, ...] = ("price", "tier", "discount", "list")


def hourly_unit(meter: str) -> str:
    """The unit of a meter's own hours (``vCPU-hour``, ``GiB-hour``): what tiers count and price."""
    return _families.CATALOGUE.hourly_unit(meter)


def is_month_start(ns: int) -> bool:
    """Whether ``ns`` is 00:00:00Z on the first day of a month."""
    return ns % NS_PER_DAY == 0 and ns_to_date(ns).day == 1


def label_of(kind: str, index: int, line: int | None) -> str:
    """``contract[2] (line 14)``, ``price[1] (line 20)``: how messages name a table of the file."""
    return f"{kind}[{index}]" + (f" (line {line})" if line else "")


@dataclass(frozen=True)
class ContractPrice:
    """One ``[[contract.price]]``: a negotiated unit price replacing the list price of a meter."""

    index: int  # 1-based position among its contract's [[contract.price]] tables
    line: int | None  # line of its header, when known
    family: str
    meter: str
    unit: str  # as in the price book: vCPU-hour, GiB-hour, GiB-month
    price: Decimal
    hours_per_month: int | None  # set for monthly units only (730 when not written)
    hypervisor: str | None  # None: the contract's default price for the meter

    @property
    def label(self) -> str:
        return label_of("price", self.index, self.line)


@dataclass(frozen=True)
class ContractTier:
    """One ``[[contract.tier]]``: the price of the month's billed quantity in ``(lower, up_to]``."""

    index: int  # 1-based position among its contract's [[contract.tier]] tables
    line: int | None
    family: str
    meter: str
    tier: int  # 1-based position among the tiers of its meter, in the file's order
    lower: Decimal  # the previous tier's up_to, 0 for the first: the tier starts above it
    up_to: Decimal | None  # None: the last tier, open-ended
    price: Decimal  # per unit of the meter's own hours (hourly_unit)

    @property
    def label(self) -> str:
        return label_of("tier", self.index, self.line)

    @property
    def unit(self) -> str:
        return hourly_unit(self.meter)


@dataclass(frozen=True)
class Contract:
    """One ``[[contract]]``: a tenant's terms over ``[effective_from, effective_to)``."""

    index: int  # 1-based position among the [[contract]] tables
    line: int | None
    tenant: str
    effective_from_ns: int
    effective_to_ns: int | None  # exclusive; None: until further notice
    discount: Decimal | None  # percent off the list price of meters without a price or tiers
    monthly_minimum: Decimal | None  # in the currency, at most its minor unit's digits
    prices: tuple[ContractPrice, ...]
    tiers: tuple[ContractTier, ...]

    @property
    def contract_id(self) -> str:
        """``acme@2026-05-01T00:00:00Z``: the tenant and the first instant; unique (a tenant's
        contracts never overlap) and stable while the contract keeps its tenant and start."""
        return f"{self.tenant}@{format_ns(self.effective_from_ns)}"

    @property
    def label(self) -> str:
        return label_of("contract", self.index, self.line)

    @property
    def span(self) -> str:
        return format_range(self.effective_from_ns, self.effective_to_ns)

    @property
    def month_aligned(self) -> bool:
        """Whether it starts, and ends if it ends, on UTC month starts (tiers and minimums need it)."""
        return is_month_start(self.effective_from_ns) and (
            self.effective_to_ns is None or is_month_start(self.effective_to_ns)
        )

    def covers(self, ns: int) -> bool:
        """Whether the instant ``ns`` lies in ``[effective_from, effective_to)``."""
        return self.effective_from_ns <= ns and (self.effective_to_ns is None or ns < self.effective_to_ns)

    def overlaps(self, start_ns: int, end_ns: int) -> bool:
        """Whether it is in effect at some instant of ``[start_ns, end_ns)``."""
        return self.effective_from_ns < end_ns and (
            self.effective_to_ns is None or start_ns < self.effective_to_ns
        )

    def basis(self, family: str, meter: str) -> Basis:
        """How the contract prices ``meter`` of ``family`` (module docstring)."""
        if any(p.family == family and p.meter == meter for p in self.prices):
            return "price"
        if any(t.family == family and t.meter == meter for t in self.tiers):
            return "tier"
        return "list" if self.discount is None else "discount"

    def price_for(self, family: str, meter: str, hypervisor: str | None) -> ContractPrice | None:
        """The negotiated price for an interval on ``hypervisor``: its own, else the default."""
        own = default = None
        for price in self.prices:
            if price.family == family and price.meter == meter:
                if price.hypervisor is None:
                    default = price
                elif price.hypervisor == hypervisor:
                    own = price
        return own or default

    def tiers_for(self, family: str, meter: str) -> tuple[ContractTier, ...]:
        """The tiers of ``meter``, lowest first (empty: the meter is not tiered)."""
        return tuple(t for t in self.tiers if t.family == family and t.meter == meter)

    def months(self, start_ns: int, end_ns: int) -> Iterator[dt.date]:
        """The first days of the UTC months in effect inside ``[start_ns, end_ns)``."""
        start = max(start_ns, self.effective_from_ns)
        end = end_ns if self.effective_to_ns is None else min(end_ns, self.effective_to_ns)
        if start >= end:
            return
        month = ns_to_date(start).replace(day=1)
        last = ns_to_date(end - 1)
        while month <= last:
            yield month
            month = (month + dt.timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class Contracts:
    """A validated contracts file. Build with :func:`reconcile.load_contracts`.

    ``contracts`` are in the file's order; a tenant's never overlap. ``sha256`` is the digest of the
    file's bytes (``version`` its first 16 hex digits, as the price book's ``price_version``).
    """

    source: str
    currency: str
    minor_units: int
    sha256: str
    contracts: tuple[Contract, ...]

    @property
    def version(self) -> str:
        return self.sha256[:16]

    @functools.cached_property
    def _by_tenant(self) -> dict[str, tuple[Contract, ...]]:
        tenants: dict[str, list[Contract]] = {}
        for contract in self.contracts:
            tenants.setdefault(contract.tenant, []).append(contract)
        return {t: tuple(sorted(cs, key=lambda c: c.effective_from_ns)) for t, cs in tenants.items()}

    @property
    def tenants(self) -> tuple[str, ...]:
        """The tenants with a contract, sorted."""
        return tuple(sorted(self._by_tenant))

    def of_tenant(self, tenant: str) -> tuple[Contract, ...]:
        """The tenant's contracts, earliest first."""
        return self._by_tenant.get(tenant, ())

    def at(self, tenant: str | None, ns: int) -> Contract | None:
        """The tenant's contract in effect at ``ns``, if any (never one for an unattributed slice)."""
        if tenant is None:
            return None
        return next((c for c in self.of_tenant(tenant) if c.covers(ns)), None)

    def by_id(self, contract_id: str) -> Contract | None:
        return next((c for c in self.contracts if c.contract_id == contract_id), None)

    def overlapping(self, start_ns: int, end_ns: int) -> tuple[Contract, ...]:
        """The contracts in effect at some instant of ``[start_ns, end_ns)``, by tenant then start."""
        every = (c for t in self.tenants for c in self.of_tenant(t))
        return tuple(c for c in every if c.overlaps(start_ns, end_ns))


def meters() -> Iterator[tuple[str, str]]:
    """Every ``(family, meter)`` of SPEC section 4 (``_families.CATALOGUE``), in its order."""
    for family, names in _families.CATALOGUE.family_meters.items():
        for meter in names:
            yield family, meter
