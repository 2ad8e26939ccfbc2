"""Snapshot files as the audit reads them: three formats, bad rows and files named (file, line, value)
and nothing else lost, and what a bad row leaves unknown."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import reconcile
from reconcile.exceptions import InputError, UsageError
from reconcile.testing import write_fleet

HEADER = "observed_at,family,resource_id,cpu,mem_bytes,storage_bytes,hypervisor\n"
GIB = 1 << 30


def _ledger(path: Path) -> Path:
    """A store: vm-1 runs from 01:00 to 05:00 (2 vCPU, 4 GiB), vm-2 from 01:00 on (1 vCPU, 1 GiB)."""
    lines = [
        '{"kind":"vm.compute.start","vm_id":"vm-1","reason":"boot","hypervisor":"cloud-hypervisor",'
        f'"shape":{{"cpu":2,"mem_bytes":{4 * GIB}}},"emitted_at":"2026-11-20T01:00:00Z"}}',
        '{"kind":"vm.compute.stop","vm_id":"vm-1","reason":"stop-user","hypervisor":"cloud-hypervisor",'
        f'"shape":{{"cpu":2,"mem_bytes":{4 * GIB}}},"emitted_at":"2026-11-20T05:00:00Z"}}',
        '{"kind":"vm.compute.start","vm_id":"vm-2","reason":"boot","hypervisor":"cloud-hypervisor",'
        f'"shape":{{"cpu":1,"mem_bytes":{GIB}}},"emitted_at":"2026-11-20T01:00:00Z"}}',
    ]
    (path / "ledger.jsonl").write_text("\n".join(lines) + "\n")
    reconcile.ingest([path / "ledger.jsonl"], path / "store", quiet=True)
    return path / "store"


def _row(hour: int, vm: str, cpu: object = 2, mem: object = 4 * GIB) -> str:
    return f"2026-11-20T{hour:02d}:00:00Z,vm.compute,{vm},{cpu},{mem},0,cloud-hypervisor\n"


def test_bad_rows_are_named_and_the_rest_is_used(tmp_path: Path) -> None:
    """Each bad row is one line naming the file, the line and the value; the good rows of the same
    file are compared (vm-1 agrees at 02:00), a row whose instant and resource can be read leaves
    only that resource unknown at that instant, and a row naming no resource makes its snapshot
    prove nothing by absence (no missing_stop from it)."""
    store = _ledger(tmp_path)
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "a.csv").write_text(
        HEADER
        + _row(2, "vm-1")
        + _row(2, "vm-2", cpu=-1)
        + "not-a-time,vm.compute,vm-3,1,1,0,x\n"
        + "2026-11-20T03:00:00Z,vm.gpu,vm-4,1,1,0,x\n"
        + _row(3, "vm-1")
        + "2026-11-20T03:00:00Z,vm.compute\n"
    )
    summary = reconcile.audit(store, inv, "bundled", quiet=True)
    shown = [str(b) for b in summary.bad_rows]
    assert shown == [
        f"{inv / 'a.csv'}:3: bad_shape: cpu '-1'",
        f"{inv / 'a.csv'}:4: bad_timestamp: observed_at 'not-a-time'",
        f"{inv / 'a.csv'}:5: unknown_family: family 'vm.gpu'",
        f"{inv / 'a.csv'}:7: malformed: missing columns: 2026-11-20T03:00:00Z,vm.compute",
    ]
    assert summary.bad_counts == {"bad_shape": 1, "bad_timestamp": 1, "malformed": 1, "unknown_family": 1}
    # vm-2 at 02:00: its row is bad, so it is neither trusted nor blamed; at 03:00 the snapshot
    # cannot say what it left out (rows without a resource): vm-2's absence proves nothing
    assert summary.findings == []
    assert summary.instants == 2
    assert summary.rows == 2
    assert summary.incomplete == 2


def test_absence_in_a_complete_snapshot_is_a_missing_stop(tmp_path: Path) -> None:
    """A complete snapshot that leaves out an open interval's resource proves it stopped."""
    store = _ledger(tmp_path)
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "s.csv").write_text(HEADER + _row(2, "vm-1") + _row(3, "vm-1"))
    summary = reconcile.audit(store, inv, "bundled", quiet=True)
    assert [(f.code, f.resource_id, f.snapshots) for f in summary.findings] == [("missing_stop", "vm-2", 2)]
    assert summary.findings[0].direction == "overbilled"


