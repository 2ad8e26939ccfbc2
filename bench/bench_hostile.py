"""Ingest of hostile inputs next to clean input of the same size, in one run: time linear in the input
whatever its bytes, memory flat whatever its lines.

Writes under bench/data/hostile (removed after unless --keep), then ingests each input into a fresh
store in a fresh interpreter and prints seconds, lines/s, MB/s, each as a ratio to the clean ledger,
and each child's peak RSS:

- clean:            ``--lines`` Go-shaped ledger lines
- nul-block:        the same bytes, with a block of ``\\x00\\n`` lines (a power cut) of the same size
- every-other-odd:  every second line holds a NUL byte (classified in Python, one by one)
- crlf-and-cr:      CRLF line ends, and a CR inside every tenth line (rewritten for DuckDB)
- gib-line:         a plain file whose last line is 1 GiB (a reject keeping its first 4 KiB)
- gzip-bomb:        a small .gz expanding to the clean lines and 1 GiB of NULs in one line

MB/s counts the text read (a compressed file's text after decompression). ``--big`` sets the size
of the long line and of the bomb's NULs (default 1 GiB; the suite's smoke run makes them small).

    uv run --locked --extra reconcile python bench/bench_hostile.py [--lines 2000000] [--big BYTES]
        [--keep] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import run_child

DATA = Path(__file__).resolve().parent / "data" / "hostile"
INGEST = """
import json, sys, time
from reconcile import ingest
started = time.perf_counter()
s = ingest([sys.argv[1]], sys.argv[2])
seconds = time.perf_counter() - started
assert s.lines == s.events + s.duplicates + s.rejected + s.pending
print(json.dumps({"seconds": seconds, "lines": s.lines, "rejects": s.rejected}))
"""
GIB = 1 << 30


def _clean(path: Path, lines: int) -> bytes:
    from reconcile import generate_ledger  # noqa: PLC0415

    generate_ledger(
        path, lines=lines, seed=3, start=dt.datetime(2026, 11, 1, tzinfo=dt.UTC), days=7, quiet=True
    )
    return path.read_bytes()


def _write_inputs(lines: int, big: int) -> dict[str, Path]:
    DATA.mkdir(parents=True)
    clean = DATA / "clean.jsonl"
    data = _clean(clean, lines)
    inputs = {"clean": clean}

    def write(name: str, make: Callable[[Path], None]) -> None:
        path = DATA / name
        make(path)
        inputs[name.split(".", maxsplit=1)[0]] = path

    half = len(data) // 2
    write("nul-block.jsonl", lambda p: p.write_bytes(b"\x00\n" * (half // 2) + data[half:]))
    body = data.splitlines(keepends=True)
    write(
        "every-other-odd.jsonl",
        lambda p: p.write_bytes(b"".join(b"\x00" + b if i % 2 else b for i, b in enumerate(body))),
    )

    def crlf(p: Path) -> None:
        out = [b.replace(b'","shape"', b'",\r"shape"') if i % 10 == 0 else b for i, b in enumerate(body)]
        p.write_bytes(b"".join(b[:-1] + b"\r\n" for b in out))

    write("crlf-and-cr.jsonl", crlf)

    def gib_line(p: Path) -> None:
        with p.open("wb") as fh:
            fh.write(data)
            block = b"x" * min(64 << 20, big)
            for _ in range(big // len(block)):
                fh.write(block)
            fh.write(b"\n")

    write("gib-line.jsonl", gib_line)

    def bomb(p: Path) -> None:
        with gzip.open(p, "wb", compresslevel=9) as fh:
            fh.write(data)
            block = b"\x00" * min(64 << 20, big)
            for _ in range(big // len(block)):
                fh.write(block)
            fh.write(b"\n")

    write("gzip-bomb.jsonl.gz", bomb)
    return inputs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000, help="clean ledger lines (default 2M)")
    parser.add_argument("--big", type=int, default=GIB, help="bytes of the long line and the bomb (1 GiB)")
    parser.add_argument("--keep", action="store_true", help="keep bench/data/hostile")
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    args = parser.parse_args(argv)
    shutil.rmtree(DATA, ignore_errors=True)
    big = args.big - args.big % 8  # (whole blocks)
    inputs = _write_inputs(args.lines, big)
    rows = []
    for name, path in inputs.items():
        out, peak = run_child(["-c", INGEST, str(path), str(DATA / f"store-{name}")])
        figures = json.loads(out)
        text = path.stat().st_size if name != "gzip-bomb" else big + inputs["clean"].stat().st_size + 1
        figures.update(name=name, peak=peak, size=path.stat().st_size, bytes=text)
        rows.append(figures)
    base = rows[0]
    base_lps = base["lines"] / base["seconds"]
    base_mbs = base["bytes"] / base["seconds"] / 1e6
    print(
        f"{'input':<17}{'file MB':>9}{'lines':>13}{'rejects':>13}{'seconds':>9}{'lines/s':>11}{'x clean':>8}"
        f"{'MB/s':>8}{'x clean':>8}{'peak MB':>9}"
    )
    for r in rows:
        lps = r["lines"] / r["seconds"]
        mbs = r["bytes"] / r["seconds"] / 1e6
        print(
            f"{r['name']:<17}{r['size'] / 1e6:>9,.1f}{r['lines']:>13,}{r['rejects']:>13,}{r['seconds']:>9.2f}"
            f"{lps:>11,.0f}{lps / base_lps:>8.2f}{mbs:>8.1f}{mbs / base_mbs:>8.2f}{r['peak'] / 1e6:>9,.0f}"
        )
    if args.json:
        print(
            json.dumps({r["name"]: {k: v for k, v in r.items() if k != "name"} for r in rows}, sort_keys=True)
        )
    if not args.keep:
        shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
