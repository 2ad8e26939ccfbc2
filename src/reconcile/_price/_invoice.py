"""Invoice lines: a tenant's month per family and meter, rounded once to the currency's minor unit.

The one definition of an invoice line and its rounding is the analysts' ``sql/views/usage_lines.sql``;
these functions run it over any slices (a run's staged files, an analyst's table) and read it back
under the engine's column names. Not a stage: pricing makes slices, the figures of a run and the
analysts read invoice lines from them.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from reconcile._core._currency import currency_table
from reconcile._core._duckdb import plain_connect
from reconcile._core._sql import load_sql

# the slices columns sql/views/usage_lines.sql reads
_INVOICE_INPUT = (
    "tenant_id",
    "usage_date",
    "currency",
    "family",
    "meter",
    "quantity",
    "billed_quantity",
    "amount",
)


def invoice_lines(
    slices: pa.Table | duckdb.DuckDBPyRelation, *, con: duckdb.DuckDBPyConnection | None = None
) -> pa.Table:
    """Invoice lines: per ``tenant_id`` (NULL = unattributed), ``month`` (``YYYY-MM`` of the usage
    date), ``family``, ``meter`` and ``currency``, the sums of ``quantity``, ``billed_quantity`` and
    ``amount`` (``amount_exact``, DECIMAL(38,12)), ``amount`` rounded once, half-even, to the currency's
    minor unit (DECIMAL(38, the largest minor unit present)) and the number of ``slice_rows``.

    These are the analysts' ``invoice_lines`` (``sql/views/usage_lines.sql``, the one definition of
    an invoice line and its rounding), under this function's column names. ``slices`` is a table or
    relation with the columns of :func:`price_slices` (or the Parquet output). ``con``: the
    connection a relation ``slices`` belongs to, where it is summed (a month of a fleet stays in
    DuckDB; the ``currencies`` relation is registered there); without it, the relation's columns are
    read out and summed apart.
    """
    sql = load_sql("views/usage_lines")
    if isinstance(slices, duckdb.DuckDBPyRelation) and con is not None:
        con.register("currencies", currency_table())
        result = slices.query("slices", sql)
        assert result is not None
        lines = result.to_arrow_table()
    else:
        if isinstance(slices, duckdb.DuckDBPyRelation):
            slices = slices.select(*_INVOICE_INPUT).to_arrow_table()
        with plain_connect() as own:
            own.register("slices", slices)
            own.register("currencies", currency_table())
            lines = own.sql(sql).to_arrow_table()
    scale = max(lines.column("minor_unit").to_pylist(), default=2)
    months = pc.strftime(lines.column("invoice_month"), format="%Y-%m")
    return pa.table(
        {
            "tenant_id": lines.column("tenant_id"),
            "month": months,
            "family": lines.column("family"),
            "meter": lines.column("meter"),
            "currency": lines.column("currency"),
            "quantity": lines.column("quantity"),
            "billed_quantity": lines.column("billed_quantity"),
            "amount_exact": lines.column("amount_exact"),
            "slice_rows": lines.column("slices"),
            # exact: the rounded amounts are whole multiples of the minor unit (a lossy cast raises)
            "amount": lines.column("amount").cast(pa.decimal128(38, scale)),
        }
    )


def invoice_totals(lines: pa.Table) -> dict[str, Decimal]:
    """Currency -> sum of the rounded invoice ``amount`` of :func:`invoice_lines` (the manifest totals)."""
    totals: dict[str, Decimal] = {}
    for code, amount in zip(
        lines.column("currency").to_pylist(), lines.column("amount").to_pylist(), strict=True
    ):
        totals[code] = totals.get(code, Decimal(0)) + amount
    return dict(sorted(totals.items()))
