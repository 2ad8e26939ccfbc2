"""A night's cost after a month and after a year of history: checkpointed pairing, in one run.

Two stores of the same daily rate (``--per-day`` lines a day, four hosts): a short one (history for
runs after 30 and 60 days) and a long one (runs after 360 days). Each measured step runs in a fresh
interpreter (its seconds and its own peak RSS), after the step an operator would have run before it:

- day run D after the run of D-1 (history H = 30, 360 days before D);
- nightly that restates 15 days (a late file with lines 15 days back) after a nightly of the day
  before (H = 30, 360);
- month run after the run of the day before it (H = 60, 360);
- first run on the year store with no checkpoint (the backfill: a month at a time, writing
  checkpoints) next to the same day run with the full walk of the whole history (what a run did
  before checkpoints);
- checkpoint disk next to the events' disk after the year store's runs.

Prints each figure (the wall time of the command, its interpreter start included, as an operator
sees it), the ratios the issue sets, and the target next to each.

    uv run --locked --extra reconcile python bench/bench_checkpoints.py [--per-day 23000] [--keep]
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

DATA = _child.data_dir() / "checkpoints"
START = dt.date(2025, 1, 1)
TAIL = 65  # days generated after the runs measured (a month run needs its month)
PRICES = DATA / "prices.toml"  # the bundled book, effective from before START


def _write_prices() -> None:
    from reconcile._price._book import BUNDLED, load_price_book  # noqa: PLC0415

    source = Path(load_price_book(BUNDLED).source.removeprefix("bundled:"))
    PRICES.write_text(
        source.read_text(encoding="utf-8").replace("2026-01-01", "2024-01-01"), encoding="utf-8"
    )


RUN = """
import json, sys, time
from reconcile import run_period
started = time.perf_counter()
store, out, day, walk, prices = sys.argv[1:6]
s = run_period(store, prices, out, day, quiet=True, full_walk=walk == "full")
print(json.dumps({"seconds": time.perf_counter() - started, "events": s.roles["events"], "run_id": s.run_id}))
"""
NIGHTLY = """
import json, sys, time
from reconcile import nightly
started = time.perf_counter()
s = nightly([sys.argv[1]], sys.argv[2], sys.argv[3], sys.argv[5], today=sys.argv[4], quiet=True)
print(json.dumps({"seconds": time.perf_counter() - started, "restated": len(s.restated),
                  "actions": [d.action for d in s.days]}))
