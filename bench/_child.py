"""Each benchmark measures a piece of work in a fresh interpreter: its stdout and its peak memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

_PEAK = Path(__file__).resolve().parent / "_peak.py"
last_wall_seconds = 0.0
DATA_ENV = "RECONCILE_BENCH_DATA"


def data_dir() -> Path:
    """Where benchmarks keep what they generate: ``$RECONCILE_BENCH_DATA`` (the suite's smoke runs
    give each a temporary folder, so they never touch a developer's cached data), else bench/data."""
    found = os.environ.get(DATA_ENV)
    return Path(found) if found else Path(__file__).resolve().parent / "data"


_WARM = """
import importlib
for name in ("reconcile._run._session", "reconcile._run._nightly", "duckdb", "polars", "pyarrow", "pandas"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
"""
_warmed = False


def _env() -> dict[str, str]:
    """A child's environment: this one, but bytecode caches as an installed package has them (with
    PYTHONDONTWRITEBYTECODE set, every child would compile duckdb, polars, pyarrow and pandas from
    source, about 0.9 s a start)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _warm_bytecode() -> None:
    """Once a benchmark: import the engine in a child, so its bytecode caches exist before the first
    child measured (that child would otherwise pay for compiling them)."""
    global _warmed  # noqa: PLW0603 - once per process
    if not _warmed:
        subprocess.run([sys.executable, "-c", _WARM], check=True, env=_env())
        _warmed = True


def run_child(args: Sequence[str]) -> tuple[str, int]:
    """Run ``python ARGS...``; its stdout and its peak RSS in bytes (VmHWM of that process only,
    reported by ``_peak.py`` as it exits: ``ru_maxrss`` would include this benchmark's own peak).
    The child's wall time, interpreter start included, is in :data:`last_wall_seconds`. Children
    read and write bytecode caches whatever ``PYTHONDONTWRITEBYTECODE`` says (the first child of a
    fresh environment writes them), so a start costs what it costs an installed package.

    Stdout is read before waiting, so a child printing much cannot block on a full pipe. Exits the
    benchmark, naming the child, when it fails.
    """
    global last_wall_seconds  # noqa: PLW0603 - a figure of the last child, beside its result
    _warm_bytecode()
    started = time.perf_counter()
    read_fd, write_fd = os.pipe()
    env = {**_env(), "RECONCILE_BENCH_PEAK_FD": str(write_fd)}
    proc = subprocess.Popen(
        [sys.executable, str(_PEAK), *args], stdout=subprocess.PIPE, text=True, env=env, pass_fds=(write_fd,)
    )
    os.close(write_fd)
    assert proc.stdout is not None
    out = proc.stdout.read()
    code = proc.wait()
    last_wall_seconds = time.perf_counter() - started
    with os.fdopen(read_fd) as fh:
        peak = fh.read().strip()
    if code != 0:
        raise SystemExit(f"child {' '.join(args[:3])[:80]} failed with exit code {code}")
    return out, int(peak) * 1024
