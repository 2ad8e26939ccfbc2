"""The orchestrator: run one period, the nightly job, the demo. The only module calling several stages.

A run reads the committed events of a store (a DuckDB view over the ingests' Parquet files), pairs
them as of the cut-off, prices the period's slices and hands the tables to the writer, which replaces
the period in the output folder atomically.

``run_id`` is the first 32 hex digits of the SHA-256 of a canonical JSON document naming what the run
read and how: the output format, the period and cut-off, the ingests that hold at least one event
before the cut-off (ingests are immutable and de-duplication keeps the first copy, so this set fixes
exactly which events the run saw), the price book's version (a digest of its bytes), the tenants
file's digest and the options. The same inputs give the same ``run_id`` and the same rows; an ingest
holding only later events does not change it. The nightly job restates a day exactly when its
``run_id`` would change.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile import _generate, _ingest, _pair, _price, _pricebook, _store, _write
from reconcile._currency import decimal_text, round_to_minor
from reconcile._engine import connect, engine_errors
from reconcile._period import (
    NS_PER_DAY,
    Period,
    date_to_ns,
    format_ns,
    parse_date,
    parse_duration,
    parse_instant,
    parse_period,
    resolve_cut_off,
)
from reconcile._progress import Progress
from reconcile._scratch import scratch_dir
from reconcile._sql import load_sql
from reconcile.exceptions import PricingError, ReconcileError, StoreError, UsageError

RUN_FORMAT = 2  # bump when the same inputs would give different rows: it is part of run_id
# 2: the extra of an interval ending on a midnight takes the tenant and price of its last instant


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """What one period's run found and wrote (also the body of its ``manifest.json``)."""

    run_id: str
    period: str
    period_start: str
    period_end: str
    cut_off: str
    output: str
    roles: dict[str, int]  # events (before the cut-off), start, stop, unmatched_stop
    intervals: dict[str, int]  # status -> intervals overlapping the period
    anomalies: dict[str, int]  # code -> anomalies in the period
    totals: dict[str, str]  # currency -> sum of invoice lines (tenant, family, meter), each rounded once
    totals_exact: dict[str, str]  # currency -> sum of slice amounts (12 fraction digits)
    totals_by_family: dict[str, dict[str, str]]  # family -> currency -> exact amount
    quantities: dict[str, str]  # meter -> billed quantity (12 fraction digits)
    unattributed_slices: int
    rows: dict[str, int] = field(default_factory=dict)
    replaced: bool = False
    skipped: bool = False  # the committed run already had this run_id: nothing rewritten

    def to_json(self) -> dict[str, Any]:
        """The summary as a JSON-ready dict (decimals as strings)."""
        return asdict(self)


@dataclass(frozen=True)
class DayRun:
    """One day the nightly job looked at: what it did and why."""

    period: str
    action: str  # "new", "restated", "filled" (a missing day), "unchanged"
    run_id: str
    previous_run_id: str | None
    anomalies: int


@dataclass(frozen=True)
class NightlySummary:
    """The nightly job: what it ingested, the day it ran, the days it restated."""

    ingest: dict[str, Any]
    yesterday: str
    days: list[DayRun]
    runs: list[RunSummary]

    @property
    def restated(self) -> list[str]:
        """The earlier days whose output was replaced because their inputs changed."""
        return [d.period for d in self.days if d.action == "restated"]

    @property
    def anomalies(self) -> int:
        """Anomalies in yesterday's and every restated day's output."""
        return sum(d.anomalies for d in self.days if d.action != "unchanged" or d.period == self.yesterday)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "ingest": self.ingest,
            "yesterday": self.yesterday,
            "days": [asdict(d) for d in self.days],
            "restated": self.restated,
            "anomalies": self.anomalies,
            "runs": [r.to_json() for r in self.runs],
        }


