"""Stage: a period's staged output files -> the figures its manifest records.

Read from the files a run is about to commit (not from the tables they were written from), so the
manifest states what is on disk: intervals by status, anomalies by code, the exact totals per
currency and per family, the invoice totals (rounded once per invoice line, ``views/usage_lines``),
the billed quantities per meter and the number of slices without a tenant. The files are read
through the temp views ``run_slices``, ``run_intervals`` and ``run_anomalies``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import duckdb

from reconcile import _invoice, _pricebook
from reconcile._currency import decimal_text, round_to_minor
from reconcile._engine import literals
from reconcile._manifest import Figures
from reconcile._sql import load_sql

RUN_VIEWS = {"slices": "run_slices", "intervals": "run_intervals", "anomalies": "run_anomalies"}


def _views(con: duckdb.DuckDBPyConnection, files: dict[str, list[Path]]) -> None:
    for table, view in RUN_VIEWS.items():
        rel = con.sql(
            "SELECT * FROM read_parquet(?, hive_partitioning = false)", params=[literals(files[table])]
        )
        rel.create_view(view, replace=True)


def figures(
    con: duckdb.DuckDBPyConnection, files: dict[str, list[Path]], book: _pricebook.PriceBook
) -> Figures:
    """The manifest figures of one period from its files (table -> Parquet files; module doc)."""
    _views(con, files)
    intervals = dict(con.execute("SELECT status, count(*) FROM run_intervals GROUP BY status").fetchall())
    anomalies = dict(con.execute("SELECT code, count(*) FROM run_anomalies GROUP BY code").fetchall())
    by_family: dict[str, dict[str, str]] = {}
    exact: dict[str, Decimal] = {}
    for family, currency, amount in con.execute(load_sql("engine/write/run_totals")).fetchall():
        if family is None:
            exact[currency] = amount
        else:
            by_family.setdefault(family, {})[currency] = decimal_text(amount)
    if not exact:
        exact[book.currency] = Decimal(0).scaleb(-_pricebook.PRICE_SCALE)
    invoice = _invoice.invoice_totals(_invoice.invoice_lines(con.table("run_slices"), con=con))
    quantities = {
        m: decimal_text(q) for m, q in con.execute(load_sql("engine/write/run_quantities")).fetchall()
    }
    unattributed = int(
        con.execute("SELECT count(*) FROM run_slices WHERE tenant_id IS NULL").fetchall()[0][0]
    )
    return Figures(
        intervals={k: int(v) for k, v in sorted(intervals.items())},
        anomalies={k: int(v) for k, v in sorted(anomalies.items())},
        totals={c: decimal_text(invoice.get(c, round_to_minor(Decimal(0), c))) for c in sorted(exact)},
        totals_exact={c: decimal_text(a) for c, a in sorted(exact.items())},
        totals_by_family=by_family,
        quantities=quantities,
        unattributed_slices=unattributed,
    )


def out_of_range(
    con: duckdb.DuckDBPyConnection,
    book: _pricebook.PriceBook,
    slice_files: Sequence[Path] | None,
    exc: duckdb.Error,
) -> str:
    """What overflowed, naming the likeliest interval: with the period's slices written
    (``slice_files``), the slice with the largest amount; else (pricing itself failed) the interval
    of ``intervals`` with the largest hourly amount estimated in floating point from the book's
    highest price of each meter."""
    if slice_files is not None:
        row = con.execute(
            "SELECT interval_id, resource_id, meter || ' amount ' || CAST(amount AS VARCHAR)"
            " FROM read_parquet(?, hive_partitioning = false) ORDER BY abs(amount) DESC LIMIT 1",
            [literals(slice_files)],
        ).fetchone()
    else:
        top: dict[str, float] = {}
        for e in book.entries:
            key = e.meter if e.family == "vm.compute" else e.family
            top[key] = max(top.get(key, 0.0), float(e.price) / (e.hours_per_month or 1))
        row = con.execute(
            "SELECT interval_id, resource_id, 'about ' || printf('%.3g', hourly) FROM ("
            "  SELECT interval_id, resource_id, CASE family"
            "    WHEN 'vm.compute' THEN greatest(cpu * $vcpu, mem_bytes / 1073741824 * $mem)"
            "    WHEN 'vm.storage' THEN storage_bytes / 1073741824 * $volume"
            "    ELSE storage_bytes / 1073741824 * $snapshot END AS hourly"
            "  FROM intervals) ORDER BY hourly DESC NULLS LAST LIMIT 1",
            {
                "vcpu": top.get("vcpu_hours", 0.0),
                "mem": top.get("mem_gib_hours", 0.0),
                "volume": top.get("vm.storage", 0.0),
                "snapshot": top.get("snap.storage", 0.0),
            },
        ).fetchone()
    per = "" if slice_files is not None else " an hour"
    where = f"interval {row[0]} of {row[1]} ({row[2]} {book.currency}{per})" if row else "unknown"
    said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (
        "an amount cannot be computed or held (money is DECIMAL(38,12), invoice lines count int64 "
        f"minor units); the likeliest cause is {where}; DuckDB said: {said}"
    )
