"""A Spark standalone cluster on this machine: a master and workers on 127.0.0.1, each its own JVM.

For trying the Spark engine as a cluster runs it (separate executor JVMs with their own Python
workers and working folders, a ``spark://`` master URL, a driver that is not the executor) without a
cluster, and for the tests and benchmarks that do. It needs the ``[spark]`` extra (pyspark ships
``bin/spark-class``, which starts ``org.apache.spark.deploy.master.Master`` and ``...worker.Worker``)
and Java 17; it does not import pyspark::

    with StandaloneCluster(tmp_path / "cluster") as cluster:  # a master and two one-core workers
        run_period(..., engine="spark", spark=SparkOptions(master=cluster.master_url))

Each daemon runs in its own process group, with its own folders under ``root`` (``worker-N/work``:
its executors' working folders; ``worker-N/local``: their scratch, ``SPARK_LOCAL_DIRS``) and its log
(``master.log``, ``worker-N.log``). :meth:`stop` ends every group (a worker's executors are in its
group; their Python workers end with them), whatever happened; and each daemon is started with the
parent-death signal SIGKILL, so a process that started them and was killed leaves no JVM behind
(Linux).

``hidden``: a folder the last worker cannot see. That worker starts in a mount namespace of its own
(``unshare --mount``) with an empty tmpfs mounted over the folder, as a machine without a shared
mount sees an empty mount point; everything else of the filesystem it sees as the others do. It
needs root, or user namespaces (``unshare --map-root-user``).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

HOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def spark_home() -> Path:
    """The pyspark package's folder (``bin/spark-class``, ``jars/``): SPARK_HOME of a pip install."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "a standalone cluster needs the [spark] extra: pip install 'cocoon-billing[spark]'"
        )
    return Path(spec.origin).parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it ends (Linux prctl)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # (not Linux: stop() still ends it)
        pass


