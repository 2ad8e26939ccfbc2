"""Write VM and snapshot lifecycle endpoints to the metering ledger (standard library only)."""

from recorder.exceptions import InvalidEntryError, ParseError, RecorderError

__all__ = ["InvalidEntryError", "ParseError", "RecorderError"]
