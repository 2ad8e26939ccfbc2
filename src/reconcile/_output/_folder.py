"""Stage: a run's tables -> the Parquet output folder, replaced atomically per period.

The layout of an output folder is ``_layout``'s: a partition folder per day of slices and per
period of intervals, anomalies and the manifest; a commit's journal, staging and trash folders.

Commit protocol: every new file of a period is written and fsynced under ``.staging/<token>/`` in the
same tree shape. The journal (written to a temporary name, fsynced, renamed into place: the commit
point) lists one swap per partition folder, the manifest last. Each swap renames the old folder (if
any) into ``.trash`` and the staged one into place. Then the journal is removed and the staging and
trash folders deleted. Every swap step is idempotent, so whoever finds a journal (the next run, or
:func:`recover_output`, which :func:`read_output` calls) finishes it: a run killed before the journal
rename leaves the previous output; killed after it, the new one.

Crash tests stop a real writer at the fault points of ``_faults`` (``staging``, ``staged``,
``journal``, ``swap`` and ``swapped`` inside :func:`_roll_forward`'s own loop, ``committed``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import polars as pl

from reconcile._core import _faults
from reconcile._core._duckdb import literals
from reconcile._core._files import (
    fsync_path,
    fsync_tree,
    lock_output,
    private_files,
    read_journal,
    read_json,
    write_json_atomic,
)
from reconcile._core._integrity import FileRecord, record_files
from reconcile._core._period import Period, format_ns
from reconcile._core._signals import critical
from reconcile._output import _bill_versions as _versions
from reconcile._output import _check as _output_check
from reconcile._output import _layout, _staging
from reconcile._output._manifest import Manifest, read_manifest, read_manifests
from reconcile.exceptions import OutputError, UsageError

OUTPUT_FORMAT = 2
# 2: every instant column is TIMESTAMPTZ_NS (UTC-adjusted); format 1 wrote naive TIMESTAMP_NS meaning UTC.
# A folder of format 1 is upgraded in place by `reconcile upgrade-output` (``_upgrade``) before a run
# of format 2 may commit to it: one folder never mixes the two.

_JOURNAL = _layout.JOURNAL
_STAGING = _layout.STAGING
_TRASH = _layout.TRASH


# --- recovery -----------------------------------------------------------------------------------


def _roll_forward(root: Path) -> bool:
    """Finish an interrupted commit, if the journal says there is one. True if it did something."""
    journal_path = root / _JOURNAL
    journal = read_journal(journal_path)
    if journal is None:
        return False
    token, swaps = journal
    for number, swap in enumerate(swaps):
        target, source, trash = root / swap["target"], root / swap["source"], root / swap["trash"]
        if not source.exists():
            continue  # this swap was done
        if target.exists():
            if trash.exists():
                shutil.rmtree(target)
            else:
                trash.parent.mkdir(parents=True, exist_ok=True)
                target.rename(trash)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.rename(target)
        if number == 0:
            _faults.point("swap")  # half old, half new on disk: the journal finishes it
    _faults.point("swapped")
    # every folder a swap renamed into (a kept version's in the history too), before the journal goes
    for folder in sorted({(root / s["target"]).parent for s in swaps}):
        fsync_path(folder)
    journal_path.unlink()
    fsync_path(root)
    shutil.rmtree(root / _STAGING / token, ignore_errors=True)
    shutil.rmtree(root / _TRASH / token, ignore_errors=True)
    for leftover in (_STAGING, _TRASH):
        with contextlib.suppress(OSError):
            (root / leftover).rmdir()  # only when empty: another run may be staging there
    return True


def recover_output(path: str | Path, *, wait: float = 30.0) -> bool:
    """Finish a commit a killed run left half done (taking the folder's lock). True if there was one."""
    root = Path(path)
    if not (root / _JOURNAL).exists():
        return False
    fd = lock_output(root, wait=wait)
    try:
        return _roll_forward(root)
    finally:
        os.close(fd)


# --- the writer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteResult:
    """What one committed period wrote."""

    period: str
    run_id: str
    rows: dict[str, int]  # table -> rows written
    replaced: bool  # an earlier run of this period was replaced
    manifest: Manifest  # the manifest committed


@dataclass(frozen=True)
class Staged:
    """One period's files, written under ``.staging/<token>/`` and not yet committed."""

    period: Period
    run_id: str
    token: str
    root: Path  # OUT/.staging/<token>
    files: dict[str, list[Path]]  # table -> its staged files
    rows: dict[str, int]  # table -> rows in them
    records: dict[str, FileRecord] = field(default_factory=dict)  # path relative to ``root`` -> record


class OutputFolder:
    """An output folder held for writing: the lock is taken on open and released on :meth:`close`.

    Opening rolls forward an interrupted commit and clears what crashed runs left in staging.
    """

    def __init__(self, path: str | Path, *, wait: float = 0.0, lock_fd: int | None = None) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"output {self.path} is not a folder")
        self._owns_lock = lock_fd is None  # else the caller took it first (``_files.lock_output``)
        self.committed: list[str] = []  # the periods whose commit point this folder passed, in order
        self._fd: int | None = lock_output(self.path, wait=wait) if lock_fd is None else lock_fd
        try:
            _roll_forward(self.path)
            for leftover in (_STAGING, _TRASH):
                shutil.rmtree(self.path / leftover, ignore_errors=True)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the lock (unless the caller holds it)."""
        if self._fd is not None:
            if self._owns_lock:
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reading what is committed

    def period_length(self) -> str | None:
        """``day`` or ``month``: the period length this folder holds (None while empty)."""
        return _period_length(self.path)

    def manifest(self, period_name: str) -> Manifest | None:
        """The committed manifest of a period, or None."""
        return read_manifest(self.path, period_name)

    def manifests(self) -> dict[str, Manifest]:
        """Every committed manifest, by period name."""
        return read_manifests(self.path)

    # writing

    def stage(
        self,
        batch: _staging.Batch,
        chunks: Iterable[Sequence[_staging.SliceUnit]] | None = None,
        price: Callable[[Sequence[_staging.SliceUnit]], None] | None = None,
    ) -> list[Staged]:
        """Write every file of every period of ``batch`` under ``.staging/`` (in parallel), each
        period under its own token; their columns and row counts checked. Nothing is committed.
        Slices a chunk at a time (``_staging.stage_slices``; ``chunks`` None: the units
        :meth:`_staging.Batch.collect` put in ``batch_slices``), ``price`` filling each."""
        if self._fd is None:
            raise OutputError(f"output folder {self.path} is closed")
        if not batch.entries:
            return []
        self._bind([e.period for e in batch.entries])
        with private_files():
            staged: list[Staged] = []
            moves: list[tuple[str, Path, Path]] = []
            try:
                for entry in batch.entries:
                    token, root = self.staging(entry.run_id[:16])
                    period_moves = batch.moves(entry, root)
                    moves.extend(period_moves)
                    files = {t: [m[2] for m in period_moves if m[0] == t] for t in _staging.TABLES}
                    files["slices"] = batch.slice_files(entry, root)
                    staged.append(Staged(entry.period, entry.run_id, token, root, files, {}))
                _staging.place(moves, after_first=lambda: _faults.point("staging"))
                roots = {s.period.name: s.root for s in staged}
                _staging.stage_slices(batch, [list(batch.units)] if chunks is None else chunks, price, roots)
                return [self._check_staged(batch.con, s) for s in staged]
            except BaseException:
                self.discard(staged)
                raise

    def adopt(self, con: duckdb.DuckDBPyConnection, period: Period, run_id: str, token: str) -> Staged:
        """A period whose files another writer put under ``.staging/<token>/`` (the Spark engine's
        tasks: the period's partition folders, ``_layout.partitions``, any number of ``*.parquet``
        each, every day of the period holding at least one), checked as
        :meth:`stage` checks its own. Nothing is committed."""
        if self._fd is None:
            raise OutputError(f"output folder {self.path} is closed")
        self._bind([period])
        root = self.path / _STAGING / token
        folders = _layout.period_folders(root, period.name)
        files: dict[str, list[Path]] = {}
        for table, dirs in folders.items():
            missing = [d for d in dirs if not any(d.glob(_layout.PARQUET))]
            if missing:
                raise OutputError(f"period {period.name}: nothing staged in {missing[0]}")
            files[table] = sorted(f for d in dirs for f in d.glob(_layout.PARQUET))
        return self._check_staged(con, Staged(period, run_id, token, root, files, {}))

    def _bind(self, periods: Sequence[Period]) -> None:
        """Check the folder takes these periods (its output format, its one period length) and bind
        an empty folder to their length (``output.json``)."""
        lengths = {p.length for p in periods}
        if len(lengths) > 1:
            raise UsageError(f"one batch holds periods of {' and '.join(sorted(lengths))}")
        length = lengths.pop()
        # output.json is written before the first commit; it binds the folder once a period is committed
        # (one manifest is enough to know: never read a year of them for it)
        committed = next(self.path.glob(_layout.MANIFEST_GLOB), None) is not None
        held_format = output_format(self.path)
        if committed and held_format < OUTPUT_FORMAT:
            raise OutputError(
                f"output folder {self.path} holds output format {held_format} (instants without their"
                f" zone); upgrade it once with `reconcile upgrade-output --output {self.path}`,"
                " then run again"
            )
        held = self.period_length() if committed else None
        if held is not None and held != length:
            raise UsageError(
                f"output folder {self.path} holds {held} runs; period {periods[0].name} is a {length}: "
                "use one output folder per period length"
            )
        if held is None and self.period_length() != length:
            with private_files():
                write_json_atomic(
                    self.path / _layout.OUTPUT_JSON, {"format": OUTPUT_FORMAT, "period_length": length}
                )

    def _check_staged(self, con: duckdb.DuckDBPyConnection, staged: Staged) -> Staged:
        """``staged`` with its rows per table and the record of each file (size, rows, SHA-256: the
        manifest's ``files``); OutputError if their columns are not the SPEC's."""
        for table, files in staged.files.items():
            rel = con.sql(
                "SELECT * FROM read_parquet(?, hive_partitioning = false)", params=[literals(files)]
            )
            _staging.check_columns(rel, table, _staging.SPEC_COLUMNS[table])
        paths = [f for table in staged.files for f in staged.files[table]]
        records = dict(zip(paths, record_files(paths), strict=True))
        rows = {t: sum(records[f].rows for f in files) for t, files in staged.files.items()}
        named = {f.relative_to(staged.root).as_posix(): r for f, r in records.items()}
        return replace(staged, rows=rows, records=named)

    def commit(self, staged: Staged, manifest: Manifest) -> WriteResult:
        """Commit one staged period atomically with ``manifest`` (its row counts, version and commit
        instant set)."""
        if self._fd is None:
            raise OutputError(f"output folder {self.path} is closed")
        period = staged.period
        previous = self.manifest(period.name)
        with private_files():
            document, kept = self._version(staged, manifest, previous)
            manifest_path = _layout.manifest_file(staged.root, period.name)
            manifest_path.parent.mkdir(parents=True)
            manifest_path.write_text(
                json.dumps(document.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            _faults.point("staged")

            targets = [p for parts in _layout.partitions(period.name, period.days()).values() for p in parts]
            targets += [kept] if kept is not None else []  # the replaced version, kept
            targets.append(_layout.manifest_partition(period.name))  # last: it marks a whole period
            replaced = previous is not None
            self.commit_folders(staged.token, targets, {"period": period.name, "run_id": staged.run_id})
        return WriteResult(period.name, staged.run_id, staged.rows, replaced, document)

    def staging(self, label: str) -> tuple[str, Path]:
        """A new staging token and its folder ``OUT/.staging/<token>`` (created, private)."""
        token = f"{label}-{os.getpid()}-{secrets.token_hex(4)}"
        root = self.path / _STAGING / token
        with private_files():
            root.mkdir(parents=True)
        return token, root

    def commit_folders(self, token: str, targets: Sequence[str], about: dict[str, str]) -> None:
        """Put the folders staged under ``.staging/<token>/<target>`` in place, in one commit: the
        journal (``about`` names what it commits), then each swap in order (the last marks the whole)."""
        if self._fd is None:
            raise OutputError(f"output folder {self.path} is closed")
        with private_files():
            root = self.path / _STAGING / token
            fsync_tree(root)
            fsync_path(root.parent)
            swaps = [
                {"target": t, "source": f"{_STAGING}/{token}/{t}", "trash": f"{_TRASH}/{token}/{t}"}
                for t in targets
            ]
            journal = {"format": OUTPUT_FORMAT, "token": token, **about, "swaps": swaps}
            with critical():  # a SIGTERM waits for the commit to be whole (``_signals``)
                write_json_atomic(self.path / _JOURNAL, journal)  # the commit point
                self.committed.append(about["period"])  # (a deferred signal is raised after this)
                _faults.point("journal")
                _roll_forward(self.path)
            _faults.point("committed")

    def _version(
        self, staged: Staged, manifest: Manifest, previous: Manifest | None
    ) -> tuple[Manifest, str | None]:
        """The manifest to commit (its ``version``, ``committed_at`` and row counts set) and the
        folder, relative to the output, of the replaced version staged to be kept (``_versions``).
        A first run of a period whose manifest was moved away goes on after its kept versions."""
        version, kept = max(_versions.kept_versions(self.path, staged.period.name), default=0) + 1, None
        replaces = manifest.replaces
        if previous is not None:
            number = _versions.current_version(self.path, staged.period.name, previous)
            version = number
            if previous.run_id != staged.run_id:  # the same run_id: the same rows, no new version
                version = number + 1
                kept = _layout.version_partition(staged.period.name, number)
                try:
                    _versions.keep(self.path, staged.period, staged.root / kept)
                except (OSError, ValueError, duckdb.Error) as exc:
                    raise OutputError(
                        f"output folder {self.path}: cannot keep version {number} of period"
                        f" {staged.period.name} before replacing it: {exc}"
                    ) from None
                if replaces is not None:
                    replaces = replace(replaces, version=number)
        document = replace(
            manifest,
            replaces=replaces,
            rows=dict(staged.rows),
            files=dict(staged.records),
            version=version,
            committed_at=format_ns(time.time_ns()),
        )
        return document, kept

    def discard(self, staged: Sequence[Staged]) -> None:
        """Remove what is left of staged periods (a committed one's staging is gone already)."""
        for item in staged:
            shutil.rmtree(item.root, ignore_errors=True)


def _output_meta(root: Path) -> dict[str, object] | None:
    """``output.json`` of an output folder (None: not written yet)."""
    meta = read_json(root / _layout.OUTPUT_JSON, "output description")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        raise OutputError(f"{root / _layout.OUTPUT_JSON}: not a JSON object")
    return meta


def output_format(root: Path) -> int:
    """The format ``output.json`` records (1 for a folder from before it recorded one; the current
    one for a folder without it yet)."""
    meta = _output_meta(root)
    return OUTPUT_FORMAT if meta is None else int(str(meta.get("format", 1)))


def _period_length(root: Path) -> str | None:
    meta = _output_meta(root)
    if meta is None:
        return None
    length = meta.get("period_length")
    if length not in {"day", "month"}:
        raise OutputError(f"{root / _layout.OUTPUT_JSON}: period_length {length!r} is not day or month")
    return str(length)


@dataclass(frozen=True)
class OutputTables:
    """An output folder as polars LazyFrames, plus its manifests by period name."""

    slices: pl.LazyFrame
    intervals: pl.LazyFrame
    anomalies: pl.LazyFrame
    manifests: dict[str, Manifest]


def read_output(path: str | Path, *, wait: float = 30.0) -> OutputTables:
    """Open an output folder for reading, finishing an interrupted commit first.

    The frames scan the committed Parquet files lazily; collect them before another run commits
    to the same folder (or hold off runs), since a commit replaces files.
    """
    root = Path(path)
    if not root.is_dir():
        raise OutputError(f"output folder {root} does not exist")
    recover_output(root, wait=wait)
    manifests = read_manifests(root)
    if not manifests:
        raise OutputError(f"output folder {root} holds no committed run")
    _output_check.check_output(root, manifests)  # every file by its footer (docs/OPERATIONS.md)

    def scan(table: str) -> pl.LazyFrame:
        files = sorted(str(p) for p in (root / table).glob(_layout.TABLE_FILES_GLOB))
        return pl.scan_parquet(files, hive_partitioning=False, glob=False)

    return OutputTables(scan("slices"), scan("intervals"), scan("anomalies"), manifests)


@contextlib.contextmanager
def open_output(path: str | Path, *, wait: float = 0.0, lock_fd: int | None = None) -> Iterator[OutputFolder]:
    """``with open_output(dir) as out:`` hold an output folder for writing (``lock_fd``: its lock,
    taken already by the caller, who releases it)."""
    folder = OutputFolder(path, wait=wait, lock_fd=lock_fd)
    try:
        yield folder
    finally:
        folder.close()
