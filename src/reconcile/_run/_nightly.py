"""The nightly job: ingest, run yesterday (UTC), restate the earlier days whose inputs changed.

The plan (:func:`plan_nightly`) is a pure function of the days' committed and current run_ids, so
tests call it without a store. The days to run are then walked once, from the latest valid
checkpoint before the earliest of them, priced, written together and each replaced atomically in
turn (a restated day recomputes only the resources its new ingests touched: ``_reuse``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from reconcile import _ingest
from reconcile._analysts._sources import read_sources, silent_sources
from reconcile._bills import _close
from reconcile._core._period import Period, parse_date, parse_duration
from reconcile._core._policies import DoubleStartPolicy, Engine, SparkOptions
from reconcile._core._progress import Progress
from reconcile._core._signals import EXIT_SIGINT, EXIT_SIGTERM, Terminated
from reconcile._output import _check as _output_check
from reconcile._output import _folder as _write
from reconcile._output._manifest import Manifest
from reconcile._price import _book as _pricebook
from reconcile._price._book import price_book
from reconcile._price._tenants import load_tenants
from reconcile._run._options import Options, make_options, spark_options
from reconcile._run._results import DayRun, NightlySummary, RunSummary, summary_from_manifest
from reconcile._run._session import Session
from reconcile._store._reader import Store
from reconcile.exceptions import InterruptedRunError, UsageError

if TYPE_CHECKING:
    from reconcile._audit import AuditSummary

DayAction = Literal["new", "restated", "filled", "repaired", "unchanged"]


@dataclass(frozen=True)
class DayPlan:
    """What the nightly job does with one day, and the run_ids that decided it."""

    day: dt.date
    action: DayAction
    run_id: str  # the run_id the day has now
    previous_run_id: str | None  # the committed one

    @property
    def runs(self) -> bool:
        """Whether the day is (re)written."""
        return self.action != "unchanged"


def plan_nightly(
    *,
    yesterday: dt.date,
    lookback: int,
    committed: Mapping[dt.date, str],
    current: Mapping[dt.date, str],
    damaged: Collection[dt.date] = (),
) -> list[DayPlan]:
    """The nightly plan, in day order (pure: no store, no clock).

    ``committed``: day -> run_id of its committed run; ``current``: day -> the run_id it would have
    now (every day of the window and yesterday). Every day of ``[yesterday - lookback, yesterday)``
    from the first committed one on is restated when its run_id differs, filled when it is missing;
    days before the window's first committed run are never backfilled. Yesterday is new, restated
    or unchanged. A committed day with the same run_id whose files are ``damaged`` (not what its
    manifest records) is run again, ``repaired``: the same rows rewritten. Unchanged days of the
    window are left out of the plan.
    """
    if lookback < 1:
        raise UsageError(f"lookback must be at least 1 day, got {lookback}")
    window = [yesterday - dt.timedelta(days=i) for i in range(lookback, 0, -1)]
    earlier = [d for d in window if d in committed]
    plan = []
    if earlier:
        for day in window:
            if day < min(earlier):
                continue
            previous = committed.get(day)
            if previous == current[day]:
                if day in damaged:
                    plan.append(DayPlan(day, "repaired", current[day], previous))
                continue
            plan.append(
                DayPlan(day, "restated" if previous is not None else "filled", current[day], previous)
            )
    previous = committed.get(yesterday)
    action: DayAction = (
        "new" if previous is None else ("unchanged" if previous == current[yesterday] else "restated")
    )
    if action == "unchanged" and yesterday in damaged:
        action = "repaired"
    plan.append(DayPlan(yesterday, action, current[yesterday], previous))
    return plan


def _today(today: str | dt.date | None) -> dt.date:
    """The day the nightly takes as today: the clock's UTC date, or an earlier one given (a later one
    would bill a day that has not ended as final: refused, as ``run`` refuses such a period)."""
    clock = dt.datetime.now(dt.UTC).date()
    if today is None:
        return clock
    day = parse_date(today, what="today") if isinstance(today, str) else today
    if day > clock:
        raise UsageError(
            f"--today {day.isoformat()} is later than today ({clock.isoformat()}, UTC): its yesterday"
            f" {day - dt.timedelta(days=1)} has not ended, and the nightly bills only ended days"
        )
    return day


def nightly(
    paths: Sequence[str | Path],
    store: str | Path,
    output: str | Path,
    prices: str | Path | _pricebook.PriceBook,
    *,
    lookback: int = 35,
    today: str | dt.date | None = None,
    double_start: DoubleStartPolicy = "close",
    stale_after: str | int | dt.timedelta | None = None,
    tenants: str | Path | None = None,
    contracts: str | Path | None = None,
    max_silence: str | int | None = None,
    quiet: bool = False,
    wait: float = 0.0,
    memory_limit: str | None = None,
    full_walk: bool = False,
    lock_fd: int | None = None,
    engine: Engine = "duckdb",
    spark: SparkOptions | None = None,
    inventory: Sequence[str | Path] | None = None,
) -> NightlySummary:
    """Ingest ``paths``, run yesterday (UTC), and restate earlier days whose inputs changed.

    Every day in ``[today - lookback, yesterday)`` that has a committed run is re-run when its
    ``run_id`` would now differ (late lines before its end arrived, or the price book, tenants,
    the contract terms it reads (``contracts``, a contracts file) or options changed); a missing day
    after the first committed one in that window is filled. Yesterday
    is run unless its committed run already has the same ``run_id``. The days run are walked once.
    ``max_silence`` (``6h``, or ns): report every ledger source whose newest event lies longer than
    that before yesterday's end (``_sources``). ``lock_fd``: the output folder's lock, already taken
    by the caller (the command line takes it before it loads the engine). ``engine="spark"``: pairing
    and pricing in Spark tasks (``spark``: master, buckets, task memory). Stopped by SIGINT or
    SIGTERM, it raises :class:`InterruptedRunError` naming the days committed and those not.
    ``inventory`` (the platform's snapshot files, folders or globs): after the runs, the lookback
    window's snapshots are audited against the ledger (``reconcile._audit``) and the findings
    written to the output folder (relation ``inventory_findings``); the summary counts them.
    """
    if lookback < 1:
        raise UsageError(f"lookback must be at least 1 day, got {lookback}")
    silence_ns = None if max_silence is None else _silence(max_silence)
    progress = Progress(quiet=quiet)
    options = make_options(double_start, stale_after, tenants, contracts)
    book = price_book(prices)
    yesterday = _today(today) - dt.timedelta(days=1)
    committed_days: list[str] = []
    planned: list[DayPlan] = []
    try:
        with _write.open_output(output, wait=wait, lock_fd=lock_fd) as out:
            held = out.period_length()
            if held not in (None, "day"):
                raise UsageError(f"output folder {out.path} holds {held} runs; the nightly job writes days")
            progress.note(f"nightly: ingesting {len(paths)} path(s) into {store}")
            ingest_summary = _ingest.ingest(paths, store, quiet=quiet, wait=wait)
            manifests = out.manifests()
            with Session(
                store,
                book,
                options,
                progress,
                memory=memory_limit,
                full_walk=full_walk,
                spark=spark_options(engine, spark),
            ) as session:
                days = [yesterday - dt.timedelta(days=i) for i in range(lookback, -1, -1)]
                current = {d: session.run_id(Period.day(d), Period.day(d).end_ns) for d in days}
                committed = {d: m.run_id for d in days if (m := manifests.get(d.isoformat())) is not None}
                plan = plan_nightly(
                    yesterday=yesterday,
                    lookback=lookback,
                    committed=committed,
                    current=current,
                    damaged=_damaged(out, {d: manifests[d.isoformat()] for d in committed}, progress),
                )
                to_run = [p for p in plan if p.runs]
                committed_days, planned = session.committed, to_run
                done = iter(_run_days(session, out, to_run, progress))
                runs: list[RunSummary] = []
                day_runs: list[DayRun] = []
                for item in plan:
                    period = Period.day(item.day)
                    if item.runs:
                        summary = next(done)
                    else:
                        summary = summary_from_manifest(manifests[period.name], str(out.path), skipped=True)
                    anomalies = sum(summary.anomalies.values())
                    day_runs.append(
                        DayRun(period.name, item.action, item.run_id, item.previous_run_id, anomalies)
                    )
                    runs.append(summary)
            audited = None
            if inventory:
                audited = _audit(
                    store,
                    inventory,
                    out.path,
                    book=book,
                    options=options,
                    yesterday=yesterday,
                    lookback=lookback,
                    memory_limit=memory_limit,
                    progress=progress,
                )
    except (KeyboardInterrupt, Terminated) as exc:
        raise _interrupted(exc, committed_days, planned) from None
    closed = _close.closed_months(output)
    sources = read_sources(Store(store))
    cut_off = Period.day(yesterday).end_ns
    silent = [] if silence_ns is None else silent_sources(sources, cut_off, silence_ns)
    return NightlySummary(
        ingest_summary,
        yesterday.isoformat(),
        day_runs,
        runs,
        closed,
        sources=sources,
        silent_sources=silent,
        max_silence_ns=silence_ns,
        inventory=audited,
    )


def _damaged(
    out: _write.OutputFolder, manifests: Mapping[dt.date, Manifest], progress: Progress
) -> set[dt.date]:
    """The committed days of the window whose files are not what their manifests record (checked by
    their footers: a few per day), each named on stderr; the plan runs them again."""
    found = set()
    for day, manifest in sorted(manifests.items()):
        first = next(iter(_output_check.period_findings(out.path, manifest, full=False)), None)
        if first is not None:
            found.add(day)
            progress.warn(
                f"{first.path}: damaged (expected {first.expected}, found {first.found}):"
                f" day {day} is run again to rewrite it"
            )
    return found


def _audit(
    store: str | Path,
    inventory: Sequence[str | Path],
    output: Path,
    *,
    book: _pricebook.PriceBook,
    options: Options,
    yesterday: dt.date,
    lookback: int,
    memory_limit: str | None,
    progress: Progress,
) -> AuditSummary:
    """The lookback window's snapshots audited (its days and yesterday, cut-off yesterday's end),
    the findings written to the output folder (whose lock the nightly holds)."""
    from reconcile._audit import Window, audit_window  # noqa: PLC0415 - only when asked for
    from reconcile._audit._output import write_findings  # noqa: PLC0415

    end = Period.day(yesterday).end_ns
    window = Window(Period.day(yesterday - dt.timedelta(days=lookback)).start_ns, end, end)
    progress.note(f"nightly: auditing the inventory of the {lookback + 1} days to {yesterday}")
    summary = audit_window(
        store,
        inventory,
        book,
        window=window,
        tenants=None if options.tenants is None else load_tenants(options.tenants),
        double_start=options.double_start,
        memory_limit=memory_limit,
        progress=progress,
    )
    summary.output = str(write_findings(output, summary, dt.datetime.now(dt.UTC)))
    return summary


def _silence(value: str | int) -> int:
    ns = parse_duration(value) if isinstance(value, str) else int(value)
    if ns <= 0:
        raise UsageError(f"max_silence must be a positive duration, got {value!r}")
    return ns


def _run_days(
    session: Session, out: _write.OutputFolder, to_run: list[DayPlan], progress: Progress
) -> list[RunSummary]:
    """Walk once for the days to run, then run and commit each in turn."""
    if not to_run:
        return []
    periods = [(Period.day(p.day), Period.day(p.day).end_ns) for p in to_run]
    progress.note(f"nightly: {len(to_run)} day(s) to run, walked once")
    session.prepare(periods)
    return session.run_many(out, periods)


def _interrupted(exc: BaseException, committed: list[str], to_run: list[DayPlan]) -> InterruptedRunError:
    """The one line an interrupted nightly ends with: what is committed, what is not."""
    name, code = ("SIGTERM", EXIT_SIGTERM) if isinstance(exc, Terminated) else ("SIGINT", EXIT_SIGINT)
    left = [p.day.isoformat() for p in to_run if p.day.isoformat() not in committed]
    done = ", ".join(committed) or "none"
    return InterruptedRunError(
        f"interrupted by {name}: days committed: {done}; not committed: {', '.join(left) or 'none'}"
        + ("; the next nightly runs them" if left else ""),
        code,
    )
