"""Stage: ledger files -> events, rejects and an ingest record in the event store (SPEC 1, 2, 5).

The ingest of a list of paths, in order:

1. ``_inputs``: paths, folders and globs -> regular files (sorted), and a finding for each file that
   cannot be read (dangling link, FIFO, permission, non-UTF-8 name).
2. ``_scan``: per file, the Python pass: digests (the ingest record and ``files.json``), what is new
   since the last ingest, whether its new lines are plain for DuckDB, whether it is a ledger at all.
3. ``_prepare``: what DuckDB reads: the file in place, a copy of its new part, or a sanitised copy
   (``_sanitise``: odd lines classified or rewritten, in linear time and constant memory; compressed
   files, ``_compressed``, are decompressed as a stream into such a copy); a small file's lines go
   into a bundle, one scratch file of many files' lines.
4. ``_parse``: DuckDB parses the lines (``sql/engine/ingest/parsed_lines.sql``) into scratch tables,
   a batch of files (a list of paths) a query: a few queries however many files.
5. ``_lines``: the parsed rows numbered with their files' own lines (``ingest_lines``), and each
   file's row count checked against the Python pass's.
6. ``_dedupe``: de-duplication, the events (one query per UTC day) and rejects files, and the
   counts, checked before the store commits them with the ingest record and the new
   ``files.json`` (``reconcile._store._reader``), once for all the files.

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
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from reconcile._core import _faults
from reconcile._core._duckdb import connect, engine_errors, literals
from reconcile._core._jsonvalue import JsonObject
from reconcile._core._period import format_ns
from reconcile._core._progress import Progress
from reconcile._core._schema import REJECT_CODES
from reconcile._core._scratch import scratch_dir
from reconcile._core._sql import load_sql
from reconcile._ingest import _dedupe, _lines
from reconcile._ingest._inputs import resolve_inputs
from reconcile._ingest._parse import Batch, parse, plan_batches, set_var
from reconcile._ingest._prepare import Prepared, Spools, prepare
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
from reconcile._store._reader import FileState, Store
from reconcile._store._writer import StoreWriter, open_writer
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


def _prepare_all(
    plans: Sequence[Plan],
    work_dir: Path,
    spools: Spools,
    *,
    findings: list[Finding],
    progress: Progress,
    command: str,
) -> list[Prepared]:
    """What DuckDB reads of every planned file with something new (copies made in this pass); a
    file that turned out not to be a ledger is a finding."""
    prepared = []
    copied = 0
    for plan in plans:
        if plan.unchanged:
            continue
        if not (plan.plain and plan.start_bytes == 0):
            progress.update(f"{command}: copying {relative_name(plan.path)} ({plan.size / 1e6:,.1f} MB)")
        p = prepare(plan, work_dir, spools)
        findings.extend(p.findings)
        if not p.ledger:
            findings.append(_not_a_ledger(plan.path))
            continue
        copied += p.copy
        prepared.append(p)
    if copied:
        progress.note(f"{command}: {copied:,} of {len(prepared):,} file(s) read through a copy")
    return prepared


def _parse_all(
    con: duckdb.DuckDBPyConnection,
    prepared: list[Prepared],
    work_dir: Path,
    spools: Spools,
    *,
    findings: list[Finding],
    progress: Progress,
    command: str,
) -> tuple[list[Batch], list[Prepared]]:
    """Parse every prepared file's lines, in batches (``_parse``); the batches and the files read.

    A batch DuckDB refuses while it reads a ledger in place (a line near its size limit, or bytes
    appended meanwhile, say) is read again with those ledgers copied: the sanitised copy always
    reads. A ledger read in place that was replaced meanwhile is a finding, and its rows are left
    out (``ingest_lines`` reads the files returned).
    """
    batches = plan_batches(prepared, work_dir)
    total = sum(b.text_bytes for b in batches)
    done_bytes = 0
    read: list[Batch] = []
    queue = list(batches)
    next_source = max((b.first_source + len(b.paths) for b in batches), default=0)
    while queue:
        batch = queue.pop(0)
        size = batch.text_bytes
        step = f"{command}: parsing {_batch_name(batch)}"
        progress.update(f"{step} ({size / 1e6:,.1f} MB)")
        with (
            progress.ticking(_reading(con, command, _batch_name(batch), size, done_bytes, total)),
            engine_errors(step, memory_limit=MEMORY_LIMIT, where=str(work_dir)),
        ):
            try:
                parse(con, batch, memory_limit=MEMORY_LIMIT)
            except (duckdb.InterruptException, duckdb.OutOfMemoryException):
                raise
            except duckdb.Error:
                in_place = [p for p in batch.files if not p.copy]
                if not in_place:
                    raise
                # DuckDB could not read a ledger as it is: its sanitised copy always reads
                copies = [p for p in batch.files if p.copy]
                copies += [prepare(p.plan, work_dir, spools, force_copy=True) for p in in_place]
                redo = plan_batches(copies, work_dir, first_source=next_source)
                next_source = max((b.first_source + len(b.paths) for b in redo), default=next_source)
                queue[:0] = redo
                continue
        done_bytes += size
        read.append(batch)
    _faults.point("after-parse")
    files = []
    for batch in read:
        for p in batch.files:
            if not p.copy and not same_file(p.plan):
                findings.append(
                    Finding(
                        display_path(p.plan.path),
                        "unreadable",
                        "replaced while being read: skipped (read next time)",
                    )
                )
                continue
            files.append(p)
    files.sort(key=lambda p: p.plan.index)
    return read, files


@dataclass(frozen=True)
class _Read:
    """What DuckDB parsed of an ingest's files."""

    batches: list[Batch]
    files: list[Prepared]  # the files read, by file_index
    spooled: tuple[Path | None, Path | None, Path | None]  # prescan, originals and gaps spools


