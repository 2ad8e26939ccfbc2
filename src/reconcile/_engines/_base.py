"""The engine seam: what a session gives an engine, what it asks of one, and the pipeline's order.

A session (``_session``) keeps what is not per resource: the store snapshot, the ``run_id`` and the
inputs of each period, which periods to skip. It hands an engine an :class:`EngineContext` (the
connection, the store and its walker, the price book, tenants, contracts, options) and the
:class:`PeriodRun`\\ s to compute, and the engine computes, stages and commits them
(:meth:`Engine.run_many`). An engine never imports the session.

The pipeline's order is written once, :meth:`Stages.run`: walk, then per period the as-of read,
pricing and the staged rows, then what an engine does after its last period. The DuckDB engine
(``_duckdb``) runs it in the session's connection over a batch of periods; the Spark engine
(``_spark``) runs it in each task's own DuckDB over a bucket of resources. What both do after their
files are staged is here too, once: the manifest of a period (:meth:`Engine.manifest`), its figures
and its atomic commit (:meth:`Engine.commit_staged`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Generic, TypeVar

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._core._duckdb import engine_errors
from reconcile._core._period import Period
from reconcile._core._progress import Progress
from reconcile._output import _bill_versions as _versions
from reconcile._output import _totals as _figures
from reconcile._output._folder import OutputFolder, Staged
from reconcile._output._manifest import Figures, Manifest, Reused, RunInputs
from reconcile._pair._walk import Roles
from reconcile._pair._walker import Walker
from reconcile._price._book import PriceBook
from reconcile._price._contracts import Contracts
from reconcile._run._options import Options
from reconcile._run._results import RunSummary, summary_from_manifest
from reconcile._store._reader import Store
from reconcile.exceptions import PricingError

P = TypeVar("P")


@dataclass(frozen=True)
class EngineContext:
    """What an engine is given by its session: one DuckDB connection over a store snapshot (its
    walker), the price book, tenants, contracts and options, and where to spill."""

    con: duckdb.DuckDBPyConnection
    store: Store
    walker: Walker
    book: PriceBook
    tenants: pa.Table | None
    contracts: Contracts | None
    options: Options
    progress: Progress
    memory_limit: str
    scratch: Path  # the session's private scratch folder
    full_walk: bool  # the reference: walk everything, no checkpoint, no reuse
    committed: list[str] = field(default_factory=list)  # the periods committed so far, in order


@dataclass(frozen=True)
class PeriodRun:
    """One period an engine computes: its cut-off, ``run_id`` and inputs (as its manifest states them),
    and the manifest committed before it (None: the first run of the period)."""

    period: Period
    cut_off: int
    run_id: str
    inputs: RunInputs
    previous: Manifest | None


@dataclass(frozen=True)
class Pending:
    """A period computed and staged, waiting for its figures and commit (an engine's result)."""

    period: Period
    run_id: str
    manifest: Manifest  # without the figures, which are read from the staged files
    started: float
    cut_off: int


class Stages(ABC, Generic[P]):
    """The pipeline's stages as one engine runs them on one DuckDB connection, and their order
    (:meth:`run`), written once for every engine. ``P`` is how the engine names a period."""

    @abstractmethod
    def walk(self, from_ns: int | None, to_ns: int) -> None:
        """Pairing's walk over the events from ``from_ns`` (None: the start of history) to ``to_ns``."""

    @abstractmethod
    def as_of(self, period: P) -> Roles:
        """Pairing's read of the walk as of the period's cut-off: ``intervals``, ``anomalies``; the
        roles of the events it read."""

    @abstractmethod
    def price(self, period: P) -> None:
        """Pricing of the period's intervals (the engine may defer it to a batch of periods)."""

    @abstractmethod
    def stage(self, period: P, roles: Roles) -> None:
        """The period's rows written as the output's files, not yet committed."""

    def finish(self) -> None:
        """What the engine does after its last period (a batch's pricing and files, a checkpoint)."""

    def run(self, periods: Iterable[P], *, walk: tuple[int | None, int] | None = None) -> None:
        """The pipeline: the walk (unless ``walk`` is None: already walked), then for each period in
        order its as-of read, pricing and staged rows, then :meth:`finish`."""
        if walk is not None:
            self.walk(*walk)
        for period in periods:
            roles = self.as_of(period)
            self.price(period)
            self.stage(period, roles)
        self.finish()


class Engine(ABC):
    """What a session asks of an engine: plan the walk, compute and commit periods, let go."""

    def __init__(self, context: EngineContext) -> None:
        self.context = context

    @abstractmethod
    def prepare(self, periods: Sequence[tuple[Period, int]]) -> None:
        """Make ready to compute every ``(period, cut_off)`` given (the walk, or its plan)."""

    @abstractmethod
    def run_many(self, out: OutputFolder, runs: Sequence[PeriodRun]) -> list[RunSummary]:
        """Compute, stage and commit each run (:meth:`prepare` covered them); their summaries in order."""

    def close(self) -> None:  # noqa: B027 - (an engine holding nothing of its own lets go of nothing)
        """Let go of what the engine started."""

    def manifest(self, run: PeriodRun, roles: Roles, reused: Reused | None = None) -> Manifest:
        """A period's manifest before its figures and commit fields: inputs, roles, what it replaces
        and what it reused (the committed run whose rows it kept, if any)."""
        context = self.context
        return Manifest(
            run_id=run.run_id,
            inputs=run.inputs,
            roles=roles.to_json(),
            currency=context.book.currency,
            price_book=context.book.source,
            replaces=_versions.replaces(
                context.con,
                store=context.store,
                entries=context.walker.entries,
                previous=run.previous,
                run_id=run.run_id,
                current=run.inputs,
                period=run.period,
            ),
            reused=reused,
        )

    def commit_staged(
        self,
        out: OutputFolder,
        pending: Sequence[Pending],
        staged: Sequence[Staged],
        *,
        sums: str | None = None,
    ) -> list[RunSummary]:
        """Count each staged period (its slices from the writer's table of their sums, ``sums``;
        None: from its files) and commit it, in order; what is left staged is removed regardless."""
        context = self.context
        con, book, limit = context.con, context.book, context.memory_limit
        summaries = []
        try:
            names = ", ".join(p.period.name for p in pending)
            keyed = None if sums is None else (sums, [s.period.name for s in staged])
            with engine_errors(f"counting {names}", memory_limit=limit, where=str(out.path)):
                try:  # (every period's figures in one pass)
                    all_counts: list[Figures | None] = list(
                        _figures.figures_of(con, [s.files for s in staged], book, sums=keyed)
                    )
                except (duckdb.OutOfRangeException, duckdb.ConversionException):
                    # counted one by one below: the error names its period, the earlier ones commit
                    all_counts = [None] * len(staged)
            for item, files, counted in zip(pending, staged, all_counts, strict=True):
                with engine_errors(f"run {item.period.name}", memory_limit=limit, where=str(out.path)):
                    one = None if sums is None else (sums, item.period.name)
                    try:
                        counts = counted or _figures.figures(con, files.files, book, sums=one)
                    except (duckdb.OutOfRangeException, duckdb.ConversionException) as exc:
                        said = _figures.out_of_range(con, book, files.files["slices"], exc)
                        raise PricingError(f"run {item.period.name}: {said}") from exc
                try:
                    result = out.commit(files, replace(item.manifest, figures=counts))
                finally:  # (a signal deferred to the commit's end is raised with the period whole)
                    if item.period.name in out.committed:
                        context.committed.append(item.period.name)
                context.progress.note(
                    f"run {item.period.name}: done in {time.monotonic() - item.started:.1f} s"
                    f" (run_id {item.run_id})"
                )
                summaries.append(
                    summary_from_manifest(result.manifest, str(out.path), replaced=result.replaced)
                )
        finally:
            out.discard(list(staged))
        return summaries
