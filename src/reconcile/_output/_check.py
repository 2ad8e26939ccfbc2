"""An output folder's committed files checked against what its documents record (``_integrity``).

What is expected:

- each period's files are those its ``manifest.json`` lists in ``files`` (size, rows, SHA-256). A
  manifest from before records were kept is checked by its footers: every file is a readable
  Parquet file, and the rows of each table add up to the manifest's ``rows`` when it has them;
- every Parquet file under ``slices/``, ``intervals/`` and ``anomalies/`` (what the analysts' views
  read) belongs to a committed period: a file no manifest lists would be counted by every reader;
- a closed month's ``issued_lines.parquet`` and slices as issued are those its ``close.json`` lists
  in ``files`` (footers only for one closed before records were kept);
- a kept version (``_layout``: the period's history) holds the files its manifest copy lists.

:func:`findings` yields every file that differs (``reconcile verify`` lists them all);
:func:`check_output` raises the first as a :class:`~reconcile.exceptions.DamagedFileError` (what
readers call before they read). Footers are checked everywhere; hashes for the periods a command
reads in full (``full``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Container, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import is_read_failure
from reconcile._core._integrity import FileRecord, parquet_rows, problem, records_from_json
from reconcile._core._period import parse_period
from reconcile._output import _layout
from reconcile._output._manifest import Manifest, read_manifests
from reconcile.exceptions import DamagedFileError, OutputError


@dataclass(frozen=True)
class Finding:
    """One damaged (or unlisted) file of an output folder, and what it belongs to."""

    path: Path
    expected: str
    found: str
    period: str | None = None  # the period whose manifest lists it (None: no manifest does)
    month: str | None = None  # the closed month whose issued files hold it
    version: int | None = None  # a kept (replaced) version of ``period``

    def hint(self, root: Path, *, scrub: bool = False) -> str:
        """How to recover it (docs/OPERATIONS.md, "Damaged files"); ``scrub``: as ``verify`` says it
        (which lists the rest itself)."""
        if self.month is not None:
            return (
                f"closed month {self.month}'s issued files are never rewritten: restore them from a backup"
                ' (docs/OPERATIONS.md, "Damaged files")'
            )
        if self.version is not None:
            return (
                f"a kept version of period {self.period}: `reconcile diff` cannot read it;"
                " restore it from a backup or remove that version's folder"
            )
        if self.period is None:
            return (
                "no manifest lists it: move it out of the output folder (or rerun its period),"
                f" then `reconcile verify --output {root}`"
            )
        rerun = f"rerun period {self.period} (`reconcile run --period {self.period} ...`) to rewrite it"
        return rerun if scrub else f"{rerun}; `reconcile verify --output {root}` lists what else is damaged"

    def error(self, root: Path) -> DamagedFileError:
        """This finding as the one-line error a reader stops with."""
        return DamagedFileError(self.path, self.expected, self.found, self.hint(root))


def _parquet(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def expected_files(root: Path, manifest: Manifest) -> list[tuple[Path, FileRecord | None]]:
    """The files of a committed period with their records (None: a manifest from before records)."""
    if manifest.files is not None:
        return [(root / name, record) for name, record in sorted(manifest.files.items())]
    return [
        (f, None)
        for dirs in _layout.period_folders(root, manifest.period).values()
        for d in dirs
        for f in _parquet(d)
    ]


def _legacy(root: Path, manifest: Manifest) -> Iterator[Finding]:
    """A period committed before records: its files' footers readable, and their rows adding up per
    table to the manifest's ``rows`` when it has them (a missing folder is named then)."""
    for table, dirs in _layout.period_folders(root, manifest.period).items():
        total, readable = 0, True
        for f in (f for folder in dirs for f in _parquet(folder)):
            try:
                total += parquet_rows(f)
            except (OSError, ValueError) as exc:
                yield Finding(f, "a Parquet file", f"no readable Parquet footer ({exc})", manifest.period)
                readable = False
        want = (manifest.rows or {}).get(table)
        if readable and want is not None and total != want:
            missing = next((d for d in dirs if not _parquet(d)), None)
            where = dirs[0] if missing is None else missing / _layout.DATA
            found = f"{total:,} rows" + ("" if missing is None else " (this file is missing)")
            yield Finding(where, f"{want:,} {table} rows (manifest rows)", found, manifest.period)


