"""Ingest: the fleet sample, golden edge cases, Go vectors, incremental reads, de-duplication."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from helpers.run_fixture import ingest_records
from reconcile import IngestSummary, Store, StoreError, ingest, validate
from reconcile._core._schema import REJECT_CODES
from reconcile._ingest._scan import PlainCheck
from reconcile.exceptions import InputError

DATA = Path(__file__).resolve().parents[2] / "data"
FLEET = DATA / "fleet"
EDGE = DATA / "ingest" / "edge_cases.jsonl"
EDGE_EXPECTED = DATA / "ingest" / "edge_cases.expected.tsv"
GO_VECTORS = DATA / "go_entries.jsonl"


def _events(store: Path) -> list[dict[str, object]]:
    con = duckdb.connect()
    sql, params = Store(store).relation_sql("events")
    cur = con.execute(sql + " ORDER BY source_file, source_line", params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _rejects(store: Path) -> list[tuple[str, str, int]]:
    con = duckdb.connect()
    sql, params = Store(store).relation_sql("rejects")
    return con.execute(f"SELECT code, source_file, source_line FROM ({sql}) ORDER BY 2, 3", params).fetchall()


def _check_identity(summary: IngestSummary) -> None:
    assert summary.lines == summary.events + summary.duplicates + summary.rejected + summary.pending


def _line(vm: str, at: str, kind: str = "vm.compute.start", cpu: int = 1) -> str:
    return json.dumps(
        {"kind": kind, "vm_id": vm, "shape": {"cpu": cpu}, "emitted_at": at}, separators=(",", ":")
    )


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    target = tmp_path / "fleet"
    shutil.copytree(FLEET, target)
    return target


def test_fleet_totals(fleet: Path, tmp_path: Path) -> None:
    """The fleet sample: every line counted, copies are duplicates, the torn tail is pending."""
    # By the files: 743 lines; host-b's .copy.gz repeats its .1.gz (54 duplicates); host-a's
    # ledger.jsonl ends in a torn line (pending) and holds 9 garbage lines, one per code below.
    store = tmp_path / "store"
    summary = ingest([fleet], store)
    _check_identity(summary)
    assert summary.lines == 743
    assert summary.duplicates == 54
    assert summary.pending == 1
    assert summary.rejects == {
        "blank": 1,
        "malformed_json": 1,
        "not_an_object": 1,
        "unknown_kind": 1,
        "missing_id": 1,
        "bad_timestamp": 1,
        "zero_timestamp": 1,
        "implausible_timestamp": 1,
        "bad_shape": 1,
    }
    assert summary.events == 743 - 54 - 1 - 9
    events = _events(store)
    assert len(events) == summary.events
    assert len({e["event_id"] for e in events}) == len(events)
    # the two identical host-b archives: the first by path ("...1.copy.gz" < "...1.gz") is kept
    sources = {Path(str(e["source_file"])).relative_to(fleet).as_posix() for e in events}
    assert "host-b/ledger.jsonl.1.copy.gz" in sources
    assert "host-b/ledger.jsonl.1.gz" not in sources
    crlf = [e for e in events if e["vm_id"] == "crlf-vm"]
    assert len(crlf) == 1
    assert crlf[0]["source_line"] == 118
    rejects = _rejects(store)
    assert [(code, line) for code, _f, line in rejects] == [
        ("malformed_json", 109),
        ("bad_timestamp", 110),
        ("unknown_kind", 111),
        ("missing_id", 112),
        ("bad_shape", 113),
        ("zero_timestamp", 114),
        ("not_an_object", 115),
        ("blank", 116),
        ("implausible_timestamp", 117),
    ]


def test_fleet_record_and_files_state(fleet: Path, tmp_path: Path) -> None:
    """The ingest record lists each input with size and SHA-256 and the counts; files.json the prefix."""
    store = tmp_path / "store"
    summary = ingest([fleet], store)
    (record,) = ingest_records(store)
    assert record["ingest_id"] == summary.ingest_id
    assert record["lines"] == record["events"] + record["duplicates"] + record["rejected"] + record["pending"]
    by_path = {i["path"]: i for i in record["inputs"]}
    for path in sorted(fleet.rglob("*")):
        if path.is_file():
            entry = by_path[str(path)]
            assert entry["size"] == path.stat().st_size
            assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    live = fleet / "host-a" / "ledger.jsonl"
    state = Store(store).files_state()[str(live)]
    data = live.read_bytes()
    consumed = data[: data.rfind(b"\n") + 1]
    assert state.bytes == len(consumed)
    assert state.lines == 118
    assert state.sha256 == hashlib.sha256(consumed).hexdigest()


def test_reingest_adds_nothing_and_reads_nothing_new(fleet: Path, tmp_path: Path) -> None:
    """Ingesting the same files again adds no event and parses no consumed line (only the pending one)."""
    store = tmp_path / "store"
    first = ingest([fleet], store)
    again = ingest([fleet], store)
    _check_identity(again)
    assert again.events == 0
    assert again.duplicates == 0
    assert again.rejected == 0
    assert again.lines == 1  # the torn tail, still pending
    assert again.pending == 1
    assert all(i.unchanged for i in again.inputs)
    assert len(_events(store)) == first.events
    assert len(ingest_records(store)) == 2


def test_grown_file_is_read_from_the_old_offset(tmp_path: Path) -> None:
    """A live file that only grew is read from where the last ingest stopped; line numbers continue."""
    ledger = tmp_path / "ledger.jsonl"
    store = tmp_path / "store"
    first_lines = [_line("a", f"2026-05-01T00:00:0{i}Z") for i in range(3)]
    torn = _line("torn", "2026-05-01T01:00:00Z")
    ledger.write_text("\n".join(first_lines) + "\n" + torn[:20])
    s1 = ingest([ledger], store)
    _check_identity(s1)
    assert (s1.lines, s1.events, s1.pending) == (4, 3, 1)
    with ledger.open("a") as fh:
        fh.write(torn[20:] + "\n" + _line("b", "2026-05-01T02:00:00Z") + "\n")
    s2 = ingest([ledger], store)
    _check_identity(s2)
    assert (s2.lines, s2.events, s2.pending, s2.duplicates) == (2, 2, 0, 0)
    assert s2.inputs[0].first_line == 4
    events = _events(store)
    assert [(e["vm_id"], e["source_line"]) for e in events] == [
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("torn", 4),
        ("b", 5),
    ]
    assert Store(store).files_state()[str(ledger)].lines == 5


def test_replaced_file_is_read_from_the_start(tmp_path: Path) -> None:
    """A file whose consumed prefix changed (rotated and replaced) is read again from line 1."""
    ledger = tmp_path / "ledger.jsonl"
    store = tmp_path / "store"
    old = [_line("a", "2026-05-01T00:00:00Z"), _line("b", "2026-05-01T00:00:01Z")]
    ledger.write_text("\n".join(old) + "\n")
    ingest([ledger], store)
    ledger.write_text(_line("c", "2026-05-02T00:00:00Z") + "\n" + old[1] + "\n")
    s2 = ingest([ledger], store)
    _check_identity(s2)
    assert s2.inputs[0].first_line == 1
    assert (s2.lines, s2.events, s2.duplicates) == (2, 1, 1)
    assert sorted(str(e["vm_id"]) for e in _events(store)) == ["a", "b", "c"]


def test_rotated_and_compressed_copy_is_all_duplicates(tmp_path: Path) -> None:
    """After rotation, the compressed copy of lines already ingested adds no event."""
    live = tmp_path / "ledger.jsonl"
    store = tmp_path / "store"
    lines = [_line(f"vm{i}", f"2026-05-01T00:00:{i:02d}Z") for i in range(5)]
    live.write_text("\n".join(lines) + "\n")
    ingest([tmp_path / "*.jsonl"], store)
    rotated = tmp_path / "ledger.jsonl.1.gz"
    rotated.write_bytes(gzip.compress(live.read_bytes()))
    live.write_text(_line("new", "2026-05-02T00:00:00Z") + "\n")
    s2 = ingest([tmp_path], store)
    _check_identity(s2)
    assert (s2.lines, s2.events, s2.duplicates) == (6, 1, 5)


def test_paths_with_quotes_and_spaces(tmp_path: Path) -> None:
    """Ledger and store paths holding quotes and spaces work (no path is pasted into SQL)."""
    folder = tmp_path / 'it\'s a "ledger" dir'
    folder.mkdir()
    (folder / "l'1.jsonl").write_text(_line("q", "2026-05-01T00:00:00Z") + "\nnot json\n")
    summary = ingest([folder], folder / "st'ore")
    assert (summary.events, summary.rejects) == (1, {"malformed_json": 1})
    assert [e["source_file"] for e in _events(folder / "st'ore")] == [str(folder / "l'1.jsonl")]


def test_compressed_last_line_counts_without_newline(tmp_path: Path) -> None:
    """A .gz file is complete: its last line counts even without a newline; a live one is pending."""
    text = _line("a", "2026-05-01T00:00:00Z") + "\n" + _line("b", "2026-05-01T00:00:01Z")
    (tmp_path / "x.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "y.jsonl").write_text(text.replace('"a"', '"c"').replace('"b"', '"d"'))
    summary = ingest([tmp_path], tmp_path / "store")
    _check_identity(summary)
    assert (summary.lines, summary.events, summary.pending) == (4, 3, 1)
    assert sorted(str(e["vm_id"]) for e in _events(tmp_path / "store")) == ["a", "b", "c"]


def test_same_instant_other_offset_is_a_duplicate_and_first_path_wins(tmp_path: Path) -> None:
    """The same event written with two offsets is one event; the first by path, then line, is kept."""
    (tmp_path / "b.jsonl").write_text(_line("v", "2026-05-01T08:00:00.5+08:00") + "\n")
    (tmp_path / "a.jsonl").write_text(
        _line("w", "2026-05-01T00:00:00Z") + "\n" + _line("v", "2026-05-01T00:00:00.500Z") + "\n"
    )
    summary = ingest([tmp_path / "b.jsonl", tmp_path / "a.jsonl"], tmp_path / "store")
    _check_identity(summary)
    assert (summary.events, summary.duplicates) == (2, 1)
    (kept,) = [e for e in _events(tmp_path / "store") if e["vm_id"] == "v"]
    assert (Path(str(kept["source_file"])).name, kept["source_line"]) == ("a.jsonl", 2)
    assert kept["emitted_ns"] == 1777593600_500000000


def test_golden_edge_cases() -> None:
    """Each line of the edge-case file gets the code written by hand next to it (or is an event)."""
    expected: dict[int, str] = {}
    for text in EDGE_EXPECTED.read_text().splitlines():
        if text and not text.startswith("#"):
            number, code = text.split("\t")
            expected[int(number)] = code
    got = {r.source_line: r.code for r in validate([EDGE])}
    assert {n: got.get(n, "event") for n in expected} == expected
    assert set(REJECT_CODES) - {"line_too_long"} <= set(expected.values())


def test_edge_case_events_and_store(tmp_path: Path) -> None:
    """The edge-case file's events carry the right fields; ingest and validate agree on the rejects."""
    summary = ingest([EDGE], tmp_path / "store")
    _check_identity(summary)
    assert summary.rejected == len(validate([EDGE]))
    events = {str(e["vm_id"] or e["snapshot_id"]): e for e in _events(tmp_path / "store")}
    assert events["spaced"]["emitted_ns"] == 1777593600_500000000
    assert events["spaced"]["endpoint"] == "stop"
    assert events["nulls"]["emitted_ns"] == 1777593600_000000001
    assert events["nulls"]["snapshot_id"] is None
    assert events["nulls"]["reason"] is None
    assert events["max"]["storage_bytes"] == 2**63 - 1
    assert events["edge-lo"]["emitted_ns"] == 946684800 * 10**9
    assert events["edge-hi"]["emitted_ns"] == 7258118400 * 10**9 - 1
    assert events["s-é<"]["family"] == "snap.storage"
    assert events["s-é<"]["storage_bytes"] == 5
    # a member written twice: the last value that is not null, as Go's decoder reads it
    assert "dup-key" not in events
    assert events["second"]["vm_id"] == "second"
    assert events["null-after"]["cpu"] == 3
    assert (events["merge"]["cpu"], events["merge"]["mem_bytes"]) == (1, 4)
    assert events["bad-then-good"]["cpu"] == 2
    # a CR between tokens is whitespace; a lone surrogate escape reads as U+FFFD (Go's answers)
    assert "cr-space" in events
    assert "sur" in events
    assert "sur-id-\ufffd" in events
    assert "pair-\U0001f600" in events
    assert events["crlf"]["source_line"] == 54