def hiding_prefix() -> list[str]:
    """The ``unshare`` command line that gives a process a mount namespace of its own: plain as root,
    else with a user namespace; RuntimeError when neither works here."""
    for prefix in (
        ["unshare", "--mount", "--propagation", "private"],
        ["unshare", "--map-root-user", "--mount"],
    ):
        try:
            done = subprocess.run([*prefix, "true"], capture_output=True, check=False, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return prefix
    raise RuntimeError("a worker that cannot see a folder needs `unshare --mount` (root or user namespaces)")


@dataclass
class StandaloneCluster:
    """A Spark standalone master and ``workers`` workers of ``cores`` cores on 127.0.0.1 (module doc)."""

    root: Path
    workers: int = 2
    cores: int = 1
    worker_memory: str = "2g"
    hidden: Path | None = None
    daemon_memory: str = "256m"
    master_port: int = field(default=0, init=False)
    web_port: int = field(default=0, init=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        # (absolute: each daemon runs in its own folder, where a relative path would mean another)
        self.root = self.root.absolute()
        self.hidden = None if self.hidden is None else self.hidden.absolute()

    @property
    def master_url(self) -> str:
        """``spark://127.0.0.1:PORT``: what ``--spark-master`` and ``spark-submit --master`` take."""
        return f"spark://{HOST}:{self.master_port}"

    @property
    def web_url(self) -> str:
        """The master's web UI (``/json/`` is its state as JSON)."""
        return f"http://{HOST}:{self.web_port}"

    def __enter__(self) -> StandaloneCluster:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _env(self, name: str) -> dict[str, str]:
        env = {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_LOCAL_IP": HOST,
            "SPARK_DAEMON_MEMORY": self.daemon_memory,
            "SPARK_LOCAL_DIRS": str(self.root / name / "local"),
        }
        env.pop("SPARK_CONF_DIR", None)  # (the daemons' own logging: Spark's defaults, into their logs)
        return env

    def _spawn(self, name: str, args: list[str], prefix: list[str] | None = None) -> None:
        (self.root / name / "local").mkdir(parents=True, exist_ok=True)
        command = [str(spark_home() / "bin" / "spark-class"), *args]
        if prefix is not None and self.hidden is not None:  # an empty tmpfs over `hidden`, then the worker
            mount = 'mount -t tmpfs -o size=1m reconcile-hidden "$0" && exec "$@"'
            command = [*prefix, "sh", "-c", mount, str(self.hidden), *command]
        with (self.root / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command,
                cwd=self.root / name,
                env=self._env(name),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends it and its children
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - (prctl only; no lock is taken)
            )

    def start(self, timeout: float = 90.0) -> None:
        """Start the master and the workers; return when every worker has registered (the master's
        ``/json/``). RuntimeError (with the logs' last lines) if they do not in ``timeout`` s."""
        self.root.mkdir(parents=True, exist_ok=True)
        prefix = None
        if self.hidden is not None:
            prefix = hiding_prefix()
            self.hidden.mkdir(parents=True, exist_ok=True)
        self.master_port, self.web_port = free_port(), free_port()
        try:
            self._spawn(
                "master",
                ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(self.master_port),
                 "--webui-port", str(self.web_port)],
            )  # fmt: skip
            # (a worker that finds no master waits 5 to 15 s to try again: start them once it answers)
            self._wait(lambda: bool(self.state()), "the master did not answer", timeout)
            for n in range(self.workers):
                self._spawn_worker(n, prefix if n == self.workers - 1 else None)
            self._wait_for_workers(self.workers, timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn_worker(self, n: int, prefix: list[str] | None = None) -> None:
        name = f"worker-{n}"
        (self.root / name / "work").mkdir(parents=True, exist_ok=True)
        self._spawn(
            name,
            ["org.apache.spark.deploy.worker.Worker", "--host", HOST, "--cores", str(self.cores),
             "--memory", self.worker_memory, "--webui-port", str(free_port()),
             "--work-dir", str(self.root / name / "work"), self.master_url],
            prefix,
        )  # fmt: skip

    def restart_worker(self, n: int, timeout: float = 90.0) -> None:
        """Start worker ``n`` again (after :meth:`kill_worker`; not the hiding one); return when the
        master holds every worker alive again."""
        if self.hidden is not None and n == self.workers - 1:
            raise ValueError(f"worker {n} is the one that cannot see {self.hidden}: restart another")
        process = self.processes.pop(f"worker-{n}", None)
        if process is not None:
            _kill_group(process, signal.SIGKILL)
            process.wait()
        self._spawn_worker(n)
        self._wait_for_workers(self.workers, timeout)

    def state(self) -> dict[str, object]:
        """The master's state (its ``/json/``); an empty dict while it does not answer."""
        try:
            with urllib.request.urlopen(f"{self.web_url}/json/", timeout=2) as reply:  # noqa: S310 - (http on 127.0.0.1)
                found = json.load(reply)
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def alive_workers(self) -> int:
        """How many workers the master holds alive."""
        workers = self.state().get("workers", [])
        return (
            sum(1 for w in workers if isinstance(w, dict) and w.get("state") == "ALIVE")
            if isinstance(workers, list)
            else 0
        )

    def _wait_for_workers(self, count: int, timeout: float) -> None:
        self._wait(lambda: self.alive_workers() >= count, f"not all {count} workers registered", timeout)

    def _wait(self, done: Callable[[], bool], what: str, timeout: float) -> None:
        """Poll ``done`` until true; RuntimeError (``what``, the logs) if a daemon exits or time runs out."""
        deadline = time.monotonic() + timeout
        while not done():
            dead = [name for name, p in self.processes.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"{what} in {timeout:.0f} s"
                raise RuntimeError(f"standalone cluster in {self.root}: {why}\n{self.logs()}")
            time.sleep(0.1)

    def logs(self, lines: int = 15) -> str:
        """The last lines of every daemon's log."""
        out = []
        for name in self.processes:
            path = self.root / f"{name}.log"
            text = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
            out.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(out)

    def worker_pid(self, n: int) -> int:
        """The process id of worker ``n`` (its process group's id too)."""
        return self.processes[f"worker-{n}"].pid

    def kill_worker(self, n: int) -> None:
        """SIGKILL worker ``n``'s process group, as when its machine dies: the worker and its executors
        (their Python workers, in a group of their own, end as their executor's JVM does)."""
        _kill_group(self.processes[f"worker-{n}"], signal.SIGKILL)

    def stop(self, grace: float = 5.0) -> None:
        """End every daemon's process group (SIGTERM, then SIGKILL after ``grace`` s), workers first."""
        for name in sorted(self.processes, key=lambda n: n == "master"):
            _kill_group(self.processes[name], signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            _kill_group(process, signal.SIGKILL)
            process.wait()
        self.processes.clear()

    def remove(self) -> None:
        """Stop, then remove ``root``."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig`` to ``process``'s group (its id: it was started in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
