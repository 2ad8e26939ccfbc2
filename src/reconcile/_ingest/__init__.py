"""Stage: ledger files -> events, rejects and an ingest record in the event store (SPEC 1, 2, 5).

The ingest of a list of paths, in order:

1. ``_inputs``: paths, folders and globs -> regular files (sorted), and a finding for each file that
   cannot be read (dangling link, FIFO, permission, non-UTF-8 name).
2. ``_scan``: per file, the Python pass: digests (the ingest record and ``files.json``), what is new
   since the last ingest, whether its new lines are plain for DuckDB, whether it is a ledger at all.
3. ``_prepare``: what DuckDB reads: the file in place, a copy of its new part, or a sanitised copy
   (``_sanitise``: odd lines classified or rewritten, in linear time and constant memory; compressed
   files, ``_compressed``, are decompressed as a stream into such a copy).
4. ``_parse``: DuckDB parses each file's lines (``sql/engine/ingest/parsed_lines.sql``) into scratch Parquet.
5. ``_dedupe``: de-duplication, the events and rejects files, and the counts, checked before the
   store commits them with the ingest record and the new ``files.json`` (``reconcile._store``).

A live file's last line without ``\\n`` is pending: counted in ``lines`` and ``pending``, not consumed.
A compressed file is complete: consumed whole or, when its bytes changed, read again whole. A file
that cannot be read, changes while it is read, or holds no ledger is one finding, and the ingest
goes on with the others. Memory stays bounded by DuckDB's ``memory_limit`` (it spills to the
store's scratch folder) and by constants in the Python pass, whatever the lines hold.

Choices: the ``event_id`` string lengths are UTF-8 byte lengths; ``lines`` of an ingest count the
pending line it saw (a later ingest counts it again when it reads it).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import duckdb

from reconcile import _faults
from reconcile._engine import connect, engine_errors, literal, literals
from reconcile._ingest import _dedupe
from reconcile._ingest._inputs import resolve_inputs
from reconcile._ingest._parse import parse, set_var
from reconcile._ingest._prepare import prepare
from reconcile._ingest._scan import NotALedgerError, Plan, plan_file, same_file
from reconcile._ingest._summary import (
    Finding,
    IngestSummary,
    InputFile,
    Reject,
    display_path,
    format_summary,
    relative_name,
)
from reconcile._jsonvalue import JsonObject
from reconcile._period import format_ns
from reconcile._progress import Progress
from reconcile._schema import REJECT_CODES
from reconcile._scratch import scratch_dir
from reconcile._sql import load_sql
from reconcile._store import FileState, Store
from reconcile._store_writer import StoreWriter, copy_events_by_day
from reconcile.exceptions import InputError

__all__ = ["Finding", "IngestSummary", "Reject", "format_summary", "ingest", "validate"]

# DuckDB's memory limit for an ingest: it spills past it to the store's scratch folder, so a 50M-line
# ledger peaks about as high as a 10M-line one (at 1GB: 0.68 / 1.21 GB peaks, at 512MB: 0.46 / 0.52
# GB, 10M lines as fast; at 384MB: 0.41 / 0.49 GB, 8% slower).
MEMORY_LIMIT = "512MB"


def _plan_all(files: Sequence[Path], state: dict[str, FileState], findings: list[Finding]) -> list[Plan]:
    """The plan of every file; a file that cannot be read now is a finding, not the end of the ingest."""
    plans = []
    for index, path in enumerate(files):
        try:
            plan = plan_file(path, index, state.get(str(path)))
        except NotALedgerError as exc:
            findings.append(Finding(display_path(path), "not_a_ledger", str(exc)))
            continue
        except InputError as exc:
            findings.append(Finding(display_path(path), "unreadable", f"{_detail(exc, path)}: skipped"))
            continue
        if not plan.ledger:
            findings.append(_not_a_ledger(path))
            continue
        plans.append(plan)
    return plans


def _detail(exc: InputError, path: Path) -> str:
    text = str(exc)
    prefix = f"{path}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _not_a_ledger(path: Path) -> Finding:
    return Finding(
        display_path(path), "not_a_ledger", "no ledger line, and the name does not say .jsonl: skipped"
    )


def _read(
    con: duckdb.DuckDBPyConnection, plan: Plan, work_dir: Path, findings: list[Finding]
) -> _dedupe.Parsed | None:
    """Prepare and parse one file; None when it turned out not to be a ledger or changed meanwhile."""
    prepared = prepare(plan, work_dir)
    findings.extend(prepared.findings)
    if not prepared.ledger:
        findings.append(_not_a_ledger(plan.path))
        return None
    assert prepared.source is not None  # (unchanged files are not read)
    target = work_dir / f"parsed-{plan.index}.parquet"
    step = f"ingest: parsing {display_path(plan.path)}"
    with engine_errors(step, memory_limit=MEMORY_LIMIT, where=str(work_dir)):
        try:
            parse(con, prepared, target, memory_limit=MEMORY_LIMIT)
        except duckdb.Error:
            if prepared.copy:
                raise
            # DuckDB could not read the file as it is (a line near its size limit, say): the
            # sanitised copy always reads
            prepared = prepare(plan, work_dir, force_copy=True)
            parse(con, prepared, target, memory_limit=MEMORY_LIMIT)
    if not prepared.copy and not same_file(plan):
        findings.append(
            Finding(
                display_path(plan.path), "unreadable", "replaced while being read: skipped (read next time)"
            )
        )
        return None
    _faults.point("after-parse")
    return _dedupe.Parsed(prepared, target)


def _read_all(
    con: duckdb.DuckDBPyConnection,
    plans: Sequence[Plan],
    *,
    work_dir: Path,
    findings: list[Finding],
    progress: Progress,
    command: str,
) -> list[_dedupe.Parsed]:
    """Read every planned file; progress lines start with ``command`` (``ingest`` or ``validate``)."""
    parsed = []
    total = sum(p.consumed_bytes - p.start_bytes for p in plans if not p.unchanged)
    done_bytes = done_lines = 0
    for plan in plans:
        if plan.unchanged:
            continue
        progress.update(
            f"{command}: reading {relative_name(plan.path)} from line {plan.start_lines + 1:,}"
            f" ({(plan.consumed_bytes - plan.start_bytes) / 1e6:,.1f} MB)"
        )
        size = plan.consumed_bytes - plan.start_bytes
        with progress.ticking(_reading(con, command, plan.path, size, done_bytes, total)):
            result = _read(con, plan, work_dir, findings)
        if result is None:
            continue
        parsed.append(result)
        done_bytes += plan.consumed_bytes - plan.start_bytes
        done_lines += result.prepared.lines
        progress.update(
            f"{command}: {done_bytes / 1e6:,.1f} of {total / 1e6:,.1f} MB, {done_lines:,} lines"
            f" ({relative_name(plan.path)})"
        )
    return parsed


def _reading(  # noqa: PLR0917 (the figures of one line, in the order it prints them)
    con: duckdb.DuckDBPyConnection, command: str, path: Path, size: int, done: int, total: int
) -> Callable[[], str]:
    """The progress line of one file being read: MB read of all, the rate and what is left."""
    started = time.monotonic()

    def line() -> str:
        seconds = time.monotonic() - started
        share = con.query_progress()  # -1 while no DuckDB query runs (the Python pass)
        if share < 0:
            return f"{command}: reading {relative_name(path)} ({size / 1e6:,.1f} MB), {seconds:.0f} s"
        now = done + size * min(share, 100.0) / 100.0
        rate = (now - done) / seconds if seconds > 0 else 0.0
        left = f", about {(total - now) / rate:,.0f} s left" if rate > 0 else ""
        return (
            f"{command}: {now / 1e6:,.1f} of {total / 1e6:,.1f} MB, {rate / 1e6:,.1f} MB/s{left}"
            f" ({relative_name(path)})"
        )

    return line


def _nothing_to_read(findings: Sequence[Finding]) -> InputError:
    if not findings:
        return InputError("nothing to read: no ledger file or folder was given")
    more = f" (and {len(findings) - 1} more files)" if len(findings) > 1 else ""
    return InputError(f"nothing to read: {findings[0]}{more}")


def ingest(
    paths: Iterable[str | os.PathLike[str]],
    store: str | os.PathLike[str] | Store,
    *,
    quiet: bool = True,
    wait: float = 0.0,
) -> IngestSummary:
    """Ingest ledger files into the event store and commit one ingest record.

    ``paths``: files, folders (recursive) and globs. ``wait``: seconds to wait for another writer's
    lock. Returns the counts of this ingest only; files that could not be read are its ``findings``.
    """
    started = time.monotonic()
    progress = Progress(quiet=quiet)
    inputs = resolve_inputs(paths)
    if not inputs.files:
        raise _nothing_to_read(inputs.findings)
    target = store if isinstance(store, Store) else Store(store)
    findings = list(inputs.findings)
    with engine_errors("ingest", where=str(target.path)), target.writer(wait=wait) as writer:
        work_dir = writer.work_dir
        state = target.files_state()
        plans = _plan_all(inputs.files, state, findings)
        progress.note(
            f"ingest: {len(plans)} file(s), {sum(p.size for p in plans) / 1e6:,.1f} MB"
            + (f", {len(findings)} skipped" if findings else "")
        )
        con = connect(memory_limit=MEMORY_LIMIT, scratch=work_dir)
        try:
            con.execute("SET preserve_insertion_order = true")
            parsed = _read_all(
                con, plans, work_dir=work_dir, findings=findings, progress=progress, command="ingest"
            )
            counts = _write(con, parsed, inputs.files, target, writer)
            newest = _newest(con, writer.events_stage, target, state)
        finally:
            con.close()
        read = {p.prepared.plan.index for p in parsed}
        kept = [p for p in plans if p.index in read or p.unchanged]
        pending = sum(1 for p in kept if p.pending)
        summary = _summary(
            ingest_id=writer.ingest_id,
            store=target,
            plans=kept,
            parsed=parsed,
            counts=counts,
            pending=pending,
        )
        summary.findings = findings
        summary.seconds = time.monotonic() - started
        new_state = {
            name: replace(old, newest_ns=newest.get(name, old.newest_ns)) for name, old in state.items()
        }
        lines_read = {p.prepared.plan.index: p.prepared.lines for p in parsed}
        now = format_ns(time.time_ns())
        for p in kept:
            name = str(p.path)
            if p.unchanged and name in state:
                continue
            before = state.get(name)
            grew = before is None or p.consumed_bytes > before.bytes or p.consumed_sha256 != before.sha256
            new_state[name] = FileState(
                bytes=p.consumed_bytes,
                lines=p.start_lines + lines_read.get(p.index, 0),
                sha256=p.consumed_sha256,
                compressed=p.compressed,
                newest_ns=_later(before.newest_ns if before else None, newest.get(name)),
                grew_at=now if grew else (before.grew_at if before else None),
            )
        record: JsonObject = {
            "ingest_id": writer.ingest_id,
            "format": 1,
            **{k: v for k, v in summary.to_json().items() if k not in ("ingest_id", "store")},
        }
        writer.commit(record, new_state)
    progress.note(
        f"ingest: {summary.lines:,} lines, {summary.events:,} new events in {summary.seconds:.2f} s"
    )
    return summary


def _later(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _newest(
    con: duckdb.DuckDBPyConnection, stage: Path, target: Store, state: dict[str, FileState]
) -> dict[str, int]:
    """Per source file: the latest instant among this ingest's new events (staged under ``stage``)
    and, once for a store from before freshness was kept, among the store's events."""
    files = sorted(stage.glob("day=*/*.parquet")) if stage.is_dir() else []
    if target.exists() and any(not s.fresh for s in state.values()):
        files += target.event_files()
    if not files:
        return {}
    rows = con.execute(load_sql("engine/ingest/newest_by_source"), {"files": literals(files)}).fetchall()
    return {str(source): int(newest) for source, newest in rows}


