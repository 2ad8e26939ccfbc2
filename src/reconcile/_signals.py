"""SIGTERM handled as SIGINT is: the work stops at the next safe point, never inside a commit.

``systemctl stop`` sends SIGTERM. Inside :func:`terminable` it raises :class:`Terminated` (a
``BaseException``, as ``KeyboardInterrupt`` is) in the main thread, unless a :func:`critical` section
is running: a commit's journal and swaps then finish first and the exception is raised as the
section ends. So every period is committed whole or not at all, and the command line says which
periods were committed before it exits 143 (130 for Ctrl-C). A DuckDB query in progress finishes
before Python sees the signal (a day's query takes seconds; systemd waits 90 s by default).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM)."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


_state = threading.local()
_pending: list[int] = []


def _in_critical() -> bool:
    return int(getattr(_state, "depth", 0)) > 0


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _in_critical():
        _pending.append(signum)  # raised when the commit in progress is done
        return
    raise Terminated(signum)


@contextlib.contextmanager
def terminable() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` while inside (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """A section a SIGTERM may not interrupt (a commit): the signal is raised when it ends."""
    _state.depth = int(getattr(_state, "depth", 0)) + 1
    try:
        yield
    finally:
        _state.depth -= 1
        if not _in_critical() and _pending:
            signum = _pending.pop()
            _pending.clear()
            raise Terminated(signum)
