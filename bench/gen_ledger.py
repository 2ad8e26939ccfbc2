"""Write a seeded, realistic ledger for the benchmarks and print what was written.

    uv run --locked --extra reconcile python bench/gen_ledger.py --lines 10000000 --seed 1 \
        --out bench/data/ledger-10m.jsonl [--hosts 4] [--garbage 0.0001] [--days 30] [--split]

``--fleet DIR`` writes the per-host fleet layout of ``reconcile.testing.write_fleet`` instead (``--vms`` per
host). ``--json`` prints the figures as one JSON object. Rerunning with the same arguments writes the
same bytes. See ``reconcile.testing`` for what the lines model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from reconcile.testing import DEFAULT_FLEET_START, DEFAULT_START, generate_ledger, write_fleet


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, help="exact number of lines to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="the ledger file to write (replaced), a folder with --split")
    p.add_argument("--split", action="store_true", help="one file per host: OUT/host-a/ledger.jsonl, ...")
    p.add_argument("--hosts", type=int, default=4, help="hosts (zone offsets) writing into the ledger")
    p.add_argument("--days", type=float, help="days covered (default 30 for a ledger, 7 for a fleet)")
    p.add_argument("--start", help="RFC 3339 start instant (default 2026-11-01T00:00:00Z for a ledger)")
    p.add_argument("--garbage", type=float, default=0.0, help="fraction of garbage lines (default 0)")
    p.add_argument("--fleet", type=Path, help="write the fleet layout into this folder instead")
    p.add_argument("--vms", type=int, default=75, help="VMs per host for --fleet")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = p.parse_args(argv)
    start = datetime.fromisoformat(args.start.replace("Z", "+00:00")) if args.start else None
    began = time.perf_counter()
    if args.fleet is not None:
        info = write_fleet(
            args.fleet,
            args.seed,
            hosts=args.hosts,
            vms_per_host=args.vms,
            days=args.days if args.days is not None else 7,
            start=start or DEFAULT_FLEET_START,
            garbage=args.garbage > 0,
        )
        seconds = time.perf_counter() - began
        figures = {
            "fleet": str(info.root),
            "lines": info.lines,
            "events": info.events,
            "duplicates": info.duplicates,
            "rejects": info.rejects,
            "pending": info.pending,
            "seconds": round(seconds, 3),
        }
    else:
        if args.lines is None or args.out is None:
            p.error("--lines and --out are required (or --fleet DIR)")
        (args.out if args.split else args.out.parent).mkdir(parents=True, exist_ok=True)
        stats = generate_ledger(
            args.out,
            lines=args.lines,
            seed=args.seed,
            hosts=args.hosts,
            start=start or DEFAULT_START,
            days=args.days if args.days is not None else 30,
            garbage=args.garbage,
            split=args.split,
            quiet=args.quiet,
        )
        seconds = time.perf_counter() - began
        figures = {
            **asdict(stats),
            "seconds": round(seconds, 3),
            "lines_per_second": round(stats.lines / seconds) if seconds else None,
            "mb_per_second": round(stats.bytes / 1e6 / seconds, 1) if seconds else None,
        }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
