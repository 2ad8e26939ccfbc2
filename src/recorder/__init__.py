"""Write VM and snapshot lifecycle endpoints to the metering ledger (standard library only).

The Python twin of the Go ``metering`` package v0.4.1: ``Entry.to_line()`` writes the same bytes as
Go's ``encoding/json``, and ``FileRecorder`` appends them the way the Go file recorder does.
"""

from recorder._entry import Entry, Kind, Reason, Shape
from recorder._recorders import (
    CaptureRecorder,
    FileRecorder,
    NopRecorder,
    Recorder,
    StderrRecorder,
    open_file_recorder,
)
from recorder.exceptions import InvalidEntryError, ParseError, RecorderError

__all__ = [
    "CaptureRecorder",
    "Entry",
    "FileRecorder",
    "InvalidEntryError",
    "Kind",
    "NopRecorder",
    "ParseError",
    "Reason",
    "Recorder",
    "RecorderError",
    "Shape",
    "StderrRecorder",
    "open_file_recorder",
]
