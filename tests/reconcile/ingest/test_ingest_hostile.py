"""Hostile and broken input: any line length, bad files as findings, compressed rotations by magic
bytes, paths that look like patterns, private files, swept spill folders, messages that name things."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
import zstandard

from helpers.run_fixture import ingest_records
from reconcile import IngestSummary, Store, ingest, validate
from reconcile._core._duckdb import engine_errors, literal
from reconcile._core._files import private_files
from reconcile._core._scratch import scratch_dir, scratch_root
from reconcile.exceptions import ResourceError


def _line(vm: str, at: str = "2026-05-01T00:00:00Z") -> bytes:
    return json.dumps(
        {"kind": "vm.compute.start", "vm_id": vm, "shape": {"cpu": 1}, "emitted_at": at},
        separators=(",", ":"),
    ).encode()


def _identity(summary: IngestSummary) -> None:
    assert summary.lines == summary.events + summary.duplicates + summary.rejected + summary.pending


def _vm_ids(store: Path) -> list[str]:
    sql, params = Store(store).relation_sql("events")
    return sorted(
        str(r[0]) for r in duckdb.connect().execute(f"SELECT vm_id FROM ({sql})", params).fetchall()
    )


# --- any line length ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1 << 20) + 1, 2_100_000, 32 << 20])
def test_a_long_last_line_is_a_reject_not_a_lost_line(tmp_path: Path, size: int) -> None:
    """A line over 1 MiB at the end of a file is one line_too_long reject keeping its first 4 KiB;
    nothing is lost and the other lines are events."""
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(_line("a") + b"\n" + b"x" * size + b"\n")
    summary = ingest([ledger], tmp_path / "store")
    _identity(summary)
    assert (summary.lines, summary.events, summary.rejects) == (2, 1, {"line_too_long": 1})
    (reject,) = validate([ledger])
    assert (reject.source_line, reject.code, reject.raw) == (2, "line_too_long", "x" * 4096)


def test_a_long_compressed_line_without_newline_counts(tmp_path: Path) -> None:
    """A .gz whose only line is 40 MiB with no newline: one line, a line_too_long reject."""
    (tmp_path / "ledger.jsonl.1.gz").write_bytes(gzip.compress(b"y" * (40 << 20), 1))
    summary = ingest([tmp_path], tmp_path / "store")
    _identity(summary)
    assert (summary.lines, summary.rejects) == (1, {"line_too_long": 1})


def test_a_long_pending_line_is_read_once_its_newline_arrives(tmp_path: Path) -> None:
    """A 64 MiB torn last line is pending; once complete it is one reject, read exactly once."""
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(_line("a") + b"\n" + b"z" * (64 << 20))
    first = ingest([ledger], tmp_path / "store")
    _identity(first)
    assert (first.lines, first.events, first.pending) == (2, 1, 1)
    with ledger.open("ab") as fh:
        fh.write(b"\n" + _line("b") + b"\n")
    second = ingest([ledger], tmp_path / "store")
    _identity(second)
    assert (second.lines, second.events, second.rejects, second.pending) == (2, 1, {"line_too_long": 1}, 0)
    assert _vm_ids(tmp_path / "store") == ["a", "b"]


_PEAK = """
import sys
from reconcile import ingest
summary = ingest([sys.argv[1]], sys.argv[2])
assert summary.rejects == {"line_too_long": 1}, summary.rejects
# VmHWM (peak RSS) of this process since its exec (ru_maxrss would include the parent's at fork)
status = open("/proc/self/status").read()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


@pytest.mark.slow
def test_memory_does_not_grow_with_the_line(tmp_path: Path) -> None:
    """Ingesting a 512 MiB line costs about the memory of ingesting a 2 MiB one (constant, not the line)."""
    peaks = []
    for size in (2 << 20, 512 << 20):
        ledger = tmp_path / f"l{size}.jsonl.gz"
        with gzip.open(ledger, "wb", compresslevel=1) as fh:
            for _ in range(size >> 20):
                fh.write(b"\x00" * (1 << 20))
            fh.write(b"\n")
        out = subprocess.run(
            [sys.executable, "-c", _PEAK, str(ledger), str(tmp_path / f"s{size}")],
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(out.stdout.strip()) * 1024)
    assert peaks[1] < peaks[0] + (100 << 20), peaks  # a held line would add 512 MiB at least


