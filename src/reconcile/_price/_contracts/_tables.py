"""The contracts as the Arrow tables pricing and invoice lines join (docs/SPEC.md, "Contracts").

Money is normalised as the price book's ``price_table`` normalises it: a unit price as
``DECIMAL(38,12)`` and as ``*_e12``, the exact integer of its value times 10^12, with its ``unit`` and
``hours_per_month`` as written (an amount is ``billed_quantity * unit_price``, divided by
``hours_per_month`` for ``GiB-month``); instants are Unix nanoseconds, an open end NULL and an end
beyond int64 clamped (``clamp_int64``). The schemas are the contract with the SQL: one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._core._tomlfields import PRICE_SCALE, clamp_int64
from reconcile._price._contracts._model import Contract, Contracts, meters

_E12 = Decimal(10) ** PRICE_SCALE
_MONEY = pa.decimal128(38, PRICE_SCALE)
_SCALED = pa.decimal128(38, 0)
_WINDOW = [("effective_from_ns", pa.int64()), ("effective_to_ns", pa.int64())]
_OWNER = [("contract_id", pa.string()), ("tenant_id", pa.string())]

#: ``contracts``: one row per contract, its window and its month-level terms.
CONTRACT_SCHEMA = pa.schema(
    [
        *_OWNER,
        ("contract_index", pa.int32()),  # its position among the file's [[contract]] tables, from 1
        *_WINDOW,
        ("discount_percent", _MONEY),  # NULL: no discount
        ("discount_keep_e12", _SCALED),  # (100 - discount) * 10^12: a discounted price's e12 is
        # div_half_even(list_e12 * discount_keep_e12, 10^14); NULL: no discount
        ("monthly_minimum", _MONEY),  # NULL: no commitment
        ("monthly_minimum_minor", pa.int64()),  # the minimum in minor units (cents)
        ("month_aligned", pa.bool_()),  # starts (and ends) on UTC month starts
    ]
)
#: ``contract_prices``: one row per negotiated price, as the book's ``price_table`` plus its owner.
CONTRACT_PRICE_SCHEMA = pa.schema(
    [
        *_OWNER,
        ("entry", pa.int32()),  # its position among the contract's [[contract.price]] tables, from 1
        ("family", pa.string()),
        ("meter", pa.string()),
        ("hypervisor", pa.string()),  # NULL: the contract's default price for the meter
        ("unit", pa.string()),
        ("unit_price", _MONEY),
        ("unit_price_e12", _SCALED),
        ("hours_per_month", pa.int32()),  # NULL unless the unit is monthly
        *_WINDOW,
    ]
)
#: ``contract_tiers``: one row per tier, ``(lower, up_to]`` of the month's billed quantity.
CONTRACT_TIER_SCHEMA = pa.schema(
    [
        *_OWNER,
        ("family", pa.string()),
        ("meter", pa.string()),
        ("tier", pa.int32()),  # 1 for the lowest
        ("lower", _MONEY),  # the tier covers quantities above this (0 for tier 1) ...
        ("up_to", _MONEY),  # ... up to and including this; NULL: the last tier
        ("lower_e12", _SCALED),
        ("up_to_e12", _SCALED),
        ("unit", pa.string()),  # the meter's hours: vCPU-hour or GiB-hour
        ("unit_price", _MONEY),
        ("unit_price_e12", _SCALED),
        *_WINDOW,
    ]
)
#: ``contract_meters``: per contract and meter of SPEC section 4, how its slices are charged.
CONTRACT_METER_SCHEMA = pa.schema(
    [
        *_OWNER,
        ("family", pa.string()),
        ("meter", pa.string()),
        ("basis", pa.string()),  # price | tier | discount | list
        ("discount_keep_e12", _SCALED),  # basis discount only
        ("tier_unit_price", _MONEY),  # basis tier only: the first tier's price, what slices carry
        ("tier_unit_price_e12", _SCALED),
        *_WINDOW,
    ]
)


@dataclass(frozen=True)
class ContractTables:
    """The four relations, by the names the SQL reads them by."""

    contracts: pa.Table
    contract_prices: pa.Table
    contract_tiers: pa.Table
    contract_meters: pa.Table

    def items(self) -> tuple[tuple[str, pa.Table], ...]:
        """``(relation name, table)`` pairs, to register in a DuckDB connection."""
        names = ("contracts", "contract_prices", "contract_tiers", "contract_meters")
        return tuple((name, getattr(self, name)) for name in names)


def contract_tables(contracts: Contracts | None) -> ContractTables:
    """The tables of ``contracts`` (empty tables of the same schemas for None: no contracts file)."""
    rows = () if contracts is None else contracts.contracts
    minor = Decimal(10) ** (0 if contracts is None else contracts.minor_units)
    prices = [(c, p) for c in rows for p in c.prices]
    tiers = [(c, t) for c in rows for t in c.tiers]
    kept = [(c, family, meter) for c in rows for family, meter in meters()]
    return ContractTables(
        contracts=_table(
            CONTRACT_SCHEMA,
            rows,
            {
                "contract_index": lambda c: c.index,
                "discount_percent": lambda c: c.discount,
                "discount_keep_e12": lambda c: None if c.discount is None else (100 - c.discount) * _E12,
                "monthly_minimum": lambda c: c.monthly_minimum,
                "monthly_minimum_minor": lambda c: (
                    None if c.monthly_minimum is None else int(c.monthly_minimum * minor)
                ),
                "month_aligned": lambda c: c.month_aligned,
            },
            lambda c: c,
        ),
        contract_prices=_table(
            CONTRACT_PRICE_SCHEMA,
            prices,
            {
                "entry": lambda r: r[1].index,
                "family": lambda r: r[1].family,
                "meter": lambda r: r[1].meter,
                "hypervisor": lambda r: r[1].hypervisor,
                "unit": lambda r: r[1].unit,
                "unit_price": lambda r: r[1].price,
                "unit_price_e12": lambda r: r[1].price * _E12,
                "hours_per_month": lambda r: r[1].hours_per_month,
            },
            lambda r: r[0],
        ),
        contract_tiers=_table(
            CONTRACT_TIER_SCHEMA,
            tiers,
            {
                "family": lambda r: r[1].family,
                "meter": lambda r: r[1].meter,
                "tier": lambda r: r[1].tier,
                "lower": lambda r: r[1].lower,
                "up_to": lambda r: r[1].up_to,
                "lower_e12": lambda r: r[1].lower * _E12,
                "up_to_e12": lambda r: _int(r[1].up_to, _E12),
                "unit": lambda r: r[1].unit,
                "unit_price": lambda r: r[1].price,
                "unit_price_e12": lambda r: r[1].price * _E12,
            },
            lambda r: r[0],
        ),
        contract_meters=_table(
            CONTRACT_METER_SCHEMA,
            kept,
            {
                "family": lambda r: r[1],
                "meter": lambda r: r[2],
                "basis": lambda r: r[0].basis(r[1], r[2]),
                "discount_keep_e12": lambda r: _keep(r[0], r[1], r[2]),
                "tier_unit_price": lambda r: _first_tier(r[0], r[1], r[2]),
                "tier_unit_price_e12": lambda r: _int(_first_tier(r[0], r[1], r[2]), _E12),
            },
            lambda r: r[0],
        ),
    )


Row = TypeVar("Row")


def _table(
    schema: pa.Schema,
    rows: Sequence[Row],
    columns: dict[str, Callable[[Row], object]],
    owner: Callable[[Row], Contract],
) -> pa.Table:
    """A table of ``schema``: the owner and window columns from each row's contract, the rest from
    ``columns``."""
    common: dict[str, Callable[[Contract], object]] = {
        "contract_id": lambda c: c.contract_id,
        "tenant_id": lambda c: c.tenant,
        "effective_from_ns": lambda c: clamp_int64(c.effective_from_ns),
        "effective_to_ns": lambda c: clamp_int64(c.effective_to_ns),
    }
    arrays = []
    for column in schema:
        if column.name in common:
            values = [common[column.name](owner(row)) for row in rows]
        else:
            values = [columns[column.name](row) for row in rows]
        arrays.append(pa.array(values, column.type))
    return pa.table(arrays, schema=schema)


def _int(value: Decimal | None, scale: Decimal) -> Decimal | None:
    """``value * scale`` (an integer by validation), None for None."""
    return None if value is None else value * scale


def _keep(contract: Contract, family: str, meter: str) -> Decimal | None:
    if contract.discount is None or contract.basis(family, meter) != "discount":
        return None
    return (100 - contract.discount) * _E12


def _first_tier(contract: Contract, family: str, meter: str) -> Decimal | None:
    tiers = contract.tiers_for(family, meter)
    return tiers[0].price if tiers else None
