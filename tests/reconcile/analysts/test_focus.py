"""The FOCUS 1.2 relation and export (sql/views/focus.sql, reconcile._analysts._views.export_focus)."""

from __future__ import annotations

import csv
import re
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from helpers.analyst_fixture import write_output
from reconcile._analysts._views import connect_output, export_focus, read_relation
from reconcile.exceptions import OutputError, UsageError

ROOT = Path(__file__).resolve().parents[3]

# FOCUS 1.2 columns whose feature level is Mandatory.
MANDATORY = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
]
# Columns that must never be null in our rows (ChargeClass is null for regular charges).
NOT_NULL = [c for c in MANDATORY if c != "ChargeClass"] + [
    "ChargeFrequency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ListUnitPrice",
    "ResourceId",
    "ResourceType",
    "SkuId",
    "SkuPriceId",
    "x_IntervalStatus",
    "x_RunId",
]
MONEY = ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice", "ContractedUnitPrice"]


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_output(tmp_path_factory.mktemp("focus"))


@pytest.fixture(scope="module")
def focus(output: Path) -> pl.DataFrame:
    return read_relation("focus", output)


def test_every_mandatory_focus_column_is_present_and_filled(focus: pl.DataFrame) -> None:
    """The relation has every FOCUS 1.2 mandatory column, and none of the non-nullable ones is null."""
    assert [c for c in MANDATORY if c not in focus.columns] == []
    assert {c: focus[c].null_count() for c in NOT_NULL} == dict.fromkeys(NOT_NULL, 0)
    assert focus["ChargeClass"].null_count() == focus.height
    assert set(focus["ChargeCategory"]) == {"Usage"}
    assert set(focus["ChargeFrequency"]) == {"Usage-Based"}


def test_money_columns_stay_decimal_in_duckdb(output: Path) -> None:
    """Costs, prices and quantities are DECIMAL(38,12) in DuckDB itself, never DOUBLE."""
    con = connect_output(output)
    try:
        types = {name: kind for name, kind, *_ in con.execute("DESCRIBE focus").fetchall()}
    finally:
        con.close()
    for column in [*MONEY, "PricingQuantity", "ConsumedQuantity", "x_BilledQuantityHours"]:
        assert types[column] == "DECIMAL(38,12)", column
    for column in ["ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"]:
        assert types[column] == "TIMESTAMPTZ_NS", column
    assert "DOUBLE" not in types.values()


def test_costs_are_the_slice_amounts(output: Path, focus: pl.DataFrame) -> None:
    """BilledCost, EffectiveCost, ListCost and ContractedCost equal the slice amounts, row for row."""
    slices = read_relation("slices", output)
    assert focus.height == slices.height
    assert focus["BilledCost"].sum() == slices["amount"].sum()
    for column in ["EffectiveCost", "ListCost", "ContractedCost"]:
        assert focus[column].to_list() == focus["BilledCost"].to_list()
    joined = focus.join(
        slices,
        left_on=["x_IntervalId", "x_Meter", "ChargePeriodStart"],
        right_on=["interval_id", "meter", "slice_start"],
    )
    assert joined.height == slices.height
    assert (joined["BilledCost"] == joined["amount"]).all()
    assert (joined["ChargePeriodEnd"] == joined["slice_end"]).all()
    assert (joined["SubAccountId"].fill_null("-") == joined["tenant_id"].fill_null("-")).all()


def test_billing_period_is_the_usage_month(focus: pl.DataFrame) -> None:
    """A 31 October slice bills in October, a 1 November slice in November: [month start, next month)."""
    october = focus.filter(pl.col("x_UsageDate").cast(pl.String) == "2026-10-31").row(0, named=True)
    assert (str(october["BillingPeriodStart"]), str(october["BillingPeriodEnd"])) == (
        "2026-10-01 00:00:00+00:00",
        "2026-11-01 00:00:00+00:00",
    )
    november = focus.filter(pl.col("x_UsageDate").cast(pl.String) == "2026-11-02").row(0, named=True)
    assert str(november["BillingPeriodEnd"]) == "2026-12-01 00:00:00+00:00"


def test_monthly_pricing_quantity_is_exact_half_even(focus: pl.DataFrame) -> None:
    """A GiB-month price counts months: billed hours / 730, half-even to 12 digits; x price = ListCost."""
    monthly = focus.filter(pl.col("PricingUnit") == "GiB-Months")
    assert monthly.height == 4
    for row in monthly.iter_rows(named=True):
        hours = row["x_BilledQuantityHours"]
        expected = (hours / Decimal(730)).quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN)
        assert row["PricingQuantity"] == expected
        assert abs(row["ListUnitPrice"] * row["PricingQuantity"] - row["ListCost"]) <= Decimal("1e-10")
    hourly = focus.filter(pl.col("PricingUnit") != "GiB-Months")
    assert (hourly["PricingQuantity"] == hourly["x_BilledQuantityHours"]).all()
    assert (hourly["ListUnitPrice"] * hourly["PricingQuantity"] - hourly["ListCost"]).abs().max() <= Decimal(
        "1e-12"
    )


