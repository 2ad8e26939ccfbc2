"""The pricing stage: rounding, decimal types, inputs, tenants, and month-versus-days consistency."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reconcile import (
    PriceBookError,
    TenantsError,
    UsageError,
    invoice_lines,
    invoice_totals,
    load_price_book,
    load_tenants,
    price_slices,
)
from reconcile._core._sql import load_sql
from reconcile._price._book import parse_price_book
from reconcile._price._pricer import PeriodBounds, Pricer
from reconcile._price._tenants import TENANT_SCHEMA, normalize_tenants

DATA = Path(__file__).resolve().parents[2] / "data"
GOLDEN_BOOK = load_price_book(DATA / "prices" / "golden.toml")
S = 10**9
DAY = 86_400 * S
MARCH_1 = 20_513 * DAY  # 2026-03-01T00:00:00Z
GIB = 2**30


def day(n: int) -> int:
    """Unix ns of 2026-03-<n> 00:00 UTC."""
    return MARCH_1 + (n - 1) * DAY


def intervals(rows: list[dict[str, Any]]) -> pa.Table:
    """A minimal `intervals` table (the columns the stage reads) from short rows."""
    return pa.table(
        {
            "interval_id": pa.array([r["id"] for r in rows], pa.string()),
            "family": pa.array([r.get("family", "vm.compute") for r in rows], pa.string()),
            "resource_id": pa.array([r.get("resource_id", "vm-1") for r in rows], pa.string()),
            "hypervisor": pa.array([r.get("hypervisor") for r in rows], pa.string()),
            "cpu": pa.array([r.get("cpu", 0) for r in rows], pa.int64()),
            "mem_bytes": pa.array([r.get("mem_bytes", 0) for r in rows], pa.int64()),
            "storage_bytes": pa.array([r.get("storage_bytes", 0) for r in rows], pa.int64()),
            "start_ns": pa.array([r["start"] for r in rows], pa.int64()),
            "end_ns": pa.array([r.get("end") for r in rows], pa.int64()),
            "status": pa.array([r.get("status", "closed") for r in rows], pa.string()),
        }
    )


def price(
    rows: list[dict[str, Any]], start: int, end: int, cut_off: int | None = None, **kw: Any
) -> pa.Table:
    """Price ``rows`` for ``[start, end)`` with the golden price book; the slices as Arrow."""
    con = duckdb.connect()
    relation = price_slices(
        con,
        GOLDEN_BOOK,
        period_start_ns=start,
        period_end_ns=end,
        cut_off_ns=cut_off,
        intervals=intervals(rows),
        **kw,
    )
    return relation.to_arrow_table().drop_columns(["slice_start", "slice_end"])


# --- rounding and types -------------------------------------------------------------------------------


def test_duckdb_decimal_cast_rounds_half_away_from_zero() -> None:
    """DuckDB's own DECIMAL rounding is half away from zero: the reason money is rounded by hand."""
    row = duckdb.sql(
        "SELECT CAST(2.5 AS DECIMAL(4,1))::DECIMAL(4,0), round(0.125::DECIMAL(6,3), 2)"
    ).fetchall()[0]
    assert row == (Decimal(3), Decimal("0.13"))


MACRO_CON = duckdb.connect()
MACRO_CON.execute(load_sql("engine/price/div_half_even"))
WIDE = Context(prec=100)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=10**36) | st.integers(min_value=0, max_value=2**64),
    d=st.integers(min_value=1, max_value=2**62 - 1) | st.sampled_from([18, 18 * 2**30, 10**12, 744 * 10**12]),
)
def test_div_half_even_macro_matches_decimal(n: int, d: int) -> None:
    """The div_half_even SQL macro (fast and fallback paths) rounds n/d exactly like ROUND_HALF_EVEN."""
    tie = (n // d) * d + d // 2 if d % 2 == 0 else n  # an exact tie when d is even
    for numerator in (n, tie):
        got = MACRO_CON.execute(
            "SELECT div_half_even(CAST(? AS HUGEINT), CAST(? AS HUGEINT))", [str(numerator), str(d)]
        ).fetchall()[0][0]
        want = WIDE.divide(Decimal(numerator), Decimal(d)).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN, context=WIDE
        )
        assert got == int(want)


