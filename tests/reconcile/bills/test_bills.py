"""Bill versions, restatement reports, `reconcile diff`, closing a month and its corrections: billed
money never changes silently."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

import reconcile
from helpers.run_fixture import PRICES, add_ingest, ev
from reconcile._analysts._views import connect_output, export_focus, read_relation
from reconcile._bills import _close, _diff
from reconcile._cli import main
from reconcile._core._faults import ENV as FAULT_ENV
from reconcile._output import _bill_versions as _versions
from reconcile._output._manifest import Cause, Replaces
from reconcile.exceptions import CloseError

NOW = dt.datetime(2027, 1, 15, tzinfo=dt.UTC)
HERE = Path(__file__).resolve().parent


def _tenants(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.csv"
    path.write_text(
        "resource_id,tenant_id,valid_from,valid_to\n"
        "vm-0,acme,2026-01-01,\nvm-1,acme,2026-01-01,\nvm-2,globex,2026-01-01,\nvm-3,globex,2026-01-01,\n",
        encoding="utf-8",
    )
    return path


def _fleet() -> list[dict[str, Any]]:
    """Four VMs started in October and running on; vm-4 (no tenant) from November."""
    rows = [
        ev("vm.compute.start", f"vm-{i}", f"2026-10-{10 + i:02d}T0{i}:00:00Z", cpu=2 + i, mem=1 << 30)
        for i in range(4)
    ]
    rows.append(ev("vm.compute.start", "vm-4", "2026-11-02T00:00:00Z", cpu=1, mem=1 << 30))
    return rows


def _late_stop(vm: int, at: str) -> list[dict[str, Any]]:
    return [ev("vm.compute.stop", f"vm-{vm}", at)]


def _run(store: Path, out: Path, period: str, tenants: Path) -> reconcile.RunSummary:
    return reconcile.run_period(store, PRICES, out, period, tenants=tenants, quiet=True, now=NOW)


def _manifest(out: Path, period: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / f"manifests/period={period}/manifest.json").read_text())
    return data


def _invoice(out: Path) -> list[dict[str, Any]]:
    return read_relation("invoice_lines", out).to_dicts()


def _usage(out: Path) -> list[dict[str, Any]]:
    return read_relation("usage_lines", out).to_dicts()


def _by_tenant(rows: list[dict[str, Any]], month: dt.date, *, corrects: bool = False) -> dict[Any, Decimal]:
    """Per tenant: the amounts of lines in ``month`` (or, with ``corrects``, correcting ``month``)."""
    found: dict[Any, Decimal] = defaultdict(Decimal)
    for r in rows:
        if (r.get("corrects_month") if corrects else r["invoice_month"]) == month:
            found[r["tenant_id"]] += r["amount"]
    return dict(found)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def month_store(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A store with the fleet, an output folder of month runs with October run, and the tenants."""
    store, out, tenants = tmp_path / "store", tmp_path / "out", _tenants(tmp_path)
    add_ingest(store, _fleet())
    _run(store, out, "2026-10", tenants)
    return store, out, tenants


# --- versions and the restatement report ---------------------------------------------------------