def _write(
    con: duckdb.DuckDBPyConnection,
    parsed: Sequence[_dedupe.Parsed],
    sources: Sequence[Path],
    target: Store,
    writer: StoreWriter,
) -> _dedupe.Counts:
    """De-duplicate and write this ingest's events and rejects; their checked counts."""
    with engine_errors("ingest: writing events", memory_limit=MEMORY_LIMIT, where=str(target.path)):
        _dedupe.register(con, parsed, sources)
        _dedupe.check_rows(con, parsed)
        known = _dedupe.known_rejects(con, target.reject_files() if target.exists() else [], parsed)
        # duplicates share their instant: only the store's files of the days these events fall on
        days = {str(d) for (d,) in con.execute(load_sql("engine/ingest/ingest_days")).fetchall()}
        store_files = [literal(f) for f in target.event_files_of_days(days)] if target.exists() else []
        if store_files:
            set_var(con, "store_files", store_files)
            con.execute(
                "CREATE OR REPLACE TEMP VIEW store_event_ids AS "
                "SELECT event_id FROM read_parquet(getvariable('store_files'), hive_partitioning = false)"
            )
        else:
            con.execute(
                "CREATE OR REPLACE TEMP VIEW store_event_ids AS SELECT NULL::VARCHAR AS event_id WHERE false"
            )
        set_var(con, "ingest_id", writer.ingest_id)
        con.execute("SET preserve_insertion_order = false")  # events need no order: parallel writing
        _dedupe.find_repeated(con, sum(p.prepared.lines for p in parsed))
        _faults.point("before-write")
        # (COPY takes the path as a prepared parameter: no path is pasted into SQL text)
        con.execute(copy_events_by_day(load_sql("engine/ingest/new_events")), [str(writer.events_stage)])
        _faults.point("after-events")
        con.execute(_dedupe.copy_zstd(_dedupe.rejects_query()), [str(writer.rejects_tmp)])
        return _dedupe.count(con, parsed, writer.events_stage, writer.rejects_tmp, known=known)


