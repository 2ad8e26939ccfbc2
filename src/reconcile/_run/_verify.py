"""``reconcile verify``: a scrub of a store and an output folder against what they record.

Every file the engine committed is checked in full (size, Parquet row count, SHA-256) against the
record its committing document holds (``_integrity``), and every document is read: the store's
``store.json``, its ingest records and ``files.json``, each checkpoint, the output's manifests, its
commit journal, its closed months and its kept bill versions. Each damaged (or unlisted) file is one
:class:`Damage`: the file, what was expected and found, what it affects (days, periods, closed
months) and how to recover it (docs/OPERATIONS.md, "Damaged files"). Files from before records were
kept are checked by their footers and counted as ``unrecorded``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from reconcile._bills._close import closed_months
from reconcile._core._files import read_journal
from reconcile._core._integrity import FileRecord, parquet_rows, problem
from reconcile._core._jsonvalue import JsonObject
from reconcile._core._progress import Progress
from reconcile._output import _check as _output_check
from reconcile._output import _layout
from reconcile._output._bill_versions import kept_versions, read_kept
from reconcile._output._manifest import Manifest, read_manifest
from reconcile._pair._checkpoints import Checkpoints
from reconcile._store._reader import IngestEntry, Store
from reconcile.exceptions import OutputError, ReconcileError, UsageError

REINGEST = (
    "recover the store from its ledgers: ingest them into a new store and run from it"
    ' (docs/OPERATIONS.md, "Damaged files")'
)
REBUILD = (
    "nothing billed reads it: the next run passes it over; `reconcile checkpoints --rebuild` rewrites them"
)


@dataclass(frozen=True)
class Damage:
    """One damaged file: what differs, what it affects, how to recover it."""

    path: str
    kind: str  # events file, rejects file, store catalog, checkpoint, output file, closed month, ...
    expected: str
    found: str
    affects: str
    recovery: str

    def line(self) -> str:
        """One line: the file, expected and found, what it affects, how to recover."""
        return (
            f"{self.path}: damaged {self.kind}: expected {self.expected}, found {self.found};"
            f" affects {self.affects}; {self.recovery}"
        )

    def to_json(self) -> JsonObject:
        """As ``--json`` prints it."""
        return {
            "path": self.path,
            "kind": self.kind,
            "expected": self.expected,
            "found": self.found,
            "affects": self.affects,
            "recovery": self.recovery,
        }


@dataclass
class VerifyReport:
    """What a scrub checked and found."""

    store: str | None
    output: str | None
    files: int = 0  # files checked
    hashed_bytes: int = 0  # bytes read and hashed
    unrecorded: int = 0  # files from before records were kept: checked by their footers only
    damage: list[Damage] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Whether nothing is damaged."""
        return not self.damage

    def lines(self) -> list[str]:
        """The human report: one line per damaged file, then a summary line."""
        where = " and ".join(x for x in (self.store, self.output) if x)
        summary = (
            f"verify {where}: {self.files:,} files checked ({self.hashed_bytes / 1e6:,.1f} MB hashed"
            + (
                f", {self.unrecorded:,} from before records were kept: footers only"
                if self.unrecorded
                else ""
            )
            + f"), {len(self.damage)} damaged"
        )
        return [d.line() for d in self.damage] + [summary]

    def to_json(self) -> JsonObject:
        """As ``--json`` prints it."""
        return {
            "store": self.store,
            "output": self.output,
            "files": self.files,
            "hashed_bytes": self.hashed_bytes,
            "unrecorded": self.unrecorded,
            "clean": self.clean,
            "damage": [d.to_json() for d in self.damage],
        }


class _Scrub:
    def __init__(self, report: VerifyReport, progress: Progress) -> None:
        self.report = report
        self.progress = progress

    def count(self, record: FileRecord | None) -> None:
        """Count one file checked (hashed, or by its footer when it has no record)."""
        self.report.files += 1
        if record is None:
            self.report.unrecorded += 1
        else:
            self.report.hashed_bytes += record.bytes
        if self.report.files % 200 == 0:
            self.progress.update(
                f"verify: {self.report.files:,} files, {self.report.hashed_bytes / 1e6:,.1f} MB"
            )

    def file(self, path: Path, record: FileRecord | None) -> tuple[str, str] | None:
        """Check one file in full (by footer when it has no record), counting it."""
        self.count(record)
        return problem(path, record, full=True)

    def add(self, path: Path, wrong: tuple[str, str], kind: str, affects: str, recovery: str) -> None:
        self.report.damage.append(Damage(str(path), kind, wrong[0], wrong[1], affects, recovery))


