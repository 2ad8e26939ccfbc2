"""The platform's inventory of a simulated fleet: what really ran at each instant, as the snapshot
files a platform exports (docs/SPEC.md, "Inventory snapshots"): one file per instant, every
resource active then with its priced shape.

The truth comes from the simulation (:class:`~reconcile.testing._simulate.Truth`), not from the
ledger: a lost line still changed what ran, a silent resize still changed the VM's shape, and a VM
that predates metering was running before its first line. A resource is active at an instant when
its last change at or before it (stops before starts at one instant) is a start or a resize.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile.testing._instants import format_instant
from reconcile.testing._simulate import Truth

FORMATS = ("csv", "jsonl", "parquet")
"""The file formats :func:`write_inventory` writes (and ``reconcile audit`` reads)."""

COLUMNS = ("observed_at", "family", "resource_id", "cpu", "mem_bytes", "storage_bytes", "hypervisor")

_ORDER = {"stop": 0, "resize": 1, "start": 2}  # at one instant: a stop, then a resize, then a start


@dataclass(frozen=True)
class Row:
    """One resource listed in one snapshot."""

    observed_ns: int
    family: str
    resource_id: str
    cpu: int
    mem_bytes: int
    storage_bytes: int
    hypervisor: str


def snapshot_rows(changes: Iterable[Truth], instants: Sequence[int]) -> list[Row]:
    """Every resource active at each of ``instants`` (sorted Unix ns) with its shape then, in
    instant order, then by family and resource."""
    by_resource: dict[tuple[str, str], list[Truth]] = {}
    for change in changes:
        by_resource.setdefault((change.family, change.resource_id), []).append(change)
    rows: list[Row] = []
    for (family, resource), history in by_resource.items():
        history.sort(key=lambda c: (c.t_ns, _ORDER[c.endpoint]))
        active: Truth | None = None  # the change that set the current state (None: inactive)
        position = 0
        for at in instants:
            while position < len(history) and history[position].t_ns <= at:
                change = history[position]
                active = None if change.endpoint == "stop" else change
                position += 1
            if active is not None:
                cpu, mem_bytes, storage_bytes = active.shape
                rows.append(Row(at, family, resource, cpu, mem_bytes, storage_bytes, active.hypervisor))
    rows.sort(key=lambda r: (r.observed_ns, r.family, r.resource_id))
    return rows


def write_inventory(
    folder: Path, rows: Sequence[Row], instants: Sequence[int], fmt: str = "csv"
) -> list[Path]:
    """One file per instant under ``folder`` (``snapshot-YYYYMMDDTHHMMSSZ.<fmt>``; an instant
    where nothing ran still gets its file: an empty snapshot says nothing ran). Returns the files."""
    if fmt not in FORMATS:
        raise ValueError(f"inventory format {fmt!r}: expected one of {', '.join(FORMATS)}")
    folder.mkdir(parents=True, exist_ok=True)
    by_instant: dict[int, list[Row]] = {at: [] for at in instants}
    for row in rows:
        by_instant[row.observed_ns].append(row)
    written = []
    for at, part in by_instant.items():
        stamp = format_instant(at, 0)
        name = "snapshot-" + stamp[:19].replace("-", "").replace(":", "") + "Z." + fmt
        path = folder / name
        records = [
            (stamp, r.family, r.resource_id, r.cpu, r.mem_bytes, r.storage_bytes, r.hypervisor) for r in part
        ]
        if fmt == "csv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(COLUMNS)
                writer.writerows(records)
        elif fmt == "jsonl":
            with path.open("w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(dict(zip(COLUMNS, record, strict=True))) + "\n")
        else:
            columns = list(zip(*records, strict=True)) if records else [()] * len(COLUMNS)
            types = [pa.string(), pa.string(), pa.string(), pa.int64(), pa.int64(), pa.int64(), pa.string()]
            table = pa.table(
                [pa.array(list(values), type=t) for values, t in zip(columns, types, strict=True)],
                names=list(COLUMNS),
            )
            pq.write_table(table, path, compression="zstd")
        written.append(path)
    return written
