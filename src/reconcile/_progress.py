"""Progress lines on stderr for long work; silent when ``quiet``."""

from __future__ import annotations

import sys
import time
from typing import TextIO


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

    def update(self, message: str) -> None:
        """Print ``message`` if enough time has passed since the last update (unless quiet)."""
        if self.quiet:
            return
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            print(message, file=self._stream, flush=True)
