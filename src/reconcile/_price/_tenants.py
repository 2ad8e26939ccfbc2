"""Tenant attribution: the table ``resource_id, tenant_id[, valid_from, valid_to]`` that attributes
slices, checked and normalised (SPEC section 4). Kept beside the price book: both are the reviewed
inputs a run prices with; the pricing stage (``_price``) joins the result.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile._core._period import NS_PER_DAY, NS_PER_SECOND, date_to_ns, parse_date, parse_instant
from reconcile.exceptions import TenantsError, UsageError

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


def empty_tenants() -> pa.Table:
    return TENANT_SCHEMA.empty_table()


def as_tenant_table(table: pa.Table) -> pa.Table:
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
    values: list[object] = table.column(name).to_pylist()
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
