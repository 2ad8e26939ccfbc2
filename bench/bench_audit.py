"""The inventory audit at month-end volume: a month of hourly snapshots against a 10M-event month store.

    flock /work/heavy.lock uv run --locked --extra spark python bench/bench_audit.py \
        [--store /work/data/month-10m-seed5/store] [--month 2026-10] [--every-hours 1] \
        [--inventory /work/data/inventory-month-10m-seed5-1h] [--memory-limit SIZE] [--json]
    uv run --locked --extra reconcile python bench/bench_audit.py --smoke     # seconds: a small fleet

What it measures, each in a fresh interpreter (``_child``), peak memory as the child's max RSS:

- the baseline: DuckDB reading every value of every snapshot file once (a hash of each row's
  columns, summed), the least any audit must do;
- ``reconcile.audit`` of the month (its window, cut-off the month's end) at the default memory
  limit (``RECONCILE_MEMORY_LIMIT`` unset): wall time and its phases (reading the snapshots, the
  walk, the comparison, the money), the ratio to the baseline, peak memory, findings.

The snapshots (generated when the folder lacks them, not measured): what the store's ledger says
ran at each hour (its pairing walk as of the month's end), one Parquet file per instant, with the
platform's truth changed in a few places so the audit has findings to price: one row in 100,000
left out (a missed stop, at that instant), one resource in 5,000 listed with twice its vCPUs from
the month's 10th on (a silent resize), and a few hundred resources the ledger never saw (lost
starts). ``--smoke`` does the same on a ``reconcile.testing`` fleet with its own snapshots.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import _child
from _child import run_child

_BASELINE = """
import sys, duckdb
files = sorted(str(p) for p in __import__('pathlib').Path(sys.argv[1]).rglob('*.parquet'))
con = duckdb.connect(config={'memory_limit': '1500MB'})
rows, _ = con.execute(
    "SELECT count(*), sum(hash(observed_at, family, resource_id, cpu, mem_bytes, storage_bytes, hypervisor))"
    " FROM read_parquet(?)", [files]
).fetchone()
print(rows, len(files))
"""

_AUDIT = """
import json, sys, time
import reconcile
import reconcile._audit as audit_package
phases = {}
def timed(name):
    step = getattr(audit_package, name)
    def run(*args, **kwargs):
        began = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            phases[name] = round(time.perf_counter() - began, 2)
    setattr(audit_package, name, run)
for name in ('read_inventory', 'read_ledger', 'compare', 'price_findings'):
    timed(name)
began = time.perf_counter()
summary = reconcile.audit(sys.argv[1], sys.argv[2], 'bundled', period=sys.argv[3], quiet=True,
                          memory_limit=sys.argv[4] or None)
print(json.dumps({'seconds': time.perf_counter() - began, 'phases': phases, 'findings': len(summary.findings),
                  'counts': summary.counts(), 'rows': summary.rows, 'instants': summary.instants,
                  'events': summary.events, 'at_risk': summary.at_risk()}))