def test_a_restated_period_keeps_the_version_it_replaced(month_store: tuple[Path, Path, Path]) -> None:
    """Replacing a period keeps its old manifest, usage lines and interval lines under history/, and
    the new manifest names the run it replaced, its totals and why (the late ingest, its line count
    and first file:line)."""
    store, out, tenants = month_store
    old = _manifest(out, "2026-10")
    old_usage = [r for r in _usage(out) if r["invoice_month"] == dt.date(2026, 10, 1)]
    late = add_ingest(store, _late_stop(1, "2026-10-20T00:00:00Z"), source="late.jsonl")
    summary = _run(store, out, "2026-10", tenants)
    kept = out / "history/period=2026-10/version=1"
    assert json.loads((kept / "manifest.json").read_text()) == old
    with duckdb.connect() as con:  # every row of the old version reads back, as it was
        usage, per_interval = _versions.version_lines(con, *_versions.kept_files(kept))
        assert usage.to_arrow_table().to_pylist() == old_usage
        intervals = per_interval.to_arrow_table().to_pylist()
    assert {r["resource_id"] for r in intervals} == {"vm-0", "vm-1", "vm-2", "vm-3"}
    assert {r["run_id"] for r in pq.read_table(kept / "intervals").to_pylist()} == {old["run_id"]}
    new = _manifest(out, "2026-10")
    assert (new["version"], old["version"]) == (2, 1)
    assert new["replaces"]["run_id"] == old["run_id"]
    assert new["replaces"]["totals"] == old["totals"]
    assert new["replaces"]["cause"]["new_ingests"] == [
        {"ingest_id": late, "lines": 1, "first": ["/ledgers/late.jsonl:1"]}
    ]
    assert "late ingest" in new["replaces"]["why"]
    assert "/ledgers/late.jsonl:1" in new["replaces"]["why"]
    assert summary.replaces is not None
    assert summary.replaces.to_json() == new["replaces"]
    assert summary.version == 2


def test_the_same_inputs_are_not_a_new_version(month_store: tuple[Path, Path, Path]) -> None:
    """Re-running a period with the same run_id keeps its version and keeps nothing more."""
    store, out, tenants = month_store
    _run(store, out, "2026-10", tenants)
    assert _manifest(out, "2026-10")["version"] == 1
    assert not (out / "history").exists()


def test_bill_versions_lists_every_version_with_its_total_and_why(
    month_store: tuple[Path, Path, Path],
) -> None:
    """The bill_versions relation holds one row per version and currency, the current one marked,
    totals as the manifests say and why each later version was made."""
    store, out, tenants = month_store
    add_ingest(store, _late_stop(1, "2026-10-20T00:00:00Z"), source="late.jsonl")
    _run(store, out, "2026-10", tenants)
    add_ingest(store, _late_stop(2, "2026-10-25T00:00:00Z"), source="late2.jsonl")
    _run(store, out, "2026-10", tenants)
    rows = read_relation("bill_versions", out).filter(period="2026-10").to_dicts()
    assert [(r["version"], r["current"]) for r in rows] == [(1, False), (2, False), (3, True)]
    assert rows[0]["why"] is None
    assert "late.jsonl:1" in rows[1]["why"]
    assert "late2.jsonl:1" in rows[2]["why"]
    assert rows[2]["total"] == Decimal(_manifest(out, "2026-10")["totals"]["EUR"])
    assert rows[0]["total"] > rows[1]["total"] > rows[2]["total"]  # each stop ends a VM earlier


def test_the_nightly_reports_each_restatement_before_after_and_why(tmp_path: Path) -> None:
    """A nightly that restates a day prints its totals before and after, the difference and the late
    ingest that caused it, in text and --json."""
    store, out, tenants = tmp_path / "store", tmp_path / "out", _tenants(tmp_path)
    add_ingest(store, _fleet())
    ledgers = tmp_path / "ledgers"
    ledgers.mkdir()
    (ledgers / "ledger.jsonl").write_text("")  # the events come through add_ingest
    for day in ("2026-11-03", "2026-11-04", "2026-11-05"):
        _run(store, out, day, tenants)
    before = _manifest(out, "2026-11-03")["totals"]["EUR"]
    add_ingest(store, _late_stop(0, "2026-11-03T12:00:00Z"), source="late.jsonl")
    args = ["nightly", str(ledgers), "--store", str(store), "--output", str(out), "--prices", str(PRICES)]
    args += ["--today", "2026-11-06", "--tenants", str(tenants), "--quiet", "--lookback", "5"]
    add_ingest(store, _late_stop(1, "2026-11-04T12:00:00Z"), source="late-2.jsonl")
    report = _nightly_json(args)
    restated = {r["period"]: r for r in report["restatements"]}
    assert set(restated) == {"2026-11-03", "2026-11-04", "2026-11-05"}
    first = restated["2026-11-03"]
    after = _manifest(out, "2026-11-03")["totals"]["EUR"]
    assert (first["before"]["EUR"], first["after"]["EUR"]) == (before, after)
    assert Decimal(first["difference"]["EUR"]) == Decimal(after) - Decimal(before) < 0
    assert first["cause"]["new_ingests"][0]["first"] == ["/ledgers/late.jsonl:1"]
    assert first["correction_month"] is None


