"""Fleets for the audit tests: a clean one, and a lossy one beside its truth (made once per session)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

import reconcile
from reconcile._core._duckdb import plain_connect
from reconcile.testing import FleetInfo, write_fleet

WINDOW = (dt.datetime(2026, 11, 18, tzinfo=dt.UTC), dt.datetime(2026, 11, 25, tzinfo=dt.UTC))
EVERY = dt.timedelta(hours=3)
FLEET = {"hosts": 3, "vms_per_host": 40, "garbage": False, "predates": 0.0}


def ns(at: dt.datetime) -> int:
    return int(at.timestamp()) * 1_000_000_000


def bills(store: Path) -> dict[tuple[str, str], Decimal]:
    """Each resource's exact bill of the window, as the engine prices it (its pairing as of the
    window's end, its slices over the window, the bundled book)."""
    intervals = reconcile.pair(store, WINDOW[1]).intervals.collect().to_arrow()
    con = plain_connect()
    book = reconcile.load_price_book("bundled")
    reconcile.price_slices(
        con, book, period_start_ns=ns(WINDOW[0]), period_end_ns=ns(WINDOW[1]), intervals=intervals
    )
    rows = con.execute("SELECT family, resource_id, sum(amount) FROM slices GROUP BY ALL").fetchall()
    return {(str(f), str(r)): Decimal(a) for f, r, a in rows}


def ledger_states(store: Path, instants: list[int]) -> pl.DataFrame:
    """The oracle's ledger side, in polars: every billed interval's resource and priced shape at each
    instant it covers (start <= t < end)."""
    intervals = (
        reconcile.pair(store, WINDOW[1])
        .intervals.filter(
            pl.col("status") != "dropped",
            pl.col("end_ns").is_null() | (pl.col("end_ns") > pl.col("start_ns")),
        )
        .collect()
    )
    covered = intervals.join(pl.DataFrame({"t": instants}), how="cross").filter(
        (pl.col("start_ns") <= pl.col("t")) & (pl.col("end_ns").is_null() | (pl.col("end_ns") > pl.col("t")))
    )
    return covered.select("t", "family", "resource_id", *_priced())


def _priced() -> list[pl.Expr]:
    compute = pl.col("family") == "vm.compute"
    return [
        pl.when(compute).then(pl.col("cpu")).otherwise(0).alias("p_cpu"),
        pl.when(compute).then(pl.col("mem_bytes")).otherwise(0).alias("p_mem"),
        pl.when(compute).then(0).otherwise(pl.col("storage_bytes")).alias("p_storage"),
    ]


def snapshot_states(files: list[Path]) -> pl.DataFrame:
    """The oracle's inventory side: the rows of the snapshot CSV files."""
    frame = pl.concat([pl.read_csv(f, schema_overrides={"hypervisor": pl.String}) for f in files])
    return frame.with_columns(
        pl.col("observed_at").str.to_datetime(time_unit="ns", time_zone="UTC").dt.epoch("ns").alias("t")
    ).select("t", "family", "resource_id", *_priced())


def causes(fleet: FleetInfo) -> dict[tuple[str, str], list[str]]:
    """Per resource, what the producer lost or hid: its lost lines' kinds and its silent resizes."""
    found: dict[tuple[str, str], list[str]] = {}
    for line in fleet.lost_lines:
        entry = json.loads(line)
        family = entry["kind"].rsplit(".", 1)[0]
        resource = entry["snapshot_id"] if family == "snap.storage" else entry["vm_id"]
        found.setdefault((family, resource), []).append(entry["kind"])
    for vm, _ in fleet.resized:
        found.setdefault(("vm.compute", vm), []).append("resize")
    return found


@dataclass(frozen=True)
class Lossy:
    """A fleet with lost lines and silent resizes, its truth, their stores and the audit of it."""

    root: Path
    fleet: FleetInfo
    truth_store: Path
    store: Path
    audit: reconcile.AuditSummary
    proposal: Path


@pytest.fixture(scope="session")
def lossy(tmp_path_factory: pytest.TempPathFactory) -> Lossy:
    """4 hosts x 40 VMs for a week losing 3% of their lines and resizing VMs 0.3 times a day,
    snapshots every 3 hours; its truth (the same fleet, nothing lost, each resize written as a stop
    and a start); both ingested, and the lossy one audited with a proposal."""
    root = tmp_path_factory.mktemp("audit-lossy")
    kw = {**FLEET, "seed": 11, "resizes": 0.3, "start": WINDOW[0]}
    write_fleet(root / "truth-ledgers", lost=0.0, emit_resizes=True, **kw)
    fleet = write_fleet(
        root / "ledgers",
        lost=0.03,
        inventory=root / "inventory",
        inventory_every=EVERY,
        **kw,
    )
    reconcile.ingest([root / "truth-ledgers"], root / "truth-store", quiet=True)
    reconcile.ingest([root / "ledgers"], root / "store", quiet=True)
    summary = reconcile.audit(
        root / "store", root / "inventory", "bundled", quiet=True, propose=root / "proposal.jsonl"
    )
    return Lossy(root, fleet, root / "truth-store", root / "store", summary, root / "proposal.jsonl")
