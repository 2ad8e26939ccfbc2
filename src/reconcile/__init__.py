"""Turn metering ledgers into priced billing intervals."""

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
    "InputError",
    "OutputError",
    "PriceBookError",
    "ReconcileError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "TenantsError",
    "UsageError",
]
