"""Pricing stage: intervals + price book + tenants + period -> priced slices (SPEC sections 4 and 5).

Slices. An interval is billed in the period ``[period_start, period_end)`` over its part inside it; an
``open`` interval up to the cut-off; ``dropped`` intervals are not billed. That part is cut at the
period's edges, at UTC midnights, where a price of its family (default, or its hypervisor's override)
starts or ends, and where a tenant attribution of its resource starts or ends. Each slice is priced
by the price in force at its start (constant over the slice, since slices are cut at changes) and
attributed to the tenant holding the resource then.

Meters per slice of ``s`` consumed seconds (exact, from nanosecond differences): ``vcpu_hours = cpu *
s / 3600``, ``mem_gib_hours = mem_bytes / 2^30 * s / 3600``, ``storage_gib_hours = storage_bytes /
2^30 * s / 3600``.

Increments and minimums (``[billing."<family>"]``) apply to ``closed`` and ``inferred`` intervals
only: the whole interval's consumed time is rounded up to the increment and raised to the minimum; the
extra time is billed once, on the slice that holds the interval's end. An instant belongs to the UTC
day (and period) ``[midnight, next midnight)`` that contains it, so the end is held by the slice of
that day ending at it; when the end falls exactly on a midnight (or the period's start) no such
slice exists, and the extra is billed on a zero-length slice ``[end, end)`` in the end's day, the
same slice a zero-length interval gets. That slice of an interval that lasted takes the tenant and
the price of the interval's last instant (``end - 1 ns``), not those starting at that midnight: the
extra is billed for the interval. So the extra lands in exactly one day, and a month priced as
one run or as its days' runs (each day seeing the intervals as of its own cut-off) gives the same
slices, quantities and amounts. ``open`` intervals get no increment or minimum yet.

Money. ``quantity`` (consumed) and ``billed_quantity`` (in the meter's hours) are rounded half-even
once per slice to 12 fraction digits from the exact value; ``amount = billed_quantity * unit_price``
(``/ hours_per_month`` for a GiB-month price), rounded half-even once to 12 fraction digits. All are
DECIMAL(38,12), computed as exact integers in DuckDB (see ``sql/engine/slices.sql``). Invoice lines
(:func:`invoice_lines`, the analysts' ``sql/views/usage_lines.sql``) sum a tenant's month per family
and meter and round once, half-even, to the currency's minor unit.
"""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile._currency import currency_table
from reconcile._engine import plain_connect, utc
from reconcile._period import NS_PER_DAY, NS_PER_SECOND, date_to_ns, parse_date, parse_instant
from reconcile._pricebook import PriceBook
from reconcile._progress import Progress
from reconcile._sql import load_sql
from reconcile.exceptions import PriceBookError, TenantsError, UsageError

#: Columns of the ``tenants`` relation the stage joins.
TENANT_SCHEMA = pa.schema(
    [
        ("resource_id", pa.string()),
        ("tenant_id", pa.string()),
        ("valid_from_ns", pa.int64()),  # NULL: since always
        ("valid_to_ns", pa.int64()),  # exclusive; NULL: until further notice
    ]
)

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_LISTED = 20  # problems listed in one TenantsError
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


