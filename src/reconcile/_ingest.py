"""Stage: ledger files -> events, rejects and an ingest record in the event store (SPEC 1, 2, 5).

How a file is read:

1. A Python pass over its bytes (needed anyway for the SHA-256 of the record) finds the consumed
   prefix (up to the last ``\\n`` of a live file; all of a ``.gz`` file), counts its new complete
   lines, checks whether the prefix already consumed is unchanged (``files.json``) and whether the
   new part is *plain*: valid UTF-8, no NUL byte, no CR except in CRLF. ``hashlib`` and ``bytes``
   methods run at memory speed.
2. DuckDB reads the lines as text (``sql/engine/ledger_text.sql``: one-column CSV, NUL delimiter, no
   quoting) and classifies and parses them with its JSON functions (``parsed_lines.sql``: a typed fast
   path that parses a line exactly as Go writes it once, a checked slow path for the others), in one
   parallel pass streaming to an lz4 Parquet file in the writer's scratch folder (up to
   ``ONE_PASS_MAX_BYTES`` of new text; a bigger file's lines are first numbered by the reader's ``WITH
   ORDINALITY`` position, ``ledger_lines.sql``, in a streaming single-threaded step to scratch Parquet,
   which spills less; measured on a 50M-line ledger: 150 s, where numbering with ``row_number()``,
   which gathers every line first, took 175 s). With ``preserve_insertion_order`` the rows stay in file
   order, so no query numbers them: ``ingest_lines.sql`` reads a row's line as its position in its
   scratch file (``file_row_number``) after the lines read before, drops the lines past those the
   Python pass counted (a torn tail, or lines appended meanwhile), and adds the columns that follow
   from others (``source_file``, ``family``, ``endpoint``, ``resource_id``), so the scratch files are
   smaller. A file read from its start is read in place; a grown file's new part is first copied to a
   scratch file (lines numbered on from the old count). A file that is not plain (rare) is copied with
   each odd line classified in Python (``blank``, ``invalid_utf8``, ``line_too_long``; a raw NUL or
   lone CR: ``malformed_json``) and replaced by a one-byte marker line, so the line numbers stay right
   and every other line goes through the same SQL. (The segmented parse, several queries over line
   ranges of one file, is off: ``SEGMENT_WORKERS``; it numbers lines in the two-step way.)
3. Queries over all the files' Parquet de-duplicate (against the store, and within the ingest by sorted
   path then line; the ids read more than once are found in parts of ``DEDUPE_PART_LINES`` lines, by
   hash, so memory does not grow with the ingest) and write the new events (``new_events.sql``) and the
   rejects (``rejects.sql``) as zstd Parquet (level 1: cheaper than DuckDB's default 3, and no bigger
   here); the store commits them with the ingest record and the new ``files.json`` (see
   :mod:`reconcile._store`).

A live file's last line without ``\\n`` is pending: counted in ``lines`` and ``pending``, not
consumed. A ``.gz`` file (by its gzip magic bytes) is complete; it is consumed whole or, when its
bytes changed, read again whole. Memory stays bounded by DuckDB's ``memory_limit``: it streams each
file to Parquet and spills past the limit to the store's scratch folder (a 50M-line, 10 GB ledger
spilled up to 16 GB there with an earlier parse: the scratch folder needs that much disk).

Where the time goes (10M Go-shaped lines, 2.1 GB, 2 cores, one file into an empty store: about 17 s,
0.46 GB peak): the Python pass 1.7 s (SHA-256 on a worker thread beside the plain check); the parse
about 22 CPU-seconds on both cores (JSON parse, canonical check, timestamps, the md5 of ``event_id``
about a quarter, the scratch write); de-duplication and the events file about 8 CPU-seconds. A path
reading Go-shaped files with DuckDB's ``read_json`` (proving each line canonical by byte counts) was
measured and gave no gain: the JSON parse is the small part; md5, timestamps and Parquet writes
dominate.
Choices: a folder contributes its ``*.jsonl*`` files; the ``event_id`` string lengths are UTF-8 byte
lengths; ``lines`` of an ingest count the pending line it saw (a later ingest counts it again when it
reads it).
"""

from __future__ import annotations

import codecs
import concurrent.futures
import glob
import gzip
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from reconcile._files import fsync_path
from reconcile._progress import Progress
from reconcile._schema import REJECT_CODES
from reconcile._sql import load_sql
from reconcile._store import FileState, Store, hook
from reconcile.exceptions import InputError

