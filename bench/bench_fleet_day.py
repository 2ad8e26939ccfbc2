"""The nightly of a fleet at about 10,000 hosts' rate, after days of history, in one run of this script.

A seeded ledger of ``--days`` days of history and one more day (``--per-day`` lines a day, default
2.7M: about 10,000 hosts' rate; four zone offsets; ``reconcile.generate_ledger``, October 2026 on) is
split by the UTC day of each line's instant: the history is ingested and its last day run (so the
store holds the checkpoints a nightly finds after that history), then, each in a fresh interpreter
(wall time with the interpreter's start, and that child's own peak RSS):

- ``nightly``: ``reconcile nightly`` of the night's file (ingest it, run yesterday), as the operator's
  timer runs it;
- ``day run``: ``reconcile run`` of that day again (pairing from the checkpoint, pricing, writing: the
  run without the ingest);
- ``plain script``: ``bench_floor_run.py``'s plain DuckDB script over the whole store (every day, no
  checkpoint: the least work of a run of those days), its cost per event the baseline.

Prints each with its cost per event of the night (per event of the store for the plain script) and
the ratios of the per-event costs.

    uv run --locked --extra spark python bench/bench_fleet_day.py [--per-day 2700000] [--days 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _child
from bench_floor_run import FLOOR

DATA = _child.data_dir() / "fleet-day"
START = dt.date(2026, 10, 1)

NIGHTLY = """
import json, sys, time
from reconcile import nightly
started = time.perf_counter()
s = nightly([sys.argv[1]], sys.argv[2], sys.argv[3], "bundled", today=sys.argv[4], quiet=True)
print(json.dumps({"seconds": time.perf_counter() - started, "days": [d.period for d in s.days],
                  "actions": [d.action for d in s.days]}))
"""
RUN = """
import json, sys, time
from reconcile import run_period
started = time.perf_counter()
s = run_period(sys.argv[1], "bundled", sys.argv[2], sys.argv[3], quiet=True)
print(json.dumps({"seconds": time.perf_counter() - started, "events": s.roles["events"], "rows": s.rows}))
"""


def _utc_day(line: bytes) -> int:
    """Days since START of the UTC instant of a ledger line (Go's RFC 3339 with a zone offset)."""
    at = line.rsplit(b'"emitted_at":"', 1)[1].split(b'"', 1)[0].decode()
    local = dt.date(int(at[0:4]), int(at[5:7]), int(at[8:10]))
    minutes = int(at[11:13]) * 60 + int(at[14:16])
    if not at.endswith("Z"):
        sign = 1 if at[-6] == "+" else -1
        minutes -= sign * (int(at[-5:-3]) * 60 + int(at[-2:]))
    return (local - START).days + minutes // 1440


def _ledgers(root: Path, days: int, per_day: int) -> tuple[list[Path], Path, int]:
    """The history's files, one a UTC day (ingested one a night, as the nightly does), and the
    night's (the lines of the UTC day after the history); the night's lines."""
    from reconcile import generate_ledger  # noqa: PLC0415

    whole = root / "all.jsonl"
    start = dt.datetime.combine(START, dt.time(), tzinfo=dt.UTC)
    generate_ledger(
        whole, lines=(days + 1) * per_day, seed=13, hosts=4, start=start, days=days + 1, quiet=True
    )
    files = [root / f"day-{d:03d}.jsonl" for d in range(days + 1)]
    outs = [f.open("wb") for f in files]
    with whole.open("rb") as fh:
        for line in fh:
            outs[min(max(_utc_day(line), 0), days)].write(line)
    for out in outs:
        out.close()
    whole.unlink()
    night = files[-1]
    with night.open("rb") as fh:
        count = sum(1 for _ in fh)
    return files[:-1], night, count


def _child_run(code: str, *args: str) -> tuple[dict[str, object], float, float]:
    text, peak = _child.run_child(["-c", code, *args])
    return json.loads(text.strip().splitlines()[-1]), _child.last_wall_seconds, peak / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=2_700_000, help="ledger lines a day (default 2.7M)")
    parser.add_argument("--days", type=int, default=60, help="days of history before the night (default 60)")
    parser.add_argument("--keep", action="store_true", help="keep the generated store")
    args = parser.parse_args()
    from reconcile import ingest, run_period  # noqa: PLC0415

    root = DATA / f"d{args.days}-p{args.per_day}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    history, night, night_lines = _ledgers(root, args.days, args.per_day)
    store, out = root / "store", root / "out"
    for day in history:
        ingest([day], store, quiet=True)
        day.unlink()
    night_day = START + dt.timedelta(days=args.days)
    run_period(store, "bundled", out, (night_day - dt.timedelta(days=1)).isoformat(), quiet=True)

    today = (night_day + dt.timedelta(days=1)).isoformat()
    nightly, nightly_wall, nightly_peak = _child_run(NIGHTLY, str(night), str(store), str(out), today)
    _, run_wall, run_peak = _child_run(RUN, str(store), str(root / "again"), night_day.isoformat())
    floor_out = root / "floor"
    floor_out.mkdir()
    first = str(int(dt.datetime.combine(START, dt.time(), tzinfo=dt.UTC).timestamp()))
    _, floor_wall, floor_peak = _child_run(FLOOR, str(store), str(floor_out), "", first, str(args.days + 1))
    from reconcile import Store  # noqa: PLC0415

    events = sum(e.events or 0 for e in Store(store).ingests())
    per = night_lines
    print(
        f"fleet: {args.per_day:,} lines a day, {args.days} days of history, the night {night_day}"
        f" ({night_lines:,} lines; {events:,} events in the store; nightly days {nightly['days']})"
    )
    rows = [
        ("nightly (ingest the night, run it)", nightly_wall, nightly_peak, nightly_wall / per),
        ("day run of the night (from its checkpoint)", run_wall, run_peak, run_wall / per),
        (
            f"plain script, {args.days + 1} days from no checkpoint",
            floor_wall,
            floor_peak,
            floor_wall / events,
        ),
    ]
    for label, wall, peak, cost in rows:
        print(f"{label:<50} {wall:8.2f} s  peak {peak:5.2f} GiB  {cost * 1e6:7.2f} us per event")
    base = floor_wall / events
    print(
        f"per event: nightly {nightly_wall / per / base:.2f}x, day run {run_wall / per / base:.2f}x"
        " the plain script's"
    )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
