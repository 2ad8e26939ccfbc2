"""The DuckDB seam: connections, literal paths, and the one place DuckDB's errors become ours.

- :func:`connect` opens an in-process DuckDB with a memory limit and a private spill folder.
- :func:`literal` turns a path into the text DuckDB's readers take as *that file only*: DuckDB expands
  ``*``, ``?`` and ``[...]`` in every path it reads (a file ``led[1].jsonl`` would read ``led1.jsonl``),
  so each of those characters is written as a one-character class (``[[]``, ``[*]``, ``[?]``). Paths
  without them are passed as they are. Paths DuckDB writes (``COPY ... TO``) are never patterns.
- :func:`engine_errors` maps DuckDB's exceptions to the project's: out of memory and a full disk
  become :class:`~reconcile.exceptions.ResourceError` naming the step (and the memory limit and how to
  raise it), an interrupted query becomes :class:`KeyboardInterrupt` (exit 130; ``Terminated``, exit
  143, when SIGTERM stopped it: ``_signals.interruption``), and, when the caller
  names the project's error for its step (``error=OutputError``), any other DuckDB error becomes that
  one, saying the step and DuckDB's first line. DuckDB has no exception type for a full disk or for
  its parallel CSV reader's refusal: its error text is read here, and only here.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from reconcile._core._signals import interruptible, interruption
from reconcile.exceptions import ReconcileError, ResourceError, UsageError

_GLOB = re.compile(r"([*?\[])")
MEMORY_ENV = "RECONCILE_MEMORY_LIMIT"

MEMORY_LIMIT = "1500MB"
"""DuckDB's memory limit for a run's connection by default (it spills past it); ``--memory-limit``
or ``RECONCILE_MEMORY_LIMIT`` set another."""


def memory_limit(value: str | None = None) -> str:
    """The memory limit to use: ``value``, else ``$RECONCILE_MEMORY_LIMIT``, else the default."""
    chosen = value or os.environ.get(MEMORY_ENV) or MEMORY_LIMIT
    text = chosen.strip().upper().replace(" ", "")
    number = text.rstrip("KMGTIB")
    if not number.replace(".", "", 1).isdigit() or not text.endswith(
        ("KB", "MB", "GB", "TB", "KIB", "MIB", "GIB")
    ):
        raise UsageError(f"memory limit {chosen!r} is not a size like 1500MB or 4GB")
    return text


COMPRESSION_LEVEL = 1
"""zstd level of the files the engine writes for runs: level 1 writes a day's slices about 20%
faster than DuckDB's default (3) for files about 2% larger (measured on a day of the bench fleet),
and a checkpoint's open set in half the time for files about 5% larger."""

ROW_GROUP_ROWS = 20_000
"""Rows per Parquet row group: a file of a day of a mid-size fleet (about 70,000 rows of output, or
about 40,000 open starts of a checkpoint) is then encoded on every thread; DuckDB's default
(122,880) encodes it on one."""

PARQUET_OPTIONS = (
    f"FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL {COMPRESSION_LEVEL},"
    f" ROW_GROUP_SIZE {ROW_GROUP_ROWS}"
)
"""How every output file (by either engine) and every checkpoint file is written
(``COPY ... TO file (PARQUET_OPTIONS)``)."""


def literal(path: str | os.PathLike[str]) -> str:
    """``path`` as DuckDB reads it literally (its glob characters escaped)."""
    return _GLOB.sub(r"[\1]", os.fspath(path))


