"""Contracts through runs: a February of contract, discounted, tiered and minimum tenants and
unattributed resources billed as one month run and as its days gives the same invoice lines, equal
to the independent Decimal reading (reference.py) to the cent; a contract change restates the days
it changes and names itself as the cause; without contracts nothing changes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from engine_cases import list_slice
from reference import ListSlice, charge, invoice_lines, read_contracts

import reconcile
from reconcile.testing import write_fleet, write_tenants

FEB = dt.date(2026, 2, 1)
START = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
CONTRACTS = """currency = "USD"

[[contract]]                       # a negotiated vCPU rate and 10% off the rest, to mid-month
tenant = "acme"
effective_from = 2026-02-01
effective_to = 2026-02-14T12:00:00Z
discount = "10"
  [[contract.price]]
  family = "vm.compute"
  meter = "vcpu_hours"
  unit = "vCPU-hour"
  price = "0.0300"

[[contract]]                       # then a deeper discount
tenant = "acme"
effective_from = 2026-02-14T12:00:00Z
discount = "{discount}"

[[contract]]                       # graduated vCPU tiers and a monthly minimum
tenant = "globex"
effective_from = 2026-02-01
monthly_minimum = "5000.00"
  [[contract.tier]]
  family = "vm.compute"
  meter = "vcpu_hours"
  up_to = "150"
  price = "0.0400"
  [[contract.tier]]
  family = "vm.compute"
  meter = "vcpu_hours"
  price = "0.0200"

[[contract]]                       # a minimum it exceeds: no true-up
tenant = "initech"
effective_from = 2026-02-01
monthly_minimum = "0.01"
"""
LINE = (
    "tenant_id",
    "family",
    "meter",
    "charge_class",
    "amount_minor",
    "list_amount_minor",
    "billed_quantity",
)


@pytest.fixture(scope="module")
def february(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A store of a small fleet over February 2026, its tenants and the contracts file."""
    root = tmp_path_factory.mktemp("february")
    fleet = write_fleet(
        root / "ledgers", seed=24, hosts=2, vms_per_host=8, days=28, start=START, garbage=False
    )
    reconcile.ingest([fleet.root], root / "store", quiet=True)
    ids = _resources(root / "store")
    write_tenants(root / "tenants.csv", ids, seed=24, tenants=4, unattributed=0.2)
    (root / "contracts.toml").write_text(CONTRACTS.format(discount="20"), encoding="utf-8")
    return {
        "root": root,
        "ledgers": Path(fleet.root),
        "store": root / "store",
        "tenants": root / "tenants.csv",
        "contracts": root / "contracts.toml",
    }


def _resources(store: Path) -> list[str]:
    import duckdb  # noqa: PLC0415

    files = sorted(str(p) for p in store.glob("events/*/*.parquet"))
    with duckdb.connect() as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT resource_id FROM read_parquet(?, hive_partitioning = false) ORDER BY 1",
                [files],
            ).fetchall()
        ]


def _lines(output: Path) -> list[dict[str, Any]]:
    return reconcile.read_relation("invoice_lines", output).to_dicts()


def _month(feb: dict[str, Path], output: Path) -> None:
    reconcile.run_period(
        feb["store"],
        "bundled",
        output,
        "2026-02",
        tenants=feb["tenants"],
        contracts=feb["contracts"],
        quiet=True,
    )


def _days(feb: dict[str, Path], output: Path) -> reconcile.NightlySummary:
    reconcile.run_period(
        feb["store"],
        "bundled",
        output,
        "2026-02-01",
        tenants=feb["tenants"],
        contracts=feb["contracts"],
        quiet=True,
    )
    return reconcile.nightly(
        [feb["ledgers"]],
        feb["store"],
        output,
        "bundled",
        lookback=28,
        today="2026-03-01",
        tenants=feb["tenants"],
        contracts=feb["contracts"],
        quiet=True,
    )


