"""The in-process engine: the pipeline (``_base.Stages.run``) in the session's own DuckDB connection.

The session's walk runs once for every period asked for (``_walker``: from the latest valid
checkpoint, writing new ones as it passes midnights). Then each period is read as of its cut-off and
added to a batch: its intervals and anomalies files are spooled (``_staging``) and its intervals are
added to pricing (``_price.Pricer.add``). A batch is priced and its slices written a chunk of units at
a time (a day period, a day of a month; :data:`CHUNK_INTERVALS`), then each period is counted and
committed in turn (``_base.Engine.commit_staged``). A restated day whose committed run differs only by
new ingests recomputes only the resources they touched (``_reuse``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import duckdb

from reconcile._core._duckdb import engine_errors
from reconcile._core._period import Period, format_ns
from reconcile._engines._base import Engine, EngineContext, Pending, PeriodRun, Stages
from reconcile._output import _reuse, _staging
from reconcile._output import _totals as _figures
from reconcile._output._folder import OutputFolder
from reconcile._output._manifest import Reused
from reconcile._pair._walk import AsOf, Roles
from reconcile._price import _pricer as _price
from reconcile._run._results import RunSummary
from reconcile.exceptions import PricingError

CHUNK_INTERVALS = 1_000_000
"""A batch is priced and written in chunks of units (a day period, a day of a month) of at most this
many intervals: a session holds a chunk's slices at most, so a month runs in a day's memory."""

BATCH_ROWS = 1_500_000
"""A session writes the periods it has computed once their rows reach this many (a nightly's days
are written together, a month alone): the batch is held in DuckDB until its files are written."""


class DuckDBEngine(Engine):
    """The in-process engine (module doc): one connection, one walk, batches of periods."""

    def __init__(self, context: EngineContext) -> None:
        super().__init__(context)
        self._scopes = _reuse.Scopes(context.con, context.store, context.walker.entries)
        self._scope_key: object = None  # the scope of the last reusing run
        self._pricer: _price.Pricer | None = None  # made at the first period priced
        self._units: dict[str, _price.PriceUnit] = {}  # the pricing units of the batch being written
        self._walk: tuple[int, int] | None = None  # the walk prepare asked for, not yet run

    def prepare(self, periods: Sequence[tuple[Period, int]]) -> None:
        """The walk for every ``(period, cut_off)`` given (from before the earliest period), run
        first by the next :meth:`run_many`."""
        self._walk = (min(p.start_ns for p, _ in periods), max(c for _, c in periods))

    def run_many(self, out: OutputFolder, runs: Sequence[PeriodRun]) -> list[RunSummary]:
        """Compute each run into batches of at most :data:`BATCH_ROWS` rows (their intervals,
        anomalies aside, and the intervals they price); each batch is priced together, its files
        are written at once (``_staging``), then each period is committed atomically in turn."""
        walk, self._walk = self._walk, None
        batch = _staging.Batch(self.context.con, spool=self.context.scratch / "batch")
        stages = _BatchStages(self, out, batch, len(runs))
        try:
            stages.run(runs, walk=walk)
        finally:
            batch.close()
        return stages.summaries

    def pricer(self) -> _price.Pricer:
        """The session's pricing stage (its price book and tenants registered once)."""
        if self._pricer is None:
            c = self.context
            self._pricer = _price.Pricer(c.con, c.book, c.tenants, c.contracts)
        return self._pricer

    def reuse(self, out: OutputFolder, run: PeriodRun) -> _reuse.Reuse | None:
        """What this run takes from the committed run of its period (``_reuse``), with ``run_scope``
        made; None: recompute everything (and always on a full walk, the reference)."""
        if self.context.full_walk:
            return None
        reuse = _reuse.candidate(run.previous, run.inputs, output=out.path, period=run.period)
        if reuse is None:
            return None
        key = self._scopes.make(reuse, run.cut_off)
        if not _reuse.pays(self.context.con, reuse, self._scopes.size):
            return None
        self._scope_key = key
        size = self._scopes.size
        self.context.progress.note(
            f"run {run.period.name}: recomputing the {size} resource(s) of {len(reuse.new_ingests)} new"
            f" ingest(s); the rest as committed by run {reuse.previous_run_id}"
        )
        return reuse

    def write_batch(
        self, batch: _staging.Batch, out: OutputFolder, pending: list[Pending]
    ) -> list[RunSummary]:
        """Price and stage the batch's files a chunk at a time (:meth:`chunks`), count each period
        from what was written and commit it; the batch emptied."""
        if not pending:
            return []
        names = ", ".join(p.period.name for p in pending)
        pricer = self._pricer
        if pricer is None:
            raise ValueError("no period was computed into the batch")
        chunks = self.chunks(pricer)
        limit = self.context.memory_limit
        self.context.progress.note(f"pricing and writing {len(pending)} period(s) to {out.path}: {names}")

        def price(units: Sequence[_staging.SliceUnit]) -> None:
            periods = list(dict.fromkeys(u.period for u in units))
            self.context.progress.note(f"pricing {units[0].key} .. {units[-1].key} ({len(chunks)} chunk(s))")
            with engine_errors(f"pricing {', '.join(periods)}", memory_limit=limit):
                try:
                    pricer.price_units([self._units[u.key] for u in units], _staging.BATCH_SLICES)
                except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
                    raise self._pricing_error([p for p in pending if p.period.name in periods], exc) from exc

        try:
            with engine_errors(f"writing {names}", memory_limit=limit, where=str(out.path)):
                staged = out.stage(batch, chunks, price)
            return self.commit_staged(out, pending, staged, sums=_staging.BATCH_SLICE_SUMS)
        finally:
            pricer.clear()
            batch.clear()

    def _pricing_error(self, pending: list[Pending], exc: duckdb.Error) -> PricingError:
        """The error of the first pending period whose pricing alone fails as the chunk did."""
        pricer = self._pricer
        assert pricer is not None
        con, book = self.context.con, self.context.book
        for item in pending:
            pricer.input_of(item.period.name)
            try:
                pricer.price(_price.PeriodBounds(item.period.start_ns, item.period.end_ns, item.cut_off))
            except (duckdb.OutOfRangeException, duckdb.ConversionException) as alone:
                said = _figures.out_of_range(con, book, None, alone)
                return PricingError(f"run {item.period.name}: {said}")
        names = ", ".join(p.period.name for p in pending)
        return PricingError(f"run {names}: {_figures.out_of_range(con, book, None, exc)}")

    def chunks(self, pricer: _price.Pricer) -> list[list[_staging.SliceUnit]]:
        """The units of the periods added to ``pricer`` (each day of a longer period its own unit)
        in chunks of at most :data:`CHUNK_INTERVALS` intervals (``_staging.chunked``)."""
        units = pricer.day_units()
        self._units = {unit.key: unit for unit, _ in units}
        days = [
            (_staging.SliceUnit(u.key, u.period, _staging.days_of(u.start_ns, u.end_ns)), n) for u, n in units
        ]
        return _staging.chunked(days, CHUNK_INTERVALS)