def price_slices(
    con: duckdb.DuckDBPyConnection,
    price_book: PriceBook,
    *,
    period_start_ns: int,
    period_end_ns: int,
    cut_off_ns: int | None = None,
    intervals: pa.Table | duckdb.DuckDBPyRelation | None = None,
    tenants: pa.Table | None = None,
    progress: Progress | None = None,
) -> duckdb.DuckDBPyRelation:
    """Price the intervals of one period; returns the temp table ``slices`` created in ``con``.

    ``intervals``: the ``intervals`` table of docs/ARCHITECTURE.md (as an Arrow table or relation);
    ``None`` uses the relation named ``intervals`` already in ``con``. ``period_start_ns``,
    ``period_end_ns``, ``cut_off_ns``: Unix nanoseconds (UTC); the cut-off defaults to the period's end
    and must lie in ``(period_start, period_end]``. ``tenants``: ``None``, or a table with
    ``resource_id, tenant_id[, valid_from, valid_to]`` (see :func:`normalize_tenants`; a table already
    in :data:`TENANT_SCHEMA`, as :func:`load_tenants` returns, is only checked for overlaps).

    The result has one row per slice and meter, with the SPEC section 5 columns except ``run_id``
    (``interval_id, family, resource_id, tenant_id, usage_date, slice_start, slice_end, seconds, meter,
    quantity, billed_quantity, unit_price, price_unit, hours_per_month, amount, currency,
    price_version, status``) and ``hypervisor, slice_start_ns, slice_end_ns, billed_seconds`` (consumed
    plus the increment/minimum extra on the slice holding the end) and ``price_entry`` (the 1-based
    ``[[price]]`` applied). Money and quantity columns are DECIMAL(38,12); ``seconds`` and
    ``billed_seconds`` DECIMAL(18,9); ``usage_date`` the UTC date of ``slice_start``. A zero-length
    slice (``slice_start = slice_end``) carries the minimum of a zero-length interval, or the extra of an
    interval ending exactly on a UTC midnight (see the module docstring). Rows are in no set order.

    The stage also leaves in ``con``: views ``prices``, ``billing_rules``, ``tenants``, ``currencies``
    (for :func:`invoice_lines`), the macro
    ``div_half_even`` and the variables ``period_start_ns``, ``period_end_ns``, ``cut_off_ns``,
    ``currency``, ``price_version``. Raises :class:`PriceBookError` when the book's default prices do
    not cover the period, :class:`UsageError` for a bad period or cut-off, :class:`TenantsError` for a
    bad tenants table.
    """
    cut_off = period_end_ns if cut_off_ns is None else cut_off_ns
    if period_start_ns >= period_end_ns:
        raise UsageError(f"period start {period_start_ns} ns is not before its end {period_end_ns} ns")
    if not period_start_ns < cut_off <= period_end_ns:
        raise UsageError(
            f"cut-off {cut_off} ns is not inside the period ({period_start_ns}, {period_end_ns}] ns"
        )
    price_book.check_coverage(period_start_ns, period_end_ns)
    utc(con)  # slice instants are TIMESTAMPTZ_NS: derived in UTC whatever connection was given
    tenant_table = _empty_tenants() if tenants is None else _as_tenant_table(tenants)
    progress = progress if progress is not None else Progress(quiet=True)
    progress.note("price: slicing intervals")

    if isinstance(intervals, pa.Table):
        con.register("intervals", intervals)
    elif isinstance(intervals, duckdb.DuckDBPyRelation):
        intervals.create_view("intervals", replace=True)
    con.register("prices", price_book.price_table())
    con.register("billing_rules", price_book.billing_table())
    con.register("tenants", tenant_table)
    con.register("currencies", currency_table())
    for name, value, sql_type in (
        ("period_start_ns", period_start_ns, "BIGINT"),
        ("period_end_ns", period_end_ns, "BIGINT"),
        ("cut_off_ns", cut_off, "BIGINT"),
        ("ns_per_day", NS_PER_DAY, "BIGINT"),
        ("currency", price_book.currency, "VARCHAR"),
        ("price_version", price_book.price_version, "VARCHAR"),
    ):
        con.execute(f"SET VARIABLE {name} = CAST(? AS {sql_type})", [value])
    con.execute(load_sql("engine/div_half_even"))
    overlaps = con.execute(load_sql("engine/tenant_overlaps")).fetchall()
    if overlaps:
        resource_id, tenant_id, _, _ = overlaps[0]
        raise TenantsError(
            f"tenants: {len(overlaps)} rows overlap an earlier row of their resource, e.g. resource"
            f" {resource_id!r} tenant {tenant_id!r} (normalize_tenants names the rows)"
        )

    con.execute("CREATE OR REPLACE TEMP TABLE period_intervals AS " + load_sql("engine/period_intervals"))
    con.execute("CREATE OR REPLACE TEMP VIEW slice_cuts AS " + load_sql("engine/slice_cuts"))
    con.execute("CREATE OR REPLACE TEMP TABLE slice_spans AS " + load_sql("engine/slice_spans"))
    progress.note("price: pricing slices")
    con.execute("CREATE OR REPLACE TEMP TABLE slices AS " + load_sql("engine/slices"))
    con.execute("DROP VIEW slice_cuts")
    con.execute("DROP TABLE slice_spans")
    con.execute("DROP TABLE period_intervals")

    row = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE price_entry IS NULL),"
        " min(family || ' ' || meter) FILTER (WHERE price_entry IS NULL) FROM slices"
    ).fetchall()[0]
    if row[1]:
        raise PriceBookError(f"{price_book.source}: {row[1]} slices have no price (e.g. {row[2]})")
    progress.note(f"price: {row[0]} slice rows")
    return con.table("slices")