MAX_LINE_BYTES = 1 << 20  # a longer line is `line_too_long`
RAW_BYTES = 4096  # rejects keep the first 4 KiB of the line
_CHUNK = 8 << 20
_MARKER = b"\x01"  # a scratch-copy line the Python pass classified itself
_GZIP_MAGIC = b"\x1f\x8b"
# DuckDB settings of an ingest: bounded memory (spilling to the store's scratch folder) so a 50M-line
# ledger peaks about as high as a 10M-line one (DuckDB's buffers fill up to the limit on a long read;
# at 1GB: 0.68 / 1.21 GB peaks, at 512MB: 0.46 / 0.52 GB, 10M lines as fast; at 384MB: 0.41 / 0.49
# GB, 8% slower).
MEMORY_LIMIT = "512MB"
NUMBERING_MEMORY_LIMIT = "256MB"  # the streaming first step of the two-step parse
# De-duplication runs in parts of about this many lines (by hash of event_id), so its hash tables
# do not grow with the ingest. Measured (10M / 50M lines, 512MB limit): 16M-line parts peaked at
# 587 / 668 MB, 5M-line parts at 459 / 517 MB, at the same speed for 10M lines.
DEDUPE_PART_LINES = 5_000_000
# A file's new part up to this size is parsed in one ordered pass. Past it (a 10 GB, 50M-line ledger)
# the ordered pass spilled far more than the two-step parse: 250 s and 1.31 GB peak instead of 175 s
# and 1.21 GB; at 2 GB (10M lines) it is the faster (about 1.3 s less) at the same peak.
ONE_PASS_MAX_BYTES = 3 << 30
SEGMENT_MIN_LINES = 500_000  # a file with twice as many new lines may be parsed by concurrent queries
# Concurrent queries (one DuckDB connection each) are off: on a 10 GB ledger they ended in a DuckDB
# internal error ("Attempting to dereference an optional pointer that is not set").
SEGMENT_WORKERS = 1


@dataclass(frozen=True)
class Reject:
    """A line that cannot become an event: where it is, its SPEC code and its first 4 KiB."""

    source_file: str
    source_line: int
    code: str
    raw: str


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
    inputs: list[dict[str, Any]] = field(default_factory=list)
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def rejected(self) -> int:
        """All rejects of this ingest."""
        return sum(self.rejects.values())

    @property
    def lines_per_second(self) -> float:
        """Lines read per second of wall time."""
        return self.lines / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
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
            "inputs": self.inputs,
            "bytes": self.bytes_read,
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines_per_second, 1),
        }


# --- paths ---------------------------------------------------------------------------------------


def _is_ledger_name(name: str) -> bool:
    """Files a folder contributes: ``*.jsonl`` and its rotations (``.jsonl.1``, ``.jsonl.1.gz``...)."""
    return ".jsonl" in name and not name.startswith(".")


def resolve_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files, folders (recursively: ``*.jsonl*`` files) and globs -> sorted absolute file paths.

    Raises :class:`InputError` naming the path when one is missing or unreadable, a glob matches
    nothing, or a folder holds no ledger.
    """
    found: set[Path] = set()
    for raw in paths:
        text = os.fspath(raw)
        candidates: list[str]
        if glob.has_magic(text) and not os.path.exists(text):
            candidates = sorted(glob.glob(text, recursive=True))
            if not candidates:
                raise InputError(f"{text}: no file matches this pattern")
        else:
            candidates = [text]
        for item in candidates:
            path = Path(os.path.abspath(item))
            if path.is_dir():
                files = [
                    Path(root) / name
                    for root, _dirs, names in os.walk(path)
                    for name in names
                    if _is_ledger_name(name)
                ]
                if not files:
                    raise InputError(f"{path}: folder holds no ledger (*.jsonl*) file")
                found.update(files)
            elif path.is_file():
                found.add(path)
            elif path.exists():
                raise InputError(f"{path}: not a regular file")
            else:
                raise InputError(f"{path}: no such file or folder")
    for path in found:
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: file is not readable")
    return sorted(found)


# --- the Python pass over one file ----------------------------------------------------------------


@dataclass
class _Plan:
    """What to read of one file, from the Python pass."""

    path: Path
    index: int
    compressed: bool
    size: int
    sha256: str  # of the bytes [0, size)
    consumed_bytes: int  # the prefix consumed after this ingest (live: up to the last \n)
    consumed_sha256: str
    start_bytes: int  # where this ingest starts reading (0, or the old consumed prefix)
    start_lines: int
    plain: bool  # the new part can be read by DuckDB in place (or after a plain copy)
    pending: bool  # a live file ending in a line without \n
    unchanged: bool  # nothing new to read
    new_lines: int | None  # complete lines in the new part of a live file (None: compressed)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


class _PlainCheck:
    """Streaming check that complete lines are valid UTF-8 with no NUL and no lone CR."""

    def __init__(self) -> None:
        self.plain = True
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._pending_utf8 = False  # the decoder holds the first bytes of a character
        self._last = b""
        self.newlines = 0  # complete lines fed

    def feed(self, data: bytes) -> None:
        self.newlines += data.count(b"\n")
        if not self.plain or not data:
            return
        if b"\x00" in data:
            self.plain = False
            return
        if b"\r" in data or self._last == b"\r":
            # every CR must start a CRLF (one at the very end may still be followed by an LF)
            crlf = data.count(b"\r\n") + (1 if self._last == b"\r" and data.startswith(b"\n") else 0)
            crs = data.count(b"\r") + (1 if self._last == b"\r" else 0)
            if crs != crlf + (1 if data.endswith(b"\r") else 0):
                self.plain = False
                return
        self._last = data[-1:]
        if data.isascii() and not self._pending_utf8:
            return  # ASCII: valid UTF-8, and no multi-byte character to carry over
        try:
            self._decoder.decode(data)
        except UnicodeDecodeError:
            self.plain = False
            return
        self._pending_utf8 = bool(self._decoder.getstate()[0])

    def finish(self) -> None:
        if self._last == b"\r":
            self.plain = False
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            self.plain = False


@dataclass
class _LiveDigests:
    """The digests of a live file's bytes [0, size) that its record and ``files.json`` need."""

    size: int  # bytes read
    whole: str  # sha256 of them all
    consumed_bytes: int  # up to the last \n
    consumed: str  # sha256 up to the last \n
    prefix: str | None  # sha256 of the first ``prefix_bytes`` (the old consumed prefix), if asked


