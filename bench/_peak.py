"""Run a Python program (``-c CODE ARGS...`` or ``SCRIPT ARGS...``), then write its peak RSS (VmHWM,
in KiB) to the file descriptor named by ``RECONCILE_BENCH_PEAK_FD``.

``ru_maxrss`` of a child is no good here: Linux carries the high-water mark of the address space a
child had before ``exec`` into it, and Python starts children with ``vfork``, so every child would
report at least the benchmark's own peak.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys


def _report() -> None:
    with open("/proc/self/status", encoding="ascii") as fh:
        peak = next(line.split()[1] for line in fh if line.startswith("VmHWM:"))
    os.write(int(os.environ["RECONCILE_BENCH_PEAK_FD"]), f"{peak}\n".encode())


def main() -> None:
    atexit.register(_report)
    args = sys.argv[1:]
    if args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<bench child>", "exec"), {"__name__": "__main__"})  # noqa: S102
    else:
        sys.argv = args
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main()
