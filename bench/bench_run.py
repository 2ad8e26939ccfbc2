"""How long a period's run takes next to pairing alone, and its peak memory.

Generates a month of ledger (``--lines``, default 1M) under bench/data, ingests it once, then measures
in fresh subprocesses (so each peak RSS is that child's own):

- baseline: pairing the whole store as of the month's end (``reconcile.pair``), no pricing or output;
- a day run (the month's 15th) and the month run (``reconcile run``: pair, price, write, commit);
- a re-run of the same day (the atomic replacement of an existing period).

Prints seconds, the ratio to the baseline, and each child's peak RSS.

    uv run --locked --extra reconcile python bench/bench_run.py --lines 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _child

DATA = _child.data_dir() / "run"
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)

PAIR = """
import sys
from reconcile import pair
from reconcile._core._period import parse_instant
p = pair(sys.argv[1], parse_instant("2026-11-01T00:00:00Z"))
p.intervals.select("interval_id").collect()
"""
RUN = """
import sys
from reconcile import run_period
run_period(sys.argv[1], "bundled", sys.argv[2], sys.argv[3], quiet=True)
"""


def child(code: str, *args: str) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one Python child running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *args], check=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any child so far: report it only when it grew
    return seconds, max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep bench/data/run for a closer look")
    args = parser.parse_args()

    from reconcile import generate_ledger, ingest  # noqa: PLC0415

    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    ledger = DATA / "ledger.jsonl"
    generate_ledger(ledger, lines=args.lines, seed=1, start=START, days=31)
    summary = ingest([ledger], DATA / "store")
    print(f"ledger: {args.lines:,} lines, {summary.events:,} events ingested")

    store = str(DATA / "store")
    base_s, base_mb = child(PAIR, store)
    print(f"baseline  pair the month       {base_s:7.2f} s   1.00x   peak {base_mb:6.0f} MB")
    rows = [
        ("day run 2026-10-15", RUN, (store, str(DATA / "days"), "2026-10-15")),
        ("day re-run (replace)", RUN, (store, str(DATA / "days"), "2026-10-15")),
        ("month run 2026-10", RUN, (store, str(DATA / "month"), "2026-10")),
    ]
    for label, code, child_args in rows:
        seconds, mb = child(code, *child_args)
        print(f"{label:<30} {seconds:7.2f} s  {seconds / base_s:5.2f}x   peak {mb:6.0f} MB (max so far)")
    if not args.keep:
        shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