def test_files_that_are_not_snapshots_are_findings_and_the_rest_is_read(tmp_path: Path) -> None:
    """A file of another name, a CSV without the required columns, a Parquet file that is not one and
    an empty file are each one finding naming the file; the gzipped CSV beside them is read."""
    store = _ledger(tmp_path)
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "notes.txt").write_text("hello\n")
    (inv / "short.csv").write_text("observed_at,family,resource_id\n")
    (inv / "bad.parquet").write_bytes(b"PAR1 not really")
    (inv / "empty.csv").write_text("")
    with gzip.open(inv / "good.csv.gz", "wt") as handle:
        handle.write(HEADER + _row(2, "vm-1") + _row(2, "vm-2", cpu=1, mem=GIB))
    summary = reconcile.audit(store, inv, "bundled", quiet=True)
    skipped = {Path(f.path).name: f.code for f in summary.skipped}
    assert skipped == {
        "notes.txt": "not_inventory",
        "short.csv": "bad_header",
        "bad.parquet": "unreadable",
        "empty.csv": "empty",
    }
    assert "missing column(s) cpu, mem_bytes, storage_bytes" in next(
        f.detail for f in summary.skipped if f.code == "bad_header"
    )
    assert summary.files == 1
    assert summary.rows == 2
    assert summary.findings == []


def test_a_resource_listed_twice_differently_is_not_trusted(tmp_path: Path) -> None:
    """Listed twice alike it is counted once; twice with different shapes, neither row is trusted
    (a conflict, counted), so no drift is claimed from it."""
    store = _ledger(tmp_path)
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "s.csv").write_text(
        HEADER
        + _row(2, "vm-1")
        + _row(2, "vm-1")
        + _row(2, "vm-2", cpu=1, mem=GIB)
        + _row(2, "vm-2", cpu=8, mem=GIB)
    )
    summary = reconcile.audit(store, inv, "bundled", quiet=True)
    assert (summary.repeated, summary.conflicts, summary.findings) == (1, 1, [])


def test_paths_that_do_not_exist_or_hold_nothing_are_errors(tmp_path: Path) -> None:
    """A missing path or a folder with no snapshot file stops the audit with one clear error; an
    inventory with no row and no period has no window to audit."""
    store = _ledger(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no such file or folder"):
        reconcile.audit(store, tmp_path / "nope", "bundled", quiet=True)
    with pytest.raises(InputError, match="holds no inventory snapshot file"):
        reconcile.audit(store, tmp_path / "empty", "bundled", quiet=True)
    (tmp_path / "only.csv").write_text(HEADER)
    with pytest.raises(UsageError, match="no snapshot row"):
        reconcile.audit(store, tmp_path / "only.csv", "bundled", quiet=True)


def test_the_generated_inventory_is_deterministic(tmp_path: Path) -> None:
    """The same arguments write the same snapshot bytes, one file per instant (an instant with
    nothing running still has its file)."""
    for name in ("one", "two"):
        info = write_fleet(
            tmp_path / name, 5, hosts=2, vms_per_host=10, days=1, inventory=tmp_path / f"{name}-inv"
        )
        assert len(info.inventory) == 3
        assert info.inventory_rows > 0
    one = sorted((tmp_path / "one-inv").iterdir())
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in sorted((tmp_path / "two-inv").iterdir())]
    assert one[0].read_text().splitlines()[0] == HEADER.strip()


def test_a_snapshot_split_across_files_is_one_snapshot(tmp_path: Path) -> None:
    """Rows sharing observed_at form one snapshot whichever files hold them (a platform exporting
    per host): each file alone leaves out a running VM, together they list both."""
    store = _ledger(tmp_path)
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "host-a.csv").write_text(HEADER + _row(2, "vm-1"))
    (inv / "host-b.jsonl").write_text(
        '{"observed_at":"2026-11-20T03:00:00+01:00","family":"vm.compute","resource_id":"vm-2","cpu":1,'
        f'"mem_bytes":{GIB},"storage_bytes":0}}\n'
    )
    summary = reconcile.audit(store, inv, "bundled", quiet=True)
    assert (summary.instants, summary.rows, summary.findings) == (1, 2, [])
