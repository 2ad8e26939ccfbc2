"""reconcile.testing.StandaloneCluster leaves no JVM behind: a process that started a cluster and was
killed (SIGKILL: no teardown runs) takes the cluster's daemons with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.spark]  # (a JVM of its own: it may run beside the `spark` group)

STARTER = """
import sys, time
from pathlib import Path
from reconcile.testing import StandaloneCluster
cluster = StandaloneCluster(Path(sys.argv[1]), workers=0)
cluster.start()
print(" ".join(str(p.pid) for p in cluster.processes.values()), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_killed_starter_takes_the_cluster_with_it(tmp_path: Path) -> None:
    """The master a process started ends when that process is killed with SIGKILL."""
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path / "cluster")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert starter.stdout is not None
        pids = [int(p) for p in starter.stdout.readline().split()]
        assert pids
        assert all(_alive(p) for p in pids)
        starter.send_signal(signal.SIGKILL)
        starter.wait()
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids)
    finally:
        starter.kill()
        starter.wait()
