"""Cost of one ``FileRecorder.emit`` (building the Entry included) next to baselines from the same run.

Baselines: (a) a plain ``json.dumps`` of the same fields plus ``os.write`` under a lock, (b) the Go
recorder (``../shared/tools/gowire -mode bench``: mutex + ``O_APPEND`` file, ``encoding/json``), built
in a temporary copy of that directory. Without a ``go`` on PATH the Go side is skipped (said so).
Each figure is wall time per entry, 1 thread and 4 threads, over ``--rounds`` interleaved rounds
(the machine is shared and noisy): the median, and the best round of each (the least disturbed).
Files go to ``bench/data/`` and are deleted.

    uv run --locked --extra reconcile python bench/bench_recorder.py [--n 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from recorder import Entry, FileRecorder, Kind, Reason, Shape

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "data"
GOWIRE_CANDIDATES = [ROOT.parent / "shared" / "tools" / "gowire"]  # beside the checkout, as ../shared


Cost = tuple[float, float]  # (wall seconds, CPU seconds of the process) per entry


def run_threads(work: Callable[[int, int], None], n: int, workers: int) -> Cost:
    """Run ``work(worker, count)`` in ``workers`` threads; wall and CPU seconds per entry."""
    per = n // workers
    threads = [threading.Thread(target=work, args=(w, per)) for w in range(workers)]
    start, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = per * workers
    return (time.perf_counter() - start) / total, (time.process_time() - cpu) / total


def bench_recorder(path: Path, n: int, workers: int, check_interval: float | None = None) -> Cost:
    """Seconds per ``FileRecorder.emit(Entry(...))``, the Entry built like gowire's bench builds it."""
    recorder = (
        FileRecorder(path) if check_interval is None else FileRecorder(path, check_interval=check_interval)
    )

    def work(w: int, count: int) -> None:
        emit = recorder.emit
        for i in range(count):
            emit(
                Entry(
                    kind=Kind.VM_COMPUTE_START,
                    vm_id=f"vm-{w}-{i}",
                    reason=Reason.BOOT,
                    hypervisor="cloud-hypervisor",
                    shape=Shape(4, 8 << 30, 20 << 30),
                )
            )

    try:
        return run_threads(work, n, workers)
    finally:
        assert recorder.dropped == 0, recorder
        recorder.close()


def bench_baseline(path: Path, n: int, workers: int) -> Cost:
    """Seconds per ``json.dumps`` of the same fields + ``os.write`` under a lock (no Go fidelity)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    lock = threading.Lock()

    def work(w: int, count: int) -> None:
        for i in range(count):
            obj = {
                "kind": "vm.compute.start",
                "vm_id": f"vm-{w}-{i}",
                "reason": "boot",
                "hypervisor": "cloud-hypervisor",
                "shape": {"cpu": 4, "mem_bytes": 8 << 30, "storage_bytes": 20 << 30},
                "emitted_at": datetime.now(UTC).isoformat(),
            }
            data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
            with lock:
                os.write(fd, data)

    try:
        return run_threads(work, n, workers)
    finally:
        os.close(fd)


def find_gowire() -> Path | None:
    for candidate in GOWIRE_CANDIDATES:
        if (candidate / "main.go").is_file():
            return candidate
    return None


def build_go(workdir: Path) -> Path | None:
    """Build gowire in a copy under ``workdir``; None (with a message) when that is not possible."""
    go = shutil.which("go")
    source = find_gowire()
    if go is None:
        print("go side skipped: no `go` on PATH (apt-get install -y golang-go)", file=sys.stderr)
        return None
    if source is None:
        print("go side skipped: ../shared/tools/gowire not found", file=sys.stderr)
        return None
    copy = workdir / "gowire"
    shutil.copytree(source, copy)
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="local", GOCACHE=str(workdir / "gocache"))
    subprocess.run([go, "build", "-o", "gowire", "."], cwd=copy, check=True, env=env)
    return copy / "gowire"


def bench_go(binary: Path, path: Path, n: int, workers: int) -> Cost:
    """gowire's own wall time per entry, and the CPU time of the whole Go process per entry."""
    per = n // workers
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [str(binary), "-mode", "bench", "-path", str(path), "-n", str(per), "-workers", str(workers)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    for line in out.splitlines():
        if line.startswith("go_emit_ns_per_entry"):
            return float(line.split()[1]) / 1e9, cpu / (per * workers)
    raise RuntimeError(f"unexpected gowire output: {out!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="entries per measurement (all threads)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median and best shown)")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DATA, prefix="bench_recorder_") as tmp:
        workdir = Path(tmp)
        go_binary = build_go(workdir)
        cases: dict[str, Callable[[Path, int], Cost]] = {
            "python FileRecorder.emit": lambda p, w: bench_recorder(p, args.n, w),
            "python emit, stat every emit": lambda p, w: bench_recorder(p, args.n, w, check_interval=0.0),
            "baseline json.dumps+os.write": lambda p, w: bench_baseline(p, args.n, w),
        }
        if go_binary is not None:
            cases["go recorder (gowire)"] = lambda p, w: bench_go(go_binary, p, args.n, w)
        results: dict[tuple[str, int, str], list[float]] = {}
        for round_ in range(args.rounds):
            for workers in (1, 4):
                for name, case in cases.items():
                    path = workdir / f"ledger-{round_}-{workers}.jsonl"
                    wall, cpu = case(path, workers)
                    results.setdefault((name, workers, "wall"), []).append(wall)
                    results.setdefault((name, workers, "cpu"), []).append(cpu)
                    path.unlink()
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        medians = {key: statistics.median(values) for key, values in results.items()}
        bests = {key: min(values) for key, values in results.items()}

    print(f"recorder emit cost, {args.n} entries per measurement, {args.rounds} interleaved rounds")
    print("wall: elapsed time per entry; cpu: CPU time of the whole process per entry (less sensitive")
    print("to other load on the machine). Microseconds.")
    for label, figures in (("median", medians), ("best", bests)):
        heads = [f"{head:>11s}" for head in ("1 thr wall", "1 thr cpu", "4 thr wall", "4 thr cpu")]
        print(f"{label + ' of rounds':32s}" + "".join(heads))
        for name in cases:
            row = [figures[(name, w, m)] * 1e6 for w in (1, 4) for m in ("wall", "cpu")]
            print(f"  {name:30s}" + "".join(f"{value:11.2f}" for value in row))
        for workers in (1, 4):
            parts = []
            for measure in ("wall", "cpu"):
                python = figures[("python FileRecorder.emit", workers, measure)]
                baseline = figures[("baseline json.dumps+os.write", workers, measure)]
                part = f"{measure}: python/baseline {python / baseline:.2f}"
                if go_binary is not None:
                    ratio = python / figures[("go recorder (gowire)", workers, measure)]
                    part += f", python/go {ratio:.2f} ({'within' if ratio <= 2 else 'OVER'} 2x)"
                parts.append(part)
            stat_cost = figures[("python emit, stat every emit", workers, "wall")]
            stat_cost -= figures[("python FileRecorder.emit", workers, "wall")]
            parts.append(f"stat on every emit adds {stat_cost * 1e6:.2f} us wall")
            print(f"  {workers} thread{'s' if workers > 1 else ''}: " + "; ".join(parts))
    if go_binary is None:
        print("go: skipped (no toolchain); python/go ratio not measured")


if __name__ == "__main__":
    main()
