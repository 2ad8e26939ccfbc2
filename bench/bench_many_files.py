"""Ingest of many small files next to the same lines in one file, in one run: per-file overhead.

    uv run --locked --extra reconcile python bench/bench_many_files.py [--files 10000]
        [--lines-per-file 200] [--repeat 1] [--keep] [--json]

Writes a seeded ledger of ``files x lines-per-file`` lines (``reconcile.generate_ledger``, seed 1,
as ``bench_ingest.py``) as one file, and the same lines cut into ``--files`` files of
``--lines-per-file`` lines in per-host folders, as logrotate with ``delaycompress`` leaves them:
each host ``host-NNNNN/`` holds ``ledger.jsonl.3.gz``, ``ledger.jsonl.2.gz`` (the oldest lines,
gzip), ``ledger.jsonl.1`` and ``ledger.jsonl`` (the newest, plain): half the files gzip. Then, each
in its own child process (wall time around the work only, peak RSS of that child), into an empty
store:

- ``one``: ``reconcile.ingest`` of the one file;
- ``many``: ``reconcile.ingest`` of the folder of hosts (every file found by the folder walk).

Prints both, the ratio many / one (target <= 2) and the cost of a file: (many - one) / files, in
milliseconds. Both ingests must give the same lines, events, duplicates and rejects. ``--repeat``
runs both that many times and keeps each one's best time. Data under bench/data/many-files
(removed after unless ``--keep``).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import run_child

DATA = Path(__file__).resolve().parent / "data" / "many-files"
ROTATION = ("ledger.jsonl.3.gz", "ledger.jsonl.2.gz", "ledger.jsonl.1", "ledger.jsonl")  # oldest first
INGEST = """
import json, sys, time
from reconcile import ingest
started = time.perf_counter()
s = ingest([sys.argv[1]], sys.argv[2], quiet=True)
seconds = time.perf_counter() - started
assert s.lines == s.events + s.duplicates + s.rejected + s.pending
print(json.dumps({"seconds": seconds, "files": len(s.inputs), "lines": s.lines, "events": s.events,
                  "duplicates": s.duplicates, "rejects": s.rejected}))
"""


def write_inputs(root: Path, files: int, lines_per_file: int) -> tuple[Path, Path]:
    """The one ledger and the folder of hosts holding the same lines (module doc)."""
    from reconcile import generate_ledger  # noqa: PLC0415

    root.mkdir(parents=True)
    one = root / "one.jsonl"
    generate_ledger(one, lines=files * lines_per_file, seed=1, quiet=True)
    hosts = root / "hosts"
    with one.open("rb") as fh:
        for k in range(files):
            chunk = b"".join(fh.readline() for _ in range(lines_per_file))
            host, place = divmod(k, len(ROTATION))
            folder = hosts / f"host-{host:05d}"
            folder.mkdir(parents=True, exist_ok=True)
            name = ROTATION[place]
            data = gzip.compress(chunk, compresslevel=6, mtime=0) if name.endswith(".gz") else chunk
            (folder / name).write_bytes(data)
    return one, hosts


def _ingest(path: Path, store: Path) -> tuple[dict[str, float], float]:
    shutil.rmtree(store, ignore_errors=True)
    try:
        out, peak = run_child(["-c", INGEST, str(path), str(store)])
    finally:
        shutil.rmtree(store, ignore_errors=True)
    return json.loads(out), peak / 2**20


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=10_000, help="small files (default 10,000)")
    p.add_argument("--lines-per-file", type=int, default=200, help="lines in each (default 200)")
    p.add_argument("--repeat", type=int, default=1, help="rounds; each figure is its best (default 1)")
    p.add_argument("--keep", action="store_true", help="keep bench/data/many-files")
    p.add_argument("--json", action="store_true", help="also print the figures as one JSON object")
    args = p.parse_args(argv)
    shutil.rmtree(DATA, ignore_errors=True)
    one, hosts = write_inputs(DATA, args.files, args.lines_per_file)
    best: dict[str, tuple[dict[str, float], float]] = {}
    try:
        for _ in range(args.repeat):
            for name, path in (("one", one), ("many", hosts)):
                figures, peak = _ingest(path, DATA / f"store-{name}")
                if name not in best or figures["seconds"] < best[name][0]["seconds"]:
                    best[name] = (figures, peak)
    finally:
        if not args.keep:
            shutil.rmtree(DATA, ignore_errors=True)
    (one_f, one_peak), (many_f, many_peak) = best["one"], best["many"]
    counts = ("lines", "events", "duplicates", "rejects")
    if [one_f[k] for k in counts] != [many_f[k] for k in counts]:
        raise SystemExit(f"the two ingests differ: one {one_f}, many {many_f}")
    ratio = many_f["seconds"] / one_f["seconds"]
    per_file_ms = (many_f["seconds"] - one_f["seconds"]) / args.files * 1e3
    print(
        f"one file   : {one_f['seconds']:8.2f} s   peak {one_peak:6.0f} MB"
        f"   ({int(one_f['lines']):,} lines, {int(one_f['events']):,} events)"
    )
    print(
        f"{args.files:,} files: {many_f['seconds']:8.2f} s   peak {many_peak:6.0f} MB"
        f"   ({int(many_f['files']):,} inputs, half gzip)"
    )
    print(f"ratio many / one     : {ratio:8.2f} x   (target <= 2)")
    print(f"cost of a file       : {per_file_ms:8.3f} ms")
    if args.json:
        figures = {
            "files": args.files,
            "lines": int(one_f["lines"]),
            "one_s": round(one_f["seconds"], 2),
            "many_s": round(many_f["seconds"], 2),
            "ratio": round(ratio, 2),
            "per_file_ms": round(per_file_ms, 3),
            "one_rss_mb": round(one_peak),
            "many_rss_mb": round(many_peak),
        }
        print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
