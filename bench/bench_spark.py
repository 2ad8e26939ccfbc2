"""A month run on the Spark engine next to the DuckDB engine, in one run of this script.

A generated month of ``--events`` ledger lines (four hosts, default 10M) is ingested once into a store
under bench/data/spark/. Each measured run is a fresh interpreter (its wall time, interpreter and JVM
start included, as an operator sees it, and its own peak RSS), on a store without checkpoints (each
engine walks the whole month), into a fresh output folder:

- the DuckDB engine (the baseline);
- the Spark engine on ``local[2]`` and on ``local[1]`` (the same run on one core: the work spreads);
- the peak RSS of the Spark tasks' Python workers, for a 1M-event month and the 10M one: with the
  default bucket count (about 500k events a bucket), with a fixed 8 buckets (so the buckets grow with
  the run), and with the same bucket size on both (the 10M month in ten times the buckets).
  ``--memory-only`` runs these alone; ``--duckdb-only`` runs the DuckDB engine's month alone.

Prints each figure, the ratios the issue sets and the target next to each, and checks that the
engines' run_ids and totals agree.

    uv run --locked --extra spark python bench/bench_spark.py [--events 10000000] [--keep]
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

DATA = _child.data_dir() / "spark"
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
MONTH = "2026-10"

RUN = """
import json, sys, time
from reconcile import run_period
from reconcile._core._policies import SparkOptions
started = time.perf_counter()
store, out, engine, master, buckets = sys.argv[1:6]
spark = SparkOptions(master=master, buckets=int(buckets) or None) if engine == "spark" else None
s = run_period(store, "bundled", out, sys.argv[6], quiet=True, engine=engine, spark=spark)
job = {}
if engine == "spark":
    from reconcile._engines._spark import _engine
    job = dict(_engine.last_job)
print(json.dumps({"seconds": time.perf_counter() - started, "run_id": s.run_id, "totals": s.totals,
                  "events": s.roles["events"], **job}))
"""


def _store(lines: int) -> Path:
    """The store of a generated month of ``lines`` lines (made once, kept under bench/data/spark)."""
    from reconcile import generate_ledger, ingest  # noqa: PLC0415

    root = DATA / f"m{lines}"
    if (root / "store" / "store.json").is_file():
        return root / "store"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    print(f"generating and ingesting {lines:,} lines into {root} ...", file=sys.stderr)
    generate_ledger(root / "ledger.jsonl", lines=lines, seed=5, hosts=4, start=START, days=31)
    ingest([root / "ledger.jsonl"], root / "store", quiet=True)
    (root / "ledger.jsonl").unlink()
    return root / "store"


def _run(store: Path, name: str, engine: str, master: str = "", buckets: int = 0) -> dict[str, object]:
    """One month run in a fresh interpreter, from no checkpoint, into a fresh output."""
    shutil.rmtree(store / "checkpoints", ignore_errors=True)
    out = store.parent / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)
    text, peak = _child.run_child(["-c", RUN, str(store), str(out), engine, master, str(buckets), MONTH])
    found: dict[str, object] = json.loads(text.strip().splitlines()[-1])
    found["wall"] = _child.last_wall_seconds
    found["peak_mb"] = peak / 2**20
    shutil.rmtree(out, ignore_errors=True)
    print(f"  {name:<22} {found['wall']:8.2f} s   driver peak {found['peak_mb']:7.0f} MB", file=sys.stderr)
    return found


def _line(label: str, value: str, base: str, ratio: float, target: str) -> str:
    return f"{label:<58} {value:>10} vs {base:>10} {ratio:6.2f}x  (target {target})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=10_000_000, help="ledger lines of the month (default 10M)"
    )
    parser.add_argument("--small", type=int, default=1_000_000, help="the smaller month (default 1M)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the generated stores (default: kept anyway)"
    )
    parser.add_argument("--memory-only", action="store_true", help="only the workers' peak memory runs")
    parser.add_argument(
        "--duckdb-only", action="store_true", help="only the DuckDB engine's month run (no Spark)"
    )
    args = parser.parse_args()
    big, small = _store(args.events), _store(args.small)
    scale = max(1, round(args.events / args.small))
    if args.memory_only:
        _memory(big, small, scale)
        return

    duck = _run(big, "duckdb", "duckdb")
    if args.duckdb_only:
        print(f"month of {duck['events']:,} events (run_id {duck['run_id']})")
        wall, peak = float(duck["wall"]), float(duck["peak_mb"])  # type: ignore[arg-type]
        print(f"month run on the DuckDB engine (defaults): {wall:.2f} s, peak RSS {peak:.0f} MB")
        return
    two = _run(big, "spark local[2]", "spark", "local[2]")
    one = _run(big, "spark local[1]", "spark", "local[1]")
    if not (
        duck["run_id"] == two["run_id"] == one["run_id"] and duck["totals"] == two["totals"] == one["totals"]
    ):
        raise SystemExit(f"the engines disagree: {duck} / {two} / {one}")
    small_default = _run(small, "small, default buckets", "spark", "local[2]")
    small_eight = _run(small, "small, 8 buckets", "spark", "local[2]", 8)
    big_eight = _run(big, "large, 8 buckets", "spark", "local[2]", 8)

    print(f"month of {duck['events']:,} events (run_id {duck['run_id']}, the same on both engines)")
    d, s2, s1 = float(duck["wall"]), float(two["wall"]), float(one["wall"])  # type: ignore[arg-type]
    print(_line("month run: Spark local[2] / DuckDB engine", f"{s2:.2f} s", f"{d:.2f} s", s2 / d, "<= 2.5x"))
    print(_line("month run: Spark local[1] / local[2]", f"{s1:.2f} s", f"{s2:.2f} s", s1 / s2, ">= 1.6x"))
    print("peak RSS of a Spark task's Python worker (the largest task):")
    for label, found in (
        (f"{small_default['events']:,} events, {small_default['buckets']} buckets (default)", small_default),
        (f"{two['events']:,} events, {two['buckets']} buckets (default)", two),
        (f"{small_eight['events']:,} events, 8 buckets", small_eight),
        (f"{big_eight['events']:,} events, 8 buckets", big_eight),
    ):
        peak = int(found["worker_peak_kb"]) / 1024  # type: ignore[call-overload]
        print(f"  {label:<50} {peak:8.0f} MB")
    print(f"driver peak RSS: DuckDB engine {duck['peak_mb']:.0f} MB, Spark local[2] {two['peak_mb']:.0f} MB")
    _memory(big, small, scale)


def _memory(big: Path, small: Path, scale: int) -> None:
    """The workers' peak for the same bucket size on both months (the large one in ``scale`` times
    the buckets), two sizes of bucket."""
    print("peak RSS of a Spark task's Python worker, the same bucket size on both months:")
    for buckets in (2, 8):
        for store, count in ((small, buckets), (big, buckets * scale)):
            found = _run(store, f"{count} buckets", "spark", "local[2]", count)
            label = f"{found['events']:,} events, {count} buckets"
            print(f"  {label:<50} {int(found['worker_peak_kb']) / 1024:8.0f} MB")  # type: ignore[call-overload]


if __name__ == "__main__":
    main()
