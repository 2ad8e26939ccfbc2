"""Intervals and tenants for the engine's contract pricing, and the engine's slices read back as the
reference's :class:`ListSlice` (its list columns) and charged columns.

The list book is contract_cases.LIST (with a per-minute increment and a one-minute minimum on
compute, so some intervals carry an extra, some on a zero-length slice at a midnight).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
from contract_cases import DAY, HYPERVISORS, JULY_1, LIST, MAY_1, METERS, TENANTS
from hypothesis import strategies as st
from reference import NS, ListSlice

from reconcile import Contracts, price_slices
from reconcile._price._book import PriceBook, parse_price_book


def _book_text() -> str:
    out = ['currency = "USD"']
    for (family, meter, hypervisor), (price, unit, hours) in LIST.items():
        out += ["", "[[price]]", f'family = "{family}"', f'meter = "{meter}"', f'unit = "{unit}"']
        out += [f'price = "{price}"', "effective_from = 2026-01-01"]
        if hours is not None:
            out.append(f"hours_per_month = {hours}")
        if hypervisor is not None:
            out.append(f'hypervisor = "{hypervisor}"')
    out += ["", '[billing."vm.compute"]', "increment_seconds = 60", "minimum_seconds = 60"]
    return "\n".join(out) + "\n"


BOOK: PriceBook = parse_price_book(_book_text().encode(), "contracts-list.toml")
FAMILIES = sorted({family for family, _ in METERS})


@st.composite
def fleet(draw: st.DrawFn, *, max_size: int = 12) -> tuple[pa.Table, pa.Table]:
    """``(intervals, tenants)``: intervals over May and June 2026 (closed, some ending exactly on a
    midnight, inferred and open), their resources attributed to the tenants or to none."""
    rows: list[dict[str, Any]] = []
    tenants: list[tuple[str, str]] = []
    for number in range(draw(st.integers(1, max_size))):
        family = draw(st.sampled_from(FAMILIES))
        start = MAY_1 + draw(st.integers(0, 59 * DAY))
        if draw(st.integers(0, 4)) == 0:
            end = (start // DAY + draw(st.integers(1, 3))) * DAY  # on a midnight
        else:
            end = start + draw(st.integers(0, 3 * DAY))
        status = draw(st.sampled_from(["closed", "closed", "inferred", "open"]))
        rows.append(
            {
                "interval_id": f"i{number}",
                "family": family,
                "resource_id": f"r{number}",
                "hypervisor": draw(st.sampled_from(HYPERVISORS)),
                "cpu": draw(st.integers(1, 16)) if family == "vm.compute" else 0,
                "mem_bytes": draw(st.integers(1, 64)) * 2**30 if family == "vm.compute" else 0,
                "storage_bytes": draw(st.integers(1, 500)) * 2**30 if family != "vm.compute" else 0,
                "start_ns": start,
                "end_ns": None if status == "open" else min(end, JULY_1),
                "status": status,
            }
        )
        tenant = draw(st.sampled_from((*TENANTS, None)))
        if tenant is not None:
            tenants.append((f"r{number}", tenant))
    intervals = pa.table(
        {
            "interval_id": pa.array([r["interval_id"] for r in rows], pa.string()),
            "family": pa.array([r["family"] for r in rows], pa.string()),
            "resource_id": pa.array([r["resource_id"] for r in rows], pa.string()),
            "hypervisor": pa.array([r["hypervisor"] for r in rows], pa.string()),
            "cpu": pa.array([r["cpu"] for r in rows], pa.int64()),
            "mem_bytes": pa.array([r["mem_bytes"] for r in rows], pa.int64()),
            "storage_bytes": pa.array([r["storage_bytes"] for r in rows], pa.int64()),
            "start_ns": pa.array([r["start_ns"] for r in rows], pa.int64()),
            "end_ns": pa.array([r["end_ns"] for r in rows], pa.int64()),
            "status": pa.array([r["status"] for r in rows], pa.string()),
        }
    )
    table = pa.table(
        {
            "resource_id": pa.array([t[0] for t in tenants], pa.string()),
            "tenant_id": pa.array([t[1] for t in tenants], pa.string()),
        }
    )
    return intervals, table


def priced(
    intervals: pa.Table,
    tenants: pa.Table,
    contracts: Contracts | None,
    start_ns: int = MAY_1,
    end_ns: int = JULY_1,
) -> list[dict[str, Any]]:
    """The engine's slices of ``intervals`` over ``[start_ns, end_ns)`` as dicts."""
    with duckdb.connect() as con:
        relation = price_slices(
            con,
            BOOK,
            period_start_ns=start_ns,
            period_end_ns=end_ns,
            cut_off_ns=end_ns,
            intervals=intervals,
            tenants=tenants,
            contracts=contracts,
        )
        return relation.to_arrow_table().to_pylist()


def as_list_slice(row: dict[str, Any], intervals: pa.Table) -> ListSlice:
    """An engine slice (priced with contracts) as the reference's list-priced slice: its list
    columns, and the instant its tenant and price were taken at."""
    bounds = {
        i: (s, e)
        for i, s, e in zip(
            intervals.column("interval_id").to_pylist(),
            intervals.column("start_ns").to_pylist(),
            intervals.column("end_ns").to_pylist(),
            strict=True,
        )
    }
    start, _ = bounds[row["interval_id"]]
    a, b = row["slice_start_ns"], row["slice_end_ns"]
    at = a - 1 if a == b and start < a else a  # the zero-length slice of an interval that lasted
    return list_slice(row, a, b, at)


ZERO = Decimal(0)
__all__ = ["BOOK", "NS", "ZERO", "as_list_slice", "fleet", "priced"]


def list_slice(row: dict[str, Any], start_ns: int, end_ns: int, at_ns: int) -> ListSlice:
    """The reference's list-priced slice of an engine slice row (its list columns), cut at
    ``start_ns``-``end_ns`` and priced at ``at_ns``."""
    a, b, at = start_ns, end_ns, at_ns
    return ListSlice(
        interval_id=row["interval_id"],
        family=row["family"],
        resource_id=row["resource_id"],
        tenant_id=row["tenant_id"],
        hypervisor=row["hypervisor"],
        slice_start_ns=a,
        slice_end_ns=b,
        meter=row["meter"],
        quantity=row["quantity"],
        billed_quantity=row["billed_quantity"],
        unit_price=row["list_unit_price"],
        price_unit=row["list_price_unit"],
        hours_per_month=row["list_hours_per_month"],
        amount=row["list_amount"],
        currency=row["currency"],
        at_ns=at,
    )
