"""A streaming copy of ledger text that DuckDB's line reader can take, in linear time and constant memory.

DuckDB reads ledger lines as one-column CSV (``sql/engine/ingest/ledger_text.sql``). A few kinds of bytes it
cannot take as they are, or would read differently from Go's decoder; a line holding one is *odd*:

- a NUL byte, invalid UTF-8, a line over 1 MiB (DuckDB's line limit is 2 MiB, and a reject must
  cost constant memory whatever its length): the line is classified here (``blank``,
  ``invalid_utf8``, ``line_too_long`` or ``malformed_json``, in SPEC order) and left out of the
  copy; its place is recorded (a *gap*: how many rows of the copy come before it), so the SQL
  numbers the copy's rows with the file's own line numbers;
- a UTF-8 BOM at the start of a line (DuckDB's reader drops one at the start of a file, Go's decoder
  refuses it anywhere): ``malformed_json``, here, wherever the line sits in the file;
- a CR that does not end the line: it is JSON whitespace between tokens (Go accepts it) and invalid
  inside a string. DuckDB's reader would end a line there, so it is written as a TAB, which JSON
  treats the same in both places;
- a lone UTF-16 surrogate escape (``\\ud800``): Go's decoder reads it as U+FFFD, DuckDB's refuses the
  line, so it is written as ``\\ufffd``.

A rewritten line keeps its original text for the reject it may still become (:class:`Originals`).
Plain stretches are copied as they are, but for CRLF line ends written as LF: the copy holds no CR,
so DuckDB reads it with its LF line reader, which takes a CR for a line end too. Finding odd lines
costs a few C-speed scans per block (the next occurrence of each odd byte is cached, so no byte is
scanned twice however many odd lines a block has) and the work for each odd line is proportional
to its length: the time is linear in the input. A line longer than 1 MiB is never held: its first
4 KiB are kept, the rest is counted.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Protocol

from reconcile._ingest._summary import Reject

MAX_LINE_BYTES = 1 << 20  # a longer line is `line_too_long`
RAW_BYTES = 4096  # rejects keep the first 4 KiB of the line
BOM = b"\xef\xbb\xbf"
_HALF = MAX_LINE_BYTES // 2  # any line over 1 MiB holds a whole aligned window of this size
_INF = 1 << 62
_SPACE = b" \t\r"
_SURROGATES = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)


def raw_text(head: bytes, valid_utf8: bool, length: int | None = None) -> str:
    """The first 4 KiB of a line as text, as the SQL path cuts them: valid UTF-8 is cut at a
    character boundary; invalid UTF-8 is replaced. ``head`` holds at least the first 4097 bytes of
    the line (or all of it); ``length`` is the line's length when ``head`` is not all of it."""
    total = len(head) if length is None else length
    if total <= RAW_BYTES:
        return head.decode("utf-8", "replace")
    if not valid_utf8:
        return head[:RAW_BYTES].decode("utf-8", "replace")
    cut = RAW_BYTES
    while cut > RAW_BYTES - 3 and head[cut] & 0xC0 == 0x80:  # byte `cut` continues a character
        cut -= 1
    return head[:cut].decode("utf-8")


def _fix_surrogate(match: re.Match[bytes]) -> bytes:
    text = match.group()
    return b"\\ufffd" if len(text) == 6 else text  # 2: an escaped backslash, 12: a valid pair


def _valid_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def classify_odd(line: bytes) -> str | None:
    """The reject code of an odd line that Python decides (its trailing CR already dropped), or None
    when the SQL reads it (after :func:`rewrite`)."""
    if not line.strip(_SPACE):
        return "blank"
    if not _valid_utf8(line):
        return "invalid_utf8"
    if len(line) > MAX_LINE_BYTES:
        return "line_too_long"
    if b"\x00" in line or line.startswith(BOM):
        return "malformed_json"  # a raw NUL, or a BOM: not JSON as Go reads it
    return None


def rewrite(line: bytes) -> bytes:
    """A line DuckDB reads the way Go reads ``line``: inner CRs as TABs, lone surrogates as U+FFFD."""
    if b"\r" in line:
        line = line.replace(b"\r", b"\t")
    if b"\\u" in line:
        line = _SURROGATES.sub(_fix_surrogate, line)
    return line


