"""Ingest reads many files in few batched DuckDB reads and writes events day by day: every way it
can read and write gives the same store as one file read and written the plainest way."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from reconcile import IngestSummary, Store, generate_ledger, ingest
from reconcile._ingest import _scan
from reconcile._store._reader import FileState

DATA = Path(__file__).resolve().parents[2] / "data"
FLEET = DATA / "fleet"
EDGE = DATA / "ingest" / "edge_cases.jsonl"


def _identity(summary: IngestSummary) -> None:
    assert summary.lines == summary.events + summary.duplicates + summary.rejected + summary.pending


def _store_rows(store: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The events (every column but the ingest id) and rejects of a store, in a fixed order."""
    con = duckdb.connect()
    sql, params = Store(store).relation_sql("events")
    events = con.execute(f"SELECT * EXCLUDE (ingest_id) FROM ({sql}) ORDER BY ALL", params).fetchall()
    sql, params = Store(store).relation_sql("rejects")
    rejects = con.execute(f"SELECT * EXCLUDE (ingest_id) FROM ({sql}) ORDER BY ALL", params).fetchall()
    return events, rejects


def _line(vm: str, at: str, reason: str = "boot") -> bytes:
    entry = {"kind": "vm.compute.start", "vm_id": vm, "reason": reason, "shape": {"cpu": 1}, "emitted_at": at}
    return json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()


def _rotated_hosts(root: Path, lines: list[bytes], per_file: int) -> list[tuple[Path, int]]:
    """``lines`` cut into files of ``per_file`` lines, four per host folder as logrotate leaves them
    (two gzip, two plain); each file with the place of its first line in ``lines``."""
    names = ("ledger.jsonl.3.gz", "ledger.jsonl.2.gz", "ledger.jsonl.1", "ledger.jsonl")
    files = []
    for k, first in enumerate(range(0, len(lines), per_file)):
        host, place = divmod(k, len(names))
        path = root / f"host-{host:03d}" / names[place]
        path.parent.mkdir(parents=True, exist_ok=True)
        text = b"".join(line + b"\n" for line in lines[first : first + per_file])
        path.write_bytes(gzip.compress(text, mtime=0) if path.name.endswith(".gz") else text)
        files.append((path, first))
    return files


def test_many_small_files_give_what_one_file_gives(tmp_path: Path) -> None:
    """Eighty small files, plain and gzip in host folders, read in one batch: the same events and
    rejects as the same lines in one file, each numbered with its own file's lines, and each file
    with its own record and state."""
    text = io.BytesIO()
    generate_ledger(text, lines=400, seed=1, days=2)
    lines = text.getvalue().splitlines()
    lines[7] = b"not json"  # a reject, in the first file
    lines[203] = lines[202]  # a duplicate within a file
    lines[390] = lines[10]  # and across files
    one = tmp_path / "one.jsonl"
    one.write_bytes(b"".join(line + b"\n" for line in lines))
    s_one = ingest([one], tmp_path / "store-one")
    files = _rotated_hosts(tmp_path / "hosts", lines, per_file=5)
    s_many = ingest([tmp_path / "hosts"], tmp_path / "store-many")
    _identity(s_many)
    assert len(s_many.inputs) == len(files) == 80
    assert (s_many.lines, s_many.events, s_many.duplicates, s_many.rejects) == (
        s_one.lines,
        s_one.events,
        s_one.duplicates,
        s_one.rejects,
    )
    first_line = {str(path): first for path, first in files}
    one_events, one_rejects = _store_rows(tmp_path / "store-one")
    many_events, many_rejects = _store_rows(tmp_path / "store-many")
    # (file, line) in the many files maps back to the line of the one file
    assert sorted((e[0], first_line[e[15]] + e[16]) for e in many_events) == sorted(
        (e[0], e[16]) for e in one_events
    )
    assert [(r[0], first_line[r[1]] + r[2], r[3]) for r in many_rejects] == [
        (r[0], r[2], r[3]) for r in one_rejects
    ]
    state = Store(tmp_path / "store-many").files_state()
    assert sorted(state) == sorted(first_line)
    assert {s.lines for s in state.values()} == {5}
    again = ingest([tmp_path / "hosts"], tmp_path / "store-many")
    assert (again.lines, again.events) == (0, 0)