@dataclass(frozen=True)
class DemoSummary:
    """The demo: where everything landed and the runs it made."""

    root: str
    ledgers: str
    store: str
    output: str
    ingest: dict[str, Any]
    runs: list[RunSummary]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "root": self.root,
            "ledgers": self.ledgers,
            "store": self.store,
            "output": self.output,
            "ingest": self.ingest,
            "runs": [r.to_json() for r in self.runs],
        }


# --- inputs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """How a run pairs and attributes (part of run_id)."""

    double_start: str = "close"
    stale_after_ns: int | None = None
    tenants: Path | None = None
    tenants_sha256: str | None = None


def _options(
    double_start: str, stale_after: str | int | dt.timedelta | None, tenants: str | Path | None
) -> Options:
    if double_start not in _pair.DOUBLE_START_POLICIES:
        raise UsageError(f"double_start must be 'close' or 'drop', got {double_start!r}")
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
    return Options(double_start, stale_ns, tenants_path, digest)


def _price_book(prices: str | Path | _pricebook.PriceBook) -> _pricebook.PriceBook:
    if isinstance(prices, _pricebook.PriceBook):
        return prices
    return _pricebook.load_price_book(prices)


def _cut_off_ns(cut_off: str | int | dt.datetime | None) -> int | None:
    if cut_off is None:
        return None
    if isinstance(cut_off, str):
        return parse_instant(cut_off)
    return _pair.instant_ns(cut_off, "cut_off")


MEMORY_LIMIT = "1500MB"
"""DuckDB's memory limit for a run's connection (it spills past it)."""


