"""The independent reading of the contracts rules (reference.py): a month computed by hand, its
agreement with the loader, and its own properties (hypothesis)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from contract_cases import DAY, JUNE, MAY, MAY_1, TENANTS, contract_toml, list_slices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import (
    NS,
    Charged,
    Line,
    ListSlice,
    RefContract,
    RefTier,
    charge,
    dec,
    invoice_lines,
    minor,
    read_contracts,
    round_half_even,
    slice_amount,
    tier_parts,
    tiered_amount,
)

from reconcile import Contracts, load_price_book
from reconcile._price._contracts import parse_contracts

CONTRACTS = Path(__file__).resolve().parents[2] / "data" / "contracts"
BOOK = load_price_book("bundled")
H = 3600 * NS
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def both(text: str) -> tuple[Contracts, list[RefContract]]:
    """The file as the loader reads it (so it is valid) and as the reference reads it."""
    return parse_contracts(text.encode(), "cases.toml", BOOK), read_contracts(text)


def may(day: int, hour: int = 0) -> int:
    return MAY_1 + (day - 1) * DAY + hour * H


def listed(
    number: int,
    tenant: str | None,
    sku: str,
    span: tuple[int, int],
    *,
    billed: str,
    price: str,
    unit: str = "vCPU-hour",
    hours: int | None = None,
    hypervisor: str = "cloud-hypervisor",
) -> ListSlice:
    """A list-priced slice of ``sku`` (``family:meter``), its amount computed as pricing computes it."""
    family, meter = sku.split(":")
    quantity, unit_price = Decimal(billed), Decimal(price)
    return ListSlice(
        interval_id=f"i{number}",
        family=family,
        resource_id=f"r{number}",
        tenant_id=tenant,
        hypervisor=hypervisor,
        slice_start_ns=span[0],
        slice_end_ns=span[1],
        meter=meter,
        quantity=quantity,
        billed_quantity=quantity,
        unit_price=unit_price,
        price_unit=unit,
        hours_per_month=hours,
        amount=slice_amount(quantity, unit_price, hours),
        currency="USD",
    )


def test_a_month_computed_by_hand() -> None:
    """The issue's contracts over a May of a negotiated rate, discounts, tiers, a minimum and an
    unattributed snapshot: every slice and line as worked out by hand in the comments."""
    refs = read_contracts((CONTRACTS / "issue_example.toml").read_text(encoding="utf-8"))
    vcpu, mem, volume, snap = (
        "vm.compute:vcpu_hours",
        "vm.compute:mem_gib_hours",
        "vm.storage:storage_gib_hours",
        "snap.storage:storage_gib_hours",
    )
    five_hours, day_2 = (may(2, 10), may(2, 15)), (may(2), may(3))
    slices = [
        # acme, firecracker: list 0.0340 (the book's firecracker rate); the contract's default 0.0300
        listed(1, "acme", vcpu, five_hours, billed="10", price="0.0340", hypervisor="firecracker"),
        # acme memory: no contract price, so 10% off 0.0050 = 0.0045: 40 x 0.0045 = 0.18 (list 0.20)
        listed(2, "acme", mem, five_hours, billed="40", price="0.0050", unit="GiB-hour"),
        # acme volume: 0.10 per GiB-month less 10% = 0.09: 730 GiB-hours / 730 x 0.09 = 0.09
        listed(3, "acme", volume, day_2, billed="730", price="0.10", unit="GiB-month", hours=730),
        # globex vCPU: 80 + 70 = 150 in May; slices carry the first tier's 0.04 (3.20 + 2.80)
        listed(4, "globex", vcpu, (may(3), may(4)), billed="80", price="0.0400"),
        listed(5, "globex", vcpu, (may(20), may(21)), billed="70", price="0.0400"),
        # globex memory: the contract sets nothing for it: list
        listed(6, "globex", mem, (may(3), may(4)), billed="100", price="0.0050", unit="GiB-hour"),
        # an unattributed snapshot: list, whatever the contracts
        listed(7, None, snap, (may(9), may(10)), billed="1460", price="0.05", unit="GiB-month", hours=730),
    ]
    charged = charge(slices, refs)
    assert [(c.price_basis, c.unit_price, c.amount, c.contract_id) for c in charged] == [
        ("price", Decimal("0.0300"), Decimal("0.300000000000"), "acme@2026-05-01T00:00:00Z"),
        ("discount", Decimal("0.004500000000"), Decimal("0.180000000000"), "acme@2026-05-01T00:00:00Z"),
        ("discount", Decimal("0.090000000000"), Decimal("0.090000000000"), "acme@2026-05-01T00:00:00Z"),
        ("tier", Decimal("0.0400"), Decimal("3.200000000000"), "globex@2026-05-01T00:00:00Z"),
        ("tier", Decimal("0.0400"), Decimal("2.800000000000"), "globex@2026-05-01T00:00:00Z"),
        ("list", Decimal("0.0050"), Decimal("0.500000000000"), "globex@2026-05-01T00:00:00Z"),
        ("list", Decimal("0.05"), Decimal("0.100000000000"), None),
    ]
    lines = invoice_lines(charged, refs, "USD", 2, complete_months=[MAY])
    # (tenant, class, family, meter, list cents, billed cents, tier adjustment)
    assert [
        (
            x.tenant_id,
            x.charge_class,
            x.family,
            x.meter,
            x.list_amount_minor,
            x.amount_minor,
            x.tier_adjustment,
        )
        for x in lines
    ] == [
        ("acme", "Usage", "vm.compute", "mem_gib_hours", 20, 18, 0),
        ("acme", "Usage", "vm.compute", "vcpu_hours", 34, 30, 0),
        ("acme", "Usage", "vm.storage", "storage_gib_hours", 10, 9, 0),
        ("globex", "Usage", "vm.compute", "mem_gib_hours", 50, 50, 0),
        # 100 x 0.04 + 50 x 0.02 = 5.00, against the slices' 6.00 at the first tier's price
        ("globex", "Usage", "vm.compute", "vcpu_hours", 600, 500, Decimal("-1.000000000000")),
        # the minimum: 100.00 - (0.50 + 5.00) = 94.50
        ("globex", "Minimum", None, "monthly_minimum", 9450, 9450, 0),
        (None, "Usage", "snap.storage", "storage_gib_hours", 10, 10, 0),
    ]
    assert lines[4].billed_quantity == Decimal("150.000000000000")
    assert invoice_lines(charged, refs, "USD", 2) == [x for x in lines if x.charge_class == "Usage"]


@pytest.mark.parametrize(
    ("billed", "cents"),
    [("100.25", 400), ("100.75", 402), ("99.875", 400), ("0", 0)],
)
def test_a_tiered_line_is_rounded_half_even_once(billed: str, cents: int) -> None:
    """100 x 0.04 + 0.25 x 0.02 = 4.005 bills 4.00 (a tie, to even); 4.015 bills 4.02; 99.875 x 0.04 =
    3.995 bills 4.00: each from the exact sum, rounded once."""
    refs = read_contracts((CONTRACTS / "issue_example.toml").read_text(encoding="utf-8"))
    slices = [listed(1, "globex", "vm.compute:vcpu_hours", (may(3), may(4)), billed=billed, price="0.0400")]
    charged = charge(slices, refs)
    (line,) = invoice_lines(charged, refs, "USD", 2)
    assert line.amount_minor == cents


@SETTINGS
@given(data=st.data())
def test_each_slice_is_charged_as_the_loader_reads_its_contract(data: st.DataObject) -> None:
    """Every charged slice can be checked from its own columns, and its contract, basis and price are
    the ones the loader finds for its tenant, meter and hypervisor at its instant."""
    text = data.draw(contract_toml())
    loaded, refs = both(text)
    for c in charge(data.draw(list_slices(refs)), refs):
        s = c.slice
        assert c.amount == slice_amount(s.billed_quantity, c.unit_price, c.hours_per_month)
        assert c.list_amount == s.amount
        contract = loaded.at(s.tenant_id, s.instant)
        assert c.contract_id == (None if contract is None else contract.contract_id)
        if contract is None:
            assert (c.price_basis, c.unit_price, c.price_unit) == ("list", s.unit_price, s.price_unit)
            continue
        assert c.price_basis == contract.basis(s.family, s.meter)
        if c.price_basis == "price":
            price = contract.price_for(s.family, s.meter, s.hypervisor)
            assert price is not None
            assert (c.unit_price, c.price_unit, c.hours_per_month) == (
                price.price,
                price.unit,
                price.hours_per_month,
            )
        elif c.price_basis == "discount":
            assert contract.discount is not None
            keep = Fraction(100 - contract.discount) / 100
            assert c.unit_price == dec(round_half_even(Fraction(s.unit_price) * keep, 12))
            assert (c.price_unit, c.hours_per_month) == (s.price_unit, s.hours_per_month)
        elif c.price_basis == "tier":
            first = contract.tiers_for(s.family, s.meter)[0]
            assert (c.unit_price, c.price_unit, c.hours_per_month) == (first.price, first.unit, None)
        else:
            assert (c.unit_price, c.amount) == (s.unit_price, s.amount)


def _marginal(quantity: Fraction, tiers: list[RefTier]) -> Fraction:
    """Graduated pricing written the other way: each tier's price step times the quantity above its
    lower bound (a different formula for the same number)."""
    total, lower, previous = Fraction(0), Fraction(0), Fraction(0)
    for tier in tiers:
        total += (Fraction(tier.price) - previous) * max(Fraction(0), quantity - lower)
        previous = Fraction(tier.price)
        lower = Fraction(tier.up_to) if tier.up_to is not None else lower
    return total


def _usage_minor(lines: list[Line], tenant: str, month: dt.date) -> int:
    return sum(
        x.amount_minor
        for x in lines
        if (x.tenant_id, x.invoice_month, x.charge_class) == (tenant, month, "Usage")
    )


@SETTINGS
@given(data=st.data())
def test_invoice_lines_bill_tiers_and_minimums_as_the_spec_says(data: st.DataObject) -> None:
    """A tiered line bills its month's billed quantity through its tiers, rounded once; other lines
    the exact sum of their slices; a complete month's tenant total is at least its minimum."""
    _, refs = both(data.draw(contract_toml()))
    charged = charge(data.draw(list_slices(refs)), refs)
    complete = data.draw(st.sets(st.sampled_from([MAY, JUNE])))
    lines = invoice_lines(charged, refs, "USD", 2, complete)
    for line in (x for x in lines if x.charge_class == "Usage"):
        members = [
            c for c in charged
            if (c.slice.tenant_id, c.slice.usage_date.replace(day=1), c.slice.family, c.slice.meter)
            == (line.tenant_id, line.invoice_month, line.family, line.meter)
        ]  # fmt: skip
        charged_sum = sum((c.amount for c in members), Decimal(0))
        exact = sum((Fraction(c.amount) for c in members if c.price_basis != "tier"), Fraction(0))
        for contract_id in {c.contract_id for c in members if c.price_basis == "tier"}:
            contract = next(r for r in refs if r.contract_id == contract_id)
            under = [c for c in members if c.price_basis == "tier" and c.contract_id == contract_id]
            quantity = sum((Fraction(c.slice.billed_quantity) for c in under), Fraction(0))
            exact += _marginal(quantity, contract.tiers_of(under[0].slice.family, under[0].slice.meter))
        assert line.amount_minor == minor(exact, 2)
        assert line.amount_exact == dec(round_half_even(exact, 12))
        assert line.tier_adjustment == line.amount_exact - charged_sum
        if not any(c.price_basis == "tier" for c in members):
            assert (line.amount_exact, line.tier_adjustment) == (charged_sum, 0)
        assert line.list_amount_exact == sum((c.list_amount for c in members), Decimal(0))
    for month in (MAY, JUNE):
        start = (month - dt.date(1970, 1, 1)).days * DAY
        for tenant in TENANTS:
            contract = next((r for r in refs if r.tenant == tenant and r.covers(start)), None)
            trued = [
                x
                for x in lines
                if (x.tenant_id, x.invoice_month, x.charge_class) == (tenant, month, "Minimum")
            ]
            usage = _usage_minor(lines, tenant, month)
            if month not in complete or contract is None or contract.minimum is None:
                assert trued == []
                continue
            floor = int(contract.minimum * 100)
            assert usage + sum(x.amount_minor for x in trued) == max(usage, floor)
            assert len(trued) == (1 if usage < floor else 0)