def _live_digests(path: Path, size: int, prefix_bytes: int | None) -> _LiveDigests:
    """One read of a live file for its digests (``hashlib`` releases the GIL: this runs on a worker
    thread while the plain check reads the same bytes)."""
    whole = hashlib.sha256()
    prefix: str | None = None
    last_nl_state: tuple[Any, bytes, int] | None = None
    last_newline_end = 0
    pos = 0
    with path.open("rb") as fh:
        while pos < size:
            chunk = fh.read(min(_CHUNK, size - pos))
            if not chunk:
                break
            end = pos + len(chunk)
            if prefix_bytes is not None and pos < prefix_bytes <= end:
                head = whole.copy()
                head.update(chunk[: prefix_bytes - pos])
                prefix = head.hexdigest()
            nl = chunk.rfind(b"\n")
            if nl >= 0:  # remember the digest state before the last chunk holding a newline
                last_nl_state = (whole.copy(), chunk, nl)
                last_newline_end = pos + nl + 1
            whole.update(chunk)
            pos = end
    upto_newline = hashlib.sha256()
    if last_nl_state is not None:
        upto_newline, last_chunk, nl = last_nl_state
        upto_newline.update(last_chunk[: nl + 1])
    return _LiveDigests(pos, whole.hexdigest(), last_newline_end, upto_newline.hexdigest(), prefix)


def _live_check(path: Path, size: int, start: int) -> tuple[_PlainCheck, int]:
    """The plain check of a live file's complete lines after ``start``, and the bytes read."""
    check = _PlainCheck()
    pos = start
    with path.open("rb") as fh:
        fh.seek(start)
        while pos < size:
            chunk = fh.read(min(_CHUNK, size - pos))
            if not chunk:
                break
            end = pos + len(chunk)
            # the plain check covers complete lines only: not the torn tail
            check.feed(chunk if end < size else chunk[: chunk.rfind(b"\n") + 1])
            pos = end
    check.finish()
    return check, pos


def _plan_live(path: Path, index: int, size: int, old: FileState | None) -> _Plan:
    """A live file: its digests (whole, up to the last ``\n``, the old prefix) on a worker thread,
    and at the same time the plain check of the complete lines after the old prefix. A file whose
    old prefix changed (replaced) is checked again from its start."""
    prefix_bytes = old.bytes if (old is not None and not old.compressed and 0 < old.bytes <= size) else None
    start = prefix_bytes or 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
        future = pool.submit(_live_digests, path, size, prefix_bytes)
        check, checked_to = _live_check(path, size, start)
        digests = future.result()
    if old is not None and prefix_bytes is not None and digests.prefix != old.sha256:
        start = 0  # replaced: read from the start
        check, checked_to = _live_check(path, size, 0)
    if checked_to != digests.size:
        raise InputError(f"{path}: changed size while being read ({checked_to} then {digests.size} bytes)")
    return _Plan(
        path=path,
        index=index,
        compressed=False,
        size=digests.size,
        sha256=digests.whole,
        consumed_bytes=digests.consumed_bytes,
        consumed_sha256=digests.consumed,
        start_bytes=start,
        start_lines=old.lines if (start and old is not None) else 0,
        plain=check.plain,
        pending=digests.consumed_bytes < digests.size,
        unchanged=digests.consumed_bytes <= start,
        new_lines=check.newlines,
    )