class _Odd:
    """The next odd position at or after a given one in one block (ends with ``\\n``), each kind's
    next occurrence cached so that the whole block is scanned once per kind."""

    def __init__(self, block: bytes) -> None:
        self.block = block
        n = len(block)
        self.n = n
        self.ascii = block.isascii()
        lone_cr = block.count(b"\r") != block.count(b"\r\n")
        # next occurrence per kind; -1 means "look again from the position asked"
        self.cache: dict[str, int] = dict.fromkeys(("nul", "bom", "sur", "SUR"), -1)
        self.cr = -1 if lone_cr else _INF
        self.utf8 = _INF if self.ascii else -1
        self.long = -1 if n > _HALF else _INF
        self._needles = {"nul": b"\x00", "bom": BOM, "sur": b"\\ud", "SUR": b"\\uD"}

    def _find(self, kind: str, pos: int) -> int:
        at = self.cache[kind]
        if at < pos:
            at = self.block.find(self._needles[kind], pos)
            at = _INF if at < 0 else at
            self.cache[kind] = at
        return at

    def _next_cr(self, pos: int) -> int:
        if self.cr >= pos:
            return self.cr
        block = self.block
        at = block.find(b"\r", pos)
        while at >= 0 and block[at + 1 : at + 2] == b"\n":
            at = block.find(b"\r", at + 2)
        self.cr = _INF if at < 0 else at
        return self.cr

    def _next_utf8(self, pos: int) -> int:
        if self.utf8 >= pos:
            return self.utf8
        try:
            codecs.utf_8_decode(memoryview(self.block)[pos:], "strict", True)
        except UnicodeDecodeError as exc:
            self.utf8 = pos + exc.start
        else:
            self.utf8 = _INF
        return self.utf8

    def _next_long(self, pos: int) -> int:
        if self.long >= pos:
            return self.long
        block = self.block
        start = pos - pos % _HALF
        self.long = _INF
        for window in range(start, self.n, _HALF):
            lo = max(window, pos)
            hi = min(window + _HALF, self.n)
            if hi - lo == _HALF and block.find(b"\n", lo, hi) < 0:
                self.long = lo
                break
        return self.long

    def next(self, pos: int) -> int:
        """The first odd position at or after ``pos``, or -1."""
        at = min(
            self._find("nul", pos),
            self._find("bom", pos),
            self._find("sur", pos),
            self._find("SUR", pos),
            self._next_cr(pos),
            self._next_utf8(pos),
            self._next_long(pos),
        )
        return -1 if at >= self.n else at


class _LongLine:
    """A line too long to hold: its first bytes, its length, and whether it is blank or valid UTF-8."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.length = 0
        self.blank = True
        self.valid = True
        self.last = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def add(self, piece: bytes) -> None:
        if not piece:
            return
        self.length += len(piece)
        if len(self.head) <= RAW_BYTES:
            self.head += piece[: RAW_BYTES + 1 - len(self.head)]
        if self.blank and piece.strip(_SPACE):
            self.blank = False
        if self.valid and not (piece.isascii() and not self._decoder.getstate()[0]):
            try:
                self._decoder.decode(piece)
            except UnicodeDecodeError:
                self.valid = False
        self.last = piece[-1:]

    def finish(self) -> tuple[str, str]:
        """The line's code and raw text."""
        if self.valid:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.valid = False
        length = self.length - (1 if self.last == b"\r" else 0)
        # (a long line is over MAX_LINE_BYTES by construction: see Sanitiser._check_carry)
        code = "blank" if self.blank else ("invalid_utf8" if not self.valid else "line_too_long")
        return code, raw_text(bytes(self.head), self.valid, length)


class Writer(Protocol):
    """Where the copy goes: a binary file, or anything with its ``write``."""

    def write(self, data: bytes, /) -> int:
        """Write ``data``."""
        ...


RejectSink = Callable[[Reject, int], None]  # a reject, and how many identical lines it starts
OriginalSink = Callable[[int, str, int], None]  # (first line, original raw, how many identical lines)
GapSink = Callable[[int, int], None]  # (rows of the copy before a gap, lines left out up to it)


