"""The one table of families and meters (reconcile._core._families): an added meter is billed end to end."""

from __future__ import annotations

import importlib.resources
import re
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import reconcile
from reconcile._core import _families
from reconcile._core._families import CATALOGUE, Catalogue, Meter, Unit
from reconcile._price._book import parse_price_book
from reconcile.testing import write_fleet, write_tenants
from recorder import Kind

ROOT = Path(__file__).resolve().parents[3]
PERIOD = "2026-11"
GPU_PRICE = Decimal("2.50")
GPUS_PER_VCPU = 4  # the test meter: one GPU-hour per four vCPU-hours (reads the cpu column)
GPU = Meter("vm.compute", "gpu_hours", "cpu", GPUS_PER_VCPU, ("GPU-hour",), "GPU-Hours")
GPU_UNIT = Unit("GPU-hour", monthly=False, focus="GPU-Hours")
GPU_ENTRY = f"""
[[price]]
family = "vm.compute"
meter = "gpu_hours"
unit = "GPU-hour"
price = "{GPU_PRICE}"
effective_from = 2026-01-01
"""
E12 = Decimal("1e-12")
NS = 10**9
DAY_NS = 86_400 * NS
SECOND_NS, MINIMUM_NS = NS, 60 * NS  # the bundled book's [billing."vm.compute"]: 1 s increment, 60 s minimum


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small generated fleet ingested into a store, and a tenant table for it."""
    root = tmp_path_factory.mktemp("families")
    write_fleet(root / "ledgers", seed=11, hosts=2, vms_per_host=20, days=3)
    store = root / "store"
    reconcile.ingest([root / "ledgers"], store, quiet=True)
    ids = {
        r
        for path in sorted((store / "events").rglob("*.parquet"))
        for r in pq.read_table(path, columns=["resource_id"]).column("resource_id").to_pylist()
    }
    tenants = root / "tenants.csv"
    write_tenants(tenants, sorted(ids), seed=11)
    return store, tenants


def _bundled() -> bytes:
    return (importlib.resources.files("reconcile") / "data" / "prices.toml").read_bytes()


def _rows(name: str, output: Path) -> list[dict[str, Any]]:
    """The relation's rows, its instants as Unix nanoseconds (exact: Python datetimes hold microseconds)."""
    table = reconcile.read_relation_arrow(name, output)
    for i, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type):
            table = table.set_column(i, column.name, table.column(i).cast(pa.int64()))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def _half_even(value: Decimal, exponent: Decimal = E12) -> Decimal:
    return value.quantize(exponent, rounding=ROUND_HALF_EVEN)


