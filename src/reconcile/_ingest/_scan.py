"""The Python pass over each input file: what is new in it, its digests, and how DuckDB may read it.

A *live* (uncompressed) file is read twice at the same time: its SHA-256 digests (the whole file, up
to its last ``\\n``, and the prefix consumed by earlier ingests) on a worker thread (``hashlib``
releases the GIL), and the plain check of the complete lines after that prefix. *Plain* text is what
DuckDB's line reader takes as it is and reads as Go would: no NUL byte, no CR (a CRLF file is
read through a copy whose lines end with LF alone), valid UTF-8, no BOM, no ``\\u`` surrogate
escape, no line near 1 MiB (see ``_sanitise``). A *compressed* file (by its magic bytes) is
digested whole; it is complete, so it is consumed whole or, when its bytes changed, read again whole.

Whether a file is a ledger at all: a file compressed with something this engine does not read (lz4,
zip, ...: by magic bytes) is not; a file whose name says ``.jsonl`` is, whatever it holds (a block of
NULs a power cut left, garbage: its lines are rejects); a file with another name (logrotate's
``dateext`` rotations, say) is when it holds a ``"kind"`` member somewhere or nothing at all. A file
that is not a ledger is one finding (``not_a_ledger``), not a reject per line.
"""

from __future__ import annotations

import codecs
import concurrent.futures
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from reconcile._ingest._compressed import compression_of, unread_compression
from reconcile._ingest._sanitise import _HALF, BOM
from reconcile._store._reader import FileState
from reconcile.exceptions import InputError

CHUNK = 8 << 20
SMALL_FILE_BYTES = 4 << 20  # a live file up to this size is read once, on the calling thread
_EDGE = 8  # bytes of the previous chunk kept to find patterns split between two chunks


class NotALedgerError(InputError):
    """A file that is not a ledger (its message says why)."""


def is_ledger_name(name: str) -> bool:
    """Whether a file name says it is a ledger (``*.jsonl`` and its rotations)."""
    return ".jsonl" in name


@dataclass
class Plan:
    """What to read of one file, from the Python pass."""

    path: Path
    index: int
    compression: str | None  # gzip, bzip2, xz, zstd; None: a live text file
    size: int
    sha256: str  # of the bytes [0, size)
    consumed_bytes: int  # the prefix consumed after this ingest (live: up to the last \n)
    consumed_sha256: str
    start_bytes: int  # where this ingest starts reading (0, or the old consumed prefix)
    start_lines: int
    plain: bool  # the new part can be read by DuckDB as it is (live files)
    pending: bool  # a live file ending in a line without \n
    unchanged: bool  # nothing new to read
    new_lines: int | None  # complete lines in the new part of a live file (None: compressed)
    ledger: bool  # False: neither ledger text nor a known compression (skipped, one finding)
    identity: tuple[int, int]  # (st_dev, st_ino) when planned: the file DuckDB must read is this one

    @property
    def compressed(self) -> bool:
        """A compressed file (read whole)."""
        return self.compression is not None