class _Session:
    """One DuckDB connection over a store's committed events, the price book and the options."""

    def __init__(
        self, store: str | Path, book: _pricebook.PriceBook, options: Options, progress: Progress
    ) -> None:
        self.store = _store.Store(store)
        if not self.store.exists():
            raise StoreError(f"no event store at {self.store.path} (run `reconcile ingest` first)")
        self.book = book
        self.options = options
        self.progress = progress
        # A memory limit makes DuckDB spill the pairing walk and the slices instead of holding them:
        # measured on 10M events it kept pairing under 2 GB and made it faster. Spill files go to a
        # private scratch folder, not to the working directory.
        self._stack = contextlib.ExitStack()
        scratch = self._stack.enter_context(scratch_dir("run"))
        self.con = connect(memory_limit=MEMORY_LIMIT, scratch=scratch)
        _pair.register_events(self.con, self.store.event_files())
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE _ingest_first AS " + load_sql("engine/run_ingest_first")
        )
        self._ingest_first = dict(
            self.con.execute("SELECT ingest_id, first_ns FROM _ingest_first").fetchall()
        )
        self.tenants = None if options.tenants is None else _price.load_tenants(options.tenants)

    def close(self) -> None:
        self.con.close()
        self._stack.close()

    def ingests_before(self, cut_off_ns: int) -> list[str]:
        """The ingests holding at least one event before ``cut_off_ns`` (sorted)."""
        return sorted(
            i for i, first in self._ingest_first.items() if first is not None and first < cut_off_ns
        )

    def run_id(self, period: Period, cut_off_ns: int) -> str:
        """The run_id of ``period`` as of ``cut_off_ns`` with these inputs."""
        document = {
            "format": RUN_FORMAT,
            "output_format": _write.OUTPUT_FORMAT,
            "period": period.name,
            "period_start_ns": period.start_ns,
            "period_end_ns": period.end_ns,
            "cut_off_ns": cut_off_ns,
            "ingests": self.ingests_before(cut_off_ns),
            "price_version": self.book.price_version,
            "double_start": self.options.double_start,
            "stale_after_ns": self.options.stale_after_ns,
            "tenants_sha256": self.options.tenants_sha256,
        }
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def run(
        self, out: _write.OutputFolder, period: Period, cut_off_ns: int, *, force: bool = True
    ) -> RunSummary:
        """Pair, price and write one period; with ``force=False`` skip it if its run_id is committed."""
        run_id = self.run_id(period, cut_off_ns)
        previous = out.manifest(period.name)
        if not force and previous is not None and previous.get("run_id") == run_id:
            summary = _summary_from_manifest(previous, out.path)
            return RunSummary(**{**summary.to_json(), "skipped": True})
        with engine_errors(f"run {period.name}", memory_limit=MEMORY_LIMIT, where=str(out.path)):
            return self._run(out, period, cut_off_ns, run_id)

    def _run(self, out: _write.OutputFolder, period: Period, cut_off_ns: int, run_id: str) -> RunSummary:
        started = time.monotonic()
        self.progress.note(f"run {period.name}: pairing events before {format_ns(cut_off_ns)}")
        _pair.pair_in(
            self.con,
            cut_off_ns=cut_off_ns,
            double_start=self.options.double_start,
            stale_after_ns=self.options.stale_after_ns,
        )
        roles = self._roles(cut_off_ns)
        self.progress.note(f"run {period.name}: pricing slices")
        try:
            _price.price_slices(
                self.con,
                self.book,
                period_start_ns=period.start_ns,
                period_end_ns=period.end_ns,
                cut_off_ns=cut_off_ns,
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
            ("cut_off_ns", cut_off_ns),
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
            "cut_off": format_ns(cut_off_ns),
            "ingests": self.ingests_before(cut_off_ns),
            "roles": roles,
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
            "versions": _versions(),
        }
        self.progress.note(f"run {period.name}: writing {out.path}")
        result = out.write_period(
            self.con, period=period, cut_off_ns=cut_off_ns, run_id=run_id, manifest=manifest
        )
        self.progress.note(f"run {period.name}: done in {time.monotonic() - started:.1f} s (run_id {run_id})")
        summary = _summary_from_manifest({**manifest, "rows": result.rows}, out.path)
        return RunSummary(**{**summary.to_json(), "replaced": result.replaced})

    def _roles(self, cut_off_ns: int) -> dict[str, int]:
        """Role counts, checked against the events before the cut-off (SPEC section 2)."""
        self.con.execute("SET VARIABLE cut_off_ns = ?", [cut_off_ns])
        row = self.con.execute(load_sql("engine/run_roles")).fetchall()[0]
        roles = {
            "events": int(row[0]),
            "start": int(row[1]),
            "stop": int(row[2]),
            "unmatched_stop": int(row[3]),
        }
        with_role, distinct_events = int(row[4]), int(row[5])
        if not roles["events"] == roles["start"] + roles["stop"] + roles["unmatched_stop"] == with_role:
            raise ReconcileError(
                f"role identity broken as of {format_ns(cut_off_ns)}: {roles['events']} events, "
                f"{roles['start']} starts + {roles['stop']} stops + {roles['unmatched_stop']} unmatched stops"
            )
        if distinct_events != roles["events"]:
            raise ReconcileError(f"{roles['events'] - distinct_events} events have no role or several roles")
        return roles

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