def period_findings(root: Path, manifest: Manifest, *, full: bool) -> Iterator[Finding]:
    """The damaged files of one committed period."""
    if manifest.files is None:
        yield from _legacy(root, manifest)
        return
    for path, record in expected_files(root, manifest):
        wrong = problem(path, record, full=full)
        if wrong is not None:
            yield Finding(path, wrong[0], wrong[1], manifest.period)


def _strays(root: Path, manifests: Mapping[str, Manifest]) -> Iterator[Finding]:
    """Parquet files the views would read that no committed manifest lists."""
    listed = {path for m in manifests.values() for path, _ in expected_files(root, m)}
    for table in _layout.TABLES:
        folder = root / table
        if not folder.is_dir():
            continue
        for f in sorted(folder.rglob(_layout.PARQUET)):
            if f not in listed:
                yield Finding(f, "no file (no committed manifest lists it)", "a file the views would read")


def _close_document(folder: Path) -> dict[str, object] | None:
    try:
        data = json.loads((folder / _layout.CLOSE_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OutputError(f"{folder / _layout.CLOSE_JSON}: unreadable close document: {exc}") from None
    return data if isinstance(data, dict) else {}


def closed_findings(root: Path, *, full: bool | Container[str]) -> Iterator[Finding]:
    """The damaged issued files of every closed month (``full``: by hash, for all or the months named)."""
    for month, folder in _layout.closed_months(root):
        hashed = full if isinstance(full, bool) else month in full
        document = _close_document(folder)
        if document is None:
            continue
        present = [folder / _layout.ISSUED_LINES, *_layout.kept_table_files(folder, "slices")]
        if "files" not in document:
            for f in present:
                wrong = problem(f, None, full=False)
                if wrong is not None:
                    yield Finding(f, wrong[0], wrong[1], month=month)
            continue
        try:
            records = records_from_json(document["files"], str(folder / _layout.CLOSE_JSON))  # type: ignore[arg-type]
        except ValueError as exc:
            raise OutputError(str(exc)) from None
        for name, record in sorted(records.items()):
            wrong = problem(folder / name, record, full=hashed)
            if wrong is not None:
                yield Finding(folder / name, wrong[0], wrong[1], month=month)
        for f in present:
            if f.relative_to(folder).as_posix() not in records:
                yield Finding(f, "no file (close.json does not list it)", "a file", month=month)


def kept_findings(folder: Path, manifest: Manifest, version: int, *, full: bool) -> Iterator[Finding]:
    """The damaged files of one kept version (its manifest copy's records; none: nothing to check)."""
    for name, record in sorted((manifest.files or {}).items()):
        path = _layout.kept_file(folder, name)
        wrong = problem(path, record, full=full)
        if wrong is not None:
            yield Finding(path, wrong[0], wrong[1], manifest.period, version=version)


def findings(
    root: Path, manifests: Mapping[str, Manifest], *, full: bool | Container[str] = False, closed: bool = True
) -> Iterator[Finding]:
    """Every damaged or unlisted file of the output folder ``root`` (module doc); ``full``: hashes
    for every period (True) or for the periods (and closed months) named."""
    in_full: Callable[[str], bool] = (lambda _p: full) if isinstance(full, bool) else (lambda p: p in full)
    for name, manifest in sorted(manifests.items()):
        yield from period_findings(root, manifest, full=in_full(name))
    yield from _strays(root, manifests)
    if closed:
        yield from closed_findings(root, full=full)


@contextlib.contextmanager
def naming_damage(root: Path) -> Iterator[None]:
    """Around DuckDB reading an output folder's files: when a read fails as a damaged file would make
    it fail, check every file in full and raise the damaged one's :class:`DamagedFileError` instead
    (DuckDB's own line names no file, or a copy); otherwise the DuckDB error as it was."""
    try:
        yield
    except duckdb.Error as exc:
        if is_read_failure(exc) and root.is_dir():
            check_output(root, read_manifests(root), full=True)
        raise


def covering(name: str) -> set[str]:
    """The names of the periods whose files hold period ``name``'s rows: its days and their months
    (a day folder's days, or a month folder's month)."""
    days = parse_period(name).days()
    return {d.isoformat() for d in days} | {f"{d:%Y-%m}" for d in days}


def check_output(
    root: Path, manifests: Mapping[str, Manifest], *, full: bool | Container[str] = False, closed: bool = True
) -> None:
    """Raise the first finding of :func:`findings` as a :class:`DamagedFileError`."""
    first = next(iter(findings(root, manifests, full=full, closed=closed)), None)
    if first is not None:
        raise first.error(root)
