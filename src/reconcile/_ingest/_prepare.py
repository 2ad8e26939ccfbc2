"""What DuckDB reads of each file: the ledger itself, or a copy in the ingest's scratch folder.

- A plain live file read from its start is read in place (unless its torn tail is big or not plain
  text: DuckDB would read that too, so the complete lines are copied instead).
- A plain live file that grew: its new part is copied (lines numbered on from the old count).
- A live file that is not plain, and every compressed file (decompressed as a stream): its lines go
  through the :class:`~reconcile._ingest._sanitise.Sanitiser`, which leaves out the lines it
  classified (their rejects spooled to a scratch Parquet file, so memory stays flat however many
  there are) and records the original text of the lines it rewrote.

A *small* file's text (its new complete lines, or its sanitised copy when that left no line out, up
to ``SMALL_SOURCE_BYTES``) is not read in place or copied to a file of its own: it is appended to a
*bundle*, one scratch file of many files' lines, each a *member* holding a known range of its rows
(:class:`Bundle`). A nightly's ten thousand small files are thus a few large files for DuckDB, whose
reader costs about a millisecond a file (opening, scheduling, and chunks of a few rows each), and a
few scratch files to create and remove, where the file system costs about a millisecond each too.

The spools (:class:`Spools`) are the ingest's, shared by all its files (their rows name the file), so
ten thousand files cost three scratch files, not thirty thousand.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile._ingest._compressed import StreamEnd, decompressed
from reconcile._ingest._sanitise import Sanitiser
from reconcile._ingest._scan import CHUNK, Plan, is_ledger_name
from reconcile._ingest._summary import Finding, Reject, display_path

SMALL_SOURCE_BYTES = 1 << 20  # a file's text up to this size goes into a bundle
BUNDLE_BYTES = 1 << 30  # a bundle is closed past this size and the next one started
DIRECT_TAIL_BYTES = 64 << 10  # a torn tail up to this size is read (and dropped) by DuckDB in place
_SPOOL_ROWS = 65_536
# A spooled run of identical lines stands for at most this many (DuckDB expands a run into a list of
# its line numbers: a run of a hundred million NUL lines would be one 800 MB list).
RUN_LINES = 65_536

# Runs of identical lines: `lines` lines from `source_line` on (sql/engine/ingest/spooled_lines.sql
# expands them).
PRESCAN_SCHEMA = pa.schema(
    [
        ("file_index", pa.int64()),
        ("source_file", pa.string()),
        ("source_line", pa.int64()),
        ("lines", pa.int64()),
        ("code", pa.string()),
        ("raw", pa.string()),
    ]
)
ORIGINALS_SCHEMA = pa.schema(
    [("file_index", pa.int64()), ("source_line", pa.int64()), ("lines", pa.int64()), ("raw", pa.string())]
)
# Where a sanitised copy left lines out (sql/engine/ingest/ingest_lines.sql numbers the rows around them).
GAPS_SCHEMA = pa.schema([("file_index", pa.int64()), ("rows_before", pa.int64()), ("skipped", pa.int64())])


class _Spool:
    """Rows written to a Parquet file in row groups of ``_SPOOL_ROWS`` (memory stays flat)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self._schema = schema
        self._rows: list[tuple[object, ...]] = []
        self._writer: pq.ParquetWriter | None = None
        self.count = 0  # lines (a row may stand for a run of identical lines)

    def add(self, row: tuple[object, ...], lines: int) -> None:
        self._rows.append(row)
        self.count += lines
        if len(self._rows) >= _SPOOL_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        columns = list(zip(*self._rows, strict=True))
        batch = pa.table(
            [pa.array(col, f.type) for col, f in zip(columns, self._schema, strict=True)], schema=self._schema
        )
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self._schema, compression="lz4")
        self._writer.write_table(batch)
        self._rows.clear()

    def close(self) -> Path | None:
        """The file written, or None when no row was added."""
        self._flush()
        if self._writer is None:
            return None
        self._writer.close()
        return self.path


class Bundle:
    """A scratch file of many small files' complete lines, each file's rows a contiguous range."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out = path.open("wb")
        self.rows = 0
        self.size = 0

    @property
    def closed(self) -> bool:
        """Whether the bundle is sealed (read by DuckDB: nothing more goes in)."""
        return self._out.closed

    def add(self, text: bytes, rows: int) -> int:
        """Append ``rows`` complete lines; the place of the first among the bundle's rows."""
        first = self.rows
        self._out.write(text)
        self.rows += rows
        self.size += len(text)
        return first

    def close(self) -> None:
        """Flush and close the file (before DuckDB reads it); nothing more can be added."""
        self._out.close()