@settings(max_examples=300, deadline=None)
@given(
    q=st.integers(min_value=0, max_value=2**62) | st.integers(min_value=2**62, max_value=10**32),
    p=st.integers(min_value=0, max_value=2**62) | st.integers(min_value=2**62, max_value=10**26),
    hours=st.sampled_from([1, 730, 744]) | st.integers(min_value=1, max_value=744),
    tie=st.booleans(),
)
def test_mul_div_half_even_macro_matches_decimal(q: int, p: int, hours: int, tie: bool) -> None:
    """mul_div_half_even rounds q*p/d exactly like ROUND_HALF_EVEN, also where q*p is beyond HUGEINT
    (the amount of a shape near int64 max, or of a price near the book's limit), ties included."""
    d = 10**12 * hours
    if tie and p % 2 == 1:  # q*p/d exactly halfway: the fractional part of q*p/d is 1/2
        q = (q // d) * d + d // 2
    assume(q * p // d < 2**126)  # the amount itself fits HUGEINT (the output holds far less)
    got = MACRO_CON.execute(
        "SELECT mul_div_half_even(CAST(? AS HUGEINT), CAST(? AS HUGEINT), CAST(? AS HUGEINT))",
        [str(q), str(p), str(d)],
    ).fetchall()[0][0]
    want = WIDE.divide(WIDE.multiply(Decimal(q), Decimal(p)), Decimal(d)).quantize(
        Decimal(1), rounding=ROUND_HALF_EVEN, context=WIDE
    )
    assert got == int(want)


@settings(max_examples=300, deadline=None)
@given(
    factor=st.integers(min_value=0, max_value=512) | st.integers(min_value=0, max_value=2**63 - 1),
    gib=st.booleans(),
    ns=st.integers(min_value=0, max_value=86_400 * 10**9) | st.integers(min_value=0, max_value=2**62),
)
def test_quantity_half_even_macro_matches_decimal(factor: int, gib: bool, ns: int) -> None:
    """quantity_half_even (BIGINT where it holds, HUGEINT otherwise) rounds factor*ns*5/(18*unit)
    exactly like ROUND_HALF_EVEN: whole GiB and odd byte counts, a day's nanoseconds and far more."""
    unit = 2**30 if gib else 1
    for f in (factor, (factor // unit) * unit):  # (whole GiB: the BIGINT path when it fits)
        got = MACRO_CON.execute(
            "SELECT quantity_half_even(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))",
            [f, ns, unit],
        ).fetchall()[0][0]
        want = WIDE.divide(Decimal(f * ns * 5), Decimal(18 * unit)).quantize(
            Decimal(1), rounding=ROUND_HALF_EVEN, context=WIDE
        )
        assert got == int(want)


@settings(max_examples=300, deadline=None)
@given(
    q=st.integers(min_value=0, max_value=2**40) | st.integers(min_value=0, max_value=10**32),
    p=st.sampled_from([0, 34 * 10**9, 5 * 10**9, 10**11, 10**26])
    | st.integers(min_value=0, max_value=10**26),
    hours=st.sampled_from([1, 730]) | st.integers(min_value=1, max_value=744),
    tie=st.booleans(),
)
def test_amount_half_even_macro_matches_decimal(q: int, p: int, hours: int, tie: bool) -> None:
    """amount_half_even, with the price and divisor reduced by their gcd as slices.sql reduces them,
    rounds q*p/d exactly like ROUND_HALF_EVEN (the BIGINT path where the reduced product fits)."""
    d = 10**12 * hours
    if tie and p % 2 == 1:
        q = (q // d) * d + d // 2
    assume(q * p // d < 2**126)
    g = max(math.gcd(p, d), 1)
    small = p // g < 2**62 and d // g < 2**62
    got = MACRO_CON.execute(
        "SELECT amount_half_even(CAST(? AS HUGEINT), CAST(? AS HUGEINT), CAST(? AS HUGEINT),"
        " CAST(? AS BIGINT), CAST(? AS BIGINT))",
        [str(q), str(p), str(d), p // g if small else None, d // g if small else None],
    ).fetchall()[0][0]
    want = WIDE.divide(WIDE.multiply(Decimal(q), Decimal(p)), Decimal(d)).quantize(
        Decimal(1), rounding=ROUND_HALF_EVEN, context=WIDE
    )
    assert got == int(want)


def test_quantity_ties_round_half_even() -> None:
    """1 vCPU for 9 ns is 2.5e-12 vCPU-hours: rounded to 2e-12 (even), not 3e-12; 27 ns -> 7.5 -> 8e-12."""
    start = day(20) + 3600 * S
    table = price(
        [
            {"id": "a", "cpu": 1, "start": start, "end": start + 9, "status": "open"},
            {"id": "b", "cpu": 1, "start": start, "end": start + 27, "status": "open", "resource_id": "vm-2"},
        ],
        day(20),
        day(21),
        cut_off=start + 9,
    )
    got = {(r["interval_id"], r["meter"]): r["quantity"] for r in table.to_pylist()}
    assert got[("a", "vcpu_hours")] == Decimal("0.000000000002")
    # b is open at the cut-off start + 9 ns too: also 9 ns
    assert got[("b", "vcpu_hours")] == Decimal("0.000000000002")
    table = price(
        [{"id": "b", "cpu": 1, "start": start, "status": "open"}], day(20), day(21), cut_off=start + 27
    )
    vcpu = next(r for r in table.to_pylist() if r["meter"] == "vcpu_hours")
    assert vcpu["quantity"] == Decimal("0.000000000008")
    assert vcpu["seconds"] == Decimal("0.000000027")


def test_amount_ties_round_half_even() -> None:
    """An amount exactly halfway between two 12-digit values rounds to the even one, once."""
    # 1 GiB of snapshot for 90 ns: 90/3600e9 GiB-h = 2.5e-11 -> quantity 0.000000000025;
    # amount = 0.000000000025 * 0.073 / 730 = 2.5e-15 -> 0 at 12 digits (well below half)
    # A tie: 5 vCPU for 1.8 us = 0.0000000025 vCPU-h * 0.05 = 1.25e-10 -> exact, no rounding.
    # 1 vCPU for 36 ns = 1e-11 vCPU-h; * 0.05 = 5e-13 -> a tie at the 12th digit -> 0 (even)
    # 3 vCPU for 36 ns = 3e-11 vCPU-h; * 0.05 = 1.5e-12 -> tie -> 2e-12 (even)
    start = day(20) + 3600 * S
    rows = [
        {"id": "a", "cpu": 1, "start": start, "status": "open"},
        {"id": "b", "cpu": 3, "start": start, "status": "open", "resource_id": "vm-2"},
    ]
    got = {
        r["interval_id"]: r
        for r in price(rows, day(20), day(21), cut_off=start + 36).to_pylist()
        if r["meter"] == "vcpu_hours"
    }
    assert got["a"]["billed_quantity"] == Decimal("0.00000000001")
    assert got["a"]["amount"] == Decimal(0)
    assert got["b"]["billed_quantity"] == Decimal("0.00000000003")
    assert got["b"]["amount"] == Decimal("0.000000000002")


def test_no_money_or_quantity_column_is_a_float() -> None:
    """Every numeric column of the slices and of the invoice lines is a DECIMAL or an integer."""
    rows = [
        {"id": "a", "cpu": 3, "mem_bytes": 3 * GIB + 7, "start": day(20) + 17, "end": day(22) + 123_456_789},
        {"id": "s", "family": "vm.storage", "storage_bytes": 5 * GIB + 1, "start": day(19), "status": "open"},
        {"id": "n", "family": "snap.storage", "resource_id": "s-1", "storage_bytes": 11, "start": day(21)},
    ]
    con = duckdb.connect()
    relation = price_slices(
        con, GOLDEN_BOOK, period_start_ns=day(20), period_end_ns=day(23), intervals=intervals(rows)
    )
    types = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
    for name in ("quantity", "billed_quantity", "unit_price", "amount"):
        assert types[name] == "DECIMAL(38,12)", name
    assert types["seconds"] == types["billed_seconds"] == "DECIMAL(18,9)"
    assert not [n for n, t in types.items() if t in {"DOUBLE", "FLOAT", "REAL"}]
    table = relation.to_arrow_table()
    lines = invoice_lines(table)
    for schema in (table.schema, lines.schema):
        assert not [f.name for f in schema if pa.types.is_floating(f.type)]
    assert pa.types.is_decimal(lines.schema.field("amount").type)
    assert pa.types.is_decimal(lines.schema.field("amount_exact").type)
    # the invoice lines of a relation (same connection) are the same as of its Arrow table
    assert invoice_lines(relation).equals(lines)


def test_invoice_rounding_is_half_even_once_per_line() -> None:
    """Invoice lines sum the 12-digit amounts first and round the sum once: 3 x 0.005 = 0.015 -> 0.02."""
    # three 1-hour slices of 1 GiB memory at 0.005: each 0.005 (0.01 if each were rounded to cents)
    rows = [
        {
            "id": f"i{k}",
            "mem_bytes": GIB,
            "start": day(20) + k * 7200 * S,
            "end": day(20) + (2 * k + 1) * 3600 * S,
        }
        for k in range(3)
    ]
    lines = invoice_lines(price(rows, day(20), day(21))).to_pylist()
    mem = next(r for r in lines if r["meter"] == "mem_gib_hours")
    assert mem["amount_exact"] == Decimal("0.015")
    assert mem["amount"] == Decimal("0.02")
    assert invoice_totals(invoice_lines(price(rows, day(20), day(21)))) == {"USD": Decimal("0.02")}
    rows = rows[:1]
    assert invoice_totals(invoice_lines(price(rows, day(20), day(21)))) == {"USD": Decimal("0.00")}


# --- inputs and errors ----------------------------------------------------------------------------------


def test_intervals_relation_in_the_connection_is_used_by_default() -> None:
    """With intervals=None the stage reads the relation named `intervals`; a relation works too."""
    rows = [{"id": "a", "cpu": 2, "start": day(20), "end": day(20) + 3600 * S}]
    con = duckdb.connect()
    con.register("intervals", intervals(rows))
    by_name = price_slices(con, GOLDEN_BOOK, period_start_ns=day(20), period_end_ns=day(21)).to_arrow_table()
    assert by_name.column("slice_start").type == pa.timestamp("ns", tz="UTC")
    other = duckdb.connect()
    relation = other.from_arrow(intervals(rows))
    from_relation = price_slices(
        other, GOLDEN_BOOK, period_start_ns=day(20), period_end_ns=day(21), intervals=relation
    ).to_arrow_table()
    assert by_name.equals(from_relation)
    assert by_name.num_rows == 2


def test_bad_period_and_cut_off_are_usage_errors() -> None:
    """A period that ends before it starts, or a cut-off outside (start, end], is refused."""
    con = duckdb.connect()
    con.register("intervals", intervals([]))
    with pytest.raises(UsageError, match="not before its end"):
        price_slices(con, GOLDEN_BOOK, period_start_ns=day(21), period_end_ns=day(20))
    with pytest.raises(UsageError, match="cut-off"):
        price_slices(con, GOLDEN_BOOK, period_start_ns=day(20), period_end_ns=day(21), cut_off_ns=day(22))
    with pytest.raises(UsageError, match="cut-off"):
        price_slices(con, GOLDEN_BOOK, period_start_ns=day(20), period_end_ns=day(21), cut_off_ns=day(20))


def test_a_period_the_book_does_not_cover_is_refused() -> None:
    """Pricing a period before the book's first effective date fails naming the gap."""
    con = duckdb.connect()
    con.register("intervals", intervals([]))
    with pytest.raises(PriceBookError, match=r"vm\.compute vcpu_hours has no default price from 2025-12-31"):
        price_slices(con, GOLDEN_BOOK, period_start_ns=day(1) - 60 * DAY, period_end_ns=day(1) - 59 * DAY)


def test_empty_input_gives_an_empty_typed_table() -> None:
    """No intervals: no slices, with the same columns and types."""
    table = price([], day(20), day(21))
    assert table.num_rows == 0
    assert pa.types.is_decimal(table.schema.field("amount").type)
    lines = invoice_lines(table)
    assert lines.num_rows == 0
    assert lines.schema.field("amount").type == pa.decimal128(38, 2)
    assert invoice_totals(lines) == {}


def test_dropped_and_out_of_period_intervals_have_no_slices() -> None:
    """Dropped intervals, intervals ended before the period and ones starting after it are not billed."""
    rows = [
        {"id": "d", "cpu": 1, "start": day(20), "end": day(20) + S, "status": "dropped"},
        {"id": "before", "cpu": 1, "start": day(18), "end": day(19)},
        {"id": "after", "cpu": 1, "start": day(21), "end": day(21) + S},
        {"id": "zero-at-end", "cpu": 1, "start": day(21), "end": day(21)},
    ]
    assert price(rows, day(20), day(21)).num_rows == 0


def test_nanosecond_slices_are_exact() -> None:
    """Seconds come from nanosecond differences, exact to the nanosecond."""
    rows = [
        {"id": "a", "cpu": 1, "start": day(20) + 1, "end": day(20) + 3 * S + 999_999_999, "status": "open"}
    ]
    table = price(rows, day(20), day(21), cut_off=day(20) + 2 * S + 1)
    assert {r["seconds"] for r in table.to_pylist()} == {Decimal("2")}


# --- tenants --------------------------------------------------------------------------------------------


def test_tenants_without_validity_attribute_for_all_time() -> None:
    """A tenants table with only resource_id and tenant_id attributes every slice of the resource."""
    tenants = normalize_tenants(pa.table({"resource_id": ["vm-1"], "tenant_id": ["acme"]}))
    rows = [
        {"id": "a", "cpu": 1, "start": day(19), "end": day(22)},
        {"id": "b", "resource_id": "vm-2", "cpu": 1, "start": day(20), "end": day(20) + S},
    ]
    table = price(rows, day(20), day(21), tenants=tenants)
    assert {(r["interval_id"], r["tenant_id"]) for r in table.to_pylist()} == {("a", "acme"), ("b", None)}


def test_tenants_overlap_and_bad_values_are_reported_each(tmp_path: Path) -> None:
    """Overlapping validity for one resource, empty ids and unparsable instants each get one message."""
    csv = tmp_path / "tenants.csv"
    csv.write_text(
        "resource_id,tenant_id,valid_from,valid_to\n"
        "vm-1,a,,2026-03-20T08:00:00Z\n"
        "vm-1,b,2026-03-20T07:00:00Z,\n"
        "vm-2,,2026-03-01,2026-04-01\n"
        "vm-3,c,yesterday,\n"
        "vm-4,d,2026-03-05,2026-03-01\n",
        encoding="utf-8",
    )
    with pytest.raises(TenantsError) as info:
        load_tenants(csv)
    message = str(info.value)
    assert f"{csv}: row 2: valid_from: resource 'vm-1' is already attributed at that time by row 1" in message
    assert f"{csv}: row 3: tenant_id: empty" in message
    assert f"{csv}: row 4: valid_from: 'yesterday' is not a date" in message
    assert f"{csv}: row 5: valid_to is not after valid_from" in message
    assert "(4 problems)" in message


def test_overlapping_tenants_in_the_stage_schema_are_refused() -> None:
    """A tenants table already in the stage's schema is still checked: overlaps would double-bill."""
    tenants = pa.table(
        [
            ["vm-1", "vm-1"],
            ["a", "b"],
            pa.array([None, day(20)], pa.int64()),
            pa.array([day(21), None], pa.int64()),
        ],
        schema=TENANT_SCHEMA,
    )
    rows = [{"id": "a", "cpu": 1, "start": day(20), "end": day(20) + S}]
    with pytest.raises(
        TenantsError, match=r"1 rows overlap an earlier row of their resource, e\.g\. resource 'vm-1'"
    ):
        price(rows, day(20), day(21), tenants=tenants)
    adjacent = tenants.set_column(3, "valid_to_ns", pa.array([day(20), None], pa.int64()))
    assert {r["tenant_id"] for r in price(rows, day(20), day(21), tenants=adjacent).to_pylist()} == {"b"}


def test_load_tenants_csv_and_parquet_agree(tmp_path: Path) -> None:
    """A CSV with dates and RFC 3339 offsets and a Parquet with timestamps load to the same table."""
    csv = tmp_path / "t.csv"
    csv.write_text(
        "resource_id,tenant_id,valid_from,valid_to\nvm-1,a,,2026-03-20T09:00:00+01:00\nvm-1,b,2026-03-20T08:00:00Z,\n",
        encoding="utf-8",
    )
    parquet = tmp_path / "t.parquet"
    pq.write_table(
        pa.table(
            {
                "resource_id": ["vm-1", "vm-1"],
                "tenant_id": ["a", "b"],
                "valid_from": pa.array([None, day(20) + 8 * 3600 * S], pa.timestamp("ns")),
                "valid_to": pa.array([day(20) + 8 * 3600 * S, None], pa.timestamp("ns")),
            }
        ),
        parquet,
    )
    from_csv, from_parquet = load_tenants(csv), load_tenants(parquet)
    assert from_csv.schema.equals(TENANT_SCHEMA)
    assert from_csv.equals(from_parquet)
    assert from_csv.column("valid_to_ns").to_pylist() == [day(20) + 8 * 3600 * S, None]
    with pytest.raises(TenantsError, match="missing column 'tenant_id'"):
        normalize_tenants(pa.table({"resource_id": ["x"]}))


# --- a month as one run and as its days' runs ------------------------------------------------------------


def as_of(truth: list[dict[str, Any]], cut_off: int) -> list[dict[str, Any]]:
    """The intervals pairing reports at ``cut_off``: later starts unseen, later ends not yet known (open)."""
    seen = []
    for row in truth:
        if row["start"] >= cut_off:
            continue
        if row["status"] == "open" or row["end"] >= cut_off:
            seen.append({**row, "end": None, "status": "open"})
        else:
            seen.append(row)
    return seen


def split_runs(
    truth: list[dict[str, Any]], start: int, days: int, tenants: pa.Table | None
) -> tuple[pa.Table, pa.Table]:
    """The slices of ``[start, start + days)`` priced as one run and as ``days`` day runs."""
    whole = price(as_of(truth, start + days * DAY), start, start + days * DAY, tenants=tenants)
    parts = [
        price(as_of(truth, start + (k + 1) * DAY), start + k * DAY, start + (k + 1) * DAY, tenants=tenants)
        for k in range(days)
    ]
    return whole, pa.concat_tables(parts)


def assert_same_billing(whole: pa.Table, parts: pa.Table) -> None:
    """Same slices with the same quantities and amounts, and the same invoice lines to the cent."""
    keys = [
        "interval_id",
        "meter",
        "slice_start_ns",
        "slice_end_ns",
        "tenant_id",
        "quantity",
        "billed_quantity",
        "unit_price",
        "amount",
    ]

    def rows(t: pa.Table) -> list[tuple[Any, ...]]:
        return sorted(tuple(r[k] for k in keys) for r in t.select(keys).to_pylist())  # type: ignore[misc]

    assert rows(whole) == rows(parts)
    assert (
        invoice_lines(whole)
        .drop_columns(["slice_rows"])
        .equals(invoice_lines(parts).drop_columns(["slice_rows"]))
    )
    assert invoice_totals(invoice_lines(whole)) == invoice_totals(invoice_lines(parts))


# instants from the day before 2026-03-08 to the day after 2026-03-12: UTC midnights (where the
# increments' placement matters), quarter hours, and odd offsets from them down to the nanosecond
midnights = st.integers(min_value=0, max_value=6).map(lambda n: day(7) + n * DAY)
instants = midnights | st.integers(min_value=0, max_value=6 * 4 * 24).flatmap(
    lambda quarter_hours: st.sampled_from([0, 1, 500_000_000, 59 * S, 15 * 60 * S - 1]).map(
        lambda extra: day(7) + quarter_hours * 15 * 60 * S + extra
    )
)
interval_rows = st.lists(
    st.tuples(
        st.sampled_from(["vm.compute", "vm.storage", "snap.storage"]),
        st.sampled_from([None, "firecracker"]),
        instants,
        # the end: another instant (no earlier than the start), or a short length after the start
        instants | st.sampled_from([0, 1, 30 * S, 61 * S]).map(lambda length: -length - 1),
        st.sampled_from(["closed", "inferred", "open"]),
        st.integers(min_value=0, max_value=64),
        st.integers(min_value=0, max_value=2**40),
    ),
    max_size=6,
)


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=interval_rows, change=instants)
def test_days_runs_bill_like_one_run(rows: list[tuple[Any, ...]], change: int) -> None:
    """Five days priced as one run and as five day runs give the same slices and invoice lines."""
    truth = []
    for i, (family, hypervisor, start, end_or_length, status, cpu, size) in enumerate(rows):
        end = start - end_or_length - 1 if end_or_length < 0 else max(start, end_or_length)
        truth.append(
            {
                "id": f"i{i}",
                "family": family,
                "resource_id": f"r{i % 3}",
                "hypervisor": hypervisor,
                "cpu": cpu,
                "mem_bytes": size,
                "storage_bytes": size,
                "start": start,
                "end": end,
                "status": status,
            }
        )
    tenants = normalize_tenants(
        pa.table(
            {
                "resource_id": ["r0", "r0", "r1"],
                "tenant_id": ["t-a", "t-b", "t-c"],
                "valid_from": pa.array([None, change, change], pa.timestamp("ns")),
                "valid_to": pa.array([change, None, None], pa.timestamp("ns")),
            }
        )
    )
    # 2026-03-08 .. 2026-03-12: spans the vCPU price change of 2026-03-10 12:00
    whole, parts = split_runs(truth, day(8), 5, tenants)
    assert_same_billing(whole, parts)


def _march() -> tuple[list[dict[str, Any]], pa.Table]:
    """60 random intervals over March 2026 (some on or across midnights) and tenants changing in it."""
    rng = random.Random(20260301)
    truth = []
    for i in range(60):
        start = day(1) - DAY + rng.randrange(0, 32 * DAY // S) * S + rng.choice([0, 0, 1, 123_456_789])
        length = rng.choice([0, 1, 30 * S, 59 * S + 1, 3600 * S, DAY, rng.randrange(0, 9 * DAY)])
        if rng.random() < 0.1:
            start = start - start % DAY  # on a midnight
        if rng.random() < 0.1:
            length = (start // DAY + 1) * DAY - start  # ends on a midnight
        truth.append(
            {
                "id": f"i{i}",
                "family": rng.choice(["vm.compute", "vm.storage", "snap.storage"]),
                "resource_id": f"r{i % 7}",
                "hypervisor": rng.choice([None, "firecracker", "cloud-hypervisor"]),
                "cpu": rng.randrange(1, 17),
                "mem_bytes": rng.randrange(0, 2**36),
                "storage_bytes": rng.randrange(0, 2**41),
                "start": start,
                "end": start + length,
                "status": rng.choice(["closed", "closed", "inferred", "open"]),
            }
        )
    tenants = normalize_tenants(
        pa.table(
            {
                "resource_id": ["r0", "r0", "r1", "r2"],
                "tenant_id": ["t-a", "t-b", "t-c", "t-d"],
                "valid_from": pa.array([None, day(12) + 7 * S, None, day(3)], pa.timestamp("ns")),
                "valid_to": pa.array([day(12) + 7 * S, None, None, day(20)], pa.timestamp("ns")),
            }
        )
    )
    return truth, tenants


def test_a_month_as_one_run_and_as_its_days() -> None:
    """March 2026 priced as one run and as its 31 day runs: same slices, same invoice lines to the cent."""
    truth, tenants = _march()
    whole, parts = split_runs(truth, day(1), 31, tenants)
    assert whole.num_rows > 300
    assert_same_billing(whole, parts)


def test_periods_priced_together_equal_each_priced_alone() -> None:
    """Pricer.add, price_added and slices_of: March's 31 days priced together, each as of its own
    cut-off (mid-day for some), give each day exactly the slices it gets priced alone."""
    truth, tenants = _march()
    con = duckdb.connect()
    pricer = Pricer(con, GOLDEN_BOOK, tenants)
    added = {}
    for k in range(31):
        start = day(1) + k * DAY
        cut = start + DAY if k % 3 else start + DAY // 2
        rows = as_of(truth, cut)
        con.register("intervals", intervals(rows))
        pricer.add(f"d{k}", PeriodBounds(start, start + DAY, cut))
        added[f"d{k}"] = (start, cut, rows)
    assert pricer.price_added() == list(added)
    total = 0
    for name, (start, cut, rows) in added.items():
        together = pricer.slices_of(name).to_arrow_table().drop_columns(["slice_start", "slice_end"])
        alone = price(rows, start, start + DAY, cut_off=cut, tenants=tenants)
        assert together.schema == alone.schema
        key = ("interval_id", "meter", "slice_start_ns", "slice_end_ns")
        assert sorted(together.to_pylist(), key=lambda r: tuple(r[k] for k in key)) == sorted(
            alone.to_pylist(), key=lambda r: tuple(r[k] for k in key)
        )
        total += alone.num_rows
    assert total > 300
    with pytest.raises(UsageError, match="was not priced"):
        pricer.slices_of("d99")


def test_a_month_priced_a_day_at_a_time_equals_it_priced_whole() -> None:
    """Pricer.day_units and price_units: March priced as 31 one-day units (as a session prices a
    month, a chunk at a time), with a mid-month cut-off, gives exactly the slices of March priced
    as one period; each day's rows carry its unit's key and date; the estimates count the
    intervals overlapping each day."""
    truth, tenants = _march()
    cut = day(20) + DAY // 3
    rows = as_of(truth, cut)
    whole = price(rows, day(1), day(1) + 31 * DAY, cut_off=cut, tenants=tenants)
    con = duckdb.connect()
    pricer = Pricer(con, GOLDEN_BOOK, tenants)
    con.register("intervals", intervals(rows))
    pricer.add("2026-03", PeriodBounds(day(1), day(1) + 31 * DAY, cut))
    units = pricer.day_units()
    assert [u.key for u, _ in units][:2] == ["2026-03/2026-03-01", "2026-03/2026-03-02"]
    assert len(units) == 31
    parts = []
    for k, (unit, estimate) in enumerate(units):
        pricer.price_units([unit], "day_slices")
        part = con.table("day_slices").to_arrow_table()
        starts = {r["slice_start_ns"] // DAY for r in part.to_pylist()}
        assert starts <= {(day(1) + k * DAY) // DAY}, unit.key
        overlapping = sum(
            1
            for r in rows
            if r["start"] < unit.end_ns and (r.get("status") == "open" or r["end"] >= unit.start_ns)
        )
        assert estimate == overlapping, unit.key
        parts.append(part.drop_columns(["price_period", "slice_start", "slice_end"]))
    days = pa.concat_tables(parts)
    key = ("interval_id", "meter", "slice_start_ns", "slice_end_ns")
    expected = whole  # (price() drops the TIMESTAMPTZ columns: compared as nanoseconds)
    assert days.schema == expected.schema
    assert sorted(days.to_pylist(), key=lambda r: tuple(r[k] for k in key)) == sorted(
        expected.to_pylist(), key=lambda r: tuple(r[k] for k in key)
    )
    assert days.num_rows > 150


def test_price_book_used_by_the_stage_can_be_parsed_from_bytes() -> None:
    """parse_price_book gives the same book (and version) as load_price_book for the same bytes."""
    path = DATA / "prices" / "golden.toml"
    assert parse_price_book(path.read_bytes(), str(path)) == GOLDEN_BOOK


def test_extra_of_an_interval_ending_on_midnight_goes_to_its_last_tenant_and_price() -> None:
    """The minimum of an interval ending exactly on a midnight (a zero-length slice in the next day) is
    attributed and priced as its last instant: the tenant and firecracker price that held it, not the
    ones starting at that midnight (whichever way the tenant ranges are joined)."""
    tenants = normalize_tenants(
        pa.table(
            {
                "resource_id": ["vm-1", "vm-1"],
                "tenant_id": ["t-old", "t-new"],
                "valid_from": [None, "2026-03-25"],
                "valid_to": ["2026-03-25", None],
            }
        )
    )
    # 30 s on firecracker (0.03 until 2026-03-25, then the default 0.05) ending at 2026-03-25T00:00:00Z
    row = {"id": "a", "cpu": 1, "hypervisor": "firecracker", "start": day(25) - 30 * S, "end": day(25)}
    day_25 = price([row], day(25), day(26), tenants=tenants).to_pylist()
    month = price([row], day(1), day(32), tenants=tenants).to_pylist()
    with mock.patch("reconcile._price._pricer.FEW_RANGES", 1):  # (the tenants found by the ASOF join)
        day_25_asof = price([row], day(25), day(26), tenants=tenants).to_pylist()
    for table in (day_25, month, day_25_asof):
        extra = [r for r in table if r["meter"] == "vcpu_hours" and r["seconds"] == 0]
        assert len(extra) == 1
        assert extra[0]["tenant_id"] == "t-old"
        assert extra[0]["unit_price"] == Decimal("0.03")
        assert extra[0]["billed_seconds"] == Decimal(30)
        # 30 s of 1 vCPU at 0.03: 0.008333333333 h x 0.03 = 0.00025
        assert extra[0]["amount"] == Decimal("0.00025")
    assert {r["tenant_id"] for r in month} == {"t-old"}


def test_invoice_lines_of_a_relation_from_any_connection() -> None:
    """invoice_lines takes a slices relation of a connection that has no `currencies` relation too."""
    rows = [{"id": "a", "cpu": 2, "mem_bytes": GIB, "start": day(20), "end": day(20) + 5400 * S}]
    table = price(rows, day(20), day(21))
    con = duckdb.connect()
    con.register("priced", table)
    relation = con.sql("SELECT * FROM priced")
    assert invoice_lines(relation).equals(invoice_lines(table))


def test_tenant_instants_with_an_impossible_offset_are_refused() -> None:
    """A tenant validity instant with an offset beyond +-23:59 is an error, not a 99-hour shift."""
    table = pa.table(
        {"resource_id": ["vm-1"], "tenant_id": ["a"], "valid_from": ["2026-03-20T08:00:00+99:00"]}
    )
    with pytest.raises(TenantsError, match=r"row 1: valid_from: '2026-03-20T08:00:00\+99:00'"):
        normalize_tenants(table)


def test_tenant_validity_far_in_the_future_or_past_means_unbounded(tmp_path: Path) -> None:
    """valid_to 9999-12-31 (the usual "forever") and valid_from 0001-01-01, as text, dates or
    timestamps, attribute like an open bound instead of overflowing nanoseconds."""
    csv = tmp_path / "forever.csv"
    csv.write_text(
        "resource_id,tenant_id,valid_from,valid_to\nvm-1,acme,0001-01-01,9999-12-31\n", encoding="utf-8"
    )
    parquet = tmp_path / "forever.parquet"
    pq.write_table(
        pa.table(
            {
                "resource_id": ["vm-1", "vm-2"],
                "tenant_id": ["acme", "beta"],
                "valid_from": pa.array([None, dt.datetime(1, 1, 1)], pa.timestamp("us")),
                "valid_to": pa.array([dt.date(9999, 12, 31), None], pa.date32()),
            }
        ),
        parquet,
    )
    rows = [
        {"id": "a", "cpu": 1, "start": day(20), "end": day(21)},
        {"id": "b", "resource_id": "vm-2", "cpu": 1, "start": day(20), "end": day(21)},
    ]
    for path, want in ((csv, {("a", "acme"), ("b", None)}), (parquet, {("a", "acme"), ("b", "beta")})):
        table = price(rows, day(20), day(21), tenants=load_tenants(path))
        assert {(r["interval_id"], r["tenant_id"]) for r in table.to_pylist()} == want


def test_tenants_csv_with_a_byte_order_mark_keeps_ids_as_text(tmp_path: Path) -> None:
    """A CSV saved with a UTF-8 BOM (as spreadsheets do) still reads every id as text: 0042 stays 0042."""
    csv = tmp_path / "bom.csv"
    csv.write_bytes(b"\xef\xbb\xbfresource_id,tenant_id\n0042,007\n")
    assert load_tenants(csv).select(["resource_id", "tenant_id"]).to_pylist() == [
        {"resource_id": "0042", "tenant_id": "007"}
    ]


@pytest.mark.parametrize("factor", [10**6, 2**40, 2**63 - 1])
def test_amounts_of_huge_shapes_are_exact(factor: int) -> None:
    """Shapes up to int64 max price without overflow: each amount is its billed quantity times its
    price (over hours_per_month), rounded half-even once, as Python's Decimal computes it."""
    start = day(3) + 7 * S  # 7 s past midnight: quantities with long fractions
    rows = [
        {"id": "c", "cpu": factor, "mem_bytes": factor, "start": start, "end": start + 37 * 3600 * S + 13},
        {"id": "s", "family": "vm.storage", "storage_bytes": factor, "start": start, "end": day(4) + 11},
    ]
    got = price(rows, day(3), day(5)).to_pylist()
    assert {(r["interval_id"], r["meter"]) for r in got} >= {
        ("c", "vcpu_hours"),
        ("c", "mem_gib_hours"),
        ("s", "storage_gib_hours"),
    }
    assert_amounts_exact(got)
    for r in got:  # the quantity itself: factor * seconds / 3600 (/ 2^30 for GiB meters), half-even
        unit = 1 if r["meter"] == "vcpu_hours" else GIB
        hours = EXACT.divide(EXACT.multiply(Decimal(factor), r["seconds"]), Decimal(3600 * unit))
        assert r["quantity"] == EXACT.quantize(hours, Decimal("1e-12")), r


EXACT = Context(prec=100, rounding=ROUND_HALF_EVEN)


def assert_amounts_exact(slices: list[dict[str, Any]]) -> None:
    """Each slice's amount is its billed quantity times its unit price (over hours_per_month),
    rounded half-even once to 12 digits, as Python's Decimal computes it."""
    for r in slices:
        value = EXACT.multiply(r["billed_quantity"], r["unit_price"])
        if r["hours_per_month"] is not None:
            value = EXACT.divide(value, Decimal(r["hours_per_month"]))
        assert r["amount"] == EXACT.quantize(value, Decimal("1e-12")), r


ODD_BOOK = parse_price_book(
    b"""
currency = "USD"
[[price]]
family = "vm.compute"
meter = "vcpu_hours"
unit = "vCPU-hour"
price = "0.040000000001"
effective_from = 2026-01-01
[[price]]
family = "vm.compute"
meter = "mem_gib_hours"
unit = "GiB-hour"
price = "99999999999999"
effective_from = 2026-01-01
[[price]]
family = "vm.storage"
meter = "storage_gib_hours"
unit = "GiB-month"
price = "0.100000000001"
effective_from = 2026-01-01
[[price]]
family = "snap.storage"
meter = "storage_gib_hours"
unit = "GiB-month"
price = "0.073"
effective_from = 2026-01-01
""",
    "odd.toml",
)


@pytest.mark.parametrize("factor", [2, 18_446_747, 2**62 + 1])
def test_amounts_with_odd_and_huge_prices_are_exact(factor: int) -> None:
    """Prices with an odd last digit (where a tie rounds by the parity of the whole amount) and prices
    near the book's 10^14 limit give each amount exactly, as Python's Decimal rounds it."""
    start = day(3)
    rows = [
        {"id": "c", "cpu": factor, "mem_bytes": 4 * GIB, "start": start, "end": start + 1800 * S},
        {
            "id": "s",
            "family": "vm.storage",
            "storage_bytes": factor,
            "start": start,
            "end": start + 7 * 3600 * S,
        },
    ]
    con = duckdb.connect()
    got = (
        price_slices(con, ODD_BOOK, period_start_ns=day(3), period_end_ns=day(4), intervals=intervals(rows))
        .to_arrow_table()
        .to_pylist()
    )
    assert len(got) == 3
    assert_amounts_exact(got)


def test_tenants_with_a_repeated_column_or_spaced_ids_are_refused(tmp_path: Path) -> None:
    """A header naming a column twice, and ids with spaces around them, are errors naming the row."""
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("resource_id,tenant_id,tenant_id\nvm-1,a,b\n", encoding="utf-8")
    with pytest.raises(TenantsError, match="header names column 'tenant_id' more than once"):
        load_tenants(repeated)
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("resource_id,tenant_id\nvm-1, acme\n vm-2,beta\n", encoding="utf-8")
    with pytest.raises(TenantsError) as info:
        load_tenants(spaced)
    assert "row 1: tenant_id: ' acme' has spaces around it" in str(info.value)
    assert "row 2: resource_id: ' vm-2' has spaces around it" in str(info.value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=DAY - 1), min_size=1, max_size=40, unique=True),
    gaps=st.lists(st.booleans(), min_size=41, max_size=41),
    open_ends=st.booleans(),
)
def test_each_slice_takes_the_tenant_valid_at_its_start(
    cuts: list[int], gaps: list[bool], open_ends: bool
) -> None:
    """With many validity ranges of one resource in a day (some with gaps between them, the first and
    last maybe unbounded), the slices start where a range starts or ends and each takes the tenant
    whose range holds its start, or none in a gap: what a Python reference says, whichever way the
    ranges are joined (one by one for a few, an ASOF join for many)."""
    bounds = sorted(cuts)
    edges = [
        None if open_ends else day(20) - DAY,
        *(day(20) + c for c in bounds),
        None if open_ends else day(22),
    ]
    ranges = [
        (f"t{i}", lo, hi)
        for i, (lo, hi) in enumerate(itertools.pairwise(edges))
        if not gaps[i]  # a gap: no tenant in that range
    ]
    tenants = normalize_tenants(
        pa.table(
            {
                "resource_id": ["vm-1"] * len(ranges),
                "tenant_id": [t for t, _, _ in ranges],
                "valid_from": pa.array([lo for _, lo, _ in ranges], pa.timestamp("ns", "UTC")),
                "valid_to": pa.array([hi for _, _, hi in ranges], pa.timestamp("ns", "UTC")),
            }
        )
    )

    def holder(at: int) -> str | None:
        return next((t for t, lo, hi in ranges if (lo is None or lo <= at) and (hi is None or at < hi)), None)

    inside = {b for _, lo, hi in ranges for b in (lo, hi) if b is not None and day(20) < b < day(21)}
    starts = sorted({day(20)} | inside)
    interval = [{"id": "a", "cpu": 1, "start": day(20), "end": day(21)}]
    for few in (64, 2):  # ranges joined one by one, and (more than `few`) by the ASOF join
        with mock.patch("reconcile._price._pricer.FEW_RANGES", few):
            table = price(interval, day(20), day(21), tenants=tenants).to_pylist()
        got = sorted({(r["slice_start_ns"], r["tenant_id"]) for r in table if r["slice_start_ns"] < day(21)})
        assert got == [(s, holder(s)) for s in starts], few