def test_line_too_long_and_raw_cut_at_4_kib(tmp_path: Path) -> None:
    """A line over 1 MiB is line_too_long; a reject keeps its first 4 KiB cut on a character boundary."""
    ledger = tmp_path / "big.jsonl"
    long_line = '{"kind":"vm.compute.start","vm_id":"' + "x" * (1 << 20) + '"}'
    wide = (
        '{"kind":"vm.compute.start","vm_id":"x' + "é" * 3000 + '"'
    )  # malformed, 6 KB; byte 4096 splits an é
    exactly = '{"vm_id":"' + "y" * ((1 << 20) - 12) + '"}'  # 1 MiB exactly: not too long
    ledger.write_text("\n".join([long_line, wide, exactly]) + "\n")
    rejects = validate([ledger])
    assert [(r.source_line, r.code) for r in rejects] == [
        (1, "line_too_long"),
        (2, "malformed_json"),
        (3, "unknown_kind"),
    ]
    assert len(exactly.encode()) == 1 << 20
    assert rejects[0].raw == long_line[:4096]
    assert len(rejects[1].raw.encode()) == 4095
    assert wide.startswith(rejects[1].raw)


def test_invalid_utf8_is_replaced_in_raw(tmp_path: Path) -> None:
    """An invalid UTF-8 line is rejected with its raw text repaired; other lines of the file still count."""
    ledger = tmp_path / "odd.jsonl"
    ledger.write_bytes(b'{"vm_id":"\xff"}\n' + _line("ok", "2026-05-01T00:00:00Z").encode() + b"\r\n")
    summary = ingest([ledger], tmp_path / "store")
    _check_identity(summary)
    assert (summary.events, summary.rejects) == (1, {"invalid_utf8": 1})
    (reject,) = validate([ledger])
    assert reject.raw == '{"vm_id":"\ufffd"}'


