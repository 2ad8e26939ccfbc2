"""Recorders: FileRecorder's guarantees (append, failures, rotation, fork, durability), and the others."""

from __future__ import annotations

import errno
import fcntl
import gc
import io
import logging
import os
import signal
import stat
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recorder import (
    CaptureRecorder,
    Entry,
    FileRecorder,
    Kind,
    NopRecorder,
    Reason,
    Recorder,
    Shape,
    StderrRecorder,
    _recorders,
    open_file_recorder,
)

AT = datetime(2026, 5, 20, 1, 2, 3, 456000, tzinfo=UTC)


def entry(vm_id: str = "vm-1") -> Entry:
    return Entry(
        kind=Kind.VM_COMPUTE_START,
        vm_id=vm_id,
        reason=Reason.BOOT,
        hypervisor="firecracker",
        shape=Shape(2, 1 << 30, 0),
        emitted_at=AT,
    )


def lines(path: Path) -> list[Entry]:
    data = path.read_bytes()
    assert data.endswith(b"\n") or not data
    return [Entry.from_line(line) for line in data.split(b"\n")[:-1]]


# --- the happy path ---------------------------------------------------------------------------------


def test_emit_appends_one_complete_line_per_entry(tmp_path: Path) -> None:
    """Each emit appends exactly the entry's line; the file is created with mode 0600."""
    path = tmp_path / "ledger.jsonl"
    with FileRecorder(path) as recorder:
        for i in range(3):
            recorder.emit(entry(f"vm-{i}"))
    assert path.read_bytes() == b"".join(entry(f"vm-{i}").to_line() for i in range(3))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert recorder.dropped == 0


def test_existing_ledger_is_appended_not_truncated(tmp_path: Path) -> None:
    """Opening an existing ledger keeps its content (O_APPEND, no O_TRUNC)."""
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(entry("old").to_line())
    with FileRecorder(path) as recorder:
        recorder.emit(entry("new"))
    assert [e.vm_id for e in lines(path)] == ["old", "new"]


def test_each_line_is_one_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder hands the kernel one complete line per write() call."""
    writes: list[bytes] = []
    real_write = os.write

    def spy(fd: int, data: bytes) -> int:
        writes.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(_recorders, "_os_write", spy)
    with FileRecorder(tmp_path / "ledger.jsonl", check_interval=0.0) as recorder:
        recorder.emit(entry("a"))
        recorder.emit(entry("b"))
    assert writes == [entry("a").to_line(), entry("b").to_line()]


def test_threads_never_interleave(tmp_path: Path) -> None:
    """8 threads emitting at once: every line parses and none is lost."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path)

    def work(t: int) -> None:
        for i in range(1000):
            recorder.emit(entry(f"vm-{t}-{i}-" + "x" * (i % 300)))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    ids = {e.vm_id.rsplit("-", 1)[0] for e in lines(path)}
    assert len(ids) == 8000
    assert recorder.dropped == 0


def test_every_recorder_satisfies_the_protocol(tmp_path: Path) -> None:
    """All recorders are Recorders (emit), usable as context managers."""
    recorders = [
        FileRecorder(tmp_path / "l"),
        NopRecorder(),
        CaptureRecorder(),
        StderrRecorder(io.StringIO()),
    ]
    for recorder in recorders:
        assert isinstance(recorder, Recorder)
        with recorder as same:
            assert same is recorder
            same.emit(entry())


# --- failures: emit returns, dropped counts, the next emit retries -------------------------------------


def test_disk_full_is_dropped_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """On /dev/full every emit returns, counts in dropped, and failures are logged rate-limited."""
    caplog.set_level(logging.ERROR, logger="recorder")
    recorder = FileRecorder("/dev/full")
    for _ in range(5):
        recorder.emit(entry())
    assert recorder.dropped == 5
    records = [r for r in caplog.records if r.name == "recorder"]
    assert len(records) == 1
    assert "No space left" in records[0].getMessage()
    recorder.close()


