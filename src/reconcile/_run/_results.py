"""What runs report: one period's summary, and the nightly job's and the demo's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import TYPE_CHECKING

from reconcile._core._jsonvalue import JsonObject, JsonValue
from reconcile._output._manifest import Cause, Manifest, Replaces

if TYPE_CHECKING:
    from reconcile._analysts._sources import Source
    from reconcile._audit import AuditSummary
    from reconcile._ingest._summary import IngestSummary


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
    version: int | None = None  # the period's bill version (1 for the first run)
    replaces: Replaces | None = None  # the run replaced: run_id, version, totals, cause, why

    def to_json(self) -> JsonObject:
        """The summary as a JSON-ready dict (decimals as strings)."""
        document: JsonObject = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "replaces"}
        document["replaces"] = None if self.replaces is None else self.replaces.to_json()
        return document


def summary_from_manifest(
    manifest: Manifest, output: str, *, replaced: bool = False, skipped: bool = False
) -> RunSummary:
    """The summary of a committed period, read back from its manifest."""
    inputs, figures = manifest.inputs, manifest.figures
    return RunSummary(
        run_id=manifest.run_id,
        period=inputs.period,
        period_start=inputs.period_start,
        period_end=inputs.period_end,
        cut_off=inputs.cut_off,
        output=output,
        roles=dict(manifest.roles),
        intervals=dict(figures.intervals),
        anomalies=dict(figures.anomalies),
        totals=dict(figures.totals),
        totals_exact=dict(figures.totals_exact),
        totals_by_family={f: dict(t) for f, t in figures.totals_by_family.items()},
        quantities=dict(figures.quantities),
        unattributed_slices=figures.unattributed_slices,
        rows=dict(manifest.rows or {}),
        replaced=replaced,
        skipped=skipped,
        version=manifest.version,
        replaces=manifest.replaces,
    )


FAIL_ON = ("anomalies", "rejects", "findings", "silent-sources", "inventory")
"""What ``nightly --fail-on`` can fail the night on (after the output is committed)."""


@dataclass(frozen=True)
class DayRun:
    """One day the nightly job looked at: what it did and why."""

    period: str
    action: (
        str  # "new", "restated", "filled" (a missing day), "repaired" (damaged files rewritten), "unchanged"
    )
    run_id: str
    previous_run_id: str | None
    anomalies: int


@dataclass(frozen=True)
class Restatement:
    """A committed period replaced by a run with other inputs: its totals before and after, and why."""

    period: str
    from_run_id: str
    to_run_id: str
    before: dict[str, str]  # currency -> invoice total of the replaced run
    after: dict[str, str]
    difference: dict[str, str]  # after - before, per currency (every currency of either side)
    why: str
    cause: Cause
    correction_month: str | None = None  # the period's month is closed: where the difference is billed

    @classmethod
    def of(cls, run: RunSummary, closed: set[str] | None = None) -> Restatement | None:
        """The restatement a run made (None: it replaced nothing, or the same run)."""
        if not run.replaces or run.skipped:
            return None
        before = dict(run.replaces.totals)
        currencies = sorted(set(before) | set(run.totals))
        difference = {
            c: str(Decimal(run.totals.get(c, "0")) - Decimal(before.get(c, "0"))) for c in currencies
        }
        month = run.period[:7]
        correction = first_open_month(month, closed) if closed and month in closed else None
        return cls(
            period=run.period,
            from_run_id=run.replaces.run_id,
            to_run_id=run.run_id,
            before=before,
            after=dict(run.totals),
            difference=difference,
            why=run.replaces.why,
            cause=run.replaces.cause,
            correction_month=correction,
        )

    def to_json(self) -> JsonObject:
        """A JSON-ready dict."""
        return {
            "period": self.period,
            "from_run_id": self.from_run_id,
            "to_run_id": self.to_run_id,
            "before": dict(self.before),
            "after": dict(self.after),
            "difference": dict(self.difference),
            "why": self.why,
            "cause": self.cause.to_json(),
            "correction_month": self.correction_month,
        }

    def line(self) -> str:
        """One line: the totals before and after, the difference, the cause."""
        money = ", ".join(
            f"{c} {self.before.get(c, '0')} -> {self.after.get(c, '0')} ({_signed(self.difference[c])})"
            for c in self.difference
        )
        text = f"restated {self.period}: {money or 'no charges'}; {self.why}"
        if self.correction_month is not None:
            text += (
                f"; month {self.period[:7]} is closed: the difference is billed as a correction"
                f" in {self.correction_month}"
            )
        return text


def _signed(amount: str) -> str:
    return amount if amount.startswith("-") else "+" + amount


def first_open_month(month: str, closed: set[str]) -> str:
    """The first month after ``month`` (``YYYY-MM``) that is not in ``closed``."""
    year, number = int(month[:4]), int(month[5:7])
    while True:
        year, number = (year + 1, 1) if number == 12 else (year, number + 1)
        candidate = f"{year:04d}-{number:02d}"
        if candidate not in closed:
            return candidate


@dataclass(frozen=True)
class NightlySummary:
    """The nightly job: what it ingested, the day it ran, the days it restated."""

    ingest: IngestSummary
    yesterday: str
    days: list[DayRun]
    runs: list[RunSummary]
    closed_months: list[str] = field(default_factory=list)  # months closed in the output folder
    sources: list[Source] = field(default_factory=list)  # every ledger source's freshness
    silent_sources: list[Source] = field(default_factory=list)  # those silent past max_silence_ns
    max_silence_ns: int | None = None
    inventory: AuditSummary | None = None  # the inventory audit of the lookback window (--inventory)

    @property
    def rejected(self) -> int:
        """Lines this night's ingest rejected."""
        return self.ingest.rejected

    @property
    def findings(self) -> int:
        """Files this night's ingest skipped or read only in part."""
        return len(self.ingest.findings)

    def failures(self, fail_on: Sequence[str]) -> list[str]:
        """What fails the night among ``fail_on`` (FAIL_ON names), each as one line."""
        found = []
        if "anomalies" in fail_on and self.anomalies:
            found.append(f"anomalies: {self.anomalies} in yesterday's or a restated day's output")
        if "rejects" in fail_on and self.rejected:
            found.append(f"rejects: {self.rejected} line(s) rejected by this night's ingest")
        if "findings" in fail_on and self.findings:
            found.append(f"findings: {self.findings} file(s) skipped or read in part")
        if "silent-sources" in fail_on and self.silent_sources:
            names = ", ".join(s.source for s in self.silent_sources[:3])
            more = len(self.silent_sources) - 3
            found.append(
                f"silent-sources: {len(self.silent_sources)} ({names}{f', {more} more' if more > 0 else ''})"
            )
        if "inventory" in fail_on and self.inventory is not None:
            found += inventory_failures(self.inventory)
        return found

    @property
    def restatements(self) -> list[Restatement]:
        """Every committed period this night replaced, with its totals before and after and why."""
        closed = set(self.closed_months)
        found = [Restatement.of(run, closed) for run in self.runs]
        return [r for r in found if r is not None]

    @property
    def restated(self) -> list[str]:
        """The earlier days whose output was replaced because their inputs changed."""
        return [d.period for d in self.days if d.action == "restated"]

    @property
    def anomalies(self) -> int:
        """Anomalies in yesterday's and every restated day's output."""
        return sum(d.anomalies for d in self.days if d.action != "unchanged" or d.period == self.yesterday)

    def to_json(self) -> JsonObject:
        """A JSON-ready dict."""
        return {
            "ingest": self.ingest.to_json(),
            "yesterday": self.yesterday,
            "days": [asdict(d) for d in self.days],
            "restated": list[JsonValue](self.restated),
            "restatements": [r.to_json() for r in self.restatements],
            "closed_months": list[JsonValue](self.closed_months),
            "rejected": self.rejected,
            "findings": self.findings,
            "max_silence_ns": self.max_silence_ns,
            "sources": [src.to_json() for src in self.sources],
            "silent_sources": [src.to_json() for src in self.silent_sources],
            "anomalies": self.anomalies,
            "runs": [r.to_json() for r in self.runs],
            "inventory": None if self.inventory is None else self.inventory.to_json(),
        }