class Spools:
    """The ingest's spools and bundles, shared by every file it prepares: the rejects classified in
    Python, the original text of rewritten lines, where copies left lines out, and the small files'
    lines."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.prescan = _Spool(work_dir / "prescan.parquet", PRESCAN_SCHEMA)
        self.originals = _Spool(work_dir / "originals.parquet", ORIGINALS_SCHEMA)
        self.gaps = _Spool(work_dir / "gaps.parquet", GAPS_SCHEMA)
        self.bundles: list[Bundle] = []
        self._closed: tuple[Path | None, Path | None, Path | None] | None = None

    def bundle(self, size: int) -> Bundle:
        """The bundle to append ``size`` bytes to (a new one when the last is full or sealed)."""
        if not self.bundles or self.bundles[-1].closed or self.bundles[-1].size + size > BUNDLE_BYTES:
            self.bundles.append(Bundle(self.work_dir / f"bundle-{len(self.bundles)}.txt"))
        return self.bundles[-1]

    def seal_bundles(self) -> None:
        """Close the bundles written so far, so DuckDB reads them whole (a later file starts a new
        one)."""
        for bundle in self.bundles:
            bundle.close()

    def close(self) -> tuple[Path | None, Path | None, Path | None]:
        """The prescan, originals and gaps files written (None: no row); closes the spools and the
        bundles once."""
        if self._closed is None:
            self.seal_bundles()
            self._closed = (self.prescan.close(), self.originals.close(), self.gaps.close())
        return self._closed


@dataclass
class Prepared:
    """One file, ready for DuckDB."""

    plan: Plan
    source: Path | None  # the file DuckDB reads (None: nothing to read)
    copy: bool  # ``source`` is a copy in the scratch folder
    sanitised: bool  # the copy went through the sanitiser (it may leave lines out)
    lines: int  # complete lines read
    prescanned: int = 0  # lines classified in Python (left out of the copy; in the prescan spool)
    gapped: bool = False  # the copy left lines out (the gaps spool says where)
    bundle: Bundle | None = None  # the bundle ``source`` is, holding this file's rows from ``first_row``
    first_row: int = 0
    findings: list[Finding] = field(default_factory=list)
    ledger: bool = True

    @property
    def rows(self) -> int:
        """The rows DuckDB must give: the lines not classified in Python."""
        return self.lines - self.prescanned

    @property
    def last_line(self) -> int:
        """The last complete line this ingest reads."""
        return self.plan.start_lines + self.lines

    @property
    def text_bytes(self) -> int:
        """The bytes DuckDB reads (0: nothing; a bundle member: its bundle's)."""
        if self.bundle is not None:
            return self.bundle.size
        return self.source.stat().st_size if self.source is not None else 0


def _pieces(first: int, lines: int) -> Iterator[tuple[int, int]]:
    """A run of ``lines`` lines from ``first`` as runs of at most ``RUN_LINES``."""
    for start in range(first, first + lines, RUN_LINES):
        yield start, min(RUN_LINES, first + lines - start)


def _region(plan: Plan) -> Iterator[bytes]:
    """The bytes of the part of a live file this ingest reads: the complete lines after the old prefix."""
    with plan.path.open("rb") as fh:
        fh.seek(plan.start_bytes)
        remaining = plan.consumed_bytes - plan.start_bytes
        while remaining > 0:
            chunk = fh.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def prepare(plan: Plan, work_dir: Path, spools: Spools, *, force_copy: bool = False) -> Prepared:
    """What DuckDB reads of ``plan``'s file (module doc). ``force_copy``: never read in place (after
    DuckDB refused to read the file as it is)."""
    if plan.unchanged:
        return Prepared(plan, None, copy=False, sanitised=False, lines=0)
    if plan.compressed:
        return _prepare_compressed(plan, work_dir, spools)
    assert plan.new_lines is not None
    new_bytes = plan.consumed_bytes - plan.start_bytes
    if plan.plain and new_bytes <= SMALL_SOURCE_BYTES and not force_copy:
        text = b"".join(_region(plan))
        if len(text) == new_bytes:  # (else it shrank since it was planned: copied, and counted short)
            bundle = spools.bundle(len(text))
            first = bundle.add(text, plan.new_lines)
            return Prepared(plan, bundle.path, True, False, plan.new_lines, bundle=bundle, first_row=first)
    if plan.plain and not force_copy and plan.start_bytes == 0 and _tail_reads(plan):
        return Prepared(plan, plan.path, copy=False, sanitised=False, lines=plan.new_lines)
    if plan.plain:
        target = work_dir / f"lines-{plan.index}.txt"
        with target.open("wb") as out:
            for chunk in _region(plan):
                out.write(chunk)
        return Prepared(plan, target, copy=True, sanitised=False, lines=plan.new_lines)
    return _run_sanitiser(plan, work_dir, spools, _region(plan), None)


def _tail_reads(plan: Plan) -> bool:
    """Whether DuckDB takes the file's torn tail, which it reads (and ``ingest_lines`` drops) when it
    reads the file in place: small, and plain text (a tail cut inside a UTF-8 character is not: the
    whole read would fail, and with it every file of its batch)."""
    tail = plan.size - plan.consumed_bytes
    if tail == 0:
        return True
    if tail > DIRECT_TAIL_BYTES:
        return False
    with plan.path.open("rb") as fh:
        fh.seek(plan.consumed_bytes)
        data = fh.read(tail)
    if b"\x00" in data or b"\r" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _run_sanitiser(
    plan: Plan, work_dir: Path, spools: Spools, chunks: Iterator[bytes], end: StreamEnd | None
) -> Prepared:
    """Copy ``chunks`` through the sanitiser. ``end``: how a compressed stream ended (its last line
    counts without ``\\n`` unless it was cut short); None for the region of a live file."""
    index = plan.index
    target = work_dir / f"lines-{index}.txt"
    prescanned = spools.prescan.count
    gapped = False

    def reject(r: Reject, lines: int) -> None:
        for first, count in _pieces(r.source_line, lines):
            spools.prescan.add((index, r.source_file, first, count, r.code, r.raw), count)

    def original(line: int, raw: str, lines: int) -> None:
        for first, count in _pieces(line, lines):
            spools.originals.add((index, first, count, raw), count)

    def gap(rows_before: int, skipped: int) -> None:
        nonlocal gapped
        gapped = True
        spools.gaps.add((index, rows_before, skipped), 1)

    with _Sink(target) as out:
        sanitiser = Sanitiser(
            out, str(plan.path), plan.start_lines, rejects=reject, originals=original, gaps=gap
        )
        for chunk in chunks:
            sanitiser.feed(chunk)
        left = sanitiser.finish(last_line_counts=end is not None and end.status != "truncated")
        lines = sanitiser.line - plan.start_lines
        ledger = _ledger(plan, sanitiser, lines)
        text = out.small_text() if (ledger and not gapped) else None
        if text is None:
            out.spill()
    prepared = Prepared(
        plan,
        target,
        copy=True,
        sanitised=True,
        lines=lines,
        prescanned=spools.prescan.count - prescanned,
        gapped=gapped,
    )
    prepared.ledger = ledger
    if text is not None:
        bundle = spools.bundle(len(text))
        prepared.first_row = bundle.add(text, sanitiser.rows)
        prepared.bundle, prepared.source = bundle, bundle.path
    shown = display_path(plan.path)
    if end is not None and end.status == "truncated":
        incomplete = f", the last {left:,} bytes (an incomplete line) are not" if left else ""
        prepared.findings.append(
            Finding(
                shown,
                "truncated",
                f"{plan.compression} stream ends early: its {prepared.lines:,} complete lines are read"
                + incomplete,
            )
        )
    elif end is not None and end.status == "trailing_data":
        prepared.findings.append(
            Finding(
                shown, "trailing_data", f"{end.trailing:,} bytes after the {plan.compression} stream ignored"
            )
        )
    return prepared


class _Sink:
    """Where the sanitiser writes a copy: memory while it is small (it may go into a bundle), the
    file ``path`` once it is not (or when :meth:`spill` asks)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._buffer: io.BytesIO | None = io.BytesIO()
        self._file: BinaryIO | None = None

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def write(self, data: bytes, /) -> int:
        """Write ``data`` (to memory, or to the file past ``SMALL_SOURCE_BYTES``)."""
        if self._buffer is not None and self._buffer.tell() + len(data) > SMALL_SOURCE_BYTES:
            self.spill()
        if self._buffer is not None:
            return self._buffer.write(data)
        assert self._file is not None
        return self._file.write(data)

    def small_text(self) -> bytes | None:
        """The copy's bytes when it stayed in memory, else None."""
        return self._buffer.getvalue() if self._buffer is not None else None

    def spill(self) -> None:
        """Move the copy to its file (written on from there)."""
        if self._buffer is None:
            return
        self._file = self._path.open("wb")
        self._file.write(self._buffer.getbuffer())
        self._buffer = None


def _ledger(plan: Plan, sanitiser: Sanitiser, lines: int) -> bool:
    """A live file's plan already decided (from the whole file); a compressed one by its text."""
    if not plan.compressed:
        return plan.ledger
    return sanitiser.ledger_like or lines == 0 or is_ledger_name(plan.path.name)


def _prepare_compressed(plan: Plan, work_dir: Path, spools: Spools) -> Prepared:
    assert plan.compression is not None
    end = StreamEnd()
    return _run_sanitiser(plan, work_dir, spools, decompressed(plan.path, plan.compression, end), end)