def test_go_vectors(tmp_path: Path) -> None:
    """Every golden Go line: the event has the case's fields and instant, or the expected code."""
    cases = [json.loads(t) for t in GO_VECTORS.read_text().splitlines()]
    ledger = tmp_path / "go.jsonl"
    ledger.write_text("".join(c["line"] + "\n" for c in cases))
    codes = {r.source_line: r.code for r in validate([ledger])}
    ingest([ledger], tmp_path / "store")
    events = {int(str(e["source_line"])): e for e in _events(tmp_path / "store")}
    kinds = {"vm.compute.start", "vm.compute.stop", "vm.storage.start", "vm.storage.stop"}
    kinds |= {"snap.storage.start", "snap.storage.stop"}
    for number, case in enumerate((c["case"] for c in cases), start=1):
        nanos = case["unix_nanos"]
        if case["kind"] not in kinds:
            expected = "unknown_kind"
        elif nanos is None:
            expected = "zero_timestamp"
        elif not 946684800 * 10**9 <= nanos < 7258118400 * 10**9:
            expected = "implausible_timestamp"
        elif min(case["cpu"], case["mem_bytes"], case["storage_bytes"]) < 0:
            expected = "bad_shape"
        else:
            expected = "event"
        assert codes.get(number, "event") == expected, case["name"]
        if expected == "event":
            event = events[number]
            assert event["emitted_ns"] == nanos, case["name"]
            for name in ("kind", "vm_id", "snapshot_id", "source_snapshot_id", "reason", "hypervisor"):
                assert event[name] == (case[name] or None), (case["name"], name)
            for name in ("cpu", "mem_bytes", "storage_bytes"):
                assert event[name] == case[name], (case["name"], name)


