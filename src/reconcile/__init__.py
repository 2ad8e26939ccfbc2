"""Turn metering ledgers into priced billing intervals."""

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
    "InputError",
    "OutputError",
    "Pairing",
    "PriceBookError",
    "ReconcileError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "TenantsError",
    "UsageError",
    "pair",
]
