"""Which files an ingest reads: paths, folders and globs resolved to regular files, never blocking.

A path given on the command line that does not exist, a glob that matches nothing and a folder with
no file are errors (the operator mistyped something). Everything else that cannot be read is one
:class:`Finding` and the ingest goes on with the other files:

- a dangling symlink (``missing``), a FIFO, socket or device (``not_regular``: it is never opened,
  so a FIFO named ``*.jsonl`` cannot block the ingest while it holds the store's lock), a file the
  process may not read (``unreadable``), a name that is not UTF-8 (``bad_name``: it could not be
  recorded as a source, and another tool could not name it back).

A folder contributes every regular file below it, except hidden ones (``.name``: rsync's partial
files, lock files); whether a file is a ledger is decided by its content (``_scan``), so logrotate's
``dateext`` names (``ledger-2026-11-01.log``) and compressed rotations of any suffix are found.
Symlinked folders are followed once each (a link loop is not walked twice).
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reconcile._ingest._summary import Finding, display_path
from reconcile.exceptions import InputError


@dataclass
class Inputs:
    """The files to read (sorted absolute paths) and what was skipped on the way."""

    files: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _good_name(path: Path) -> bool:
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped bytes: the name is not UTF-8
        return False
    return True


def _check_file(path: Path, inputs: Inputs, found: set[Path]) -> None:
    """Add ``path`` when it is a readable regular file with a UTF-8 name; else record why not."""
    shown = display_path(path)
    if not _good_name(path):
        inputs.findings.append(Finding(shown, "bad_name", "file name is not UTF-8: skipped (rename it)"))
        return
    try:
        info = os.stat(path)
    except FileNotFoundError:
        inputs.findings.append(Finding(shown, "missing", "dangling symlink: skipped"))
        return
    except OSError as exc:
        inputs.findings.append(Finding(shown, "unreadable", f"cannot stat: {exc.strerror}: skipped"))
        return
    if not stat.S_ISREG(info.st_mode):
        inputs.findings.append(
            Finding(shown, "not_regular", "not a regular file (FIFO, socket or device): skipped")
        )
        return
    if not os.access(path, os.R_OK):
        inputs.findings.append(Finding(shown, "unreadable", "permission denied: skipped"))
        return
    found.add(path)


def _walk(top: Path, inputs: Inputs, found: set[Path]) -> int:
    """Add the files under folder ``top``; the number of candidate files seen."""
    seen_dirs: set[tuple[int, int]] = set()
    seen = 0

    def unreadable(exc: OSError) -> None:
        name = display_path(exc.filename or top)
        inputs.findings.append(Finding(name, "unreadable", f"cannot list folder: {exc.strerror}: skipped"))

    for root, dirs, names in os.walk(top, onerror=unreadable, followlinks=True):
        try:
            info = os.stat(root)
        except OSError:
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen_dirs:
            dirs[:] = []  # a symlink loop, or a folder linked twice
            continue
        seen_dirs.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            seen += 1
            _check_file(Path(root) / name, inputs, found)
    return seen


def resolve_inputs(paths: Iterable[str | os.PathLike[str]]) -> Inputs:
    """Files, folders (recursively) and globs -> the regular files to read, sorted, and findings.

    Raises :class:`InputError` naming the path when a given path does not exist, a glob matches
    nothing, or a folder holds no file at all.
    """
    inputs = Inputs()
    found: set[Path] = set()
    for raw in paths:
        text = os.fspath(raw)
        candidates: list[str]
        if glob.has_magic(text) and not os.path.lexists(text):
            candidates = sorted(glob.glob(text, recursive=True))
            if not candidates:
                raise InputError(f"{display_path(text)}: no file matches this pattern")
        else:
            candidates = [text]
        for item in candidates:
            path = Path(os.path.abspath(item))
            if path.is_dir():
                if _walk(path, inputs, found) == 0:
                    raise InputError(f"{display_path(path)}: folder holds no ledger file")
            elif os.path.lexists(path):
                _check_file(path, inputs, found)
            else:
                raise InputError(f"{display_path(path)}: no such file or folder")
    inputs.files = sorted(found)
    return inputs
