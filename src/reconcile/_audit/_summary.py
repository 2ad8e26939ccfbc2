"""What an audit reports: its findings (:class:`Finding`) and the summary (:class:`AuditSummary`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from reconcile._audit._inventory import BadRow
from reconcile._core._jsonvalue import JsonObject, JsonValue
from reconcile._core._period import format_ns
from reconcile._ingest._summary import Finding as FileFinding

CODES = ("missing_start", "missing_stop", "shape_drift")
"""The kinds of finding (docs/SPEC.md, "Inventory audit")."""


def _at(ns: int | None) -> str | None:
    return None if ns is None else format_ns(ns)


@dataclass(frozen=True)
class Proposed:
    """One ledger line a finding supports (``--propose``): its kind, instant, shape and reason."""

    kind: str
    resource_id: str
    at_ns: int
    cpu: int
    mem_bytes: int
    storage_bytes: int
    hypervisor: str | None
    reason: str

    def describe(self) -> str:
        """``vm.compute.stop at 2026-11-20T07:00:00.000001Z``."""
        return f"{self.kind} at {format_ns(self.at_ns)}"


@dataclass(frozen=True)
class Finding:
    """One resource whose snapshots disagree with the ledger over a run of instants.

    ``first_seen_ns``/``last_seen_ns``: the first and last snapshot instant showing it;
    ``seen_before_ns``/``seen_after_ns``: the last and first snapshot instants around them that
    agreed with the ledger (the evidence that bounds it). The instant the ledger missed lies in
    ``(missed_after_ns, missed_by_ns]``; a second one, when the finding implies it (the stop of a
    resource no interval bills, a lost restart, a shape changed back), in ``(second_after_ns,
    second_by_ns]`` (``second_by_ns`` None: maybe not before the cut-off). ``delta_low`` <=
    Delta <= ``delta_high``, Delta the change to the window's bill had the ledger recorded what
    happened; ``at_risk_min`` <= |Delta| <= ``at_risk_max`` in ``direction``.
    """

    code: str
    family: str
    resource_id: str
    tenant_id: str | None
    hypervisor: str | None
    interval_id: str | None
    direction: str
    at_risk_min: Decimal
    at_risk_max: Decimal
    currency: str
    delta_low: Decimal
    delta_high: Decimal
    billed_now: Decimal
    first_seen_ns: int
    last_seen_ns: int
    snapshots: int
    seen_before_ns: int | None
    seen_after_ns: int | None
    missed_after_ns: int
    missed_by_ns: int
    second_after_ns: int | None
    second_by_ns: int | None
    ledger_shape: tuple[int, int, int] | None
    seen_shape: tuple[int, int, int] | None
    evidence: str | None  # file:line of the first snapshot row showing it (None: not listed)
    after_state: str = "agrees"  # what seen_after showed: "agrees" (with the ledger) or another code
    proposed: tuple[Proposed, ...] = ()

    def with_proposals(self, lines: tuple[Proposed, ...]) -> Finding:
        """This finding with the ledger lines it supports."""
        return replace(self, proposed=lines)

    def line(self) -> str:
        """One line for people."""
        money = f"{self.currency} {self.at_risk_min} .. {self.at_risk_max} {self.direction}"
        seen = format_ns(self.first_seen_ns)
        if self.last_seen_ns != self.first_seen_ns:
            seen += f" .. {format_ns(self.last_seen_ns)}"
        return (
            f"{self.code}: {self.family} {self.resource_id} (tenant {self.tenant_id or 'none'}):"
            f" {money}; {self.snapshots} snapshot(s) {seen}"
        )

    def to_json(self) -> JsonObject:
        """A JSON object: money as decimal strings, instants as RFC 3339."""
        return {
            "code": self.code,
            "family": self.family,
            "resource_id": self.resource_id,
            "tenant_id": self.tenant_id,
            "hypervisor": self.hypervisor,
            "interval_id": self.interval_id,
            "direction": self.direction,
            "at_risk_min": str(self.at_risk_min),
            "at_risk_max": str(self.at_risk_max),
            "currency": self.currency,
            "delta_low": str(self.delta_low),
            "delta_high": str(self.delta_high),
            "billed_now": str(self.billed_now),
            "first_seen_at": format_ns(self.first_seen_ns),
            "last_seen_at": format_ns(self.last_seen_ns),
            "snapshots": self.snapshots,
            "seen_before_at": _at(self.seen_before_ns),
            "seen_after_at": _at(self.seen_after_ns),
            "missed_after_at": format_ns(self.missed_after_ns),
            "missed_by_at": format_ns(self.missed_by_ns),
            "second_after_at": _at(self.second_after_ns),
            "second_by_at": _at(self.second_by_ns),
            "ledger_shape": None if self.ledger_shape is None else list[JsonValue](self.ledger_shape),
            "seen_shape": None if self.seen_shape is None else list[JsonValue](self.seen_shape),
            "evidence": self.evidence,
            "after_state": self.after_state,
            "proposed": [p.describe() for p in self.proposed],
        }


@dataclass
class AuditSummary:
    """An audit: its window, what it read, what it compared, its findings and their money."""

    store: str
    window: dict[str, str]
    currency: str
    files: int
    instants: int  # snapshot instants compared (in the window)
    outside: int  # snapshot instants read but outside the window (not compared)
    incomplete: int  # instants where a bad row left the snapshot incomplete
    rows: int  # snapshot rows compared
    events: int  # ledger events before the cut-off
    findings: list[Finding] = field(default_factory=list)
    skipped: list[FileFinding] = field(default_factory=list)  # snapshot files not read
    bad_rows: list[BadRow] = field(default_factory=list)  # a sample
    bad_counts: dict[str, int] = field(default_factory=dict)
    repeated: int = 0  # resources listed more than once alike in one snapshot
    conflicts: int = 0  # resources listed twice with different shapes in one snapshot
    output: str | None = None  # where inventory_findings was written
    proposal: str | None = None  # the --propose file
    proposed_lines: int = 0
    policy: str = "customer"

    def counts(self) -> dict[str, int]:
        """Findings per code (every code, zero included)."""
        return {code: sum(1 for f in self.findings if f.code == code) for code in CODES}

    def at_risk(self) -> dict[str, dict[str, str]]:
        """Per direction: the sums of ``at_risk_min`` and ``at_risk_max`` (exact)."""
        out: dict[str, dict[str, str]] = {}
        for direction in ("unbilled", "overbilled"):
            chosen = [f for f in self.findings if f.direction == direction]
            out[direction] = {
                "min": str(sum((f.at_risk_min for f in chosen), Decimal(0))),
                "max": str(sum((f.at_risk_max for f in chosen), Decimal(0))),
            }
        return out

    def to_json(self) -> JsonObject:
        """A JSON object (``--json``): ``{"findings": [...], ...}``."""
        at_risk: dict[str, JsonValue] = {k: dict[str, JsonValue](v) for k, v in self.at_risk().items()}
        return {
            "findings": [f.to_json() for f in self.findings],
            "counts": dict[str, JsonValue](self.counts()),
            "at_risk": at_risk,
            "currency": self.currency,
            "store": self.store,
            "window": dict[str, JsonValue](self.window),
            "snapshot_files": self.files,
            "instants": self.instants,
            "instants_outside_window": self.outside,
            "incomplete_instants": self.incomplete,
            "rows": self.rows,
            "events": self.events,
            "repeated": self.repeated,
            "conflicts": self.conflicts,
            "skipped_files": [f.to_json() for f in self.skipped],
            "bad_rows": sum(self.bad_counts.values()),
            "bad_row_codes": dict[str, JsonValue](self.bad_counts),
            "bad_row_sample": [b.to_json() for b in self.bad_rows],
            "output": self.output,
            "proposal": self.proposal,
            "proposed_lines": self.proposed_lines,
            "policy": self.policy,
        }

    def lines(self) -> list[str]:
        """The human summary."""
        w = self.window
        out = [
            f"audit of {self.store}: window [{w['start']}, {w['end']}) cut-off {w['cut_off']}",
            f"snapshots: {self.files} file(s), {self.instants} instant(s) compared"
            f" ({self.outside} outside the window), {self.rows} row(s); ledger: {self.events} event(s)"
            " before the cut-off",
        ]
        if self.bad_counts:
            codes = ", ".join(f"{c} {n}" for c, n in sorted(self.bad_counts.items()))
            out.append(f"bad rows: {codes} ({self.incomplete} snapshot(s) incomplete)")
            out += [f"  {b}" for b in self.bad_rows]
        out += [f"skipped: {f.path}: {f.detail}" for f in self.skipped]
        if self.conflicts:
            out.append(f"conflicting rows: {self.conflicts} resource(s) listed twice with different shapes")
        counts = ", ".join(f"{c} {n}" for c, n in self.counts().items())
        out.append(f"findings: {len(self.findings)} ({counts})")
        for direction, sums in self.at_risk().items():
            out.append(f"  {direction}: {self.currency} {sums['min']} .. {sums['max']}")
        out += [f"  {f.line()}" for f in self.findings[:50]]
        if len(self.findings) > 50:
            out.append(f"  ... {len(self.findings) - 50} more (--json, or the inventory_findings relation)")
        if self.output:
            out.append(f"findings written to {self.output} (relation inventory_findings)")
        if self.proposal:
            out.append(
                f"proposed corrections: {self.proposed_lines} line(s) in {self.proposal}"
                f" ({self.policy} policy);"
                " review, then ingest it like any ledger file"
            )
        return out
