"""Hypothesis strategies for contracts files and list-priced slices over May and June 2026.

Contracts: for three tenants, a few contracts each over boundaries on and off month starts (prices,
hypervisor overrides, monthly units and discounts anywhere; tiers and minimums only in whole-month
contracts, as the file requires), written as TOML text. Slices: for those tenants and unattributed
resources, on any day of the two months, cut at midnights and at every contract boundary of their
tenant (as pricing cuts them), some zero-length at a midnight that take the instant before it
(the extra of an interval ending there), priced from a small list book.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import strategies as st
from reference import NS, ListSlice, RefContract, slice_amount

DAY = 86_400 * NS
TENANTS = ("t1", "t2", "t3")
METERS = (
    ("vm.compute", "vcpu_hours"),
    ("vm.compute", "mem_gib_hours"),
    ("vm.storage", "storage_gib_hours"),
    ("snap.storage", "storage_gib_hours"),
)
HYPERVISORS = ("firecracker", "cloud-hypervisor")
#: The list prices the slices are priced with: (family, meter, hypervisor or None) -> (price, unit, hours).
LIST: dict[tuple[str, str, str | None], tuple[Decimal, str, int | None]] = {
    ("vm.compute", "vcpu_hours", None): (Decimal("0.0400"), "vCPU-hour", None),
    ("vm.compute", "vcpu_hours", "firecracker"): (Decimal("0.0340"), "vCPU-hour", None),
    ("vm.compute", "mem_gib_hours", None): (Decimal("0.0050"), "GiB-hour", None),
    ("vm.storage", "storage_gib_hours", None): (Decimal("0.10"), "GiB-month", 730),
    ("snap.storage", "storage_gib_hours", None): (Decimal("0.05"), "GiB-month", 730),
}
MAY, JUNE = dt.date(2026, 5, 1), dt.date(2026, 6, 1)


def day_ns(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY


MAY_1, JUNE_1, JULY_1 = day_ns(MAY), day_ns(JUNE), day_ns(dt.date(2026, 7, 1))
#: Contract boundaries: month starts, midnights, and an instant with a nanosecond part.
BOUNDARIES = (MAY_1, day_ns(dt.date(2026, 5, 10)), day_ns(dt.date(2026, 5, 20)) + 45_296_000_000_123, JUNE_1,
              day_ns(dt.date(2026, 6, 15)), JULY_1)  # fmt: skip
MONTH_STARTS = {MAY_1, JUNE_1, JULY_1}


def toml_instant(ns: int) -> str:
    whole = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=ns // NS)
    fraction = f".{ns % NS:09d}" if ns % NS else ""
    return whole.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def decimal_text(draw: st.DrawFn, low: int, high: int, places: int) -> str:
    value = Decimal(draw(st.integers(low * 10**places, high * 10**places))).scaleb(-places)
    return format(value, "f")


@st.composite
def contract_toml(draw: st.DrawFn, *, tiers: bool = True) -> str:
    """A valid contracts file (USD) for :data:`TENANTS` over May and June 2026."""
    out = ['currency = "USD"']
    for tenant in TENANTS:
        points = sorted(draw(st.sets(st.sampled_from(BOUNDARIES), max_size=4)))
        if draw(st.booleans()):
            points.append(-1)  # the last contract is open-ended
        for start, end in itertools.pairwise(points):
            if draw(st.integers(0, 4)) == 0:
                continue  # a gap: no contract there
            out += _contract(draw, tenant, start, None if end == -1 else end, tiers=tiers)
    return "\n".join(out) + "\n"


def _contract(draw: st.DrawFn, tenant: str, start: int, end: int | None, *, tiers: bool) -> list[str]:
    aligned = start in MONTH_STARTS and (end is None or end in MONTH_STARTS)
    out = ["", "[[contract]]", f'tenant = "{tenant}"', f"effective_from = {toml_instant(start)}"]
    if end is not None:
        out.append(f"effective_to = {toml_instant(end)}")
    if draw(st.booleans()):
        out.append(f'discount = "{decimal_text(draw, 0, 100, draw(st.integers(0, 3)))}"')
    if aligned and draw(st.booleans()):
        out.append(f'monthly_minimum = "{decimal_text(draw, 0, 40, 2)}"')
    for family, meter in METERS:
        how = draw(st.sampled_from(["none", "price", "tiers"] if aligned and tiers else ["none", "price"]))
        if how == "price":
            out += _prices(draw, family, meter)
        elif how == "tiers":
            out += _tiers(draw, family, meter)
    return out


def _prices(draw: st.DrawFn, family: str, meter: str) -> list[str]:
    units = ["vCPU-hour"] if meter == "vcpu_hours" else ["GiB-hour", "GiB-month"]
    out = []
    for hypervisor in [None, *(h for h in HYPERVISORS if draw(st.booleans()))]:
        unit = draw(st.sampled_from(units))
        out += [
            "  [[contract.price]]",
            f'  family = "{family}"',
            f'  meter = "{meter}"',
            f'  unit = "{unit}"',
        ]
        out.append(f'  price = "{decimal_text(draw, 0, 1, draw(st.integers(0, 12)))}"')
        if unit == "GiB-month" and draw(st.booleans()):
            out.append(f"  hours_per_month = {draw(st.sampled_from([672, 720, 744]))}")
        if hypervisor is not None:
            out.append(f'  hypervisor = "{hypervisor}"')
    return out


def _tiers(draw: st.DrawFn, family: str, meter: str) -> list[str]:
    bounds = sorted(draw(st.sets(st.integers(1, 400), max_size=3)))
    out = []
    for up_to in [*bounds, None]:
        out += ["  [[contract.tier]]", f'  family = "{family}"', f'  meter = "{meter}"']
        if up_to is not None:
            out.append(f'  up_to = "{up_to}{draw(st.sampled_from(["", ".5", ".000000000001"]))}"')
        out.append(f'  price = "{decimal_text(draw, 0, 1, draw(st.integers(0, 12)))}"')
    return out


@st.composite
def list_slices(draw: st.DrawFn, contracts: list[RefContract], *, max_size: int = 30) -> list[ListSlice]:
    """List-priced slices of May and June 2026, cut at midnights and at their tenant's contract bounds."""
    out: list[ListSlice] = []
    for number in range(draw(st.integers(0, max_size))):
        tenant = draw(st.sampled_from((*TENANTS, None)))
        family, meter = draw(st.sampled_from(METERS))
        hypervisor = draw(st.sampled_from(HYPERVISORS))
        midnight = MAY_1 + draw(st.integers(0, 60)) * DAY
        if draw(st.integers(0, 9)) == 0:  # the zero-length slice of an interval ending on this midnight
            spans = [(midnight, midnight, midnight - 1)]
        else:
            start = midnight + draw(st.integers(0, DAY - 1))
            end = draw(st.integers(start, midnight + DAY))
            cuts = sorted(
                {start, end}
                | {
                    b
                    for c in contracts
                    if c.tenant == tenant
                    for b in (c.start_ns, c.end_ns)
                    if b and start < b < end
                }
            )
            spans = [(a, b, a) for a, b in itertools.pairwise(cuts)] or [(start, end, start)]
        price, unit, hours = LIST.get((family, meter, hypervisor)) or LIST[(family, meter, None)]
        for a, b, at in spans:
            billed = Decimal(draw(st.integers(0, 60 * 10**12))).scaleb(-12)
            quantity = Decimal(draw(st.integers(0, int(billed * 10**12)))).scaleb(-12)
            out.append(
                ListSlice(
                    interval_id=f"i{number}",
                    family=family,
                    resource_id=f"r{number}",
                    tenant_id=tenant,
                    hypervisor=hypervisor,
                    slice_start_ns=a,
                    slice_end_ns=b,
                    meter=meter,
                    quantity=quantity,
                    billed_quantity=billed,
                    unit_price=price,
                    price_unit=unit,
                    hours_per_month=hours,
                    amount=slice_amount(billed, price, hours),
                    currency="USD",
                    at_ns=at,
                )
            )
    return out
