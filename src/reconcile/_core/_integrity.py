"""Every file the engine writes is recorded where it is committed and checked where it is read.

A *record* (:class:`FileRecord`) is a file's size, its Parquet row count and its SHA-256, taken when
the file is committed, in the document that commits it:

- ``store.json``: per ingest, ``files``: its events files (one per UTC day) and its rejects file;
- ``checkpoint.json``: ``files``: its own ``open.parquet`` and seen file, and ``store_files``: a
  digest of the records of the store's events files it summarises (:func:`digest`);
- ``manifest.json``: ``files``: the period's slices, intervals and anomalies files;
- ``close.json``: ``files``: a closed month's ``issued_lines.parquet`` and its slices as issued.

A file is checked against its record at two depths (:func:`problem`):

- ``footer`` (cheap: a ``stat`` and the Parquet footer, about 0.2 ms a file): it is there, its size
  is the recorded one, and so is the row count its footer states. Every read checks at least this.
- ``full``: the footer check, then the SHA-256 of its bytes. ``reconcile verify`` checks everything
  in full; commands check in full the files whose bytes they read anyway and whose size is bounded
  by what they do (a run's events files, a checkpoint as it is copied, a period's files in
  ``close``, ``diff``, ``export`` and ``report``). A single flipped bit in a zstd Parquet page
  mostly decodes without an error into other values (measured: 151 of 200 random flips in an events
  file), so only the hash catches it.

A file without a record (a store or output written before records were kept) is checked by its
footer alone: it is there and is a readable Parquet file.

A mismatch is a :class:`~reconcile.exceptions.DamagedFileError`, one line naming the file, what was
expected and what was found. Files the engine commits are never modified, so a file that passed a
check once in a process is not hashed again while its size, inode and modification time stay the
same (:data:`_checked`).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from reconcile._core._jsonvalue import JsonObject, JsonValue, as_int, as_object
from reconcile.exceptions import DamagedFileError

_CHUNK = 1 << 20
_HASH_THREADS = 2  # hashlib releases the GIL: files are hashed two at a time


@dataclass(frozen=True)
class FileRecord:
    """What a committed file was: its size in bytes, its Parquet row count and its SHA-256 (hex)."""

    bytes: int
    rows: int
    sha256: str

    def to_json(self) -> JsonObject:
        """The record as the committing document writes it."""
        return {"bytes": self.bytes, "rows": self.rows, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: JsonValue, where: str) -> FileRecord:
        """A record read back; ValueError naming ``where`` when it is not one."""
        found = as_object(data)
        sha = found.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64:
            raise ValueError(f"{where}: not a file record: {data!r:.80}")
        return cls(
            as_int(found.get("bytes"), f"{where} bytes"), as_int(found.get("rows"), f"{where} rows"), sha
        )

    def describe(self) -> str:
        """``12,345 bytes, 263 rows``."""
        return f"{self.bytes:,} bytes, {self.rows:,} rows"


def records_to_json(records: Mapping[str, FileRecord]) -> JsonObject:
    """``{relative path: record}`` as written, sorted by path."""
    return {name: records[name].to_json() for name in sorted(records)}


def records_from_json(data: JsonValue, where: str) -> dict[str, FileRecord]:
    """``{relative path: record}`` read back (empty when absent); ValueError naming ``where``."""
    return {str(k): FileRecord.from_json(v, f"{where} {k}") for k, v in as_object(data).items()}


def parquet_rows(path: Path) -> int:
    """The row count a Parquet file's footer states; OSError or ValueError when it has none."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # noqa: PLC0415 - the engine's extra

    try:
        return int(pq.read_metadata(path).num_rows)
    except OSError:
        raise
    except Exception as exc:  # pyarrow's ArrowInvalid and friends: not a Parquet file
        raise ValueError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def sha256_of(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def record_file(path: Path) -> FileRecord:
    """The record of a file just written (its size, footer row count and SHA-256)."""
    return FileRecord(path.stat().st_size, parquet_rows(path), sha256_of(path))


def record_files(paths: Sequence[Path]) -> list[FileRecord]:
    """:func:`record_file` of each path, hashed two at a time."""
    if len(paths) <= 1:
        return [record_file(p) for p in paths]
    with concurrent.futures.ThreadPoolExecutor(_HASH_THREADS, thread_name_prefix="reconcile-hash") as pool:
        return list(pool.map(record_file, paths))


# --- checking -------------------------------------------------------------------------------------

_checked: dict[tuple[str, int, int, int, int], tuple[FileRecord | None, bool]] = {}
"""(path, device, inode, size, mtime) -> (the record it matched, whether its hash was checked)."""
_checked_lock = threading.Lock()


def _key(path: Path, info: os.stat_result) -> tuple[str, int, int, int, int]:
    return (str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _short(sha: str) -> str:
    return f"SHA-256 {sha[:16]}..."


def _known(key: tuple[str, int, int, int, int], expected: FileRecord | None, full: bool) -> bool:
    """Whether this process checked the same file against the same record already (as deep)."""
    with _checked_lock:
        hit = _checked.get(key)
    if hit is None:
        return False
    record, hashed = hit
    return expected is None or (record == expected and (hashed or not full))


def _content_problem(
    path: Path, expected: FileRecord | None, size: int, *, full: bool
) -> tuple[str, str] | None:
    """Size, footer rows and (``full``, with a record) the hash of a file that is there."""
    if expected is not None and size != expected.bytes:
        return (f"{expected.bytes:,} bytes", f"{size:,} bytes")
    try:
        rows = parquet_rows(path)
    except (OSError, ValueError) as exc:
        want = "a Parquet file" if expected is None else f"a Parquet file of {expected.rows:,} rows"
        return (want, f"no readable Parquet footer ({exc})")
    if expected is None:
        return None
    if rows != expected.rows:
        return (f"{expected.rows:,} rows", f"{rows:,} rows")
    return _hash_problem(path, expected) if full else None


def _hash_problem(path: Path, expected: FileRecord) -> tuple[str, str] | None:
    try:
        sha = sha256_of(path)
    except OSError as exc:
        return (_short(expected.sha256), f"unreadable bytes ({exc.strerror or exc})")
    return None if sha == expected.sha256 else (_short(expected.sha256), _short(sha))


def problem(path: Path, expected: FileRecord | None, *, full: bool) -> tuple[str, str] | None:
    """What is wrong with ``path`` against its record, as (expected, found); None when it matches.
    ``expected`` None: only that it is there and a readable Parquet file. ``full``: its SHA-256 too."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return ("a file" if expected is None else expected.describe(), "no file")
    except OSError as exc:
        return ("a readable file", f"{exc.strerror or exc}")
    key = _key(path, info)
    if _known(key, expected, full):
        return None
    wrong = _content_problem(path, expected, info.st_size, full=full)
    if wrong is None:
        with _checked_lock:
            _checked[key] = (expected, full and expected is not None)
    return wrong


def check_file(path: Path, expected: FileRecord | None, *, full: bool, hint: str = "") -> None:
    """Raise :class:`DamagedFileError` naming ``path`` when it does not match ``expected``."""
    found = problem(path, expected, full=full)
    if found is not None:
        raise DamagedFileError(path, found[0], found[1], hint)


def check_files(files: Iterable[tuple[Path, FileRecord | None]], *, full: bool, hint: str = "") -> None:
    """:func:`check_file` of each ``(path, record)``, hashed two at a time; the first damaged one
    (in the given order) is raised."""
    items = list(files)
    if full and len(items) > 1:
        with concurrent.futures.ThreadPoolExecutor(
            _HASH_THREADS, thread_name_prefix="reconcile-hash"
        ) as pool:
            found = list(pool.map(lambda item: problem(item[0], item[1], full=True), items))
    else:
        found = [problem(path, record, full=full) for path, record in items]
    for (path, _), wrong in zip(items, found, strict=True):
        if wrong is not None:
            raise DamagedFileError(path, wrong[0], wrong[1], hint)


def copy_checked(source: Path, dest: Path, expected: FileRecord | None, *, hint: str = "") -> None:
    """Copy ``source`` to ``dest``, hashing the bytes as they are copied: :class:`DamagedFileError`
    (and no ``dest``) when they are not the recorded ones. Without a record: its footer checked, and
    the copy decoded whole (so a damaged page is named by ``source``, not by the copy)."""
    if expected is None:
        check_file(source, None, full=False, hint=hint)
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as src, dest.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
    except FileNotFoundError:
        dest.unlink(missing_ok=True)
        raise DamagedFileError(
            source, "a file" if expected is None else expected.describe(), "no file", hint
        ) from None
    if expected is None:
        _decoded(source, dest, hint)
        return
    wrong = None
    if size != expected.bytes:
        wrong = (f"{expected.bytes:,} bytes", f"{size:,} bytes")
    elif digest.hexdigest() != expected.sha256:
        wrong = (_short(expected.sha256), _short(digest.hexdigest()))
    if wrong is not None:
        dest.unlink(missing_ok=True)
        raise DamagedFileError(source, wrong[0], wrong[1], hint)


def _decoded(source: Path, copy: Path, hint: str) -> None:
    """Decode every page of ``copy`` (of ``source``, which has no record); DamagedFileError naming
    ``source`` when a page does not decode."""
    import pyarrow.parquet as pq  # noqa: PLC0415 - the engine's extra

    try:
        pq.read_table(copy)
    except Exception as exc:  # pyarrow's errors of a damaged page: ArrowInvalid, OSError, ...
        copy.unlink(missing_ok=True)
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DamagedFileError(
            source, "a Parquet file whose pages decode", f"one that does not ({first})", hint
        ) from None


def digest(records: Iterable[tuple[str, FileRecord | None]]) -> str:
    """One SHA-256 over ``(relative path, record)`` pairs, in path order: what a checkpoint records of
    the store files it summarises (a file without a record counts by its path)."""
    h = hashlib.sha256()
    for name, record in sorted(records, key=lambda item: item[0]):
        fields = "" if record is None else f"{record.bytes}\t{record.rows}\t{record.sha256}"
        h.update(f"{name}\t{fields}\n".encode())
    return h.hexdigest()


def forget(paths: Iterable[Path]) -> None:
    """Drop what this process knows of ``paths`` (tests that damage a file after it was checked)."""
    names = {str(p) for p in paths}
    with _checked_lock:
        for key in [k for k in _checked if k[0] in names]:
            del _checked[key]
