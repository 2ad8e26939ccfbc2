"""Private scratch folders for DuckDB's spill files and copies, removed even after a killed run.

Every scratch folder lives under one folder per user, ``$TMPDIR/reconcile-<uid>/`` (mode 0700), and
holds a lock file its owner keeps locked (``flock``) while it lives. Creating a scratch folder first
sweeps the folders of dead owners: a lock that can be taken belongs to a process that is gone (the
kernel releases a ``flock`` when its process dies, however it dies). So a run killed with SIGKILL
leaves its spill files only until the next run, validate or pairing of the same user.

The event store keeps its own scratch folder (``STORE/.tmp``, cleaned by the next writer under the
store's lock); this module serves everything else.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_LOCK = ".lock"
_ORPHAN_SECONDS = 3600  # a folder with no lock file (its owner died creating it) older than this


def scratch_root() -> Path:
    """``$TMPDIR/reconcile-<uid>``: the parent of this user's scratch folders."""
    return Path(tempfile.gettempdir()) / f"reconcile-{os.getuid()}"


def _private_root() -> Path | None:
    """The per-user root, created 0700; None when it exists but is not safely ours (another user's
    folder or a symlink planted in a shared temp folder): then scratch goes straight to $TMPDIR."""
    root = scratch_root()
    with contextlib.suppress(FileExistsError):
        root.mkdir(mode=0o700)
    try:
        info = os.lstat(root)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return root


def _held(lock: Path) -> bool:
    """Whether a live process holds the flock on ``lock``."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (also releases the lock just taken)
    return False


def sweep(root: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` whose owner is gone; the folders removed."""
    removed: list[Path] = []
    try:
        children = list(root.iterdir())
    except OSError:
        return removed
    for child in children:
        lock = child / _LOCK
        try:
            if not child.is_dir() or child.is_symlink():
                continue
            if lock.exists():
                if _held(lock):
                    continue
            elif time.time() - child.stat().st_mtime < _ORPHAN_SECONDS:
                continue  # being created right now
        except OSError:
            continue
        shutil.rmtree(child, ignore_errors=True)
        removed.append(child)
    return removed


@contextlib.contextmanager
def scratch_dir(kind: str) -> Iterator[Path]:
    """A private scratch folder (mode 0700) for the duration of the block; leftovers of dead owners
    are swept first. ``kind`` prefixes its name (``run``, ``validate``, ``pair``)."""
    root = _private_root()
    if root is not None:
        sweep(root)
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=root))
    fd = os.open(folder / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)
