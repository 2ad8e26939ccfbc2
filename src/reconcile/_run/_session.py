"""A run session: one DuckDB connection over a store snapshot, the price book, tenants and options.

A session decides what each period's run is (its ``run_id`` and inputs, whether it is committed
already) and hands the periods to an engine through the seam (``_engines``): the in-process DuckDB
engine, or the Spark engine. The engine walks the store (``_walker``: from the latest valid
checkpoint), reads the walk as of each period's cut-off, prices the period's slices and stages its
files; the seam counts and commits each period atomically in the output folder.

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
from collections.abc import Sequence
from pathlib import Path

from reconcile._core._duckdb import connect, memory_limit
from reconcile._core._period import Period, format_ns
from reconcile._core._policies import SparkOptions
from reconcile._core._progress import Progress
from reconcile._core._scratch import scratch_dir
from reconcile._engines import EngineContext, PeriodRun, make_engine
from reconcile._output import _folder as _write
from reconcile._output._manifest import RunInputs, RunOptions
from reconcile._pair._walker import Walker
from reconcile._price import _book as _pricebook
from reconcile._price import _tenants
from reconcile._price._contracts import Contracts, commitments, contract_terms, load_contracts, period_digest
from reconcile._run._options import Options
from reconcile._run._results import RunSummary, summary_from_manifest
from reconcile._store._reader import Store
from reconcile.exceptions import StoreError

RUN_FORMAT = 3  # bump when the same inputs would give different rows: it is part of run_id
# 2: the extra of an interval ending on a midnight takes the tenant and price of its last instant
# 3: an interval is cut only where a price that applies to it changes (not where a default price its
#    hypervisor's own price overrides changes)


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
    """One connection over a store snapshot, a price book and options (module doc), and the engine
    that computes its periods (``spark``: the Spark engine; None: the in-process one).

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
        self.con = connect(memory_limit=self.memory_limit, scratch=scratch, ordered=False)
        self.walker = Walker(self.con, self.store, progress, scratch=scratch, full=full_walk)
        self.tenants = None if options.tenants is None else _tenants.load_tenants(options.tenants)
        self.committed: list[str] = []  # the periods committed so far, in order
        context = EngineContext(
            con=self.con,
            store=self.store,
            walker=self.walker,
            book=book,
            tenants=self.tenants,
            contracts=self.contracts,
            options=options,
            progress=progress,
            memory_limit=self.memory_limit,
            scratch=scratch,
            full_walk=full_walk,
            committed=self.committed,
        )
        try:
            self.engine = make_engine(context, spark)
        except BaseException:
            self.con.close()
            self._stack.close()
            raise

    def close(self) -> None:
        """Release the engine (a SparkSession it started), the connection and the scratch folder."""
        self.engine.close()
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
        """Make the engine ready for every ``(period, cut_off)`` given: the in-process engine walks
        once (from before the earliest period) before its next run; the Spark engine plans that walk
        (its tasks walk)."""
        self.engine.prepare(periods)

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
        :meth:`prepare`) on the session's engine, each committed atomically in turn; with
        ``force=False`` skip those whose run_id is committed. Their summaries, in order."""
        done: dict[str, RunSummary] = {}
        todo: list[PeriodRun] = []
        for period, cut_off in runs:
            run_id = self.run_id(period, cut_off)
            previous = out.manifest(period.name)
            if not force and previous is not None and previous.run_id == run_id:
                done[period.name] = summary_from_manifest(previous, str(out.path), skipped=True)
                continue
            todo.append(PeriodRun(period, cut_off, run_id, self.inputs(period, cut_off), previous))
        for summary in self.engine.run_many(out, todo):
            done[summary.period] = summary
        return [done[p.name] for p, _ in runs]

    def inputs(self, period: Period, cut_off: int) -> RunInputs:
        """What, with the ingests, decides a run's rows (its manifest's ``inputs``)."""
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
