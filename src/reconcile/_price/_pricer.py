"""Pricing stage: intervals + price book + tenants + period -> priced slices (SPEC sections 4 and 5).

Slices. An interval is billed in the period ``[period_start, period_end)`` over its part inside it; an
``open`` interval up to the cut-off; ``dropped`` intervals are not billed. That part is cut at the
period's edges, at UTC midnights, where a price of its family (default, or its hypervisor's override)
starts or ends, and where a tenant attribution of its resource starts or ends. Each slice is priced
by the price in force at its start (constant over the slice, since slices are cut at changes) and
attributed to the tenant holding the resource then.

Meters per slice of ``s`` consumed seconds (exact, from nanosecond differences): each meter of the
slice's family (``_families.CATALOGUE``, the relation ``meters``) measures ``shape / unit_bytes * s /
3600`` hours, ``shape`` the interval's shape column it reads (``cpu``, ``mem_bytes``, ...) and
``unit_bytes`` how much of it one unit is (1 vCPU, 2^30 bytes).

Increments and minimums (``[billing."<family>"]``) apply to ``closed`` and ``inferred`` intervals
only: the whole interval's consumed time is rounded up to the increment and raised to the minimum; the
extra time is billed once, on the slice that holds the interval's end. An instant belongs to the UTC
day (and period) ``[midnight, next midnight)`` that contains it, so the end is held by the slice of
that day ending at it; when the end falls exactly on a midnight (or the period's start) no such
slice exists, and the extra is billed on a zero-length slice ``[end, end)`` in the end's day, the
same slice a zero-length interval gets. That slice of an interval that lasted takes the tenant and
the price of the interval's last instant (``end - 1 ns``), not those starting at that midnight: the
extra is billed for the interval. So the extra lands in exactly one day, and a month priced as
one run or as its days' runs (each day seeing the intervals as of its own cut-off) gives the same
slices, quantities and amounts. ``open`` intervals get no increment or minimum yet.

Money. ``quantity`` (consumed) and ``billed_quantity`` (in the meter's hours) are rounded half-even
once per slice to 12 fraction digits from the exact value; ``amount = billed_quantity * unit_price``
(``/ hours_per_month`` for a GiB-month price), rounded half-even once to 12 fraction digits. All are
DECIMAL(38,12), computed as exact integers in DuckDB (see ``sql/engine/price/slices.sql``). Invoice lines
(``_invoice``, the analysts' ``sql/views/usage_lines.sql``) sum a tenant's month per family and meter
and round once, half-even, to the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._core import _families
from reconcile._core._currency import currency_table
from reconcile._core._duckdb import drop_relation, insertion_order, utc
from reconcile._core._period import NS_PER_DAY, ns_to_date
from reconcile._core._progress import Progress
from reconcile._core._sql import load_sql
from reconcile._price._book import PriceBook
from reconcile._price._contracts import Contracts, contract_tables
from reconcile._price._tenants import (
    as_tenant_table,
    empty_tenants,
)
from reconcile.exceptions import PriceBookError, TenantsError, UsageError


@dataclass(frozen=True)
class PeriodBounds:
    """The pricing stage's parameters for one period: Unix nanoseconds (UTC), the cut-off in
    ``(start_ns, end_ns]``."""

    start_ns: int
    end_ns: int
    cut_off_ns: int

    def __post_init__(self) -> None:
        if self.start_ns >= self.end_ns:
            raise UsageError(f"period start {self.start_ns} ns is not before its end {self.end_ns} ns")
        if not self.start_ns < self.cut_off_ns <= self.end_ns:
            raise UsageError(
                f"cut-off {self.cut_off_ns} ns is not inside the period ({self.start_ns}, {self.end_ns}] ns"
            )


@dataclass(frozen=True)
class PriceUnit:
    """What one set of pricing statements prices of an added period: the whole period, or one UTC
    day of it (``start_ns``, ``end_ns``: the unit's bounds; ``cut_off_ns``: the period's). Its slices
    carry ``key`` as their ``price_period``. A period's slices are the union of its days' (slices
    never cross a midnight; an interval's increment and minimum land on its end's day), so a month
    is priced a day at a time and its memory is a day's slices, not the month's."""

    key: str
    period: str
    start_ns: int
    end_ns: int
    cut_off_ns: int


PRICE_INPUT = "price_input"  # the intervals of the periods priced, with their price_period
PRICED = "priced_slices"  # the slices of the periods price_added priced, with their price_period
_ADDED = "price_added_intervals"  # the intervals Pricer.add copied (their PRICED_COLUMNS)
PRICED_COLUMNS = (
    "interval_id", "family", "resource_id", "hypervisor", "status",
    "cpu", "mem_bytes", "storage_bytes", "start_ns", "end_ns",
)  # fmt: skip
"""The columns of ``intervals`` pricing reads (``period_intervals.sql``): all :meth:`Pricer.add`
copies of a period (a day's 45,000 intervals with every column took 60 ms)."""

_LAST_NS = (
    "CASE WHEN status = 'open' THEN CAST(9223372036854775807 AS BIGINT) ELSE end_ns END AS price_last_ns"
)
"""The last instant an interval may be billed at (an open one: any), beside its ``start_ns``: a
unit reads the intervals with ``start_ns`` before its end and ``price_last_ns`` from its start on,
two plain comparisons DuckDB checks against each row group's range of the column."""

_ADDED_ORDER = "ORDER BY (price_last_ns // 86400000000000 - start_ns // 86400000000000 > 1), start_ns"
"""How :meth:`Pricer.add` stores a period's intervals: those that cross at most one midnight (most)
by their start, then the longer ones by their start. So each row group holds intervals of a few
days, and a day of a month reads the row groups that can overlap it, not the month's: reading every
interval for each of a 10M-event month's days took 26 s of its run (5.4M intervals, 31 times)."""


FEW_RANGES = 64
"""A resource with at most this many tenant validity ranges has its slices' tenants joined range by
range (``slice_spans.sql``); one with more, by an ASOF join over its slices only
(``many_range_tenants.sql``): linear either way, and no sort of every slice."""


def _many_range_tenants(con: duckdb.DuckDBPyConnection) -> None:
    """Set the tenant of the slices of resources with more than :data:`FEW_RANGES` ranges, if any."""
    many = (
        "SELECT 1 FROM tenants GROUP BY resource_id HAVING count(*) > getvariable('price_few_ranges') LIMIT 1"
    )
    if con.execute(many).fetchall():
        con.execute(
            "UPDATE slice_spans SET tenant_id = m.tenant_id"
            f" FROM ({load_sql('engine/price/many_range_tenants')}) AS m"
            " WHERE slice_spans.price_period = m.price_period AND slice_spans.interval_id = m.interval_id"
            " AND slice_spans.slice_start_ns = m.slice_start_ns AND slice_spans.slice_end_ns = m.slice_end_ns"
        )


class Pricer:
    """The pricing stage over one connection (its contract: docs/ARCHITECTURE.md).

    Made once per connection: it registers the book's ``prices`` and ``billing_rules``, the
    ``tenants`` (checked for overlaps), ``currencies`` and the families' ``meters`` (with
    ``families`` and ``pricing_units``: ``_families.register``) relations and the ``div_half_even`` macros,
    so pricing several periods (a nightly's days) pays for that once. :meth:`price` then reads the
    relation named ``intervals`` and makes the temp table ``slices``. Several periods are priced
    together with one set of statements: :meth:`add` each period's ``intervals``, then
    :meth:`price_added` makes ``priced_slices`` (keyed by ``price_period``) and :meth:`slices_of`
    one period's ``slices``; the rows are those :meth:`price` gives each period alone (the SQL is
    the same: every row carries its period's bounds, from ``price_periods``). The variables it sets
    are named ``price_*`` and read by pricing's own SQL only (docs/ARCHITECTURE.md, "Stage
    contracts"). Raises :class:`TenantsError` for a bad tenants table.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        price_book: PriceBook,
        tenants: pa.Table | None = None,
        contracts: Contracts | None = None,
    ) -> None:
        self.con = con
        self.book = price_book
        self.contracts = contracts
        if contracts is not None and contracts.currency != price_book.currency:
            raise PriceBookError(
                f"{contracts.source}: currency {contracts.currency!r} is not the price book's"
                f" {price_book.currency!r} ({price_book.source})"
            )
        utc(con)  # slice instants are TIMESTAMPTZ_NS: derived in UTC whatever connection was given
        tenant_table = empty_tenants() if tenants is None else as_tenant_table(tenants)
        con.register("prices", price_book.price_table())
        con.register("billing_rules", price_book.billing_table())
        con.register("tenants", tenant_table)
        con.register("currencies", currency_table())
        _families.register(con)  # the meters slices.sql fans each slice out to
        for name, table in contract_tables(contracts).items():
            con.register(name, table)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE contract_bounds AS " + load_sql("engine/price/contract_bounds")
        )
        for name, value, sql_type in (
            ("price_ns_per_day", NS_PER_DAY, "BIGINT"),
            ("price_currency", price_book.currency, "VARCHAR"),
            ("price_book_version", price_book.price_version, "VARCHAR"),
        ):
            con.execute(f"SET VARIABLE {name} = CAST(? AS {sql_type})", [value])
        con.execute(load_sql("engine/price/div_half_even"))
        self._added: dict[str, PeriodBounds] = {}
        self._priced: list[str] = []  # the periods of priced_slices
        self.added_rows = 0  # the intervals added since the last price_added
        overlaps = con.execute(load_sql("engine/price/tenant_overlaps")).fetchall()
        if overlaps:
            resource_id, tenant_id, _, _ = overlaps[0]
            raise TenantsError(
                f"tenants: {len(overlaps)} rows overlap an earlier row of their resource, e.g. resource"
                f" {resource_id!r} tenant {tenant_id!r} (normalize_tenants names the rows)"
            )

    def price(self, bounds: PeriodBounds, progress: Progress | None = None) -> duckdb.DuckDBPyRelation:
        """Price the relation ``intervals`` over ``bounds``: the temp table ``slices``
        (:func:`price_slices` describes its rows). Raises :class:`PriceBookError` when the book's
        default prices do not cover the period or a slice has no price."""
        self.book.check_coverage(bounds.start_ns, bounds.end_ns)
        self._periods([PriceUnit("", "", bounds.start_ns, bounds.end_ns, bounds.cut_off_ns)])
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {PRICE_INPUT} AS SELECT '' AS price_period, *, {_LAST_NS}"
            " FROM intervals"
        )
        try:
            self._slices("slices", "* EXCLUDE (price_period)", progress)
        finally:
            self.con.execute(f"DROP VIEW {PRICE_INPUT}")
        return self.con.table("slices")

    def add(self, name: str, bounds: PeriodBounds) -> None:
        """Add the relation ``intervals`` to the periods :meth:`price_added` prices together, as
        period ``name`` over ``bounds`` (its :data:`PRICED_COLUMNS` are copied). Raises
        :class:`PriceBookError` when the book's default prices do not cover the period."""
        if name in self._added:
            raise UsageError(f"period {name!r} is added twice")
        self.book.check_coverage(bounds.start_ns, bounds.end_ns)
        rows = (
            f"SELECT CAST(? AS VARCHAR) AS price_period, {', '.join(PRICED_COLUMNS)}, {_LAST_NS}"
            f" FROM intervals {_ADDED_ORDER}"
        )
        with insertion_order(self.con):  # (the rows stored in that order: row groups by days)
            if self._added:
                self.con.execute(f"INSERT INTO {_ADDED} BY NAME {rows}", [name])
            else:
                self.con.execute(f"CREATE OR REPLACE TEMP TABLE {_ADDED} AS {rows}", [name])
        self._added[name] = bounds
        self.added_rows += int(self.con.execute("SELECT count(*) FROM intervals").fetchall()[0][0])

    def price_added(self, progress: Progress | None = None) -> list[str]:
        """Price every period :meth:`add` added since the last call, with one set of statements
        (planning the pricing SQL costs more than pricing a few hundred intervals: a nightly's
        restated days are priced together): the temp table ``priced_slices``, the rows of
        :func:`price_slices` with a ``price_period`` column. Returns the periods' names, in the
        order added; their inputs stay until the next :meth:`add` (:meth:`input_of`). Raises
        :class:`PriceBookError` when a slice has no price."""
        names = list(self._added)
        self._priced = names
        if not names:
            return []
        units = [PriceUnit(n, n, b.start_ns, b.end_ns, b.cut_off_ns) for n, b in self._added.items()]
        try:
            self.price_units(units, PRICED, progress)
        finally:
            self.clear()
        return names

    def day_units(self) -> list[tuple[PriceUnit, int]]:
        """Every day of every period added since the last :meth:`clear` as a unit (key
        ``<period>/<YYYY-MM-DD>``; a one-day period's unit is the period, keyed by its name), in the
        order added, each with the number of its period's intervals that overlap it (an estimate of
        its slices: from one count of the intervals by start day and one by end day)."""
        day = NS_PER_DAY
        starts: dict[tuple[str, int], int] = {}
        ends: dict[tuple[str, int], int] = {}
        if self._added:
            for target, sql in (
                (starts, f"SELECT price_period, start_ns // {day}, count(*) FROM {_ADDED} GROUP BY ALL"),
                (
                    ends,
                    f"SELECT price_period, end_ns // {day}, count(*) FROM {_ADDED}"
                    " WHERE status <> 'open' AND end_ns IS NOT NULL GROUP BY ALL",
                ),
            ):
                for name, index, count in self.con.execute(sql).fetchall():
                    target[(str(name), int(index))] = int(count)
        units: list[tuple[PriceUnit, int]] = []
        for name, b in self._added.items():
            first, last = b.start_ns // day, -(-b.end_ns // day)
            before = sum(c for (n, i), c in starts.items() if n == name and i < first)
            ended = sum(c for (n, i), c in ends.items() if n == name and i < first)
            for index in range(first, last):
                before += starts.get((name, index), 0)
                active = before - ended  # started by the day's end, not ended before its start
                ended += ends.get((name, index), 0)
                lo, hi = max(b.start_ns, index * day), min(b.end_ns, (index + 1) * day)
                key = name if last - first == 1 else f"{name}/{ns_to_date(lo).isoformat()}"
                units.append((PriceUnit(key, name, lo, hi, b.cut_off_ns), active))
        return units

    def price_units(self, units: list[PriceUnit], target: str, progress: Progress | None = None) -> None:
        """Price ``units`` of the periods added (since the last :meth:`clear`) with one set of
        statements into the table ``target`` (a name in the main catalog, replaced: the writer's
        cursors read it): :func:`price_slices`'s rows, each with its unit's key as
        ``price_period``. Raises :class:`PriceBookError` when a slice has no price."""
        self._periods(units)
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {PRICE_INPUT} AS SELECT * FROM {_ADDED}")
        try:
            self._slices(target, "*", progress)
        finally:
            self.con.execute(f"DROP VIEW {PRICE_INPUT}")

    def clear(self) -> None:
        """Forget the periods added (their copied intervals stay until the next :meth:`add`, for
        :meth:`input_of`)."""
        self._added = {}
        self.added_rows = 0

    def input_of(self, name: str) -> None:
        """Make the relation ``intervals`` the input of period ``name`` of the last
        :meth:`price_added` again (to price it alone: an error that names its period)."""
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE intervals AS SELECT * EXCLUDE (price_period, price_last_ns)"
            f" FROM {_ADDED}"
            " WHERE price_period = ?",
            [name],
        )

    def slices_of(self, name: str) -> duckdb.DuckDBPyRelation:
        """``slices``: the slices of period ``name`` of the last :meth:`price_added`
        (:func:`price_slices`'s columns): a view when it priced that period alone (a month's
        slices are not copied), else a temp table."""
        if name not in self._priced:
            raise UsageError(f"period {name!r} was not priced")
        drop_relation(self.con, "slices")
        if self._priced == [name]:
            self.con.execute(f"CREATE TEMP VIEW slices AS SELECT * EXCLUDE (price_period) FROM main.{PRICED}")
        else:
            self.con.execute(
                f"CREATE TEMP TABLE slices AS SELECT * EXCLUDE (price_period) FROM main.{PRICED}"
                " WHERE price_period = ?",
                [name],
            )
        return self.con.table("slices")

    def _periods(self, units: list[PriceUnit]) -> None:
        """``price_periods``: the bounds of each unit priced next, and its input period."""
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE price_periods (price_period VARCHAR, input_period VARCHAR,"
            " period_start_ns BIGINT, period_end_ns BIGINT, cut_off_ns BIGINT)"
        )
        self.con.executemany(
            "INSERT INTO price_periods VALUES (?, ?, ?, ?, ?)",
            [[u.key, u.period, u.start_ns, u.end_ns, u.cut_off_ns] for u in units],
        )
        for name, value in (
            ("price_units_start_ns", min(u.start_ns for u in units)),
            ("price_units_end_ns", max(u.end_ns for u in units)),
        ):
            self.con.execute(f"SET VARIABLE {name} = CAST(? AS BIGINT)", [value])

    def _slices(self, target: str, columns: str, progress: Progress | None) -> None:
        """The table ``target`` of the ``columns`` of slices.sql over ``price_input`` (a temp table;
        :data:`PRICED` and a name given to :meth:`price_units`: a table of the main catalog)."""
        con = self.con
        progress = progress if progress is not None else Progress(quiet=True)
        progress.note("price: slicing intervals")
        con.execute(
            "CREATE OR REPLACE TEMP TABLE period_intervals AS " + load_sql("engine/price/period_intervals")
        )
        con.execute("CREATE OR REPLACE TEMP TABLE slice_cuts AS " + load_sql("engine/price/slice_cuts"))
        con.execute("SET VARIABLE price_few_ranges = ?", [FEW_RANGES])
        con.execute("CREATE OR REPLACE TEMP TABLE slice_spans AS " + load_sql("engine/price/slice_spans"))
        _many_range_tenants(con)
        progress.note("price: pricing slices")
        drop_relation(con, target)  # (a view slices_of made, maybe)
        made = f"TEMP TABLE {target}" if target == "slices" else f"OR REPLACE TABLE main.{target}"
        priced = load_sql("engine/price/slices")
        if self.contracts is not None:  # (without a contracts file, slices.sql's rows as they were)
            con.execute(
                "CREATE OR REPLACE TEMP TABLE slice_contracts AS " + load_sql("engine/price/slice_contracts")
            )
            con.execute("CREATE OR REPLACE TEMP TABLE list_slices AS " + priced)
            priced = load_sql("engine/price/contracted_slices")
        con.execute(f"CREATE {made} AS SELECT {columns} FROM (\n" + priced + "\n)")
        for table in ("slice_cuts", "slice_spans", "period_intervals", "slice_contracts", "list_slices"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        where = target if target == "slices" else f"main.{target}"
        row = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE price_entry IS NULL),"
            f" min(family || ' ' || meter) FILTER (WHERE price_entry IS NULL) FROM {where}"
        ).fetchall()[0]
        if row[1]:
            raise PriceBookError(f"{self.book.source}: {row[1]} slices have no price (e.g. {row[2]})")
        progress.note(f"price: {row[0]} slice rows")


