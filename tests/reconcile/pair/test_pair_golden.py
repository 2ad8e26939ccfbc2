"""Golden pairing cases: one ledger per producer pattern and per anomaly code (tests/data/pairing).

Each `<case>.jsonl` is a small ledger; `<case>.expected.json` lists, per run (cut-off and options),
the intervals (`start line -> end line status`), the anomalies (`code line [interval start line]`)
and the role of every line, as a person would read them off the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import reconcile
from helpers.pairing_ledger import events_from_ledger, events_table, parse_instant_ns
from helpers.pairing_model import model_pair

CASES = Path(__file__).resolve().parents[2] / "data" / "pairing"
CASE_NAMES = sorted(p.name.removesuffix(".jsonl") for p in CASES.glob("*.jsonl"))


def _runs() -> list[Any]:
    params = []
    for name in CASE_NAMES:
        expected = json.loads((CASES / f"{name}.expected.json").read_text(encoding="utf-8"))
        for i, run in enumerate(expected["runs"]):
            params.append(pytest.param(name, run, id=f"{name}-{i}"))
    return params


def _line(source: str | None) -> str:
    assert source is not None
    file, _, line = source.rpartition(":")
    assert file.endswith(".jsonl")
    return line


def _render(pairing: reconcile.Pairing) -> tuple[list[str], list[str]]:
    intervals = []
    for row in pairing.intervals.collect().iter_rows(named=True):
        end = "open" if row["status"] == "open" else _line(row["end_source"])
        status = "" if row["status"] == "open" else f" {row['status']}"
        intervals.append(f"{_line(row['start_source'])} -> {end}{status}")
    rows = pairing.intervals.collect().iter_rows(named=True)
    by_id = {row["interval_id"]: _line(row["start_source"]) for row in rows}
    anomalies = []
    for row in pairing.anomalies.collect().iter_rows(named=True):
        text = f"{row['code']} {row['source_line']}"
        if row["interval_id"] is not None:
            text += f" interval {by_id[row['interval_id']]}"
        anomalies.append(text)
    return sorted(intervals), sorted(anomalies)


@pytest.mark.parametrize(("name", "run"), _runs())
def test_golden_case_pairs_as_expected(name: str, run: dict[str, Any]) -> None:
    """Intervals, anomalies and roles of each golden ledger are exactly the ones written down."""
    events = events_from_ledger(CASES / f"{name}.jsonl", source_file=f"{name}.jsonl")
    cut_off_ns = parse_instant_ns(run["cut_off"])
    stale = run.get("stale_after_s")
    pairing = reconcile.pair(
        events_table(events),
        cut_off_ns,
        double_start=run.get("double_start", "close"),
        stale_after=dt.timedelta(seconds=stale) if stale is not None else None,
    )
    intervals, anomalies = _render(pairing)
    assert intervals == sorted(run["intervals"])
    assert anomalies == sorted(run["anomalies"])
    line_of = {e.event_id: e.source_line for e in events}
    roles: dict[str, list[int]] = {"start": [], "stop": [], "unmatched_stop": []}
    for row in pairing.roles.collect().iter_rows(named=True):
        roles[row["role"]].append(line_of[row["event_id"]])
    assert {k: sorted(v) for k, v in roles.items()} == run["roles"]
    # and every line before the cut-off has exactly one role
    before = sorted(e.source_line for e in events if e.emitted_ns < cut_off_ns)
    assert sorted(line for lines in roles.values() for line in lines) == before


@pytest.mark.parametrize(("name", "run"), _runs())
def test_golden_case_agrees_with_model(name: str, run: dict[str, Any]) -> None:
    """The reference model reads each golden ledger the same way as the SQL (and the expectations)."""
    events = events_from_ledger(CASES / f"{name}.jsonl", source_file=f"{name}.jsonl")
    cut_off_ns = parse_instant_ns(run["cut_off"])
    stale = run.get("stale_after_s")
    model = model_pair(
        events,
        cut_off_ns,
        run.get("double_start", "close"),
        stale * 1_000_000_000 if stale is not None else None,
    )
    line_of = {e.event_id: e.source_line for e in events}
    rendered = sorted(
        f"{line_of[i['start_event_id']]} -> "
        + ("open" if i["status"] == "open" else f"{line_of[i['end_event_id']]} {i['status']}")
        for i in model.intervals
    )
    assert rendered == sorted(run["intervals"])
    anomalies = sorted(
        f"{a['code']} {a['source_line']}"
        + (f" interval {line_of[a['interval_id']]}" if a["interval_id"] else "")
        for a in model.anomalies
    )
    assert anomalies == sorted(run["anomalies"])


def test_every_golden_case_has_expectations() -> None:
    """Each golden ledger has its expected results, and the set covers every pattern and anomaly."""
    assert {
        "restart",
        "restore",
        "predates_metering",
        "backdated_crash",
        "out_of_order",
        "double_start",
        "orphan_stop",
        "double_stop",
        "shape_mismatch",
        "stale_open",
    } <= set(CASE_NAMES)
    codes = set()
    for name in CASE_NAMES:
        assert (CASES / f"{name}.expected.json").is_file()
        for run in json.loads((CASES / f"{name}.expected.json").read_text(encoding="utf-8"))["runs"]:
            codes |= {a.split()[0] for a in run["anomalies"]}
    assert codes == {"double_start", "orphan_stop", "double_stop", "shape_mismatch", "stale_open"}


def test_golden_columns_have_contract_types() -> None:
    """The three frames carry the contract's column names and types (pricing builds on them)."""
    events = events_from_ledger(CASES / "double_start.jsonl", source_file="double_start.jsonl")
    pairing = reconcile.pair(events_table(events), parse_instant_ns("2026-05-06T00:00:00Z"))
    s, n, t = pl.String, pl.Int64, pl.Datetime("ns", "UTC")
    assert dict(pairing.intervals.collect_schema()) == {
        "interval_id": s,
        "family": s,
        "resource_id": s,
        "vm_id": s,
        "snapshot_id": s,
        "source_snapshot_id": s,
        "hypervisor": s,
        "cpu": n,
        "mem_bytes": n,
        "storage_bytes": n,
        "start_at": t,
        "end_at": t,
        "start_ns": n,
        "end_ns": n,
        "start_reason": s,
        "end_reason": s,
        "status": s,
        "start_source": s,
        "end_source": s,
        "start_event_id": s,
        "end_event_id": s,
        "end_cpu": n,
        "end_mem_bytes": n,
        "end_storage_bytes": n,
    }
    assert dict(pairing.anomalies.collect_schema()) == {
        "code": s,
        "family": s,
        "resource_id": s,
        "at": t,
        "at_ns": n,
        "source_file": s,
        "source_line": n,
        "event_id": s,
        "interval_id": s,
        "detail": s,
    }
    assert dict(pairing.roles.collect_schema()) == {"event_id": s, "role": s}
