"""The contracts' Arrow tables: their schemas in DuckDB, their rows, the discount formula they document."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile import Contracts, load_contracts, load_price_book
from reconcile._core._sql import load_sql
from reconcile._price._contracts import (
    CONTRACT_METER_SCHEMA,
    CONTRACT_PRICE_SCHEMA,
    CONTRACT_SCHEMA,
    CONTRACT_TIER_SCHEMA,
    contract_tables,
    meters,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "data" / "contracts"
INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def valid() -> Contracts:
    """tests/data/contracts/valid.toml, loaded with the bundled book."""
    return load_contracts(CONTRACTS / "valid.toml", load_price_book("bundled"))


def test_tables_have_their_schemas_in_duckdb(valid: Contracts) -> None:
    """Each table has its declared schema, and DuckDB reads money as DECIMAL(38,12), never DOUBLE."""
    tables = contract_tables(valid)
    schemas = (CONTRACT_SCHEMA, CONTRACT_PRICE_SCHEMA, CONTRACT_TIER_SCHEMA, CONTRACT_METER_SCHEMA)
    con = duckdb.connect()
    for (name, table), schema in zip(tables.items(), schemas, strict=True):
        assert table.schema.equals(schema), name
        con.register(name, table)
        types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall())
        assert "DOUBLE" not in types.values(), name
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE contract_prices)").fetchall())
    assert (types["unit_price"], types["unit_price_e12"]) == ("DECIMAL(38,12)", "DECIMAL(38,0)")
    empty = contract_tables(None)
    assert [t.num_rows for _, t in empty.items()] == [0, 0, 0, 0]
    assert [t.schema for _, t in empty.items()] == list(schemas)


def test_rows_state_each_contract_term(valid: Contracts) -> None:
    """One row per contract, price, tier and (contract, meter), with the normalised values."""
    tables = contract_tables(valid)
    windows = tables.contracts.to_pylist()
    assert [w["contract_id"] for w in windows] == [c.contract_id for c in valid.contracts]
    acme2 = windows[1]
    assert acme2["effective_to_ns"] == INT64_MAX  # 9999-12-31 clamped: no event is that late
    globex = windows[2]
    assert (globex["monthly_minimum_minor"], globex["discount_keep_e12"]) == (10_000, Decimal(100) * 10**12)
    assert windows[0]["discount_keep_e12"] == Decimal("87.5") * 10**12
    assert windows[3]["discount_percent"] is None
    assert windows[3]["monthly_minimum"] is None
    prices = tables.contract_prices.to_pylist()
    assert [(p["hypervisor"], p["unit_price_e12"], p["hours_per_month"]) for p in prices] == [
        (None, Decimal(30_000_000_000), None),
        ("firecracker", Decimal(25_000_000_000), None),
        (None, Decimal(80_000_000_000), 730),
        (None, Decimal(40_000_000_001), 720),
    ]
    tiers = tables.contract_tiers.to_pylist()
    assert [(t["meter"], t["tier"], t["lower_e12"], t["up_to_e12"]) for t in tiers] == [
        ("vcpu_hours", 1, 0, Decimal(100) * 10**12),
        ("vcpu_hours", 2, Decimal(100) * 10**12, Decimal(1000) * 10**12),
        ("vcpu_hours", 3, Decimal(1000) * 10**12, None),
        ("storage_gib_hours", 1, 0, Decimal("73000.5") * 10**12),
        ("storage_gib_hours", 2, Decimal("73000.5") * 10**12, None),
    ]
    assert {t["unit"] for t in tiers if t["meter"] == "storage_gib_hours"} == {"GiB-hour"}
    kept = tables.contract_meters.to_pylist()
    assert len(kept) == len(valid.contracts) * len(list(meters()))
    for row in kept:
        contract = valid.by_id(row["contract_id"])
        assert contract is not None
        assert row["basis"] == contract.basis(row["family"], row["meter"])
        assert (row["discount_keep_e12"] is not None) == (row["basis"] == "discount")
        assert (row["tier_unit_price"] is not None) == (row["basis"] == "tier")
    first = next(r for r in kept if r["basis"] == "tier" and r["meter"] == "vcpu_hours")
    assert first["tier_unit_price"] == Decimal("0.04")


@settings(max_examples=15, deadline=None)
@given(
    cases=st.lists(
        st.tuples(
            st.integers(0, 10**26 - 1),
            st.integers(0, 12).flatmap(lambda places: st.decimals(0, 100, places=places)),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_the_documented_discount_formula_is_exact_in_duckdb(cases: list[tuple[int, Decimal]]) -> None:
    """``mul_div_half_even(list_e12, discount_keep_e12, 10^14)`` is the list price less the discount,
    rounded half-even to 12 digits, as the SPEC's Contracts section says a discounted price is."""
    con = duckdb.connect()
    con.execute(load_sql("engine/price/div_half_even"))
    table = pa.table(
        {
            "list_e12": pa.array([Decimal(p) for p, _ in cases], pa.decimal128(38, 0)),
            "keep_e12": pa.array([(100 - d) * 10**12 for _, d in cases], pa.decimal128(38, 0)),
        }
    )
    con.register("t", table)
    got = con.execute(
        "SELECT CAST(mul_div_half_even(CAST(list_e12 AS HUGEINT), CAST(keep_e12 AS HUGEINT),"
        " CAST(100000000000000 AS HUGEINT)) AS VARCHAR) FROM t"
    ).fetchall()
    for (price_e12, discount), (text,) in zip(cases, got, strict=True):
        with localcontext(prec=100):  # exact: 26 digits of price times 15 of discount
            exact = Decimal(price_e12).scaleb(-12) * (100 - discount) / 100
        assert Decimal(text).scaleb(-12) == exact.quantize(Decimal("1e-12"), rounding=ROUND_HALF_EVEN)
