"""Turn metering ledgers into priced billing intervals."""

from reconcile._generate import FleetInfo, LedgerStats, generate_ledger, write_fleet
from reconcile._pair import Pairing, pair
from reconcile._price import invoice_lines, invoice_totals, load_tenants, price_slices
from reconcile._pricebook import PriceBook, load_price_book
from reconcile._store import Store
from reconcile.exceptions import (
    InputError,
    OutputError,
    PriceBookError,
    ReconcileError,
    StoreError,
    StoreLockedError,
    TenantsError,
    UsageError,
)

__all__ = [
    "FleetInfo",
    "InputError",
    "LedgerStats",
    "OutputError",
    "Pairing",
    "PriceBook",
    "PriceBookError",
    "ReconcileError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "TenantsError",
    "UsageError",
    "generate_ledger",
    "invoice_lines",
    "invoice_totals",
    "load_price_book",
    "load_tenants",
    "pair",
    "price_slices",
    "write_fleet",
]