def normalize_tenants(table: pa.Table, source: str = "tenants") -> pa.Table:
    """Check a tenants table and bring it to :data:`TENANT_SCHEMA`.

    Columns: ``resource_id`` and ``tenant_id`` (non-empty strings; one with spaces around it is
    refused, not trimmed: it would match nothing), optional ``valid_from`` (inclusive) and
    ``valid_to`` (exclusive): timestamps (naive ones mean UTC), dates (UTC midnight), RFC 3339
    strings or ``YYYY-MM-DD``; null or absent means unbounded. A resource's validity ranges must not
    overlap. Raises :class:`TenantsError` naming ``source``, the row (counted from 1) and the field.
    """
    problems: list[str] = []
    for name in ("resource_id", "tenant_id"):
        if name not in table.column_names:
            raise TenantsError(
                f"{source}: missing column {name!r} (columns: {', '.join(table.column_names)})"
            )
    resource = _strings(table, "resource_id", source, problems)
    tenant = _strings(table, "tenant_id", source, problems)
    bounds = {name: _instants(table, name, source, problems) for name in ("valid_from", "valid_to")}
    rows = list(zip(resource, tenant, bounds["valid_from"], bounds["valid_to"], strict=True))
    for row_number, (_, _, start, end) in enumerate(rows, start=1):
        if start is not None and end is not None and end <= start:
            problems.append(f"{source}: row {row_number}: valid_to is not after valid_from")
    order = sorted(range(len(rows)), key=lambda i: (rows[i][0] or "", _lo(rows[i][2]), i))
    holder = -1  # the row reaching furthest so far among the current resource's rows
    for index, after in enumerate(order):
        resource_id, start = rows[after][0], rows[after][2]
        if index == 0 or resource_id is None or resource_id != rows[order[index - 1]][0]:
            holder = after
            continue
        reach = rows[holder][3]
        if reach is None or reach > _lo(start):
            problems.append(
                f"{source}: row {after + 1}: valid_from: resource {resource_id!r} is already attributed"
                f" at that time by row {holder + 1} (tenant {rows[holder][1]!r})"
            )
        end = rows[after][3]
        if reach is not None and (end is None or end > reach):
            holder = after
    if problems:
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise TenantsError(
            f"{source}: invalid tenants table ({len(problems)} problems)\n  "
            + "\n  ".join(problems[:_MAX_LISTED])
            + more
        )
    return pa.table(
        [
            pa.array(resource, pa.string()),
            pa.array(tenant, pa.string()),
            pa.array(bounds["valid_from"], pa.int64()),
            pa.array(bounds["valid_to"], pa.int64()),
        ],
        schema=TENANT_SCHEMA,
    )


def load_tenants(path: str | Path) -> pa.Table:
    """Read a tenants file (``.parquet``, else CSV with a header) and :func:`normalize_tenants` it."""
    file = Path(path)
    try:
        if file.suffix.lower() in {".parquet", ".pq"}:
            table = pq.read_table(file)
        else:
            with file.open(newline="", encoding="utf-8-sig") as handle:  # a BOM is not part of a name
                names = next(csv.reader(handle), [])
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise TenantsError(f"{path}: header names column {repeated[0]!r} more than once")
            table = pacsv.read_csv(
                file,
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
                ),
            )
    except (OSError, UnicodeDecodeError, pa.ArrowInvalid) as exc:
        raise TenantsError(f"{path}: cannot read tenants table: {exc}") from None
    return normalize_tenants(table, str(path))


