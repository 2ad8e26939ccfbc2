"""File operations shared by the store and the output writer: fsync, atomic JSON replace, flock,
private modes.

Private modes: the store and the output hold billing data (the rejects even hold raw ledger text),
so everything the engine creates there is private to its user: files 0600, folders 0700, whatever
the process umask says. :func:`private_files` sets the umask to 077 while a writer works (DuckDB's
threads create their files under it too) and puts the previous one back after.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from reconcile.exceptions import OutputError, ReconcileError, StoreLockedError

PRIVATE_UMASK = 0o077
_umask_lock = threading.Lock()
_umask_depth = 0
_umask_saved = 0


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Files and folders created in this block are private (umask 077); nests, thread-safe."""
    global _umask_depth, _umask_saved  # noqa: PLW0603 - the process umask is process-wide state
    with _umask_lock:
        if _umask_depth == 0:
            _umask_saved = os.umask(PRIVATE_UMASK)
        _umask_depth += 1
    try:
        yield
    finally:
        with _umask_lock:
            _umask_depth -= 1
            if _umask_depth == 0:
                os.umask(_umask_saved)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; an existing folder keeps its mode."""
    with private_files():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)


def open_lock_file(folder: Path, name: str = ".lock") -> int:
    """Open (creating it, and its folder, private) the lock file of ``folder``; raises OSError."""
    make_private_dir(folder)
    return os.open(folder / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` (``root`` included) to disk."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fsync_path(Path(dirpath) / name)
        fsync_path(Path(dirpath))


def write_json_atomic(path: Path, data: object, *, compact: bool = False) -> None:
    """Replace ``path`` with ``data`` as JSON, all or nothing: a temp file, fsync, rename, fsync folder.

    ``compact``: on one line (json's C encoder: a document of ten thousand files' entries in about
    a tenth of the time the indented form takes, which only the pure-Python encoder writes)."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        if compact:
            fh.write(json.dumps(data, sort_keys=True, separators=(",", ":")))
        else:
            json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fsync_path(path.parent)


_POLL_SECONDS = 0.05


def read_json(path: Path, what: str, error: type[ReconcileError] = OutputError) -> object | None:
    """The JSON document in ``path`` (None when there is no such file); ``error`` naming the file and
    ``what`` it is when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: unreadable {what}: {exc}") from None


def read_journal(path: Path) -> tuple[str, list[dict[str, str]]] | None:
    """The token and swaps of an output folder's commit journal (None: no commit in progress);
    OutputError naming it when it is unreadable or damaged (then the commit cannot be finished)."""
    journal = read_json(path, "commit journal")
    if journal is None:
        return None
    swaps = journal.get("swaps") if isinstance(journal, dict) else None
    token = journal.get("token") if isinstance(journal, dict) else None
    keys = ("target", "source", "trash")
    if not isinstance(token, str) or not token or not isinstance(swaps, list):
        swaps = None
    elif all(isinstance(s, dict) and all(isinstance(s.get(k), str) for k in keys) for s in swaps):
        return token, [{k: str(s[k]) for k in keys} for s in swaps]
    raise OutputError(
        f"{path}: damaged commit journal (no token or list of swaps): the commit it stood for cannot be"
        f" finished; run `reconcile verify --output {path.parent}`, move the journal out of the folder"
        ' and rerun the periods verify names (docs/OPERATIONS.md, "Damaged files")'
    )


def flock_exclusive(fd: int, *, wait: float, busy: Callable[[str], str]) -> None:
    """Take the exclusive flock on the open lock file ``fd``, polling up to ``wait`` seconds.

    On success our pid is written into the lock file (for the next process's message). When another
    process still holds it after ``wait``, raises :class:`StoreLockedError` with ``busy(holder_pid)``;
    the caller closes ``fd`` (closing it is also what releases the lock).
    """
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
                raise StoreLockedError(busy(holder)) from None
            time.sleep(_POLL_SECONDS)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)


OUTPUT_LOCK = ".lock"


def lock_output(path: Path, *, wait: float) -> int:
    """Take the exclusive flock on ``path/.lock`` (an output folder, created if missing), polling up
    to ``wait`` seconds; the open fd holds it (close it to release). Standard library only, so the
    command line takes it before it imports the engine."""
    lock_path = path / OUTPUT_LOCK
    try:
        fd = open_lock_file(path, OUTPUT_LOCK)
    except OSError as exc:
        raise OutputError(
            f"output folder {path}: cannot take its lock {lock_path}: {exc.strerror or exc}"
        ) from None
    try:
        flock_exclusive(
            fd,
            wait=wait,
            busy=lambda holder: (
                f"output folder {path} is in use by another run (pid {holder}); "
                "wait for it to finish or pass --wait SECONDS"
            ),
        )
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def holding_output(path: str | os.PathLike[str], *, wait: float) -> Iterator[int]:
    """``with holding_output(dir, wait=...) as fd:`` the output folder's lock, released at the end."""
    fd = lock_output(Path(path), wait=wait)
    try:
        yield fd
    finally:
        os.close(fd)