class _BatchStages(Stages[PeriodRun]):
    """The pipeline's stages over one output folder's batch (module doc)."""

    def __init__(self, engine: DuckDBEngine, out: OutputFolder, batch: _staging.Batch, total: int) -> None:
        self.engine = engine
        self.total = total  # the periods of the run (progress counts them)
        self.number = 0
        self.context = engine.context
        self.out = out
        self.batch = batch
        self.pending: list[Pending] = []
        self.summaries: list[RunSummary] = []
        self._started: dict[str, float] = {}
        self._reuse: dict[str, _reuse.Reuse | None] = {}

    def _errors(self, run: PeriodRun) -> contextlib.AbstractContextManager[None]:
        return engine_errors(
            f"run {run.period.name}", memory_limit=self.context.memory_limit, where=str(self.out.path)
        )

    def walk(self, from_ns: int | None, to_ns: int) -> None:
        c = self.context
        if from_ns is None:
            raise ValueError("the session's walk starts at its earliest period")
        with engine_errors("pairing", memory_limit=c.memory_limit, where=str(c.store.path)):
            c.walker.walk(from_ns, to_ns)

    def as_of(self, period: PeriodRun) -> Roles:
        name = period.period.name
        c = self.context
        self.number += 1
        if self.total > 1:
            c.progress.note(f"day {self.number}/{self.total}: {name}")
        self._started[name] = time.monotonic()
        with self._errors(period):
            c.progress.note(f"run {name}: pairing events before {format_ns(period.cut_off)}")
            options = AsOf(period.cut_off, c.options.double_start, c.options.stale_after_ns)
            reuse = self._reuse[name] = self.engine.reuse(self.out, period)
            return c.walker.as_of(
                options,
                period=(period.period.start_ns, period.period.end_ns),
                scope=None if reuse is None else (_reuse.SCOPE, self.engine._scope_key),
                event_roles=False,
            )

    def price(self, period: PeriodRun) -> None:
        p = period.period
        with self._errors(period):
            self.engine.pricer().add(p.name, _price.PeriodBounds(p.start_ns, p.end_ns, period.cut_off))

    def stage(self, period: PeriodRun, roles: Roles) -> None:
        name = period.period.name
        reuse = self._reuse.pop(name)
        with self._errors(period):
            self.batch.collect(
                period=period.period,
                cut_off_ns=period.cut_off,
                run_id=period.run_id,
                kept=None if reuse is None else reuse.files,
                scope=None if reuse is None else _reuse.SCOPE,
                slices=False,  # (priced with the batch's other periods: write_batch)
            )
            reused = None if reuse is None else Reused(reuse.previous_run_id, reuse.new_ingests)
            manifest = self.engine.manifest(period, roles, reused)
        started = self._started.pop(name)
        self.pending.append(Pending(period.period, period.run_id, manifest, started, period.cut_off))
        priced = self.engine.pricer().added_rows  # (to be priced)
        if self.batch.rows + priced >= BATCH_ROWS:
            self.finish()

    def finish(self) -> None:
        pending, self.pending = self.pending, []
        self.summaries.extend(self.engine.write_batch(self.batch, self.out, pending))