def invoice_lines(slices: pa.Table | duckdb.DuckDBPyRelation) -> pa.Table:
    """Invoice lines: per ``tenant_id`` (NULL = unattributed), ``month`` (``YYYY-MM`` of the usage
    date), ``family``, ``meter`` and ``currency``, the sums of ``quantity``, ``billed_quantity`` and
    ``amount`` (``amount_exact``, DECIMAL(38,12)), ``amount`` rounded once, half-even, to the currency's
    minor unit (DECIMAL(38, the largest minor unit present)) and the number of ``slice_rows``.

    These are the analysts' ``invoice_lines`` (``sql/views/usage_lines.sql``, the one definition of
    an invoice line and its rounding), under this function's column names. ``slices`` is a table or
    relation with the columns of :func:`price_slices` (or the Parquet output); a relation is summed in
    its own connection when that holds the ``currencies`` relation (:func:`price_slices` leaves it
    there), else its columns are read out and summed apart.
    """
    sql = load_sql("views/usage_lines")
    lines: pa.Table | None = None
    if isinstance(slices, duckdb.DuckDBPyRelation):
        try:  # summed where the slices are (a month of a fleet stays in DuckDB)
            result = slices.query("slices", sql)
            assert result is not None
            lines = result.to_arrow_table()
        except duckdb.CatalogException as exc:
            if "currencies" not in str(exc):
                raise
            slices = slices.select(*_INVOICE_INPUT).to_arrow_table()  # a connection without currencies
    if lines is None:
        with plain_connect() as con:
            con.register("slices", slices)
            con.register("currencies", currency_table())
            lines = con.sql(sql).to_arrow_table()
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


def _empty_tenants() -> pa.Table:
    return TENANT_SCHEMA.empty_table()


def _as_tenant_table(table: pa.Table) -> pa.Table:
    """A table already in TENANT_SCHEMA (from load_tenants) is only checked for overlaps, in SQL."""
    if table.schema.equals(TENANT_SCHEMA):
        return table
    return normalize_tenants(table)


def _lo(value: int | None) -> int:
    return -(2**63) if value is None else value


def _clamp(ns: int) -> int:
    """An instant beyond what int64 nanoseconds hold (years before 1677 or after 2262, such as the usual
    "forever" 9999-12-31) as the nearest one it holds: no event is that early or late, so a validity
    bound there acts as no bound."""
    return max(-(2**63), min(ns, 2**63 - 1))


def _strings(table: pa.Table, name: str, source: str, problems: list[str]) -> list[str | None]:
    values: list[Any] = table.column(name).to_pylist()
    out: list[str | None] = []
    for row_number, value in enumerate(values, start=1):
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"{source}: row {row_number}: {name}: empty")
            out.append(None)
        elif isinstance(value, str) and value != value.strip():
            # ' t1' would match no tenant and ' vm-1' no resource: its slices would go unattributed
            problems.append(f"{source}: row {row_number}: {name}: {value!r} has spaces around it")
            out.append(None)
        else:
            out.append(str(value))
    return out


def _instants(table: pa.Table, name: str, source: str, problems: list[str]) -> list[int | None]:
    if name not in table.column_names:
        return [None] * table.num_rows
    column = table.column(name)
    kind = column.type
    if pa.types.is_timestamp(kind):
        # counts of the column's own unit, scaled in Python: 9999-12-31 does not fit int64 nanoseconds
        per_ns = {"s": NS_PER_SECOND, "ms": 1_000_000, "us": 1_000, "ns": 1}[kind.unit]
        counts = pc.cast(column, pa.int64()).to_pylist()
        return [None if c is None else _clamp(c * per_ns) for c in counts]
    if pa.types.is_date(kind):
        days = pc.cast(pc.cast(column, pa.date32()), pa.int32()).to_pylist()
        return [None if d is None else _clamp(d * NS_PER_DAY) for d in days]
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        out: list[int | None] = []
        for row_number, text in enumerate(column.to_pylist(), start=1):
            if text is None or not text.strip():
                out.append(None)
                continue
            parsed = _parse_instant(text.strip())
            parsed = None if parsed is None else _clamp(parsed)
            if parsed is None:
                problems.append(
                    f"{source}: row {row_number}: {name}: {text!r} is not a date (2026-11-01) or an RFC 3339"
                    " instant (2026-11-01T12:00:00Z)"
                )
            out.append(parsed)
        return out
    problems.append(f"{source}: {name}: column type {kind} is not a timestamp, date or string")
    return [None] * table.num_rows


def _parse_instant(text: str) -> int | None:
    """A date (UTC midnight) or an RFC 3339 instant as Unix ns; None if it is neither."""
    try:
        if _DATE_RE.fullmatch(text):
            return date_to_ns(parse_date(text))
        return parse_instant(text)
    except UsageError:
        return None
