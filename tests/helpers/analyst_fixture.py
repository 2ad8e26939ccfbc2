"""A small output folder and store in the exact SPEC section 5 layout and types, for the analyst tests.

The rows are the readable CSV files under ``tests/data/analysts/``; this module turns them into zstd
Parquet with hive partitions (``slices/usage_date=...``, ``intervals/period=...``, ``anomalies/period=...``),
TIMESTAMPTZ_NS instants and DECIMAL(38, 12) money and quantities, plus a ``manifest.json`` per period and a
store holding one committed ingest's rejects and one crashed ingest's (never listed in ``store.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reconcile._core import _schema as schema
from reconcile._core._duckdb import plain_connect

DATA = Path(__file__).resolve().parents[1] / "data" / "analysts"

_RUN = {"run_id": "VARCHAR", "period": "VARCHAR"}


def _types(csv: str, columns: dict[str, str]) -> dict[str, str]:
    """The DuckDB types of ``csv``'s columns, in its header's order, from the engine's contract."""
    header = (DATA / csv).read_text(encoding="utf-8").splitlines()[0].split(",")
    return {name: (columns | _RUN)[name] for name in header}


# period -> (run_id, period_start, period_end): the manifests of the three day runs
RUNS = {
    "2026-10-31": ("r1031", "2026-10-31T00:00:00Z", "2026-11-01T00:00:00Z"),
    "2026-11-01": ("r1101", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
    "2026-11-02": ("r1102", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"),
}


def _copy(con: duckdb.DuckDBPyConnection, csv: str, types: dict[str, str], dest: Path, part: str) -> None:
    """Read ``csv`` with ``types`` and write it as zstd Parquet partitioned by ``part`` under ``dest``;
    each file holds its partition column too, as the engine's output files do."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    rel = con.read_csv(str(DATA / csv), header=True, columns=types)
    con.register("fixture_rows", rel)
    con.execute(
        f"COPY fixture_rows TO ? (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({part}),"
        " WRITE_PARTITION_COLUMNS true)",
        [str(dest)],
    )
    con.unregister("fixture_rows")


def write_output(root: Path) -> Path:
    """Write the fixture output folder under ``root`` and return its path."""
    out = root / "output"
    con = plain_connect()
    try:
        _copy(con, "slices.csv", _types("slices.csv", schema.SLICES), out / "slices", "usage_date")
        _copy(con, "intervals.csv", _types("intervals.csv", schema.INTERVALS), out / "intervals", "period")
        _copy(con, "anomalies.csv", _types("anomalies.csv", schema.ANOMALIES), out / "anomalies", "period")
    finally:
        con.close()
    for period, (run_id, start, end) in RUNS.items():
        folder = out / "manifests" / f"period={period}"
        folder.mkdir(parents=True)
        manifest = {
            "run_id": run_id,
            "period_start": start,
            "period_end": end,
            "cut_off": end,
            "price_version": "pv1",
        }
        if period == "2026-11-01":  # restated once: version 2, version 1 kept under history/
            manifest |= {"version": 2, "replaces": {"run_id": "r1101-old", "why": "late ingest ing1"}}
            kept = out / "history" / f"period={period}" / "version=1"
            kept.mkdir(parents=True)
            old = {"run_id": "r1101-old", "version": 1, "totals": {"USD": "0.01"}, "cut_off": end}
            (kept / "manifest.json").write_text(json.dumps(old), encoding="utf-8")
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    _close_october(out)
    _inventory_findings(out)
    return out


def _inventory_findings(out: Path) -> None:
    """One finding of an inventory audit, as ``reconcile audit --output`` writes it: vm-2 (in the
    fixture's slices) listed by the snapshots on Nov 1 while no interval billed it."""
    import datetime as dt  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    from reconcile._audit import AuditSummary, Finding  # noqa: PLC0415
    from reconcile._audit._output import write_findings  # noqa: PLC0415

    hour = 3_600_000_000_000
    first = 1_793_491_200_000_000_000 + 6 * hour  # 2026-11-01T06:00:00Z
    finding = Finding(
        "missing_start", "vm.compute", "vm-2", "t1", None, None, "unbilled", Decimal("0.6"), Decimal("0.9"),
        "USD", Decimal("0.6"), Decimal("0.9"), Decimal(0), first, first + 2 * hour, 3, first - hour, None,
        first - hour, first, first + 2 * hour, None, None, (2, 4 << 30, 0), "snapshots.csv:4",
    )  # fmt: skip
    window = {
        "start": "2026-10-31T00:00:00Z",
        "end": "2026-11-03T00:00:00Z",
        "cut_off": "2026-11-03T00:00:00Z",
    }
    summary = AuditSummary("store", window, "USD", 1, 3, 0, 0, 9, 12, [finding])
    write_findings(out, summary, dt.datetime(2026, 11, 3, 6, tzinfo=dt.UTC))


def _close_october(out: Path) -> None:
    """October closed as ``reconcile close`` would, with its lines as they are (so no correction)."""
    from reconcile._analysts._views import connect_output  # noqa: PLC0415 (the views need the folder above)

    folder = out / "closed" / "month=2026-10"
    folder.mkdir(parents=True)
    con = connect_output(out)
    try:
        con.sql("SELECT * FROM invoice_lines WHERE invoice_month = DATE '2026-10-01'").write_parquet(
            str(folder / "issued_lines.parquet")
        )
    finally:
        con.close()
    issued = folder / "slices" / "usage_date=2026-10-31"
    issued.mkdir(parents=True)
    for file in (out / "slices" / "usage_date=2026-10-31").glob("*.parquet"):
        os.link(file, issued / file.name)
    close = {
        "month": "2026-10",
        "closed_at": "2026-11-05T00:00:00Z",
        "runs": {"2026-10-31": "r1031"},
        "versions": {"2026-10-31": 1},
    }
    (folder / "close.json").write_text(json.dumps(close), encoding="utf-8")


def write_store(root: Path) -> Path:
    """Write a store under ``root`` with committed ingest ``ing1`` and crashed ``ing2``; return its path."""
    store = root / "store"
    (store / "rejects").mkdir(parents=True)
    (store / "events").mkdir(parents=True)
    con = plain_connect()
    try:
        rejects = con.read_csv(
            str(DATA / "rejects.csv"), header=True, columns=_types("rejects.csv", schema.REJECTS)
        ).to_arrow_table()
        events = con.read_csv(
            str(DATA / "events.csv"), header=True, columns=_types("events.csv", schema.EVENTS)
        )
        events = events.project("*, epoch_ns(emitted_at) AS emitted_ns").to_arrow_table()
    finally:
        con.close()
    for ingest in ("ing1", "ing2"):
        for table, folder in ((rejects, "rejects"), (events, "events")):
            part = table.filter(pc.equal(table["ingest_id"], ingest))
            pq.write_table(part, store / folder / f"{ingest}.parquet", compression="zstd")
    (store / "store.json").write_text(json.dumps({"format": 1, "ingests": ["ing1"]}), encoding="utf-8")
    files = {  # two sources: host-a's ledger and its rotation, host-b's ledger (silent since 10-31)
        "/ledgers/host-a/ledger.jsonl": {
            "bytes": 900,
            "lines": 9,
            "sha256": "a",
            "compressed": False,
            "newest_ns": 1793404800000000000,
            "grew_at": "2026-11-03T02:30:00Z",
        },
        "/ledgers/host-a/ledger.jsonl.1.gz": {
            "bytes": 300,
            "lines": 3,
            "sha256": "b",
            "compressed": True,
            "newest_ns": 1793318400000000000,
            "grew_at": "2026-11-02T02:30:00Z",
        },
        "/ledgers/host-b/ledger.jsonl": {
            "bytes": 100,
            "lines": 1,
            "sha256": "c",
            "compressed": False,
            "newest_ns": 1793491200000000000,
            "grew_at": "2026-10-31T02:30:00Z",
        },
    }
    (store / "files.json").write_text(json.dumps({"format": 1, "files": files}), encoding="utf-8")
    return store