"""


def _day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


def _build(name: str, days: int, per_day: int, late_days: list[int]) -> Path:
    """A store of ``days`` days from START, ingested in one go, without the lines of ``late_days``
    that go to late files (every 40th line of those days)."""
    from reconcile import generate_ledger, ingest  # noqa: PLC0415
    from reconcile._core._period import format_ns, parse_instant  # noqa: PLC0415

    root = DATA / name
    root.mkdir()
    ledger = root / "all.jsonl"
    start = dt.datetime.combine(START, dt.time(), tzinfo=dt.UTC)
    generate_ledger(ledger, lines=days * per_day, seed=11, hosts=4, start=start, days=days, quiet=True)
    late = {d: (root / f"late-{d}.jsonl").open("wb") for d in late_days}
    kept = (root / "ledger.jsonl").open("wb")
    counts = dict.fromkeys(late_days, 0)
    with ledger.open("rb") as fh:
        for line in fh:
            at = line.rsplit(b'"emitted_at":"', 1)[1].split(b'"', 1)[0].decode()
            offset = (dt.date.fromisoformat(format_ns(parse_instant(at))[:10]) - START).days
            if offset in late:
                counts[offset] += 1
                if counts[offset] % 40 == 0:
                    late[offset].write(line)
                    continue
            kept.write(line)
    kept.close()
    for fh in late.values():
        fh.close()
    ledger.unlink()
    ingest([root / "ledger.jsonl"], root / "store")
    (root / "ledger.jsonl").unlink()
    return root


def _run(root: Path, out: str, day: str, walk: str = "checkpointed") -> tuple[dict[str, float], int]:
    args = [str(root / "store"), str(root / out), day, walk, str(PRICES)]
    out_text, peak = _child.run_child(["-c", RUN, *args])
    return {**json.loads(out_text), "wall": _child.last_wall_seconds}, peak


def _nightly(root: Path, late: Path, out: str, today: dt.date) -> tuple[dict[str, float], int]:
    args = [str(late), str(root / "store"), str(root / out), today.isoformat(), str(PRICES)]
    out_text, peak = _child.run_child(["-c", NIGHTLY, *args])
    return {**json.loads(out_text), "wall": _child.last_wall_seconds}, peak


def _measure(root: Path, history: int, *, month: bool) -> dict[str, tuple[float, int]]:
    """The day run after ``history`` days (after the day before), the nightly restating 15 days,
    and (``month``) the month run of the first month starting at least ``history`` days in."""
    figures: dict[str, tuple[float, int]] = {}
    day = _day(history)
    _run(root, f"days-{history}", (day - dt.timedelta(days=1)).isoformat())
    result, peak = _run(root, f"days-{history}", day.isoformat())
    figures["day"] = (result["wall"], peak)
    # the nightly: its window committed (day - 15 by hand, the rest by a nightly), then the late file
    _run(root, f"nightly-{history}", (day - dt.timedelta(days=15)).isoformat())
    empty = root / "empty.jsonl"
    empty.write_bytes(b"")
    _nightly(root, empty, f"nightly-{history}", day + dt.timedelta(days=1))
    result, peak = _nightly(
        root, root / f"late-{history - 15}.jsonl", f"nightly-{history}", day + dt.timedelta(days=1)
    )
    assert result["restated"] >= 15, result
    figures["nightly"] = (result["wall"], peak)
    if month:
        first = (
            day.replace(day=1)
            if day.day == 1
            else (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        )
        _run(root, f"days-{history}", (first - dt.timedelta(days=1)).isoformat())
        result, peak = _run(root, f"months-{history}", first.strftime("%Y-%m"))
        figures["month"] = (result["wall"], peak)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=23_000, help="ledger lines a day (default 23000)")
    parser.add_argument("--keep", action="store_true", help="keep bench/data/checkpoints")
    parser.add_argument(
        "--long-days", type=int, default=360, help="the long store's history (default 360; less: a smoke run)"
    )
    args = parser.parse_args()
    shutil.rmtree(DATA, ignore_errors=True)
    DATA.mkdir(parents=True)
    _write_prices()

    short = _build("short", 60 + TAIL, args.per_day, [30 - 15, 60 - 15])
    year = args.long_days
    long = _build("long", year + TAIL, args.per_day, [year - 15])
    from reconcile import Store  # noqa: PLC0415

    events = {
        name: sum(e.events or 0 for e in Store(root / "store").ingests())
        for name, root in (("short", short), ("long", long))
    }
    sizes = f"{events['short']:,} events ({60 + TAIL} days), {events['long']:,} events ({year + TAIL} days)"
    print(f"stores: {sizes}")

    # the first run on the year store (no checkpoint), next to the full walk of the same day
    first_day = _day(year - 1).isoformat()
    full, full_peak = _run(long, "full", first_day, "full")
    first, first_peak = _run(long, f"days-{year}", first_day)
    assert first["run_id"] == full["run_id"]

    f30 = _measure(short, 30, month=False)
    f60 = _measure(short, 60, month=True)
    f360 = _measure(long, year, month=True)

    from reconcile._pair._checkpoint_admin import checkpoint_report  # noqa: PLC0415

    report = checkpoint_report(long / "store")
    share = report.checkpoint_bytes / report.event_bytes

    def row(label: str, value: float, base: float, target: str, unit: str = "s") -> None:
        print(
            f"{label:<58} {value:8.2f} {unit}  vs {base:8.2f} {unit}  {value / base:5.2f}x  (target {target})"
        )

    print()
    row(f"day run after {year} days / after 30 days: time", f360["day"][0], f30["day"][0], "<= 1.2x")
    row("  ... peak memory (MB)", f360["day"][1] / 1e6, f30["day"][1] / 1e6, "<= 1.2x", "MB")
    row(
        f"nightly restating 15 days, after {year} / after 30 days",
        f360["nightly"][0],
        f30["nightly"][0],
        "<= 1.2x",
    )
    row(
        f"nightly restating 15 days / one day run (after {year} days)",
        f360["nightly"][0],
        f360["day"][0],
        "<= 3x",
    )
    row(f"month run after {year} days / after 60 days", f360["month"][0], f60["month"][0], "<= 1.2x")
    row(
        "first run, no checkpoint / full-history walk (year store)",
        first["wall"],
        full["wall"],
        "<= 1.5x",
    )
    full_mb = f"full walk {full_peak / 1e6:,.0f} MB"
    print(f"{'  first run peak memory':<58} {first_peak / 1e6:8.0f} MB  (target < 1500 MB; {full_mb})")
    disk = f"{report.checkpoint_bytes / 1e6:,.1f} of {report.event_bytes / 1e6:,.1f} MB"
    print(
        f"{'checkpoint disk / events disk (year store)':<58} {share:8.1%}  ({disk},"
        f" {len(report.checkpoints)} checkpoints; target <= 25%)"
    )
    if not args.keep:
        shutil.rmtree(DATA, ignore_errors=True)


if __name__ == "__main__":
    main()