class Sanitiser:
    """Copies ledger text into ``out`` for DuckDB, classifying or rewriting odd lines (module doc).

    Feed the bytes in any pieces; :meth:`finish` ends the stream. ``first_line`` is the number of
    lines of the file before these bytes. Rejects go to ``rejects``; ``originals`` receives
    ``(line, raw, count)`` for each line written rewritten; ``gaps`` receives, for each stretch of
    left-out lines followed by a row of the copy, the rows before it and the lines left out so far.
    A run of identical odd lines (a block of NULs a power cut left, written as ``\x00\n`` lines) is
    handed over as its first line and a count, so its cost is that of comparing its bytes, not of
    one Python call per line.
    """

    def __init__(
        self,
        out: Writer,
        source: str,
        first_line: int,
        *,
        rejects: RejectSink,
        originals: OriginalSink,
        gaps: GapSink,
    ) -> None:
        self._out = out
        self._source = source
        self.line = first_line  # the number of the last line seen
        self.rows = 0  # rows written to the copy
        self.skipped = 0  # lines left out of the copy (classified here)
        self._gap_due = False  # lines were left out since the last row written
        self._gaps = gaps
        self._rejects = rejects
        self._originals = originals
        self._carry = bytearray()
        self._long: _LongLine | None = None
        self.odd_lines = 0
        self.ledger_like = False  # a `"kind"` member was seen somewhere

    def feed(self, data: bytes) -> None:
        """The next bytes of the stream."""
        if not data:
            return
        if self._long is not None:
            nl = data.find(b"\n")
            if nl < 0:
                self._long.add(data)
                return
            self._long.add(data[:nl])
            self._end_long()
            data = data[nl + 1 :]
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            self._carry += data
            self._check_carry()
            return
        if self._carry:
            block = bytes(self._carry) + data[:cut]
            self._carry.clear()
        else:
            block = data[:cut]
        self._block(block)
        self._carry += data[cut:]
        self._check_carry()

    def finish(self, *, last_line_counts: bool) -> int:
        """End the stream. A last line without ``\\n`` is a line when ``last_line_counts`` (a
        compressed file), else it is left out; returns the bytes left out."""
        if self._long is not None:
            if last_line_counts:
                self._end_long()
                return 0
            left = self._long.length
            self._long = None
            return left
        if not self._carry:
            return 0
        if last_line_counts:
            self._block(bytes(self._carry) + b"\n")
            self._carry.clear()
            return 0
        left = len(self._carry)
        self._carry.clear()
        return left

    # --- internals ------------------------------------------------------------------------------

    def _check_carry(self) -> None:
        """A partial line longer than any line the SQL may read goes on as a long line."""
        if len(self._carry) > MAX_LINE_BYTES + 1:  # (+1: a final CR is not part of the line)
            self._long = _LongLine()
            self._long.add(bytes(self._carry))
            self._carry.clear()

    def _end_long(self) -> None:
        assert self._long is not None
        long_line, self._long = self._long, None
        code, raw = long_line.finish()
        self.line += 1
        self.odd_lines += 1
        self._rejects(Reject(self._source, self.line, code, raw), 1)
        self._skip(1)

    def _block(self, block: bytes) -> None:
        """Copy complete lines (``block`` ends with ``\\n``), odd lines one by one."""
        if not self.ledger_like and b'"kind"' in block:
            self.ledger_like = True
        odd = _Odd(block)
        pos = 0
        n = len(block)
        while pos < n:
            at = odd.next(pos)
            if at < 0:
                count = block.count(b"\n", pos)
                self.line += count
                self._write(block[pos:] if pos else block, count)
                return
            before = block.rfind(b"\n", pos, at)
            start = pos if before < 0 else before + 1
            end = block.find(b"\n", at)
            if start > pos:
                count = block.count(b"\n", pos, start)
                self.line += count
                self._write(block[pos:start], count)
            pos, repeats = _repeats(block, start, end + 1)
            self._odd_line(block[start:end], repeats)

    def _odd_line(self, line: bytes, count: int) -> None:
        """``count`` identical odd lines, the first numbered ``self.line + 1``."""
        first = self.line + 1
        self.line += count
        self.odd_lines += count
        if line.endswith(b"\r"):
            line = line[:-1]
        code = classify_odd(line)
        if code is not None:
            raw = raw_text(line[: RAW_BYTES + 1], code != "invalid_utf8", len(line))
            self._rejects(Reject(self._source, first, code, raw), count)
            self._skip(count)
            return
        fixed = rewrite(line)
        if fixed != line:
            self._originals(first, raw_text(line[: RAW_BYTES + 1], True, len(line)), count)
        self._write((fixed + b"\n") * count, count)

    def _write(self, lines: bytes, count: int) -> None:
        """``count`` complete lines into the copy (after recording the gap before them, if due)."""
        if self._gap_due:
            self._gaps(self.rows, self.skipped)
            self._gap_due = False
        if b"\r" in lines:  # (only CRLF ends here: a lone CR makes its line odd)
            lines = lines.replace(b"\r\n", b"\n")
        self._out.write(lines)
        self.rows += count

    def _skip(self, count: int) -> None:
        """``count`` lines left out of the copy (their line numbers are already counted)."""
        self.skipped += count
        self._gap_due = True


def _repeats(block: bytes, start: int, after: int) -> tuple[int, int]:
    """How many times the line ``block[start:after]`` (with its ``\\n``) occurs in a row from
    ``start``, and where the run ends. Linear in the run's bytes: repeated doubling of the compared
    stretch, started again at one line when a doubling no longer fits."""
    unit = block[start:after]
    count, pos, step = 1, after, 1
    while True:
        stretch = unit * step
        if block.startswith(stretch, pos):
            pos += len(stretch)
            count += step
            step *= 2
        elif step > 1:
            step = 1
        else:
            return pos, count
