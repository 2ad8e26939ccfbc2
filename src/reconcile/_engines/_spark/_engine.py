"""The Spark engine's driver: one Spark job computes every period a session runs.

The session keeps everything that is not per resource (the store snapshot, the ``run_id``s), and the
seam (``_engines._base``) the manifests, the figures and the atomic commit, exactly as with the
DuckDB engine. In between, Spark reads the committed events of the walk's days and the starting
checkpoint's files (instants as BIGINT nanoseconds: ``spark.sql.legacy.parquet.nanosAsLong``), hashes
``(family, resource_id)`` into buckets and runs :class:`~reconcile._engines._spark._task.BucketRun` on each
(``mapInArrow``'s iterator form: a bucket streams into the task's DuckDB). The tasks write their
rows as Parquet parts under the output folder's staging area (a shared filesystem on a cluster); the
driver's DuckDB then reads every part into the batch the writer stages, sums the buckets' role counts
(checked: one role per event), writes the checkpoint at the walk's last midnight from the buckets'
states, and commits each period as the DuckDB engine does. Spark computes nothing itself: no money,
no instants; only the shuffle and the scheduling.

What differs from the DuckDB engine, by design: every period is computed whole (no incremental
restatement: ``reused`` is null), and one checkpoint is written (in full, at the walk's last midnight
retention keeps), not the DuckDB engine's daily ones. Rows, ``run_id``s and every other manifest field
are the same (tests compare both engines).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconcile._core import _faults
from reconcile._core import _schema as schema
from reconcile._core._duckdb import engine_errors, literals
from reconcile._core._period import Period, date_to_ns, ns_to_date
from reconcile._core._policies import SparkOptions
from reconcile._engines._base import Engine, EngineContext, Pending, PeriodRun
from reconcile._engines._spark._cluster import (
    SHARED,
    Probe,
    SharedPathError,
    build_digest,
    check_executors,
    explain,
    write_marker,
)
from reconcile._engines._spark._context import BUCKET_KEYS, make_session, task_error_line
from reconcile._engines._spark._task import (
    EVENT,
    KIND,
    OPEN,
    RESULT_DDL,
    SEEN,
    BucketJob,
    BucketRun,
    PeriodJob,
    describe,
    input_columns,
    part_file,
    part_key,
)
from reconcile._output import _folder as _write
from reconcile._output import _layout, _staging
from reconcile._pair import _walk as _pair
from reconcile._pair._checkpoints import Checkpoint
from reconcile._pair._walk import Roles
from reconcile._run._results import RunSummary
from reconcile.exceptions import SparkEngineError, StoreError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

BUCKETS_PER_CORE = 4
EVENTS_PER_BUCKET = 500_000
"""The default bucket count keeps about this many events (or fewer) in a task: a task's memory is
bounded by its bucket, not by the run (docs/SCALING.md)."""

last_job: dict[str, int] = {}
"""Figures of the last Spark job in this process (buckets, input events, the largest worker peak
RSS): for progress and benchmarks."""


class SparkEngine(Engine):
    """The Spark engine of one session (module doc)."""

    def __init__(self, context: EngineContext, options: SparkOptions) -> None:
        super().__init__(context)
        self.options = options
        self.spark: SparkSession | None = None
        self.walk_from_ns: int | None = None
        self.start_roles = Roles()
        self.checkpoint: tuple[Path, bool] | None = None  # the starting state's folder, has a delta
        self._start: Checkpoint | None = None  # the checkpoint the walk starts from
        self._batch: _staging.Batch | None = None

    # --- the plan -------------------------------------------------------------------------------

    def prepare(self, periods: Sequence[tuple[Period, int]]) -> None:
        """Choose where the walk starts: the latest valid checkpoint at or before the earliest period."""
        walker = self.context.walker
        if any(entry.flat for entry in walker.entries):
            raise StoreError(
                f"{self.context.store.path}: a format-1 store (one events file per ingest) cannot be read"
                " by day; the next `reconcile ingest` upgrades it, then run the Spark engine"
            )
        from_ns = min(p.start_ns for p, _ in periods)
        cp = None if walker.full else walker.starting_checkpoint(from_ns)
        self._start = cp
        self.walk_from_ns = None if cp is None else cp.at_ns
        self.start_roles = Roles() if cp is None else cp.roles

    def _checkpoint_day(self, to_ns: int) -> dt.date | None:
        """The one midnight this walk writes a checkpoint at (module doc): the last one retention
        keeps, or None."""
        days = self.context.walker.midnights_to_keep(self.walk_from_ns, to_ns)
        return days[-1] if days else None

    # --- running ----------------------------------------------------------------------------------

    def run_many(self, out: _write.OutputFolder, runs: Sequence[PeriodRun]) -> list[RunSummary]:
        """Every run computed by one Spark job, then committed in order."""
        if not runs:
            return []
        context = self.context
        # (absolute: an executor's working folder is its own, not the driver's)
        parts = out.staging("spark")[1].resolve()
        roots = [(token, root.resolve()) for token, root in (out.staging(r.run_id[:16]) for r in runs)]
        staged: list[_write.Staged] = []
        try:
            pending, written = self._compute(parts, runs, roots)
            for run, (token, _) in zip(runs, roots, strict=True):
                with engine_errors(
                    f"run {run.period.name}", memory_limit=context.memory_limit, where=str(out.path)
                ):
                    staged.append(out.adopt(context.con, run.period, run.run_id, token))
                _check_rows(staged[-1], written.get(run.period.name, {}))
            return self.commit_staged(out, pending, staged)
        finally:
            out.discard(staged)
            for _, root in roots:
                shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(parts, ignore_errors=True)

    def _compute(
        self, parts: Path, todo: Sequence[PeriodRun], roots: Sequence[tuple[str, Path]]
    ) -> tuple[list[Pending], dict[str, dict[str, int]]]:
        """Run the job; the manifests of its periods (their files are in ``roots``) and the rows the
        tasks wrote of each period's tables, the checkpoint written."""
        context = self.context
        walk_to_ns = max(run.cut_off for run in todo)
        day = self._checkpoint_day(walk_to_ns)
        job = BucketJob(
            walk_from_ns=self.walk_from_ns,
            walk_to_ns=walk_to_ns,
            periods=tuple(
                PeriodJob(r.period.name, r.period.start_ns, r.period.end_ns, r.cut_off, r.run_id, str(root))
                for r, (_, root) in zip(todo, roots, strict=True)
            ),
            checkpoints=() if day is None else (day.isoformat(),),
            checkpoint_ns=() if day is None else (date_to_ns(day),),
            double_start=context.options.double_start,
            stale_after_ns=context.options.stale_after_ns,
            book=context.book,
            tenants=context.tenants,
            contracts=context.contracts,
            parts=str(parts),
            memory_limit=self.options.task_memory,
            store=str(context.store.path.resolve()),
            fault=os.environ.get(_faults.ENV),
        )
        started = time.monotonic()
        self.checkpoint = None
        if self._start is not None:  # (copied where every executor reads: beside the parts)
            folder, _ = context.walker.checkpoints.copy_files(self._start, parts)
            self.checkpoint = (folder, self._start.seen_base is not None)
        context.progress.note(f"spark: {describe(job)}")
        results = self._run_job(job)
        context.progress.note(f"spark: {len(results)} bucket result(s) in {time.monotonic() - started:.1f} s")
        dropped = _drop_failed_attempts(parts, roots, results)
        if dropped:
            context.progress.note(f"spark: removed {dropped} file(s) of task attempts that did not finish")
        self._fill_empty(job)
        by_name: dict[str, Roles] = {}
        written: dict[str, dict[str, int]] = {}
        for row in results:
            key = f"{row['what']}:{row['name']}"
            by_name[key] = by_name.get(key, Roles()) + Roles(
                int(row["events"]), int(row["start"]), int(row["stop"]), int(row["unmatched_stop"])
            )
            if row["what"] == "period":
                counts = written.setdefault(str(row["name"]), {})
                for table in _staging.TABLES:
                    counts[table] = counts.get(table, 0) + int(row[table])
        pending: list[Pending] = []
        for run in todo:
            roles = self.start_roles + by_name.get(f"period:{run.period.name}", Roles())
            roles.checked(f"period {run.period.name}, summed across buckets")
            manifest = self.manifest(run, roles)
            pending.append(Pending(run.period, run.run_id, manifest, started, run.cut_off))
        if day is not None:
            roles = self.start_roles + by_name.get(f"checkpoint:{day.isoformat()}", Roles())
            self._save_checkpoint(parts, day, roles)
        return pending, written

    def _session(self) -> SparkSession:
        if self.spark is None:
            try:
                self.spark = make_session(self.options.master)
            except ValueError as exc:
                raise SparkEngineError(f"spark: {exc}") from None
            except Exception as exc:
                if not type(exc).__module__.startswith(("pyspark", "py4j")):
                    raise
                master = self.options.master or "spark-submit's, else local[*]"
                raise SparkEngineError(
                    f"spark: cannot start Spark (master {master}): {task_error_line(exc)}; the Spark"
                    " engine needs Java 17 (java on PATH or JAVA_HOME)"
                ) from None
        return self.spark

    def _store_files(self, job: BucketJob) -> list[Path]:
        """The store's events files of the walk's days, checked against their records in full."""
        walker = self.context.walker
        first_day = None if job.walk_from_ns is None else ns_to_date(job.walk_from_ns)
        files = walker.store.event_files(first_day, ns_to_date(job.walk_to_ns - 1), entries=walker.entries)
        walker.store.check_files(files, full=True, entries=walker.entries)  # (by hash: ``_integrity``)
        return files

    def _inputs(self, spark: SparkSession, job: BucketJob, files: Sequence[str]) -> DataFrame:
        """The walk's events (``files``), and the starting state's open starts and seen resources, one
        frame."""
        from pyspark.sql import functions as f  # noqa: PLC0415

        columns = input_columns()

        def full(frame: DataFrame, kind: str) -> DataFrame:
            have = set(frame.columns)
            return frame.select(
                *[
                    f.col(c) if c in have else f.lit(None).cast(t).alias(c)
                    for c, t in columns.items()
                    if c != KIND
                ],
                f.lit(kind).alias(KIND),
            )

        frames = []
        if files:
            frames.append(full(spark.read.parquet(*files).select(*schema.EVENTS), EVENT))
        if self.checkpoint is not None:
            folder, has_delta = self.checkpoint
            state = spark.read.parquet(str(folder / "open.parquet")).select(*_pair.STATE_OPEN_COLUMNS)
            frames.append(full(state, OPEN))
            seen_files = [str(folder / "seen.parquet")] + (
                [str(folder / "seen_delta.parquet")] if has_delta else []
            )
            frames.append(full(spark.read.parquet(*seen_files).select(*_pair.STATE_SEEN_COLUMNS), SEEN))
        if not frames:
            return spark.createDataFrame([], ", ".join(f"{c} {t}" for c, t in columns.items()))
        frame = frames[0]
        for other in frames[1:]:
            frame = frame.unionByName(other)
        return frame

    def _window_events(self, job: BucketJob) -> int:
        """About how many events the walk reads (``store.json``'s counts of its days' files)."""
        walker = self.context.walker
        first = None if job.walk_from_ns is None else ns_to_date(job.walk_from_ns).isoformat()
        last = ns_to_date(job.walk_to_ns - 1).isoformat()
        total = 0
        for entry in walker.entries:
            days = [d for d in entry.days if (first is None or d >= first) and d <= last]
            if entry.events and entry.days:
                total += entry.events * len(days) // len(entry.days)
        return total

    def _run_job(self, job: BucketJob) -> list[dict[str, int | str]]:
        spark = self._session()
        events = self._window_events(job)
        files = [str(p.resolve()) for p in self._store_files(job)]
        assert job.store is not None
        write_marker(Path(job.parts))
        probe = Probe(job.store, tuple(dict.fromkeys(files[:1] + files[-1:])), job.parts, build_digest())
        try:
            executors = check_executors(spark, probe)
            buckets = self.options.buckets or max(
                BUCKETS_PER_CORE * spark.sparkContext.defaultParallelism, -(-events // EVENTS_PER_BUCKET)
            )
            self.context.progress.note(
                f"spark: {executors} executor(s) see the store and the output; about {events:,} events"
                f" in {buckets} buckets"
            )
            frame = self._inputs(spark, job, files).repartition(buckets, *BUCKET_KEYS)
            rows = frame.mapInArrow(BucketRun(job), RESULT_DDL).collect()
        except SharedPathError as exc:
            raise SparkEngineError(f"spark: {exc}") from None
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                line = explain(task_error_line(exc), job.store, files)
                raise SparkEngineError(f"spark: a task failed: {line}") from None
            raise
        found = [row.asDict() for row in rows]
        peak = max((int(r["worker_peak_kb"]) for r in found), default=0)
        last_job.clear()
        last_job.update({"buckets": buckets, "window_events": events, "worker_peak_kb": peak})
        self.context.progress.note(f"spark: the largest task's worker peaked at {peak / 1024:.0f} MB")
        return found

    def _fill_empty(self, job: BucketJob) -> None:
        """Give every day of every period a slices file, and each period its intervals and anomalies
        files: a day no bucket has a slice of gets an empty file with the exact columns (a re-run
        replaces every day of its period; readers always find the schema); a job whose buckets all
        were empty (no event, no state) is run here on an empty bucket first."""
        roots = [Path(p.root) for p in job.periods]
        if not any(roots[0].glob("empty-slices-*.parquet")):  # (every task that ran writes them)
            BucketRun(job).run_empty(bucket=99_999)
        for period, root in zip(job.periods, roots, strict=True):
            template = min(root.glob("empty-slices-*.parquet"))
            for folder in _layout.period_folders(root, period.name)["slices"]:
                if not any(folder.glob(_layout.PARQUET)):
                    folder.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(template, folder / "part-empty.parquet")
            for old in root.glob("empty-slices-*.parquet"):
                old.unlink()

    def _save_checkpoint(self, parts: Path, day: dt.date, roles: Roles) -> None:
        """The checkpoint at ``day`` from every bucket's state there, written by the store's own code."""
        roles.checked(f"checkpoint {day}, summed across buckets")
        for relation, table in ((_pair.NEXT_OPEN, "checkpoint_open"), (_pair.NEXT_SEEN, "checkpoint_seen")):
            files = sorted(part_file(parts, table, day.isoformat(), 0).parent.glob("part-*.parquet"))
            self.context.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {relation} AS"
                " SELECT * FROM read_parquet(?) ORDER BY family, resource_id",
                [literals(files)],
            )
        self.context.walker.save_state(day, roles)

    def close(self) -> None:
        """Let go of the SparkSession. It stays for the process (Spark's ``getOrCreate``: the next run
        in a notebook or a test reuses it; the JVM ends with the process)."""
        self.spark = None


def _drop_failed_attempts(
    parts: Path, roots: Sequence[tuple[str, Path]], results: Sequence[dict[str, int | str]]
) -> int:
    """Remove the files of task attempts whose result Spark did not return (an attempt that died with
    its executor; Spark ran the bucket again): only each bucket's finished attempt's files are adopted.
    How many were removed."""
    finished = {(int(r["bucket"]), int(r["attempt"])) for r in results}
    dropped = 0
    for folder in (parts, *(root for _, root in roots)):
        for file in folder.rglob("part-*.parquet"):
            key = part_key(file)
            if key is not None and key not in finished:
                file.unlink()
                dropped += 1
    return dropped


def _check_rows(staged: _write.Staged, written: dict[str, int]) -> None:
    """The staged files of a period hold every row its tasks wrote: an executor that wrote into a folder
    of its own (not the driver's) would otherwise lose its rows."""
    for table in _staging.TABLES:
        found, wrote = staged.rows.get(table, 0), written.get(table, 0)
        if found != wrote:
            raise SparkEngineError(
                f"spark: period {staged.period.name}: the tasks wrote {wrote:,} {table} rows, the driver"
                f" finds {found:,} in {staged.root}: {SHARED}"
            )
