"""The demo: a seeded fleet, ingested, every day run with the bundled price book and a tenant table."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile import _ingest
from reconcile._audit import audit_window
from reconcile._audit._output import write_findings
from reconcile._core._period import NS_PER_DAY, Period, date_to_ns, format_ns, parse_instant, resolve_cut_off
from reconcile._core._progress import Progress
from reconcile._output import _folder as _write
from reconcile._price import _book as _pricebook
from reconcile._price._book import price_book
from reconcile._price._tenants import load_tenants
from reconcile._run._options import make_options
from reconcile._run._results import DemoSummary, RunSummary
from reconcile._run._session import Session
from reconcile._store._reader import Store
from reconcile.exceptions import UsageError
from reconcile.testing import write_fleet, write_tenants

DEMO_LOST = 0.01
"""The demo fleet loses 1% of start and stop lines (production: far fewer), so that one small week
shows every anomaly: double starts (inferred intervals), double stops, orphan stops."""


def _resource_ids(store: Path) -> set[str]:
    """Every resource id with an event in ``store`` (for the demo's tenant table)."""
    ids: set[str] = set()
    for path in Store(store).event_files():
        ids.update(pq.read_table(path, columns=["resource_id"]).column("resource_id").to_pylist())
    return ids


def demo(output: str | Path = "demo-output", *, seed: int = 7, quiet: bool = False) -> DemoSummary:
    """Generate a seeded fleet, ingest it, run each day with the bundled price book.

    The fleet comes with a tenant attribution table (``tenants.csv`` in the demo folder: a few
    resources change tenant mid-week, a few have none) that every run uses.

    ``output/ledgers`` (the generated ledgers), ``output/store`` (the event store),
    ``output/output`` (the Parquet output, one folder per table) and ``output/inventory`` (the
    platform's inventory snapshots of the fleet, every 6 hours, audited against the ledger into
    the output: relation ``inventory_findings``). A folder from an earlier demo is
    reused (its three sub-folders are replaced); any other non-empty folder is refused.
    """
    root = Path(output)
    marker = root / ".reconcile-demo"
    if root.exists() and any(root.iterdir()) and not marker.exists():
        raise UsageError(
            f"demo folder {root} is not empty and was not made by `reconcile demo`; pick another"
        )
    progress = Progress(quiet=quiet)
    root.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by `reconcile demo`: its sub-folders are replaced by the next demo\n")
    ledgers, store, out_dir, inventory = root / "ledgers", root / "store", root / "output", root / "inventory"
    for folder in (ledgers, store, out_dir, inventory):
        if folder.exists():
            shutil.rmtree(folder)
    progress.note(f"demo: generating a fleet (seed {seed}) into {ledgers}")
    fleet = write_fleet(
        ledgers, seed, lost=DEMO_LOST, inventory=inventory, inventory_every=dt.timedelta(hours=6)
    )
    ingest_summary = _ingest.ingest([ledgers], store, quiet=quiet)
    last_day = dt.date.fromisoformat(format_ns(parse_instant(fleet.last_emitted))[:10])
    first_day = dt.date.fromisoformat(format_ns(parse_instant(fleet.first_emitted))[:10])
    now_ns = date_to_ns(last_day) + NS_PER_DAY  # the demo's clock: the morning after the fleet's last day
    tenants = root / "tenants.csv"
    move_at = dt.datetime.combine(first_day + dt.timedelta(days=3), dt.time(12), tzinfo=dt.UTC)
    write_tenants(tenants, _resource_ids(store), seed, move_at=move_at)
    progress.note(f"demo: tenant attribution in {tenants} (some resources change tenant at {move_at})")
    options = make_options("close", None, tenants)
    book = price_book(_pricebook.BUNDLED)
    periods = [Period.day(first_day + dt.timedelta(days=i)) for i in range((last_day - first_day).days + 1)]
    runs: list[RunSummary] = []
    with _write.open_output(out_dir) as out, Session(store, book, options, progress) as session:
        cuts = [(p, resolve_cut_off(p, None, now_ns=now_ns)) for p in periods]
        session.prepare(cuts)
        runs.extend(session.run_many(out, cuts))
        progress.note(f"demo: auditing the ledger against the inventory snapshots in {inventory}")
        audited = audit_window(
            store, inventory, book, period=None, tenants=load_tenants(tenants), progress=progress
        )
        audited.output = str(write_findings(out_dir, audited, dt.datetime.now(dt.UTC)))
    return DemoSummary(str(root), str(ledgers), str(store), str(out_dir), ingest_summary, runs, audited)
