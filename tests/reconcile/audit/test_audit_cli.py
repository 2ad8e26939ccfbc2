"""`reconcile audit` and the nightly's --inventory from the command line: JSON, the output's relation,
the proposal file, --fail-on inventory, the environment and usage errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import reconcile
from reconcile._cli import main
from reconcile._run._config import resolve
from reconcile.testing import write_fleet
from recorder import Entry

START = dt.datetime(2026, 11, 18, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hosts for three days losing 5% of their lines, snapshots every 4 hours, ingested."""
    root = tmp_path_factory.mktemp("audit-cli")
    write_fleet(
        root / "ledgers",
        8,
        hosts=2,
        vms_per_host=15,
        days=3,
        lost=0.05,
        garbage=False,
        start=START,
        inventory=root / "inventory",
        inventory_every=dt.timedelta(hours=4),
    )
    reconcile.ingest([root / "ledgers"], root / "store", quiet=True)
    return root


def _audit_args(root: Path, *extra: str) -> list[str]:
    return [
        "audit",
        "--store",
        str(root / "store"),
        "--inventory",
        str(root / "inventory"),
        "--prices",
        "bundled",
        "--quiet",
        *extra,
    ]


def test_json_lists_every_finding_with_its_money(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints {"findings": [...]} with code, resource, tenant and the two exact amounts."""
    assert main(_audit_args(small, "--json")) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["findings"]
    first = document["findings"][0]
    assert {"code", "family", "resource_id", "tenant_id", "at_risk_min", "at_risk_max", "direction"} <= set(
        first
    )
    assert all(f["code"] in ("missing_start", "missing_stop", "shape_drift") for f in document["findings"])
    assert all(
        0 <= float(f["at_risk_min"]) <= float(f["at_risk_max"]) and "e" not in f["at_risk_max"]
        for f in document["findings"]
    )
    assert sum(document["counts"].values()) == len(document["findings"])


def test_output_and_proposal_are_written_for_people(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output writes the relation inventory_findings (read with `reconcile sql`); --propose writes a
    ledger file of recorder lines whose reasons say they came from the audit, and refuses to
    overwrite one."""
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                "--store",
                str(small / "store"),
                "--prices",
                "bundled",
                "--output",
                str(out),
                "--period",
                "2026-11-19",
                "--quiet",
            ]
        )
        == 0
    )
    proposal = tmp_path / "proposal.jsonl"
    assert main(_audit_args(small, "--output", str(out), "--propose", str(proposal))) == 0
    text = capsys.readouterr().out
    assert "findings written to" in text
    assert f"line(s) in {proposal}" in text
    rows = reconcile.read_relation("inventory_findings", out)
    assert rows.height > 0
    assert str(rows.schema["at_risk_max"]) == "Decimal(precision=38, scale=12)"
    lines = proposal.read_bytes().splitlines()
    assert len(lines) == sum(1 for p in rows["proposed"].to_list() if p for _ in p.split("; "))
    entries = [Entry.from_line(line) for line in lines]
    assert {str(e.reason) for e in entries} <= {
        "audit-missing-start",
        "audit-missing-stop",
        "audit-shape-drift",
    }
    assert [e.emitted_at for e in entries] == sorted(e.emitted_at for e in entries)
    assert main(_audit_args(small, "--propose", str(proposal))) == 2
    assert "the file exists" in capsys.readouterr().err


def test_the_midpoint_policy_places_instants_inside_the_same_ranges(small: Path, tmp_path: Path) -> None:
    """Customer's favour puts a start at the first instant seen running and a stop 1 us after the
    last; midpoint places each inside the same range (missed_after, missed_by]."""
    customer = reconcile.audit(small / "store", small / "inventory", "bundled", quiet=True)
    midpoint = reconcile.audit(small / "store", small / "inventory", "bundled", quiet=True, policy="midpoint")
    assert [f.to_json()["at_risk_max"] for f in customer.findings] == [
        f.to_json()["at_risk_max"] for f in midpoint.findings
    ]
    for a, b in zip(customer.findings, midpoint.findings, strict=True):
        first_a, first_b = a.proposed[0], b.proposed[0]
        assert a.missed_after_ns < first_b.at_ns <= a.missed_by_ns
        if a.code == "missing_start":
            assert first_a.at_ns == a.missed_by_ns - a.missed_by_ns % 1000
        if a.code == "missing_stop":
            assert first_a.at_ns - a.missed_after_ns <= 1000


