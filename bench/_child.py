"""Each benchmark measures a piece of work in a fresh interpreter: its stdout and its peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence


def run_child(args: Sequence[str]) -> tuple[str, int]:
    """Run ``python ARGS...``; its stdout and its peak RSS in bytes (``os.wait4`` of that child only).

    Stdout is read before waiting, so a child printing much cannot block on a full pipe. Exits the
    benchmark, naming the child, when it fails.
    """
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"child {' '.join(args[:3])[:80]} failed with exit code {code}")
    return out, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux
