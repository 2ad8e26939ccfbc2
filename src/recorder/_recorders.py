"""Recorders: where VM code emits entries. ``emit`` never raises and never blocks longer than one write.

``FileRecorder`` appends each entry with one ``write()`` of a complete line to a file opened with
``O_APPEND``, so lines from many threads and processes never interleave (the kernel serialises appends
to a regular file). It survives what hosts do to it: log rotation (the path is checked, at most once
per millisecond by default, and reopened when it names another file or none), ``os.fork()`` (the
child gets fresh locks; the write itself takes no lock on the fast path),
a full disk or an unopenable path (the entry is dropped, counted in ``dropped`` and logged at most once
per ``LOG_INTERVAL`` seconds; the next emit tries again).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import threading
import time
import weakref
from types import TracebackType
from typing import Final, Protocol, Self, TextIO, runtime_checkable

from recorder._entry import Entry

__all__ = [
    "CaptureRecorder",
    "FileRecorder",
    "NopRecorder",
    "Recorder",
    "StderrRecorder",
    "open_file_recorder",
]

logger: Final = logging.getLogger("recorder")

#: Seconds between two log records about failures of one recorder (the ones between are counted).
LOG_INTERVAL: Final = 10.0

#: Default seconds between two checks that the ledger path still names the open file (``os.stat``
#: costs about as much as the write itself): under load at most one check per millisecond, and an
#: emit after a quiet millisecond always checks, so a rotation is noticed by the next emit.
CHECK_INTERVAL: Final = 0.001

_O_DSYNC: Final = getattr(os, "O_DSYNC", 0)
_monotonic: Final = time.monotonic
_os_write: Final = os.write


@runtime_checkable
class Recorder(Protocol):
    """Anything VM code can emit entries to. Implementations are safe for concurrent use."""

    def emit(self, entry: Entry) -> None:
        """Record ``entry``; never raises."""


class _Base:
    """Shared plumbing: a lock re-created after fork, context manager, rate-limited failure logging."""

    dropped: int

    def __init__(self) -> None:
        self.dropped = 0
        # Re-entrant: a signal handler that emits while this thread is inside emit must not deadlock.
        self._lock = threading.RLock()
        self._log_next = 0.0  # monotonic time before which failure logs are suppressed
        self._log_suppressed = 0
        _LIVE.add(self)

    def _after_fork_in_child(self) -> None:
        # Another thread of the parent may have held the lock at fork: it does not exist here.
        self._lock = threading.RLock()

    def _drop(self, message: str) -> str | None:
        """Count one dropped entry (call with the lock held); return the log message if one is due."""
        self.dropped += 1
        return self._throttle(f"{message}; {self.dropped} entries dropped so far")

    def _throttle(self, message: str) -> str | None:
        """``message`` if no failure was logged in the last ``LOG_INTERVAL`` seconds (lock held)."""
        now = time.monotonic()
        if now < self._log_next:
            self._log_suppressed += 1
            return None
        self._log_next = now + LOG_INTERVAL
        suppressed, self._log_suppressed = self._log_suppressed, 0
        if suppressed:
            message += f" ({suppressed} more failures were not logged)"
        return message

    def close(self) -> None:
        """Release what the recorder holds (nothing, unless the recorder says otherwise)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_LIVE: Final[weakref.WeakSet[_Base]] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for recorder in list(_LIVE):
        recorder._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _log_error(message: str | None) -> None:
    if message is not None:
        with contextlib.suppress(Exception):  # a broken logging setup must not raise into VM code
            logger.error("%s", message)  # the logger's name ("recorder") says whose it is


class NopRecorder(_Base):
    """Discards every entry (what ``open_file_recorder`` returns when the ledger cannot be opened)."""

    def emit(self, entry: Entry) -> None:
        """Do nothing."""

    def __repr__(self) -> str:
        return "NopRecorder()"


class CaptureRecorder(_Base):
    """Keeps entries in memory, for tests of VM code."""

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[Entry] = []

    def emit(self, entry: Entry) -> None:
        """Keep ``entry``."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[Entry]:
        """A copy of the entries emitted so far, in emit order."""
        with self._lock:
            return list(self._entries)

    def reset(self) -> None:
        """Forget the entries emitted so far."""
        with self._lock:
            self._entries.clear()

    def __repr__(self) -> str:
        return f"CaptureRecorder({len(self._entries)} entries)"


class StderrRecorder(_Base):
    """Writes ledger lines to ``stream`` (by default whatever ``sys.stderr`` is at emit time)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream

    def emit(self, entry: Entry) -> None:
        """Write the entry's line and flush."""
        message = None
        try:
            text = entry.to_line().decode()
        except Exception as exc:
            with self._lock:
                message = self._drop(f"cannot encode entry {entry!r}: {exc!r}")
            _log_error(message)
            return
        with self._lock:
            stream = self._stream if self._stream is not None else sys.stderr
            try:
                stream.write(text)
                stream.flush()
            except Exception as exc:
                message = self._drop(f"cannot write to {stream!r}: {exc!r}")
        _log_error(message)

    def __repr__(self) -> str:
        return f"StderrRecorder({self._stream!r})"


