"""Incremental restatement (``_reuse``): a re-run after a late ingest recomputes only the resources it
touched and writes exactly the rows of a full recomputation; it falls back to a full one whenever
reuse would not be sound or would not pay."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

import reconcile
from helpers.run_fixture import PRICES, add_ingest, ev, output_rows

DAY = dt.date(2026, 11, 10)


def _fleet(vms: int = 10) -> list[dict[str, Any]]:
    """``vms`` VMs started the day before DAY and running through it; a snapshot too."""
    before = (DAY - dt.timedelta(days=1)).isoformat()
    rows = [
        ev("vm.compute.start", f"vm-{i}", f"{before}T{i:02d}:00:00Z", cpu=2, mem=1 << 30) for i in range(vms)
    ]
    rows.append(ev("snap.storage.start", "snap-1", f"{before}T12:00:00Z", storage=1 << 30))
    return rows


def _late(*vms: int) -> list[dict[str, Any]]:
    """Crash stops of the given VMs at 03:00 on DAY, arriving late."""
    return [ev("vm.compute.stop", f"vm-{i}", f"{DAY.isoformat()}T03:00:00Z") for i in vms]


def _manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / f"manifests/period={DAY.isoformat()}/manifest.json").read_text())
    return data


def _run(store: Path, out: Path, prices: Path = PRICES) -> reconcile.RunSummary:
    return reconcile.run_period(store, prices, out, DAY.isoformat(), quiet=True)


def _fresh(store: Path, tmp_path: Path, prices: Path = PRICES) -> dict[str, Any]:
    """The rows of a full recomputation of DAY (a new output folder)."""
    out = tmp_path / "fresh"
    shutil.rmtree(out, ignore_errors=True)
    _run(store, out, prices)
    assert _manifest(out)["reused"] is None
    return output_rows(out)


def test_a_late_stop_recomputes_its_resource_only(tmp_path: Path) -> None:
    """After a late stop of one VM, the re-run keeps every other resource's committed rows (under the
    new run_id) and its rows and manifest are exactly those of a full recomputation."""
    store, out = tmp_path / "store", tmp_path / "out"
    add_ingest(store, _fleet())
    first = _run(store, out)
    late = add_ingest(store, _late(3), source="late.jsonl")
    second = _run(store, out)
    assert second.run_id != first.run_id
    assert _manifest(out)["reused"] == {"run_id": first.run_id, "new_ingests": [late]}
    assert output_rows(out) == _fresh(store, tmp_path)
    slices = pq.read_table(out / f"slices/usage_date={DAY.isoformat()}/data_0.parquet").to_pylist()
    assert {r["run_id"] for r in slices} == {second.run_id}
    vm3 = [r for r in slices if r["resource_id"] == "vm-3"]
    assert vm3
    assert all(r["slice_end"].hour == 3 for r in vm3)  # the interval now ends at the stop


def test_reuse_runs_through_several_restatements(tmp_path: Path) -> None:
    """Each late file restates the day again from the previous restatement's rows; still exact."""
    store, out = tmp_path / "store", tmp_path / "out"
    add_ingest(store, _fleet())
    _run(store, out)
    for vm in (1, 2):
        add_ingest(store, _late(vm), source=f"late-{vm}.jsonl")
        _run(store, out)
        assert _manifest(out)["reused"] is not None
        assert output_rows(out) == _fresh(store, tmp_path)


def test_no_reuse_when_the_price_book_changes(tmp_path: Path) -> None:
    """Another price book (another price_version) recomputes every row."""
    store, out = tmp_path / "store", tmp_path / "out"
    add_ingest(store, _fleet())
    _run(store, out)
    add_ingest(store, _late(3), source="late.jsonl")
    book = tmp_path / "prices.toml"
    book.write_text(PRICES.read_text() + "\n# reviewed again\n")
    _run(store, out, book)
    assert _manifest(out)["reused"] is None
    assert output_rows(out) == _fresh(store, tmp_path, book)


def test_no_reuse_of_files_that_do_not_hold_their_manifests_rows(tmp_path: Path) -> None:
    """A committed file whose row count differs from its manifest's is not trusted: all recomputed."""
    store, out = tmp_path / "store", tmp_path / "out"
    add_ingest(store, _fleet())
    _run(store, out)
    intervals = out / f"intervals/period={DAY.isoformat()}/data_0.parquet"
    table = pq.read_table(intervals)
    pq.write_table(table.slice(1), intervals)  # a row lost outside the engine
    add_ingest(store, _late(3), source="late.jsonl")
    _run(store, out)
    assert _manifest(out)["reused"] is None
    assert output_rows(out) == _fresh(store, tmp_path)


def test_no_reuse_without_a_new_ingest_or_when_most_resources_changed(tmp_path: Path) -> None:
    """A forced re-run of the same inputs recomputes all (a repair); so does one whose late file
    touches over half the committed intervals' resources."""
    store, out = tmp_path / "store", tmp_path / "out"
    add_ingest(store, _fleet())
    _run(store, out)
    _run(store, out)
    assert _manifest(out)["reused"] is None
    add_ingest(store, _late(*range(7)), source="late.jsonl")
    _run(store, out)
    assert _manifest(out)["reused"] is None
    assert output_rows(out) == _fresh(store, tmp_path)


def test_a_full_walk_never_reuses(tmp_path: Path) -> None:
    """The reference path (full_walk) recomputes everything, as it reads no checkpoint either."""
    store, out = tmp_path / "store", tmp_path / "out"
    add_ingest(store, _fleet())
    _run(store, out)
    add_ingest(store, _late(3), source="late.jsonl")
    reconcile.run_period(store, PRICES, out, DAY.isoformat(), quiet=True, full_walk=True)
    assert _manifest(out)["reused"] is None