def _read_all(
    con: duckdb.DuckDBPyConnection,
    plans: Sequence[Plan],
    *,
    work_dir: Path,
    findings: list[Finding],
    progress: Progress,
    command: str,
) -> _Read:
    """Prepare and parse every planned file; progress lines start with ``command`` (``ingest`` or
    ``validate``)."""
    spools = Spools(work_dir)
    prepared = _prepare_all(plans, work_dir, spools, findings=findings, progress=progress, command=command)
    spools.seal_bundles()  # (complete on disk before DuckDB reads them)
    batches, files = _parse_all(
        con, prepared, work_dir, spools, findings=findings, progress=progress, command=command
    )
    return _Read(batches, files, spools.close())


def _reading(  # noqa: PLR0917 (the figures of one line, in the order it prints them)
    con: duckdb.DuckDBPyConnection, command: str, name: str, size: int, done: int, total: int
) -> Callable[[], str]:
    """The progress line of a batch being parsed: MB read of all, the rate and what is left."""
    started = time.monotonic()

    def line() -> str:
        seconds = time.monotonic() - started
        share = con.query_progress()  # -1 while no DuckDB query runs
        if share < 0:
            return f"{command}: parsing {name} ({size / 1e6:,.1f} MB), {seconds:.0f} s"
        now = done + size * min(share, 100.0) / 100.0
        rate = (now - done) / seconds if seconds > 0 else 0.0
        left = f", about {(total - now) / rate:,.0f} s left" if rate > 0 else ""
        return f"{command}: {now / 1e6:,.1f} of {total / 1e6:,.1f} MB, {rate / 1e6:,.1f} MB/s{left} ({name})"

    return line


def _batch_name(batch: Batch) -> str:
    first = relative_name(batch.files[0].plan.path)
    return first if len(batch.files) == 1 else f"{len(batch.files):,} files from {first}"


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
    with engine_errors("ingest", where=str(target.path)), open_writer(target, wait=wait) as writer:
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
            read = _read_all(
                con, plans, work_dir=work_dir, findings=findings, progress=progress, command="ingest"
            )
            files = read.files
            counts = _write(con, read, target, writer)
            newest = _newest(con, writer.events_stage, target, state)
        finally:
            con.close()
        indexes = {p.plan.index for p in files}
        kept = [p for p in plans if p.index in indexes or p.unchanged]
        pending = sum(1 for p in kept if p.pending)
        summary = _summary(
            ingest_id=writer.ingest_id,
            store=target,
            plans=kept,
            files=files,
            counts=counts,
            pending=pending,
        )
        summary.findings = findings
        summary.seconds = time.monotonic() - started
        new_state = {
            name: replace(old, newest_ns=newest.get(name, old.newest_ns)) for name, old in state.items()
        }
        lines_read = {p.plan.index: p.lines for p in files}
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


def _write(con: duckdb.DuckDBPyConnection, read: _Read, target: Store, writer: StoreWriter) -> _dedupe.Counts:
    """De-duplicate and write this ingest's events and rejects; their checked counts."""
    files = read.files
    with engine_errors("ingest: writing events", memory_limit=MEMORY_LIMIT, where=str(target.path)):
        _lines.register(con, read.batches, files, read.spooled)
        _lines.check_rows(con, files)
        known = _dedupe.known_rejects(con, target.reject_files() if target.exists() else [], files)
        days = _dedupe.ingest_days(con)
        set_var(con, "ingest_id", writer.ingest_id)
        con.execute("SET preserve_insertion_order = false")  # events need no order: parallel writing
        _dedupe.find_repeated(con, sum(p.lines for p in files))
        _faults.point("before-write")
        _dedupe.write_events(con, read.batches, days, target, writer.events_stage)
        _faults.point("after-events")
        con.execute(_dedupe.copy_zstd(_dedupe.rejects_query()), [str(writer.rejects_tmp)])
        return _dedupe.count(con, files, writer.events_stage, writer.rejects_tmp, known=known)


def _summary(
    *,
    ingest_id: str | None,
    store: Store | None,
    plans: Sequence[Plan],
    files: Sequence[Prepared],
    counts: _dedupe.Counts,
    pending: int,
) -> IngestSummary:
    rejects = {code: counts.rejects[code] for code in REJECT_CODES if counts.rejects.get(code)}
    lines_read = {p.plan.index: p.lines for p in files}
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
            read = _read_all(
                con, plans, work_dir=work_dir, findings=findings, progress=progress, command="validate"
            )
            with engine_errors("validate", memory_limit=MEMORY_LIMIT, where=tempfile.gettempdir()):
                _lines.register(con, read.batches, read.files, read.spooled)
                _lines.check_rows(con, read.files)
                set_var(con, "ingest_id", None)
                rows = con.execute(
                    f"SELECT source_file, source_line, code, raw FROM ({load_sql('engine/ingest/rejects')}) "
                    "ORDER BY file_index, source_line"
                ).fetchall()
        finally:
            con.close()
    return [Reject(str(f), int(n), str(c), str(r)) for f, n, c, r in rows], findings
