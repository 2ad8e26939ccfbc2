"""Fixtures of the contracts tests: a February billed as one run with the contracts of test_contracts_runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_contracts_runs import CONTRACTS, START, _resources

import reconcile
from reconcile.testing import write_fleet, write_tenants


@pytest.fixture(scope="session")
def contracts_month(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of February 2026 of a small fleet (contract, discounted, tiered and minimum
    tenants, unattributed resources) billed as one month run with a contracts file."""
    root = tmp_path_factory.mktemp("contracts-month")
    fleet = write_fleet(
        root / "ledgers", seed=24, hosts=2, vms_per_host=8, days=28, start=START, garbage=False
    )
    reconcile.ingest([fleet.root], root / "store", quiet=True)
    write_tenants(root / "tenants.csv", _resources(root / "store"), seed=24, tenants=4, unattributed=0.2)
    (root / "contracts.toml").write_text(CONTRACTS.format(discount="20"), encoding="utf-8")
    output = root / "out"
    reconcile.run_period(
        root / "store",
        "bundled",
        output,
        "2026-02",
        tenants=root / "tenants.csv",
        contracts=root / "contracts.toml",
        quiet=True,
    )
    return output
