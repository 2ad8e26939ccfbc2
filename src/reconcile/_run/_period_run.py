"""One period's run: ``reconcile.run_period`` (the command ``reconcile run``)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from reconcile._core._period import Period, parse_period, resolve_cut_off
from reconcile._core._policies import DoubleStartPolicy, Engine, SparkOptions
from reconcile._core._progress import Progress
from reconcile._output import _folder as _write
from reconcile._pair import _walk as _pair
from reconcile._price import _book as _pricebook
from reconcile._price._book import price_book
from reconcile._run._options import cut_off_ns, make_options, spark_options
from reconcile._run._results import RunSummary
from reconcile._run._session import Session


def run_period(
    store: str | Path,
    prices: str | Path | _pricebook.PriceBook,
    output: str | Path,
    period: str | Period,
    *,
    cut_off: str | int | dt.datetime | None = None,
    double_start: DoubleStartPolicy = "close",
    stale_after: str | int | dt.timedelta | None = None,
    tenants: str | Path | None = None,
    contracts: str | Path | None = None,
    quiet: bool = False,
    wait: float = 0.0,
    now: int | dt.datetime | None = None,
    memory_limit: str | None = None,
    full_walk: bool = False,
    engine: Engine = "duckdb",
    spark: SparkOptions | None = None,
) -> RunSummary:
    """Reconcile and price one period of a store into an output folder, replacing it atomically.

    ``period`` is ``YYYY-MM-DD`` or ``YYYY-MM``; ``cut_off`` (RFC 3339 text, aware datetime or Unix ns)
    defaults to the period's end, and a period that has not ended at ``now`` needs one. ``prices`` is
    a price book path, ``"bundled"`` or a loaded book. ``wait`` is how long to wait for another run
    holding the output folder before raising :class:`~reconcile.StoreLockedError`. ``memory_limit``
    (like ``1500MB``; default ``$RECONCILE_MEMORY_LIMIT`` or 1500MB) bounds DuckDB's memory. The walk
    starts from the store's latest valid checkpoint before the period and writes new ones;
    ``full_walk=True`` walks the whole history instead (the same rows: a check, slow).
    ``engine="spark"`` runs pairing and pricing in Spark tasks (``spark``: its master, buckets and
    task memory; docs/SCALING.md): the same rows and run_id. ``contracts``: a contracts file
    (:func:`reconcile.load_contracts`, docs/SPEC.md "Contracts"): its tenants' slices are charged at
    their contracts' terms, and the terms the period reads are part of its ``run_id``.
    """
    progress = Progress(quiet=quiet)
    the_period = parse_period(period) if isinstance(period, str) else period
    now_ns = time.time_ns() if now is None else _pair.instant_ns(now, "now")
    cut = resolve_cut_off(the_period, cut_off_ns(cut_off), now_ns=now_ns)
    options = make_options(double_start, stale_after, tenants, contracts)
    book = price_book(prices)
    with (
        _write.open_output(output, wait=wait) as out,
        Session(
            store,
            book,
            options,
            progress,
            memory=memory_limit,
            full_walk=full_walk,
            spark=spark_options(engine, spark),
        ) as session,
    ):
        session.prepare([(the_period, cut)])
        return session.run(out, the_period, cut)
