"""Many writers on one ledger, and what importing ``recorder`` costs a VM host."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from recorder import Entry

SRC = Path(__file__).resolve().parents[2] / "src"

WRITER = """
import sys, threading
from recorder import Entry, FileRecorder, Kind, Shape

path, proc, threads, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
recorder = FileRecorder(path)

def work(thread):
    for i in range(count):
        # Line lengths vary (about 150 to 550 bytes) so that torn or interleaved writes would show.
        recorder.emit(Entry(kind=Kind.VM_COMPUTE_START, vm_id=f"p{proc}-t{thread}-{i}",
                            hypervisor="h" * ((i * 7919 + proc) % 400), shape=Shape(proc, thread, i)))

workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for w in workers:
    w.start()
for w in workers:
    w.join()
recorder.close()
sys.exit(1 if recorder.dropped else 0)
"""


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))


@pytest.mark.slow
def test_8_processes_4_threads_20000_entries_each(tmp_path: Path) -> None:
    """8 processes x 4 threads x 20,000 emits into one file: every line parses, the count is exact,
    and each writer's entries are all there exactly once."""
    procs, threads, count = 8, 4, 20_000
    path = tmp_path / "ledger.jsonl"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(p), str(threads), str(count)], env=_env()
        )
        for p in range(procs)
    ]
    codes = [writer.wait(timeout=600) for writer in writers]
    assert codes == [0] * procs
    seen: Counter[tuple[int, int]] = Counter()
    total = 0
    with path.open("rb") as ledger:
        for line in ledger:
            entry = Entry.from_line(line)
            assert entry.vm_id == f"p{entry.shape.cpu}-t{entry.shape.mem_bytes}-{entry.shape.storage_bytes}"
            assert len(entry.hypervisor) == (entry.shape.storage_bytes * 7919 + entry.shape.cpu) % 400
            seen[(entry.shape.cpu, entry.shape.mem_bytes)] += 1
            total += 1
    assert total == procs * threads * count
    assert seen == {(p, t): count for p in range(procs) for t in range(threads)}


def _modules_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_import_loads_only_the_standard_library() -> None:
    """`import recorder` in a fresh interpreter loads nothing outside the standard library (compared
    with a bare interpreter started the same way, which may preload its own hooks)."""
    baseline = _modules_after("")
    loaded = _modules_after("import recorder")
    new = loaded - baseline
    assert "recorder" in new
    assert "recorder._recorders" in new
    outside = {
        name
        for name in new
        if name.partition(".")[0] not in sys.stdlib_module_names and name.partition(".")[0] != "recorder"
    }
    assert outside == set(), f"import recorder loaded non-stdlib modules: {sorted(outside)}"


def test_import_check_would_see_a_third_party_module() -> None:
    """The comparison above does notice a module outside the standard library (hypothesis here)."""
    new = _modules_after("import recorder, hypothesis") - _modules_after("")
    assert any(name.partition(".")[0] not in sys.stdlib_module_names for name in new - {"recorder"})
