"""Fuzz: thousands of seeded, mutated ledger lines of every hostile kind; every line is accounted for
once, gets the code the independent oracle (``ledger_oracle``) gives, and the same bytes give the
same answer whether they arrive as one file, a grown file read in two steps, or a compressed file."""

from __future__ import annotations

import bz2
import gzip
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from helpers.ledger_oracle import KINDS, classify, raw_text
from reconcile import IngestSummary, Store, ingest

LINES = 2500
SEEDS = (1, 2, 3)

_TIMES = ("2026-05-01T00:00:00Z", "2026-05-01T12:34:56.123456789+05:30", "2026-02-30T00:00:00Z", "bad")


_EXTRAS = (
    b'"vm_id":null',
    b'"vm_id":"x"',
    b'"vm_id":1',
    b'"snapshot_id":[]',
    b'"kind":null',
    b'"kind":"vm.gpu.start"',
    b'"shape":null',
    b'"shape":5',
    b'"shape":{"cpu":null}',
    b'"shape":{"cpu":-1}',
    b'"shape":{"cpu":2.5}',
    b'"shape":{"mem_bytes":"3"}',
    b'"emitted_at":null',
    b'"emitted_at":"bad"',
    b'"emitted_at":7',
    b'"emitted_at":"2026-02-30T00:00:00Z"',
    b'"emitted_at":"0001-01-01T00:00:00Z"',
    b'"emitted_at":"1999-12-31T23:59:59.999999999Z"',
    b'"emitted_at":"2200-01-01T00:00:00+00:00"',
    b'"emitted_at":"2026-05-01T24:00:00Z"',
)


def _base(rng: random.Random, n: int) -> bytes:
    """A line Go could write, or one in another JSON style."""
    kind = rng.choice(KINDS)
    ident = "snapshot_id" if kind.startswith("snap.") else "vm_id"
    members = [f'"kind":"{kind}"', f'"{ident}":"r{n % 97}"']
    if rng.random() < 0.3:
        members.append(f'"reason":"{rng.choice(["boot", "stop-user", "é<&"])}"')
    shape = ",".join(f'"{m}":{rng.randint(1, 9)}' for m in ("cpu", "mem_bytes") if rng.random() < 0.6)
    members.append('"shape":{' + shape + "}")
    members.append(f'"emitted_at":"{rng.choice(_TIMES[:2])}"')
    sep = rng.choice([",", ", ", ",\t"]) if rng.random() < 0.2 else ","
    return ("{" + sep.join(members) + "}").encode()


def _mutate(rng: random.Random, line: bytes) -> bytes:  # noqa: PLR0911, PLR0912 - a branch per kind
    """One hostile change, or none."""
    at = rng.randrange(len(line) + 1)
    kind = rng.randrange(24)
    if kind == 0:
        return line[:at] + b"\x00" + line[at:]
    if kind == 1:
        return line[:at] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82"]) + line[at:]
    if kind == 2:
        return line[:at] + b"\r" + line[at:]
    if kind == 3:
        return b"\xef\xbb\xbf" + line
    if kind == 4:
        return line.replace(b'"r', b'"\xef\xbb\xbfr', 1)
    if kind == 5:
        esc = rng.choice(
            [b"\\ud800", b"\\uDFFF", b"\\ud83d\\ude00", b"\\\\ud800", b"\\ud800\\u0041", b"\\udc00\\ud800"]
        )
        return line.replace(b'"r', b'"r' + esc, 1)
    if kind == 6:
        extra = rng.choice(_EXTRAS)
        return line[:-1] + b"," + extra + b"}" if rng.random() < 0.5 else b"{" + extra + b"," + line[1:]
    if kind == 16:
        return line.replace(b'"vm_id":"', b'"vm_idx":"', 1).replace(b'"snapshot_id":"', b'"snapshot":"', 1)
    if kind == 7:
        return line[:-1] + b",}"
    if kind == 8:
        return line.replace(b'"emitted_at"', b'"x":NaN,"emitted_at"', 1)
    if kind == 9:
        return line[:at]
    if kind == 10:
        return line[:at] + b"\x01" + line[at:]
    if kind == 11:
        return rng.choice([b"", b"  ", b"\t\r", b"\r", b"[]", b"1", b'"s"', b"{} x", b"null"])
    if kind == 12:
        return line + b"\r"
    if kind == 13:
        return line.replace(
            b'"shape":{',
            b'"shape":{"storage_bytes":' + rng.choice([b"1E+2", b"-0", b"9223372036854775808", b"01"]) + b",",
            1,
        )
    if kind == 14:
        return b"  " + line + b" \t"
    if kind == 15:
        return line.replace(b'"kind"', b'"Kind"', 1)
    return line