class FileRecorder(_Base):
    """Appends entries to the ledger file at ``path`` (created with mode 0600).

    Each entry is one ``write()`` of one complete line to a file opened with ``O_APPEND``: the kernel
    keeps concurrent appends whole, so lines from threads and processes never interleave. Before a
    write the path is checked (``os.stat``) and reopened when it no longer names the open file, so
    after a rotation the next entry lands in the new file. The check runs at most once per
    ``check_interval`` seconds (default 1 ms: an emit more than 1 ms after the last check always
    checks; 0 checks before every write, which costs about one more syscall per entry).
    ``durable=True`` opens with ``O_DSYNC`` (``fsync`` where that flag does not exist), so each entry
    is on disk when ``emit`` returns.

    The constructor does not raise either: a path that cannot be opened is logged, and each emit tries
    again (use :func:`open_file_recorder` for Go's behaviour of falling back to a :class:`NopRecorder`).
    ``close()`` releases the ledger file; the descriptor number stays reserved (on ``/dev/null``) until
    the recorder is garbage collected, so an emit racing with ``close()`` can never write into a file
    opened later by someone else.
    """

    def __init__(
        self, path: str | os.PathLike[str], durable: bool = False, *, check_interval: float = CHECK_INTERVAL
    ) -> None:
        self._setup(path, durable, check_interval)
        error = self._connect()
        if error is not None:
            with self._lock:
                message = self._throttle(
                    f"cannot open ledger {self.path!r}: {error}; will retry on each emit"
                )
            _log_error(message)

    def _setup(self, path: str | os.PathLike[str], durable: bool, check_interval: float) -> None:
        super().__init__()
        self.path = os.path.abspath(os.fspath(path))  # reopening after a chdir must find the same file
        self.durable = durable
        # O_NOFOLLOW: a symlink planted at the ledger path (to any file the process may write) is
        # refused, counted and logged, never followed
        self._flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        self._flags |= _O_DSYNC if durable else 0
        self._fsync = durable and not _O_DSYNC
        self._check_interval = check_interval
        # The fast path of emit (no lock, no stat) runs while monotonic() < _next_check; it is 0 whenever
        # the next emit must take the slow path: not connected, closed, a fragment pending, fsync mode.
        self._next_check = 0.0
        # The descriptor number, kept for the recorder's life once opened: reopening moves the new file
        # onto it (dup2), so a thread that read it just before a rotation writes to a ledger file, never
        # to whatever the process opens next under a recycled number.
        self._fd = -1
        self._connected = False  # _fd is the ledger file at (or rotated away from) the path
        self._ino = -1
        self._dev = -1
        self._closed = False
        # The file may end in a fragment of ours (a write failed half-way): start the next line afresh.
        self._partial = False

    def _connect(self) -> OSError | None:
        """(Re)open the path onto our descriptor number (lock held, or not yet shared)."""
        self._next_check = 0.0
        try:
            fd = os.open(self.path, self._flags, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return OSError(exc.errno, "the ledger path is a symlink: refused (O_NOFOLLOW)")
            return exc
        try:
            st = os.fstat(fd)
            if self.durable:
                _fsync_parent(self.path)
            if self._fd >= 0:
                os.dup2(fd, self._fd, inheritable=False)  # atomically replaces the old file
                os.close(fd)
                fd = self._fd
        except OSError as exc:
            os.close(fd)
            return exc
        if st.st_ino != self._ino or st.st_dev != self._dev:
            self._partial = False  # a fragment left by a failed write belongs to the old file
        self._fd, self._ino, self._dev, self._connected = fd, st.st_ino, st.st_dev, True
        return None

    @property
    def is_open(self) -> bool:
        """Whether the recorder holds the ledger file open right now."""
        return self._connected and not self._closed

    def emit(self, entry: Entry) -> None:
        """Append the entry's line with one write; on failure count it in ``dropped`` and log."""
        try:
            data = entry.to_line()
        except Exception as exc:
            with self._lock:
                message = self._drop(f"cannot encode entry {entry!r}: {exc!r}")
            _log_error(message)
            return
        if _monotonic() < self._next_check:
            # Fast path, no lock: the path was checked less than check_interval ago and nothing is
            # pending. One write of one whole line; O_APPEND keeps it whole against other writers.
            fd = self._fd
            try:
                written = _os_write(fd, data)
            except OSError as exc:
                with self._lock:
                    message = self._write_failed(fd, exc)
                _log_error(message)
                return
            if written == len(data):
                return
            with self._lock:
                message = self._finish(fd, data, written)
        else:
            with self._lock:
                message = self._emit_checked(data)
        if message is not None:
            _log_error(message)

    def _emit_checked(self, data: bytes) -> str | None:
        """The slow path of ``emit`` (lock held): check the path, reopen if needed, write."""
        if self._closed:
            return self._drop(f"emit after close of ledger {self.path!r}")
        now = _monotonic()
        reopen = not self._connected
        if not reopen:
            try:
                st = os.lstat(self.path)  # (a symlink put in its place is another file: reopen, refuse)
            except OSError:
                reopen = True  # the path is gone (renamed or removed): reopen it
            else:
                reopen = st.st_ino != self._ino or st.st_dev != self._dev  # rotated: reopen
        if reopen:
            error = self._connect()
            if error is not None:
                self._connected = False
                return self._drop(f"cannot open ledger {self.path!r}: {error}")
        fd = self._fd
        if self._partial and not _ends_with_newline(fd):
            data = b"\n" + data  # end the fragment, so that this line is whole
        try:
            written = _os_write(fd, data)
        except OSError as exc:
            return self._write_failed(fd, exc)
        message = self._finish(fd, data, written)
        if message is None and self._check_interval > 0 and not self._fsync and not self._partial:
            self._next_check = now + self._check_interval
        return message

    def _finish(self, fd: int, data: bytes, written: int) -> str | None:
        """Complete a short write, fsync in that mode (lock held); the failure message if any."""
        try:
            if written != len(data):
                self._write_rest(fd, data, written)
            if self._fsync:
                os.fsync(fd)
        except OSError as exc:
            return self._write_failed(fd, exc)
        self._partial = False
        return None

    def _write_failed(self, fd: int, exc: OSError) -> str | None:
        """Count and report a failed write (lock held); the next emit checks and reopens the path."""
        self._next_check = 0.0
        if fd == self._fd:  # else a nested emit (signal handler) already replaced the file
            self._connected = False
            if exc.errno == errno.EBADF:
                self._fd = -1  # not ours any more: never touch a number someone else may reuse
        return self._drop(f"cannot write to ledger {self.path!r}: {exc}")

    def _write_rest(self, fd: int, data: bytes, written: int) -> None:
        """Finish a short write (only a disk filling up or a signal cause them on regular files).

        When the rest cannot be written, the fragment is cut off again (``ftruncate`` to where this
        line began), so no reader ever sees it as a line; if another process appended after it
        meanwhile (the file no longer ends where this write did), cutting would lose their line, so
        the fragment stays and the next line starts on a fresh line instead.
        """
        view = memoryview(data)
        while written < len(data):
            try:
                n = _os_write(fd, view[written:])
            except OSError:
                self._drop_fragment(fd, written)
                raise
            if n <= 0:
                self._drop_fragment(fd, written)
                raise OSError(errno.EIO, f"write returned {n} after {written} of {len(data)} bytes")
            written += n

    def _drop_fragment(self, fd: int, written: int) -> None:
        """Remove the ``written`` bytes of a line that could not be finished (lock held)."""
        if written <= 0:
            return
        try:
            end = os.lseek(fd, 0, os.SEEK_CUR)  # O_APPEND: the offset is where this write ended
            if os.fstat(fd).st_size == end:
                os.ftruncate(fd, end - written)
                self._partial = False
                return
        except OSError:
            pass
        self._partial = True

    def close(self) -> None:
        """Release the ledger file; later emits are dropped and counted. Closing twice is fine."""
        with self._lock:
            self._closed = True
            self._next_check = 0.0
            self._connected = False
            if self._fd >= 0:
                _park(self._fd)

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._connected else "not open")
        return f"FileRecorder({self.path!r}, durable={self.durable}, {state}, dropped={self.dropped})"

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