def _summary(
    *,
    ingest_id: str | None,
    store: Store | None,
    plans: Sequence[Plan],
    parsed: Sequence[_dedupe.Parsed],
    counts: _dedupe.Counts,
    pending: int,
) -> IngestSummary:
    rejects = {code: counts.rejects[code] for code in REJECT_CODES if counts.rejects.get(code)}
    lines_read = {p.prepared.plan.index: p.prepared.lines for p in parsed}
    summary = IngestSummary(
        ingest_id=ingest_id,
        store=str(store.path) if store is not None else None,
        lines=counts.lines + pending,
        events=counts.events,
        duplicates=counts.candidates - counts.events + counts.repeated_rejects,
        pending=pending,
        rejects=rejects,
        bytes_read=sum(p.consumed_bytes - p.start_bytes for p in plans if not p.unchanged),
        reject_sample=counts.sample,
    )
    for p in plans:
        summary.inputs.append(
            InputFile(
                path=str(p.path),
                size=p.size,
                sha256=p.sha256,
                compressed=p.compressed,
                compression=p.compression,
                first_line=p.start_lines + 1,
                lines=lines_read.get(p.index, 0) + (1 if p.pending else 0),
                pending=p.pending,
                unchanged=p.unchanged,
            )
        )
    return summary


def validate(paths: Iterable[str | os.PathLike[str]], *, quiet: bool = True) -> list[Reject]:
    """The lines ingest would reject (whole files, as if the store were empty), writing nothing.

    Pending tails of live files are not rejects. Sorted by file then line. Files that cannot be read
    are left out (``ingest`` reports them as findings).
    """
    return validate_files(paths, quiet=quiet)[0]


