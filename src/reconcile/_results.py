"""What runs report: one period's summary, and the nightly job's and the demo's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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


def summary_from_manifest(manifest: dict[str, Any], output: str, **changes: Any) -> RunSummary:  # noqa: ANN401
    """The summary of a committed period, read back from its manifest."""
    values: dict[str, Any] = {k: manifest.get(k) for k in _SUMMARY_FIELDS}
    return RunSummary(output=output, **values, **changes)


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
