"""The bulk ledger's public face: one file (or one per host), a stream of chunks, or a list of lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from reconcile._core._progress import Progress
from reconcile.testing._bulk import Bulk, LedgerStats
from reconcile.testing._catalogue import host_name
from reconcile.testing._garbage import GARBAGE_CODES

DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)
"""Where :func:`generate_ledger` ledgers begin (a month: November 2026)."""


def iter_ledger_chunks(
    *,
    lines: int,
    seed: int = 0,
    hosts: int = 4,
    start: datetime = DEFAULT_START,
    days: float = 30,
    garbage: float = 0.0,
    garbage_codes: tuple[str, ...] = GARBAGE_CODES,
    stats: LedgerStats | None = None,
) -> Iterator[bytes]:
    """Yield the ledger of :func:`generate_ledger` as byte chunks of a few MB at most (bounded memory).

    If ``stats`` is given it is filled in as chunks are produced (its ``path`` is left alone).
    """
    bulk = Bulk(
        lines=lines,
        seed=seed,
        hosts=hosts,
        start=start,
        days=days,
        garbage=garbage,
        garbage_codes=garbage_codes,
    )
    if stats is None:
        stats = LedgerStats(path="")
    stats.seed = seed
    return (chunk for _, chunk in bulk.chunks(stats))


def generate_ledger(
    out: str | Path | BinaryIO,
    *,
    lines: int,
    seed: int = 0,
    hosts: int = 4,
    start: datetime = DEFAULT_START,
    days: float = 30,
    garbage: float = 0.0,
    garbage_codes: tuple[str, ...] = GARBAGE_CODES,
    split: bool = False,
    quiet: bool = True,
) -> LedgerStats:
    """Write a realistic ledger of exactly ``lines`` lines (``\\n``-terminated) and return what it wrote.

    ``out`` is a path (the file is replaced) or a binary stream. With ``split``, ``out`` is a folder
    and each host's lines go to ``out/host-a/ledger.jsonl``, ``out/host-b/...`` (``lines`` in total),
    as hosts leave them for the nightly job. ``hosts`` hosts, each with its own zone
    offset (:data:`HOST_OFFSETS`: ``Z``, ``-05:00``, ``+05:30``, ``+09:00``, ...), write into the one
    file, as a collector merging them would. The ledger spans ``days`` days from ``start`` (default a
    month from 2026-11-01T00:00Z). ``garbage`` is the fraction of lines that are garbage, 0 by default
    (benchmarks measure clean ledgers; ``1e-4`` exercises the reject path); they are drawn from
    ``garbage_codes`` (:data:`GARBAGE_CODES`; ``"crlf"`` there turns a valid line into CRLF instead of
    adding one). See :mod:`reconcile.testing` for what the lines model and how big ledgers are made: memory
    stays bounded whatever ``lines`` is (measured here: 212 MB peak RSS for 10M lines, 226 MB for 50M),
    and a quiet core writes about 1.7M lines (350 MB) a second: 10M lines (2.08 GB) in about 6 s (19 s
    measured while other jobs shared the machine).
    Progress on stderr unless ``quiet``.
    """
    path = str(out) if isinstance(out, str | Path) else str(getattr(out, "name", "<stream>"))
    stats = LedgerStats(path=path, seed=seed)
    progress = Progress(quiet=quiet)
    bulk = Bulk(
        lines=lines,
        seed=seed,
        hosts=hosts,
        start=start,
        days=days,
        garbage=garbage,
        garbage_codes=garbage_codes,
    )
    if split:
        if not isinstance(out, str | Path):
            raise ValueError("split=True needs a folder path as out")
        folders = [Path(out) / f"host-{host_name(h)}" for h in range(hosts)]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        with ExitStack() as stack:
            files = [stack.enter_context(open(folder / "ledger.jsonl", "wb")) for folder in folders]
            for h, chunk in bulk.chunks(stats):
                files[h].write(chunk)
                progress.update(f"generate: {stats.lines:,} / {lines:,} lines")
    else:
        with open(out, "wb") if isinstance(out, str | Path) else nullcontext(out) as f:
            for _, chunk in bulk.chunks(stats):
                f.write(chunk)
                progress.update(f"generate: {stats.lines:,} / {lines:,} lines")
    progress.note(f"generate: {stats.describe()}")
    return stats


def generate_lines(
    *,
    lines: int,
    seed: int = 0,
    hosts: int = 4,
    start: datetime = DEFAULT_START,
    days: float = 30,
    garbage: float = 0.0,
    garbage_codes: tuple[str, ...] = GARBAGE_CODES,
) -> list[str]:
    """The lines :func:`generate_ledger` would write, as text without their ``\\n`` (for small tests).

    A CRLF line keeps its ``\\r``; invalid UTF-8 bytes appear as lone surrogates (``surrogateescape``).
    """
    chunks = iter_ledger_chunks(
        lines=lines,
        seed=seed,
        hosts=hosts,
        start=start,
        days=days,
        garbage=garbage,
        garbage_codes=garbage_codes,
    )
    return b"".join(chunks).decode("utf-8", "surrogateescape").split("\n")[:-1]
