"""The nightly job: ingest, run yesterday (UTC), restate the earlier days whose inputs changed.

The plan (:func:`plan_nightly`) is a pure function of the days' committed and current run_ids, so
tests call it without a store. The days to run are then walked once, from the latest valid
checkpoint before the earliest of them, priced, written together and each replaced atomically in
turn (a restated day recomputes only the resources its new ingests touched: ``_reuse``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconcile import _close, _ingest, _pricebook, _write
from reconcile._period import Period, parse_date
from reconcile._progress import Progress
from reconcile._results import DayRun, NightlySummary, RunSummary, summary_from_manifest
from reconcile._session import Session, make_options, price_book
from reconcile.exceptions import UsageError

DayAction = Literal["new", "restated", "filled", "unchanged"]


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
) -> list[DayPlan]:
    """The nightly plan, in day order (pure: no store, no clock).

    ``committed``: day -> run_id of its committed run; ``current``: day -> the run_id it would have
    now (every day of the window and yesterday). Every day of ``[yesterday - lookback, yesterday)``
    from the first committed one on is restated when its run_id differs, filled when it is missing;
    days before the window's first committed run are never backfilled. Yesterday is new, restated
    or unchanged. Unchanged days of the window are left out of the plan.
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
                continue
            plan.append(
                DayPlan(day, "restated" if previous is not None else "filled", current[day], previous)
            )
    previous = committed.get(yesterday)
    action: DayAction = (
        "new" if previous is None else ("unchanged" if previous == current[yesterday] else "restated")
    )
    plan.append(DayPlan(yesterday, action, current[yesterday], previous))
    return plan


def _today(today: str | dt.date | None) -> dt.date:
    if today is None:
        return dt.datetime.now(dt.UTC).date()
    if isinstance(today, str):
        return parse_date(today, what="today")
    return today


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
    memory_limit: str | None = None,
    full_walk: bool = False,
) -> NightlySummary:
    """Ingest ``paths``, run yesterday (UTC), and restate earlier days whose inputs changed.

    Every day in ``[today - lookback, yesterday)`` that has a committed run is re-run when its
    ``run_id`` would now differ (late lines before its end arrived, or the price book, tenants or
    options changed); a missing day after the first committed one in that window is filled. Yesterday
    is run unless its committed run already has the same ``run_id``. The days run are walked once.
    """
    if lookback < 1:
        raise UsageError(f"lookback must be at least 1 day, got {lookback}")
    progress = Progress(quiet=quiet)
    options = make_options(double_start, stale_after, tenants)
    book = price_book(prices)
    yesterday = _today(today) - dt.timedelta(days=1)
    with _write.open_output(output, wait=wait) as out:
        held = out.period_length()
        if held not in (None, "day"):
            raise UsageError(f"output folder {out.path} holds {held} runs; the nightly job writes days")
        progress.note(f"nightly: ingesting {len(paths)} path(s) into {store}")
        ingest_summary = _ingest.ingest(paths, store, quiet=quiet, wait=wait).to_json()
        manifests = out.manifests()
        with Session(store, book, options, progress, memory=memory_limit, full_walk=full_walk) as session:
            days = [yesterday - dt.timedelta(days=i) for i in range(lookback, -1, -1)]
            current = {d: session.run_id(Period.day(d), Period.day(d).end_ns) for d in days}
            committed = {d: str(m["run_id"]) for d in days if (m := manifests.get(d.isoformat())) is not None}
            plan = plan_nightly(yesterday=yesterday, lookback=lookback, committed=committed, current=current)
            to_run = [p for p in plan if p.runs]
            if to_run:
                progress.note(f"nightly: {len(to_run)} day(s) to run, walked once")
                session.prepare([(Period.day(p.day), Period.day(p.day).end_ns) for p in to_run])
            done = iter(
                session.run_many(out, [(Period.day(p.day), Period.day(p.day).end_ns) for p in to_run])
            )
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
    closed = _close.closed_months(output)
    return NightlySummary(ingest_summary, yesterday.isoformat(), day_runs, runs, closed)
