"""How fast the command line answers what needs no engine: help, a usage error, a nightly refused
because another holds the output. The unit tests prove these load no engine (DuckDB, polars,
pyarrow); this times them, as whole processes, against a bare interpreter's start in the same run.

    uv run --locked --extra reconcile python bench/bench_cli.py [--repeat 15] [--json]

Prints each command's median wall time over ``--repeat`` runs, and its ratio to a process that only
imports the engine (``import duckdb, polars, pyarrow``), the cost these answers must not pay: target
<= 0.35x (about the 0.3 s the unit tests once asserted, which flaked on a busy machine). A bare
``python -c pass`` is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _child import _env, _warm_bytecode
from reconcile._core._files import holding_output


def _time(argv: list[str], repeat: int, code: int = 0) -> float:
    """The median wall seconds of running ``argv``, which must exit with ``code``."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, check=False, env=_env())
        times.append(time.perf_counter() - started)
        if done.returncode != code:
            raise SystemExit(f"{' '.join(argv[1:])}: exit {done.returncode}, expected {code}")
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=15, help="runs of each command (default 15)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args(argv)
    _warm_bytecode()
    cli = [sys.executable, "-m", "reconcile._cli"]
    baseline = _time([sys.executable, "-c", "pass"], args.repeat)
    engine = _time([sys.executable, "-c", "import duckdb, polars, pyarrow"], args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        nightly = [*cli, "nightly", tmp, "--store", tmp, "--output", str(out), "--prices", "bundled"]
        cases = {
            "reconcile --help": ([*cli, "--help"], 0),
            "reconcile run --help": ([*cli, "run", "--help"], 0),
            "reconcile run --period (usage error)": ([*cli, "run", "--period"], 2),
            "reconcile nope (usage error)": ([*cli, "nope"], 2),
            "nightly refused, output locked": (nightly, 1),
        }
        figures: dict[str, float] = {}
        with holding_output(out, wait=0):
            for name, (command, code) in cases.items():
                figures[name] = _time(command, args.repeat, code)
    result = {
        "python -c pass": round(baseline, 4),
        "import duckdb, polars, pyarrow": round(engine, 4),
        **{name: round(sec, 4) for name, sec in figures.items()},
        **{f"ratio {name}": round(sec / engine, 3) for name, sec in figures.items()},
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"python -c pass: {baseline * 1000:.0f} ms (median of {args.repeat})")
        print(f"baseline, importing the engine: {engine * 1000:.0f} ms")
        for name, sec in figures.items():
            print(f"{name}: {sec * 1000:.0f} ms, {sec / engine:.2f}x the engine's import (target <= 0.35x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
