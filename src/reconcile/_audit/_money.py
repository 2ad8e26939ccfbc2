"""The money of each finding, priced by the engine's own pricing stage (exact decimals).

``audit_runs.sql`` turns the comparison's rows into findings with the evidence around them;
``audit_pieces.sql`` makes, per finding, the intervals of the bills it compares (the ledger's
interval as billed now, and the scenarios at the extremes of what the evidence allows); the
pricing stage (``_price.Pricer``, the one a run uses: the price book with its per-hypervisor
prices and effective dates, increments and minimums, the tenants table) prices them all at once
over the window, as a run of the window would; ``audit_findings.sql`` sums each scenario and
bounds the change. No amount is computed outside the pricing stage's SQL; sums are DECIMAL.

A contracts table (discounts, commitments: not in the engine yet) would price here too: every
amount of the audit goes through :func:`price_findings`, so it would reach the findings with no
other change.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._audit._ledger import Window
from reconcile._core._period import NS_PER_SECOND
from reconcile._core._sql import load_sql
from reconcile._price._book import PriceBook
from reconcile._price._pricer import PeriodBounds, Pricer


def _rules(con: duckdb.DuckDBPyConnection, book: PriceBook) -> None:
    """``audit_rules``: per family, the larger of its billing increment and minimum, in ns."""
    families = sorted(book.billing)
    probes = [
        max(book.billing[f].increment_seconds or 0, book.billing[f].minimum_seconds) * NS_PER_SECOND
        for f in families
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_rules AS"
        " SELECT unnest(CAST(? AS VARCHAR[])) AS family, unnest(CAST(? AS BIGINT[])) AS probe_ns",
        [families, probes],
    )


def price_findings(
    con: duckdb.DuckDBPyConnection, book: PriceBook, tenants: pa.Table | None, window: Window
) -> int:
    """``audit_findings`` from ``audit_diffs`` (and the relations ``_ledger`` made); returns how
    many findings there are."""
    for name, value in (
        ("audit_window_start_ns", window.start_ns),
        ("audit_cut_off_ns", window.cut_off_ns),
        ("audit_currency", book.currency),
    ):
        con.execute(f"SET VARIABLE {name} = ?", [value])
    _rules(con, book)
    con.execute("CREATE OR REPLACE TEMP TABLE audit_runs AS " + load_sql("engine/audit/audit_runs"))
    con.execute("CREATE OR REPLACE TEMP TABLE audit_pieces AS " + load_sql("engine/audit/audit_pieces"))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE intervals AS SELECT finding_id || '/' || tag || '/' || piece AS"
        " interval_id, family, resource_id, hypervisor, status, cpu, mem_bytes, storage_bytes, start_ns,"
        " end_ns"
        " FROM audit_pieces"
    )
    pricer = Pricer(con, book, tenants)
    pricer.price(PeriodBounds(window.start_ns, window.end_ns, window.cut_off_ns))
    con.execute("CREATE OR REPLACE TEMP TABLE audit_findings AS " + load_sql("engine/audit/audit_findings"))
    return int(con.execute("SELECT count(*) FROM audit_findings").fetchall()[0][0])