def _json_problem(path: Path) -> tuple[str, str] | None:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ("a JSON document", "no file")
    except (OSError, ValueError) as exc:
        return ("a JSON document", f"unreadable ({str(exc).splitlines()[0]})")
    return None


def _closed_of(output: Path | None) -> set[str]:
    return set(closed_months(output)) if output is not None and output.is_dir() else set()


def _scrub_store(scrub: _Scrub, store: Store, closed: set[str]) -> None:
    try:
        entries = store.ingests()
    except ReconcileError as exc:
        scrub.add(
            store.catalog_path,
            ("a readable store catalog", str(exc)),
            "store catalog",
            "every run and ingest",
            REINGEST,
        )
        return
    if not store.exists():
        raise UsageError(f"no event store at {store.path} (store.json is missing)")
    for entry in entries:
        _scrub_ingest(scrub, store, entry, closed)
    wrong = _json_problem(store.files_path) if entries else None
    if wrong is not None:
        scrub.add(
            store.files_path,
            wrong,
            "file state (files.json)",
            "the next ingest: it reads every ledger again (events and rejects it holds are not stored twice)",
            "nothing to recover: the next ingest writes it again",
        )
    _scrub_checkpoints(scrub, store)


def _scrub_ingest(scrub: _Scrub, store: Store, entry: IngestEntry, closed: set[str]) -> None:
    rows = 0
    for day, parts in sorted(entry.days.items()):
        for k in range(parts):
            path = store.day_events_path(day, entry.id, k)
            wrong = scrub.file(path, entry.files.get(store.relative(path)))
            month = day[:7]
            affects = f"day {day} (runs of {day} and of {month}, and later runs that walk from before it)" + (
                f"; closed month {month}: its issued lines stay as issued" if month in closed else ""
            )
            if wrong is not None:
                scrub.add(path, wrong, f"events file of ingest {entry.id}", affects, REINGEST)
            elif not entry.files:
                rows += parquet_rows(path)
    if not entry.files and not entry.flat and entry.events is not None and rows != entry.events:
        folder = store.events_dir / f"day=*/{entry.id}*.parquet"
        scrub.add(
            folder,
            (f"{entry.events:,} events", f"{rows:,} rows"),
            f"events of ingest {entry.id}",
            "its days",
            REINGEST,
        )
    rejects = store.rejects_path(entry.id)
    wrong = scrub.file(rejects, entry.files.get(store.relative(rejects)))
    if wrong is not None:
        scrub.add(
            rejects,
            wrong,
            f"rejects file of ingest {entry.id}",
            "the rejects relation and the report",
            REINGEST,
        )
    wrong = _json_problem(store.record_path(entry.id))
    if wrong is not None:
        scrub.add(
            store.record_path(entry.id),
            wrong,
            f"ingest record of {entry.id}",
            "nothing billed: the audit record of that ingest",
            "restore it from a backup",
        )


def _scrub_checkpoints(scrub: _Scrub, store: Store) -> None:
    checkpoints = Checkpoints(store.checkpoints_dir)
    readable = {cp.path for cp in checkpoints.all()}
    for folder in sorted(store.checkpoints_dir.glob("at=*")):
        if folder not in readable:
            scrub.add(
                folder / "checkpoint.json",
                ("a checkpoint document", "none readable"),
                "checkpoint",
                "nothing billed",
                REBUILD,
            )
    for cp in checkpoints.all():
        for record in cp.expected().values():
            scrub.count(record)
        damaged = cp.damage(full=True)
        if damaged is not None:
            scrub.add(
                Path(damaged.path),
                (damaged.expected, damaged.found),
                f"checkpoint at {cp.day}",
                "nothing billed",
                REBUILD,
            )


