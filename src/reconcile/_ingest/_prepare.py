"""What DuckDB reads of each file: the ledger itself, or a copy in the ingest's scratch folder.

- A plain live file read from its start is read in place (unless its torn tail is big or not plain
  text: DuckDB would read that too, so the complete lines are copied instead).
- A plain live file that grew: its new part is copied (lines numbered on from the old count).
- A live file that is not plain, and every compressed file (decompressed as a stream): its lines go
  through the :class:`~reconcile._ingest._sanitise.Sanitiser`, which leaves out the lines it
  classified (their rejects spooled to a scratch Parquet file, so memory stays flat however many
  there are) and records the original text of the lines it rewrote.

The spools (:class:`Spools`) are the ingest's, shared by all its files (their rows name the file), so
ten thousand files cost three scratch files, not thirty thousand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from reconcile._ingest._compressed import StreamEnd, decompressed
from reconcile._ingest._sanitise import Sanitiser
from reconcile._ingest._scan import CHUNK, Plan, is_ledger_name
from reconcile._ingest._summary import Finding, Reject, display_path

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


class Spools:
    """The ingest's spools, shared by every file it prepares: the rejects classified in Python, the
    original text of rewritten lines, and where copies left lines out."""

    def __init__(self, work_dir: Path) -> None:
        self.prescan = _Spool(work_dir / "prescan.parquet", PRESCAN_SCHEMA)
        self.originals = _Spool(work_dir / "originals.parquet", ORIGINALS_SCHEMA)
        self.gaps = _Spool(work_dir / "gaps.parquet", GAPS_SCHEMA)
        self._closed: tuple[Path | None, Path | None, Path | None] | None = None

    def close(self) -> tuple[Path | None, Path | None, Path | None]:
        """The prescan, originals and gaps files written (None: no row); closes the spools once."""
        if self._closed is None:
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
        """The bytes DuckDB reads (0: nothing)."""
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
    if plan.plain and not force_copy and plan.start_bytes == 0 and _tail_reads(plan):
        return Prepared(plan, plan.path, copy=False, sanitised=False, lines=plan.new_lines)
    if plan.plain and not force_copy:
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

    with target.open("wb") as out:
        sanitiser = Sanitiser(
            out, str(plan.path), plan.start_lines, rejects=reject, originals=original, gaps=gap
        )
        for chunk in chunks:
            sanitiser.feed(chunk)
        left = sanitiser.finish(last_line_counts=end is not None and end.status != "truncated")
    prepared = Prepared(
        plan,
        target,
        copy=True,
        sanitised=True,
        lines=sanitiser.line - plan.start_lines,
        prescanned=spools.prescan.count - prescanned,
        gapped=gapped,
    )
    prepared.ledger = _ledger(plan, sanitiser, prepared.lines)
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


def _ledger(plan: Plan, sanitiser: Sanitiser, lines: int) -> bool:
    """A live file's plan already decided (from the whole file); a compressed one by its text."""
    if not plan.compressed:
        return plan.ledger
    return sanitiser.ledger_like or lines == 0 or is_ledger_name(plan.path.name)


def _prepare_compressed(plan: Plan, work_dir: Path, spools: Spools) -> Prepared:
    assert plan.compression is not None
    end = StreamEnd()
    return _run_sanitiser(plan, work_dir, spools, decompressed(plan.path, plan.compression, end), end)