def test_usage_errors_name_the_value(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An output folder that does not exist, a bad period and a missing option are usage errors
    (exit 2, one line)."""
    assert main(_audit_args(small, "--output", str(tmp_path / "nope"))) == 2
    assert "--output" in capsys.readouterr().err
    assert main(_audit_args(small, "--period", "2026-13")) == 2
    assert "2026-13" in capsys.readouterr().err
    assert main(["audit", "--store", str(small / "store"), "--prices", "bundled"]) == 2


def _nightly(root: Path, out: Path, *extra: str) -> list[str]:
    return [
        "nightly",
        str(root / "ledgers"),
        "--store",
        str(root / "store"),
        "--output",
        str(out),
        "--prices",
        "bundled",
        "--today",
        "2026-11-21",
        "--lookback",
        "2",
        "--quiet",
        *extra,
    ]


def test_the_nightly_audits_its_window_and_fails_on_inventory(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --inventory the nightly audits the lookback window's snapshots after committing its days,
    counts the findings in its summary, writes them to the output, and --fail-on inventory exits 3
    saying how many and the money at risk."""
    out = tmp_path / "out"
    assert main(_nightly(small, out, "--inventory", str(small / "inventory"), "--fail-on", "inventory")) == 3
    captured = capsys.readouterr()
    assert "inventory: findings: " in captured.out
    assert "error: inventory: " in captured.err
    assert "finding(s)" in captured.err
    assert "at risk" in captured.err
    assert (out / "manifests/period=2026-11-20/manifest.json").is_file()  # committed first
    found = reconcile.read_relation("inventory_findings", out)
    assert found.height > 0
    assert str(found["window_start"][0]) == "2026-11-18 00:00:00+00:00"
    assert main(_nightly(small, out, "--inventory", str(small / "inventory"), "--json")) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["inventory"]["findings"]) == found.height


def test_the_nightly_says_when_no_snapshot_reached_its_window(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Snapshots that stopped arriving fail the night with --fail-on inventory: none in the window."""
    old = tmp_path / "old.csv"
    old.write_text(
        "observed_at,family,resource_id,cpu,mem_bytes,storage_bytes\n2026-10-01T00:00:00Z,vm.compute,x,1,1,0\n"
    )
    assert main(_nightly(small, tmp_path / "out", "--inventory", str(old), "--fail-on", "inventory")) == 3
    assert "inventory: no snapshot in the window [2026-11-18T00:00:00Z" in capsys.readouterr().err


def test_fail_on_inventory_needs_inventory_and_the_environment_gives_it(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fail-on inventory without --inventory is a usage error; RECONCILE_INVENTORY (paths split by
    ':') and the config file's inventory set it."""
    assert main(_nightly(small, tmp_path / "out", "--fail-on", "inventory")) == 2
    assert "--fail-on inventory needs --inventory" in capsys.readouterr().err
    env = {"RECONCILE_INVENTORY": "/a:/b"}
    assert resolve({"paths": ["/l"], "store": "s", "output": "o", "prices": "p"}, environ=env)[
        "inventory"
    ] == ["/a", "/b"]
    config = tmp_path / "n.toml"
    config.write_text('inventory = "/snapshots"\n')
    assert resolve(
        {"config": str(config), "paths": ["/l"], "store": "s", "output": "o", "prices": "p"}, environ={}
    )["inventory"] == ["/snapshots"]
