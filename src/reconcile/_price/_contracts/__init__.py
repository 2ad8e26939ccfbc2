"""Customer contracts: a reviewed TOML file beside the price book, loaded and checked, as typed values
and as the tables pricing and invoice lines join (docs/SPEC.md, "Contracts").

The format (every rule is checked on load; each problem is one line naming the file, the table with
its header's line, the field and the value)::

    currency = "USD"                 # must equal the price book's

    [[contract]]
    tenant = "acme"                  # a tenant id of the tenants table
    effective_from = 2026-05-01      # inclusive; a TOML date (UTC midnight) or date-time
    effective_to = 2027-05-01        # optional, exclusive
    discount = "10"                  # optional: percent off the list price of every meter with no
                                     # price and no tiers in this contract (0 to 100)
      [[contract.price]]             # a negotiated unit price, replacing the list price
      family = "vm.compute"
      meter = "vcpu_hours"
      unit = "vCPU-hour"             # as in the price book (GiB-month with hours_per_month too)
      price = "0.0300"
      hypervisor = "firecracker"     # optional: overrides this contract's default price for the meter

    [[contract]]
    tenant = "globex"
    effective_from = 2026-05-01      # a contract with tiers or a minimum runs whole UTC months
    monthly_minimum = "100.00"       # optional: a complete month billed below it gets a true-up line
      [[contract.tier]]              # graduated tiers of the month's billed quantity of the meter
      family = "vm.compute"
      meter = "vcpu_hours"
      up_to = "100"                  # quantities up to 100 vCPU-hours in the month, at this price
      price = "0.0400"               # per unit of the meter's hours (vCPU-hour, GiB-hour)
      [[contract.tier]]              # the last tier has no up_to
      family = "vm.compute"
      meter = "vcpu_hours"
      price = "0.0200"

The modules, one job each: ``_model`` (the immutable values and their lookups), ``_entries`` (one
price or tier table), ``_rules`` (rules across tables and contracts), ``_parse`` (the file), ``_tables``
(the Arrow tables and their schemas), ``_changes`` (a period's digest, what a new file changes).
"""

from reconcile._price._contracts._changes import (
    commitments,
    contract_changes,
    contract_terms,
    period_digest,
    terms,
)
from reconcile._price._contracts._model import (
    BASES,
    Basis,
    Contract,
    ContractPrice,
    Contracts,
    ContractTier,
    hourly_unit,
    is_month_start,
    meters,
)
from reconcile._price._contracts._parse import load_contracts, parse_contracts
from reconcile._price._contracts._tables import (
    CONTRACT_METER_SCHEMA,
    CONTRACT_PRICE_SCHEMA,
    CONTRACT_SCHEMA,
    CONTRACT_TIER_SCHEMA,
    ContractTables,
    contract_tables,
)

__all__ = [
    "BASES",
    "CONTRACT_METER_SCHEMA",
    "CONTRACT_PRICE_SCHEMA",
    "CONTRACT_SCHEMA",
    "CONTRACT_TIER_SCHEMA",
    "Basis",
    "Contract",
    "ContractPrice",
    "ContractTables",
    "ContractTier",
    "Contracts",
    "commitments",
    "contract_changes",
    "contract_tables",
    "contract_terms",
    "hourly_unit",
    "is_month_start",
    "load_contracts",
    "meters",
    "parse_contracts",
    "period_digest",
    "terms",
]