def test_event_columns_types_and_id(tmp_path: Path) -> None:
    """Events have the contract columns and types; event_id is the md5 of the normalised fields."""
    ledger = tmp_path / "l.jsonl"
    ledger.write_text(
        '{"kind":"vm.compute.start","vm_id":"vm-é","reason":"boot","hypervisor":"firecracker",'
        '"shape":{"cpu":2,"mem_bytes":1024},"emitted_at":"2026-05-01T02:00:00.123456789+02:00"}\n'
    )
    ingest([ledger], tmp_path / "store")
    con = duckdb.connect()
    files = [str(f) for f in Store(tmp_path / "store").event_files()]
    types = dict(
        con.execute(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))", [files]
        ).fetchall()
    )
    assert types["emitted_at"] == "TIMESTAMPTZ_NS"
    assert types["emitted_ns"] == types["cpu"] == types["source_line"] == "BIGINT"
    (event,) = _events(tmp_path / "store")
    ns = 1777593600_123456789
    assert event["emitted_ns"] == ns
    assert (event["family"], event["endpoint"], event["resource_id"]) == ("vm.compute", "start", "vm-é")
    at = con.execute("SELECT epoch_ns(emitted_at) FROM read_parquet(?)", [files]).fetchone()
    assert at == (ns,)
    text = "|".join(
        ["16:vm.compute.start", "5:vm-é", "0:", "0:", "4:boot", "11:firecracker", "2", "1024", "0", str(ns)]
    )
    assert event["event_id"] == hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - the contract's hash
    assert event["source_file"] == str(ledger)