def _plan_gzip(path: Path, index: int, size: int, old: FileState | None) -> _Plan:
    """A compressed file: digest of its bytes; if new or changed, check its decompressed lines."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    sha = digest.hexdigest()
    unchanged = old is not None and old.compressed and old.sha256 == sha and old.bytes == size
    check = _PlainCheck()
    if not unchanged:
        try:
            with gzip.open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    check.feed(chunk)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: cannot decompress: {exc}") from None
        check.finish()
    return _Plan(
        path=path,
        index=index,
        compressed=True,
        size=size,
        sha256=sha,
        consumed_bytes=size,
        consumed_sha256=sha,
        start_bytes=0,
        start_lines=0,
        plain=check.plain,
        pending=False,
        unchanged=unchanged,
        new_lines=None,
    )


def _plan(path: Path, index: int, old: FileState | None) -> _Plan:
    try:
        size = path.stat().st_size
        if _is_gzip(path):
            return _plan_gzip(path, index, size, old)
        return _plan_live(path, index, size, old)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


# --- scratch copies ---------------------------------------------------------------------------------


def _raw_text(line: bytes) -> str:
    """The first 4 KiB of a line as text, invalid UTF-8 replaced."""
    return line[:RAW_BYTES].decode("utf-8", "replace")


def _python_code(line: bytes) -> str | None:
    """The code of a line the SQL cannot read, or None when the SQL can classify it."""
    if not line.strip(b" \t\r"):
        return None if b"\r" not in line else "blank"
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    if len(line) > MAX_LINE_BYTES:
        return "line_too_long"
    if b"\x00" in line or b"\r" in line or line == _MARKER:
        return "malformed_json"  # a raw NUL or CR cannot be in a JSON line Go writes
    return None


def _iter_region(plan: _Plan) -> Iterator[bytes]:
    """The bytes of the part of ``plan``'s file this ingest reads."""
    if plan.compressed:
        with gzip.open(plan.path, "rb") as fh:
            yield from iter(lambda: fh.read(_CHUNK), b"")
        return
    with plan.path.open("rb") as fh:
        fh.seek(plan.start_bytes)
        remaining = plan.consumed_bytes - plan.start_bytes
        while remaining > 0:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def _copy_region(plan: _Plan, target: Path) -> None:
    """Copy the part of a plain live file this ingest reads."""
    with target.open("wb") as out:
        for chunk in _iter_region(plan):
            out.write(chunk)


