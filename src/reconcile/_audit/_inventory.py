"""The platform's inventory snapshots: files read and checked once, then each instant's rows on demand.

Rows sharing ``observed_at`` form one snapshot, whichever files hold them, and a snapshot is
complete: a resource it does not list was not active then (docs/SPEC.md, "Inventory snapshots").
Bad input gets the ingest's treatment (``_ingest``): a path that does not exist is an error, a
file that cannot be read or is not an inventory snapshot is one :class:`Finding` (the audit goes
on without it), and a bad row is one :class:`BadRow` naming the file, the line and the value,
counted, while every other row is used. A bad row costs only what it must: when its instant,
family and resource can be read, that resource is neither trusted nor blamed at that instant
(``audit_excluded``); otherwise its instant (or, when even that cannot be read, every instant of
its file) is *incomplete*: what it lists still counts, what it leaves out proves nothing.

:func:`read_inventory` reads every file once (checking every row, counting each instant's rows);
CSV and JSON files, and Parquet files holding several instants, are written then to scratch
Parquet as checked rows ordered by instant, so :func:`load_snapshot` reads one instant's rows
cheaply; a Parquet file of one instant (a platform's usual export) is read again in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from reconcile._audit._formats import FileProblemError, Malformed, format_of, layout, open_batch
from reconcile._core._duckdb import drop_relation, literal
from reconcile._core._jsonvalue import JsonObject
from reconcile._core._progress import Progress
from reconcile._ingest._inputs import resolve_inputs
from reconcile._ingest._summary import Finding, display_path
from reconcile.exceptions import InputError

_CHECKED = (
    "observed_ns, file_no, line, family, resource_id, cpu, mem_bytes, storage_bytes, hypervisor, tenant_id"
)
BATCH_BYTES = 256 << 20
"""Files read together in one statement, at most about this many bytes of them (and one file at
least): a CSV or JSON batch is held in DuckDB (which spills) while it is checked."""
SHOWN_BAD_ROWS = 20
"""Bad rows kept in Python (the summary's sample); all are counted, and kept in ``audit_bad_rows``."""


@dataclass(frozen=True)
class BadRow:
    """A row of a snapshot file that was not used: where it is, its code, the value at fault."""

    path: str
    line: int | None
    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line if self.line is not None else '?'}: {self.code}: {self.detail}"

    def to_json(self) -> JsonObject:
        """A JSON object."""
        return {"path": self.path, "line": self.line, "code": self.code, "detail": self.detail}


@dataclass
class SnapshotFile:
    """One file read: its format and layout, rows used, instants, and where its checked rows are."""

    path: Path
    number: int
    fmt: str
    layout: tuple[str, ...] = ()
    rows: int = 0
    instants: tuple[int, ...] = ()
    staged: Path | None = None  # its checked rows are in this scratch Parquet (None: read in place)


@dataclass
class Inventory:
    """Every snapshot file read, what was skipped, the bad rows, and each instant's files."""

    files: list[SnapshotFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)  # the first SHOWN_BAD_ROWS
    bad_counts: dict[str, int] = field(default_factory=dict)  # code -> rows
    instants: dict[int, list[int]] = field(default_factory=dict)  # instant -> numbers of its files
    rows_at: dict[int, int] = field(default_factory=dict)  # instant -> rows listed (all files)
    incomplete: set[int] = field(default_factory=set)  # instants where absence proves nothing

    @property
    def rows(self) -> int:
        """Rows used, every instant."""
        return sum(self.rows_at.values())

    @property
    def bad(self) -> int:
        """Rows not used."""
        return sum(self.bad_counts.values())

    def count_bad(self, row: BadRow) -> None:
        """Count a bad row (and keep it while the sample has room)."""
        self.bad_counts[row.code] = self.bad_counts.get(row.code, 0) + 1
        if len(self.bad_rows) < SHOWN_BAD_ROWS:
            self.bad_rows.append(row)


