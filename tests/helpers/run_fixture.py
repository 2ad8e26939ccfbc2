"""Build small event stores for the run tests directly through the store's writer (no ledger parsing)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from helpers.pairing_ledger import EVENT_SCHEMA
from reconcile._core._jsonvalue import JsonObject
from reconcile._core._period import parse_instant
from reconcile._output._folder import read_output
from reconcile._output._manifest import Manifest, RunInputs, RunOptions
from reconcile._store._reader import Store
from reconcile._store._writer import StoreWriter, copy_events_by_day, open_writer

if TYPE_CHECKING:
    import duckdb

    from reconcile._core._period import Period
    from reconcile._output._folder import OutputFolder, WriteResult

DATA = Path(__file__).resolve().parents[1] / "data" / "runs"
PRICES = DATA / "prices.toml"
GIB = 2**30

_REJECTS = pa.schema(
    [
        ("code", pa.string()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("raw", pa.string()),
        ("ingest_id", pa.string()),
    ]
)


def _event_id(row: dict[str, Any]) -> str:
    parts = []
    for name in ("kind", "vm_id", "snapshot_id", "source_snapshot_id", "reason", "hypervisor"):
        value = row[name]
        parts.append("0:" if value is None else f"{len(value)}:{value}")
    parts += [str(row[n]) for n in ("cpu", "mem_bytes", "storage_bytes", "emitted_ns")]
    return hashlib.md5("|".join(parts).encode(), usedforsecurity=False).hexdigest()


def ev(
    kind: str,
    resource: str,
    at: str,
    *,
    cpu: int = 0,
    mem: int = 0,
    storage: int = 0,
    reason: str | None = None,
    hypervisor: str | None = "firecracker",
) -> dict[str, Any]:
    """One event row (kind like 'vm.compute.start'; `at` RFC 3339)."""
    family, _, endpoint = kind.rpartition(".")
    is_vm = family.startswith("vm.")
    ns = parse_instant(at)
    row: dict[str, Any] = {
        "family": family,
        "endpoint": endpoint,
        "resource_id": resource,
        "kind": kind,
        "vm_id": resource if is_vm else None,
        "snapshot_id": None if is_vm else resource,
        "source_snapshot_id": None,
        "reason": reason,
        "hypervisor": hypervisor,
        "cpu": cpu,
        "mem_bytes": mem,
        "storage_bytes": storage,
        "emitted_ns": ns,
    }
    row["event_id"] = _event_id(row)
    return row


def add_ingest(store: Path, events: list[dict[str, Any]], source: str = "ledger.jsonl") -> str:
    """Commit one ingest holding `events` (numbered as lines of `source`); its ingest id."""
    with open_writer(Store(store)) as writer:
        rows = []
        for line, row in enumerate(events, start=1):
            full = dict(row)
            full["emitted_at"] = pa.scalar(row["emitted_ns"], pa.timestamp("ns", tz="UTC"))
            full["source_file"] = f"/ledgers/{source}"
            full["source_line"] = line
            full["ingest_id"] = writer.ingest_id
            rows.append(full)
        table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
        stage_events(writer, table)
        pq.write_table(_REJECTS.empty_table(), writer.rejects_tmp, compression="zstd")
        record = {"ingest_id": writer.ingest_id, "inputs": [], "lines": len(rows), "events": len(rows)}
        writer.commit(record, {})
        return writer.ingest_id


def make_store(store: Path, *ingests: list[dict[str, Any]]) -> Path:
    """A store with one committed ingest per list of events."""
    for number, events in enumerate(ingests):
        add_ingest(store, events, source=f"ledger-{number}.jsonl")
    return store


def exact(table: pa.Table) -> pa.Table:
    """Timestamps as their int64 nanoseconds (Python datetimes would drop the last three digits)."""
    columns = [c.cast(pa.int64()) if pa.types.is_timestamp(c.type) else c for c in table.columns]
    return pa.table(columns, names=table.column_names)


HISTORY_KEYS = ("version", "replaces", "committed_at", "files")
# (files: the records of the committed files, whose bytes are not what a run computes: the same rows
# may be encoded in other row groups)


def without_history(manifests: Mapping[str, Manifest]) -> dict[str, JsonObject]:
    """Manifests as written, without the bill's history (its version, the run it replaced, when it
    was committed) and its files' records: what came before a run, or how its rows were encoded,
    not what it computed."""
    return {k: {f: v for f, v in m.to_json().items() if f not in HISTORY_KEYS} for k, m in manifests.items()}


def committed_rows(out: Path) -> dict[str, object]:
    """Every committed row of an output folder (read back through read_output, so after recovery),
    sorted, and its manifests without the bill's history, for equality checks."""
    tables = read_output(out)
    found: dict[str, object] = {
        name: sorted(getattr(tables, name).collect().rows(), key=repr)
        for name in ("slices", "intervals", "anomalies")
    }
    found["manifests"] = json.dumps(without_history(tables.manifests), sort_keys=True)
    return found


