"""The Spark engine with a contracts file (local[2]): a day and a month of the demo fleet, with a
negotiated price and a discount that start inside the day, graduated tiers and a monthly minimum, give
the DuckDB engine's rows, run_ids, manifests and invoice lines."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers.run_fixture import output_rows
from reconcile import read_relation, run_period
from reconcile._core._policies import SparkOptions

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

LOCAL = SparkOptions(master="local[2]", buckets=4)
CONTRACTS = """currency = "USD"

[[contract]]
tenant = "acme"
effective_from = 2026-11-21T06:00:00Z
discount = "15"
  [[contract.price]]
  family = "vm.compute"
  meter = "vcpu_hours"
  unit = "vCPU-hour"
  price = "0.0300"

[[contract]]
tenant = "globex"
effective_from = 2026-11-01
monthly_minimum = "5000.00"
  [[contract.tier]]
  family = "vm.compute"
  meter = "vcpu_hours"
  up_to = "20"
  price = "0.0400"
  [[contract.tier]]
  family = "vm.compute"
  meter = "vcpu_hours"
  price = "0.0200"
"""


@pytest.mark.parametrize("period", ["2026-11-21", "2026-11"])
def test_a_day_and_a_month_with_contracts_equal_the_duckdb_engine(
    spark: SparkSession, demo_root: Path, tmp_path: Path, period: str
) -> None:
    """Both engines write the same slices (contract columns included), intervals, anomalies, manifests
    and run_id, and read back the same invoice lines; the contracts priced something."""
    store = tmp_path / "store"
    shutil.copytree(demo_root / "store", store)
    contracts = tmp_path / "contracts.toml"
    contracts.write_text(CONTRACTS, encoding="utf-8")
    tenants = demo_root / "tenants.csv"
    a = run_period(
        store, "bundled", tmp_path / "duckdb", period, tenants=tenants, contracts=contracts, quiet=True
    )
    b = run_period(
        store,
        "bundled",
        tmp_path / "spark",
        period,
        tenants=tenants,
        contracts=contracts,
        quiet=True,
        engine="spark",
        spark=LOCAL,
    )
    assert a.run_id == b.run_id
    assert a.totals == b.totals
    assert output_rows(tmp_path / "duckdb") == output_rows(tmp_path / "spark")
    lines = read_relation("invoice_lines", tmp_path / "duckdb").to_dicts()
    assert lines == read_relation("invoice_lines", tmp_path / "spark").to_dicts()
    bases = set(" ".join(line["price_bases"] or "" for line in lines).split())
    assert {"price", "discount", "tier", "list"} <= bases
    assert [line["charge_class"] for line in lines].count("Minimum") == (1 if period == "2026-11" else 0)
