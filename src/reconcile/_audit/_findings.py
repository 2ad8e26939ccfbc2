"""The rows of ``audit_findings`` as :class:`Finding` objects, with the lines each supports."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from reconcile._audit._inventory import Inventory
from reconcile._audit._propose import proposals
from reconcile._audit._summary import Finding
from reconcile._ingest._summary import display_path

_STATES = {"unbilled": "missing_start", "unlisted": "missing_stop", "drift": "shape_drift"}


def _opt(value: object) -> int | None:
    return None if value is None else int(str(value))


def _shape(cpu: object, mem: object, storage: object) -> tuple[int, int, int] | None:
    if cpu is None:
        return None
    return (int(str(cpu)), int(str(mem)), int(str(storage)))


def _second(row: dict[str, object]) -> tuple[int | None, int | None]:
    """The range of the second missed instant (Finding's doc)."""
    last = int(str(row["last_ns"]))
    if row["code"] == "missing_start":
        if row["known_end"]:
            return None, None
        return last, None if row["open_possible"] else _opt(row["hi_ns"])
    return (last, _opt(row["after_ns"])) if row["continues"] else (None, None)


def read_findings(con: duckdb.DuckDBPyConnection, inventory: Inventory, policy: str) -> list[Finding]:
    """Every finding of ``audit_findings``, in resource order, with its proposed lines."""
    cursor = con.execute("SELECT * FROM audit_findings")
    names = [d[0] for d in cursor.description]
    paths = {f.number: display_path(f.path) for f in inventory.files}
    found = []
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        second_after, second_by = _second(row)
        file_no, line = row["seen_file_no"], row["seen_line"]
        finding = Finding(
            code=str(row["code"]),
            family=str(row["family"]),
            resource_id=str(row["resource_id"]),
            tenant_id=None if row["tenant_id"] is None else str(row["tenant_id"]),
            hypervisor=None if row["hypervisor"] is None else str(row["hypervisor"]),
            interval_id=None if row["interval_id"] is None else str(row["interval_id"]),
            direction=str(row["direction"]),
            at_risk_min=Decimal(str(row["at_risk_min"])),
            at_risk_max=Decimal(str(row["at_risk_max"])),
            currency=str(row["currency"]),
            delta_low=Decimal(str(row["delta_low"])),
            delta_high=Decimal(str(row["delta_high"])),
            billed_now=Decimal(str(row["billed_now"])),
            first_seen_ns=int(str(row["first_ns"])),
            last_seen_ns=int(str(row["last_ns"])),
            snapshots=int(str(row["snapshots"])),
            seen_before_ns=_opt(row["before_ns"]),
            seen_after_ns=_opt(row["after_ns"]),
            missed_after_ns=int(str(row["lo_ns"])),
            missed_by_ns=int(str(row["first_ns"])),
            second_after_ns=second_after,
            second_by_ns=second_by,
            ledger_shape=_shape(row["i_cpu"], row["i_mem_bytes"], row["i_storage_bytes"]),
            seen_shape=_shape(row["seen_cpu"], row["seen_mem_bytes"], row["seen_storage_bytes"]),
            evidence=None if file_no is None else f"{paths.get(int(str(file_no)), '?')}:{line}",
            after_state=_STATES.get(str(row["after_kind"]), "agrees"),
        )
        found.append(finding.with_proposals(proposals(finding, policy)))
    return found