def _nightly_json(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "reconcile._cli", *args, "--json"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_diff_shows_the_lines_and_intervals_that_changed_with_their_events(
    month_store: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`reconcile diff` compares the last two versions: the tenant line that changed by the totals'
    difference, the interval that changed with the stop event's file:line, and why."""
    store, out, tenants = month_store
    add_ingest(store, _late_stop(2, "2026-10-20T00:00:00Z"), source="late.jsonl")
    _run(store, out, "2026-10", tenants)
    diff = _diff.diff_period(out, "2026-10")
    assert (diff.before.number, diff.after.number) == (1, 2)
    assert {(r["tenant_id"], r["meter"]) for r in diff.lines} == {
        ("globex", "vcpu_hours"),
        ("globex", "mem_gib_hours"),
    }
    change = sum(r["difference"] for r in diff.lines)
    assert change == Decimal(diff.totals["EUR"]["difference"]) < 0
    assert {r["resource_id"] for r in diff.intervals} == {"vm-2"}
    assert {r["end_source_after"] for r in diff.intervals} == {"/ledgers/late.jsonl:1"}
    assert {(r["status_before"], r["status_after"]) for r in diff.intervals} == {("open", "closed")}
    assert "late.jsonl:1" in diff.why[0]
    assert main(["diff", "--output", str(out), "--period", "2026-10"]) == 0
    text = capsys.readouterr().out
    assert "version 1" in text
    assert "vm-2" in text
    assert "late.jsonl:1" in text
    assert main(["diff", "--output", str(out), "--period", "2026-10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["to"]["version"] == 2


def test_diff_of_a_period_with_one_version_is_one_clear_line(
    month_store: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """With nothing to compare, `reconcile diff` says so in one line (exit 2), as for an unknown run."""
    _, out, _ = month_store
    assert main(["diff", "--output", str(out), "--period", "2026-10"]) == 2
    assert "has one version only" in capsys.readouterr().err
    assert main(["diff", "--output", str(out), "--period", "2026-10", "--from", "nope"]) == 2
    assert "is not a version of period 2026-10" in capsys.readouterr().err


# --- closing a month and its corrections -----------------------------------------------------------


def test_close_refuses_a_month_with_days_not_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A day-run folder missing days of the month cannot be closed: one line naming how many, exit 1."""
    store, out, tenants = tmp_path / "store", tmp_path / "out", _tenants(tmp_path)
    add_ingest(store, _fleet())
    _run(store, out, "2026-10-31", tenants)
    with pytest.raises(CloseError, match=r"30 of its 31 days have no run .*2026-10-01"):
        _close.close_month(out, "2026-10")
    assert main(["close", "2026-10", "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: month 2026-10 cannot be closed")
    assert err.count("\n") == 1
    assert not (out / "closed").exists()


def test_close_refuses_a_closed_month(month_store: tuple[Path, Path, Path]) -> None:
    """Closing a month twice is refused, and the issued lines stay as they were."""
    _, out, _ = month_store
    summary = _close.close_month(out, "2026-10")
    issued = out / "closed/month=2026-10/issued_lines.parquet"
    digest = _digest(issued)
    with pytest.raises(CloseError, match="is closed already"):
        _close.close_month(out, "2026-10")
    assert _digest(issued) == digest
    assert summary.runs == {"2026-10": _manifest(out, "2026-10")["run_id"]}
    assert summary.totals == _manifest(out, "2026-10")["totals"]


def test_a_closed_month_never_changes_and_corrections_bill_the_difference_once(
    month_store: tuple[Path, Path, Path],
) -> None:
    """After close, a restated October keeps its issued lines byte for byte; November bills
    now-minus-issued per tenant, family and meter, once however often it is recomputed; issued plus
    corrections equals the restated truth per tenant to the cent; a later restatement after November
    is closed is billed in December, only its own difference."""
    store, out, tenants = month_store
    oct1, nov1, dec1 = dt.date(2026, 10, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)
    _close.close_month(out, "2026-10")
    issued_file = out / "closed/month=2026-10/issued_lines.parquet"
    digest, issued = _digest(issued_file), [r for r in _invoice(out) if r["invoice_month"] == oct1]
    add_ingest(store, _late_stop(0, "2026-10-20T00:00:00Z"), source="late.jsonl")
    add_ingest(store, [*_late_stop(3, "2026-10-25T00:00:00Z")], source="late-2.jsonl")
    _run(store, out, "2026-10", tenants)
    _run(store, out, "2026-11", tenants)
    lines = _invoice(out)
    assert [r for r in lines if r["invoice_month"] == oct1] == issued
    assert _digest(issued_file) == digest
    corrections = [r for r in lines if r["charge_class"] == "Correction"]
    assert {r["invoice_month"] for r in corrections} == {nov1}
    assert {r["corrects_month"] for r in corrections} == {oct1}
    truth = _by_tenant(_usage(out), oct1)
    issued_by = _by_tenant(issued, oct1)
    fixed = _by_tenant(corrections, oct1, corrects=True)
    assert {t: issued_by.get(t, 0) + fixed.get(t, 0) for t in truth} == truth
    assert all(r["amount"] < 0 for r in corrections)  # both VMs stopped earlier than billed
    assert {r["amount"] for r in corrections} == {
        Decimal(r["amount_minor"]) / 100 for r in corrections
    }  # whole cents
    nov_total = {r["tenant_id"]: r["invoice_total"] for r in lines if r["invoice_month"] == nov1}
    usage_nov = _by_tenant(_usage(out), nov1)
    assert nov_total == {t: usage_nov.get(t, 0) + fixed.get(t, 0) for t in nov_total}
    # recomputed (another run, the nightly again): the same corrections, never twice
    _run(store, out, "2026-11", tenants)
    assert _invoice(out) == lines
    # November closed with its correction; a further October change is billed in December only
    _close.close_month(out, "2026-11")
    add_ingest(store, _late_stop(1, "2026-10-28T00:00:00Z"), source="late-3.jsonl")
    _run(store, out, "2026-10", tenants)
    later = _invoice(out)
    assert [r for r in later if r["invoice_month"] in (oct1, nov1)] == [
        r for r in lines if r["invoice_month"] in (oct1, nov1)
    ]
    december = [r for r in later if r["invoice_month"] == dec1]
    assert {(r["tenant_id"], r["charge_class"]) for r in december} == {("acme", "Correction")}
    truth = _by_tenant(_usage(out), oct1)
    billed = _by_tenant(issued, oct1)
    for rows in (corrections, december):
        for tenant, amount in _by_tenant(rows, oct1, corrects=True).items():
            billed[tenant] = billed.get(tenant, Decimal(0)) + amount
    assert billed == truth


def test_an_open_month_bills_its_usage_only(month_store: tuple[Path, Path, Path]) -> None:
    """Without a close, invoice_lines are the usage lines (charge_class Usage), the sum of the slices."""
    _, out, _ = month_store
    lines, usage = _invoice(out), _usage(out)
    assert {r["charge_class"] for r in lines} == {"Usage"}
    assert [{k: r[k] for k in usage[0]} for r in lines] == usage


def test_focus_keeps_a_closed_month_as_issued_and_adds_correction_rows(
    month_store: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """The FOCUS export of a closed month is unchanged by a restatement; the open month's export has
    Correction rows billed in it, charged over the corrected month, with the issued and current runs."""
    store, out, tenants = month_store
    _close.close_month(out, "2026-10")
    issued_run = _manifest(out, "2026-10")["run_id"]
    export_focus(out, period="2026-10", to=tmp_path / "oct-before.parquet")
    add_ingest(store, _late_stop(0, "2026-10-20T00:00:00Z"), source="late.jsonl")
    _run(store, out, "2026-10", tenants)
    _run(store, out, "2026-11", tenants)
    export_focus(out, period="2026-10", to=tmp_path / "oct-after.parquet")
    now_known = ["x_IntervalLatestStatus", "x_AnomalyCodes"]  # what is known now, by definition
    after = pq.read_table(tmp_path / "oct-after.parquet").drop_columns(now_known)
    assert after == pq.read_table(tmp_path / "oct-before.parquet").drop_columns(now_known)
    export_focus(out, period="2026-11", to=tmp_path / "nov.parquet")
    rows = pq.read_table(tmp_path / "nov.parquet").to_pylist()
    fixes = [r for r in rows if r["ChargeClass"] == "Correction"]
    assert {(r["SubAccountId"], r["x_Meter"]) for r in fixes} == {
        ("acme", "vcpu_hours"),
        ("acme", "mem_gib_hours"),
    }
    assert {r["BillingPeriodStart"] for r in fixes} == {dt.datetime(2026, 11, 1, tzinfo=dt.UTC)}
    assert {(r["ChargePeriodStart"], r["ChargePeriodEnd"]) for r in fixes} == {
        (dt.datetime(2026, 10, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    }
    assert {r["x_CorrectedRunIds"] for r in fixes} == {issued_run}
    assert {r["x_CorrectingRunIds"] for r in fixes} == {_manifest(out, "2026-10")["run_id"]}
    assert all("late.jsonl:1" in r["x_CorrectionCause"] for r in fixes)
    lines = [r for r in _invoice(out) if r["charge_class"] == "Correction"]
    assert sum(r["BilledCost"] for r in fixes) == sum(r["amount"] for r in lines)


_CLOSE_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from reconcile._bills._close import close_month
close_month({out!r}, "2026-10")
"""


@pytest.mark.parametrize("phase", ["staging", "staged", "journal", "swap", "swapped", "committed"])
def test_a_killed_close_leaves_the_month_closed_or_open_whole(
    month_store: tuple[Path, Path, Path], phase: str
) -> None:
    """`reconcile close` SIGKILLed at any commit phase leaves the month either not closed (and it can
    be closed) or closed with all its files, and the invoice lines are the same either way."""
    _, out, _ = month_store
    lines = _invoice(out)
    script = _CLOSE_SCRIPT.format(tests=str(HERE.parents[1]), out=str(out))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, FAULT_ENV: f"{phase}:kill"},
        capture_output=True,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    con = connect_output(out)  # readers finish an interrupted commit first
    con.close()
    folder = out / "closed/month=2026-10"
    closed = phase not in {"staging", "staged"}
    assert folder.exists() == closed
    assert _close.closed_months(out) == (["2026-10"] if closed else [])
    if closed:
        assert sorted(p.name for p in folder.iterdir()) == ["close.json", "issued_lines.parquet", "slices"]
    else:
        _close.close_month(out, "2026-10")
    assert _invoice(out) == lines
    assert not (out / ".staging").exists()


def test_a_killed_correcting_run_leaves_the_closed_month_and_the_history_whole(
    month_store: tuple[Path, Path, Path],
) -> None:
    """A restatement of a closed month killed after its commit point still ends with the issued lines
    unchanged, the replaced version kept once and the correction billed."""
    store, out, tenants = month_store
    _close.close_month(out, "2026-10")
    issued = _digest(out / "closed/month=2026-10/issued_lines.parquet")
    add_ingest(store, _late_stop(0, "2026-10-20T00:00:00Z"), source="late.jsonl")
    script = (
        f"import sys; sys.path.insert(0, {str(HERE.parents[1])!r})\n"
        "import reconcile, datetime as dt\n"
        f"reconcile.run_period({str(store)!r}, {str(PRICES)!r}, {str(out)!r}, '2026-10',"
        f" tenants={str(tenants)!r}, quiet=True, now=dt.datetime(2027, 1, 15, tzinfo=dt.UTC))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, FAULT_ENV: "swap:kill"},
        capture_output=True,
        check=False,
    )
    assert proc.returncode == -9, proc.stderr.decode()
    lines = _invoice(out)  # recovers the commit
    assert _digest(out / "closed/month=2026-10/issued_lines.parquet") == issued
    assert [p.name for p in (out / "history/period=2026-10").iterdir()] == ["version=1"]
    assert _manifest(out, "2026-10")["version"] == 2
    assert any(r["charge_class"] == "Correction" for r in lines)


def test_a_restatement_line_says_before_after_difference_why_and_the_correction_month() -> None:
    """The nightly's text line for a restated day of a closed month names the totals, the signed
    difference, the cause and the month that bills the correction."""
    from reconcile._run._results import Restatement, RunSummary  # noqa: PLC0415

    run = RunSummary(
        run_id="new",
        period="2026-10-31",
        period_start="",
        period_end="",
        cut_off="",
        output="",
        roles={},
        intervals={},
        anomalies={},
        totals={"EUR": "760.05"},
        totals_exact={},
        totals_by_family={},
        quantities={},
        unattributed_slices=0,
        replaces=Replaces("old", 1, {"EUR": "760.77"}, Cause(), "late ingest x: 2 line(s)"),
    )
    found = Restatement.of(run, {"2026-10", "2026-11"})
    assert found is not None
    assert found.line() == (
        "restated 2026-10-31: EUR 760.77 -> 760.05 (-0.72); late ingest x: 2 line(s); month 2026-10 is"
        " closed: the difference is billed as a correction in 2026-12"
    )


@pytest.mark.slow
def test_the_nightly_says_where_a_closed_month_is_corrected(tmp_path: Path) -> None:
    """A nightly restating days of a closed month (day runs, every day of October run by nightlies)
    says the month is closed and which month bills the correction; October's lines do not move and
    November bills the difference."""
    store, out, tenants = tmp_path / "store", tmp_path / "out", _tenants(tmp_path)
    ledgers = tmp_path / "ledgers"
    ledgers.mkdir()
    (ledgers / "ledger.jsonl").write_text("")
    add_ingest(store, _fleet())
    _run(store, out, "2026-10-01", tenants)

    def night(today: str) -> reconcile.NightlySummary:
        return reconcile.nightly([ledgers], store, out, PRICES, today=today, tenants=tenants, quiet=True)

    night("2026-11-01")  # fills October 2-30, runs the 31st
    _close.close_month(out, "2026-10")
    october = [r for r in _invoice(out) if r["invoice_month"] == dt.date(2026, 10, 1)]
    add_ingest(store, _late_stop(2, "2026-10-29T06:00:00Z"), source="late.jsonl")
    summary = night("2026-11-02")
    assert summary.restated == ["2026-10-29", "2026-10-30", "2026-10-31"]
    assert {r.correction_month for r in summary.restatements} == {"2026-11"}
    lines = _invoice(out)
    assert [r for r in lines if r["invoice_month"] == dt.date(2026, 10, 1)] == october
    fixes = [r for r in lines if r["charge_class"] == "Correction"]
    assert {(r["tenant_id"], r["invoice_month"]) for r in fixes} == {("globex", dt.date(2026, 11, 1))}
    # the month's lines now minus as issued (each rounded once per month line, not per day)
    now = sum(r["amount"] for r in _usage(out) if r["invoice_month"] == dt.date(2026, 10, 1))
    assert sum(r["amount"] for r in fixes) == now - sum(r["amount"] for r in october) < 0
