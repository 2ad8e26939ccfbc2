"""A run session: one DuckDB connection over a store snapshot, the price book, tenants and options.

A session walks the store once for the periods it is asked to run (``_walker``: from the latest
valid checkpoint, writing new ones as it passes midnights), then for each period reads that walk as
of the period's cut-off, prices the period's slices and hands the tables to the writer, which
replaces the period in the output folder atomically.

``run_id`` is the first 32 hex digits of the SHA-256 of a canonical JSON document naming what the run
read and how: the run and output formats, the period and cut-off, the ingests that hold at least one
event before the cut-off (ingests are immutable and de-duplication keeps the first copy, so this set
fixes exactly which events the run saw), the price book's version (a digest of its bytes), the
tenants file's digest and the options. The same inputs give the same ``run_id`` and the same rows,
whichever checkpoint the walk started from; an ingest holding only later events does not change it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from reconcile import _pair, _price, _pricebook, _write
from reconcile._currency import decimal_text, round_to_minor
from reconcile._engine import MEMORY_ENV, connect, engine_errors
from reconcile._pair import AsOf, DoubleStartPolicy
from reconcile._period import Period, format_ns, parse_duration, parse_instant
from reconcile._progress import Progress
from reconcile._results import RunSummary, summary_from_manifest
from reconcile._scratch import scratch_dir
from reconcile._sql import load_sql
from reconcile._store import Store
from reconcile._walker import Walker
from reconcile.exceptions import PricingError, StoreError, UsageError

RUN_FORMAT = 2  # bump when the same inputs would give different rows: it is part of run_id
# 2: the extra of an interval ending on a midnight takes the tenant and price of its last instant

MEMORY_LIMIT = "1500MB"
"""DuckDB's memory limit for a run's connection by default (it spills past it); ``--memory-limit``
or ``RECONCILE_MEMORY_LIMIT`` set another."""


def memory_limit(value: str | None = None) -> str:
    """The memory limit to use: ``value``, else ``$RECONCILE_MEMORY_LIMIT``, else the default."""
    chosen = value or os.environ.get(MEMORY_ENV) or MEMORY_LIMIT
    text = chosen.strip().upper().replace(" ", "")
    number = text.rstrip("KMGTIB")
    if not number.replace(".", "", 1).isdigit() or not text.endswith(
        ("KB", "MB", "GB", "TB", "KIB", "MIB", "GIB")
    ):
        raise UsageError(f"memory limit {chosen!r} is not a size like 1500MB or 4GB")
    return text


@dataclass(frozen=True)
class Options:
    """How a run pairs and attributes (part of run_id)."""

    double_start: DoubleStartPolicy = "close"
    stale_after_ns: int | None = None
    tenants: Path | None = None
    tenants_sha256: str | None = None


def make_options(
    double_start: str, stale_after: str | int | dt.timedelta | None, tenants: str | Path | None
) -> Options:
    """Checked :class:`Options` from what a caller gave."""
    if double_start not in _pair.DOUBLE_START_POLICIES:
        raise UsageError(f"double_start must be 'close' or 'drop', got {double_start!r}")
    policy: DoubleStartPolicy = "drop" if double_start == "drop" else "close"
    if stale_after is None:
        stale_ns = None
    elif isinstance(stale_after, str):
        stale_ns = parse_duration(stale_after)
    else:
        stale_ns = _pair.duration_ns(stale_after, "stale_after")
    tenants_path = None if tenants is None else Path(tenants)
    digest = None
    if tenants_path is not None:
        try:
            digest = hashlib.sha256(tenants_path.read_bytes()).hexdigest()
        except OSError as exc:
            raise UsageError(f"tenants file {tenants_path}: cannot read: {exc.strerror or exc}") from None
    return Options(policy, stale_ns, tenants_path, digest)


def price_book(prices: str | Path | _pricebook.PriceBook) -> _pricebook.PriceBook:
    """A loaded price book from a path, ``"bundled"`` or a book."""
    if isinstance(prices, _pricebook.PriceBook):
        return prices
    return _pricebook.load_price_book(prices)


def cut_off_ns(cut_off: str | int | dt.datetime | None) -> int | None:
    """A cut-off given as RFC 3339 text, an aware datetime or Unix ns, as Unix ns (None stays)."""
    if cut_off is None:
        return None
    if isinstance(cut_off, str):
        return parse_instant(cut_off)
    return _pair.instant_ns(cut_off, "cut_off")


def versions() -> dict[str, str]:
    """The formats and library versions a manifest records."""
    found = {"run_format": str(RUN_FORMAT), "output_format": str(_write.OUTPUT_FORMAT)}
    for dist in ("cocoon-billing", "duckdb", "polars", "pyarrow"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "unknown"
    return found


class Session:
    """One connection over a store snapshot, a price book and options (module doc).

    ``full_walk``: walk every event from the start of history in one window, reading and writing no
    checkpoint (the reference the checkpointed walk is tested against; slow on a long history).
    """

    def __init__(
        self,
        store: str | Path,
        book: _pricebook.PriceBook,
        options: Options,
        progress: Progress,
        *,
        memory: str | None = None,
        full_walk: bool = False,
    ) -> None:
        self.store = Store(store)
        if not self.store.exists():
            raise StoreError(f"no event store at {self.store.path} (run `reconcile ingest` first)")
        self.book = book
        self.options = options
        self.progress = progress
        self.memory_limit = memory_limit(memory)
        self._stack = contextlib.ExitStack()
        scratch = self._stack.enter_context(scratch_dir("run"))
        self.con = connect(memory_limit=self.memory_limit, scratch=scratch)
        self.walker = Walker(self.con, self.store, progress, scratch=scratch, full=full_walk)
        self.tenants = None if options.tenants is None else _price.load_tenants(options.tenants)

    def close(self) -> None:
        """Release the connection and the scratch folder."""
        self.con.close()
        self._stack.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ingests_before(self, cut_off: int) -> list[str]:
        """The ingests holding at least one event before ``cut_off`` (sorted)."""
        return list(self.walker.basis(cut_off))

    def run_id(self, period: Period, cut_off: int) -> str:
        """The run_id of ``period`` as of ``cut_off`` with these inputs."""
        document = {
            "format": RUN_FORMAT,
            "output_format": _write.OUTPUT_FORMAT,
            "period": period.name,
            "period_start_ns": period.start_ns,
            "period_end_ns": period.end_ns,
            "cut_off_ns": cut_off,
            "ingests": self.ingests_before(cut_off),
            "price_version": self.book.price_version,
            "double_start": self.options.double_start,
            "stale_after_ns": self.options.stale_after_ns,
            "tenants_sha256": self.options.tenants_sha256,
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def prepare(self, periods: Sequence[tuple[Period, int]]) -> None:
        """Walk once for every ``(period, cut_off)`` given (from before the earliest period)."""
        with engine_errors("pairing", memory_limit=self.memory_limit, where=str(self.store.path)):
            self.walker.walk(min(p.start_ns for p, _ in periods), max(c for _, c in periods))

    def run(
        self, out: _write.OutputFolder, period: Period, cut_off: int, *, force: bool = True
    ) -> RunSummary:
        """Pair, price and write one period (the walk must cover it: :meth:`prepare`); with
        ``force=False`` skip it if its run_id is committed."""
        run_id = self.run_id(period, cut_off)
        previous = out.manifest(period.name)
        if not force and previous is not None and previous.get("run_id") == run_id:
            return summary_from_manifest(previous, str(out.path), skipped=True)
        with engine_errors(f"run {period.name}", memory_limit=self.memory_limit, where=str(out.path)):
            return self._run(out, period, cut_off, run_id)

    def _run(self, out: _write.OutputFolder, period: Period, cut_off: int, run_id: str) -> RunSummary:
        started = time.monotonic()
        self.progress.note(f"run {period.name}: pairing events before {format_ns(cut_off)}")
        options = AsOf(cut_off, self.options.double_start, self.options.stale_after_ns)
        roles = self.walker.as_of(options, period=(period.start_ns, period.end_ns))
        self.progress.note(f"run {period.name}: pricing slices")
        try:
            _price.price_slices(
                self.con,
                self.book,
                period_start_ns=period.start_ns,
                period_end_ns=period.end_ns,
                cut_off_ns=cut_off,
                tenants=self.tenants,
                progress=self.progress,
            )
        except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
            raise PricingError(f"run {period.name}: {self._out_of_range('intervals', exc)}") from exc
        for name, value in (
            ("run_id", run_id),
            ("period_name", period.name),
            ("period_start_ns", period.start_ns),
            ("period_end_ns", period.end_ns),
            ("cut_off_ns", cut_off),
        ):
            self.con.execute(f"SET VARIABLE {name} = ?", [value])
        try:
            counts = self._counts()
        except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
            raise PricingError(f"run {period.name}: {self._out_of_range('slices', exc)}") from exc
        manifest = {
            "run_id": run_id,
            "period": period.name,
            "period_start": format_ns(period.start_ns),
            "period_end": format_ns(period.end_ns),
            "cut_off": format_ns(cut_off),
            "ingests": self.ingests_before(cut_off),
            "roles": roles.to_json(),
            **counts,
            "currency": self.book.currency,
            "price_version": self.book.price_version,
            "price_book": self.book.source,
            "options": {
                "double_start": self.options.double_start,
                "stale_after_ns": self.options.stale_after_ns,
                "tenants": None if self.options.tenants is None else str(self.options.tenants),
                "tenants_sha256": self.options.tenants_sha256,
            },
            "versions": versions(),
        }
        self.progress.note(f"run {period.name}: writing {out.path}")
        result = out.write_period(
            self.con, period=period, cut_off_ns=cut_off, run_id=run_id, manifest=manifest
        )
        self.progress.note(f"run {period.name}: done in {time.monotonic() - started:.1f} s (run_id {run_id})")
        return summary_from_manifest(
            {**manifest, "rows": result.rows}, str(out.path), replaced=result.replaced
        )

    def _out_of_range(self, table: str, exc: duckdb.Error) -> str:
        """What overflowed, naming the likeliest interval: with ``slices`` priced, the slice with the
        largest amount; else (pricing itself failed) the interval with the largest hourly amount
        estimated in floating point from the book's highest price of each meter."""
        if table == "slices":
            row = self.con.execute(
                "SELECT interval_id, resource_id, meter || ' amount ' || CAST(amount AS VARCHAR) "
                "FROM slices ORDER BY abs(amount) DESC LIMIT 1"
            ).fetchone()
        else:
            top: dict[str, float] = {}
            for e in self.book.entries:
                key = e.meter if e.family == "vm.compute" else e.family
                top[key] = max(top.get(key, 0.0), float(e.price) / (e.hours_per_month or 1))
            row = self.con.execute(
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
        per = "" if table == "slices" else " an hour"
        where = f"interval {row[0]} of {row[1]} ({row[2]} {self.book.currency}{per})" if row else "unknown"
        said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (
            "an amount cannot be computed or held (money is DECIMAL(38,12), invoice lines count int64 "
            f"minor units); the likeliest cause is {where}; DuckDB said: {said}"
        )

    def _counts(self) -> dict[str, Any]:
        """Intervals by status, anomalies by code, totals and quantities of the period."""
        con = self.con
        intervals = dict(
            con.execute(
                f"SELECT status, count(*) FROM ({load_sql('engine/output_intervals')}) GROUP BY status"
            ).fetchall()
        )
        anomalies = dict(
            con.execute(
                f"SELECT code, count(*) FROM ({load_sql('engine/output_anomalies')}) GROUP BY code"
            ).fetchall()
        )
        by_family: dict[str, dict[str, str]] = {}
        exact: dict[str, Decimal] = {}
        for family, currency, amount in con.execute(load_sql("engine/run_totals")).fetchall():
            if family is None:
                exact[currency] = amount
            else:
                by_family.setdefault(family, {})[currency] = decimal_text(amount)
        if not exact:
            exact[self.book.currency] = Decimal(0).scaleb(-_pricebook.PRICE_SCALE)
        invoice = _price.invoice_totals(_price.invoice_lines(con.table("slices")))
        quantities = {
            m: decimal_text(q) for m, q in con.execute(load_sql("engine/run_quantities")).fetchall()
        }
        unattributed = int(
            con.execute("SELECT count(*) FROM slices WHERE tenant_id IS NULL").fetchall()[0][0]
        )
        return {
            "intervals": {k: int(v) for k, v in sorted(intervals.items())},
            "anomalies": {k: int(v) for k, v in sorted(anomalies.items())},
            "totals": {c: decimal_text(invoice.get(c, round_to_minor(Decimal(0), c))) for c in sorted(exact)},
            "totals_exact": {c: decimal_text(a) for c, a in sorted(exact.items())},
            "totals_by_family": by_family,
            "quantities": quantities,
            "unattributed_slices": unattributed,
        }
