"""A month run next to a plain DuckDB script doing the same month, in one run of this script.

A generated month (``reconcile.generate_ledger``: ``--lines`` lines, seed 5, four hosts, October 2026,
the month of ``bench_spark.py`` and issue #27) is ingested once into a store under ``--data``. Then,
each in a fresh interpreter (wall time with the interpreter's start, and that child's own peak RSS):

- ``floor``: a plain DuckDB script of the same month run, as a data engineer would write it with no
  contract to keep: ``lead``/``lag`` pairing per ``(family, resource_id)`` (stop before start at an
  instant, then file and line), the intervals overlapping the month written to Parquet, their slices
  cut at UTC midnights with ``generate_series``, priced with exact integers at 1e-12 rounded
  half-even once (quantities, then the amount from the rounded billed quantity), the bundled book's
  prices and its 60 s minimum and 1 s increment on closed and inferred intervals (the extra on the
  slice holding the end, or on a zero-length slice when the end falls on a midnight), into a temp
  table, then ``COPY ... (PARTITION_BY usage_date)`` as zstd Parquet. DuckDB's own memory limit by
  default (``--floor-memory`` sets one): the script as written, not held to ours. It writes the same
  intervals and slice rows as the engine (checked: the counts and the exact total of the amounts);
- ``reconcile run --period 2026-10`` at its defaults (memory limit 1500MB), from no checkpoint.

Prints both, the ratio (target <= 1.5x) and the peaks (target: the run <= 2.5 GB).

    uv run --locked --extra spark python bench/bench_floor_run.py [--lines 10000000] [--data DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _child

DATA = _child.data_dir() / "floor-run"
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
MONTH = "2026-10"

FLOOR = r"""
import glob, json, sys, time
import duckdb
store, out, memory, first, days = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
started = time.perf_counter()
con = duckdb.connect(config={"memory_limit": memory} if memory else {})
con.execute("SET TimeZone = 'UTC'")
D = 86_400 * 10**9
P0 = int(first) * 10**9  # the period's first midnight (Unix seconds)
P1 = P0 + int(days) * D  # its end, the cut-off
con.execute("SET VARIABLE files = ?", [sorted(glob.glob(f"{store}/events/day=*/*.parquet"))])
# n / d rounded half to even, for integers n >= 0, d > 0
con.execute(
    "CREATE MACRO he(n, d) AS n // d"
    " + CASE WHEN 2 * (n % d) > d OR (2 * (n % d) = d AND (n // d) % 2 = 1) THEN 1 ELSE 0 END"
)
con.execute(f'''
CREATE TEMP TABLE walk AS
SELECT event_id, family, resource_id, endpoint, hypervisor, cpu, mem_bytes, storage_bytes, emitted_ns,
    lag(endpoint) OVER w AS prev_endpoint,
    lead(endpoint) OVER w AS next_endpoint,
    lead(emitted_ns) OVER w AS next_ns
FROM read_parquet(getvariable('files'), hive_partitioning = false)
WHERE emitted_ns < {P1}
WINDOW w AS (PARTITION BY family, resource_id
             ORDER BY emitted_ns, endpoint = 'start', source_file, source_line, event_id)''')