def test_paths_errors(tmp_path: Path) -> None:
    """A missing path, an empty folder and a glob matching nothing are errors naming the path."""
    with pytest.raises(InputError, match="nope"):
        ingest([tmp_path / "nope.jsonl"], tmp_path / "store")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty: folder holds no ledger"):
        validate([tmp_path / "empty"])
    with pytest.raises(InputError, match="no file matches"):
        validate([str(tmp_path / "*.zzz")])
    assert not (tmp_path / "store" / "store.json").exists()
    with pytest.raises(StoreError):
        Store(tmp_path / "store").event_files()


def test_plain_check_across_chunk_boundaries() -> None:
    """The streaming check sees a character, a BOM or a surrogate escape split between two chunks,
    and any CR (DuckDB's LF reader would end a line there: CRLF text is read through a copy)."""
    text = ("é€" + "\n").encode() * 3
    for cut in range(len(text)):
        check = PlainCheck()
        check.feed(text[:cut])
        check.feed(text[cut:])
        check.finish()
        assert check.plain, cut
        assert check.newlines == 3
    for bad in (
        b"a\rb\n",
        b"a\r\n",
        b"\xc3\n",
        b"a\x00\n",
        b"ok\r",
        b"x\xef\xbb\xbfy\n",
        b'"\\ud800"\n',
        b'"\\uDC00"\n',
    ):
        for cut in range(len(bad) + 1):
            check = PlainCheck()
            check.feed(bad[:cut])
            check.feed(bad[cut:])
            check.finish()
            assert not check.plain, (bad, cut)