def literals(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """:func:`literal` of each path."""
    return [literal(p) for p in paths]


def utc(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """``con`` with its session time zone UTC: every instant is a ``TIMESTAMPTZ_NS`` (SPEC section 5),
    and what DuckDB derives from one (a date, a month, a text) must be the UTC one, whatever the
    machine's zone."""
    con.execute("SET GLOBAL TimeZone = 'UTC'")  # GLOBAL: the connection's cursors too
    return con


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the temp table or view called ``name`` if there is one. (Two DROPs, not a look-up in
    ``information_schema``: a run drops some sixty relations, and each look-up cost about a
    millisecond.)"""
    try:
        con.execute(f"DROP VIEW IF EXISTS temp.main.{name}")
    except duckdb.CatalogException:  # (a table of that name)
        con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")


@contextlib.contextmanager
def insertion_order(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Inside: ``con`` keeps the order of the rows it inserts (``preserve_insertion_order``), so a
    table made from an ``ORDER BY`` is stored in that order (its row groups then hold ranges of the
    sort key, which filters on it skip); the connection's own setting again afterwards."""
    row = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()
    before = bool(row[0][0])
    if before:
        yield
        return
    con.execute("SET preserve_insertion_order = true")
    try:
        yield
    finally:
        con.execute("SET preserve_insertion_order = false")


def plain_connect() -> duckdb.DuckDBPyConnection:
    """A small in-process DuckDB connection (DuckDB's own memory settings), in UTC; a SIGTERM or
    Ctrl-C interrupts its query at once (``_signals.interruptible``)."""
    return interruptible(utc(duckdb.connect()))


def connect(
    *, memory_limit: str, scratch: Path | None = None, ordered: bool = True
) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB connection with ``memory_limit`` (it spills past it to ``scratch``), in UTC.

    ``ordered=False``: results without an ORDER BY come in any order (DuckDB's
    ``preserve_insertion_order``): a run's queries order what needs an order, and writing a day's
    slices, whose row order means nothing, then encodes row groups on every thread (a month's slices
    written in about 30% less time)."""
    config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": memory_limit}
    if not ordered:
        config["preserve_insertion_order"] = False
    if scratch is not None:
        config["temp_directory"] = str(scratch / "duckdb")
    con = interruptible(utc(duckdb.connect(config=config)))  # a SIGTERM stops its query at once
    # progress is ours, on stderr: DuckDB tracks it (query_progress) but prints nothing. Inside
    # Jupyter DuckDB refuses to track it without ipywidgets: then there is no progress to read.
    try:
        con.execute("SET enable_progress_bar_print = false")
        con.execute("SET enable_progress_bar = true")
    except duckdb.InvalidInputException:
        pass  # DuckDB's own default then: no progress bar in a notebook without ipywidgets
    return con


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (an OSError or a DuckDB IO error) says the disk or quota is full."""
    if isinstance(exc, OSError):
        return exc.errno in (28, 122)  # ENOSPC, EDQUOT
    return isinstance(exc, duckdb.IOException) and (
        "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)
    )


def is_read_failure(exc: BaseException) -> bool:
    """Whether a DuckDB error may come from a damaged file it read (a zstd page that does not
    decompress, a Thrift header that does not parse, a buffer read past its end), not from the query."""
    return isinstance(exc, duckdb.InvalidInputException | duckdb.IOException) or type(exc) is duckdb.Error


def is_parallel_csv_refusal(exc: BaseException) -> bool:
    """Whether DuckDB's parallel CSV reader refused a file it reads single-threaded."""
    return isinstance(exc, duckdb.Error) and "Parallel CSV Reader" in str(exc)


@contextlib.contextmanager
def engine_errors(
    step: str,
    *,
    memory_limit: str | None = None,
    where: str | None = None,
    error: type[ReconcileError] | None = None,
) -> Iterator[None]:
    """Run a block of DuckDB work, turning its resource errors into one clear :class:`ResourceError`.

    ``step`` names the work (``ingest: parsing ledger.jsonl``); ``memory_limit`` is the connection's
    limit; ``where`` the folder being written, for a full disk; ``error``: the project's error any
    other DuckDB error becomes (``{step}: {DuckDB's first line}``; None: it is raised as it is).
    """
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        limit = f" (memory limit {memory_limit})" if memory_limit else ""
        raise ResourceError(
            f"{step}: out of memory{limit}; raise it with --memory-limit or {MEMORY_ENV}"
            f" (DuckDB said: {_first_line(exc)})"
        ) from exc
    except duckdb.InterruptException as exc:
        raise interruption() from exc
    except RuntimeError as exc:
        if str(exc) != "Query interrupted":  # (DuckDB's interruption of a result being fetched)
            raise
        raise interruption() from exc
    except (duckdb.IOException, OSError) as exc:
        if not is_disk_full(exc):
            if error is None or not isinstance(exc, duckdb.Error):
                raise
            raise error(f"{step}: {_first_line(exc)}") from None
        place = f" writing under {where}" if where else ""
        raise ResourceError(f"{step}: the disk is full{place}: {_first_line(exc)}") from exc
    except duckdb.Error as exc:
        if error is None:
            raise
        raise error(f"{step}: {_first_line(exc)}") from None