class PlainCheck:
    """Streaming check of complete lines: plain (module doc), ledger-like (a ``"kind"`` member
    somewhere); counts lines.

    Each piece costs a few C-speed scans (the newline count, ``isascii``, one ``find`` each for NUL,
    CR and ``\\u``); the UTF-8 decoder and the BOM search run only on pieces that are not ASCII.
    """

    def __init__(self) -> None:
        self.plain = True
        self._invalid_utf8 = False
        self.ledger_like = False
        self.newlines = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._pending_utf8 = False  # the decoder holds the first bytes of a character
        self._edge = b""
        self._since_newline = 0  # bytes after the last \n seen

    def feed(self, data: bytes) -> None:
        """The next bytes of complete lines (the last piece may end without ``\\n``)."""
        if not data:
            return
        self.newlines += data.count(b"\n")
        joined = self._edge + data[:_EDGE]
        if not self.ledger_like and (b'"kind"' in data or b'"kind"' in joined):
            self.ledger_like = True
        if self.plain:
            self._check_plain(data, joined)
        self._edge = data[-_EDGE:]
        last = data.rfind(b"\n")
        self._since_newline = self._since_newline + len(data) if last < 0 else len(data) - last - 1

    def _check_plain(self, data: bytes, joined: bytes) -> None:
        if b"\x00" in data or b"\r" in data:
            self.plain = False
            return
        if (not data.isascii() or self._pending_utf8) and (
            BOM in data or BOM in joined or not self._valid_utf8(data)
        ):
            self.plain = False
            return
        if _surrogate_escape(data) or _surrogate_escape(joined):
            self.plain = False
            return
        first = data.find(b"\n")
        if first < 0:
            if self._since_newline + len(data) > _HALF:
                self.plain = False  # a line near or over 1 MiB
            return
        if self._since_newline + first > _HALF:
            self.plain = False
            return
        for window in range(first, len(data) - _HALF, _HALF):
            if data.find(b"\n", window + 1, window + 1 + _HALF) < 0:
                self.plain = False
                return

    def _valid_utf8(self, data: bytes) -> bool:
        try:
            self._decoder.decode(data)
        except UnicodeDecodeError:
            self._invalid_utf8 = True
            return False
        self._pending_utf8 = bool(self._decoder.getstate()[0])
        return True

    def finish(self) -> None:
        """The end of the bytes checked."""
        if self.plain and self._pending_utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._invalid_utf8 = True
                self.plain = False


def _surrogate_escape(data: bytes) -> bool:
    """Whether ``data`` holds ``\\ud`` or ``\\uD`` (one scan for ``\\u``: escapes are rare)."""
    at = data.find(b"\\u")
    while at >= 0:
        if data[at + 2 : at + 3] in (b"d", b"D"):
            return True
        at = data.find(b"\\u", at + 2)
    return False


@dataclass
class _LiveDigests:
    """The digests of a live file's bytes [0, size) that its record and ``files.json`` need."""

    size: int  # bytes read
    whole: str  # sha256 of them all
    consumed_bytes: int  # up to the last \n
    consumed: str  # sha256 up to the last \n
    prefix: str | None  # sha256 of the first ``prefix_bytes`` (the old consumed prefix), if asked


def live_digests(path: Path, size: int, prefix_bytes: int | None) -> _LiveDigests:
    """One read of a live file for its digests (runs on a worker thread beside the plain check)."""
    whole = hashlib.sha256()
    prefix: str | None = None
    last_nl_state: tuple[hashlib._Hash, bytes, int] | None = None
    last_newline_end = 0
    pos = 0
    with path.open("rb") as fh:
        while pos < size:
            chunk = fh.read(min(CHUNK, size - pos))
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


def live_check(path: Path, size: int, start: int) -> tuple[PlainCheck, int]:
    """The plain check of a live file's complete lines after ``start``, and the bytes read."""
    check = PlainCheck()
    pos = start
    with path.open("rb") as fh:
        fh.seek(start)
        while pos < size:
            chunk = fh.read(min(CHUNK, size - pos))
            if not chunk:
                break
            end = pos + len(chunk)
            # the plain check covers complete lines only: not the torn tail
            check.feed(chunk if end < size else chunk[: chunk.rfind(b"\n") + 1])
            pos = end
    check.finish()
    return check, pos


def _is_ledger(path: Path, check: PlainCheck, size: int, old: FileState | None) -> bool:
    return old is not None or check.ledger_like or size == 0 or is_ledger_name(path.name)