def _manifests(scrub: _Scrub, root: Path, closed: set[str]) -> dict[str, Manifest]:
    found: dict[str, Manifest] = {}
    for folder in _layout.manifest_folders(root):
        period = _layout.period_of(folder)
        try:
            manifest = read_manifest(root, period)
        except OutputError as exc:
            scrub.add(
                folder / "manifest.json",
                ("a run manifest", str(exc)),
                "manifest",
                _period_affects(period, closed),
                f"rerun period {period}",
            )
            continue
        if manifest is not None:
            found[period] = manifest
    return found


def _period_affects(period: str, closed: set[str], manifest: Manifest | None = None) -> str:
    run = f" (bill version {manifest.version}, run {manifest.run_id})" if manifest is not None else ""
    month = period[:7]
    text = f"period {period}{run}"
    if month in closed:
        text += f"; month {month} is closed: its issued lines are kept apart and stay as issued"
    return text


def _scrub_output(scrub: _Scrub, root: Path, closed: set[str]) -> None:
    if not root.is_dir():
        raise UsageError(f"output folder {root} does not exist")
    journal = root / _layout.JOURNAL
    if journal.exists():
        try:
            read_journal(journal)
            wrong = None
        except OutputError:
            wrong = ("a commit journal listing its swaps", "none readable")
        if wrong is not None:
            scrub.add(
                journal,
                wrong,
                "commit journal",
                "every reader and run of the folder, which stop until it is moved",
                "move it out of the folder, then rerun the periods this scrub names"
                ' (docs/OPERATIONS.md, "Damaged files")',
            )
    manifests = _manifests(scrub, root, closed)
    for manifest in manifests.values():
        for _path, record in _output_check.expected_files(root, manifest):
            scrub.count(record)
    for item in _output_check.findings(root, manifests, full=True):
        scrub.add(item.path, (item.expected, item.found), *_describe(item, root, manifests, closed))
    for period in sorted(manifests):
        for number in kept_versions(root, period):
            folder = root / _layout.version_partition(period, number)
            try:
                kept = read_kept(folder / "manifest.json")
            except OutputError as exc:
                scrub.add(
                    folder / "manifest.json",
                    ("a kept manifest", str(exc)),
                    "kept version",
                    f"bill version {number} of {period}",
                    "restore it from a backup or remove that version's folder",
                )
                continue
            for record in (kept.files or {}).values():
                scrub.count(record)
            for item in _output_check.kept_findings(folder, kept, number, full=True):
                scrub.add(item.path, (item.expected, item.found), *_describe(item, root, manifests, closed))


def _describe(
    item: _output_check.Finding, root: Path, manifests: dict[str, Manifest], closed: set[str]
) -> tuple[str, str, str]:
    """(kind, affects, recovery) of an output finding."""
    recovery = item.hint(root, scrub=True)
    if item.month is not None:
        return (
            f"issued file of closed month {item.month}",
            f"closed month {item.month}: its issued invoice lines and FOCUS export",
            recovery,
        )
    if item.version is not None:
        return (
            "kept bill version",
            f"bill version {item.version} of period {item.period} (reconcile diff)",
            recovery,
        )
    if item.period is None:
        return (
            "unlisted output file",
            "every reader of the folder (sql, export, report, close) until it is moved out",
            recovery,
        )
    return ("output file", _period_affects(item.period, closed, manifests.get(item.period)), recovery)


def verify(
    store: str | Path | None = None, output: str | Path | None = None, *, quiet: bool = True
) -> VerifyReport:
    """Scrub ``store`` and/or ``output`` (module doc); the report lists every damaged file."""
    if store is None and output is None:
        raise UsageError("verify: give --store DIR, --output DIR or both")
    progress = Progress(quiet=quiet)
    report = VerifyReport(None if store is None else str(store), None if output is None else str(output))
    scrub = _Scrub(report, progress)
    out = None if output is None else Path(output)
    closed = _closed_of(out)
    if store is not None:
        progress.note(f"verify: the store {store}")
        _scrub_store(scrub, Store(store), closed)
    if out is not None:
        progress.note(f"verify: the output {out}")
        _scrub_output(scrub, out, closed)
    progress.note(f"verify: {report.files:,} files, {report.hashed_bytes / 1e6:,.1f} MB hashed")
    return report
