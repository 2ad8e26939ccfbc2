"""SIGTERM handled as SIGINT is: the work stops at the next safe point, never inside a commit.

``systemctl stop`` sends SIGTERM. Inside :func:`terminable` it raises :class:`Terminated` (a
``BaseException``, as ``KeyboardInterrupt`` is) in the main thread, unless a :func:`critical` section
is running: a commit's journal and swaps then finish first and the exception is raised as the
section ends. So every period is committed whole or not at all, and the command line says which
periods were committed before it exits 143 (130 for Ctrl-C). A DuckDB query in progress checks for
signals as it runs: it stops with its own ``InterruptException`` when the handler raised, and
:func:`interruption` says which signal that was (SIGTERM: :class:`Terminated`, so exit 143 still).
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
