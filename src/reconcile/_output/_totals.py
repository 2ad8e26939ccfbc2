"""Stage: a period's staged output -> the figures its manifest records.

The figures of what a run is about to commit: intervals by status and anomalies by code (read from
the staged files), the exact totals per currency and per family, the invoice totals (rounded once
per invoice line, ``views/usage_lines``), the billed quantities per meter and the number of slices
without a tenant. The slices' figures are read from their *sums* (``write/slice_sums.sql``: per
period, day, tenant, currency, family and meter, the count and the sums of quantities and
amounts): the writer adds those of every chunk of rows as it writes them (``batch_slice_sums``), so
a month's slices are never read back; without them (the Spark engine's adopted files) they are
summed from the staged files here. Every sum of sums is the sum of the rows, exactly, so the figures
are the same either way. :func:`figures_of` counts every period of a batch (a nightly's days) with
one query per figure, not one per figure and period (``run_period``: the period's index).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import duckdb

from reconcile._core import _families
from reconcile._core._currency import currency_table, decimal_text, round_to_minor
from reconcile._core._duckdb import literals
from reconcile._core._sql import load_sql
from reconcile._output._manifest import Figures
from reconcile._price import _book as _pricebook

RUN_VIEWS = {"slices": "run_slices", "intervals": "run_intervals", "anomalies": "run_anomalies"}


def _views(
    con: duckdb.DuckDBPyConnection,
    periods: Sequence[dict[str, list[Path]]],
    tables: Sequence[str] = tuple(RUN_VIEWS),
) -> None:
    """The views of every period's files of ``tables``, each row with ``run_period`` (the period's
    index)."""
    for table in tables:
        parts = " UNION ALL BY NAME ".join(
            f"SELECT CAST($at_{i} AS INTEGER) AS run_period, * FROM read_parquet($files_{i},"
            " hive_partitioning = false)"
            for i in range(len(periods))
        )
        params: dict[str, object] = {}
        for i, files in enumerate(periods):
            params[f"at_{i}"] = i
            params[f"files_{i}"] = literals(files[table])
        con.sql(parts, params=params).create_view(RUN_VIEWS[table], replace=True)


def _sums(
    con: duckdb.DuckDBPyConnection,
    periods: Sequence[dict[str, list[Path]]],
    sums: tuple[str, Sequence[str]] | None,
) -> None:
    """``run_slice_sums``: the slice sums of every period by its index: from the table ``sums[0]``
    (its ``run_period`` a period's name, ``sums[1]`` the names in order), else summed from the
    staged slices files."""
    if sums is not None:
        table, names = sums
        con.sql(
            f"SELECT CAST(list_position($names, run_period) - 1 AS INTEGER) AS run_period,"
            f" * EXCLUDE (run_period) FROM main.{table} WHERE list_contains($names, run_period)",
            params={"names": list(names)},
        ).create_view("run_slice_sums", replace=True)
        return
    _views(con, periods, ["slices"])
    con.sql("SELECT * FROM run_slices").create_view("summed_slices", replace=True)
    con.execute("CREATE OR REPLACE TEMP TABLE run_slice_sums AS " + load_sql("engine/write/slice_sums"))


def _by_period(rows: list[tuple[object, ...]], count: int) -> list[list[tuple[object, ...]]]:
    """Rows whose first value is a period's index, split per period (the index dropped)."""
    out: list[list[tuple[object, ...]]] = [[] for _ in range(count)]
    for row in rows:
        out[int(str(row[0]))].append(row[1:])
    return out


def figures(
    con: duckdb.DuckDBPyConnection,
    files: dict[str, list[Path]],
    book: _pricebook.PriceBook,
    *,
    sums: tuple[str, str] | None = None,
) -> Figures:
    """The manifest figures of one period from its files (table -> Parquet files; module doc);
    ``sums``: the table of its slice sums and its name there."""
    return figures_of(con, [files], book, sums=None if sums is None else (sums[0], [sums[1]]))[0]


def figures_of(
    con: duckdb.DuckDBPyConnection,
    periods: Sequence[dict[str, list[Path]]],
    book: _pricebook.PriceBook,
    *,
    sums: tuple[str, Sequence[str]] | None = None,
) -> list[Figures]:
    """The manifest figures of each period from its files, read in one pass (each query once for
    all the periods of a batch: a nightly's days); the same as :func:`figures` of each alone.
    ``sums``: the table the writer added the periods' slice sums to (``slice_sums.sql``, keyed by
    period name) and the periods' names, in order; None: summed from the slices files."""
    count = len(periods)
    if not count:
        return []
    _views(con, periods, ["intervals", "anomalies"])
    _sums(con, periods, sums)
    con.register("currencies", currency_table())
    intervals = _by_period(
        con.execute("SELECT run_period, status, count(*) FROM run_intervals GROUP BY ALL").fetchall(), count
    )
    anomalies = _by_period(
        con.execute("SELECT run_period, code, count(*) FROM run_anomalies GROUP BY ALL").fetchall(), count
    )
    totals = _by_period(con.execute(load_sql("engine/write/run_totals")).fetchall(), count)
    quantities = _by_period(con.execute(load_sql("engine/write/run_quantities")).fetchall(), count)
    unattributed = dict(
        con.execute(
            "SELECT run_period, sum(slices) FILTER (WHERE tenant_id IS NULL) FROM run_slice_sums GROUP BY ALL"
        ).fetchall()
    )
    # the invoice lines of every period at once: each line keyed by its period and tenant, so each
    # is the line of that period (usage_lines.sql, the one definition, rounds once per line). It
    # reads the sums as its slices: a line's amounts are sums, and a sum of sums is the same sum
    # (its `slices` column, which counts rows, is not read here).
    keyed = con.sql(
        "SELECT {'period': run_period, 'tenant': tenant_id} AS tenant_id, * EXCLUDE (tenant_id, run_period)"
        " FROM run_slice_sums"
    )
    lines = keyed.query("slices", load_sql("views/usage_lines"))
    assert lines is not None
    # (amount_minor read too: a line beyond int64 minor units is an error, as in invoice_lines)
    summed = lines.query(
        "lines",
        "SELECT tenant_id.period, currency, sum(amount), max(minor_unit), max(amount_minor)"
        " FROM lines GROUP BY ALL",
    )
    assert summed is not None
    invoiced = _by_period(summed.fetchall(), count)
    return [
        _figures(
            intervals[i], anomalies[i], totals[i], quantities[i], invoiced[i], unattributed.get(i) or 0, book
        )
        for i in range(count)
    ]


def _decimal(value: object) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a DECIMAL, got {value!r}")
    return value


def _figures(  # noqa: PLR0917 (one period's rows of each query, in the order figures_of reads them)
    intervals: list[tuple[object, ...]],
    anomalies: list[tuple[object, ...]],
    totals: list[tuple[object, ...]],
    quantities: list[tuple[object, ...]],
    invoiced: list[tuple[object, ...]],
    unattributed: object,
    book: _pricebook.PriceBook,
) -> Figures:
    by_family: dict[str, dict[str, str]] = {}
    exact: dict[str, Decimal] = {}
    for family, currency, amount in totals:
        if family is None:
            exact[str(currency)] = _decimal(amount)
        else:
            by_family.setdefault(str(family), {})[str(currency)] = decimal_text(_decimal(amount))
    if not exact:
        exact[book.currency] = Decimal(0).scaleb(-_pricebook.PRICE_SCALE)
    # each line's amount at the largest minor unit of the period's lines (as invoice_lines gives it)
    scale = max((int(str(row[2])) for row in invoiced), default=2)
    invoice: dict[str, Decimal] = {}
    for currency, amount, _, _ in invoiced:  # (exact: whole minor units)
        invoice[str(currency)] = _decimal(amount).quantize(Decimal(1).scaleb(-scale))
    return Figures(
        intervals={str(k): int(str(v)) for k, v in sorted(intervals, key=lambda r: str(r[0]))},
        anomalies={str(k): int(str(v)) for k, v in sorted(anomalies, key=lambda r: str(r[0]))},
        totals={c: decimal_text(invoice.get(c, round_to_minor(Decimal(0), c))) for c in sorted(exact)},
        totals_exact={c: decimal_text(a) for c, a in sorted(exact.items())},
        totals_by_family=by_family,
        quantities={str(m): decimal_text(_decimal(q)) for m, q in quantities},
        unattributed_slices=int(str(unattributed)),
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
        top: dict[tuple[str, str], float] = {}  # per (family, meter): its highest price per hour
        for e in book.entries:
            key = (e.family, e.meter)
            top[key] = max(top.get(key, 0.0), float(e.price) / (e.hours_per_month or 1))
        meters = _families.CATALOGUE.meters
        # each interval's meters (the families' table, as parameters: the failed query's connection
        # takes no registration) at their highest prices: the largest of them
        row = con.execute(
            "WITH m AS (SELECT unnest($family) AS family, unnest($shape) AS shape,"
            "  unnest($unit_bytes) AS unit_bytes, unnest($hourly) AS hourly)"
            " SELECT interval_id, resource_id, 'about ' || printf('%.3g', hourly) FROM ("
            "  SELECT i.interval_id, i.resource_id, CASE m.shape WHEN 'cpu' THEN i.cpu"
            "    WHEN 'mem_bytes' THEN i.mem_bytes WHEN 'storage_bytes' THEN i.storage_bytes END"
            "    / m.unit_bytes * m.hourly AS hourly"
            "  FROM intervals AS i JOIN m ON m.family = i.family"
            ") ORDER BY hourly DESC NULLS LAST LIMIT 1",
            {
                "family": [m.family for m in meters],
                "shape": [m.shape for m in meters],
                "unit_bytes": [m.unit_bytes for m in meters],
                "hourly": [top.get((m.family, m.name), 0.0) for m in meters],
            },
        ).fetchone()
    per = "" if slice_files is not None else " an hour"
    where = f"interval {row[0]} of {row[1]} ({row[2]} {book.currency}{per})" if row else "unknown"
    said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (
        "an amount cannot be computed or held (money is DECIMAL(38,12), invoice lines count int64 "
        f"minor units); the likeliest cause is {where}; DuckDB said: {said}"
    )
