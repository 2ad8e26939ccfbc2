"""A day's run with a tenant table of many validity ranges for one resource: time linear in the table.

One VM runs through a day of a small generated store; its tenant changes every ``86400 / N`` seconds
of that day (N ranges, one slice each). The day is run (``reconcile run``, in a fresh interpreter, its
start and imports not counted) with no tenant table, N = ``--small`` and N = 10 x ``--small`` ranges:
what the ranges add to the run grows 10x for linear time (issue #28: 20,000 ranges took 15 s and
200,000 minutes when every slice was compared with every range of its resource).

    flock /work/heavy.lock uv run --locked --extra reconcile python bench/bench_tenants.py [--small 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _child

DATA = Path(__file__).resolve().parent / "data" / "tenants"
DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
NS = 10**9

CHILD = """
import json, sys, time
from reconcile import run_period
import reconcile._run._session
store, out, tenants = sys.argv[1:4]
started = time.perf_counter()
s = run_period(store, "bundled", out, "2026-11-20", tenants=None if tenants == "-" else tenants, quiet=True)
print(json.dumps({"seconds": time.perf_counter() - started, "slices": s.rows["slices"] if s.rows else 0}))
"""


def _stamp(ns: int) -> str:
    seconds, rest = divmod(ns, NS)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:09d}Z"


def _tenants(path: Path, resource: str, ranges: int) -> None:
    start = int(DAY.timestamp()) * NS
    step = 86_400 * NS // ranges
    with path.open("w", encoding="utf-8") as fh:
        fh.write("resource_id,tenant_id,valid_from,valid_to\n")
        for i in range(ranges):
            fh.write(f"{resource},t{i % 7},{_stamp(start + i * step)},{_stamp(start + (i + 1) * step)}\n")


def _run(store: Path, tenants: Path | None, out: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    text, _peak = _child.run_child(
        ["-c", CHILD, str(store), str(out), "-" if tenants is None else str(tenants)]
    )
    return json.loads(text)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--small", type=int, default=20_000, help="ranges of the smaller table (default 20000)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="runs of each (best of)")
    args = parser.parse_args()
    from reconcile import generate_ledger, ingest  # noqa: PLC0415
    from reconcile._store._reader import Store  # noqa: PLC0415

    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    ledger = DATA / "ledger.jsonl"
    generate_ledger(
        ledger, lines=20_000, seed=2, hosts=2, start=DAY - dt.timedelta(days=2), days=3, quiet=True
    )
    ingest([ledger], DATA / "store")
    store = Store(DATA / "store")
    events = store.read_table("events").to_pylist()
    # a VM started before the day and not stopped in it: one interval through the whole day
    day_ns = int(DAY.timestamp()) * NS
    compute = [e for e in events if e["family"] == "vm.compute"]
    started = {e["resource_id"] for e in compute if e["endpoint"] == "start" and e["emitted_ns"] < day_ns}
    stopped = {
        e["resource_id"]
        for e in compute
        if e["endpoint"] == "stop" and e["emitted_ns"] < day_ns + 86_400 * NS
    }
    resource = sorted(started - stopped)[0]
    figures = {}
    for ranges in (None, args.small, 10 * args.small):
        tenants = None if ranges is None else DATA / f"tenants-{ranges}.csv"
        if tenants is not None:
            _tenants(tenants, resource, ranges)
        best = min(
            (_run(DATA / "store", tenants, DATA / "out") for _ in range(args.rounds)),
            key=lambda r: r["seconds"],
        )
        figures[ranges] = best
        label = "no tenant table" if ranges is None else f"{ranges:,} ranges of {resource}"
        print(f"{label:<40} {best['seconds']:7.2f} s   {int(best['slices']):>9,} slice rows")
    base = figures[None]["seconds"]
    small, large = (figures[n]["seconds"] - base for n in (args.small, 10 * args.small))
    print(
        f"over the run without tenants: {small:.2f} s for {args.small:,} ranges, {large:.2f} s for"
        f" {10 * args.small:,}: {large / small:.1f}x the time for 10x the ranges (linear: 10x; the range"
        " join it replaced: 100x)"
    )
    shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