def _files(paths: Iterable[str | Path], inventory: Inventory) -> list[Path]:
    """The snapshot files of ``paths`` (files, folders, globs): those of a folder whose names are
    not an inventory format's are findings, a folder holding none an error."""
    given = [Path(p) for p in paths]
    for path in given:
        if path.is_dir() and not any(
            format_of(f) for f in path.rglob("*") if f.is_file() and not f.name.startswith(".")
        ):
            raise InputError(f"{display_path(path)}: folder holds no inventory snapshot file")
    inputs = resolve_inputs(given)
    inventory.findings += inputs.findings
    return inputs.files


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _record_bad(
    con: duckdb.DuckDBPyConnection, bad: list[tuple[int, BadRow]], shown: dict[int, str]
) -> set[tuple[int, int | None]]:
    """Add the batch's bad rows to ``bad`` and ``audit_bad_rows``, exclude the resources
    they name at their instants; returns (file, instant) of those naming no resource (None: not
    even an instant)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_batch_bad AS SELECT file_no, line, code, detail, observed_ns,"
        " family, resource_id FROM audit_rows WHERE code IS NOT NULL"
    )
    con.execute("INSERT INTO audit_bad_rows SELECT * FROM audit_batch_bad")
    con.execute(
        "INSERT INTO audit_excluded SELECT DISTINCT observed_ns, family, resource_id FROM audit_batch_bad"
        " WHERE observed_ns IS NOT NULL AND family IS NOT NULL AND resource_id IS NOT NULL"
    )
    for number, line, code, detail in con.execute(
        "SELECT file_no, line, code, detail FROM audit_batch_bad ORDER BY file_no, line"
    ).fetchall():
        bad.append((int(number), BadRow(shown[int(number)], int(line), str(code), str(detail))))
    rows = con.execute(
        "SELECT DISTINCT file_no, observed_ns FROM audit_batch_bad"
        " WHERE observed_ns IS NULL OR family IS NULL OR resource_id IS NULL"
    ).fetchall()
    return {(int(n), None if at is None else int(at)) for n, at in rows}


def _read_batch(
    con: duckdb.DuckDBPyConnection, inventory: Inventory, batch: list[SnapshotFile], scratch: Path
) -> None:
    """Pass 1 over files of one format and layout, read together (module doc)."""
    first = batch[0]
    by_number = {item.number: item for item in batch}
    shown = {item.number: display_path(item.path) for item in batch}
    malformed: list[Malformed] = open_batch(con, first.fmt, first.layout, [(i.number, i.path) for i in batch])
    unknown: set[tuple[int, int | None]] = {(m.file_no, None) for m in malformed}
    bad = [
        (m.file_no, BadRow(shown[m.file_no], m.line, "malformed", f"{m.kind}: {m.text}")) for m in malformed
    ]
    grouped = con.execute(  # (one pass: the rows used per file and instant, and whether any is bad)
        "SELECT file_no, observed_ns, code IS NULL AS used, count(*) FROM audit_rows"
        " GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    counts = [(number, at, n) for number, at, used, n in grouped if used]
    if any(not used for _, _, used, _ in grouped):
        unknown |= _record_bad(con, bad, shown)
    for _, row in sorted(bad, key=lambda item: (item[0], item[1].line or 0)):
        inventory.count_bad(row)
    found: dict[int, list[tuple[int, int]]] = {}
    for number, at, n in counts:
        found.setdefault(int(number), []).append((int(at), int(n)))
    for item in batch:
        item.instants = tuple(at for at, _ in found.get(item.number, []))
        item.rows = sum(n for _, n in found.get(item.number, []))
    staged = [i.number for i in batch if i.fmt != "parquet" or len(i.instants) > 1]
    if staged:
        target = scratch / f"batch-{first.number}.parquet"
        con.execute(
            "CREATE OR REPLACE TEMP TABLE audit_batch_staged AS"
            " SELECT unnest(CAST(? AS BIGINT[])) AS file_no",
            [staged],
        )
        con.execute(
            f"COPY (SELECT {_CHECKED} FROM audit_rows SEMI JOIN audit_batch_staged USING (file_no)"
            " WHERE code IS NULL ORDER BY observed_ns, file_no, line)"
            " TO ? (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 100000)",
            [str(target)],
        )
        for number in staged:
            by_number[number].staged = target
    for item in batch:
        for at, n in found.get(item.number, []):
            inventory.instants.setdefault(at, []).append(item.number)
            inventory.rows_at[at] = inventory.rows_at.get(at, 0) + n
        inventory.files.append(item)
    for number, at in unknown:
        inventory.incomplete.update(by_number[number].instants if at is None else (at,))


def _batches(items: list[SnapshotFile]) -> list[list[SnapshotFile]]:
    """The files in groups read together: one format and layout, at most BATCH_BYTES (module doc)."""
    groups: dict[tuple[str, tuple[str, ...]], list[SnapshotFile]] = {}
    for item in items:
        groups.setdefault((item.fmt, item.layout), []).append(item)
    batches: list[list[SnapshotFile]] = []
    for members in groups.values():
        batch: list[SnapshotFile] = []
        size = 0
        for item in members:
            bytes_ = item.path.stat().st_size
            if batch and size + bytes_ > BATCH_BYTES:
                batches.append(batch)
                batch, size = [], 0
            batch.append(item)
            size += bytes_
        batches.append(batch)
    return batches


def _skip(inventory: Inventory, path: Path, code: str, detail: str) -> None:
    inventory.findings.append(Finding(display_path(path), code, f"{detail}: skipped"))


def _laid_out(con: duckdb.DuckDBPyConnection, inventory: Inventory, files: list[Path]) -> list[SnapshotFile]:
    """Each file's format and layout; the files that have none are findings."""
    items = []
    for number, path in enumerate(files):
        fmt = format_of(path)
        if fmt is None:
            _skip(
                inventory,
                path,
                "not_inventory",
                "not an inventory file: expected .csv, .jsonl or .parquet (maybe .gz, .zst)",
            )
            continue
        try:
            items.append(SnapshotFile(path, number, fmt, layout(con, path, fmt)))
        except FileProblemError as problem:
            _skip(inventory, path, problem.code, problem.detail)
        except (duckdb.OutOfMemoryException, duckdb.InterruptException):
            raise
        except duckdb.Error as exc:  # a file DuckDB cannot read (not UTF-8, not Parquet, truncated)
            _skip(inventory, path, "unreadable", f"cannot read: {_first_line(exc)}")
    return items