# --- bad files --------------------------------------------------------------------------------------


def test_a_truncated_gzip_keeps_its_complete_lines(tmp_path: Path) -> None:
    """A .gz cut short: its complete lines are read, the rest is one finding naming the file."""
    body = b"".join(_line(f"v{i}") + b"\n" for i in range(2000))
    data = gzip.compress(body)
    (tmp_path / "ledger.jsonl.1.gz").write_bytes(data[: len(data) * 2 // 3])
    (tmp_path / "ledger.jsonl").write_bytes(_line("live") + b"\n")
    summary = ingest([tmp_path], tmp_path / "store")
    _identity(summary)
    (finding,) = summary.findings
    assert finding.code == "truncated"
    assert finding.path.endswith("ledger.jsonl.1.gz")
    assert 0 < summary.events - 1 < 2000
    vm_ids = _vm_ids(tmp_path / "store")
    assert "live" in vm_ids
    assert "v0" in vm_ids


def test_bad_files_are_findings_and_the_others_are_read(tmp_path: Path) -> None:
    """A dangling symlink, a FIFO (never opened: it would block), a file name that is not UTF-8, a
    file that is not a ledger and one that cannot be read are findings; the good file is ingested."""
    folder = tmp_path / "host"
    folder.mkdir()
    (folder / "good.jsonl").write_bytes(_line("good") + b"\n")
    (folder / "gone.jsonl").symlink_to(folder / "nowhere")
    os.mkfifo(folder / "pipe.jsonl")
    (Path(os.fsdecode(bytes(folder) + b"/bad-\xff.jsonl"))).write_bytes(_line("badname") + b"\n")
    (folder / "notes.txt").write_text("hello\n")
    (folder / "ledger.jsonl.3.lz4").write_bytes(b"\x04\x22\x4d\x18" + os.urandom(64))
    result: list[IngestSummary] = []
    worker = threading.Thread(target=lambda: result.append(ingest([folder], tmp_path / "store")))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the ingest blocked"
    (summary,) = result
    codes = sorted((Path(f.path).name, f.code) for f in summary.findings)
    assert codes == [
        ("bad-\\xff.jsonl", "bad_name"),
        ("gone.jsonl", "missing"),
        ("ledger.jsonl.3.lz4", "not_a_ledger"),
        ("notes.txt", "not_a_ledger"),
        ("pipe.jsonl", "not_regular"),
    ]
    assert _vm_ids(tmp_path / "store") == ["good"]
    record = ingest_records(tmp_path / "store")[0]
    assert len(record["findings"]) == 5


def test_an_unreadable_file_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the process may not read is skipped with a finding (os.access is what decides)."""
    (tmp_path / "a.jsonl").write_bytes(_line("a") + b"\n")
    (tmp_path / "b.jsonl").write_bytes(_line("b") + b"\n")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: not str(p).endswith("b.jsonl") and real(p, mode))
    summary = ingest([tmp_path], tmp_path / "store")
    assert [(Path(f.path).name, f.code) for f in summary.findings] == [("b.jsonl", "unreadable")]
    assert _vm_ids(tmp_path / "store") == ["a"]


def test_every_compression_by_its_magic_bytes(tmp_path: Path) -> None:
    """gzip, bzip2, xz and zstd rotations are read whatever their names (logrotate dateext too);
    concatenated streams are read through; a .gz that is plain text is read as text."""
    lines = {name: _line(name) + b"\n" for name in ("gz", "gz2", "bz", "xz", "zst", "plain", "date")}
    (tmp_path / "ledger.jsonl.2").write_bytes(gzip.compress(lines["gz"]) + gzip.compress(lines["gz2"]))
    (tmp_path / "ledger.jsonl.3.bz2").write_bytes(bz2.compress(lines["bz"]))
    (tmp_path / "ledger.jsonl.4.xz").write_bytes(lzma.compress(lines["xz"]))
    (tmp_path / "ledger.jsonl.5.zst").write_bytes(zstandard.ZstdCompressor().compress(lines["zst"]))
    (tmp_path / "ledger.jsonl.6.gz").write_bytes(lines["plain"])
    (tmp_path / "ledger-2026-11-01.log").write_bytes(gzip.compress(lines["date"]))
    summary = ingest([tmp_path], tmp_path / "store")
    _identity(summary)
    assert summary.findings == []
    assert _vm_ids(tmp_path / "store") == sorted(lines)
    by_name = {Path(i.path).name: i.compression for i in summary.inputs}
    assert by_name["ledger.jsonl.2"] == "gzip"
    assert by_name["ledger.jsonl.5.zst"] == "zstd"
    assert by_name["ledger.jsonl.6.gz"] is None


def test_bytes_after_a_compressed_stream_are_a_finding(tmp_path: Path) -> None:
    """Zero padding after a gzip stream is ignored; other trailing bytes are one finding."""
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(_line("a") + b"\n") + b"\x00" * 100)
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(_line("b") + b"\n") + b"garbage")
    summary = ingest([tmp_path], tmp_path / "store")
    assert [(Path(f.path).name, f.code) for f in summary.findings] == [("b.jsonl.gz", "trailing_data")]
    assert _vm_ids(tmp_path / "store") == ["a", "b"]


# --- paths are never patterns -----------------------------------------------------------------------

WEIRD = "we[i]rd *?{a,b} 'q\" s"


def test_a_file_named_like_a_pattern_is_read_as_itself(tmp_path: Path) -> None:
    """led[1].jsonl is read, not led1.jsonl (DuckDB would expand the brackets)."""
    (tmp_path / "led1.jsonl").write_bytes(_line("one") + b"\n")
    (tmp_path / "led[1].jsonl").write_bytes(_line("bracket") + b"\n")
    ingest([tmp_path / "led[1].jsonl"], tmp_path / "store")
    assert _vm_ids(tmp_path / "store") == ["bracket"]
    assert literal("/a/led[1]*?.jsonl") == "/a/led[[]1][*][?].jsonl"


def test_every_path_may_hold_pattern_characters(tmp_path: Path) -> None:
    """Ledgers, store, output, a FOCUS export and the SQL relations under folders full of [ * ? { ' \""""
    from reconcile import export_focus, read_relation, run_period  # noqa: PLC0415

    root = tmp_path / WEIRD
    (root / "ledgers").mkdir(parents=True)
    (root / "ledgers" / f"{WEIRD}.jsonl").write_bytes(
        _line("w", "2026-05-01T10:00:00Z")
        + b"\n"
        + _line("w", "2026-05-01T11:00:00Z").replace(b"start", b"stop")
        + b"\n"
    )
    decoy = tmp_path / "weird *?{a,b} 'q\" s"  # what the brackets would match
    (decoy / "ledgers").mkdir(parents=True)
    (decoy / "ledgers" / "x.jsonl").write_bytes(_line("decoy") + b"\n")
    store, out = root / f"store {WEIRD}", root / f"out {WEIRD}"
    ingest([root / "ledgers"], store)
    assert _vm_ids(store) == ["w", "w"]  # its start and stop; not the decoy's
    summary = run_period(store, "bundled", out, "2026-05-01")
    assert summary.intervals == {"closed": 1}
    spend = read_relation("daily_spend", out)
    assert spend.height > 0
    rejects = read_relation("rejects", out, store=store)
    assert rejects.height == 0
    dest = root / f"focus {WEIRD}.csv"
    assert export_focus(out, period="2026-05-01", to=dest) > 0


# --- private files, swept spill folders --------------------------------------------------------------


def _modes(root: Path) -> set[tuple[str, int]]:
    found = set()
    for path in [root, *root.rglob("*")]:
        kind = "dir" if path.is_dir() else "file"
        found.add((kind, stat.S_IMODE(path.stat().st_mode)))
    return found


def test_store_and_output_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Files 0600 and folders 0700 in the store and the output, even under umask 000."""
    from reconcile import run_period  # noqa: PLC0415

    (tmp_path / "l.jsonl").write_bytes(_line("p", "2026-05-01T10:00:00Z") + b"\n" + b"junk\n")
    old = os.umask(0)
    try:
        ingest([tmp_path / "l.jsonl"], tmp_path / "store")
        run_period(tmp_path / "store", "bundled", tmp_path / "out", "2026-05-01")
    finally:
        os.umask(old)
    for root in (tmp_path / "store", tmp_path / "out"):
        assert _modes(root) <= {("dir", 0o700), ("file", 0o600)}, root
    assert os.umask(old) == old  # the process umask is back as it was


def test_private_files_nests_and_restores_the_umask() -> None:
    """private_files sets umask 077 inside, nests, and restores the caller's umask."""
    old = os.umask(0o022)
    try:
        with private_files():
            with private_files():
                assert os.umask(0o077) == 0o077
            assert os.umask(0o077) == 0o077
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(old)


def test_spill_folders_of_dead_runs_are_swept(tmp_path: Path) -> None:
    """A scratch folder whose owner died (its lock free) is removed by the next one; a live one stays."""
    with scratch_dir("run") as live:
        dead = scratch_root() / "run-99999-dead"
        (dead / "duckdb").mkdir(parents=True)
        (dead / ".lock").write_text("")
        (dead / "duckdb" / "spill.tmp").write_bytes(b"x" * 1000)
        with scratch_dir("run") as other:
            assert not dead.exists()
            assert live.exists()
            assert other != live
    assert not live.exists()


# --- messages -------------------------------------------------------------------------------------


def test_a_full_disk_names_the_step_and_the_folder() -> None:
    """ENOSPC (from Python or from DuckDB) becomes one ResourceError naming the step and the folder."""
    full = r"ingest: the disk is full writing under /srv/store"
    with pytest.raises(ResourceError, match=full), engine_errors("ingest", where="/srv/store"):
        raise OSError(28, "No space left on device")
    with (
        pytest.raises(ResourceError, match="run 2026-11-01: the disk is full"),
        engine_errors("run 2026-11-01"),
    ):
        raise duckdb.IOException("IO Error: Could not write file: No space left on device")
    memory = r"out of memory \(memory limit 1GB\); raise it with --memory-limit"
    with pytest.raises(ResourceError, match=memory), engine_errors("run 2026-11-01", memory_limit="1GB"):
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to pin block")
    with pytest.raises(PermissionError), engine_errors("ingest"):  # other errors are not disguised
        raise PermissionError(13, "Permission denied")


def test_validate_output_is_escaped(tmp_path: Path) -> None:
    """validate's raw text never carries control bytes to a terminal."""
    ledger = tmp_path / "l.jsonl"
    ledger.write_bytes(b"\x1b[31mred\x07\n")
    proc = subprocess.run(
        [sys.executable, "-m", "reconcile._cli", "validate", "--quiet", str(ledger)],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 1
    assert b"\x1b" not in proc.stdout
    assert b"\x07" not in proc.stdout
    assert b"\\x1b[31mred\\x07" in proc.stdout


@pytest.mark.parametrize("run_lines", [65_536, 7])
def test_runs_of_identical_odd_lines_are_numbered_line_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_lines: int
) -> None:
    """A block of NUL lines (and a run of identical rewritten lines) gives one reject per line, each
    at its own line number, though the pre-scan hands the run over in pieces of up to run_lines."""
    monkeypatch.setattr("reconcile._ingest._prepare.RUN_LINES", run_lines)
    crlf = b'{"kind":"vm.compute.start",\r"vm_id":"r","shape":{},"emitted_at":"2026-05-01T00:00:00Z"}\n'
    body = _line("a") + b"\n" + b"\x00\n" * 1000 + crlf * 3 + b"\x00\x00\n" + _line("b") + b"\n"
    (tmp_path / "l.jsonl").write_bytes(body)
    summary = ingest([tmp_path / "l.jsonl"], tmp_path / "store")
    _identity(summary)
    assert (summary.lines, summary.events, summary.duplicates) == (1006, 3, 2)
    rejects = validate([tmp_path / "l.jsonl"])
    assert [r.source_line for r in rejects] == [*range(2, 1002), 1005]
    assert {r.raw for r in rejects} == {"\x00", "\x00\x00"}
    assert _vm_ids(tmp_path / "store") == ["a", "b", "r"]
