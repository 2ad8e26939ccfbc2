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
    from reconcile._analysts._pairing import (
        Pairing,
        pair,
    )
    from reconcile._analysts._views import (
        RelationInfo,
        connect_output,
        export_focus,
        list_relations,
        read_relation,
        read_relation_arrow,
    )
    from reconcile._audit import (
        AuditSummary,
        Finding,
        audit,
    )
    from reconcile._bills._close import (
        CloseSummary,
        close_month,
    )
    from reconcile._bills._diff import (
        Diff,
        diff_period,
    )
    from reconcile._ingest import (
        IngestSummary,
        Reject,
        ingest,
        validate,
    )
    from reconcile._output._folder import (
        OutputTables,
        read_output,
        recover_output,
    )
    from reconcile._price._book import (
        PriceBook,
        load_price_book,
    )
    from reconcile._price._contracts import (
        Contracts,
        load_contracts,
    )
    from reconcile._price._invoice import (
        invoice_lines,
        invoice_totals,
    )
    from reconcile._price._pricer import (
        price_slices,
    )
    from reconcile._price._tenants import load_tenants
    from reconcile._run._demo import (
        demo,
    )
    from reconcile._run._nightly import (
        nightly,
    )
    from reconcile._run._period_run import (
        run_period,
    )
    from reconcile._run._results import (
        DayRun,
        DemoSummary,
        NightlySummary,
        Restatement,
        RunSummary,
    )
    from reconcile._store._reader import (
        Store,
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
    "CloseSummary": "reconcile._bills._close",
    "Contracts": "reconcile._price._contracts",
    "DayRun": "reconcile._run._results",
    "DemoSummary": "reconcile._run._results",
    "Diff": "reconcile._bills._diff",
    "FleetInfo": "reconcile.testing",
    "IngestSummary": "reconcile._ingest",
    "LedgerStats": "reconcile.testing",
    "NightlySummary": "reconcile._run._results",
    "OutputTables": "reconcile._output._folder",
    "Pairing": "reconcile._analysts._pairing",
    "PriceBook": "reconcile._price._book",
    "Reject": "reconcile._ingest",
    "RelationInfo": "reconcile._analysts._views",
    "Restatement": "reconcile._run._results",
    "RunSummary": "reconcile._run._results",
    "Store": "reconcile._store._reader",
    "close_month": "reconcile._bills._close",
    "connect_output": "reconcile._analysts._views",
    "demo": "reconcile._run._demo",
    "diff_period": "reconcile._bills._diff",
    "export_focus": "reconcile._analysts._views",
    "generate_ledger": "reconcile.testing",
    "ingest": "reconcile._ingest",
    "invoice_lines": "reconcile._price._invoice",
    "invoice_totals": "reconcile._price._invoice",
    "list_relations": "reconcile._analysts._views",
    "load_contracts": "reconcile._price._contracts",
    "load_price_book": "reconcile._price._book",
    "load_tenants": "reconcile._price._tenants",
    "nightly": "reconcile._run._nightly",
    "pair": "reconcile._analysts._pairing",
    "price_slices": "reconcile._price._pricer",
    "read_output": "reconcile._output._folder",
    "read_relation": "reconcile._analysts._views",
    "read_relation_arrow": "reconcile._analysts._views",
    "recover_output": "reconcile._output._folder",
    "run_period": "reconcile._run._period_run",
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