def _long_lines() -> list[bytes]:
    """Lines at and around the 1 MiB limit, of every kind that must still get its own code."""
    good = b'{"kind":"vm.compute.start","vm_id":"long","pad":"'
    tail = b'","shape":{},"emitted_at":"2026-05-01T00:00:00Z"}'
    fill = (1 << 20) - len(good) - len(tail)
    return [
        good + b"p" * fill + tail,  # exactly 1 MiB: an event
        good + b"p" * (fill + 1) + tail,  # one byte over
        good + b"p" * fill + tail + b"\r",  # 1 MiB and a CR: an event
        b" " * (3 << 20),  # blank, however long
        b"x" * (3 << 20) + b"\xff",  # invalid UTF-8 wins over too long
        b"\x00" * (2 << 20),
        good + "é".encode() * 3000 + b"p" * (2 << 20) + tail,  # raw cut at a character boundary
    ]


def _ledger(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    lines = []
    for n in range(LINES):
        line = _base(rng, n)
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            line = _mutate(rng, line)
        lines.append(line.replace(b"\n", b""))
        if rng.random() < 0.05 and lines:
            lines.append(rng.choice(lines))  # a duplicate (or the same reject twice)
    for i, long_line in enumerate(_long_lines()):
        lines.insert(rng.randrange(len(lines)) if i else len(lines) // 2, long_line)
    return lines


def _read(store: Path) -> tuple[dict[tuple[str, int], tuple[str, str]], dict[int, dict[str, Any]]]:
    con = duckdb.connect()
    s = Store(store)
    sql, params = s.relation_sql("rejects")
    rejects = {
        (Path(f).name, int(n)): (c, r)
        for c, f, n, r in con.execute(
            f"SELECT code, source_file, source_line, raw FROM ({sql})", params
        ).fetchall()
    }
    sql, params = s.relation_sql("events")
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    events = {
        int(row[names.index("source_line")]): dict(zip(names, row, strict=True)) for row in cur.fetchall()
    }
    return rejects, events


def _identity(*summaries: IngestSummary) -> None:
    for s in summaries:
        assert s.lines == s.events + s.duplicates + s.rejected + s.pending


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_every_line_gets_the_oracle_code_whatever_the_split(seed: int, tmp_path: Path) -> None:  # noqa: PLR0912
    """One plain file, the same bytes grown and read in two steps, gzip and bzip2 copies: identity,
    codes and raw text as the oracle says, the same events at the same lines in all four."""
    lines = _ledger(seed)
    data = b"".join(line + b"\n" for line in lines)
    expected: dict[int, tuple[str, dict[str, Any] | None]] = {}
    seen: set[str] = set()
    duplicates = 0
    for number, line in enumerate(lines, start=1):
        code, fields = classify(line)
        if fields is not None:
            if fields["event_id"] in seen:
                duplicates += 1
                fields = None
            else:
                seen.add(fields["event_id"])
        expected[number] = (code, fields)

    answers = {}
    for name, write in (
        ("whole.jsonl", lambda p: p.write_bytes(data)),
        ("grown.jsonl", None),
        ("zipped.jsonl.gz", lambda p: p.write_bytes(gzip.compress(data, 1))),
        ("bz.jsonl.2", lambda p: p.write_bytes(bz2.compress(data, 1))),
    ):
        folder = tmp_path / name
        folder.mkdir()
        path = folder / name
        store = folder / "store"
        if write is None:  # the first part, torn in a line, then the rest
            start = len(lines) // 3
            torn = next(i for i in range(start, len(lines)) if len(lines[i]) > 10)
            cut = sum(len(line) + 1 for line in lines[:torn]) + 5
            path.write_bytes(data[:cut])
            first = ingest([path], store)
            with path.open("ab") as fh:
                fh.write(data[cut:])
            second = ingest([path], store)
            _identity(first, second)
            assert first.pending == 1
            assert first.lines + second.lines - 1 == len(lines)
            assert first.events + second.events == len(seen)
        else:
            write(path)
            summary = ingest([path], store)
            _identity(summary)
            assert summary.lines == len(lines)
            assert summary.duplicates == duplicates
            assert summary.events == len(seen)
        answers[name] = _read(store)

    for name, (rejects, events) in answers.items():
        for number, (code, fields) in expected.items():
            if code == "event":
                assert (name, number) not in rejects, (name, number, lines[number - 1][:200])
                if fields is not None:
                    event = events[number]
                    for key, value in fields.items():
                        assert event[key] == value, (name, number, key, lines[number - 1][:200])
            else:
                got = rejects.get((name, number))
                assert got is not None, (name, number, code, lines[number - 1][:200])
                assert got == (code, raw_text(lines[number - 1])), (name, number, lines[number - 1][:200])
        assert len(rejects) == sum(1 for c, _ in expected.values() if c != "event")
