"""`--contracts` on `reconcile run` and `reconcile nightly`, `contracts = "..."` in the nightly's config
file and RECONCILE_CONTRACTS: the file is used, and a bad one is one line `error: ...`, exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from helpers.run_fixture import GIB, PRICES, ev, make_store
from reconcile._run._config import resolve

RECONCILE = str(Path(sys.executable).with_name("reconcile"))
EVENTS = [
    ev("vm.compute.start", "vm-1", "2026-10-15T01:00:00Z", cpu=2, mem=GIB, reason="boot"),
    ev("vm.compute.stop", "vm-1", "2026-10-15T05:00:00Z", cpu=2, mem=GIB, reason="stop-user"),
]
CONTRACT = """currency = "EUR"
[[contract]]
tenant = "acme"
effective_from = 2026-10-01
discount = "50"
"""


def _setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    store = make_store(tmp_path / "store", EVENTS)
    tenants = tmp_path / "tenants.csv"
    tenants.write_text("resource_id,tenant_id\nvm-1,acme\n", encoding="utf-8")
    contracts = tmp_path / "contracts.toml"
    contracts.write_text(CONTRACT, encoding="utf-8")
    return store, tenants, contracts


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RECONCILE, *args], capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )


def _run_args(store: Path, tenants: Path, out: Path) -> list[str]:
    return ["run", "--store", str(store), "--prices", str(PRICES), "--output", str(out), "--period",
            "2026-10-15", "--tenants", str(tenants), "--quiet", "--json"]  # fmt: skip


def test_run_with_contracts_halves_the_bill_and_a_bad_file_is_one_line(tmp_path: Path) -> None:
    """`--contracts` with 50% off gives half the list total (and another run_id); the same file through
    RECONCILE_CONTRACTS gives the same run_id; a file with a bad discount exits 1 with one line naming
    the file, the contract and the value, writing nothing."""
    store, tenants, contracts = _setup(tmp_path)
    plain = _run(*_run_args(store, tenants, tmp_path / "plain"))
    assert plain.returncode == 0, plain.stderr
    listed = json.loads(plain.stdout)
    done = _run(*_run_args(store, tenants, tmp_path / "out"), "--contracts", str(contracts))
    assert done.returncode == 0, done.stderr
    charged = json.loads(done.stdout)
    assert charged["run_id"] != listed["run_id"]
    assert Decimal(charged["totals"]["EUR"]) * 2 == Decimal(listed["totals"]["EUR"])
    by_env = _run(*_run_args(store, tenants, tmp_path / "env"), env={"RECONCILE_CONTRACTS": str(contracts)})
    assert json.loads(by_env.stdout)["run_id"] == charged["run_id"]

    bad = tmp_path / "bad.toml"
    bad.write_text(CONTRACT.replace('"50"', '"150"'), encoding="utf-8")
    failed = _run(*_run_args(store, tenants, tmp_path / "bad-out"), "--contracts", str(bad))
    assert failed.returncode == 1
    lines = failed.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), failed.stderr
    assert str(bad) in lines[0]
    assert "150" in failed.stderr
    assert not (tmp_path / "bad-out" / "manifests").exists()


def test_nightly_takes_contracts_from_its_option_config_file_and_environment(tmp_path: Path) -> None:
    """The nightly's contracts come from --contracts, the config file's `contracts` or
    RECONCILE_CONTRACTS, in that order."""
    config = tmp_path / "nightly.toml"
    config.write_text(
        'paths = ["/l"]\nstore = "/s"\noutput = "/o"\nprices = "p"\ncontracts = "/etc/contracts.toml"\n',
        encoding="utf-8",
    )
    assert resolve({"config": str(config)}, environ={})["contracts"] == "/etc/contracts.toml"
    env = {"RECONCILE_CONTRACTS": "/env/contracts.toml"}
    assert resolve({"config": str(config)}, environ=env)["contracts"] == "/env/contracts.toml"
    assert resolve({"contracts": "/cli.toml", "config": str(config)}, environ=env)["contracts"] == "/cli.toml"


def test_nightly_with_a_missing_contracts_file_is_one_line(tmp_path: Path) -> None:
    """A contracts file that does not exist stops the nightly before it runs: one line, exit 1."""
    store, tenants, _ = _setup(tmp_path)
    ledger = tmp_path / "ledgers"
    ledger.mkdir()
    (ledger / "ledger.jsonl").write_text("")
    failed = _run(
        "nightly", str(ledger), "--store", str(store), "--output", str(tmp_path / "out"), "--prices",
        str(PRICES), "--today", "2026-10-16", "--tenants", str(tenants), "--contracts",
        str(tmp_path / "missing.toml"), "--quiet",
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.startswith("error: ")
    assert "missing.toml" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
