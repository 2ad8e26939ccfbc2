"""What the integrity checks cost a day run, a month run and an ingest (issue #28: under 5% of the run).

Each figure is a pair of runs of the same work in fresh interpreters, alternating, best of
``--rounds``: the engine as it is ("checked"), and the engine with the checks patched out in the
child ("unchecked": no stat, footer or hash check of any file read, no SHA-256 of any file written;
the row counts a commit records are still read from the files' footers, as before the checks).
The checked run also times every entry point of the checks where it runs (the outermost call's
time summed): that share of the run is the figure the target is about, measured inside one run, so
the machine's noise cancels; the ratio to the unchecked run is printed beside it (on a shared machine
it moves by more than the checks cost).

- month run: a month of the store from no checkpoint (every events file of the month hashed before
  it is read; the month's output files hashed as they are committed);
- day run: a mid-month day after the run of the day before (its checkpoint copied and hashed, the
  day's events hashed, the day's output hashed);
- ingest: the ``--ingest-lines`` first lines of the ledger into an empty store (each events and rejects
  file hashed as it is committed);
- verify: ``reconcile verify`` of the store and the month's output: MB hashed per second;
- the direct costs: hashing the month's and one day's events files, in this process.

The store is a hard-linked copy of ``--store`` (the shared one is never written) given its records
once (:meth:`StoreWriter.record_missing`, timed), or one generated from ``--lines``.

    flock /work/heavy.lock uv run --locked --extra reconcile python bench/bench_integrity.py \\
        --store /work/data/month-10m-seed5/store --ledger /work/data/month-10m-seed5/ledger.jsonl
    uv run --locked --extra reconcile python bench/bench_integrity.py --smoke    # seconds: the suite's
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _child

DATA = Path(__file__).resolve().parent / "data" / "integrity"
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)

# the child: the work, with the checks patched out ("unchecked"), or timed where they run ("checked":
# every entry point of the checks is wrapped; the outermost call's time is summed)
CHILD = """
import functools, json, shutil, sys, time
from reconcile import ingest, run_period
from reconcile._run._verify import verify
import reconcile._pair._checkpoints as cp, reconcile._core._integrity as ig, reconcile._store._writer as sw
import reconcile._run._session, reconcile._run._nightly
import reconcile._store._reader as st, reconcile._pair._walker as wk
import reconcile._output._folder as wr, reconcile._output._check as oc, reconcile._output._reuse
mode, what, *args = sys.argv[1:]
spent = [0.0, 0]  # seconds inside the checks, depth

def timed(function):
    @functools.wraps(function)
    def wrapper(*a, **k):
        spent[1] += 1
        started = time.perf_counter()
        try:
            return function(*a, **k)
        finally:
            spent[1] -= 1
            if spent[1] == 0:
                spent[0] += time.perf_counter() - started
    return wrapper

if mode == "unchecked":
    def rows_only(paths):
        return [ig.FileRecord(0, ig.parquet_rows(p), "0" * 64) for p in paths]
    ig.problem = lambda path, expected, *, full: None
    cp.problem = ig.problem
    cp.copy_checked = lambda source, dest, expected, hint="": shutil.copyfile(source, dest)
    for module in (cp, sw, wr):
        module.record_files = rows_only
else:
    entries = [(ig, "problem"), (ig, "check_files"), (ig, "record_files"), (cp, "problem"),
               (cp, "copy_checked"), (cp, "record_files"), (sw, "record_files"), (wr, "record_files"),
               (st, "check_files"), (oc, "problem")]
    for module, name in entries:
        setattr(module, name, timed(getattr(module, name)))
    wk.Walker.summarised = timed(wk.Walker.summarised)
started = time.perf_counter()
if what == "run":
    store, out, period = args
    run_period(store, "bundled", out, period, quiet=True)
elif what == "ingest":
    ingest([args[0]], args[1], quiet=True)
elif what == "verify":
    report = verify(args[0], args[1])
    assert report.clean, report.lines()
print(json.dumps({"seconds": time.perf_counter() - started, "checks": spent[0]}))
"""


def child(mode: str, what: str, *args: str) -> dict[str, float]:
    """Seconds of the work in one fresh interpreter (its start and imports not included), and of the
    checks inside it ("checked"). The checkpoints an unchecked run wrote (their records hold no hash)
    are removed after it."""
    out, _peak = _child.run_child(["-c", CHILD, mode, what, *args])
    if mode == "unchecked" and what == "run":
        for document in Path(args[0]).glob("checkpoints/at=*/checkpoint.json"):
            if '"sha256": "' + "0" * 64 in document.read_text(encoding="utf-8"):
                shutil.rmtree(document.parent)
    return json.loads(out)  # type: ignore[no-any-return]


def fresh(path: Path) -> str:
    shutil.rmtree(path, ignore_errors=True)
    return str(path)


def pair(rounds: int, run: Callable[[str], dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Best of ``rounds`` of ``run(mode)`` checked and unchecked, alternating."""
    best: dict[str, dict[str, float]] = {}
    for number in range(rounds):
        order = ("checked", "unchecked") if number % 2 == 0 else ("unchecked", "checked")
        for mode in order:
            result = run(mode)
            if mode not in best or result["seconds"] < best[mode]["seconds"]:
                best[mode] = result
    return best["checked"], best["unchecked"]


