"""Turn metering ledgers into priced billing intervals."""

from reconcile._analysis import Pairing, pair
from reconcile._close import CloseSummary, close_month
from reconcile._demo import demo
from reconcile._diff import Diff, diff_period
from reconcile._generate import FleetInfo, LedgerStats, generate_ledger, write_fleet
from reconcile._ingest import IngestSummary, Reject, ingest, validate
from reconcile._nightly import nightly
from reconcile._price import invoice_lines, invoice_totals, load_tenants, price_slices
from reconcile._pricebook import PriceBook, load_price_book
from reconcile._results import DayRun, DemoSummary, NightlySummary, Restatement, RunSummary
from reconcile._run import run_period
from reconcile._store import Store
from reconcile._views import (
    RelationInfo,
    connect_output,
    export_focus,
    list_relations,
    read_relation,
    read_relation_arrow,
)
from reconcile._write import OutputTables, read_output, recover_output
from reconcile.exceptions import (
    CloseError,
    InputError,
    OutputError,
    PriceBookError,
    PricingError,
    ReconcileError,
    StoreError,
    StoreLockedError,
    TenantsError,
    UsageError,
)

__all__ = [
    "CloseError",
    "CloseSummary",
    "DayRun",
    "DemoSummary",
    "Diff",
    "FleetInfo",
    "IngestSummary",
    "InputError",
    "LedgerStats",
    "NightlySummary",
    "OutputError",
    "OutputTables",
    "Pairing",
    "PriceBook",
    "PriceBookError",
    "PricingError",
    "ReconcileError",
    "Reject",
    "RelationInfo",
    "Restatement",
    "RunSummary",
    "Store",
    "StoreError",
    "StoreLockedError",
    "TenantsError",
    "UsageError",
    "close_month",
    "connect_output",
    "demo",
    "diff_period",
    "export_focus",
    "generate_ledger",
    "ingest",
    "invoice_lines",
    "invoice_totals",
    "list_relations",
    "load_price_book",
    "load_tenants",
    "nightly",
    "pair",
    "price_slices",
    "read_output",
    "read_relation",
    "read_relation_arrow",
    "recover_output",
    "run_period",
    "validate",
    "write_fleet",
]