def _odd_offset(block: bytes, begin: int) -> int:
    """The first offset at or after ``begin`` of a byte DuckDB cannot read as it is (-1: none): a NUL,
    the marker byte, a CR not starting a CRLF, invalid UTF-8, or a point inside a line near DuckDB's
    line size limit (1 MiB windows every 512 KiB: any line over 1.5 MiB holds a whole window)."""
    hits = [i for i in (block.find(b"\x00", begin), block.find(_MARKER, begin)) if i >= 0]
    if block.count(b"\r", begin) != block.count(b"\r\n", begin):
        i = block.find(b"\r", begin)
        while i >= 0 and block[i + 1 : i + 2] == b"\n":
            i = block.find(b"\r", i + 2)
        hits.append(i)
    window = 1 << 20
    for start in range(begin, len(block) - window, window // 2):
        if block.find(b"\n", start, start + window) < 0:
            hits.append(start)
            break
    rest = block[begin:]
    if not rest.isascii():
        try:
            rest.decode("utf-8")
        except UnicodeDecodeError as exc:
            hits.append(begin + exc.start)
    return min(hits, default=-1)


def _sanitised_copy(plan: _Plan, target: Path) -> list[Reject]:
    """Copy an odd file's region; blocks with odd lines are rewritten line by line, each line
    classified here becoming a marker line (so line numbers stay right)."""
    rejects: list[Reject] = []
    line_no = plan.start_lines
    source = str(plan.path)
    carry = b""
    with target.open("wb") as out:

        def emit(line: bytes) -> None:
            nonlocal line_no
            line_no += 1
            if line.endswith(b"\r"):
                line = line[:-1]
            code = _python_code(line)
            if code is None:
                out.write(line + b"\n")
            else:
                rejects.append(Reject(source, line_no, code, _raw_text(line)))
                out.write(_MARKER + b"\n")

        for chunk in _iter_region(plan):
            data = carry + chunk
            cut = data.rfind(b"\n") + 1
            block, carry = data[:cut], data[cut:]
            pos = 0
            while pos < len(block):  # copy the plain stretches as they are; odd lines one by one
                odd = _odd_offset(block, pos)
                if odd < 0:
                    out.write(block[pos:])
                    line_no += block.count(b"\n", pos)
                    break
                line_start = block.rfind(b"\n", pos, odd) + 1 or pos
                line_end = block.find(b"\n", odd)
                out.write(block[pos:line_start])
                line_no += block.count(b"\n", pos, line_start)
                emit(block[line_start:line_end])
                pos = line_end + 1
        if carry and plan.compressed:
            emit(carry)  # a compressed file's last line counts without its \n
    return rejects


# --- DuckDB ----------------------------------------------------------------------------------------


def _connect(work_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(
        config={
            "memory_limit": MEMORY_LIMIT,
            "temp_directory": str(work_dir / "duckdb"),
        }
    )
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    return con


def _copy_zstd(query: str) -> str:
    """A statement writing ``query``'s rows to the zstd Parquet file given as its one parameter.

    zstd level 1 (DuckDB's default is 3): measured 20% less CPU for the events file, and no bigger
    (an events file is mostly md5 hex, which no level compresses much).
    """
    return f"COPY ({query}) TO ? (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"


def _set(con: duckdb.DuckDBPyConnection, name: str, value: object) -> None:
    con.execute(f"SET VARIABLE {name} = ?", [value])


# The columns of sql/engine/parsed_lines.sql (for an ingest that reads no new line).
_PARSED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file_index", "BIGINT"),
    ("source_file", "VARCHAR"),
    ("source_line", "BIGINT"),
    ("prescanned", "BOOLEAN"),
    ("code", "VARCHAR"),
    ("raw", "VARCHAR"),
    ("family", "VARCHAR"),
    ("endpoint", "VARCHAR"),
    ("resource_id", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("vm_id", "VARCHAR"),
    ("snapshot_id", "VARCHAR"),
    ("source_snapshot_id", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("hypervisor", "VARCHAR"),
    ("cpu", "BIGINT"),
    ("mem_bytes", "BIGINT"),
    ("storage_bytes", "BIGINT"),
    ("emitted_ns", "BIGINT"),
    ("event_id", "VARCHAR"),
)


@dataclass
class _FileResult:
    plan: _Plan
    parquet: list[Path]  # the parsed lines (empty: nothing new read)
    lines: int  # lines read, the pending one included
    prescan: list[Reject]


def _segments(first: int, last: int | None) -> list[tuple[int, int | None]]:
    """Line ranges ``(after, up_to]`` parsed by concurrent queries.

    DuckDB numbers lines with ``row_number()``, which runs on one thread; so a big file is parsed
    by one query per core, each reading the whole file (cheap) and parsing only its range.
    """
    workers = min(os.cpu_count() or 1, SEGMENT_WORKERS)
    if last is None or workers < 2 or last - first < SEGMENT_MIN_LINES * 2:
        return [(first, last)]
    step = -(-(last - first) // workers)
    return [(first + k * step, min(first + (k + 1) * step, last)) for k in range(workers)]


def _read_file(con: duckdb.DuckDBPyConnection, plan: _Plan, work_dir: Path) -> _FileResult:
    """Parse the new part of one file into scratch Parquet files (streaming: memory stays flat).

    Only the complete lines the Python pass counted are kept (``last_line``), so a torn last line,
    or lines appended while DuckDB reads the file, are not part of this ingest.
    """
    prescan: list[Reject] = []
    last_line = None if plan.new_lines is None else plan.start_lines + plan.new_lines
    segments = _segments(plan.start_lines, last_line)
    targets = [work_dir / f"parsed-{plan.index}-{k}.parquet" for k in range(len(segments))]
    direct = plan.plain and plan.start_bytes == 0
    # (a gzip ledger holds about ten times its size in text)
    new_bytes = (plan.consumed_bytes - plan.start_bytes) * (10 if plan.compressed else 1)
    one_pass = new_bytes <= ONE_PASS_MAX_BYTES
    for attempt in ("direct", "copy"):
        if attempt == "direct" and not direct:
            continue
        if attempt == "direct":
            source = plan.path
        else:
            source = work_dir / f"lines-{plan.index}.txt"
            if plan.plain:
                _copy_region(plan, source)
            else:
                prescan = _sanitised_copy(plan, source)
        settings = {
            "ledger_path": str(source),
            "line_offset": plan.start_lines,
            "file_index": plan.index,
            "source_file": str(plan.path),
            "prescan_marker": None if attempt == "direct" or plan.plain else _MARKER.decode(),
        }
        try:
            _parse_segments(con, settings, segments, targets, parallel=True, one_pass=one_pass)
        except duckdb.Error as exc:
            if "Parallel CSV Reader" in str(exc):
                # DuckDB's parallel CSV reader refuses some big files ("does not support a full
                # read on this file"): its single-threaded reader takes them
                _parse_segments(con, settings, segments, targets, parallel=False, one_pass=one_pass)
            elif attempt == "direct":
                continue  # e.g. a line longer than DuckDB's max_line_size: the Python path takes it
            else:
                raise
        hook("after-parse")
        if plan.new_lines is None:
            row = con.execute("SELECT count(*) FROM read_parquet(?)", [[str(t) for t in targets]]).fetchone()
            lines = int(row[0]) if row else 0
        else:
            lines = plan.new_lines + (1 if plan.pending else 0)
        return _FileResult(plan, targets, lines, prescan)
    raise AssertionError("unreachable")


def _parse_segments(
    con: duckdb.DuckDBPyConnection,
    settings: dict[str, object],
    segments: Sequence[tuple[int, int | None]],
    targets: Sequence[Path],
    *,
    parallel: bool,
    one_pass: bool,
) -> None:
    """Run one streaming parse query per line range, concurrently (one connection each).

    ``one_pass``: a whole file is read, parsed and written in one ordered pass; else its lines are
    numbered first (see ``ONE_PASS_MAX_BYTES``).
    """

    def run(k: int) -> None:
        cur = con.cursor()
        try:
            for name, value in settings.items():
                _set(cur, name, value)
            _set(cur, "first_line", segments[k][0])
            _set(cur, "last_line", segments[k][1])
            _set(cur, "csv_parallel", parallel)
            cur.execute("SET preserve_insertion_order = true")
            cur.execute("CREATE OR REPLACE TEMP VIEW ledger_text AS " + load_sql("engine/ledger_text"))
            if len(segments) == 1 and one_pass:
                # one pass on every core: the rows stay in file order (preserve_insertion_order), so
                # `ingest_lines` numbers them by their position in the scratch file
                cur.execute(
                    "CREATE OR REPLACE TEMP VIEW ledger_lines AS "
                    "SELECT CAST(NULL AS BIGINT) AS source_line, raw FROM ledger_text"
                )
                cur.execute("CREATE OR REPLACE TEMP VIEW parsed_lines AS " + load_sql("engine/parsed_lines"))
                cur.sql("SELECT * FROM parsed_lines").write_parquet(str(targets[k]), compression="lz4")
                return
            # two steps (a big file, or a range of the lines): 1. number them (the reader's
            # `position` streams on one thread, so this cheap step writes the numbered lines to
            # scratch Parquet; the views bind the file when created). It streams: a smaller memory
            # limit keeps DuckDB's buffers from growing over a long read
            cur.execute("CREATE OR REPLACE TEMP VIEW ledger_lines AS " + load_sql("engine/ledger_lines"))
            numbered = targets[k].with_suffix(".lines.parquet")
            cur.execute("SET memory_limit = ?", [NUMBERING_MEMORY_LIMIT])
            try:
                cur.sql("SELECT * FROM ledger_lines").write_parquet(str(numbered), compression="lz4")
            finally:
                cur.execute("SET memory_limit = ?", [MEMORY_LIMIT])
            # 2. parse them on every core (row order no longer matters: the numbers are in the rows)
            _set(cur, "numbered_lines", str(numbered))
            cur.execute(
                "CREATE OR REPLACE TEMP VIEW ledger_lines AS "
                "SELECT * FROM read_parquet(getvariable('numbered_lines'))"
            )
            cur.execute("CREATE OR REPLACE TEMP VIEW parsed_lines AS " + load_sql("engine/parsed_lines"))
            cur.execute("SET preserve_insertion_order = false")
            try:
                cur.sql("SELECT * FROM parsed_lines").write_parquet(str(targets[k]), compression="lz4")
            finally:
                cur.execute("SET preserve_insertion_order = true")
                numbered.unlink(missing_ok=True)
        finally:
            cur.close()

    if len(segments) == 1:
        run(0)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(segments)) as pool:
        for future in [pool.submit(run, k) for k in range(len(segments))]:
            future.result()


def _register_ingest_lines(con: duckdb.DuckDBPyConnection, results: Sequence[_FileResult]) -> None:
    files = [str(f) for r in results for f in r.parquet]
    if files:
        _set(con, "parsed_files", files)
        paths = {r.plan.index: str(r.plan.path) for r in results}
        _set(con, "source_files", [paths.get(i, "") for i in range(max(paths) + 1)])
        last = {
            r.plan.index: r.plan.start_lines + r.plan.new_lines
            for r in results
            if r.plan.new_lines is not None
        }
        _set(con, "last_lines", [last.get(i) for i in range(max(paths) + 1)])
        con.execute("CREATE OR REPLACE TEMP VIEW ingest_lines AS " + load_sql("engine/ingest_lines"))
    else:
        columns = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in _PARSED_COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP VIEW ingest_lines AS SELECT {columns} WHERE false")


def _register_prescan_rejects(con: duckdb.DuckDBPyConnection, results: Sequence[_FileResult]) -> None:
    con.execute(
        "CREATE OR REPLACE TEMP TABLE prescan_rejects "
        "(file_index BIGINT, source_file VARCHAR, source_line BIGINT, code VARCHAR, raw VARCHAR)"
    )
    index_of = {str(r.plan.path): r.plan.index for r in results}
    rows = [
        (index_of[j.source_file], j.source_file, j.source_line, j.code, j.raw)
        for r in results
        for j in r.prescan
    ]
    if rows:
        con.executemany("INSERT INTO prescan_rejects VALUES (?, ?, ?, ?, ?)", rows)


def _parse_files(
    con: duckdb.DuckDBPyConnection,
    plans: Sequence[_Plan],
    work_dir: Path,
    progress: Progress,
    command: str = "ingest",
) -> list[_FileResult]:
    """Parse each planned file; progress lines start with ``command`` (``ingest`` or ``validate``)."""
    results = []
    total = sum(p.consumed_bytes - p.start_bytes for p in plans if not p.unchanged)
    done_bytes = 0
    done_lines = 0
    for plan in plans:
        if plan.unchanged:
            results.append(_FileResult(plan, [], 1 if plan.pending else 0, []))
            done_lines += results[-1].lines
            continue
        progress.update(
            f"{command}: reading {plan.path} from line {plan.start_lines + 1:,}"
            f" ({(plan.consumed_bytes - plan.start_bytes) / 1e6:,.1f} MB)"
        )
        result = _read_file(con, plan, work_dir)
        results.append(result)
        done_bytes += plan.consumed_bytes - plan.start_bytes
        done_lines += result.lines
        progress.update(
            f"{command}: {done_bytes / 1e6:,.1f} of {total / 1e6:,.1f} MB, {done_lines:,} lines"
            f" ({plan.path.name})"
        )
    return results


# --- the stage -------------------------------------------------------------------------------------


def ingest(
    paths: Iterable[str | os.PathLike[str]],
    store: str | os.PathLike[str] | Store,
    *,
    quiet: bool = True,
    wait: float = 0.0,
) -> IngestSummary:
    """Ingest ledger files into the event store and commit one ingest record.

    ``paths``: files, folders (recursive, ``*.jsonl*``) and globs. ``wait``: seconds to wait for
    another writer's lock. Returns the counts of this ingest only.
    """
    started = time.monotonic()
    progress = Progress(quiet=quiet)
    files = resolve_paths(paths)
    target = store if isinstance(store, Store) else Store(store)
    with target.writer(wait=wait) as writer:
        work_dir = writer.work_dir
        state = target.files_state()
        plans = [_plan(path, i, state.get(str(path))) for i, path in enumerate(files)]
        progress.note(f"ingest: {len(plans)} file(s), {sum(p.size for p in plans) / 1e6:,.1f} MB")
        con = _connect(work_dir)
        try:
            results = _parse_files(con, plans, work_dir, progress)
            _register_ingest_lines(con, results)
            _register_prescan_rejects(con, results)
            store_files = [str(f) for f in target.event_files()] if target.exists() else []
            if store_files:
                _set(con, "store_files", store_files)
                con.execute(
                    "CREATE OR REPLACE TEMP VIEW store_event_ids AS "
                    "SELECT event_id FROM read_parquet(getvariable('store_files'))"
                )
            else:
                con.execute(
                    "CREATE OR REPLACE TEMP VIEW store_event_ids AS "
                    "SELECT NULL::VARCHAR AS event_id WHERE false"
                )
            _set(con, "ingest_id", writer.ingest_id)
            con.execute("SET preserve_insertion_order = false")  # events need no order: parallel writing
            # a table: small, so the planner builds the de-duplication join on it
            _repeated_events(con, results)
            hook("before-write")
            # (COPY takes the path as a prepared parameter: no path is pasted into SQL text)
            con.execute(_copy_zstd(load_sql("engine/new_events")), [str(writer.events_tmp)])
            hook("after-events")
            con.execute(
                _copy_zstd(
                    "SELECT code, source_file, source_line, raw, ingest_id "
                    f"FROM ({load_sql('engine/rejects')}) ORDER BY file_index, source_line"
                ),
                [str(writer.rejects_tmp)],
            )
            fsync_path(writer.events_tmp)
            counts = _counts(con, writer)
        finally:
            con.close()
        summary = _summary(writer.ingest_id, target, results, counts)
        summary.seconds = time.monotonic() - started
        new_state = dict(state)
        for r in results:
            p = r.plan
            if p.unchanged and str(p.path) in state:
                continue
            new_state[str(p.path)] = FileState(
                bytes=p.consumed_bytes,
                lines=p.start_lines + r.lines - (1 if p.pending else 0),
                sha256=p.consumed_sha256,
                compressed=p.compressed,
            )
        record = {
            "ingest_id": writer.ingest_id,
            "format": 1,
            **{k: v for k, v in summary.to_json().items() if k not in ("ingest_id", "store")},
        }
        writer.commit(record, new_state)
    progress.note(
        f"ingest: {summary.lines:,} lines, {summary.events:,} new events in {summary.seconds:.2f} s"
    )
    return summary


def _repeated_events(con: duckdb.DuckDBPyConnection, results: Sequence[_FileResult]) -> None:
    """The ``repeated_events`` table, built in parts of up to ``DEDUPE_PART_LINES`` lines each (by
    hash of ``event_id``), so the de-duplication's memory does not grow with the ingest."""
    lines = sum(r.lines for r in results)
    parts = max(1, -(-lines // DEDUPE_PART_LINES))
    _set(con, "dedupe_parts", parts)
    query = load_sql("engine/repeated_events")
    for part in range(parts):
        _set(con, "dedupe_part", part)
        if part == 0:
            con.execute("CREATE OR REPLACE TEMP TABLE repeated_events AS " + query)
        else:
            con.execute("INSERT INTO repeated_events " + query)


def _counts(con: duckdb.DuckDBPyConnection, writer: Any) -> dict[str, Any]:  # noqa: ANN401
    row = con.execute(
        "SELECT count(*) FILTER (WHERE code IS NULL AND NOT prescanned) FROM ingest_lines"
    ).fetchone()
    candidates = int(row[0]) if row else 0
    row = con.execute("SELECT count(*) FROM read_parquet(?)", [str(writer.events_tmp)]).fetchone()
    events = int(row[0]) if row else 0
    by_code = dict(
        con.execute(
            "SELECT code, count(*) FROM read_parquet(?) GROUP BY code", [str(writer.rejects_tmp)]
        ).fetchall()
    )
    return {"candidates": candidates, "events": events, "rejects": by_code}


def _summary(
    ingest_id: str | None, store: Store | None, results: Sequence[_FileResult], counts: dict[str, Any]
) -> IngestSummary:
    rejects = {code: int(counts["rejects"][code]) for code in REJECT_CODES if counts["rejects"].get(code)}
    summary = IngestSummary(
        ingest_id=ingest_id,
        store=str(store.path) if store is not None else None,
        lines=sum(r.lines for r in results),
        events=counts["events"],
        duplicates=counts["candidates"] - counts["events"],
        pending=sum(1 for r in results if r.plan.pending),
        rejects=rejects,
        bytes_read=sum(r.plan.consumed_bytes - r.plan.start_bytes for r in results if not r.plan.unchanged),
    )
    for r in results:
        p = r.plan
        summary.inputs.append(
            {
                "path": str(p.path),
                "size": p.size,
                "sha256": p.sha256,
                "compressed": p.compressed,
                "first_line": p.start_lines + 1,
                "lines": r.lines,
                "pending": p.pending,
                "unchanged": p.unchanged,
            }
        )
    return summary


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
    return "\n".join(lines)


def validate(paths: Iterable[str | os.PathLike[str]], *, quiet: bool = True) -> list[Reject]:
    """The lines ingest would reject (whole files, as if the store were empty), writing nothing.

    Pending tails of live files are not rejects. Sorted by file then line.
    """
    progress = Progress(quiet=quiet)
    files = resolve_paths(paths)
    with tempfile.TemporaryDirectory(prefix="reconcile-validate-") as tmp:
        work_dir = Path(tmp)
        plans = [_plan(path, i, None) for i, path in enumerate(files)]
        con = _connect(work_dir)
        try:
            results = _parse_files(con, plans, work_dir, progress, "validate")
            _register_ingest_lines(con, results)
            _register_prescan_rejects(con, results)
            _set(con, "ingest_id", None)
            rows = con.execute(
                f"SELECT source_file, source_line, code, raw FROM ({load_sql('engine/rejects')}) "
                "ORDER BY file_index, source_line"
            ).fetchall()
        finally:
            con.close()
    return [Reject(str(f), int(n), str(c), str(r)) for f, n, c, r in rows]


def summary_json(summary: IngestSummary) -> str:
    """The summary as one JSON line."""
    return json.dumps(summary.to_json(), sort_keys=True)
