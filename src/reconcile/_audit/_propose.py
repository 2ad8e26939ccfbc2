"""From findings to corrections a person reviews: the ledger lines the evidence supports (``--propose``).

A finding's missed instants lie in ranges (:class:`~reconcile._audit._summary.Finding`); the
policy picks an instant in each (docs/OPERATIONS.md, "Proposed corrections"):

- ``customer`` (the default), in the customer's favour: a start as late as the evidence allows
  (the first snapshot that showed the resource running), a stop as early (just after the last
  snapshot that showed it running, so that the interval still covers that snapshot), a change of
  shape to a dearer one as late and to a cheaper one as early;
- ``midpoint``: halfway through each range (the expected instant, when nothing else is known).

Lines: a missing start gets a start (and, when the snapshots show it stopped again before any
ledger event does, a stop); a missing stop a stop (and, when the resource was seen running again
inside the same interval, a start); a shape drift a stop at the old shape and a start at the new
one at the same instant (as the producer writes a restore), and the same back when the snapshots
show the shape changed back. The reason of every line says it came from the audit
(``audit-missing-start``, ``audit-missing-stop``, ``audit-shape-drift``). Instants have
microseconds, as the Python recorder writes them (``recorder.Entry``, whose encoder writes the
file): a stop is placed 1 us after the last instant seen running.

The file is a ledger file: an operator reads it and ingests it like any other (``reconcile ingest``
or the nightly's paths), so the change goes through restatement and bill versions, with the file
as its lineage. Nothing is changed without that step.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

from reconcile._audit._summary import Finding, Proposed
from reconcile._core._files import private_files
from reconcile.exceptions import OutputError, UsageError
from recorder import Entry, Shape

POLICIES = ("customer", "midpoint")
_US = 1_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _floor(ns: int) -> int:
    return ns - ns % _US


def _ceil(ns: int) -> int:
    return _floor(ns + _US - 1)


def _pick(after: int, by: int, *, late: bool, policy: str) -> int:
    """An instant in ``(after, by]`` with microseconds: the latest (``late``) or the earliest one
    for the customer policy, the middle one for midpoint."""
    if policy == "midpoint":
        return max(_ceil(after + 1), _floor(after + (by - after + 1) // 2))
    return _floor(by) if late else _ceil(after + 1)


def _line(finding: Finding, endpoint: str, at: int, shape: tuple[int, int, int], reason: str) -> Proposed:
    return Proposed(
        f"{finding.family}.{endpoint}", finding.resource_id, at, *shape, finding.hypervisor, reason
    )


def proposals(finding: Finding, policy: str) -> tuple[Proposed, ...]:
    """The lines ``finding`` supports under ``policy`` (module doc)."""
    if policy not in POLICIES:
        raise UsageError(f"proposal policy {policy!r}: expected one of {', '.join(POLICIES)}")
    lo, first, second = finding.missed_after_ns, finding.missed_by_ns, finding.second_after_ns
    seen, ledger, by = finding.seen_shape, finding.ledger_shape, finding.second_by_ns
    if finding.code == "missing_start" and seen is not None:
        reason = "audit-missing-start"
        lines = [_line(finding, "start", _pick(lo, first, late=True, policy=policy), seen, reason)]
        if second is not None and by is not None and finding.after_state != "missing_start":
            # seen stopped before any ledger event (not: seen again with another shape, a resize:
            # the next finding's start ends this one)
            lines.append(_line(finding, "stop", _pick(second, by, late=False, policy=policy), seen, reason))
        return tuple(lines)
    if finding.code == "missing_stop" and ledger is not None:
        reason = "audit-missing-stop"
        lines = [_line(finding, "stop", _pick(lo, first, late=False, policy=policy), ledger, reason)]
        if second is not None and by is not None:  # seen running again inside the interval
            lines.append(_line(finding, "start", _pick(second, by, late=True, policy=policy), ledger, reason))
        return tuple(lines)
    if finding.code == "shape_drift" and seen is not None and ledger is not None:
        reason = "audit-shape-drift"
        dearer = finding.delta_low + finding.delta_high >= 0  # the new shape costs more
        at = _pick(lo, first, late=dearer, policy=policy)
        lines = [_line(finding, "stop", at, ledger, reason), _line(finding, "start", at, seen, reason)]
        if finding.after_state == "agrees" and second is not None and by is not None:  # changed back
            back = _pick(second, by, late=not dearer, policy=policy)
            lines += [
                _line(finding, "stop", back, seen, reason),
                _line(finding, "start", back, ledger, reason),
            ]
        return tuple(lines)
    return ()


def _entry(line: Proposed) -> Entry:
    snapshot = line.kind.startswith("snap.")
    seconds, ns = divmod(line.at_ns, 1_000_000_000)
    return Entry(
        kind=line.kind,
        vm_id="" if snapshot else line.resource_id,
        snapshot_id=line.resource_id if snapshot else "",
        reason=line.reason,
        hypervisor=line.hypervisor or "",
        shape=Shape(line.cpu, line.mem_bytes, line.storage_bytes),
        emitted_at=_EPOCH + dt.timedelta(seconds=seconds, microseconds=ns // _US),
    )


def write_proposal(path: str | os.PathLike[str], lines: Sequence[Proposed]) -> int:
    """Write ``lines`` as a ledger file at ``path`` (a new file: an existing one is refused, each
    proposal is its own ledger file), in time order, stops before starts; returns the lines."""
    dest = Path(path)
    if dest.exists():
        raise UsageError(
            f"--propose {dest}: the file exists; each proposal is a new ledger file: pick another name"
        )
    if not dest.parent.is_dir():
        raise UsageError(f"--propose {dest}: the folder {dest.parent} does not exist")
    ordered = sorted(lines, key=lambda p: (p.at_ns, p.kind.endswith(".start"), p.kind, p.resource_id))
    data = b"".join(_entry(line).to_line() for line in ordered)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        with private_files():
            tmp.write_bytes(data)
            os.replace(tmp, dest)
    except OSError as exc:
        raise OutputError(f"--propose {dest}: cannot write: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return len(ordered)