def _ends_with_newline(fd: int) -> bool:
    """Whether the file open (write-only) on ``fd`` ends with a newline: another writer may have
    ended our fragment's line. Read through a second, read-only descriptor of the same file."""
    try:
        reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        size = os.fstat(reader).st_size
        return size == 0 or os.pread(reader, 1, size - 1) == b"\n"
    except OSError:
        return False
    finally:
        os.close(reader)


def _park(fd: int) -> None:
    """Point ``fd`` at /dev/null: the file it held is released, the number stays ours."""
    try:
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        with contextlib.suppress(OSError):
            os.close(fd)  # no /dev/null (odd chroot): release the number after all
        return
    try:
        os.dup2(null, fd, inheritable=False)
    except OSError:
        pass
    finally:
        os.close(null)


def _fsync_parent(path: str) -> None:
    """Make the file's directory entry durable too (O_DSYNC covers the data, not the name)."""
    parent = os.path.dirname(os.path.abspath(path))
    dir_fd = os.open(parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def open_file_recorder(path: str | os.PathLike[str], durable: bool = False) -> FileRecorder:
    """A :class:`FileRecorder` for ``path``. Go's ``NewFileRecorder`` falls back to a recorder that
    drops everything for ever when the file cannot be opened; this one logs the failure once and
    keeps retrying on each emit, counting every entry it could not write in ``dropped``, so a ledger
    folder that appears later (a mount, a fixed permission) starts receiving lines."""
    return FileRecorder(path, durable)