con.execute(f'''
CREATE TEMP TABLE intervals AS
SELECT event_id AS interval_id, family, resource_id, hypervisor, cpu, mem_bytes, storage_bytes,
    emitted_ns AS start_ns, next_ns AS end_ns,
    CASE WHEN next_endpoint IS NULL THEN 'open' WHEN next_endpoint = 'stop' THEN 'closed'
         ELSE 'inferred' END AS status
FROM walk
WHERE endpoint = 'start' AND emitted_ns < {P1} AND (next_ns IS NULL OR next_ns >= {P0})''')
con.execute(f"COPY intervals TO '{out}/intervals.parquet' (FORMAT parquet, COMPRESSION zstd)")
con.execute(f'''
CREATE TEMP TABLE slices AS
WITH billed AS (
    SELECT *, greatest(start_ns, {P0}) AS bs, least(coalesce(end_ns, {P1}), {P1}) AS be,
        CASE WHEN family = 'vm.compute' AND status <> 'open'  -- 1 s increment, 60 s minimum
             THEN greatest((end_ns - start_ns + 999999999) // 1000000000 * 1000000000, 60000000000)
                  - (end_ns - start_ns)
             ELSE 0 END AS extra
    FROM intervals
),
spans AS (
    SELECT b.*, greatest(bs, d * {D}) AS s0, least(be, (d + 1) * {D}) AS s1
    FROM billed AS b, unnest(generate_series(bs // {D}, (be - 1) // {D})) AS t(d)
    WHERE bs < be
    UNION ALL  -- the extra of an end on a midnight, or a zero-length interval: a zero-length slice
    SELECT b.*, end_ns AS s0, end_ns AS s1
    FROM billed AS b
    WHERE status <> 'open' AND end_ns >= {P0}
      AND (end_ns = start_ns OR (extra > 0 AND end_ns % {D} = 0))
),
metered AS (
    SELECT spans.*, m.meter, m.unit_bytes, m.hours,
        s1 - s0 + CASE WHEN s1 = end_ns AND (s0 = s1 OR end_ns % {D} <> 0) THEN extra ELSE 0 END
            AS billed_ns,
        CAST(CASE WHEN m.meter = 'vcpu_hours' THEN cpu WHEN family = 'vm.compute' THEN mem_bytes
                  ELSE storage_bytes END AS HUGEINT) AS f,
        CASE WHEN m.meter <> 'vcpu_hours' THEN m.price_e12 WHEN hypervisor = 'firecracker'
             THEN 34000000000 ELSE 38000000000 END AS p_e12
    FROM spans
    JOIN (VALUES ('vcpu_hours', 'vm.compute', 1, 1, 0),
                 ('mem_gib_hours', 'vm.compute', 1073741824, 1, 5000000000),
                 ('storage_gib_hours', 'vm.storage', 1073741824, 730, 100000000000),
                 ('storage_gib_hours', 'snap.storage', 1073741824, 730, 50000000000))
        AS m(meter, fam, unit_bytes, hours, price_e12) ON m.fam = spans.family
),
quantities AS (
    SELECT *,
        he(f * (s1 - s0) * 5, 18 * CAST(unit_bytes AS HUGEINT)) AS q_e12,
        he(f * billed_ns * 5, 18 * CAST(unit_bytes AS HUGEINT)) AS b_e12
    FROM metered
)
SELECT
    interval_id, family, resource_id, CAST(NULL AS VARCHAR) AS tenant_id,
    DATE '1970-01-01' + CAST(s0 // {D} AS INTEGER) AS usage_date,
    make_timestamp_ns(s0)::TIMESTAMPTZ AS slice_start, make_timestamp_ns(s1)::TIMESTAMPTZ AS slice_end,
    CAST(s1 - s0 AS DECIMAL(18, 0)) * CAST(0.000000001 AS DECIMAL(10, 9)) AS seconds,
    meter,
    CAST(q_e12 AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS quantity,
    CAST(b_e12 AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS billed_quantity,
    CAST(p_e12 AS DECIMAL(38, 0)) * CAST(0.000000000001 AS DECIMAL(13, 12)) AS unit_price,
    CAST(he(b_e12 * p_e12, CAST(1000000000000 AS HUGEINT) * hours) AS DECIMAL(38, 0))
        * CAST(0.000000000001 AS DECIMAL(13, 12)) AS amount,
    'USD' AS currency, status
FROM quantities''')
con.execute(f"COPY slices TO '{out}/slices' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (usage_date))")
(intervals,) = con.execute("SELECT count(*) FROM intervals").fetchone()
slices, amount = con.execute("SELECT count(*), CAST(sum(amount) AS VARCHAR) FROM slices").fetchone()
print(json.dumps({"seconds": time.perf_counter() - started, "intervals": intervals, "slices": slices,
                  "amount": amount}))