def _versions() -> dict[str, str]:
    found = {"run_format": str(RUN_FORMAT), "output_format": str(_write.OUTPUT_FORMAT)}
    for dist in ("cocoon-billing", "duckdb", "polars", "pyarrow"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = "unknown"
    return found


_SUMMARY_FIELDS = (
    "run_id",
    "period",
    "period_start",
    "period_end",
    "cut_off",
    "roles",
    "intervals",
    "anomalies",
    "totals",
    "totals_exact",
    "totals_by_family",
    "quantities",
    "unattributed_slices",
    "rows",
)


def _summary_from_manifest(manifest: dict[str, Any], output: Path) -> RunSummary:
    values: dict[str, Any] = {k: manifest.get(k) for k in _SUMMARY_FIELDS}
    return RunSummary(output=str(output), **values)


# --- public entry points ------------------------------------------------------------------------------


def run_period(
    store: str | Path,
    prices: str | Path | _pricebook.PriceBook,
    output: str | Path,
    period: str | Period,
    *,
    cut_off: str | int | dt.datetime | None = None,
    double_start: str = "close",
    stale_after: str | int | dt.timedelta | None = None,
    tenants: str | Path | None = None,
    quiet: bool = False,
    wait: float = 0.0,
    now: int | dt.datetime | None = None,
) -> RunSummary:
    """Reconcile and price one period of a store into an output folder, replacing it atomically.

    ``period`` is ``YYYY-MM-DD`` or ``YYYY-MM``; ``cut_off`` (RFC 3339 text, aware datetime or Unix ns)
    defaults to the period's end, and a period that has not ended at ``now`` needs one. ``prices`` is
    a price book path, ``"bundled"`` or a loaded book. ``wait`` is how long to wait for another run
    holding the output folder before raising :class:`~reconcile.StoreLockedError`.
    """
    progress = Progress(quiet=quiet)
    the_period = parse_period(period) if isinstance(period, str) else period
    now_ns = time.time_ns() if now is None else _pair.instant_ns(now, "now")
    cut_off_ns = resolve_cut_off(the_period, _cut_off_ns(cut_off), now_ns=now_ns)
    options = _options(double_start, stale_after, tenants)
    book = _price_book(prices)
    with _write.open_output(output, wait=wait) as out:
        session = _Session(store, book, options, progress)
        try:
            return session.run(out, the_period, cut_off_ns)
        finally:
            session.close()


def _ingest_paths(
    paths: Sequence[str | Path], store: str | Path, *, quiet: bool, wait: float
) -> dict[str, Any]:
    return _ingest.ingest(paths, store, quiet=quiet, wait=wait).to_json()


def nightly(
    paths: Sequence[str | Path],
    store: str | Path,
    output: str | Path,
    prices: str | Path | _pricebook.PriceBook,
    *,
    lookback: int = 35,
    today: str | dt.date | None = None,
    double_start: str = "close",
    stale_after: str | int | dt.timedelta | None = None,
    tenants: str | Path | None = None,
    quiet: bool = False,
    wait: float = 0.0,
) -> NightlySummary:
    """Ingest ``paths``, run yesterday (UTC), and restate earlier days whose inputs changed.

    Every day in ``[today - lookback, yesterday)`` that has a committed run is re-run when its
    ``run_id`` would now differ (late lines before its end arrived, or the price book, tenants or
    options changed); a missing day after the first committed one in that window is filled. Yesterday
    is run unless its committed run already has the same ``run_id``.
    """
    if lookback < 1:
        raise UsageError(f"lookback must be at least 1 day, got {lookback}")
    progress = Progress(quiet=quiet)
    if today is None:
        the_today = dt.datetime.now(dt.UTC).date()
    elif isinstance(today, str):
        the_today = parse_date(today, what="today")
    else:
        the_today = today
    options = _options(double_start, stale_after, tenants)
    book = _price_book(prices)
    yesterday = the_today - dt.timedelta(days=1)
    with _write.open_output(output, wait=wait) as out:
        held = out.period_length()
        if held not in (None, "day"):
            raise UsageError(f"output folder {out.path} holds {held} runs; the nightly job writes days")
        progress.note(f"nightly: ingesting {len(paths)} path(s) into {store}")
        ingest_summary = _ingest_paths(paths, store, quiet=quiet, wait=wait)
        committed = out.manifests()
        window = [yesterday - dt.timedelta(days=i) for i in range(lookback, 0, -1)]
        earlier = [d for d in window if d.isoformat() in committed]
        first = min(earlier) if earlier else None
        session = _Session(store, book, options, progress)
        days: list[DayRun] = []
        runs: list[RunSummary] = []
        try:
            for day in window:
                name = day.isoformat()
                if first is None or day < first:
                    continue
                period = Period.day(day)
                run_id = session.run_id(period, period.end_ns)
                previous = committed.get(name, {}).get("run_id")
                if previous == run_id:
                    continue
                summary = session.run(out, period, period.end_ns)
                action = "restated" if previous is not None else "filled"
                days.append(DayRun(name, action, run_id, previous, sum(summary.anomalies.values())))
                runs.append(summary)
            period = Period.day(yesterday)
            summary = session.run(out, period, period.end_ns, force=False)
            previous = committed.get(yesterday.isoformat(), {}).get("run_id")
            action = "unchanged" if summary.skipped else ("new" if previous is None else "restated")
            days.append(
                DayRun(period.name, action, summary.run_id, previous, sum(summary.anomalies.values()))
            )
            runs.append(summary)
        finally:
            session.close()
    return NightlySummary(ingest_summary, yesterday.isoformat(), days, runs)


def _resource_ids(store: Path) -> set[str]:
    """Every resource id with an event in ``store`` (for the demo's tenant table)."""
    ids: set[str] = set()
    for path in _store.Store(store).event_files():
        ids.update(pq.read_table(path, columns=["resource_id"]).column("resource_id").to_pylist())
    return ids


DEMO_LOST = 0.01
"""The demo fleet loses 1% of start and stop lines (production: far fewer), so that one small week
shows every anomaly: double starts (inferred intervals), double stops, orphan stops."""


def demo(output: str | Path = "demo-output", *, seed: int = 7, quiet: bool = False) -> DemoSummary:
    """Generate a seeded fleet, ingest it, run each day with the bundled price book.

    The fleet comes with a tenant attribution table (``tenants.csv`` in the demo folder: a few
    resources change tenant mid-week, a few have none) that every run uses.

    ``output/ledgers`` (the generated ledgers), ``output/store`` (the event store) and
    ``output/output`` (the Parquet output, one folder per table). A folder from an earlier demo is
    reused (its three sub-folders are replaced); any other non-empty folder is refused.
    """
    root = Path(output)
    marker = root / ".reconcile-demo"
    if root.exists() and any(root.iterdir()) and not marker.exists():
        raise UsageError(
            f"demo folder {root} is not empty and was not made by `reconcile demo`; pick another"
        )
    progress = Progress(quiet=quiet)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by `reconcile demo`: its sub-folders are replaced by the next demo\n")
    ledgers, store, out_dir = root / "ledgers", root / "store", root / "output"
    for folder in (ledgers, store, out_dir):
        if folder.exists():
            shutil.rmtree(folder)
    progress.note(f"demo: generating a fleet (seed {seed}) into {ledgers}")
    fleet = _generate.write_fleet(ledgers, seed, lost=DEMO_LOST)
    ingest_summary = _ingest_paths([ledgers], store, quiet=quiet, wait=0.0)
    last_ns = parse_instant(fleet.last_emitted)
    last_day = dt.date.fromisoformat(format_ns(last_ns)[:10])
    first_day = dt.date.fromisoformat(format_ns(parse_instant(fleet.first_emitted))[:10])
    now_ns = date_to_ns(last_day) + NS_PER_DAY  # the demo's clock: the morning after the fleet's last day
    tenants = root / "tenants.csv"
    move_at = dt.datetime.combine(first_day + dt.timedelta(days=3), dt.time(12), tzinfo=dt.UTC)
    _generate.write_tenants(tenants, _resource_ids(store), seed, move_at=move_at)
    progress.note(f"demo: tenant attribution in {tenants} (some resources change tenant at {move_at})")
    options = _options("close", None, tenants)
    book = _price_book(_pricebook.BUNDLED)
    runs: list[RunSummary] = []
    with _write.open_output(out_dir) as out:
        session = _Session(store, book, options, progress)
        try:
            day = first_day
            while day <= last_day:
                period = Period.day(day)
                runs.append(session.run(out, period, resolve_cut_off(period, None, now_ns=now_ns)))
                day += dt.timedelta(days=1)
        finally:
            session.close()
    return DemoSummary(str(root), str(ledgers), str(store), str(out_dir), ingest_summary, runs)