def line(label: str, checked: dict[str, float], unchecked: dict[str, float]) -> str:
    inside = checked["checks"] / checked["seconds"]
    versus = checked["seconds"] / unchecked["seconds"] - 1
    return (
        f"{label:<44} {checked['seconds']:8.2f} s, of which checks {checked['checks']:6.2f} s: {inside:5.1%}"
        f" (target < 5%); unchecked {unchecked['seconds']:8.2f} s ({versus:+.1%})"
    )


def prepare(args: argparse.Namespace) -> tuple[Path, Path | None]:
    """The store to run (a hard-linked copy given its records, or a generated one) and the ledger."""
    data = args.data
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    from reconcile import Store  # noqa: PLC0415
    from reconcile._store._writer import open_writer  # noqa: PLC0415

    if args.store is None:
        from reconcile import generate_ledger, ingest  # noqa: PLC0415

        ledger = data / "ledger.jsonl"
        generate_ledger(ledger, lines=args.lines, seed=5, hosts=4, start=START, days=31, quiet=True)
        ingest([ledger], data / "store")
        return data / "store", ledger
    store = data / "store"
    subprocess.run(["cp", "-al", str(args.store), str(store)], check=True)
    shutil.rmtree(store / "checkpoints", ignore_errors=True)
    (store / ".lock").unlink(missing_ok=True)  # (a link would share the flock of the store copied)
    started = time.perf_counter()
    with open_writer(Store(store)):  # (the first writer records an older store's files)
        pass
    events = sum(f.stat().st_size for f in Store(store).event_files())
    took = time.perf_counter() - started
    print(f"recording an older store's files once (its next writer): {took:.2f} s for {events / 1e6:,.1f} MB")
    return store, args.ledger


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", type=Path, help="a store of October 2026 to copy by hard links (default: generate)"
    )
    parser.add_argument(
        "--ledger", type=Path, help="its ledger, for the ingest figure (default: none with --store)"
    )
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines to generate without --store")
    parser.add_argument("--ingest-lines", type=int, default=1_000_000, help="lines of the ledger ingested")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side (best of)")
    parser.add_argument(
        "--month-rounds", type=int, help="runs of each side of the month run (default --rounds)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run (the suite's): 5,000 lines, one round"
    )
    parser.add_argument(
        "--data", type=Path, default=DATA, help=f"the working folder, emptied first (default {DATA})"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    if args.smoke:
        args.lines, args.ingest_lines, args.rounds, args.month_rounds, args.store = 5_000, 5_000, 1, 1, None
    store, ledger = prepare(args)
    data = args.data

    from reconcile import Store  # noqa: PLC0415
    from reconcile._core._integrity import check_files, record_files  # noqa: PLC0415

    target = Store(store)
    entries = target.ingests()
    month_files = target.event_files(dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    day_files = target.event_files(dt.date(2026, 10, 15), dt.date(2026, 10, 15))
    records = target.records(entries)
    month_mb = sum(f.stat().st_size for f in month_files) / 1e6
    events = sum(e.events or 0 for e in entries)
    print(f"store: {events:,} events, October's events files {month_mb:,.1f} MB")

    def month(mode: str) -> float:
        shutil.rmtree(store / "checkpoints", ignore_errors=True)
        return child(mode, "run", str(store), fresh(data / f"months-{mode}"), "2026-10")

    results = [line("month run 2026-10 (no checkpoint)", *pair(args.month_rounds or args.rounds, month))]
    child("checked", "run", str(store), fresh(data / "days"), "2026-10-14")  # (its checkpoint: the 15th's)

    def day(mode: str) -> float:
        return child(mode, "run", str(store), fresh(data / f"days-{mode}"), "2026-10-15")

    results.append(line("day run 2026-10-15 (after the 14th's)", *pair(args.rounds, day)))
    if ledger is not None:
        part = data / "ingest.jsonl"
        with ledger.open("rb") as src, part.open("wb") as dst:
            for number, text in enumerate(src):
                if number >= args.ingest_lines:
                    break
                dst.write(text)

        def ingest(mode: str) -> float:
            return child(mode, "ingest", str(part), fresh(data / f"ingest-{mode}"))

        results.append(
            line(f"ingest of {args.ingest_lines:,} lines into an empty store", *pair(args.rounds, ingest))
        )
    seconds = child("checked", "verify", str(store), str(data / "months-checked"))["seconds"]
    hashed = sum(
        f.stat().st_size for f in [*store.rglob("*.parquet"), *(data / "months-checked").rglob("*.parquet")]
    )
    hashed /= 1e6
    results.append(
        f"verify of the store and the month's output: {seconds:.2f} s, {hashed / seconds:,.0f} MB/s"
    )
    for label, files in (("October's", month_files), ("the 15th's", day_files)):
        started = time.perf_counter()
        check_files([(f, records.get(target.relative(f))) for f in files], full=True)
        took = time.perf_counter() - started
        size = sum(f.stat().st_size for f in files) / 1e6
        results.append(
            f"checking {label} events files in full, in this process: {size:,.1f} MB in {took:.2f} s"
        )
    written = sorted((data / "months-checked").glob("*/*=*/*.parquet"))
    started = time.perf_counter()
    record_files(written)
    took = time.perf_counter() - started
    size = sum(f.stat().st_size for f in written) / 1e6
    results.append(
        f"recording the month run's {len(written)} output files in this process: {size:,.1f} MB, {took:.2f} s"
    )
    print("\n".join(results))
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
