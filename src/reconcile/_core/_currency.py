"""Currency minor units (from the maintained ISO 4217 data of the ``iso4217`` package) and rounding."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_EVEN, Decimal

import pyarrow as pa  # type: ignore[import-untyped]
from iso4217 import Currency


def minor_units(code: str) -> int:
    """The number of fraction digits of currency ``code`` (USD 2, JPY 0, BHD 3).

    Raises ``ValueError`` for a code ISO 4217 does not know, or one without a minor unit (funds,
    precious metals such as XAU), which a price book cannot bill in.
    """
    try:
        currency = Currency(code)
    except ValueError:
        raise ValueError(f"unknown ISO 4217 currency code {code!r}") from None
    exponent = currency.exponent
    if exponent is None:
        raise ValueError(f"currency {code!r} has no minor unit in ISO 4217 (not a billing currency)")
    return int(exponent)


def round_to_minor(amount: Decimal, code: str) -> Decimal:
    """``amount`` rounded half-even to the minor unit of ``code`` (``Decimal("0.125")`` USD -> ``0.12``)."""
    quantum = Decimal(1).scaleb(-minor_units(code))
    return amount.quantize(quantum, rounding=ROUND_HALF_EVEN)


def decimal_text(amount: Decimal) -> str:
    """``amount`` as a plain decimal string for JSON, keeping its digits (``0.000000000000``, never
    ``0E-12``; ``0.000000019026``, never ``1.9026E-8``)."""
    return format(amount, "f")


@functools.cache
def currency_table() -> pa.Table:
    """ISO 4217 currencies with minor units (from the ``iso4217`` package): the input of invoice_lines.

    Columns: ``currency`` (code), ``minor_unit`` (fraction digits), ``minor_scale`` (10^minor_unit) and
    ``minor_step`` (10^-minor_unit as DECIMAL(38, 12)). Currencies without minor units (gold, SDR, ...)
    are left out. Made once per process (Arrow tables are immutable).
    """
    rows: list[tuple[str, int]] = []
    for code in sorted(c.code for c in Currency):
        try:
            rows.append((code, minor_units(code)))
        except ValueError:
            continue  # no minor unit: not a billing currency
    return pa.table(
        {
            "currency": pa.array([code for code, _ in rows], pa.string()),
            "minor_unit": pa.array([exp for _, exp in rows], pa.int32()),
            "minor_scale": pa.array([10**exp for _, exp in rows], pa.int64()),
            "minor_step": pa.array([Decimal(1).scaleb(-exp) for _, exp in rows], pa.decimal128(38, 12)),
        }
    )
