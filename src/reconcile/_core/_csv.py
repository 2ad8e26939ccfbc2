"""CSV for people who open it in a spreadsheet: text cells that a spreadsheet would run as a formula
are neutralised, instants are ISO 8601 UTC with nanoseconds and a ``Z``.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a TAB or a CR is a formula to Excel, LibreOffice
and Google Sheets (CSV injection: ``=HYPERLINK(...)`` in a resource or tenant id that came from a
ledger). Such a cell is written with a leading ``'``, which spreadsheets show as text and hide. Only
text columns are touched: a negative amount stays a number.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

FORMULA = r"^[=+\-@\t\r]"
INSTANT_FORMAT = "%Y-%m-%dT%H:%M:%S.%9fZ"


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with formula-like text cells quoted and instants as UTC text with ``Z``."""
    return frame.with_columns(
        pl.when(pl.col(pl.String).str.contains(FORMULA))
        .then(pl.lit("'") + pl.col(pl.String))
        .otherwise(pl.col(pl.String))
        .name.keep(),
        pl.col(pl.Datetime).dt.to_string(INSTANT_FORMAT),
    )


def write_csv(frame: pl.DataFrame, target: Path | io.StringIO) -> None:
    """Write ``frame`` as spreadsheet-safe CSV with a header."""
    spreadsheet_safe(frame).write_csv(target)
