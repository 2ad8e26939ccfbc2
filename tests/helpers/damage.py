"""Fault injection on files at rest: what a disk, a backup restore, a sync tool or a person does to a
file the engine committed. Every integrity test damages files through this one module."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq


def truncate(path: Path) -> None:
    """Cut the file to its first half (a copy or a sync that stopped part way)."""
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2)


def fewer_rows(path: Path, rows: int = 5) -> None:
    """Rewrite it as valid zstd Parquet holding ``rows`` rows fewer (a stale copy restored)."""
    table = pq.read_table(path)
    assert table.num_rows > rows, f"{path} holds {table.num_rows} rows: too few to drop {rows}"
    pq.write_table(table.slice(0, table.num_rows - rows), path, compression="zstd")


def flip(path: Path) -> None:
    """Flip 8 bytes a third of the way into the file, in place (bit rot: size and footer unchanged)."""
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.seek(size // 3)
        data = fh.read(8)
        fh.seek(size // 3)
        fh.write(bytes(b ^ 0xFF for b in data))


def delete(path: Path) -> None:
    """Remove the file (a person, a clean-up script)."""
    path.unlink()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncate": truncate,
    "fewer_rows": fewer_rows,
    "flip": flip,
    "delete": delete,
}
FOOTER_DAMAGES = ("truncate", "fewer_rows", "delete")  # seen by a footer check; a flip only by a hash


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` and everything under it unwritable while inside: immutable (``chattr +i``)
    for root, whom modes do not stop; read-only modes for anyone else."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "+i", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)
        return
    modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    try:
        yield
    finally:
        for p, mode in sorted(modes.items(), key=lambda item: len(item[0].parts)):
            p.chmod(mode)


def copy_tree(source: Path, dest: Path) -> Path:
    """A fresh copy of a store or output folder to damage (never the session's shared one)."""
    shutil.copytree(source, dest)
    return dest
