"""Progress lines on stderr for long work; silent when ``quiet``.

Plain lines only (no carriage returns or colours): journald and log files keep them as they are.
Long single steps (one big file's parse) print a line at least every :data:`TICK` seconds from a
background thread (:meth:`Progress.ticking`).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

TICK = 2.0  # seconds between the lines of a long step


class Progress:
    """Rate-limited progress reporting to stderr (at most one line per ``interval`` seconds)."""

    def __init__(self, *, quiet: bool = False, stream: TextIO | None = None, interval: float = 0.5) -> None:
        self.quiet = quiet
        self._stream = stream if stream is not None else sys.stderr
        self._interval = interval
        self._last = 0.0

    def note(self, message: str) -> None:
        """Always print ``message`` (unless quiet): a stage starting or ending."""
        if not self.quiet:
            print(message, file=self._stream, flush=True)

    def warn(self, message: str) -> None:
        """Print ``warning: message``, even when quiet: something an operator must hear of (a damaged
        file the work went around), not progress."""
        print(f"warning: {message}", file=self._stream, flush=True)

    def update(self, message: str) -> None:
        """Print ``message`` if enough time has passed since the last update (unless quiet)."""
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            print(message, file=self._stream, flush=True)

    @contextlib.contextmanager
    def ticking(self, message: Callable[[], str], *, every: float = TICK) -> Iterator[None]:
        """While inside, print ``message()`` every ``every`` seconds (unless quiet)."""
        if self.quiet:
            yield
            return
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(every):
                with contextlib.suppress(Exception):  # a progress line must never break the work
                    print(message(), file=self._stream, flush=True)

        thread = threading.Thread(target=tick, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
