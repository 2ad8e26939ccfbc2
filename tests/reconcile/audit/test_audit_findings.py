"""The audit on generated fleets: nothing on a clean one; on a lossy one every loss a snapshot can see,
with bounds that hold the true amount; its proposal, once ingested, leaves nothing and moves the
bill inside the bounds."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import EVERY, FLEET, WINDOW, Lossy, bills, causes, ledger_states, snapshot_states

import reconcile
from reconcile.testing import write_fleet


def test_a_fleet_that_lost_nothing_has_no_finding(tmp_path: Path) -> None:
    """No lost line, no silent resize, no VM older than metering: every snapshot agrees with the
    ledger at every instant, and the audit says so (the window the snapshots span)."""
    write_fleet(
        tmp_path / "ledgers",
        4,
        lost=0.0,
        resizes=0.0,
        inventory=tmp_path / "inv",
        inventory_every=EVERY,
        **FLEET,
    )
    reconcile.ingest([tmp_path / "ledgers"], tmp_path / "store", quiet=True)
    summary = reconcile.audit(tmp_path / "store", tmp_path / "inv", "bundled", quiet=True)
    assert summary.findings == []
    assert summary.instants == 55
    assert summary.rows > 5_000
    assert summary.window == {
        "start": "2026-11-18T00:00:00Z",
        "end": "2026-11-25T00:00:00Z",
        "cut_off": "2026-11-25T00:00:00Z",
    }
    assert summary.counts() == {"missing_start": 0, "missing_stop": 0, "shape_drift": 0}


def _disagreeing(lossy: Lossy) -> set[tuple[str, str]]:
    """The oracle (polars, from the files and the store): the resources whose snapshot row differs
    from the ledger's state at some instant (listed and not billed, billed and not listed, or
    billed at another priced shape)."""
    snap = snapshot_states(lossy.fleet.inventory)
    ledger = ledger_states(lossy.store, sorted(set(snap["t"].to_list())))
    keys = ["t", "family", "resource_id"]
    joined = snap.join(ledger, on=keys, how="full", coalesce=True, suffix="_ledger")
    differs = joined.filter(
        pl.col("p_cpu").is_null()
        | pl.col("p_cpu_ledger").is_null()
        | (pl.col("p_cpu") != pl.col("p_cpu_ledger"))
        | (pl.col("p_mem") != pl.col("p_mem_ledger"))
        | (pl.col("p_storage") != pl.col("p_storage_ledger"))
    )
    return set(differs.select("family", "resource_id").unique().iter_rows())


def test_every_loss_a_snapshot_sees_is_found_and_nothing_else(lossy: Lossy) -> None:
    """The resources with findings are exactly those whose snapshots disagree with the ledger (an
    independent reading of the same files), and each has a cause the generator reports (a lost
    line or a silent resize); losses between two snapshots that no snapshot sees are not found."""
    found = {(f.family, f.resource_id) for f in lossy.audit.findings}
    assert found == _disagreeing(lossy)
    assert found <= set(causes(lossy.fleet))
    assert {f.code for f in lossy.audit.findings} == {"missing_start", "missing_stop", "shape_drift"}


def test_bounds_hold_the_true_difference(lossy: Lossy) -> None:
    """For every resource with one cause (one lost line, or one silent resize) that the audit found:
    delta_low <= the true difference <= delta_high, the true difference being the resource's bill
    with the line (the truth ledger, priced by the engine) minus its bill without; so
    at_risk_min <= |difference| <= at_risk_max, in the direction the finding says."""
    truth, now = bills(lossy.truth_store), bills(lossy.store)
    by_resource: dict[tuple[str, str], list[reconcile.Finding]] = {}
    for finding in lossy.audit.findings:
        by_resource.setdefault((finding.family, finding.resource_id), []).append(finding)
    checked = 0
    for key, why in causes(lossy.fleet).items():
        found = by_resource.get(key, [])
        if len(why) != 1 or len(found) != 1:
            continue
        finding = found[0]
        true = truth.get(key, Decimal(0)) - now.get(key, Decimal(0))
        assert finding.delta_low <= true <= finding.delta_high, (key, why, true, finding)
        assert finding.at_risk_min <= abs(true) <= finding.at_risk_max, (key, true, finding)
        if finding.at_risk_min > 0:
            assert (true > 0) == (finding.direction == "unbilled"), (key, true, finding)
        checked += 1
    kinds = {c[0] for k, c in causes(lossy.fleet).items() if len(c) == 1 and len(by_resource.get(k, [])) == 1}
    assert checked >= 25
    assert {"vm.compute.start", "vm.compute.stop", "resize"} <= kinds


def test_the_proposal_ingested_leaves_nothing_and_moves_the_bill_inside_the_bounds(
    lossy: Lossy, tmp_path: Path
) -> None:
    """Ingested like any ledger file into a copy of the store, the proposal (customer's favour) makes a
    rerun of the audit find nothing, and moves each resource's bill by an amount inside its
    findings' bounds."""
    store = tmp_path / "store"
    shutil.copytree(lossy.store, store)
    ingested = reconcile.ingest([lossy.proposal], store, quiet=True)
    assert ingested.events == sum(len(f.proposed) for f in lossy.audit.findings) > 0
    again = reconcile.audit(store, lossy.root / "inventory", "bundled", quiet=True)
    assert again.findings == []
    before, after = bills(lossy.store), bills(store)
    moved: dict[tuple[str, str], list[reconcile.Finding]] = {}
    for finding in lossy.audit.findings:
        moved.setdefault((finding.family, finding.resource_id), []).append(finding)
    for key, found in moved.items():
        change = after.get(key, Decimal(0)) - before.get(key, Decimal(0))
        assert sum(f.delta_low for f in found) <= change <= sum(f.delta_high for f in found), (key, change)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_every_format_finds_the_same(lossy: Lossy, tmp_path: Path, fmt: str) -> None:
    """The same snapshots as JSON Lines or Parquet give the same findings as CSV."""
    write_fleet(
        tmp_path / "ledgers",
        seed=11,
        lost=0.03,
        resizes=0.3,
        start=WINDOW[0],
        inventory=tmp_path / "inv",
        inventory_every=EVERY,
        inventory_format=fmt,
        **FLEET,
    )
    summary = reconcile.audit(lossy.store, tmp_path / "inv", "bundled", quiet=True)
    strip = [{**f.to_json(), "evidence": None} for f in summary.findings]
    assert strip == [{**f.to_json(), "evidence": None} for f in lossy.audit.findings]