def test_odd_lines_in_gzip_and_in_a_grown_file(tmp_path: Path) -> None:
    """Odd lines are found in a compressed file and in the new part of a grown file, numbered right."""
    good = [_line(f"v{i}", f"2026-05-01T00:00:{i:02d}Z").encode() for i in range(4)]
    body = b"\n".join([good[0], b"\xff", good[1], b"a\x00b", good[2]])
    (tmp_path / "r.jsonl.1.gz").write_bytes(gzip.compress(body))  # no final newline: still counted
    live = tmp_path / "ledger.jsonl"
    live.write_bytes(good[3] + b"\n")
    store = tmp_path / "store"
    s1 = ingest([tmp_path], store)
    _check_identity(s1)
    assert (s1.lines, s1.events, s1.rejects) == (6, 4, {"invalid_utf8": 1, "malformed_json": 1})
    with live.open("ab") as fh:
        fh.write(b"\xfe\xff\n" + _line("late", "2026-05-02T00:00:00Z").encode() + b"\r\n  \n")
    s2 = ingest([tmp_path], store)
    _check_identity(s2)
    assert (s2.lines, s2.events, s2.rejects) == (3, 1, {"blank": 1, "invalid_utf8": 1})
    rejects = {(Path(f).name, line, code) for code, f, line in _rejects(store)}
    assert rejects == {
        ("r.jsonl.1.gz", 2, "invalid_utf8"),
        ("r.jsonl.1.gz", 4, "malformed_json"),
        ("ledger.jsonl", 2, "invalid_utf8"),
        ("ledger.jsonl", 4, "blank"),
    }
    late = [e for e in _events(store) if e["vm_id"] == "late"]
    assert [e["source_line"] for e in late] == [3]


def test_de_duplication_in_parts_gives_the_same_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ingest de-duplicated in several parts (as a big one is) keeps and counts exactly what one
    part does: the same events, duplicates and first occurrences."""
    results = []
    for part_lines in (10**9, 50):
        monkeypatch.setattr("reconcile._ingest._dedupe.DEDUPE_PART_LINES", part_lines)
        store = tmp_path / f"store-{part_lines}"
        summary = ingest([FLEET, EDGE], store)
        _check_identity(summary)
        events = sorted((e["event_id"], e["source_file"], e["source_line"]) for e in _events(store))
        results.append((summary.lines, summary.events, summary.duplicates, events, _rejects(store)))
    assert results[0] == results[1]
    assert results[0][2] > 10  # the fleet re-ships rotated files: duplicates to find in every part


def test_a_file_that_changes_while_read_is_a_finding_and_the_rest_is_ingested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose two reads (digests and plain check) see different sizes, as when it is truncated
    or appended to during the ingest, is skipped with a finding naming it; the other files are
    ingested and the skipped one is read again by the next ingest."""
    import reconcile._ingest._scan as scan  # noqa: PLC0415

    path = tmp_path / "a" / "ledger.jsonl"
    path.parent.mkdir()
    shutil.copy(FLEET / "host-a" / "ledger.jsonl", path)
    other = tmp_path / "b.jsonl"
    other.write_text(_line("ok", "2026-05-01T00:00:00Z") + "\n")
    real = scan.live_digests

    def truncated(file: Path, size: int, prefix_bytes: int | None) -> object:
        digests = real(file, size, prefix_bytes)
        if file == path:
            digests.size -= 10
        return digests

    monkeypatch.setattr(scan, "live_digests", truncated)
    monkeypatch.setattr(scan, "SMALL_FILE_BYTES", 0)  # (a small file is read once: it cannot differ)
    summary = ingest([path, other], tmp_path / "store")
    assert [(f.code, f.path) for f in summary.findings] == [("unreadable", str(path))]
    assert "changed size while being read" in summary.findings[0].detail
    assert summary.events == 1
    assert str(path) not in Store(tmp_path / "store").files_state()
    monkeypatch.setattr(scan, "live_digests", real)
    again = ingest([path, other], tmp_path / "store")
    assert again.findings == []
    assert again.events > 100
