"""What an ingest reports: its counts, rejects, and the findings about files it could not read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from reconcile._core._jsonvalue import JsonObject, JsonValue

#: Finding codes: a file skipped, or read only in part. Each is one line of the night's summary.
FINDING_CODES: tuple[str, ...] = (
    "missing",  # a dangling symlink
    "not_regular",  # a FIFO, socket or device: never opened (reading one could block for ever)
    "unreadable",  # permission denied or an I/O error
    "bad_name",  # a file name that is not UTF-8 (it could not be recorded as a source)
    "not_a_ledger",  # neither ledger text nor a known compression
    "truncated",  # a compressed file that ends early: its complete lines are read
    "trailing_data",  # bytes after the end of a compressed stream that are not another stream
)

SAMPLE_REJECTS = 5  # rejects listed by file and line in a summary (the first few)


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as text that is safe to print: bytes that are not UTF-8 as ``\\xNN``, control
    characters escaped (a file name can hold any byte but ``/`` and NUL)."""
    raw = os.fsencode(path)
    text = raw.decode("utf-8", "backslashreplace")
    return escape_control(text)


def escape_control(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1) escaped, so a terminal receives none."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            out.append({"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(ch, f"\\x{code:02x}"))
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class Finding:
    """A file the ingest skipped or read only in part: its path (printable), a code, what happened."""

    path: str
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"

    def to_json(self) -> JsonObject:
        """The finding as a JSON object."""
        return {"path": self.path, "code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Reject:
    """A line that cannot become an event: where it is, its SPEC code and its first 4 KiB."""

    source_file: str
    source_line: int
    code: str
    raw: str


@dataclass(frozen=True)
class InputFile:
    """One file an ingest looked at: its size and digest, what it read of it."""

    path: str
    size: int
    sha256: str
    compressed: bool
    compression: str | None  # gzip, zstd, bz2, xz (None: plain)
    first_line: int  # the first line read (1-based; past the part an earlier ingest consumed)
    lines: int  # lines read
    pending: bool  # a last line without its newline, left for the next ingest
    unchanged: bool  # nothing new since the last ingest

    def to_json(self) -> JsonObject:
        """The ingest record's and ``--json``'s entry."""
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "compressed": self.compressed,
            "compression": self.compression,
            "first_line": self.first_line,
            "lines": self.lines,
            "pending": self.pending,
            "unchanged": self.unchanged,
        }


@dataclass
class IngestSummary:
    """What one ingest did. ``lines = events + duplicates + rejects + pending`` (this ingest only)."""

    ingest_id: str | None
    store: str | None
    lines: int = 0
    events: int = 0
    duplicates: int = 0
    pending: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    inputs: list[InputFile] = field(default_factory=list)
    bytes_read: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    reject_sample: list[str] = field(default_factory=list)  # the first ``file:line: code`` rejects

    @property
    def rejected(self) -> int:
        """All rejects of this ingest."""
        return sum(self.rejects.values())

    @property
    def lines_per_second(self) -> float:
        """Lines read per second of wall time."""
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> JsonObject:
        """The summary as a JSON object (``--json``)."""
        return {
            "ingest_id": self.ingest_id,
            "store": self.store,
            "lines": self.lines,
            "events": self.events,
            "duplicates": self.duplicates,
            "pending": self.pending,
            "rejects": dict(self.rejects),
            "rejected": self.rejected,
            "reject_sample": list[JsonValue](self.reject_sample),
            "findings": [f.to_json() for f in self.findings],
            "inputs": [i.to_json() for i in self.inputs],
            "bytes": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines_per_second, 1),
        }


def format_summary(summary: IngestSummary) -> str:
    """A one-screen human summary of an ingest."""
    lines = [
        f"ingest {summary.ingest_id} into {summary.store}",
        f"  files       {len(summary.inputs):>12,}",
        f"  lines       {summary.lines:>12,}",
        f"  events      {summary.events:>12,}",
        f"  duplicates  {summary.duplicates:>12,}",
        f"  rejects     {summary.rejected:>12,}",
    ]
    lines.extend(f"    {code:<22}{count:>10,}" for code, count in summary.rejects.items())
    lines.append(f"  pending     {summary.pending:>12,}")
    lines.append(f"  seconds     {summary.seconds:>12,.2f}   ({summary.lines_per_second:,.0f} lines/s)")
    if summary.reject_sample:
        more = summary.rejected - len(summary.reject_sample)
        lines.append("  first rejects" + (f" ({more:,} more: reconcile sql rejects)" if more > 0 else ""))
        lines.extend(f"    {item}" for item in summary.reject_sample)
    if summary.findings:
        lines.append(f"  files skipped or read in part: {len(summary.findings)}")
        lines.extend(f"    {finding}" for finding in summary.findings)
    return "\n".join(lines)


def relative_name(path: Path) -> str:
    """The last two parts of a path (``host-a/ledger.jsonl``), for short progress lines."""
    return "/".join(path.parts[-2:])
