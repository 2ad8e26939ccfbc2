"""Exceptions raised by the recorder. Every one derives from :class:`RecorderError`.

``emit`` never raises: these are for construction (a naive datetime, a bad shape) and parsing.
"""

from __future__ import annotations


class RecorderError(Exception):
    """Base class for recorder errors."""


class InvalidEntryError(RecorderError, ValueError):
    """An entry cannot be built from these values (the message names the field and value)."""


class ParseError(RecorderError, ValueError):
    """A ledger line cannot be parsed back into an entry."""