def inventory_failures(audit: AuditSummary) -> list[str]:
    """What fails a night with ``--fail-on inventory``: findings, snapshot files not read, bad
    rows, and a window with no snapshot at all (an export that stopped), one line each."""
    found = []
    if audit.findings:
        counts = ", ".join(f"{code} {n}" for code, n in audit.counts().items() if n)
        money = "; ".join(
            f"{direction} {audit.currency} {sums['min']} .. {sums['max']}"
            for direction, sums in audit.at_risk().items()
            if sums["max"] != "0"
        )
        found.append(f"inventory: {len(audit.findings)} finding(s) ({counts}); at risk: {money}")
    if audit.instants == 0:
        found.append(
            f"inventory: no snapshot in the window [{audit.window['start']}, {audit.window['cut_off']})"
        )
    if audit.skipped:
        found.append(f"inventory: {len(audit.skipped)} snapshot file(s) not read (e.g. {audit.skipped[0]})")
    if audit.bad_counts:
        found.append(
            f"inventory: {sum(audit.bad_counts.values())} bad snapshot row(s) (e.g. {audit.bad_rows[0]})"
        )
    return found


@dataclass(frozen=True)
class DemoSummary:
    """The demo: where everything landed and the runs it made."""

    root: str
    ledgers: str
    store: str
    output: str
    ingest: IngestSummary
    runs: list[RunSummary]
    inventory: AuditSummary | None = None  # the audit of the fleet's inventory snapshots

    def to_json(self) -> JsonObject:
        """A JSON-ready dict."""
        return {
            "inventory": None if self.inventory is None else self.inventory.to_json(),
            "root": self.root,
            "ledgers": self.ledgers,
            "store": self.store,
            "output": self.output,
            "ingest": self.ingest.to_json(),
            "runs": [r.to_json() for r in self.runs],
        }