def validate_files(
    paths: Iterable[str | os.PathLike[str]], *, quiet: bool = True
) -> tuple[list[Reject], list[Finding]]:
    """:func:`validate`, and the findings about files it could not read."""
    progress = Progress(quiet=quiet)
    inputs = resolve_inputs(paths)
    if not inputs.files:
        raise _nothing_to_read(inputs.findings)
    findings = list(inputs.findings)
    with scratch_dir("validate") as work_dir:
        plans = _plan_all(inputs.files, {}, findings)
        con = connect(memory_limit=MEMORY_LIMIT, scratch=work_dir)
        try:
            con.execute("SET preserve_insertion_order = true")
            parsed = _read_all(
                con, plans, work_dir=work_dir, findings=findings, progress=progress, command="validate"
            )
            with engine_errors("validate", memory_limit=MEMORY_LIMIT, where=tempfile.gettempdir()):
                _dedupe.register(con, parsed, inputs.files)
                _dedupe.check_rows(con, parsed)
                set_var(con, "ingest_id", None)
                rows = con.execute(
                    f"SELECT source_file, source_line, code, raw FROM ({load_sql('engine/ingest/rejects')}) "
                    "ORDER BY file_index, source_line"
                ).fetchall()
        finally:
            con.close()
    return [Reject(str(f), int(n), str(c), str(r)) for f, n, c, r in rows], findings
