"""Turn metering ledgers into priced billing intervals."""

from reconcile._generate import FleetInfo, LedgerStats, generate_ledger, write_fleet
from reconcile._store import Store
from reconcile._pair import Pairing, pair
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
    "PriceBookError",
    "ReconcileError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "TenantsError",
    "UsageError",
    "generate_ledger",
    "pair",
    "write_fleet",
]
