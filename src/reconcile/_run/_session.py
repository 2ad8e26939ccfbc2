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
import functools
import hashlib
import importlib.metadata
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from reconcile._core._duckdb import connect, engine_errors, memory_limit
from reconcile._core._period import Period, format_ns
from reconcile._core._policies import SparkOptions
from reconcile._core._progress import Progress
from reconcile._core._scratch import scratch_dir
from reconcile._output import _bill_versions as _versions
from reconcile._output import _folder as _write
from reconcile._output import _reuse, _staging
from reconcile._output import _totals as _figures
from reconcile._output._manifest import Figures, Manifest, Reused, RunInputs, RunOptions
from reconcile._pair._walk import AsOf, Roles
from reconcile._pair._walker import Walker
from reconcile._price import _book as _pricebook
from reconcile._price import _pricer as _price
from reconcile._price import _tenants
from reconcile._price._contracts import Contracts, commitments, contract_terms, load_contracts, period_digest
from reconcile._run._results import RunSummary, summary_from_manifest
from reconcile._store._reader import Store

if TYPE_CHECKING:
    from reconcile._spark._run import SparkRuns

from reconcile._run._options import Options
from reconcile.exceptions import PricingError, StoreError, UsageError

RUN_FORMAT = 3  # bump when the same inputs would give different rows: it is part of run_id
# 2: the extra of an interval ending on a midnight takes the tenant and price of its last instant
# 3: an interval is cut only where a price that applies to it changes (not where a default price its
#    hypervisor's own price overrides changes)

CHUNK_INTERVALS = 1_000_000
"""A batch is priced and written in chunks of units (a day period, a day of a month) of at most this
many intervals: a session holds a chunk's slices at most, so a month runs in a day's memory."""

BATCH_ROWS = 1_500_000
"""A session writes the periods it has computed once their rows reach this many (a nightly's days
are written together, a month alone): the batch is held in DuckDB until its files are written."""


@dataclass(frozen=True)
class Pending:
    """A period computed into the batch, waiting for its files and counts (an engine's result)."""

    period: Period
    run_id: str
    manifest: Manifest  # without the figures, which are read from the staged files
    started: float
    cut_off: int


@functools.cache
def _library_versions() -> tuple[tuple[str, str], ...]:
    found = []
    for dist in ("cocoon-billing", "duckdb", "polars", "pyarrow"):
        try:
            found.append((dist, importlib.metadata.version(dist)))
        except importlib.metadata.PackageNotFoundError:
            found.append((dist, "unknown"))
    return tuple(found)


