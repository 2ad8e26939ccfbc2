"""SIGTERM handled as SIGINT is: the work stops at the next safe point, never inside a commit.

``systemctl stop`` sends SIGTERM. Inside :func:`terminable` it raises :class:`Terminated` (a
``BaseException``, as ``KeyboardInterrupt`` is) in the main thread, unless a :func:`critical` section
is running: a commit's journal and swaps then finish first and the exception is raised as the
section ends. So every period is committed whole or not at all, and the command line says which
periods were committed before it exits 143 (130 for Ctrl-C). A DuckDB query in progress checks for
signals as it runs: it stops with its own ``InterruptException`` when the handler raised, and
:func:`interruption` says which signal that was (SIGTERM: :class:`Terminated`, so exit 143 still).

Python runs a signal's handler only when the main thread runs Python again, and DuckDB looks for a
pending signal only between the tasks it runs on the calling thread: with more than one thread, a
query whose other thread holds a long task (a month's walk) saw a SIGTERM only as that task ended,
8 to 23 s later on a busy machine. So :func:`terminable` also watches the signals as they arrive
(``signal.set_wakeup_fd``, written by the interpreter's C handler at once) on a thread of its own,
which interrupts every query of the connections registered with :func:`interruptible` unless a
commit is running; the query stops within milliseconds and the handler's exception follows.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import Protocol, TypeVar

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


class Interruptible(Protocol):
    """What the watcher stops: a DuckDB connection (``interrupt()`` ends the query it runs, if any)."""

    def interrupt(self) -> None: ...


_C = TypeVar("_C", bound=Interruptible)
_connections: weakref.WeakSet[Interruptible] = weakref.WeakSet()
_state = threading.local()
_main_depth = [0]  # the main thread's critical depth, read by the watcher thread
_pending: list[int] = []
_raised: list[int] = []  # the signals the handler raised, newest last (a query may swallow them)


def _in_critical() -> bool:
    return int(getattr(_state, "depth", 0)) > 0


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _in_critical():
        _pending.append(signum)  # raised when the commit in progress is done
        return
    _raised.append(signum)
    raise Terminated(signum)


def interruption() -> BaseException:
    """What an interrupted DuckDB query stands for: :class:`Terminated` when the SIGTERM handler
    raised inside it (DuckDB reports it as its own interruption), else ``KeyboardInterrupt``."""
    if _raised:
        signum = _raised[-1]
        _raised.clear()
        return Terminated(signum)
    return KeyboardInterrupt()


def interruptible(con: _C) -> _C:
    """Register ``con`` (held weakly): inside :func:`terminable`, a SIGTERM or Ctrl-C interrupts its
    running query at once, not when DuckDB next looks for signals. Returns ``con``."""
    _connections.add(con)
    return con


def _watch(fd: int) -> None:
    """The watcher thread: each SIGTERM or SIGINT byte the interpreter writes interrupts every
    registered connection's query, unless the main thread is inside a commit."""
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return  # terminable() is over: it closed the write end
        for signum in data:
            if signum not in (signal.SIGTERM, signal.SIGINT) or _main_depth[0] > 0:
                continue
            if signum == signal.SIGTERM:
                _raised.append(signum)  # the query's interruption stands for this signal
            for con in list(_connections):
                with contextlib.suppress(Exception):  # a closed connection has nothing to stop
                    con.interrupt()


@contextlib.contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while inside (main thread only; elsewhere a no-op), and a
    SIGTERM or Ctrl-C interrupts the registered connections' queries at once (:func:`interruptible`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _raised.clear()  # a signal an earlier command saw does not stand for this one's interruptions
    previous = signal.signal(signal.SIGTERM, _handler)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    watcher = threading.Thread(target=_watch, args=(read_fd,), name="reconcile-signals", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGTERM, previous)
        os.close(write_fd)
        watcher.join(timeout=5)
        os.close(read_fd)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A section a SIGTERM may not interrupt (a commit): the signal is raised when it ends."""
    main = threading.current_thread() is threading.main_thread()
    _state.depth = int(getattr(_state, "depth", 0)) + 1
    _main_depth[0] += main
    try:
        yield
    finally:
        _state.depth -= 1
        _main_depth[0] -= main
        if not _in_critical() and _pending:
            signum = _pending.pop()
            _pending.clear()
            raise Terminated(signum)
