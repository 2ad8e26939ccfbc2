"""FOCUS with contracts: list and contracted columns from the slices' list and charged prices, a tiered
line's month adjustment as an Adjustment row and a minimum's true-up as a Purchase row, so a month's
BilledCost sums to its invoice lines' exact amounts; the export without contracts is unchanged."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import reconcile

CENT = Decimal("0.01")


def test_billed_cost_sums_to_the_invoice_lines_exactly(contracts_month: Path) -> None:
    """Per tenant, family and meter, the month's BilledCost (slices and adjustments) is the invoice line's
    exact amount, rounded half-even it is the line's amount, and the month sums to the invoices' totals."""
    focus = reconcile.read_relation("focus", contracts_month).to_dicts()
    lines = reconcile.read_relation("invoice_lines", contracts_month).to_dicts()
    got: dict[tuple[object, ...], Decimal] = {}
    for row in focus:
        key = (row["SubAccountId"], row["x_Family"], row["x_Meter"])
        got[key] = got.get(key, Decimal(0)) + row["BilledCost"]
    want = {(ln["tenant_id"], ln["family"], ln["meter"]): ln["amount_exact"] for ln in lines}
    assert got == want
    for line in lines:
        key = (line["tenant_id"], line["family"], line["meter"])
        assert got[key].quantize(CENT, ROUND_HALF_EVEN) == line["amount"]
    totals = {(ln["tenant_id"], ln["invoice_month"]): ln["invoice_total"] for ln in lines}
    per_tenant: dict[object, Decimal] = {}
    for k, exact in got.items():
        per_tenant[k[0]] = per_tenant.get(k[0], Decimal(0)) + exact.quantize(CENT, ROUND_HALF_EVEN)
    assert per_tenant == {t: total for (t, _), total in totals.items()}
    assert sum(got.values()) == sum(ln["amount_exact"] for ln in lines)


def test_list_and_contracted_columns_follow_the_slices(contracts_month: Path) -> None:
    """ListCost is the slice's list amount and ListUnitPrice its list price, ContractedCost and BilledCost the
    charged amount; they differ where a contract applies and agree where the list priced the slice."""
    focus = reconcile.read_relation("focus", contracts_month)
    usage = focus.filter(focus["ChargeCategory"] == "Usage").to_dicts()
    slices = reconcile.read_relation("slices", contracts_month).to_dicts()
    by_key = {(s["interval_id"], s["meter"], s["slice_start"]): s for s in slices}
    assert len(usage) == len(slices)
    differ = 0
    for row in usage:
        s = by_key[(row["x_IntervalId"], row["x_Meter"], row["ChargePeriodStart"])]
        assert row["ListCost"] == s["list_amount"]
        assert row["ContractedCost"] == row["BilledCost"] == row["EffectiveCost"] == s["amount"]
        assert row["ContractedUnitPrice"] == s["unit_price"]
        if s["list_price_unit"] == s["price_unit"]:
            assert row["ListUnitPrice"] == s["list_unit_price"]
        if s["price_basis"] == "list":
            assert row["ListCost"] == row["ContractedCost"]
        else:
            differ += row["ListCost"] != row["ContractedCost"]
    assert differ > 0


def test_tier_adjustment_and_true_up_rows(contracts_month: Path) -> None:
    """The tiered tenant's line has one Adjustment row of its month (list cost 0, no quantity) and the
    minimum's true-up one Purchase row, Recurring and Committed, of the true-up's amount."""
    focus = reconcile.read_relation("focus", contracts_month)
    extra = focus.filter(focus["ChargeCategory"] != "Usage").to_dicts()
    lines = reconcile.read_relation("invoice_lines", contracts_month).to_dicts()
    tiered = [ln for ln in lines if ln["tier_adjustment"] not in (None, 0)]
    minimum = [ln for ln in lines if ln["charge_class"] == "Minimum"]
    assert len(tiered) >= 1
    assert len(minimum) == 1
    adjustments = [r for r in extra if r["ChargeCategory"] == "Adjustment"]
    assert sorted((r["SubAccountId"], r["BilledCost"]) for r in adjustments) == sorted(
        (ln["tenant_id"], ln["tier_adjustment"]) for ln in tiered
    )
    for r in adjustments:
        assert r["ListCost"] == 0
        assert r["ContractedCost"] == r["BilledCost"]
        assert r["PricingQuantity"] is None
        assert r["ChargeClass"] is None
        assert r["ChargeFrequency"] == "Usage-Based"
        assert r["ChargePeriodStart"] == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
        assert r["ChargePeriodEnd"] == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    (purchase,) = [r for r in extra if r["ChargeCategory"] == "Purchase"]
    assert purchase["SubAccountId"] == minimum[0]["tenant_id"] == "globex"
    assert purchase["BilledCost"] == purchase["ListCost"] == minimum[0]["amount"] > 0
    assert (purchase["ChargeFrequency"], purchase["PricingCategory"]) == ("Recurring", "Committed")
    assert minimum[0]["contract_ids"] in purchase["ChargeDescription"]


def test_export_keeps_the_month_and_its_adjustments(contracts_month: Path, tmp_path: Path) -> None:
    """The exported month holds every row of the relation, its adjustment and true-up rows included."""
    assert (
        reconcile.export_focus(contracts_month, period="2026-02", to=tmp_path / "feb.csv")
        == reconcile.read_relation("focus", contracts_month).height
    )
    text = (tmp_path / "feb.csv").read_text(encoding="utf-8")
    assert ",Adjustment," in text
    assert ",Purchase," in text