def test_bundled_or_not_every_way_of_reading_gives_the_same_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files read through bundles (one, or one a file), each as a source of its own, or each in a
    batch of its own give the same store, whatever the mix of plain, grown and gzip files and odd
    lines."""
    results = []
    for small, bundle, one_pass in ((1 << 20, 1 << 30, 3 << 30), (1 << 20, 1, 3 << 30), (0, 1, 1)):
        monkeypatch.setattr("reconcile._ingest._prepare.SMALL_SOURCE_BYTES", small)
        monkeypatch.setattr("reconcile._ingest._prepare.BUNDLE_BYTES", bundle)
        monkeypatch.setattr("reconcile._ingest._parse.ONE_PASS_MAX_BYTES", one_pass)
        store = tmp_path / f"store-{small}-{bundle}-{one_pass}"
        first = ingest([FLEET / "host-a"], store)
        summary = ingest([FLEET, EDGE], store)
        _identity(summary)
        results.append((first.events, summary.lines, summary.events, summary.rejects, _store_rows(store)))
    assert results[0] == results[1] == results[2]


def test_events_written_day_by_day_or_partitioned_give_the_same_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events written one query per day (time-ordered lines) and by one PARTITION_BY query (lines
    out of order: each day would read the scratch too often) are the same rows in the same days,
    over an empty store and over one that already holds some of them."""
    results = []
    for passes in (1e9, 0.0):
        monkeypatch.setattr("reconcile._ingest._dedupe.MAX_DAY_PASSES", passes)
        store = tmp_path / f"store-{passes}"
        first = ingest([FLEET / "host-a"], store)
        second = ingest([FLEET, EDGE], store)
        days = sorted(Store(store).ingests()[-1].days.items())
        results.append((first.events, second.events, second.duplicates, days, _store_rows(store)))
    assert results[0] == results[1]
    assert results[0][2] > 0  # the second ingest met events the first had stored


@pytest.mark.parametrize("small", [0, 1 << 20])
def test_a_torn_tail_cut_inside_a_character_is_not_read_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: int
) -> None:
    """A torn last line cut inside a UTF-8 character would make DuckDB refuse the ledger read in
    place: its complete lines are copied (or bundled) instead, and the line is read once complete."""
    monkeypatch.setattr("reconcile._ingest._prepare.SMALL_SOURCE_BYTES", small)
    torn = tmp_path / "a" / "ledger.jsonl"
    torn.parent.mkdir()
    late = _line("a2", "2026-05-01T00:00:01Z", "é")
    cut = late.index("é".encode()) + 1  # inside the character
    torn.write_bytes(_line("a1", "2026-05-01T00:00:00Z") + b"\n" + late[:cut])
    other = tmp_path / "b" / "ledger.jsonl"
    other.parent.mkdir()
    other.write_bytes(b"".join(_line(f"b{i}", f"2026-05-01T00:00:0{i}Z") + b"\n" for i in range(3)))
    summary = ingest([tmp_path], tmp_path / "store")
    _identity(summary)
    assert (summary.lines, summary.events, summary.pending) == (5, 4, 1)
    with torn.open("ab") as fh:
        fh.write(late[cut:] + b"\n")
    again = ingest([tmp_path], tmp_path / "store")
    assert (again.lines, again.events, again.pending) == (1, 1, 0)
    (event,) = [e for e in _store_rows(tmp_path / "store")[0] if e[5] == "a2"]  # (vm_id)
    assert (event[8], event[16]) == ("é", 2)  # reason, source_line