@SETTINGS
@given(data=st.data())
def test_a_month_billed_as_one_run_or_as_its_days_gives_the_same_lines(data: st.DataObject) -> None:
    """Charging each day's slices alone and the month's together gives the same slices and lines,
    in any order: nothing a slice is charged depends on another slice."""
    _, refs = both(data.draw(contract_toml()))
    slices = data.draw(list_slices(refs))
    month = charge(slices, refs)
    days: dict[dt.date, list[ListSlice]] = {}
    for s in slices:
        days.setdefault(s.usage_date, []).append(s)
    by_day = [c for day in sorted(days) for c in charge(days[day], refs)]
    assert sorted(by_day, key=lambda c: slices.index(c.slice)) == month
    shuffled = list(by_day)
    random.Random(data.draw(st.integers(0, 2**32))).shuffle(shuffled)
    complete = [MAY, JUNE]
    assert invoice_lines(shuffled, refs, "USD", 2, complete) == invoice_lines(month, refs, "USD", 2, complete)


def _uniform(text_terms: str) -> str:
    """A contracts file giving each tenant one contract from May 1 on with these terms."""
    out = ['currency = "USD"']
    for tenant in TENANTS:
        out += ["[[contract]]", f'tenant = "{tenant}"', "effective_from = 2026-05-01", text_terms]
    return "\n".join(out) + "\n"