def test_a_month_as_one_run_and_as_its_days_bills_the_reference(
    february: dict[str, Path], tmp_path: Path
) -> None:
    """The month run's and the day runs' invoice lines are the same, every contract term shows
    (price, discount, tier, the minimum's true-up, an unattributed line), and each line equals the
    reference's computation from the month's slices to the cent."""
    month, days = tmp_path / "month", tmp_path / "days"
    _month(february, month)
    _days(february, days)
    by_month, by_days = _lines(month), _lines(days)
    assert by_month == by_days
    bases = " ".join(line["price_bases"] or "" for line in by_month)
    assert {"price", "discount", "tier", "list", "minimum"} <= set(bases.split())
    assert any(line["tenant_id"] is None for line in by_month)
    assert [line["charge_class"] for line in by_month].count("Minimum") == 1

    refs = read_contracts(february["contracts"].read_text(encoding="utf-8"))
    slices = reconcile.read_relation("slices", month).to_dicts()
    starts = {r["interval_id"]: r["start_at"] for r in reconcile.read_relation("intervals", month).to_dicts()}
    listed = [_listed(s, starts) for s in slices]
    want = invoice_lines(charge(listed, refs), refs, "USD", 2, complete_months=[FEB])
    got = sorted((tuple(line[k] for k in LINE) for line in by_month), key=str)
    expected = sorted(
        (
            (
                w.tenant_id,
                w.family,
                w.meter,
                w.charge_class,
                w.amount_minor,
                w.list_amount_minor,
                w.billed_quantity,
            )
            for w in want
        ),
        key=str,
    )
    assert got == expected


def _ns(at: dt.datetime) -> int:
    return (at - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) * 1000


def _listed(row: dict[str, Any], starts: dict[str, dt.datetime]) -> ListSlice:
    a, b = _ns(row["slice_start"]), _ns(row["slice_end"])
    at = a - 1 if a == b and _ns(starts[row["interval_id"]]) < a else a
    return list_slice(row, a, b, at)


def test_a_contract_change_restates_the_days_it_changes(february: dict[str, Path], tmp_path: Path) -> None:
    """Changing the second acme contract's discount restates the days from its start, each naming the
    contract and the term as the cause; the days before keep their run_ids; no minimum line until the
    month is complete."""
    output = tmp_path / "days"
    reconcile.run_period(
        february["store"],
        "bundled",
        output,
        "2026-02-01",
        tenants=february["tenants"],
        contracts=february["contracts"],
        quiet=True,
    )
    assert not [line for line in _lines(output) if line["charge_class"] == "Minimum"]  # (a day of it)
    _days(february, output)
    before = {
        p.parent.name: json.loads(p.read_text())["run_id"] for p in output.glob("manifests/*/manifest.json")
    }
    changed = tmp_path / "contracts.toml"
    changed.write_text(CONTRACTS.format(discount="25"), encoding="utf-8")
    summary = reconcile.nightly(
        [february["ledgers"]],
        february["store"],
        output,
        "bundled",
        lookback=28,
        today="2026-03-01",
        tenants=february["tenants"],
        contracts=changed,
        quiet=True,
    )
    after = {p.parent.name: json.loads(p.read_text()) for p in output.glob("manifests/*/manifest.json")}
    restated = sorted(name for name, m in after.items() if m["run_id"] != before[name])
    assert restated == [f"period=2026-02-{d:02d}" for d in range(14, 29)], summary
    why = after["period=2026-02-20"]["replaces"]["why"]
    assert "acme@2026-02-14T12:00:00Z: discount 20 -> 25" in why


def test_without_contracts_run_ids_and_lines_are_as_before(february: dict[str, Path], tmp_path: Path) -> None:
    """A run without a contracts file writes no contract column and no contracts option, and its
    lines bill the list."""
    output = tmp_path / "plain"
    reconcile.run_period(
        february["store"], "bundled", output, "2026-02-03", tenants=february["tenants"], quiet=True
    )
    manifest = json.loads(next(output.glob("manifests/*/manifest.json")).read_text())
    assert "contracts" not in manifest["options"]
    assert "list_amount" not in reconcile.read_relation("slices", output).columns
    lines = _lines(output)
    assert all(line["list_amount"] == line["amount"] and line["price_bases"] is None for line in lines)