def test_x_columns_carry_status_anomalies_and_run(focus: pl.DataFrame) -> None:
    """x_AnomalyCodes names the interval's anomalies; x_IntervalStatus and x_RunId come from the slice."""
    codes = dict(zip(focus["x_IntervalId"], focus["x_AnomalyCodes"], strict=True))
    assert codes["i-vm2"] == "double_start"
    assert codes["i-vm4"] == "shape_mismatch"
    assert codes["i-vm1"] is None
    first = focus.filter(pl.col("x_IntervalId") == "i-vm1").sort("ChargePeriodStart").row(0, named=True)
    assert (first["x_IntervalStatus"], first["x_IntervalLatestStatus"], first["x_RunId"]) == (
        "open",
        "closed",
        "r1031",
    )
    assert set(focus["ServiceCategory"]) == {"Compute", "Storage"}
    assert set(focus["SubAccountType"].drop_nulls()) == {"Tenant"}


def test_constants_come_from_parameters(output: Path) -> None:
    """Provider, publisher, issuer and billing account are configurable, with documented defaults."""
    default = read_relation("focus", output)
    assert set(default["ProviderName"]) == {"Cocoon"}
    assert set(default["BillingAccountId"]) == {"cocoon"}
    custom = read_relation(
        "focus", output, params={"focus_provider_name": "Acme Cloud", "focus_billing_account_id": "acct-7"}
    )
    assert set(custom["ProviderName"]) == {"Acme Cloud"}
    assert set(custom["BillingAccountId"]) == {"acct-7"}


def test_export_parquet_keeps_decimals_and_filters_the_period(output: Path, tmp_path: Path) -> None:
    """export focus --period 2026-11 writes only November's rows, DECIMAL(38,12) and ns timestamps intact."""
    dest = tmp_path / "out" / "focus.parquet"
    with pytest.raises(UsageError, match="does not exist"):
        export_focus(output, period="2026-11", to=dest)  # the target's folder is never created
    dest.parent.mkdir()
    rows = export_focus(output, period="2026-11", to=dest, allow_partial=True)  # 3 days of it run
    assert dest.stat().st_mode & 0o777 == 0o600
    assert rows == 14
    table = pq.read_table(dest)
    assert table.num_rows == 14
    assert str(table.schema.field("BilledCost").type) == "decimal128(38, 12)"
    assert str(table.schema.field("ChargePeriodStart").type) == "timestamp[ns, tz=UTC]"
    assert [p.name for p in dest.parent.iterdir()] == ["focus.parquet"]  # no temporary file left
    assert set(table.column("x_PartialExport").to_pylist()) == {True}
    day = export_focus(output, period="2026-10-31", to=tmp_path / "day.parquet")
    assert day == 2
    assert set(pq.read_table(tmp_path / "day.parquet").column("x_PartialExport").to_pylist()) == {False}


def test_export_refuses_a_period_never_run_or_half_run(output: Path, tmp_path: Path) -> None:
    """A period with no committed run is an error (not an empty file and exit 0); a month with days
    missing is refused unless allow_partial, naming how many; nothing is written."""
    with pytest.raises(OutputError, match="holds no run of it"):
        export_focus(output, period="2026-11-20", to=tmp_path / "never.parquet")
    with pytest.raises(OutputError, match=r"28 of its 30 days have no run \(2026-11-03, .*--allow-partial"):
        export_focus(output, period="2026-11", to=tmp_path / "month.parquet")
    assert list(tmp_path.iterdir()) == []


def test_export_csv_writes_iso_instants_and_exact_decimals(output: Path, tmp_path: Path) -> None:
    """The CSV export writes instants as ISO 8601 UTC with nanoseconds and costs as decimal strings."""
    dest = tmp_path / "focus.csv"
    assert export_focus(output, period="2026-11-01", to=dest) == 7
    with dest.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 7
    instant = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z")
    assert all(instant.fullmatch(r["ChargePeriodStart"]) for r in rows)
    assert "2026-11-01T02:00:00.000000001Z" in {r["ChargePeriodEnd"] for r in rows}
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("2.116301369863")


def test_export_rejects_bad_destination_or_period(output: Path, tmp_path: Path) -> None:
    """A destination that is not .parquet/.csv, or a malformed period, is a usage error."""
    with pytest.raises(UsageError, match=r"\.parquet or \.csv"):
        export_focus(output, period="2026-11", to=tmp_path / "focus.xlsx")
    with pytest.raises(UsageError, match="2026-13"):
        export_focus(output, period="2026-13", to=tmp_path / "focus.csv")


def test_focus_doc_maps_every_column(focus: pl.DataFrame) -> None:
    """docs/FOCUS.md has a table row for every column of the relation."""
    doc = (ROOT / "docs" / "FOCUS.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)` \|", doc, re.MULTILINE))
    assert [c for c in focus.columns if c not in documented] == []
