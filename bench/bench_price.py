"""Benchmark the pricing stage: a month of intervals priced as one run, against a baseline.

    uv run --locked --extra reconcile python bench/bench_price.py [--intervals 1000000] [--repeat 2]

Builds (once, cached under bench/data/) a Parquet file of the ``intervals`` contract with DuckDB:
March 2026, resources of all three families, lengths from seconds to days (about 5% cross a
midnight), 10% still open at the month's end, a third on firecracker (the bundled book's override),
the bundled price book's vCPU price unchanged in March; a tenants table for half of the resources.

Each measurement runs in its own subprocess; the parent reads that child's peak RSS (wait4).
- baseline: ``CREATE TABLE ... AS SELECT *, one row per meter`` over the intervals (read the input,
  write rows of the same count and width as the slices, no slicing or money)
- pricing:  ``reconcile._price._pricer.price_slices`` for the month (cut-off = month end) + tenants
- decimal:  the same money math (quantity, billed quantity, amount, half-even) in Python ``Decimal``
  over the first 200,000 slice rows, scaled to all rows: the alternative the SQL integer math replaced
Prints each as a ratio to the baseline, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _child import data_dir, run_child

DATA = data_dir()
MARCH_NS = 1_772_323_200 * 1_000_000_000  # 2026-03-01T00:00:00Z
APRIL_NS = MARCH_NS + 31 * 86_400 * 1_000_000_000

_GENERATE_SQL = """
COPY (
    WITH n AS (SELECT range AS i, hash(range) AS h, hash(range * 7 + 1) AS g FROM range(?))
    SELECT
        md5(CAST(i AS VARCHAR)) AS interval_id,
        CASE i % 4 WHEN 0 THEN 'vm.storage' WHEN 3 THEN 'snap.storage' ELSE 'vm.compute' END AS family,
        'r' || CAST(i // 4 AS VARCHAR) AS resource_id,
        CASE WHEN h % 3 = 0 THEN 'firecracker' ELSE 'cloud-hypervisor' END AS hypervisor,
        CAST(1 + h % 16 AS BIGINT) AS cpu,
        CAST((1 + g % 64) * 1073741824 AS BIGINT) AS mem_bytes,
        CAST((1 + g % 500) * 1073741824 AS BIGINT) AS storage_bytes,
        start_ns,
        CASE WHEN h % 10 = 0 THEN NULL ELSE least(start_ns + len_ns, ? - 1) END AS end_ns,
        CASE WHEN h % 10 = 0 THEN 'open' WHEN h % 97 = 0 THEN 'inferred' ELSE 'closed' END AS status
    FROM (
        SELECT *,
            ? + CAST(g % (31 * 86400) AS BIGINT) * 1000000000 + CAST(h % 1000000000 AS BIGINT) AS start_ns,
            CASE WHEN g % 20 = 0 THEN CAST(h % (3 * 86400) AS BIGINT) * 1000000000
                 ELSE CAST(h % 7200 AS BIGINT) * 1000000000 + CAST(g % 1000 AS BIGINT) END AS len_ns
        FROM n
    )
) TO '{path}' (FORMAT parquet, COMPRESSION zstd)
"""

_BASELINE_SQL = """
CREATE TABLE out AS
SELECT i.*, m.meter, CAST(0 AS DECIMAL(38, 12)) AS amount
FROM intervals AS i, (VALUES ('a'), ('b')) AS m(meter)
"""


def _intervals_file(count: int) -> Path:
    path = DATA / f"price_intervals_{count}.parquet"
    if not path.exists():
        import duckdb  # noqa: PLC0415

        DATA.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute(_GENERATE_SQL.format(path=path), [count, APRIL_NS, MARCH_NS])
    return path


def _child(kind: str, path: str) -> None:
    import duckdb  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    from reconcile import load_price_book, price_slices  # noqa: PLC0415
    from reconcile._price._tenants import normalize_tenants  # noqa: PLC0415

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("CREATE TABLE intervals AS SELECT * FROM read_parquet(?)", [path])
    resources = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT resource_id FROM intervals WHERE hash(resource_id) % 2 = 0"
        ).fetchall()
    ]
    tenant_ids = [f"t{i % 500}" for i in range(len(resources))]
    tenants = normalize_tenants(pa.table({"resource_id": resources, "tenant_id": tenant_ids}))
    book = load_price_book("bundled")
    started = time.perf_counter()
    if kind == "baseline":
        con.execute(_BASELINE_SQL)
        rows = con.execute("SELECT count(*) FROM out").fetchall()[0][0]
    elif kind == "pricing":
        price_slices(con, book, period_start_ns=MARCH_NS, period_end_ns=APRIL_NS, tenants=tenants)
        rows = con.execute("SELECT count(*) FROM slices").fetchall()[0][0]
    else:
        price_slices(con, book, period_start_ns=MARCH_NS, period_end_ns=APRIL_NS, tenants=tenants)
        rows = con.execute("SELECT count(*) FROM slices").fetchall()[0][0]
        sample = con.sql(
            "SELECT s.meter, s.seconds, s.billed_seconds, s.unit_price, s.hours_per_month,"
            " i.cpu, i.mem_bytes, i.storage_bytes"
            " FROM slices s JOIN intervals i USING (interval_id) LIMIT 200000"
        ).fetchall()
        started = time.perf_counter()
        _decimal_money(sample)
        elapsed = (time.perf_counter() - started) * rows / len(sample)
        print(json.dumps({"seconds": elapsed, "rows": rows}))
        return
    print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))


def _decimal_money(rows: list[tuple[object, ...]]) -> None:
    from decimal import ROUND_HALF_EVEN, Context, Decimal  # noqa: PLC0415

    context = Context(prec=60)
    quantum = Decimal("1e-12")
    gib = Decimal(2**30)
    for meter, seconds, billed, price, hours, cpu, mem, storage in rows:
        factor = Decimal(cpu if meter == "vcpu_hours" else mem if meter == "mem_gib_hours" else storage)  # type: ignore[arg-type]
        if meter != "vcpu_hours":
            factor = context.divide(factor, gib)
        quantity = context.divide(factor * seconds, 3600).quantize(quantum, ROUND_HALF_EVEN)  # type: ignore[operator]
        billed_quantity = context.divide(factor * billed, 3600).quantize(quantum, ROUND_HALF_EVEN)  # type: ignore[operator]
        amount = context.divide(billed_quantity * price, hours or 1).quantize(quantum, ROUND_HALF_EVEN)  # type: ignore[operator]
        del quantity, amount


def _measure(kind: str, path: Path) -> tuple[float, int, float]:
    out, rss = run_child([__file__, "--child", kind, str(path)])
    result = json.loads(out)
    return float(result["seconds"]), int(result["rows"]), rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    path = _intervals_file(args.intervals)
    best: dict[str, tuple[float, int, float]] = {}
    for _ in range(args.repeat):
        for kind in ("baseline", "pricing", "decimal"):
            seconds, rows, rss = _measure(kind, path)
            if kind not in best or seconds < best[kind][0]:
                best[kind] = (seconds, rows, rss)
    base = best["baseline"][0]
    print(f"{args.intervals} intervals, March 2026 as one run, best of {args.repeat}")
    for kind, (seconds, rows, rss) in best.items():
        ratio = seconds / base
        print(
            f"  {kind:9s} {seconds:8.2f} s  {ratio:6.2f}x baseline  {rows:>10} rows  peak RSS {rss:7.0f} MB"
        )
    pricing, decimal = best["pricing"][0], best["decimal"][0]
    print(f"  Python Decimal money math alone / whole SQL pricing stage: {decimal / pricing:.2f}x")


if __name__ == "__main__":
    main()
