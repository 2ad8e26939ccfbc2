"""Ingest speed and memory, each figure next to a baseline measured in the same run.

    uv run --locked --extra reconcile python bench/bench_ingest.py [--lines 10000000] [--large 50000000]
        [--garbage 0.0001] [--keep] [--json]

Writes a seeded realistic ledger of ``--lines`` lines under bench/data (``reconcile.generate_ledger``),
then, each in its own child process (wall time measured in the child around the work only, peak RSS
of that child from ``os.wait4``):

- baseline: DuckDB's own JSON reader parsing the file to an Arrow table (explicit columns,
  ``ignore_errors`` for the garbage lines);
- ingest: ``reconcile.ingest`` of the file into an empty store (parse, classify, de-duplicate, write
  zstd Parquet, commit).

Prints the ratio ingest / baseline (target <= 2.5) and both peaks (target < 2 GB). With ``--large N``
it also ingests an N-line ledger and prints its peak next to the first one's (target: no higher).
Generated files are deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from _child import run_child
from reconcile import generate_ledger

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"

BASELINE = """
import sys, time, duckdb
path = sys.argv[1]
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
started = time.perf_counter()
table = con.sql(
    "SELECT * FROM read_json(?, format='newline_delimited', ignore_errors=true, columns={"
    "kind: 'VARCHAR', vm_id: 'VARCHAR', snapshot_id: 'VARCHAR', source_snapshot_id: 'VARCHAR',"
    "reason: 'VARCHAR', hypervisor: 'VARCHAR',"
    "shape: 'STRUCT(cpu BIGINT, mem_bytes BIGINT, storage_bytes BIGINT)', emitted_at: 'VARCHAR'})",
    params=[path],
).to_arrow_table()
print(time.perf_counter() - started, table.num_rows)
"""

INGEST = """
import sys, time
from reconcile import ingest
started = time.perf_counter()
summary = ingest([sys.argv[1]], sys.argv[2], quiet=True)
print(time.perf_counter() - started, summary.events, summary.lines, summary.duplicates, summary.rejected)
"""


def _child(code: str, *args: str) -> tuple[list[str], float]:
    """Run ``code`` in a fresh interpreter; its stdout words and its peak RSS in MB."""
    out, rss = run_child(["-c", code, *args])
    return out.split(), rss / 2**20


def _ledger(lines: int, garbage: float) -> Path:
    path = DATA / f"ingest-{lines}.jsonl"
    DATA.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    generate_ledger(path, lines=lines, seed=1, garbage=garbage)
    size = path.stat().st_size
    print(f"ledger: {lines:,} lines, {size / 1e9:.2f} GB, written in {time.perf_counter() - started:.1f} s")
    return path


def _ingest(path: Path) -> tuple[float, float, list[str]]:
    store = DATA / f"store-{path.stem}"
    shutil.rmtree(store, ignore_errors=True)
    try:
        words, rss = _child(INGEST, str(path), str(store))
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return float(words[0]), rss, words[1:]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=10_000_000)
    p.add_argument("--large", type=int, default=0, help="also ingest a ledger of this many lines")
    p.add_argument(
        "--garbage", type=float, default=0.0, help="fraction of garbage lines (default 0: as Go writes)"
    )
    p.add_argument("--keep", action="store_true", help="keep the generated ledgers")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    args = p.parse_args(argv)

    path = _ledger(args.lines, args.garbage)
    figures: dict[str, float | int] = {"lines": args.lines}
    try:
        base_words, base_rss = _child(BASELINE, str(path))
        base_s = float(base_words[0])
        ours_s, ours_rss, counts = _ingest(path)
        events, lines, dups, rejects = (int(c) for c in counts)
        assert lines == args.lines, (lines, args.lines)
        figures |= {
            "baseline_s": round(base_s, 2),
            "baseline_rss_mb": round(base_rss),
            "ingest_s": round(ours_s, 2),
            "ingest_rss_mb": round(ours_rss),
            "ratio": round(ours_s / base_s, 2),
            "events": events,
            "duplicates": dups,
            "rejects": rejects,
        }
        print(f"baseline  DuckDB read_json -> Arrow : {base_s:7.2f} s   peak {base_rss:7.0f} MB")
        print(f"ingest    into an empty store       : {ours_s:7.2f} s   peak {ours_rss:7.0f} MB")
        print(f"          ({events:,} events, {dups:,} duplicates, {rejects:,} rejects)")
        print(f"ratio ingest / baseline             : {ours_s / base_s:7.2f} x  (target <= 2.5)")
        print(f"peak memory of ingest               : {ours_rss / 1024:7.2f} GB (target < 2)")
    finally:
        if not args.keep:
            path.unlink(missing_ok=True)
    if args.large:
        big = _ledger(args.large, args.garbage)
        try:
            big_s, big_rss, _counts = _ingest(big)
        finally:
            if not args.keep:
                big.unlink(missing_ok=True)
        figures |= {
            "large_lines": args.large,
            "large_ingest_s": round(big_s, 2),
            "large_rss_mb": round(big_rss),
        }
        print(f"ingest {args.large:,} lines               : {big_s:7.2f} s   peak {big_rss:7.0f} MB")
        print(
            f"peak memory {args.large:,} / {args.lines:,} lines : {big_rss / ours_rss:7.2f} x"
            " (target <= 1, within noise)"
        )
    if args.json:
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
