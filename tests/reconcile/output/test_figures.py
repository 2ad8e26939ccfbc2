"""The manifest figures: periods counted together each get the figures they get alone, and the invoice
totals are the analysts' invoice lines summed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from helpers.run_fixture import GIB, PRICES, ev, make_store
from reconcile import invoice_lines, invoice_totals, load_price_book, run_period
from reconcile._core._currency import decimal_text
from reconcile._output._totals import figures, figures_of

DAYS = ("2026-10-14", "2026-10-15", "2026-10-16")
EVENTS = [
    ev("vm.compute.start", "vm-1", "2026-10-14T22:00:00Z", cpu=2, mem=GIB, reason="boot"),
    ev("vm.compute.stop", "vm-1", "2026-10-15T02:00:00Z", cpu=2, mem=GIB, reason="stop-user"),
    ev("vm.compute.stop", "vm-2", "2026-10-15T05:00:00Z", reason="stop-user"),
    ev("vm.storage.start", "vm-1", "2026-10-14T22:00:00Z", storage=10 * GIB, reason="boot"),
    ev("snap.storage.start", "snap-1", "2026-10-15T07:00:00Z", storage=3 * GIB, reason="snapshot"),
    ev("vm.compute.start", "vm-3", "2026-10-15T09:30:00Z", cpu=4, mem=4 * GIB, reason="boot"),
]


def _files(out: Path, day: str) -> dict[str, list[Path]]:
    return {
        "slices": [out / "slices" / f"usage_date={day}" / "data_0.parquet"],
        "intervals": [out / "intervals" / f"period={day}" / "data_0.parquet"],
        "anomalies": [out / "anomalies" / f"period={day}" / "data_0.parquet"],
    }


def test_periods_counted_together_get_their_own_figures(tmp_path: Path) -> None:
    """figures_of over three days' files: each day's figures are those it gets alone (what its run
    wrote in its manifest), and its invoice totals are invoice_lines of its slices, summed."""
    store = make_store(tmp_path / "store", EVENTS)
    out = tmp_path / "out"
    summaries = [run_period(store, PRICES, out, day, quiet=True) for day in DAYS]
    book = load_price_book(PRICES)
    with duckdb.connect() as con:
        together = figures_of(con, [_files(out, d) for d in DAYS], book)
        alone = [figures(con, _files(out, d), book) for d in DAYS]
    assert together == alone
    assert len({str(f.totals) for f in together}) == len(DAYS)  # three different days
    for day, counted, summary in zip(DAYS, together, summaries, strict=True):
        assert (counted.intervals, counted.anomalies, counted.totals, counted.quantities) == (
            summary.intervals,
            summary.anomalies,
            summary.totals,
            summary.quantities,
        )
        lines = invoice_lines(pq.read_table(_files(out, day)["slices"][0]))
        assert counted.totals == {c: decimal_text(a) for c, a in invoice_totals(lines).items()}
    assert figures_of(duckdb.connect(), [], book) == []
