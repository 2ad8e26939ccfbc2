"""What a cluster must give the Spark engine, checked before its job runs.

On ``local[N]`` the executors are threads of the driver's JVM: every path, variable and Python is the
driver's by construction. On a cluster each executor is a JVM of its own, on its own machine, with its
own Python workers, working folder and environment. The engine needs of every executor:

- the store and the output folder at the same absolute path as the driver sees them (one shared POSIX
  filesystem): Spark's readers read the store's day files and the checkpoint's copy there, and the
  tasks write their parts under the output's staging folder, where the driver commits them;
- the driver's build of ``reconcile`` (its code and SQL decide every row: an executor running another
  build could write other rows under the same ``run_id``), in a Python that can import it.

:class:`Probe` runs as one small task per core Spark offers before the job (every registered
executor's idle cores take one at once); each reports what it sees, and :func:`check_executors`
fails the run on the first problem with one line naming the executor, the path and what to do. An
executor that joins later is checked by its own tasks (:func:`require_shared`), and the driver checks
that the staged files hold every row the tasks wrote (``_run``): no row is ever lost to a folder only
an executor sees.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import socket
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from reconcile._core._sql import sql_root

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MARKER: Final = "executors-see-this"
"""The file the driver writes in the job's parts folder (under the output's staging folder): an
executor that does not see it does not see the driver's output folder."""

_CANNOT_RUN: Final = re.compile(r'Cannot run program "([^"]+)"[^:]*: (error=\d+, [^;]+)')
SHARED: Final = (
    "the store and the output folder must be one filesystem mounted at the same path on the driver and"
    " every executor (docs/SCALING.md)"
)


@functools.cache
def build_digest() -> str:
    """A digest of this ``reconcile``'s code and SQL (names and bytes): equal on two machines when they
    run the same build."""
    digest = hashlib.sha256()
    package = Path(str(sys.modules[__name__.partition(".")[0]].__file__)).resolve().parent
    for root, pattern in ((package, "*.py"), (sql_root(), "*.sql")):
        for path in sorted(root.rglob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def where() -> str:
    """This executor as a message names it: its host and working folder (a standalone executor's is
    ``work/app-.../<executor id>``)."""
    return f"an executor on {socket.gethostname()} (in {os.getcwd()})"


def write_marker(parts: Path) -> None:
    """The driver's side: the file every executor must see in the job's parts folder."""
    (parts / MARKER).write_text(
        "the Spark engine's executors read this file to prove they share the folder\n"
    )


def require_shared(parts: str, store: str | None = None) -> None:
    """A task's side: raise SharedPathError unless this executor sees the parts folder's marker."""
    if not (Path(parts) / MARKER).is_file():
        raise SharedPathError(f"{where()} cannot see the output folder's staging at {parts}: {SHARED}")
    if store is not None and not (Path(store) / "store.json").is_file():
        raise SharedPathError(f"{where()} cannot see the store at {store}: {SHARED}")


class SharedPathError(RuntimeError):
    """An executor does not see a path the driver sees."""


@dataclass(frozen=True)
class Probe:
    """What one probe task checks, and its report: ``(executor, problem)``, problem empty when none."""

    store: str  # the store's absolute path
    files: tuple[str, ...]  # some of the store's files the job reads (absolute)
    parts: str  # the job's parts folder (absolute), holding MARKER
    build: str  # the driver's build_digest()

    def __call__(self, _: Iterable[int]) -> Iterator[tuple[str, str]]:
        yield where(), self.problem()

    def problem(self) -> str:
        """What this executor lacks, in one line; empty when nothing."""
        if build_digest() != self.build:
            return (
                f"{where()} runs another build of reconcile ({build_digest()}, the driver's {self.build}):"
                " give the executors the driver's environment (PYSPARK_PYTHON or spark.pyspark.python,"
                " spark-submit --archives; docs/SCALING.md)"
            )
        try:
            require_shared(self.parts, self.store)
        except SharedPathError as error:
            return str(error)
        for file in self.files:
            if not Path(file).is_file():
                return f"{where()} cannot see the store's file {file}: {SHARED}"
        return ""


def check_executors(spark: SparkSession, probe: Probe) -> int:
    """Run ``probe`` on every core Spark offers now; raise SharedPathError with the first problem. The
    number of executors that answered."""
    context = spark.sparkContext
    tasks = max(2, context.defaultParallelism)
    reports = context.parallelize(range(tasks), tasks).mapPartitions(probe).collect()
    for _, problem in reports:
        if problem:
            raise SharedPathError(problem)
    return len({executor for executor, _ in reports})


def explain(line: str, store: str, files: Sequence[str]) -> str:
    """A failed job's one line, with what to do when it is a cluster's: an executor whose Python cannot
    import reconcile, or that cannot read a store file the driver listed."""
    ship = "give them the driver's environment (PYSPARK_PYTHON or spark.pyspark.python, spark-submit"
    ship += " --archives; docs/SCALING.md)"
    if "No module named 'reconcile'" in line or "No module named 'duckdb'" in line:
        return f"the executors' Python cannot import the engine ({line}): {ship}"
    python = _CANNOT_RUN.search(line)
    if python is not None:
        return f"the executors cannot run the Python {python.group(1)} ({python.group(2)}): {ship}"
    missing = next((f for f in files if f in line), None)
    if missing is not None and ("not exist" in line.lower() or "FILE_NOT_EXIST" in line):
        return f"an executor cannot read the store's file {missing} (store {store}): {SHARED}"
    return line