def test_a_batch_duckdb_refuses_is_read_again_through_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When DuckDB refuses a batch that reads ledgers in place (bytes it cannot take appended while
    it read, say), the batch is read again with those ledgers copied: the same store, every line
    read once."""
    import reconcile._ingest as stage  # noqa: PLC0415

    monkeypatch.setattr("reconcile._ingest._prepare.SMALL_SOURCE_BYTES", 0)  # (read in place, not bundled)
    clean = ingest([FLEET, EDGE], tmp_path / "clean")
    forced: list[bool] = []
    real_prepare, real_parse = stage.prepare, stage.parse  # type: ignore[attr-defined]

    def prepare(*args: Any, force_copy: bool = False) -> Any:
        forced.append(force_copy)
        return real_prepare(*args, force_copy=force_copy)

    def parse(con: duckdb.DuckDBPyConnection, batch: Any, *, memory_limit: str) -> None:
        if any(not p.copy for p in batch.files):
            raise duckdb.InvalidInputException("Invalid unicode (byte sequence mismatch) detected")
        real_parse(con, batch, memory_limit=memory_limit)

    monkeypatch.setattr(stage, "prepare", prepare)
    monkeypatch.setattr(stage, "parse", parse)
    summary = ingest([FLEET, EDGE], tmp_path / "store")
    _identity(summary)
    assert forced.count(True) > 0
    assert (summary.lines, summary.events, summary.duplicates, summary.rejects) == (
        clean.lines,
        clean.events,
        clean.duplicates,
        clean.rejects,
    )
    assert _store_rows(tmp_path / "store") == _store_rows(tmp_path / "clean")


@pytest.mark.parametrize("case", ["new", "grown", "replaced", "torn", "shrunk"])
def test_a_small_file_is_planned_as_a_big_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """The one-read plan of a small live file (digests and plain check from the same bytes) is the
    plan of the two reads a big file gets: new, grown, replaced, with a torn tail, or shrunk."""
    path = tmp_path / "ledger.jsonl"
    old_text = b"".join(_line(f"v{i}", f"2026-05-01T00:00:0{i}Z") + b"\n" for i in range(4))
    path.write_bytes(old_text)
    old = None
    if case != "new":
        first = _scan.plan_file(path, 0, None)
        old = FileState(bytes=first.consumed_bytes, lines=4, sha256=first.consumed_sha256, compressed=False)
        text = {
            "grown": old_text + _line("v9", "2026-05-01T00:00:09Z") + b"\n",
            "replaced": old_text.replace(b"v1", b"w1") + b"\n",
            "torn": old_text + b'{"kind":"vm.c',
            "shrunk": old_text[:40],
        }[case]
        path.write_bytes(text)
    small = _scan.plan_file(path, 0, old)
    monkeypatch.setattr(_scan, "SMALL_FILE_BYTES", 0)
    big = _scan.plan_file(path, 0, old)
    assert small == big


def test_many_files_keep_their_own_findings(tmp_path: Path) -> None:
    """In one batch of small files, a truncated gzip and a file that is not a ledger are findings
    naming them; the others are read whole."""
    root = tmp_path / "hosts"
    lines = [_line(f"v{i}", f"2026-05-01T00:{i // 60:02d}:{i % 60:02d}Z") for i in range(40)]
    _rotated_hosts(root, lines, per_file=5)
    cut = root / "host-000" / "ledger.jsonl.3.gz"
    cut.write_bytes(cut.read_bytes()[:-12])
    (root / "host-001" / "notes.txt").write_text("hello\n")
    summary = ingest([root], tmp_path / "store")
    _identity(summary)
    codes = sorted((f.code, Path(f.path).name) for f in summary.findings)
    assert codes == [("not_a_ledger", "notes.txt"), ("truncated", "ledger.jsonl.3.gz")]
    assert 35 <= summary.events == summary.lines < 40  # the cut file's complete lines only
    vms = {e[5] for e in _store_rows(tmp_path / "store")[0]}
    assert {f"v{i}" for i in range(5, 40)} <= vms