def test_rate_limited_log_reports_what_it_skipped(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the quiet interval the next failure is logged with the number not logged in between."""
    caplog.set_level(logging.ERROR, logger="recorder")
    recorder = FileRecorder("/dev/full")
    recorder.emit(entry())
    recorder.emit(entry())
    recorder.emit(entry())
    monkeypatch.setattr(_recorders, "LOG_INTERVAL", 0.0)
    recorder._log_next = 0.0
    recorder.emit(entry())
    messages = [r.getMessage() for r in caplog.records if r.name == "recorder"]
    assert len(messages) == 2
    assert "2 more failures were not logged" in messages[1]
    assert "4 entries dropped" in messages[1]


def test_directory_path_is_dropped_then_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A path that is a directory cannot be opened: emit drops and logs; once fixed, emit writes."""
    caplog.set_level(logging.ERROR, logger="recorder")
    path = tmp_path / "ledger"
    path.mkdir()
    recorder = FileRecorder(path)
    assert not recorder.is_open
    recorder.emit(entry("lost"))
    assert recorder.dropped == 1
    assert any("Is a directory" in r.getMessage() for r in caplog.records)
    path.rmdir()
    recorder.emit(entry("kept"))
    assert recorder.dropped == 1
    assert [e.vm_id for e in lines(path)] == ["kept"]
    recorder.close()


def test_missing_parent_is_dropped_then_retried(tmp_path: Path) -> None:
    """A path whose directory does not exist: emit drops; once the directory exists, emit writes."""
    path = tmp_path / "missing" / "ledger.jsonl"
    recorder = FileRecorder(path)
    recorder.emit(entry("lost"))
    recorder.emit(entry("lost"))
    assert recorder.dropped == 2
    path.parent.mkdir()
    recorder.emit(entry("kept"))
    assert [e.vm_id for e in lines(path)] == ["kept"]
    assert recorder.dropped == 2
    recorder.close()


def test_removed_directory_is_dropped_not_written_to_a_dead_file(tmp_path: Path) -> None:
    """When the ledger's directory is removed, entries are dropped (not written to an unlinked file)."""
    parent = tmp_path / "logs"
    parent.mkdir()
    path = parent / "ledger.jsonl"
    recorder = FileRecorder(path, check_interval=0.0)
    recorder.emit(entry("a"))
    path.unlink()
    parent.rmdir()
    recorder.emit(entry("b"))
    assert recorder.dropped == 1
    assert not recorder.is_open
    recorder.close()


def test_open_file_recorder_keeps_retrying_and_counts_what_it_drops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Unlike Go's NewFileRecorder (a NopRecorder for ever), an unopenable path gives a recorder that
    logs once (the logger's name as the only prefix), counts each entry it cannot write and starts
    writing once the path can be opened."""
    caplog.set_level(logging.ERROR, logger="recorder")
    path = tmp_path / "missing" / "ledger.jsonl"
    recorder = open_file_recorder(path)
    assert isinstance(recorder, FileRecorder)
    assert not recorder.is_open
    recorder.emit(entry())
    recorder.emit(entry())
    assert recorder.dropped == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "recorder"]
    assert messages
    assert all(not m.startswith("recorder:") for m in messages)
    path.parent.mkdir()  # the folder appears (a mount, a fixed permission)
    recorder.emit(entry())
    recorder.close()
    assert recorder.dropped == 2
    assert len(lines(path)) == 1


def test_bad_entry_is_dropped_not_raised(tmp_path: Path) -> None:
    """An object that is not an entry does not raise into the caller; it is counted."""
    path = tmp_path / "ledger.jsonl"
    with FileRecorder(path) as recorder:
        recorder.emit(None)  # type: ignore[arg-type]
        recorder.emit(entry())
    assert recorder.dropped == 1
    assert len(lines(path)) == 1


def test_fd_closed_behind_our_back_is_reopened(tmp_path: Path) -> None:
    """If the host closes the recorder's fd (EBADF), that entry is dropped and the next one lands."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path)
    os.close(recorder._fd)
    recorder.emit(entry("lost"))
    recorder.emit(entry("kept"))
    assert recorder.dropped == 1
    assert [e.vm_id for e in lines(path)] == ["kept"]
    recorder.close()


def test_half_written_line_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short write that cannot be finished (a full disk) is cut off again: no reader sees a fragment."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path)
    real_write = os.write
    calls = 0

    def short_then_full_disk(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, data[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_recorders, "_os_write", short_then_full_disk)
    recorder.emit(entry("broken"))
    assert recorder.dropped == 1
    monkeypatch.setattr(_recorders, "_os_write", real_write)
    recorder.emit(entry("whole"))
    recorder.emit(entry("next"))
    recorder.close()
    assert path.read_bytes() == entry("whole").to_line() + entry("next").to_line()


def test_fragment_after_which_another_writer_appended_stays_and_the_next_line_is_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another process appended after a fragment, cutting it would lose their line: the
    fragment stays, and the next line starts on a fresh line so that it is not swallowed."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path)
    real_write = os.write
    calls = 0

    def short_then_other_writer_then_full_disk(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            written = real_write(fd, data[:10])
            with path.open("ab") as other:
                other.write(entry("other").to_line())
            return written
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_recorders, "_os_write", short_then_other_writer_then_full_disk)
    recorder.emit(entry("broken"))
    assert recorder.dropped == 1
    monkeypatch.setattr(_recorders, "_os_write", real_write)
    recorder.emit(entry("whole"))
    recorder.close()
    raw = path.read_bytes().split(b"\n")
    assert raw[0] == entry("broken").to_line()[:10] + entry("other").to_line()[:-1]
    assert [Entry.from_line(line).vm_id for line in raw[1:-1]] == ["whole"]


def test_a_symlink_at_the_ledger_path_is_refused_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A symlink at the ledger path (to any file) is never followed: the entry is dropped and logged."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    path = tmp_path / "ledger.jsonl"
    path.symlink_to(victim)
    with caplog.at_level(logging.ERROR, logger="recorder"):
        recorder = FileRecorder(path)
        recorder.emit(entry("x"))
    assert victim.read_bytes() == b"precious\n"
    assert recorder.dropped == 1
    assert "symlink" in caplog.text
    path.unlink()
    recorder.emit(entry("after"))
    assert [e.vm_id for e in lines(path)] == ["after"]
    # a symlink swapped in after the ledger was opened is noticed at the next check, and refused too
    path.rename(tmp_path / "ledger.jsonl.1")
    path.symlink_to(victim)
    time.sleep(0.01)
    recorder.emit(entry("refused"))
    assert victim.read_bytes() == b"precious\n"
    assert recorder.dropped == 2
    recorder.close()


def test_short_write_is_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short write (e.g. interrupted) is completed with the rest of the line."""
    path = tmp_path / "ledger.jsonl"
    real_write = os.write
    calls = 0

    def short_once(fd: int, data: bytes) -> int:
        nonlocal calls
        calls += 1
        return real_write(fd, data[:7] if calls == 1 else data)

    monkeypatch.setattr(_recorders, "_os_write", short_once)
    with FileRecorder(path) as recorder:
        recorder.emit(entry("whole"))
    assert path.read_bytes() == entry("whole").to_line()
    assert recorder.dropped == 0


# --- rotation ---------------------------------------------------------------------------------------


def test_rotation_by_rename_then_emit_lands_in_new_file(tmp_path: Path) -> None:
    """After the ledger is renamed away, the next emit creates the path again and writes there."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path)
    recorder.emit(entry("before"))
    path.rename(tmp_path / "ledger.jsonl.1")
    time.sleep(0.01)  # more than the default check interval (1 ms) since the last check
    recorder.emit(entry("after"))
    recorder.close()
    assert [e.vm_id for e in lines(tmp_path / "ledger.jsonl.1")] == ["before"]
    assert [e.vm_id for e in lines(path)] == ["after"]


def test_rotation_noticed_immediately_with_check_every_emit(tmp_path: Path) -> None:
    """With check_interval=0 the path is checked before every write: no entry lands after a rename."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path, check_interval=0.0)
    for i in range(3):
        recorder.emit(entry(f"gen{i}"))
        path.rename(tmp_path / f"ledger.jsonl.{i}")
    recorder.emit(entry("live"))
    recorder.close()
    for i in range(3):
        assert [e.vm_id for e in lines(tmp_path / f"ledger.jsonl.{i}")] == [f"gen{i}"]
    assert [e.vm_id for e in lines(path)] == ["live"]


def test_rotation_by_unlink_reopens(tmp_path: Path) -> None:
    """A removed ledger (no copy kept) is recreated by the next emit."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path, check_interval=0.0)
    recorder.emit(entry("gone"))
    path.unlink()
    recorder.emit(entry("new"))
    recorder.close()
    assert [e.vm_id for e in lines(path)] == ["new"]


def test_rotation_with_copytruncate_keeps_appending(tmp_path: Path) -> None:
    """A ledger truncated in place (copytruncate) is the same file: appends go on at its new end."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path, check_interval=0.0)
    recorder.emit(entry("copied"))
    os.truncate(path, 0)
    recorder.emit(entry("after"))
    recorder.close()
    assert [e.vm_id for e in lines(path)] == ["after"]


# --- fork -------------------------------------------------------------------------------------------


def _wait(pid: int, timeout: float) -> int | None:
    """The child's exit status, or None (after killing it) if it did not finish in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return None


def test_fork_while_another_thread_holds_the_lock(tmp_path: Path) -> None:
    """A child forked while another thread holds the recorder's lock can emit (no deadlock)."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path)
    capture = CaptureRecorder()
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with recorder._lock, capture._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: the holder thread does not exist here
            code = 1
            try:
                signal.alarm(10)
                recorder.emit(entry("child"))
                capture.emit(entry("child"))
                code = 0 if recorder.dropped == 0 and len(capture.entries()) == 1 else 2
            finally:
                os._exit(code)
        status = _wait(pid, timeout=20)
    finally:
        release.set()
        holder.join()
    assert status == 0, "the child deadlocked or failed"
    recorder.emit(entry("parent"))
    recorder.close()
    assert sorted(e.vm_id for e in lines(path)) == ["child", "parent"]


# --- durability, close ------------------------------------------------------------------------------


def test_durable_mode_opens_with_o_dsync(tmp_path: Path) -> None:
    """durable=True opens the ledger with O_DSYNC: each write reaches the disk before emit returns."""
    path = tmp_path / "ledger.jsonl"
    with FileRecorder(path, durable=True) as recorder:
        recorder.emit(entry())
        assert fcntl.fcntl(recorder._fd, fcntl.F_GETFL) & os.O_DSYNC
    with FileRecorder(tmp_path / "plain.jsonl") as plain:
        assert not fcntl.fcntl(plain._fd, fcntl.F_GETFL) & os.O_DSYNC
    assert len(lines(path)) == 1


def test_durable_mode_without_o_dsync_fsyncs_each_emit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where O_DSYNC does not exist, durable mode calls fsync after each write."""
    monkeypatch.setattr(_recorders, "_O_DSYNC", 0)
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    path = tmp_path / "ledger.jsonl"
    with FileRecorder(path, durable=True) as recorder:
        monkeypatch.setattr(os, "fsync", spy)
        for _ in range(3):
            recorder.emit(entry())
        assert synced == [recorder._fd] * 3
    assert len(lines(path)) == 3


def test_close_and_context_manager(tmp_path: Path) -> None:
    """close() releases the ledger file; later emits are dropped and counted; closing twice is fine."""
    path = tmp_path / "ledger.jsonl"
    with FileRecorder(path) as recorder:
        recorder.emit(entry("in"))
        fd = recorder._fd
        assert os.fstat(fd).st_ino == path.stat().st_ino
    assert not recorder.is_open
    # The number stays reserved on /dev/null, so a racing emit cannot hit a file opened later.
    assert os.fstat(fd).st_rdev == os.stat(os.devnull).st_rdev
    recorder.emit(entry("after close"))
    recorder.close()
    assert recorder.dropped == 1
    assert [e.vm_id for e in lines(path)] == ["in"]
    del recorder
    gc.collect()
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)


# --- the other recorders ----------------------------------------------------------------------------


def test_capture_recorder_entries_is_a_copy_and_reset_clears() -> None:
    """CaptureRecorder keeps entries in order; entries() is a copy; reset() forgets them."""
    capture = CaptureRecorder()
    capture.emit(entry("a"))
    capture.emit(entry("b"))
    got = capture.entries()
    got.clear()
    assert [e.vm_id for e in capture.entries()] == ["a", "b"]
    capture.reset()
    assert capture.entries() == []


def test_capture_recorder_is_thread_safe() -> None:
    """Entries emitted from many threads are all kept."""
    capture = CaptureRecorder()
    threads = [threading.Thread(target=lambda: [capture.emit(entry()) for _ in range(500)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(capture.entries()) == 2000


def test_stderr_recorder_writes_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """StderrRecorder writes each line to the current sys.stderr, or to the stream it was given."""
    StderrRecorder().emit(entry("to-stderr"))
    assert capsys.readouterr().err == entry("to-stderr").to_line().decode()
    stream = io.StringIO()
    StderrRecorder(stream).emit(entry("é"))
    assert stream.getvalue() == entry("é").to_line().decode()


def test_stderr_recorder_failure_is_dropped() -> None:
    """A broken stream does not raise into the caller; the entry is counted."""
    stream = io.StringIO()
    stream.close()
    recorder = StderrRecorder(stream)
    recorder.emit(entry())
    assert recorder.dropped == 1


def test_nop_recorder_discards() -> None:
    """NopRecorder accepts entries and does nothing."""
    recorder = NopRecorder()
    recorder.emit(entry())
    recorder.close()
    assert recorder.dropped == 0


def test_emit_from_inside_emit_does_not_deadlock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An emit re-entered on the same thread (a signal handler running mid-emit) completes."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path)
    real_write = os.write
    nested = False

    def write_after_handler(fd: int, data: bytes) -> int:
        nonlocal nested
        if not nested:
            nested = True
            recorder.emit(entry("from-handler"))  # what a signal handler would do at this point
        return real_write(fd, data)

    monkeypatch.setattr(_recorders, "_os_write", write_after_handler)
    worker = threading.Thread(target=recorder.emit, args=(entry("outer"),), daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "emit deadlocked on its own lock"
    recorder.close()
    assert [e.vm_id for e in lines(path)] == ["from-handler", "outer"]


def test_relative_path_survives_chdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative ledger path is fixed at construction: a rotation after chdir reopens the same path."""
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    recorder = FileRecorder("ledger.jsonl", check_interval=0.0)
    recorder.emit(entry("a"))
    monkeypatch.chdir(tmp_path / "elsewhere")
    (tmp_path / "ledger.jsonl").rename(tmp_path / "ledger.jsonl.1")
    recorder.emit(entry("b"))
    recorder.close()
    assert [e.vm_id for e in lines(tmp_path / "ledger.jsonl")] == ["b"]
    assert not (tmp_path / "elsewhere" / "ledger.jsonl").exists()


def test_reopen_keeps_the_descriptor_number(tmp_path: Path) -> None:
    """A reopen after rotation moves the new file onto the same descriptor number (dup2), so a thread
    that read the number just before can only write to a ledger file."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path, check_interval=0.0)
    recorder.emit(entry("a"))
    fd = recorder._fd
    path.rename(tmp_path / "ledger.jsonl.1")
    recorder.emit(entry("b"))
    assert recorder._fd == fd
    assert os.fstat(fd).st_ino == path.stat().st_ino
    recorder.close()


def test_threads_emitting_through_rotations_lose_nothing(tmp_path: Path) -> None:
    """4 threads emit while the ledger is renamed away 5 times: every line of every generation parses
    and the total is exact (no torn line, no entry written to a closed or foreign descriptor)."""
    path = tmp_path / "ledger.jsonl"
    recorder = FileRecorder(path)
    stop = threading.Event()

    def work(t: int) -> None:
        i = 0
        while not stop.is_set() or i < 2000:
            recorder.emit(entry(f"vm-{t}-{i}"))
            i += 1

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for generation in range(5):
        time.sleep(0.02)
        path.rename(tmp_path / f"ledger.jsonl.{generation}")
    time.sleep(0.02)  # the threads notice the last rotation too
    stop.set()
    for thread in threads:
        thread.join()
    recorder.close()
    files = [path, *(tmp_path / f"ledger.jsonl.{g}" for g in range(5))]
    ids = [e.vm_id for file in files for e in lines(file)]
    assert recorder.dropped == 0
    assert len(ids) == len(set(ids))
    per_thread = Counter(vm_id.split("-")[1] for vm_id in ids)
    for t in range(4):
        assert (
            max(int(v.rsplit("-", 1)[1]) for v in ids if v.split("-")[1] == str(t)) + 1 == per_thread[str(t)]
        )
    assert lines(path), "entries after the last rotation land in the new file"
