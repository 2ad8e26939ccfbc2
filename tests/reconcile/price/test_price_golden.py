"""Hand-computed golden cases of the pricing stage (tests/data/pricing/*.toml, see its README)."""

from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from reconcile import invoice_lines, load_price_book, price_slices
from reconcile._price._tenants import TENANT_SCHEMA, normalize_tenants

DATA = Path(__file__).resolve().parents[2] / "data"
CASES = sorted((DATA / "pricing").glob("*.toml"))
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
GIB = 2**30


def to_ns(value: dt.datetime) -> int:
    """Unix nanoseconds of a TOML date-time (microsecond precision is all TOML carries)."""
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1_000


def intervals_table(rows: list[dict[str, Any]]) -> pa.Table:
    """An `intervals` table with every column of the ARCHITECTURE contract, from the case's rows."""
    ns = pa.timestamp("ns", tz="UTC")
    start = [to_ns(r["start"]) for r in rows]
    end = [to_ns(r["end"]) if "end" in r else None for r in rows]
    columns: dict[str, pa.Array] = {
        "interval_id": pa.array([r["id"] for r in rows], pa.string()),
        "family": pa.array([r["family"] for r in rows], pa.string()),
        "resource_id": pa.array([r["resource_id"] for r in rows], pa.string()),
        "vm_id": pa.array(
            [r["resource_id"] if r["family"].startswith("vm.") else None for r in rows], pa.string()
        ),
        "snapshot_id": pa.array([r["resource_id"] if r["family"] == "snap.storage" else None for r in rows]),
        "source_snapshot_id": pa.array([None] * len(rows), pa.string()),
        "hypervisor": pa.array([r.get("hypervisor") for r in rows], pa.string()),
        "cpu": pa.array([r.get("cpu", 0) for r in rows], pa.int64()),
        "mem_bytes": pa.array([int(Decimal(str(r.get("mem_gib", 0))) * GIB) for r in rows], pa.int64()),
        "storage_bytes": pa.array(
            [int(Decimal(str(r.get("storage_gib", 0))) * GIB) for r in rows], pa.int64()
        ),
        "start_at": pa.array(start, pa.int64()).cast(ns),
        "end_at": pa.array(end, pa.int64()).cast(ns),
        "start_ns": pa.array(start, pa.int64()),
        "end_ns": pa.array(end, pa.int64()),
        "start_reason": pa.array(["boot"] * len(rows), pa.string()),
        "end_reason": pa.array(["stop-user" if r["status"] == "closed" else None for r in rows], pa.string()),
        "status": pa.array([r["status"] for r in rows], pa.string()),
        "start_source": pa.array([f"ledger:{i + 1}" for i in range(len(rows))], pa.string()),
        "end_source": pa.array([None] * len(rows), pa.string()),
        "start_event_id": pa.array([r["id"] for r in rows], pa.string()),
        "end_event_id": pa.array([None] * len(rows), pa.string()),
        "end_cpu": pa.array([None] * len(rows), pa.int64()),
        "end_mem_bytes": pa.array([None] * len(rows), pa.int64()),
        "end_storage_bytes": pa.array([None] * len(rows), pa.int64()),
    }
    return pa.table(columns)


def tenants_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The case's tenant rows as a table with timestamp validity columns."""
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "resource_id": pa.array([r["resource_id"] for r in rows], pa.string()),
            "tenant_id": pa.array([r["tenant_id"] for r in rows], pa.string()),
            "valid_from": pa.array([r.get("valid_from") for r in rows], ts),
            "valid_to": pa.array([r.get("valid_to") for r in rows], ts),
        }
    )


def run_case(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], pa.Table]:
    """Price one case; returns the case, the slice rows (as dicts) and the slices as Arrow."""
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    book = load_price_book(DATA / "prices" / case["prices"])
    tenants = normalize_tenants(tenants_table(case["tenant"])) if "tenant" in case else None
    con = duckdb.connect()
    relation = price_slices(
        con,
        book,
        period_start_ns=to_ns(case["period_start"]),
        period_end_ns=to_ns(case["period_end"]),
        cut_off_ns=to_ns(case["cut_off"]) if "cut_off" in case else None,
        intervals=intervals_table(case["interval"]),
        tenants=tenants,
    )
    table = relation.to_arrow_table()
    return case, table.to_pylist(), table


def expected_key(row: dict[str, Any]) -> tuple[str, str, int]:
    """Sort/match key of an expected slice."""
    return row["interval"], row["meter"], to_ns(row["start"])


def actual_key(row: dict[str, Any]) -> tuple[str, str, int]:
    """Sort/match key of a produced slice."""
    return row["interval_id"], row["meter"], row["slice_start_ns"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_slices(path: Path) -> None:
    """The stage produces exactly the hand-computed slices of the case, to the last digit."""
    case, rows, _ = run_case(path)
    expected = sorted(case["expect"]["slices"], key=expected_key)
    actual = sorted(rows, key=actual_key)
    assert [expected_key(e) for e in expected] == [actual_key(a) for a in actual]
    for want, got in zip(expected, actual, strict=True):
        where = f"{path.name}: {expected_key(want)}"
        assert got["slice_end_ns"] == to_ns(want["end"]), where
        assert got["seconds"] == Decimal(want["seconds"]), where
        assert got["quantity"] == Decimal(want["quantity"]), where
        assert got["billed_quantity"] == Decimal(want["billed"]), where
        assert got["unit_price"] == Decimal(want["price"]), where
        assert got["amount"] == Decimal(want["amount"]), where
        assert got["tenant_id"] == want.get("tenant"), where
        assert got["usage_date"] == dt.datetime.fromtimestamp(got["slice_start_ns"] // 10**9, dt.UTC).date()
        if "date" in want:
            assert got["usage_date"] == want["date"], where
        assert got["currency"] == "USD"


@pytest.mark.parametrize(
    "path", [p for p in CASES if "invoice" in tomllib.loads(p.read_text())["expect"]], ids=lambda p: p.stem
)
def test_golden_invoice_lines(path: Path) -> None:
    """Invoice lines of the case round each line's exact sum once, half-even, to the cent."""
    case, _, table = run_case(path)
    lines = invoice_lines(table).to_pylist()
    got = {(r["tenant_id"], r["family"], r["meter"], r["month"]): r["amount"] for r in lines}
    want = {
        (e.get("tenant"), e["family"], e["meter"], e["month"]): Decimal(e["amount"])
        for e in case["expect"]["invoice"]
    }
    assert got == want
    assert all(str(r["amount"]) == str(Decimal(r["amount"]).quantize(Decimal("0.01"))) for r in lines)


def test_golden_cases_cover_the_issue() -> None:
    """Every behaviour the issue asks a golden case for has one."""
    names = {p.stem for p in CASES}
    assert names >= {
        "price_change_mid_interval",
        "midnight_and_period_edge",
        "minimum_and_increment",
        "storage_gib_month",
        "hypervisor_override",
        "open_interval",
        "inferred_interval",
        "tenants_validity_change",
        "zero_length_interval",
    }
    assert TENANT_SCHEMA.names == ["resource_id", "tenant_id", "valid_from_ns", "valid_to_ns"]