def read_inventory(
    con: duckdb.DuckDBPyConnection, paths: Iterable[str | Path], scratch: Path, progress: Progress
) -> Inventory:
    """Read and check every snapshot file of ``paths`` (module doc). Leaves ``audit_bad_rows`` and
    ``audit_excluded`` (``observed_ns, family, resource_id``: a resource unknown at an instant).
    Raises :class:`InputError` for a path that does not exist, a glob matching nothing or a
    folder with no snapshot file; out of memory and interruptions are raised as DuckDB's."""
    inventory = Inventory()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_bad_rows (file_no BIGINT, line BIGINT, code VARCHAR,"
        " detail VARCHAR, observed_ns BIGINT, family VARCHAR, resource_id VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_excluded"
        " (observed_ns BIGINT, family VARCHAR, resource_id VARCHAR)"
    )
    files = _files(paths, inventory)
    scratch.mkdir(parents=True, exist_ok=True)
    items = _laid_out(con, inventory, files)
    done = 0
    for batch in _batches(items):
        progress.update(f"audit: reading snapshot files: {done}/{len(items)}")
        try:
            _read_batch(con, inventory, batch, scratch)
        except (duckdb.OutOfMemoryException, duckdb.InterruptException):
            raise
        except duckdb.Error as exc:
            if len(batch) == 1:
                _skip(inventory, batch[0].path, "unreadable", f"cannot read: {_first_line(exc)}")
            else:  # one of them: read each alone, so the finding names it and the others are read
                for item in batch:
                    try:
                        _read_batch(con, inventory, [item], scratch)
                    except (duckdb.OutOfMemoryException, duckdb.InterruptException):
                        raise
                    except duckdb.Error as alone:
                        _skip(inventory, item.path, "unreadable", f"cannot read: {_first_line(alone)}")
        done += len(batch)
    inventory.files.sort(key=lambda f: f.number)
    progress.note(
        f"audit: {len(inventory.files)} snapshot file(s), {len(inventory.instants)} instant(s),"
        f" {inventory.rows} row(s) used, {inventory.bad} bad row(s),"
        f" {len(inventory.findings)} file(s) skipped"
    )
    return inventory


def load_snapshots(con: duckdb.DuckDBPyConnection, inventory: Inventory, instants: list[int]) -> None:
    """``audit_snapshot``: the rows listed at each of ``instants`` by every file holding it
    (``observed_ns``, ``file_no``, ``line`` and the checked columns). A view when the files are
    read in one statement (scratch Parquet, and Parquet files of one layout read in place and
    checked again): the comparison reads them as it goes; else a table of them."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_wanted AS SELECT unnest(CAST(? AS BIGINT[])) AS observed_ns",
        [instants],
    )
    by_number = {f.number: f for f in inventory.files}
    wanted = {n for at in instants for n in inventory.instants.get(at, [])}
    staged = sorted({str(by_number[n].staged) for n in wanted if by_number[n].staged is not None})
    direct: dict[tuple[str, ...], list[tuple[int, Path]]] = {}
    for number in sorted(wanted):
        item = by_number[number]
        if item.staged is None:  # a Parquet file of one instant, read again in place, checked again
            direct.setdefault(item.layout, []).append((number, item.path))
    con.execute("SET VARIABLE audit_staged = ?", [[literal(p) for p in staged]])
    from_staged = "FROM read_parquet(getvariable('audit_staged')) SEMI JOIN audit_wanted USING (observed_ns)"
    parts = [f"SELECT {_CHECKED} {from_staged}"] if staged else []
    drop_relation(con, "audit_snapshot")
    if len(direct) <= 1:
        for shape, files in direct.items():
            open_batch(con, "parquet", shape, files)
            parts.append(f"SELECT {_CHECKED} FROM audit_rows WHERE code IS NULL")
        if parts:
            con.execute(f"CREATE TEMP VIEW audit_snapshot AS {' UNION ALL '.join(parts)}")
            return
    con.execute(
        "CREATE TEMP TABLE audit_snapshot (observed_ns BIGINT, file_no BIGINT, line BIGINT, family VARCHAR,"
        " resource_id VARCHAR, cpu BIGINT, mem_bytes BIGINT, storage_bytes BIGINT, hypervisor VARCHAR,"
        " tenant_id VARCHAR)"
    )
    for part in parts:
        con.execute(f"INSERT INTO audit_snapshot {part}")
    for shape, files in direct.items():  # (several layouts: audit_rows is one layout at a time)
        open_batch(con, "parquet", shape, files)
        con.execute(f"INSERT INTO audit_snapshot SELECT {_CHECKED} FROM audit_rows WHERE code IS NULL")