LIST_TERMS = {
    "no terms": "",
    "discount 0": 'discount = "0"',
    "the list's own prices": "\n".join(
        f'[[contract.price]]\nfamily = "{f}"\nmeter = "{m}"\nunit = "{u}"\nprice = "{p}"\n{extra}'
        for f, m, u, p, extra in [
            ("vm.compute", "vcpu_hours", "vCPU-hour", "0.0400", ""),
            ("vm.compute", "vcpu_hours", "vCPU-hour", "0.0340", 'hypervisor = "firecracker"'),
            ("vm.compute", "mem_gib_hours", "GiB-hour", "0.0050", ""),
            ("vm.storage", "storage_gib_hours", "GiB-month", "0.10", ""),
            ("snap.storage", "storage_gib_hours", "GiB-month", "0.05", ""),
        ]
    ),
}


@pytest.mark.parametrize("terms", sorted(LIST_TERMS))
@SETTINGS
@given(data=st.data())
def test_terms_that_change_nothing_bill_the_list(terms: str, data: st.DataObject) -> None:
    """A contract without terms, a discount of 0, or the list's own prices: every slice and line is
    the list's (the slices still name their contract)."""
    _, refs = both(_uniform(LIST_TERMS[terms]))
    charged = charge(data.draw(list_slices(refs)), refs)
    assert all(c.amount == c.list_amount for c in charged)
    for c in charged:  # (a zero-length slice at May 1 takes the instant before it: no contract)
        assert (c.contract_id is not None) == (c.slice.tenant_id is not None and c.slice.instant >= MAY_1)
    for line in invoice_lines(charged, refs, "USD", 2, [MAY, JUNE]):
        assert (line.amount_exact, line.amount_minor) == (line.list_amount_exact, line.list_amount_minor)