def price_slices(
    con: duckdb.DuckDBPyConnection,
    price_book: PriceBook,
    *,
    period_start_ns: int,
    period_end_ns: int,
    cut_off_ns: int | None = None,
    intervals: pa.Table | duckdb.DuckDBPyRelation | None = None,
    tenants: pa.Table | None = None,
    contracts: Contracts | None = None,
    progress: Progress | None = None,
) -> duckdb.DuckDBPyRelation:
    """Price the intervals of one period; returns the temp table ``slices`` created in ``con``.

    ``intervals``: the ``intervals`` table of docs/ARCHITECTURE.md (as an Arrow table or relation);
    ``None`` uses the relation named ``intervals`` already in ``con``. ``period_start_ns``,
    ``period_end_ns``, ``cut_off_ns``: Unix nanoseconds (UTC); the cut-off defaults to the period's end
    and must lie in ``(period_start, period_end]``. ``tenants``: ``None``, or a table with
    ``resource_id, tenant_id[, valid_from, valid_to]`` (see :func:`normalize_tenants`; a table already
    in :data:`TENANT_SCHEMA`, as :func:`load_tenants` returns, is only checked for overlaps).

    The result has one row per slice and meter, with the SPEC section 5 columns except ``run_id``
    (``interval_id, family, resource_id, tenant_id, usage_date, slice_start, slice_end, seconds, meter,
    quantity, billed_quantity, unit_price, price_unit, hours_per_month, amount, currency,
    price_version, status``) and ``hypervisor, slice_start_ns, slice_end_ns, billed_seconds`` (consumed
    plus the increment/minimum extra on the slice holding the end) and ``price_entry`` (the 1-based
    ``[[price]]`` applied). Money and quantity columns are DECIMAL(38,12); ``seconds`` and
    ``billed_seconds`` DECIMAL(18,9); ``usage_date`` the UTC date of ``slice_start``. A zero-length
    slice (``slice_start = slice_end``) carries the minimum of a zero-length interval, or the extra of an
    interval ending exactly on a UTC midnight (see the module docstring). Rows are in no set order.

    With ``contracts`` (:func:`reconcile.load_contracts`), slices are also cut where a contract of
    their tenant starts or ends, ``unit_price``, ``price_unit``, ``hours_per_month`` and ``amount``
    are what the tenant is charged, and the columns of ``sql/engine/price/contracted_slices.sql``
    follow: ``list_unit_price, list_price_unit, list_hours_per_month, list_amount`` (the book's),
    ``contract_id, price_basis, discount_percent, contract_tiers`` (docs/SPEC.md, "Contracts").

    One period priced once; several periods over one connection: :class:`Pricer` (what it leaves in
    ``con`` is listed there). Raises :class:`PriceBookError` when the book's default prices do
    not cover the period, :class:`UsageError` for a bad period or cut-off, :class:`TenantsError` for a
    bad tenants table.
    """
    bounds = PeriodBounds(period_start_ns, period_end_ns, period_end_ns if cut_off_ns is None else cut_off_ns)
    price_book.check_coverage(period_start_ns, period_end_ns)
    if isinstance(intervals, pa.Table):
        con.register("intervals", intervals)
    elif isinstance(intervals, duckdb.DuckDBPyRelation):
        intervals.create_view("intervals", replace=True)
    return Pricer(con, price_book, tenants, contracts).price(bounds, progress)