def versions() -> dict[str, str]:
    """The formats and library versions a manifest records (the libraries read once a process)."""
    return {
        "run_format": str(RUN_FORMAT),
        "output_format": str(_write.OUTPUT_FORMAT),
        **dict(_library_versions()),
    }


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
        spark: SparkOptions | None = None,
    ) -> None:
        self.store = Store(store)
        if not self.store.exists():
            raise StoreError(f"no event store at {self.store.path} (run `reconcile ingest` first)")
        self.book = book
        self.options = options
        self.progress = progress
        self.contracts: Contracts | None = (  # (checked before anything is opened)
            None if options.contracts is None else load_contracts(options.contracts, book)
        )
        self.memory_limit = memory_limit(memory)
        self.full_walk = full_walk
        self._stack = contextlib.ExitStack()
        scratch = self._stack.enter_context(scratch_dir("run"))
        self._scratch = scratch
        self.con = connect(memory_limit=self.memory_limit, scratch=scratch, ordered=False)
        self.walker = Walker(self.con, self.store, progress, scratch=scratch, full=full_walk)
        self.tenants = None if options.tenants is None else _tenants.load_tenants(options.tenants)
        self._scopes = _reuse.Scopes(self.con, self.store, self.walker.entries)
        self._scope_key: object = None  # the scope of the last reusing run
        self.committed: list[str] = []  # the periods committed so far, in order
        self._pricer: _price.Pricer | None = None  # made at the first period priced
        self._units: dict[str, _price.PriceUnit] = {}  # the pricing units of the batch being written
        self.spark: SparkRuns | None = None
        if spark is not None:  # (pyspark is imported only when the Spark engine is asked for)
            try:
                from reconcile._spark._run import SparkRuns  # noqa: PLC0415
            except ImportError as exc:
                self.close()
                raise UsageError(
                    f"the Spark engine needs the [spark] extra ({exc.name or exc} is missing):"
                    " pip install 'cocoon-billing[spark]'"
                ) from None
            self.spark = SparkRuns(self, spark)

    def close(self) -> None:
        """Release the connection, the scratch folder and a SparkSession the engine started."""
        if self.spark is not None:
            self.spark.close()
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
        if self.contracts is not None:  # (absent without a contracts file: run_ids as before)
            document["contracts"] = self.contract_digest(period)
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def contract_digest(self, period: Period) -> str | None:
        """The digest of the contract terms ``period`` reads (``none`` when no contract is in effect in
        it); None without a contracts file."""
        if self.contracts is None:
            return None
        return period_digest(self.contracts, period.start_ns, period.end_ns) or "none"

    def prepare(self, periods: Sequence[tuple[Period, int]]) -> None:
        """Walk once for every ``(period, cut_off)`` given (from before the earliest period); on the
        Spark engine, plan that walk (its tasks walk)."""
        if self.spark is not None:
            self.spark.prepare(periods)
            return
        with engine_errors("pairing", memory_limit=self.memory_limit, where=str(self.store.path)):
            self.walker.walk(min(p.start_ns for p, _ in periods), max(c for _, c in periods))

    def run(
        self, out: _write.OutputFolder, period: Period, cut_off: int, *, force: bool = True
    ) -> RunSummary:
        """Pair, price and write one period (the walk must cover it: :meth:`prepare`); with
        ``force=False`` skip it if its run_id is committed."""
        return self.run_many(out, [(period, cut_off)], force=force)[0]

    def run_many(
        self, out: _write.OutputFolder, runs: Sequence[tuple[Period, int]], *, force: bool = True
    ) -> list[RunSummary]:
        """Pair, price and write each ``(period, cut_off)`` (the walk must cover them:
        :meth:`prepare`), in order; with ``force=False`` skip those whose run_id is committed.

        The periods are computed into batches of at most :data:`BATCH_ROWS` rows (their intervals,
        anomalies aside, and the intervals they price); each batch is priced together, its files
        are written at once (``_staging``), then each period is committed atomically in turn.
        """
        if self.spark is not None:
            return self.spark.run_many(out, runs, force=force)
        summaries: list[RunSummary] = []
        batch = _staging.Batch(self.con, spool=self._scratch / "batch")
        pending: list[Pending] = []
        try:
            for number, (period, cut_off) in enumerate(runs, start=1):
                if len(runs) > 1:
                    self.progress.note(f"day {number}/{len(runs)}: {period.name}")
                run_id = self.run_id(period, cut_off)
                previous = out.manifest(period.name)
                if not force and previous is not None and previous.run_id == run_id:
                    summaries.append(summary_from_manifest(previous, str(out.path), skipped=True))
                    continue
                with engine_errors(f"run {period.name}", memory_limit=self.memory_limit, where=str(out.path)):
                    pending.append(self._compute(batch, out, period, cut_off, run_id, previous))
                priced = 0 if self._pricer is None else self._pricer.added_rows  # (to be priced)
                if batch.rows + priced >= BATCH_ROWS:
                    summaries.extend(self.write_batch(batch, out, pending))
                    pending = []
            summaries.extend(self.write_batch(batch, out, pending))
        finally:
            batch.close()
        return summaries

    def _inputs(self, period: Period, cut_off: int) -> RunInputs:
        """What, with the ingests, decides a run's rows."""
        return RunInputs(
            period=period.name,
            period_start=format_ns(period.start_ns),
            period_end=format_ns(period.end_ns),
            cut_off=format_ns(cut_off),
            ingests=tuple(self.ingests_before(cut_off)),
            price_version=self.book.price_version,
            options=RunOptions(
                double_start=self.options.double_start,
                stale_after_ns=self.options.stale_after_ns,
                tenants=None if self.options.tenants is None else str(self.options.tenants),
                tenants_sha256=self.options.tenants_sha256,
                contracts=None if self.options.contracts is None else str(self.options.contracts),
                contracts_sha256=self.contract_digest(period),
                contract_terms=contract_terms(self.contracts, period.start_ns, period.end_ns),
                commitments=commitments(self.contracts, period.start_ns, period.end_ns),
            ),
            versions=versions(),
        )

    def _reuse(
        self, out: _write.OutputFolder, period: Period, cut_off: int, previous: Manifest | None
    ) -> _reuse.Reuse | None:
        """What this run takes from the committed run of its period (``_reuse``), with ``run_scope``
        made; None: recompute everything (and always on a full walk, the reference)."""
        if self.full_walk:
            return None
        reuse = _reuse.candidate(previous, self._inputs(period, cut_off), output=out.path, period=period)
        if reuse is None:
            return None
        key = self._scopes.make(reuse, cut_off)
        if not _reuse.pays(self.con, reuse, self._scopes.size):
            return None
        self._scope_key = key
        size = self._scopes.size
        self.progress.note(
            f"run {period.name}: recomputing the {size} resource(s) of {len(reuse.new_ingests)} new"
            f" ingest(s); the rest as committed by run {reuse.previous_run_id}"
        )
        return reuse

    def _compute(  # noqa: PLR0917 (the orchestrator's one call passes them in this order)
        self,
        batch: _staging.Batch,
        out: _write.OutputFolder,
        period: Period,
        cut_off: int,
        run_id: str,
        previous: Manifest | None,
    ) -> Pending:
        """Pair and price one period and add its rows to ``batch``."""
        started = time.monotonic()
        self.progress.note(f"run {period.name}: pairing events before {format_ns(cut_off)}")
        options = AsOf(cut_off, self.options.double_start, self.options.stale_after_ns)
        reuse = self._reuse(out, period, cut_off, previous)
        roles = self.walker.as_of(
            options,
            period=(period.start_ns, period.end_ns),
            scope=None if reuse is None else (_reuse.SCOPE, self._scope_key),
            event_roles=False,
        )
        if self._pricer is None:
            self._pricer = _price.Pricer(self.con, self.book, self.tenants, self.contracts)
        self._pricer.add(period.name, _price.PeriodBounds(period.start_ns, period.end_ns, cut_off))
        batch.collect(
            period=period,
            cut_off_ns=cut_off,
            run_id=run_id,
            kept=None if reuse is None else reuse.files,
            scope=None if reuse is None else _reuse.SCOPE,
            slices=False,  # (priced with the batch's other periods: price_batch)
        )
        manifest = self.manifest(
            period,
            cut_off,
            run_id,
            previous,
            roles,
            None if reuse is None else reuse.previous_run_id,
            () if reuse is None else reuse.new_ingests,
        )
        return Pending(period, run_id, manifest, started, cut_off)

    def manifest(  # noqa: PLR0917 (the fields a manifest is made of, before its figures)
        self,
        period: Period,
        cut_off: int,
        run_id: str,
        previous: Manifest | None,
        roles: Roles,
        reused_run: str | None = None,
        new_ingests: tuple[str, ...] = (),
    ) -> Manifest:
        """A period's manifest before its figures and commit fields: inputs, roles, what it
        replaces and what it reused (the committed run whose rows it kept, if any)."""
        inputs = self._inputs(period, cut_off)
        return Manifest(
            run_id=run_id,
            inputs=inputs,
            roles=roles.to_json(),
            currency=self.book.currency,
            price_book=self.book.source,
            replaces=_versions.replaces(
                self.con,
                store=self.store,
                entries=self.walker.entries,
                previous=previous,
                run_id=run_id,
                current=inputs,
                period=period,
            ),
            reused=None if reused_run is None else Reused(reused_run, new_ingests),
        )

    def write_batch(
        self, batch: _staging.Batch, out: _write.OutputFolder, pending: list[Pending]
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
        self.progress.note(f"pricing and writing {len(pending)} period(s) to {out.path}: {names}")

        def price(units: Sequence[_staging.SliceUnit]) -> None:
            periods = list(dict.fromkeys(u.period for u in units))
            self.progress.note(f"pricing {units[0].key} .. {units[-1].key} ({len(chunks)} chunk(s))")
            with engine_errors(f"pricing {', '.join(periods)}", memory_limit=self.memory_limit):
                try:
                    pricer.price_units([self._units[u.key] for u in units], _staging.BATCH_SLICES)
                except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
                    raise self._pricing_error([p for p in pending if p.period.name in periods], exc) from exc

        try:
            with engine_errors(f"writing {names}", memory_limit=self.memory_limit, where=str(out.path)):
                staged = out.stage(batch, chunks, price)
            return self.commit_staged(out, pending, staged, sums=_staging.BATCH_SLICE_SUMS)
        finally:
            pricer.clear()
            batch.clear()

    def _pricing_error(self, pending: list[Pending], exc: duckdb.Error) -> PricingError:
        """The error of the first pending period whose pricing alone fails as the chunk did."""
        pricer = self._pricer
        assert pricer is not None
        for item in pending:
            pricer.input_of(item.period.name)
            try:
                pricer.price(_price.PeriodBounds(item.period.start_ns, item.period.end_ns, item.cut_off))
            except (duckdb.OutOfRangeException, duckdb.ConversionException) as alone:
                said = _figures.out_of_range(self.con, self.book, None, alone)
                return PricingError(f"run {item.period.name}: {said}")
        names = ", ".join(p.period.name for p in pending)
        return PricingError(f"run {names}: {_figures.out_of_range(self.con, self.book, None, exc)}")

    def chunks(self, pricer: _price.Pricer) -> list[list[_staging.SliceUnit]]:
        """The units of the periods added to ``pricer`` (each day of a longer period its own unit)
        in chunks of at most :data:`CHUNK_INTERVALS` intervals (``_staging.chunked``)."""
        units = pricer.day_units()
        self._units = {unit.key: unit for unit, _ in units}
        days = [
            (_staging.SliceUnit(u.key, u.period, _staging.days_of(u.start_ns, u.end_ns)), n) for u, n in units
        ]
        return _staging.chunked(days, CHUNK_INTERVALS)

    def commit_staged(
        self,
        out: _write.OutputFolder,
        pending: list[Pending],
        staged: list[_write.Staged],
        *,
        sums: str | None = None,
    ) -> list[RunSummary]:
        """Count each staged period (its slices from the writer's table of their sums, ``sums``;
        None: from its files) and commit it, in order; what is left staged is removed regardless."""
        summaries = []
        try:
            names = ", ".join(p.period.name for p in pending)
            keyed = None if sums is None else (sums, [s.period.name for s in staged])
            with engine_errors(f"counting {names}", memory_limit=self.memory_limit, where=str(out.path)):
                try:  # (every period's figures in one pass)
                    all_counts: list[Figures | None] = list(
                        _figures.figures_of(self.con, [s.files for s in staged], self.book, sums=keyed)
                    )
                except (duckdb.OutOfRangeException, duckdb.ConversionException):
                    # counted one by one below: the error names its period, the earlier ones commit
                    all_counts = [None] * len(staged)
            for item, files, counted in zip(pending, staged, all_counts, strict=True):
                with engine_errors(
                    f"run {item.period.name}", memory_limit=self.memory_limit, where=str(out.path)
                ):
                    one = None if sums is None else (sums, item.period.name)
                    try:
                        counts = counted or _figures.figures(self.con, files.files, self.book, sums=one)
                    except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
                        said = _figures.out_of_range(self.con, self.book, files.files["slices"], exc)
                        raise PricingError(f"run {item.period.name}: {said}") from exc
                result = out.commit(files, replace(item.manifest, figures=counts))
                self.committed.append(item.period.name)
                self.progress.note(
                    f"run {item.period.name}: done in {time.monotonic() - item.started:.1f} s"
                    f" (run_id {item.run_id})"
                )
                summaries.append(
                    summary_from_manifest(result.manifest, str(out.path), replaced=result.replaced)
                )
        finally:
            out.discard(staged)
        return summaries
