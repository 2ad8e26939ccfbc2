"""Benchmark the pairing stage against DuckDB just sorting the same events.

    uv run --locked --extra reconcile python bench/bench_pair.py [--events 10000000] [--repeat 2]

Builds (once, cached under bench/data/) a Parquet file of the store's events schema with DuckDB:
resources of 16 events each (vm.compute, vm.storage, snap.storage), mostly alternating start/stop,
about 1% flipped endpoints (double starts, double stops, orphan stops), 10% restarts where a stop and
the next start share one instant, rows stored in time order (as ingest writes them).

Each measurement runs in its own subprocess; the parent reads that child's peak RSS (wait4).
- baseline: ``CREATE TABLE ... AS SELECT * FROM events ORDER BY family, resource_id, emitted_at``
- pairing:  ``reconcile._pair._walk.pair_in``: the walk materialised as a temp table (``pair_steps``: every
  interval's row, plus unmatched stops), ``anomalies`` and ``event_roles`` as temp tables, ``intervals``
  a view projecting ``pair_steps`` (its row count is taken inside the timing).
Both read the same Parquet file, with the same DuckDB memory_limit (default 1500MB: DuckDB spills to
disk beyond it; without a limit both hold everything in memory, 4.6 and 5.7 GiB here).
Prints the pairing/baseline time ratio (target <= 1.5) and peak RSS (target < 2 GB).

With ``--path`` it measures the whole path instead: a seeded ``--events``-line ledger
(``reconcile.generate_ledger``, deleted afterwards unless ``--keep``) ingested into an empty store and
paired (``reconcile.ingest`` then ``pair_in`` over the store's events, materialised as above), against
DuckDB's bare ``read_json`` parse of that ledger to Arrow (explicit columns; target <= 3.5x).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from _child import data_dir, run_child

DATA = data_dir()
BASE_NS = 1_793_491_200 * 1_000_000_000  # 2026-11-01T00:00:00Z

# Events of the store's schema, built from a row number: i // 16 is the resource, i % 16 its step.
_GENERATE_SQL = """
COPY (
    WITH numbered AS (
        SELECT range AS i, range // 16 AS r, range % 16 AS k, hash(range) AS h, hash(range // 16) AS g
        FROM range(?)
    ),
    shaped AS (
        SELECT
            i, r, h, CASE WHEN h % 50 = 0 THEN h ELSE g END AS g,  -- the resource's shape; 2% resized
            CASE r % 4 WHEN 0 THEN 'vm.storage' WHEN 3 THEN 'snap.storage' ELSE 'vm.compute' END AS family,
            CASE WHEN (k % 2 = 0) <> (h % 100 = 0) THEN 'start' ELSE 'stop' END AS endpoint,
            CAST(
                ? + (r % 86400) * 1000000000 + (k // 2) * 7200000000000
                + CASE
                    WHEN k % 2 = 0 THEN 0
                    WHEN h % 10 = 0 THEN 7200000000000  -- a restart: stop at the next start's instant
                    ELSE (h % 7000000) * 1000000 + h % 1000
                END AS BIGINT
            ) AS emitted_ns
        FROM numbered
    )
    SELECT
        md5(CAST(i AS VARCHAR)) AS event_id,
        family,
        endpoint,
        CASE WHEN family = 'snap.storage' THEN 'snap-' ELSE 'vm-' END || lpad(CAST(r AS VARCHAR), 9, '0')
            AS resource_id,
        family || '.' || endpoint AS kind,
        CASE WHEN family <> 'snap.storage' THEN 'vm-' || lpad(CAST(r AS VARCHAR), 9, '0') END AS vm_id,
        CASE WHEN family = 'snap.storage' THEN 'snap-' || lpad(CAST(r AS VARCHAR), 9, '0') END AS snapshot_id,
        CAST(NULL AS VARCHAR) AS source_snapshot_id,
        CASE WHEN endpoint = 'start' THEN 'boot' ELSE 'stop-user' END AS reason,
        CASE WHEN r % 3 = 0 THEN 'cloud-hypervisor' ELSE 'firecracker' END AS hypervisor,
        CASE WHEN family = 'vm.compute' THEN CAST(1 + (g >> 8) % 8 AS BIGINT) ELSE 0 END AS cpu,
        CASE WHEN family = 'vm.compute' THEN CAST((1 + (g >> 12) % 16) * 1073741824 AS BIGINT) ELSE 0 END
            AS mem_bytes,
        CASE WHEN family <> 'vm.compute' THEN CAST((1 + (g >> 16) % 100) * 1073741824 AS BIGINT) ELSE 0 END
            AS storage_bytes,
        make_timestamp_ns(emitted_ns) AS emitted_at,
        emitted_ns,
        '/ledgers/host-' || CAST(r % 4 AS VARCHAR) || '/ledger.jsonl' AS source_file,
        CAST(i + 1 AS BIGINT) AS source_line,
        'bench-ingest' AS ingest_id
    FROM shaped
    ORDER BY emitted_ns
) TO ? (FORMAT parquet, COMPRESSION zstd)
"""


def build_events(n: int) -> Path:
    import duckdb  # noqa: PLC0415

    path = DATA / f"pair-events-{n}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.parquet")
        print(f"building {n:,} events into {path} ...", file=sys.stderr, flush=True)
        duckdb.connect().execute(_GENERATE_SQL, [n, BASE_NS, str(tmp)])
        tmp.replace(path)
    return path


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system): steadier than wall time under load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(kind: str, path: str, memory_limit: str) -> None:
    import duckdb  # noqa: PLC0415

    from reconcile._pair._walk import pair_in  # noqa: PLC0415

    con = duckdb.connect()
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET VARIABLE bench_events = ?", [path])
    con.execute("CREATE VIEW events AS SELECT * FROM read_parquet(getvariable('bench_events'))")
    cpu_began = _cpu_seconds()
    began = time.perf_counter()
    if kind == "baseline":
        con.execute(
            "CREATE TEMP TABLE sorted AS SELECT * FROM events ORDER BY family, resource_id, emitted_at"
        )
        counts = {"rows": con.execute("SELECT count(*) FROM sorted").fetchall()[0][0]}
    else:
        pair_in(con, cut_off_ns=BASE_NS + 400 * 86_400 * 1_000_000_000, stale_after_ns=86_400 * 10**9)
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("intervals", "anomalies", "event_roles")
        }
    seconds = time.perf_counter() - began
    cpu = round(_cpu_seconds() - cpu_began, 2)
    if kind != "baseline":
        # what a consumer pays on top: reading the intervals view out into a table of its own
        con.execute("CREATE TEMP TABLE intervals_copy AS SELECT * FROM intervals")
        counts["with_view_read_s"] = round(time.perf_counter() - began, 2)
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, **counts}))


_PARSE_SQL = (
    "SELECT * FROM read_json(?, format='newline_delimited', ignore_errors=true, columns={"
    "kind: 'VARCHAR', vm_id: 'VARCHAR', snapshot_id: 'VARCHAR', source_snapshot_id: 'VARCHAR',"
    "reason: 'VARCHAR', hypervisor: 'VARCHAR',"
    "shape: 'STRUCT(cpu BIGINT, mem_bytes BIGINT, storage_bytes BIGINT)', emitted_at: 'VARCHAR'})"
)


def path_child(kind: str, ledger: str, memory_limit: str) -> None:
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    import duckdb  # noqa: PLC0415

    from reconcile import Store, ingest  # noqa: PLC0415
    from reconcile._pair._walk import pair_in, register_events  # noqa: PLC0415

    began = time.perf_counter()
    if kind == "parse":
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        rows = con.sql(_PARSE_SQL, params=[ledger]).to_arrow_table().num_rows
        print(json.dumps({"seconds": time.perf_counter() - began, "rows": rows}))
        return
    store_dir = Path(tempfile.mkdtemp(prefix="pair-store-", dir=DATA))
    try:
        summary = ingest([ledger], store_dir, quiet=True)
        ingested = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET enable_progress_bar = false")
        if memory_limit:
            con.execute("SET memory_limit = ?", [memory_limit])
        register_events(con, Store(store_dir).event_files())
        pair_in(con, cut_off_ns=BASE_NS + 400 * 86_400 * 1_000_000_000)
        counts = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("intervals", "anomalies", "event_roles")
        }
        done = time.perf_counter()
        print(
            json.dumps(
                {
                    "seconds": done - began,
                    "ingest_s": round(ingested - began, 2),
                    "pair_s": round(done - ingested, 2),
                    "events": summary.events,
                    **counts,
                }
            )
        )
    finally:
        shutil.rmtree(store_dir, ignore_errors=True)


def whole_path(lines: int, repeat: int, memory_limit: str, keep: bool) -> None:
    from reconcile import generate_ledger  # noqa: PLC0415

    ledger = DATA / f"pair-ledger-{lines}.jsonl"
    DATA.mkdir(parents=True, exist_ok=True)
    if not ledger.exists():
        print(f"writing a {lines:,}-line ledger to {ledger} ...", file=sys.stderr, flush=True)
        generate_ledger(ledger, lines=lines, seed=1)
    try:
        best: dict[str, float] = {}
        peak: dict[str, int] = {}
        for _ in range(repeat):
            for kind in ("parse", "ingest+pair"):
                seconds, rss, figures = measure(kind, ledger, memory_limit)
                print(f"{kind:11s} {seconds:7.2f} s  peak RSS {rss / 2**30:5.2f} GiB  {figures}", flush=True)
                best[kind] = min(best.get(kind, seconds), seconds)
                peak[kind] = max(peak.get(kind, 0), rss)
        print(
            f"ledger -> intervals, {lines:,} lines: {best['ingest+pair'] / best['parse']:.2f}x DuckDB's bare "
            f"read_json parse (target <= 3.5x); peak RSS {peak['ingest+pair'] / 2**30:.2f} GiB"
        )
    finally:
        if not keep:
            ledger.unlink(missing_ok=True)


def measure(kind: str, path: Path, memory_limit: str) -> tuple[float, int, dict[str, int]]:
    out, rss = run_child([__file__, "--child", kind, str(path), memory_limit])
    figures = json.loads(out)
    seconds = figures.pop("seconds")
    return seconds, rss, figures


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--repeat", type=int, default=2, help="alternating runs of each; the best time counts")
    p.add_argument(
        "--memory-limit",
        default="1500MB",
        help="DuckDB memory_limit for both children (default 1500MB; '' for DuckDB's default)",
    )
    p.add_argument("--path", action="store_true", help="measure ledger -> ingest -> pair instead")
    p.add_argument("--keep", action="store_true", help="keep the generated ledger of --path")
    p.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "LIMIT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        if args.child[0] in ("parse", "ingest+pair"):
            path_child(*args.child)
        else:
            child(*args.child)
        return 0
    if args.path:
        whole_path(args.events, args.repeat, args.memory_limit, args.keep)
        return 0
    path = build_events(args.events)
    best: dict[str, float] = {}
    best_cpu: dict[str, float] = {}
    peak: dict[str, int] = {}
    for _ in range(args.repeat):
        for kind in ("baseline", "pairing"):
            seconds, rss, counts = measure(kind, path, args.memory_limit)
            cpu = counts.pop("cpu_s")
            print(
                f"{kind:9s} {seconds:6.2f} s wall {cpu:6.2f} s CPU  peak RSS {rss / 2**30:4.2f} GiB {counts}",
                flush=True,
            )
            best[kind] = min(best.get(kind, seconds), seconds)
            best_cpu[kind] = min(best_cpu.get(kind, cpu), cpu)
            peak[kind] = max(peak.get(kind, 0), rss)
    ratio = best["pairing"] / best["baseline"]
    cpu_ratio = best_cpu["pairing"] / best_cpu["baseline"]
    print(
        f"pairing {args.events:,} events: {ratio:.2f}x the sort baseline in wall time, {cpu_ratio:.2f}x in "
        "CPU time (target <= 1.5x); "
        f"peak RSS pairing {peak['pairing'] / 2**30:.2f} GiB (target < 2), "
        f"baseline {peak['baseline'] / 2**30:.2f} GiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