def bare_manifest(run_id: str, period: str) -> Manifest:
    """A manifest with a run_id and a period and nothing else (for the writer's own tests)."""
    options = RunOptions("close", None, None, None)
    inputs = RunInputs(period, "", "", "", (), "", options, {})
    return Manifest(run_id=run_id, inputs=inputs, roles={}, currency="", price_book="")


def output_rows(out: Path) -> dict[str, Any]:
    """Every row of an output folder, by table, sorted; and its manifests without library versions,
    ``reused`` (which committed run a restatement kept rows from: the path, not the result) and the
    bill's history (``version``, ``replaces``, ``committed_at``: what came before, not this result)
    and the files' records (how the rows were encoded)."""
    tables = {}
    for table in ("slices", "intervals", "anomalies"):
        files = sorted(out.glob(f"{table}/*/*.parquet"))
        rows = [tuple(r.values()) for f in files for r in exact(pq.read_table(f)).to_pylist()]
        tables[table] = sorted(rows, key=repr)
    manifests = {}
    for file in sorted(out.glob("manifests/*/manifest.json")):
        doc = json.loads(file.read_text())
        for key in ("versions", "reused", "version", "replaces", "committed_at", "files"):
            doc.pop(key)
        manifests[file.parent.name] = doc
    return {"tables": tables, "manifests": manifests}


def line(
    kind: str, rid: str, at: str, *, cpu: int = 0, mem: int = 0, storage: int = 0, reason: str = ""
) -> str:
    """One ledger line in the wire format's field order."""
    entry: dict[str, object] = {"kind": kind}
    entry["vm_id" if kind.startswith("vm.") else "snapshot_id"] = rid
    if reason:
        entry["reason"] = reason
    entry["hypervisor"] = "firecracker"
    shape = {k: v for k, v in (("cpu", cpu), ("mem_bytes", mem), ("storage_bytes", storage)) if v}
    entry["shape"] = shape
    entry["emitted_at"] = at
    return json.dumps(entry, separators=(",", ":")) + "\n"


def write(path: Path, *lines: str) -> Path:
    """Write a ledger file (creating folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))
    return path


def stage_events(writer: StoreWriter, table: pa.Table) -> None:
    """Stage an Arrow table of events (the store's columns) where `writer` commits them from, by day."""
    from reconcile._core._duckdb import plain_connect  # noqa: PLC0415

    with plain_connect() as con:
        con.register("staged_events", table)
        con.execute(copy_events_by_day("SELECT * FROM staged_events"), [str(writer.events_stage)])


def ingest_records(store: Path) -> list[JsonObject]:
    """A store's committed ingest records (its ``ingests/<id>.json``), oldest first."""
    opened = Store(store)
    return [json.loads(opened.record_path(i).read_text(encoding="utf-8")) for i in opened.ingest_ids()]


def write_period(
    folder: OutputFolder,
    con: duckdb.DuckDBPyConnection,
    *,
    period: Period,
    cut_off_ns: int,
    run_id: str,
    manifest: Manifest,
) -> WriteResult:
    """Write and commit one period from the relations ``slices``, ``intervals`` and ``anomalies`` in
    ``con``, as a session does for a batch of one (stage, commit, discard what is left)."""
    from reconcile._output import _staging  # noqa: PLC0415

    with contextlib.closing(_staging.Batch(con)) as batch:
        batch.collect(period=period, cut_off_ns=cut_off_ns, run_id=run_id)
        staged = folder.stage(batch)
        try:
            return folder.commit(staged[0], manifest)
        finally:
            folder.discard(staged)