def _extra_ns(interval: dict[str, Any], slice_row: dict[str, Any]) -> int:
    """The increment and minimum's extra billed on this slice (SPEC section 4), from the interval
    alone: on the slice of a closed or inferred interval that ends at its end in its end's UTC day."""
    start, end = interval["start_ns"], interval["end_ns"]
    holds_end = (
        interval["status"] in ("closed", "inferred")
        and slice_row["slice_end"] == end
        and slice_row["slice_start"] // DAY_NS == end // DAY_NS
    )
    if not holds_end:
        return 0
    duration = end - start
    return int(max(-(-duration // SECOND_NS) * SECOND_NS, MINIMUM_NS) - duration)


def test_the_table_has_the_ledgers_families() -> None:
    """The table lists exactly the families of the recorder's kinds, each with the field naming its
    resource, and every meter reads a shape column in a known unit."""
    kinds = {k.value.rsplit(".", 1)[0] for k in Kind}
    assert {f.name for f in CATALOGUE.families} == set(CATALOGUE.family_meters) == kinds
    assert {f.name: f.id_column for f in CATALOGUE.families} == {
        name: "vm_id" if name.startswith("vm.") else "snapshot_id" for name in kinds
    }
    assert all(m.shape in _families.SHAPES and m.units for m in CATALOGUE.meters)


def test_a_bad_table_is_refused() -> None:
    """A table naming an unknown shape, family or unit, or a family without a meter, is refused whole."""
    family = CATALOGUE.families[0]
    with pytest.raises(ValueError, match=r"shape 'gpus' is not one of.*unknown unit 'GPU-hour'"):
        CATALOGUE.with_meter(Meter(family.name, "gpu_hours", "gpus", 1, ("GPU-hour",), "GPU-Hours"))
    with pytest.raises(ValueError, match=r"meter nope.family x: unknown family"):
        CATALOGUE.with_meter(Meter("nope.family", "x", "cpu", 1, ("vCPU-hour",), "x"))
    with pytest.raises(ValueError, match=r"family vm.compute: no meter"):
        Catalogue((family,), (), CATALOGUE.units)


def test_meter_names_live_in_the_table() -> None:
    """The meter names are spelled in the table, the bundled price book and the contracts format's
    example only: the code and the SQL read the table (issue 23's measure)."""
    names = re.compile("|".join(sorted({m.name for m in CATALOGUE.meters})))
    found = sorted(
        str(path.relative_to(ROOT))
        for folder in ("src", "sql")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".sql", ".toml") and names.search(path.read_text(encoding="utf-8"))
    )
    assert found == [
        "src/reconcile/_core/_families.py",
        "src/reconcile/_price/_contracts/__init__.py",
        "src/reconcile/data/prices.toml",
    ]


def test_a_meter_added_to_the_table_is_billed_end_to_end(
    fleet_store: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A meter added as one row of the table (plus its price) is priced on every slice of its family
    at the exact amount, invoiced and exported to FOCUS, and the other meters' rows stay the same."""
    store, tenants = fleet_store
    base = tmp_path / "base"
    reconcile.run_period(
        store, parse_price_book(_bundled(), "bundled"), base, PERIOD, tenants=tenants, quiet=True
    )

    monkeypatch.setattr(_families, "CATALOGUE", CATALOGUE.with_meter(GPU, GPU_UNIT))
    book = parse_price_book(_bundled() + GPU_ENTRY.encode(), "with-gpu")
    out = tmp_path / "gpu"
    summary = reconcile.run_period(store, book, out, PERIOD, tenants=tenants, quiet=True)

    intervals = {r["interval_id"]: r for r in _rows("intervals", out)}
    slices = _rows("slices", out)
    gpu = [s for s in slices if s["meter"] == "gpu_hours"]
    compute = [s for s in slices if s["family"] == "vm.compute" and s["meter"] == "vcpu_hours"]
    key = ("interval_id", "slice_start", "slice_end")
    assert sorted(tuple(s[k] for k in key) for s in gpu) == sorted(tuple(s[k] for k in key) for s in compute)
    assert len(gpu) > 100
    assert any(_extra_ns(intervals[s["interval_id"]], s) for s in gpu)  # (increments and minimums too)

    expected_by_line: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    with localcontext() as ctx:
        ctx.prec = 60
        for s in gpu:
            interval = intervals[s["interval_id"]]
            seconds = Decimal(s["slice_end"] - s["slice_start"]) / NS
            billed = seconds + Decimal(_extra_ns(interval, s)) / NS
            gpus = Decimal(interval["cpu"]) / GPUS_PER_VCPU
            quantity = _half_even(gpus * billed / 3600)
            amount = _half_even(quantity * GPU_PRICE)
            assert (s["seconds"], s["quantity"]) == (seconds, _half_even(gpus * seconds / 3600)), s
            assert (s["billed_quantity"], s["amount"]) == (quantity, amount), s
            assert (s["unit_price"], s["price_unit"], s["hours_per_month"]) == (GPU_PRICE, "GPU-hour", None)
            expected_by_line[(s["tenant_id"], s["currency"])] += amount
    assert Decimal(summary.quantities["gpu_hours"]) == sum(s["billed_quantity"] for s in gpu)

    lines = [r for r in _rows("invoice_lines", out) if r["meter"] == "gpu_hours"]
    assert {(r["tenant_id"], r["currency"]): r["amount_exact"] for r in lines} == dict(expected_by_line)
    assert all(r["amount"] == _half_even(r["amount_exact"], Decimal("0.01")) for r in lines)
    focus = [r for r in _rows("focus", out) if r["x_Meter"] == "gpu_hours"]
    assert {(r["ConsumedUnit"], r["PricingUnit"]) for r in focus} == {("GPU-Hours", "GPU-Hours")}
    assert sum(r["BilledCost"] for r in focus) == sum(expected_by_line.values())

    def others(output: Path, relation: str, drop: tuple[str, ...]) -> list[tuple[Any, ...]]:
        rows = [r for r in _rows(relation, output) if r["meter"] != "gpu_hours"]
        return sorted((tuple(v for k, v in sorted(r.items()) if k not in drop) for r in rows), key=repr)

    monkeypatch.undo()  # (the base output's FOCUS names from the table as it is)
    assert others(out, "slices", ("run_id", "price_version")) == others(
        base, "slices", ("run_id", "price_version")
    )
    assert others(out, "invoice_lines", ("invoice_total",)) == others(
        base, "invoice_lines", ("invoice_total",)
    )