"""

RUN = """
import json, sys, time
from reconcile import run_period
started = time.perf_counter()
s = run_period(sys.argv[1], "bundled", sys.argv[2], sys.argv[3], quiet=True)
print(json.dumps({"seconds": time.perf_counter() - started, "run_id": s.run_id, "totals": s.totals,
                  "rows": s.rows, "events": s.roles["events"]}))
"""


def _store(data: Path, lines: int) -> Path:
    """The store of the generated month (made once under ``data``)."""
    from reconcile import generate_ledger, ingest  # noqa: PLC0415

    if (data / "store" / "store.json").is_file():
        return data / "store"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    print(f"generating and ingesting {lines:,} lines into {data} ...", file=sys.stderr)
    generate_ledger(data / "ledger.jsonl", lines=lines, seed=5, hosts=4, start=START, days=31)
    ingest([data / "ledger.jsonl"], data / "store", quiet=True)
    (data / "ledger.jsonl").unlink()
    return data / "store"


def _child_run(code: str, *args: str) -> tuple[dict[str, object], float, float]:
    text, peak = _child.run_child(["-c", code, *args])
    return json.loads(text.strip().splitlines()[-1]), _child.last_wall_seconds, peak / 2**30


def _exact_total(out: Path) -> str:
    """The exact sum of the engine's slice amounts (DECIMAL, as text)."""
    import duckdb  # noqa: PLC0415

    row = duckdb.execute(
        "SELECT CAST(sum(amount) AS VARCHAR) FROM read_parquet(?, hive_partitioning = false)",
        [str(out / "slices" / "*" / "*.parquet")],
    ).fetchone()
    return str(row[0]) if row else ""


def _commit() -> str:
    found = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000, help="ledger lines (default 10M)")
    parser.add_argument(
        "--data", type=Path, default=None, help="where the store is made (default bench/data)"
    )
    parser.add_argument(
        "--floor-memory", default="", help="DuckDB memory limit of the plain script (default: DuckDB's own)"
    )
    args = parser.parse_args()
    commit = _commit()  # (the code measured: the children start from it)
    data = args.data if args.data is not None else DATA / f"m{args.lines}"
    store = _store(data, args.lines)
    work = data / "bench-out"
    shutil.rmtree(work, ignore_errors=True)
    (work / "floor").mkdir(parents=True)
    first = str(int(START.timestamp()))
    floor, floor_wall, floor_peak = _child_run(
        FLOOR, str(store), str(work / "floor"), args.floor_memory, first, "31"
    )
    print(f"  floor   {floor_wall:8.2f} s   peak {floor_peak:5.2f} GiB", file=sys.stderr)
    shutil.rmtree(store / "checkpoints", ignore_errors=True)
    run, run_wall, run_peak = _child_run(RUN, str(store), str(work / "run"), MONTH)
    print(f"  run     {run_wall:8.2f} s   peak {run_peak:5.2f} GiB", file=sys.stderr)
    rows = run["rows"]
    assert isinstance(rows, dict)
    same = (
        floor["intervals"] == rows["intervals"]
        and floor["slices"] == rows["slices"]
        and floor["amount"] == _exact_total(work / "run")
    )
    shutil.rmtree(work, ignore_errors=True)
    if not same:
        raise SystemExit(f"the plain script and the engine disagree: {floor} / {run}")
    print(
        f"month {MONTH}: {run['events']:,} events, {rows['intervals']:,} intervals, {rows['slices']:,} slice"
        f" rows, amounts {floor['amount']} (the same in both) at {commit}"
    )
    memory = args.floor_memory or "DuckDB's default"
    print(f"plain DuckDB script (memory limit {memory})   {floor_wall:8.2f} s   peak {floor_peak:5.2f} GiB")
    print(f"reconcile run --period {MONTH} (defaults)      {run_wall:8.2f} s   peak {run_peak:5.2f} GiB")
    ratio = run_wall / floor_wall
    print(f"ratio run / plain script: {ratio:.2f}x (target <= 1.5x); run peak {run_peak:.2f} GiB (<= 2.5)")


if __name__ == "__main__":
    main()
