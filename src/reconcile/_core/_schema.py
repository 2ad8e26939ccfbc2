"""The column contract of the store and the output (SPEC sections 2 and 5), with exact DuckDB types.

Column names are an interface (notebooks, SQL and other teams depend on them): add, never rename. The
writer checks every table it commits against these, and the analyst views use them for the empty
relation of a folder that holds no file yet, so the two can never disagree.
"""

from __future__ import annotations

# SPEC section 2, in order: where a line has several faults, the first code wins.
REJECT_CODES: tuple[str, ...] = (
    "blank",
    "invalid_utf8",
    "line_too_long",
    "malformed_json",
    "not_an_object",
    "wrong_type",
    "unknown_kind",
    "missing_id",
    "bad_timestamp",
    "zero_timestamp",
    "implausible_timestamp",
    "bad_shape",
)

MONEY = "DECIMAL(38, 12)"  # quantities, prices and amounts: 12 fraction digits
INSTANT = "TIMESTAMPTZ_NS"  # UTC-adjusted nanoseconds (Arrow timestamp[ns, tz=UTC])

SLICES: dict[str, str] = {
    "interval_id": "VARCHAR",
    "family": "VARCHAR",
    "resource_id": "VARCHAR",
    "tenant_id": "VARCHAR",
    "usage_date": "DATE",
    "slice_start": INSTANT,
    "slice_end": INSTANT,
    "seconds": "DECIMAL(18, 9)",  # exact: nanoseconds / 10^9
    "meter": "VARCHAR",
    "quantity": MONEY,
    "billed_quantity": MONEY,
    "unit_price": MONEY,
    "price_unit": "VARCHAR",
    "hours_per_month": "INTEGER",  # NULL unless the unit is GiB-month
    "amount": MONEY,
    "currency": "VARCHAR",
    "price_version": "VARCHAR",
    "status": "VARCHAR",
}

INTERVALS: dict[str, str] = {
    "interval_id": "VARCHAR",
    "family": "VARCHAR",
    "resource_id": "VARCHAR",
    "vm_id": "VARCHAR",
    "snapshot_id": "VARCHAR",
    "source_snapshot_id": "VARCHAR",
    "hypervisor": "VARCHAR",
    "cpu": "BIGINT",
    "mem_bytes": "BIGINT",
    "storage_bytes": "BIGINT",
    "start_at": INSTANT,
    "end_at": INSTANT,
    "start_reason": "VARCHAR",
    "end_reason": "VARCHAR",
    "status": "VARCHAR",
    "start_source": "VARCHAR",
    "end_source": "VARCHAR",
}

ANOMALIES: dict[str, str] = {
    "code": "VARCHAR",
    "family": "VARCHAR",
    "resource_id": "VARCHAR",
    "at": INSTANT,
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    "interval_id": "VARCHAR",
    "detail": "VARCHAR",
}

EVENTS: dict[str, str] = {
    "event_id": "VARCHAR",
    "family": "VARCHAR",
    "endpoint": "VARCHAR",
    "resource_id": "VARCHAR",
    "kind": "VARCHAR",
    "vm_id": "VARCHAR",
    "snapshot_id": "VARCHAR",
    "source_snapshot_id": "VARCHAR",
    "reason": "VARCHAR",
    "hypervisor": "VARCHAR",
    "cpu": "BIGINT",
    "mem_bytes": "BIGINT",
    "storage_bytes": "BIGINT",
    "emitted_at": INSTANT,
    "emitted_ns": "BIGINT",
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    "ingest_id": "VARCHAR",
}

REJECTS: dict[str, str] = {
    "code": "VARCHAR",
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    "raw": "VARCHAR",
    "ingest_id": "VARCHAR",
}

# The analysts' invoice_lines (sql/views/invoice_lines.sql), and so a closed month's issued lines.
INVOICE_LINES: dict[str, str] = {
    "tenant_id": "VARCHAR",
    "invoice_month": "DATE",
    "currency": "VARCHAR",
    "family": "VARCHAR",
    "meter": "VARCHAR",
    "slices": "BIGINT",
    "quantity": MONEY,
    "billed_quantity": MONEY,
    "amount_exact": MONEY,
    "minor_unit": "INTEGER",
    "amount_minor": "BIGINT",
    "amount": MONEY,
    "invoice_total": MONEY,
    "charge_class": "VARCHAR",  # 'Usage', 'Minimum' or 'Correction'
    "corrects_month": "DATE",
    "list_amount_exact": MONEY,  # what the price book alone would have billed
    "list_amount_minor": "BIGINT",
    "list_amount": MONEY,
    "tier_adjustment": MONEY,  # a tiered line's amount less its slices' amounts
    "contract_ids": "VARCHAR",  # the contracts that priced the line (NULL: none)
    "price_bases": "VARCHAR",  # list, price, discount, tier, minimum
}
