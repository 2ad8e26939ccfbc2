"""The engine's contract pricing (sql/engine/price/contracted_slices.sql) against the independent
Decimal reading (reference.py): every slice's charge, cuts at contract bounds, and nothing changed
without a contracts file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from contract_cases import DAY, JUNE_1, MAY_1, contract_toml
from engine_cases import BOOK, as_list_slice, fleet, priced
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from reference import charge, read_contracts, slice_amount

from reconcile import PriceBookError, load_contracts
from reconcile._price._contracts import parse_contracts
from reconcile._price._pricer import Pricer

CONTRACTS = Path(__file__).resolve().parents[2] / "data" / "contracts"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHARGED = ("contract_id", "price_basis", "unit_price", "price_unit", "hours_per_month", "amount")


@SETTINGS
@given(data=st.data())
def test_each_slice_is_charged_as_the_reference_reads_the_contracts(data: st.DataObject) -> None:
    """On random contracts (prices, overrides, monthly units, discounts, tiers, on and off month
    starts) and fleets, every slice the engine prices is cut at its tenant's contract bounds (the
    reference refuses one that is not), its list columns are the book's, and its contract, basis,
    price, unit and amount are the reference's, to the last digit."""
    text = data.draw(contract_toml())
    contracts, refs = parse_contracts(text.encode(), "cases.toml", BOOK), read_contracts(text)
    intervals, tenants = data.draw(fleet())
    rows = priced(intervals, tenants, contracts)
    listed = [as_list_slice(r, intervals) for r in rows]
    for row, want in zip(rows, charge(listed, refs), strict=True):
        got = tuple(row[c] for c in CHARGED)
        assert got == (
            want.contract_id,
            want.price_basis,
            want.unit_price,
            want.price_unit,
            want.hours_per_month,
            want.amount,
        ), row
        assert row["discount_percent"] == want.discount_percent
        assert row["amount"] == slice_amount(
            row["billed_quantity"], row["unit_price"], row["hours_per_month"]
        )
        tiers = row["contract_tiers"]
        assert (tiers is not None) == (want.price_basis == "tier")
        if tiers is not None:
            contract = next(c for c in refs if c.contract_id == want.contract_id)
            assert [(t["up_to"], t["unit_price"]) for t in tiers] == [
                (t.up_to, t.price) for t in contract.tiers_of(row["family"], row["meter"])
            ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_list_columns_are_the_slices_priced_without_contracts(data: st.DataObject) -> None:
    """Where no contract boundary falls inside a slice (contracts on month starts only), pricing
    with contracts gives the same slices as without, their list columns the prices and amounts
    pricing without contracts gives, and the SPEC columns other than the charge unchanged."""
    contracts = parse_contracts(data.draw(contract_toml()).encode(), "cases.toml", BOOK)
    inside_a_day = [
        c for c in contracts.contracts if c.effective_from_ns % DAY or (c.effective_to_ns or 0) % DAY
    ]
    assume(not inside_a_day)  # (a bound inside a day cuts slices: the test above covers it)
    intervals, tenants = data.draw(fleet())
    key = ("interval_id", "meter", "slice_start_ns", "slice_end_ns")
    plain = {tuple(r[k] for k in key): r for r in priced(intervals, tenants, None)}
    contracted = {tuple(r[k] for k in key): r for r in priced(intervals, tenants, contracts)}
    assert plain.keys() == contracted.keys()
    for k, row in contracted.items():
        base = plain[k]
        assert (
            row["list_unit_price"],
            row["list_price_unit"],
            row["list_hours_per_month"],
            row["list_amount"],
        ) == (base["unit_price"], base["price_unit"], base["hours_per_month"], base["amount"])
        for column in ("tenant_id", "quantity", "billed_quantity", "usage_date", "status", "price_entry"):
            assert row[column] == base[column]


def test_without_contracts_the_slices_have_the_spec_columns_only() -> None:
    """No contracts file: the slices are exactly pricing's as before (no column added)."""
    with duckdb.connect() as con:
        Pricer(con, BOOK)
        names = [r[0] for r in con.execute("DESCRIBE SELECT * FROM contract_bounds").fetchall()]
        assert names == ["resource_id", "at_ns"]
        assert con.execute("SELECT count(*) FROM contract_bounds").fetchall() == [(0,)]


def test_a_discount_slice_by_hand() -> None:
    """acme, 10% off: 2 GiB for 5 hours of memory at 0.0050 less 10% = 0.0045 x 10 = 0.045; its vCPU at
    the contract's 0.0300 (no discount on top); globex's vCPU at its first tier's 0.0400."""
    contracts = load_contracts(CONTRACTS / "issue_example.toml", BOOK)
    start = MAY_1 + 86_400 * 10**9 + 10 * 3600 * 10**9
    intervals = pa.table(
        {
            "interval_id": ["a", "g"],
            "family": ["vm.compute", "vm.compute"],
            "resource_id": ["ra", "rg"],
            "hypervisor": ["cloud-hypervisor", "cloud-hypervisor"],
            "cpu": pa.array([1, 2], pa.int64()),
            "mem_bytes": pa.array([2 * 2**30, 2**30], pa.int64()),
            "storage_bytes": pa.array([0, 0], pa.int64()),
            "start_ns": pa.array([start, start], pa.int64()),
            "end_ns": pa.array([start + 5 * 3600 * 10**9] * 2, pa.int64()),
            "status": ["closed", "closed"],
        }
    )
    tenants = pa.table({"resource_id": ["ra", "rg"], "tenant_id": ["acme", "globex"]})
    rows = {(r["interval_id"], r["meter"]): r for r in priced(intervals, tenants, contracts, MAY_1, JUNE_1)}
    mem, vcpu, tiered = rows[("a", "mem_gib_hours")], rows[("a", "vcpu_hours")], rows[("g", "vcpu_hours")]
    assert (mem["price_basis"], mem["unit_price"], mem["amount"], mem["list_amount"]) == (
        "discount",
        Decimal("0.004500000000"),
        Decimal("0.045000000000"),
        Decimal("0.050000000000"),
    )
    assert mem["discount_percent"] == Decimal(10)
    assert (vcpu["price_basis"], vcpu["unit_price"], vcpu["amount"], vcpu["list_amount"]) == (
        "price",
        Decimal("0.0300"),
        Decimal("0.150000000000"),
        Decimal("0.200000000000"),
    )
    assert (tiered["price_basis"], tiered["unit_price"], tiered["price_unit"], tiered["contract_id"]) == (
        "tier",
        Decimal("0.0400"),
        "vCPU-hour",
        "globex@2026-05-01T00:00:00Z",
    )


def test_contracts_in_another_currency_are_refused() -> None:
    """A Contracts value of another currency than the book's never prices (the loader refuses the
    file already; a value built for another book is refused here)."""
    eur = parse_contracts(
        b'currency = "EUR"\n', "eur.toml", BOOK.__class__(**{**BOOK.__dict__, "currency": "EUR"})
    )
    with duckdb.connect() as con, pytest.raises(PriceBookError, match="EUR"):
        Pricer(con, BOOK, None, eur)
