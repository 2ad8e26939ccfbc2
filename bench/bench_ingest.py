"""Ingest speed and memory, each figure next to a baseline measured in the same run.

    uv run --locked --extra reconcile python bench/bench_ingest.py [--lines 10000000] [--ledger PATH]
        [--prefix LINES] [--repeat 1] [--large 50000000] [--garbage 0.0001] [--keep] [--json]

Writes a seeded realistic ledger of ``--lines`` lines under bench/data (``reconcile.generate_ledger``,
seed 1), or reads ``--ledger`` (any ledger: the month of ``bench_spark.py``, say, from
``bench/gen_ledger.py --seed 5``), and its first ``--prefix`` lines (default a fifth) as a file of
their own, then, each in its own child process (wall time measured in the child around the work
only, peak RSS of that child, VmHWM):

- baseline: DuckDB's own JSON reader parsing the file to an Arrow table (explicit columns,
  ``ignore_errors`` for the garbage lines);
- ingest: ``reconcile.ingest`` of the file into an empty store (parse, classify, de-duplicate, write
  zstd Parquet, commit);
- prefix: the same of the first lines, to show the time grows with the lines and no faster.

Prints the ratio ingest / baseline (target <= 5), the growth (ingest / prefix, target <= 1.1 times
the ratio of their lines: 5.5x for 5x the lines) and the peaks (target <= 1 GB). ``--repeat``
measures each that many times, alternating, and keeps each one's best time. With ``--large N`` it
also ingests an N-line ledger and prints its peak next to the first one's (target: no higher).
Generated files are deleted afterwards unless ``--keep`` (a ``--ledger`` never is).
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
    DATA.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(store, ignore_errors=True)
    try:
        words, rss = _child(INGEST, str(path), str(store))
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return float(words[0]), rss, words[1:]


def _prefix(path: Path, lines: int) -> Path:
    """The first ``lines`` lines of ``path`` as a file of their own under bench/data."""
    out = DATA / f"ingest-prefix-{lines}.jsonl"
    DATA.mkdir(parents=True, exist_ok=True)
    with path.open("rb") as src, out.open("wb") as dst:
        for _ in range(lines):
            line = src.readline()
            if not line:
                break
            dst.write(line)
    return out


def _best(runs: list[tuple[float, float, list[str]]]) -> tuple[float, float, list[str]]:
    """The fastest run, with the highest peak of all."""
    seconds, _rss, words = min(runs, key=lambda r: r[0])
    return seconds, max(r[1] for r in runs), words


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=10_000_000, help="lines to generate (default 10M)")
    p.add_argument("--ledger", type=Path, help="ingest this ledger instead of a generated one")
    p.add_argument("--prefix", type=int, default=0, help="lines of the prefix ingested (default a fifth)")
    p.add_argument("--repeat", type=int, default=1, help="rounds; each figure is its best (default 1)")
    p.add_argument("--large", type=int, default=0, help="also ingest a ledger of this many lines")
    p.add_argument(
        "--garbage", type=float, default=0.0, help="fraction of garbage lines (default 0: as Go writes)"
    )
    p.add_argument("--keep", action="store_true", help="keep the generated ledgers")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    args = p.parse_args(argv)

    path = args.ledger or _ledger(args.lines, args.garbage)
    prefix_lines = args.prefix or max(1, args.lines // 5)
    prefix = _prefix(path, prefix_lines)
    figures: dict[str, float | int | str] = {"ledger": str(path)}
    try:
        base_runs, ours, pre = [], [], []
        for _ in range(args.repeat):  # alternating, so a slow spell hits them alike
            base_words, base_rss = _child(BASELINE, str(path))
            base_runs.append((float(base_words[0]), base_rss, base_words[1:]))
            ours.append(_ingest(path))
            pre.append(_ingest(prefix))
        base_s, base_rss, _words = _best(base_runs)
        ours_s, ours_rss, counts = _best(ours)
        pre_s, pre_rss, pre_counts = _best(pre)
        events, lines, dups, rejects = (int(c) for c in counts)
        pre_lines = int(pre_counts[1])
        if args.ledger is None:
            assert lines == args.lines, (lines, args.lines)
        growth = ours_s / pre_s
        line_ratio = lines / pre_lines
        figures |= {
            "lines": lines,
            "baseline_s": round(base_s, 2),
            "baseline_rss_mb": round(base_rss),
            "ingest_s": round(ours_s, 2),
            "ingest_rss_mb": round(ours_rss),
            "ratio": round(ours_s / base_s, 2),
            "prefix_lines": pre_lines,
            "prefix_s": round(pre_s, 2),
            "prefix_rss_mb": round(pre_rss),
            "growth": round(growth, 2),
            "events": events,
            "duplicates": dups,
            "rejects": rejects,
        }
        print(f"baseline  DuckDB read_json -> Arrow : {base_s:7.2f} s   peak {base_rss:7.0f} MB")
        print(f"ingest    into an empty store       : {ours_s:7.2f} s   peak {ours_rss:7.0f} MB")
        print(f"          ({lines:,} lines, {events:,} events, {dups:,} duplicates, {rejects:,} rejects)")
        print(f"ingest    of its first {pre_lines:,} lines : {pre_s:7.2f} s   peak {pre_rss:7.0f} MB")
        print(f"ratio ingest / baseline             : {ours_s / base_s:7.2f} x  (target <= 5)")
        print(
            f"growth ingest / its first lines     : {growth:7.2f} x  for {line_ratio:.2f}x the lines"
            f" (target <= {1.1 * line_ratio:.2f})"
        )
        print(f"peak memory of ingest               : {ours_rss / 1024:7.2f} GB (target <= 1)")
    finally:
        prefix.unlink(missing_ok=True)
        if not args.keep and args.ledger is None:
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