@SETTINGS
@given(data=st.data())
def test_a_discount_of_100_bills_nothing(data: st.DataObject) -> None:
    """Every meter 100% off: no amount but those of slices no contract applies to."""
    _, refs = both(_uniform('discount = "100"'))
    for c in charge(data.draw(list_slices(refs)), refs):
        assert c.amount == (c.list_amount if c.contract_id is None else 0)


def _tiers(bounds: list[Fraction], prices: list[Decimal]) -> list[RefTier]:
    ups: list[Decimal | None] = [dec(b) for b in bounds]
    return [RefTier("vm.compute", "vcpu_hours", up, p) for up, p in zip([*ups, None], prices, strict=True)]


@st.composite
def tier_sets(draw: st.DrawFn) -> list[RefTier]:
    bounds = sorted(draw(st.sets(st.integers(1, 10**6), max_size=4)))
    prices = draw(st.lists(st.integers(0, 10**6), min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return _tiers([Fraction(b, 1000) for b in bounds], [Decimal(p).scaleb(-6) for p in prices])


@settings(max_examples=200, deadline=None)
@given(tiers=tier_sets(), q=st.integers(0, 2 * 10**9), split=st.integers(1, 10**6))
def test_tier_properties(tiers: list[RefTier], q: int, split: int) -> None:
    """Tiers fill in order and their parts add up to the quantity; the amount is the marginal-price
    formula's, grows with the quantity, and is unchanged by splitting a tier at any point into two
    tiers of its price."""
    quantity = Fraction(q, 10**6)
    parts = tier_parts(quantity, tiers)
    assert sum(p for p, _ in parts) == quantity
    filled = [p for p, _ in parts]
    last = max((i for i, p in enumerate(filled) if p), default=-1)
    lowers = [Fraction(0)] + [Fraction(t.up_to) for t in tiers if t.up_to is not None]
    for i, part in enumerate(filled[: max(last, 0)]):
        assert part == lowers[i + 1] - lowers[i]  # every tier below the one the quantity ends in is full
    assert all(p == 0 for p in filled[last + 1 :])
    amount = tiered_amount(quantity, tiers)
    assert amount == _marginal(quantity, tiers)
    assert tiered_amount(quantity + Fraction(1, 10**6), tiers) >= amount
    point = Fraction(split, 1000)
    bounds = sorted({*(Fraction(t.up_to) for t in tiers if t.up_to is not None), point})
    prices = [next(t.price for t in tiers if t.up_to is None or b <= Fraction(t.up_to)) for b in bounds]
    resplit = _tiers(bounds, [*prices, tiers[-1].price])
    assert tiered_amount(quantity, resplit) == amount


def test_a_slice_across_a_contract_boundary_is_refused() -> None:
    """Pricing cuts a slice where its tenant's contract starts or ends; an uncut one is an error."""
    refs = read_contracts(_uniform('discount = "5"'))
    crossing = listed(1, "t1", "vm.compute:vcpu_hours", (MAY_1 - H, MAY_1 + H), billed="2", price="0.0400")
    with pytest.raises(ValueError, match="not cut at a contract boundary"):
        charge([crossing], refs)
    before, after = (
        listed(1, "t1", "vm.compute:vcpu_hours", (MAY_1 - H, MAY_1), billed="1", price="0.0400"),
        listed(1, "t1", "vm.compute:vcpu_hours", (MAY_1, MAY_1 + H), billed="1", price="0.0400"),
    )
    assert [c.price_basis for c in charge([before, after], refs)] == ["list", "discount"]
    assert isinstance(charge([after], refs)[0], Charged)