def _plan_live(path: Path, index: int, size: int, old: FileState | None, identity: tuple[int, int]) -> Plan:
    """A live file: digests on a worker thread while the plain check reads the new part (a small
    file: both from one read, on this thread). A file whose old prefix changed (replaced) is checked
    again from its start."""
    prefix_bytes = old.bytes if (old is not None and not old.compressed and 0 < old.bytes <= size) else None
    start = prefix_bytes or 0
    if size <= SMALL_FILE_BYTES:
        digests, check, checked_to = _small_live(path, size, prefix_bytes, old)
        if old is not None and prefix_bytes is not None and digests.prefix != old.sha256:
            start = 0
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256") as pool:
            future = pool.submit(live_digests, path, size, prefix_bytes)
            check, checked_to = live_check(path, size, start)
            digests = future.result()
        if old is not None and prefix_bytes is not None and digests.prefix != old.sha256:
            start = 0  # replaced: read from the start
            check, checked_to = live_check(path, size, 0)
    if checked_to != digests.size:
        raise InputError(f"{path}: changed size while being read ({checked_to} then {digests.size} bytes)")
    return Plan(
        path=path,
        index=index,
        compression=None,
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
        ledger=_is_ledger(path, check, digests.size, None if start == 0 else old),
        identity=identity,
    )


def _small_live(
    path: Path, size: int, prefix_bytes: int | None, old: FileState | None
) -> tuple[_LiveDigests, PlainCheck, int]:
    """:func:`live_digests` and :func:`live_check` of a small live file from one read (a nightly
    reads thousands of them: a worker thread each would cost more than the file)."""
    with path.open("rb") as fh:
        data = fh.read(size)
    view = memoryview(data)
    consumed = data.rfind(b"\n") + 1
    digest = hashlib.sha256()
    prefix = None
    cut = 0
    if prefix_bytes is not None and prefix_bytes <= len(data):
        digest.update(view[:prefix_bytes])
        prefix = digest.hexdigest()
        cut = prefix_bytes
    if cut <= consumed:
        digest.update(view[cut:consumed])
        upto_newline = digest.hexdigest()
        digest.update(view[consumed:])
    else:  # (an old prefix past the last newline: the file was replaced)
        upto_newline = hashlib.sha256(view[:consumed]).hexdigest()
        digest.update(view[cut:])
    start = prefix_bytes or 0
    if old is not None and prefix_bytes is not None and prefix != old.sha256:
        start = 0  # replaced: checked from its start
    check = PlainCheck()
    check.feed(data[start:consumed] if start < consumed else b"")
    check.finish()
    digests = _LiveDigests(len(data), digest.hexdigest(), consumed, upto_newline, prefix)
    return digests, check, len(data)


def _plan_compressed(
    path: Path, index: int, size: int, old: FileState | None, *, kind: str, identity: tuple[int, int]
) -> Plan:
    """A compressed file: the digest of its bytes; whether it changed since it was consumed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    sha = digest.hexdigest()
    unchanged = old is not None and old.compressed and old.sha256 == sha and old.bytes == size
    return Plan(
        path=path,
        index=index,
        compression=kind,
        size=size,
        sha256=sha,
        consumed_bytes=size,
        consumed_sha256=sha,
        start_bytes=0,
        start_lines=0,
        plain=False,  # read through a decompressed (sanitised) copy
        pending=False,
        unchanged=unchanged,
        new_lines=None,
        ledger=True,  # decided while decompressing (`_prepare`)
        identity=identity,
    )


def plan_file(path: Path, index: int, old: FileState | None) -> Plan:
    """The plan of one input file. It is opened without blocking (a file replaced by a FIFO since it
    was listed is refused, not waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file")
        head = os.pread(fd, 8, 0)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    identity = (info.st_dev, info.st_ino)
    unread = unread_compression(head)
    if unread is not None:
        raise NotALedgerError(f"{unread}-compressed, which reconcile does not read: skipped")
    kind = compression_of(head)
    try:
        if kind is not None:
            return _plan_compressed(path, index, info.st_size, old, kind=kind, identity=identity)
        return _plan_live(path, index, info.st_size, old, identity)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def same_file(plan: Plan) -> bool:
    """Whether ``plan.path`` still names the file that was planned (not replaced since)."""
    try:
        info = os.stat(plan.path)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == plan.identity and info.st_size >= plan.consumed_bytes
