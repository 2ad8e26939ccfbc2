"""Turn metering ledgers into priced billing intervals.

The engine's names are loaded when first used (PEP 562): ``import reconcile`` and ``reconcile --help``
stay fast, and DuckDB, polars and pyarrow are imported only by what needs them. The exceptions are
always loaded (the command line maps them to exit codes before anything heavy runs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from reconcile.exceptions import (
    CloseError,
    ContractsError,
    DamagedFileError,
    InputError,
    OutputError,
    PriceBookError,
    PricingError,
    ReconcileError,
    SparkEngineError,
    StoreError,
    StoreLockedError,
    TenantsError,
    UsageError,
)

if TYPE_CHECKING:
    from reconcile._analysis import (
        Pairing,
        pair,
    )
    from reconcile._audit import (
        AuditSummary,
        Finding,
        audit,
    )
    from reconcile._close import (
        CloseSummary,
        close_month,
    )
    from reconcile._contracts import (
        Contracts,
        load_contracts,
    )
    from reconcile._demo import (
        demo,
    )
    from reconcile._diff import (
        Diff,
        diff_period,
    )
    from reconcile._ingest import (
        IngestSummary,
        Reject,
        ingest,
        validate,
    )
    from reconcile._invoice import (
        invoice_lines,
        invoice_totals,
    )
    from reconcile._nightly import (
        nightly,
    )
    from reconcile._price import (
        price_slices,
    )
    from reconcile._pricebook import (
        PriceBook,
        load_price_book,
    )
    from reconcile._results import (
        DayRun,
        DemoSummary,
        NightlySummary,
        Restatement,
        RunSummary,
    )
    from reconcile._run import (
        run_period,
    )
    from reconcile._store import (
        Store,
    )
    from reconcile._tenants import load_tenants
    from reconcile._views import (
        RelationInfo,
        connect_output,
        export_focus,
        list_relations,
        read_relation,
        read_relation_arrow,
    )
    from reconcile._write import (
        OutputTables,
        read_output,
        recover_output,
    )
    from reconcile.testing import (
        FleetInfo,
        LedgerStats,
        generate_ledger,
        write_fleet,
    )

_LAZY: dict[str, str] = {
    "AuditSummary": "reconcile._audit",
    "Finding": "reconcile._audit",
    "audit": "reconcile._audit",
    "CloseSummary": "reconcile._close",
    "Contracts": "reconcile._contracts",
    "DayRun": "reconcile._results",
    "DemoSummary": "reconcile._results",
    "Diff": "reconcile._diff",
    "FleetInfo": "reconcile.testing",
    "IngestSummary": "reconcile._ingest",
    "LedgerStats": "reconcile.testing",
    "NightlySummary": "reconcile._results",
    "OutputTables": "reconcile._write",
    "Pairing": "reconcile._analysis",
    "PriceBook": "reconcile._pricebook",
    "Reject": "reconcile._ingest",
    "RelationInfo": "reconcile._views",
    "Restatement": "reconcile._results",
    "RunSummary": "reconcile._results",
    "Store": "reconcile._store",
    "close_month": "reconcile._close",
    "connect_output": "reconcile._views",
    "demo": "reconcile._demo",
    "diff_period": "reconcile._diff",
    "export_focus": "reconcile._views",
    "generate_ledger": "reconcile.testing",
    "ingest": "reconcile._ingest",
    "invoice_lines": "reconcile._invoice",
    "invoice_totals": "reconcile._invoice",
    "list_relations": "reconcile._views",
    "load_contracts": "reconcile._contracts",
    "load_price_book": "reconcile._pricebook",
    "load_tenants": "reconcile._tenants",
    "nightly": "reconcile._nightly",
    "pair": "reconcile._analysis",
    "price_slices": "reconcile._price",
    "read_output": "reconcile._write",
    "read_relation": "reconcile._views",
    "read_relation_arrow": "reconcile._views",
    "recover_output": "reconcile._write",
    "run_period": "reconcile._run",
    "validate": "reconcile._ingest",
    "write_fleet": "reconcile.testing",
}

__all__ = [
    "AuditSummary",
    "CloseError",
    "CloseSummary",
    "Contracts",
    "ContractsError",
    "DamagedFileError",
    "DayRun",
    "DemoSummary",
    "Diff",
    "Finding",
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
    "SparkEngineError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "TenantsError",
    "UsageError",
    "audit",
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
    "load_contracts",
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


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reconcile' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