"""


def _generate(store: Path, month: str, every_hours: int, folder: Path) -> None:
    """The month's snapshots from the store's own walk, changed in a few places (module doc)."""
    import duckdb  # noqa: PLC0415 - the parent process needs the engine only to generate

    import reconcile  # noqa: PLC0415
    from reconcile._core._period import parse_period  # noqa: PLC0415

    period = parse_period(month)
    began = time.perf_counter()
    pairing = reconcile.pair(store, period.end_ns, since=period.start_ns)
    intervals = pairing.intervals.select(
        "family",
        "resource_id",
        "hypervisor",
        "status",
        "cpu",
        "mem_bytes",
        "storage_bytes",
        "start_ns",
        "end_ns",
    ).collect()
    print(f"generate: {intervals.height} intervals in {time.perf_counter() - began:.1f} s", file=sys.stderr)
    tmp = folder.with_name(folder.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": "4GB", "temp_directory": str(tmp / ".spill")})
    con.register("iv", intervals.to_arrow())
    con.execute(
        "CREATE TABLE billed AS SELECT * REPLACE (coalesce(end_ns, 9223372036854775807) AS end_ns) FROM iv"
        " WHERE status IN ('closed', 'inferred', 'open') AND (end_ns IS NULL OR end_ns > start_ns)"
    )
    step = every_hours * 3_600_000_000_000
    drift_from = period.start_ns + 9 * 86_400_000_000_000
    for day_start in range(period.start_ns, period.end_ns, 86_400_000_000_000):
        instants = list(range(day_start + step, min(day_start + 86_400_000_000_000, period.end_ns) + 1, step))
        instants = [t for t in instants if t < period.end_ns] or [day_start]
        for at in instants:
            name = dt.datetime.fromtimestamp(at / 1e9, dt.UTC).strftime("snapshot-%Y%m%dT%H%M%SZ.parquet")
            con.execute(
                "COPY (SELECT strftime(make_timestamp_ns(CAST(? AS BIGINT)), '%Y-%m-%dT%H:%M:%SZ')"
                " AS observed_at, family, resource_id,"
                " CASE WHEN family = 'vm.compute' AND hash(resource_id) % 5000 = 7 AND ? >= ? THEN 2 * cpu"
                "      ELSE cpu END AS cpu, mem_bytes, storage_bytes, hypervisor"
                " FROM billed WHERE start_ns <= ? AND end_ns > ? AND hash(resource_id, ?) % 100000 <> 3"
                " UNION ALL SELECT strftime(make_timestamp_ns(CAST(? AS BIGINT)), '%Y-%m-%dT%H:%M:%SZ'),"
                " 'snap.storage', 'ghost-' || i, 0, 0, (1 + i % 50) * 1073741824, 'firecracker'"
                " FROM range(300) AS r(i) WHERE ? >= ? + i * 7200000000000"
                ") TO ? (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)",
                [at, at, drift_from, at, at, at, at, at, period.start_ns, str(tmp / name)],
            )
        print(f"generate: {dt.datetime.fromtimestamp(day_start / 1e9, dt.UTC).date()} done", file=sys.stderr)
    tmp.rename(folder)
    (folder / "complete.json").write_text(
        json.dumps({"store": str(store), "month": month, "every_hours": every_hours})
    )


def _smoke(root: Path) -> tuple[Path, Path, str]:
    import reconcile  # noqa: PLC0415
    from reconcile.testing import write_fleet  # noqa: PLC0415

    fleet = write_fleet(
        root / "ledgers", 3, vms_per_host=20, days=3, lost=0.02, resizes=0.3, garbage=False,
        inventory=root / "inventory", inventory_every=dt.timedelta(hours=4), inventory_format="parquet",
    )  # fmt: skip
    reconcile.ingest([fleet.root], root / "store", quiet=True)
    return root / "store", root / "inventory", "2026-11"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--store",
        type=Path,
        default=_child.data_dir() / "month-10m-seed5" / "store",
        help="a month's store (default: month-10m-seed5/store under $RECONCILE_BENCH_DATA or bench/data)",
    )
    p.add_argument("--month", default="2026-10")
    p.add_argument("--every-hours", type=int, default=1)
    p.add_argument(
        "--inventory",
        type=Path,
        help="snapshot folder (default: inventory-STORE-MONTH-Nh beside the store's folder, made if missing)",
    )
    p.add_argument("--memory-limit", default="", help="the audit's memory limit (default: the engine's)")
    p.add_argument("--smoke", action="store_true", help="a small fleet instead: seconds, for the test suite")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as scratch:
        if args.smoke:
            store, inventory, month = _smoke(Path(scratch))
        else:
            store, month = args.store, args.month
            inventory = args.inventory or (
                store.parent.parent / f"inventory-{store.parent.name}-{args.month}-{args.every_hours}h"
            )
            if not (inventory / "complete.json").is_file():
                _generate(store, month, args.every_hours, inventory)
        out, base_peak = run_child(["-c", _BASELINE, str(inventory)])
        base_seconds = _child.last_wall_seconds
        rows, files = (int(x) for x in out.split())
        out, peak = run_child(["-c", _AUDIT, str(store), str(inventory), month, args.memory_limit])
        wall = _child.last_wall_seconds
        result = json.loads(out)
    figures = {
        "store": str(store),
        "inventory": str(inventory),
        "snapshot_files": files,
        "snapshot_rows": rows,
        "instants": result["instants"],
        "events": result["events"],
        "baseline_seconds": round(base_seconds, 2),
        "baseline_peak_mb": round(base_peak / 2**20),
        "audit_seconds": round(wall, 2),
        "audit_inside_seconds": round(result["seconds"], 2),
        "audit_phases_seconds": result["phases"],
        "ratio_to_baseline": round(wall / base_seconds, 2),
        "audit_peak_mb": round(peak / 2**20),
        "memory_limit": args.memory_limit or "default (1500MB)",
        "findings": result["findings"],
        "counts": result["counts"],
        "at_risk": result["at_risk"],
    }
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
