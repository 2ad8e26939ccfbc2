"""De-duplicate the parsed lines of one ingest and write its events and rejects (SPEC section 2).

``ingest_lines`` (the scratch Parquet of every file, numbered and bounded by the Python pass's line
count) is de-duplicated against the store and within the ingest, by sorted path then line; the ids
read more than once are found in parts of ``DEDUPE_PART_LINES`` lines, by hash, so memory does not
grow with the ingest. New events (``new_events.sql``) and rejects (``rejects.sql``) are written as
zstd Parquet (level 1: cheaper than DuckDB's default 3, and no bigger here).

A line the store rejected already (same file, same line: a file read again from its first line
because ``files.json`` was lost or rewritten) is not stored again: like an event read again, it
counts as a duplicate (:func:`known_rejects`).

Before anything is committed the counts are checked: each file gave exactly the rows the Python pass
counted (``lines``), the lines it classified itself are all there, and ``lines = events + duplicates +
rejects + pending`` over the files actually written. An ingest that fails the check stops with an
error naming the file and commits nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._engine import literals
from reconcile._ingest import _prepare
from reconcile._ingest._parse import set_var
from reconcile._ingest._prepare import GAPS_SCHEMA, ORIGINALS_SCHEMA, PRESCAN_SCHEMA, Prepared
from reconcile._ingest._summary import SAMPLE_REJECTS, display_path
from reconcile._sql import load_sql
from reconcile.exceptions import InputError, ReconcileError

# De-duplication runs in parts of about this many lines (by hash of event_id), so its hash tables
# do not grow with the ingest. Measured (10M / 50M lines, 512MB limit): 16M-line parts peaked at
# 587 / 668 MB, 5M-line parts at 459 / 517 MB, at the same speed for 10M lines.
DEDUPE_PART_LINES = 5_000_000

# The columns of sql/engine/ingest/parsed_lines.sql (for an ingest that reads no new line).
_PARSED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file_index", "BIGINT"),
    ("source_file", "VARCHAR"),
    ("source_line", "BIGINT"),
    ("code", "VARCHAR"),
    ("raw", "VARCHAR"),
    ("family", "VARCHAR"),
    ("endpoint", "VARCHAR"),
    ("resource_id", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("vm_id", "VARCHAR"),
    ("snapshot_id", "VARCHAR"),
    ("source_snapshot_id", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("hypervisor", "VARCHAR"),
    ("cpu", "BIGINT"),
    ("mem_bytes", "BIGINT"),
    ("storage_bytes", "BIGINT"),
    ("emitted_ns", "BIGINT"),
    ("event_id", "VARCHAR"),
)


@dataclass(frozen=True)
class Parsed:
    """A prepared file and the scratch Parquet its lines were parsed into."""

    prepared: Prepared
    parquet: Path


@dataclass(frozen=True)
class Counts:
    """What the written files hold."""

    lines: int  # complete lines read (pending ones not included)
    candidates: int  # lines that parsed into an event, duplicates included
    events: int
    rejects: dict[str, int]
    sample: list[str]  # the first rejects as file:line: code
    repeated_rejects: int = 0  # rejected lines the store holds already: duplicates, not stored again


def _empty_table(con: duckdb.DuckDBPyConnection, name: str, schema: object) -> None:
    types = {"int64": "BIGINT", "string": "VARCHAR"}
    columns = ", ".join(
        f"{f.name} {types[str(f.type)]}"
        for f in schema  # type: ignore[attr-defined]
        if f.name != "lines"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({columns})")


def register(con: duckdb.DuckDBPyConnection, parsed: Sequence[Parsed], sources: Sequence[Path]) -> None:
    """Register ``prescan_rejects``, ``original_lines``, ``line_gaps`` and ``ingest_lines`` (which
    reads ``line_gaps``) for this ingest's files.

    ``sources`` are the ingest's sorted paths (a file's place there is its ``file_index``).
    """
    con.execute(load_sql("engine/ingest/spooled_lines"))
    set_var(con, "run_lines", _prepare.RUN_LINES)
    for name, attr, schema in (
        ("prescan_rejects", "prescan", PRESCAN_SCHEMA),
        ("original_lines", "originals", ORIGINALS_SCHEMA),
        ("line_gaps", "gaps", GAPS_SCHEMA),
    ):
        files = [f for p in parsed if (f := getattr(p.prepared, attr)) is not None]
        if not files:
            _empty_table(con, name, schema)
            continue
        set_var(con, f"{name}_files", literals(files))
        source = (
            f"read_parquet(getvariable('{name}_files'), hive_partitioning = false)"
            if name == "line_gaps"
            else f"spooled_lines(getvariable('{name}_files'), getvariable('run_lines'))"  # runs expanded
        )
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {source}")
    if parsed:
        set_var(con, "source_files", [str(p) for p in sources])
        last = {p.prepared.plan.index: p.prepared.last_line for p in parsed}
        set_var(con, "last_lines", [last.get(i) for i in range(len(sources))])
        for name, group in (
            ("parsed_plain", [p for p in parsed if p.prepared.gaps is None]),
            ("parsed_gapped", [p for p in parsed if p.prepared.gaps is not None]),
        ):
            # an empty group reads every file's columns and no row
            set_var(con, f"{name}_files", literals([p.parquet for p in group or parsed]))
            variable = f"getvariable('{name}_files')"
            reader = f"read_parquet({variable}, file_row_number = true, hive_partitioning = false)"
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {reader}"
                + ("" if group else " WHERE false")
            )
        con.execute("CREATE OR REPLACE TEMP VIEW ingest_lines AS " + load_sql("engine/ingest/ingest_lines"))
    else:
        columns = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in _PARSED_COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP VIEW ingest_lines AS SELECT {columns} WHERE false")


def check_rows(con: duckdb.DuckDBPyConnection, parsed: Sequence[Parsed]) -> None:
    """Each file gave exactly the rows the Python pass counted (its lines but those it classified)."""
    got = {
        int(i): int(rows)
        for i, rows in con.execute("SELECT file_index, count(*) FROM ingest_lines GROUP BY 1").fetchall()
    }
    for p in parsed:
        prepared = p.prepared
        rows = got.get(prepared.plan.index, 0)
        if rows != prepared.rows:
            raise InputError(
                f"{display_path(prepared.plan.path)}: DuckDB read {rows:,} lines where the Python pass"
                f" counted {prepared.rows:,} (and classified {prepared.prescanned:,} more itself);"
                " nothing was committed (please report this file)"
            )


def find_repeated(con: duckdb.DuckDBPyConnection, lines: int) -> None:
    """The ``repeated_events`` table, built in parts of up to ``DEDUPE_PART_LINES`` lines each (by
    hash of ``event_id``), so the de-duplication's memory does not grow with the ingest."""
    parts = max(1, -(-lines // DEDUPE_PART_LINES))
    set_var(con, "dedupe_parts", parts)
    query = load_sql("engine/ingest/repeated_events")
    for part in range(parts):
        set_var(con, "dedupe_part", part)
        if part == 0:
            con.execute("CREATE OR REPLACE TEMP TABLE repeated_events AS " + query)
        else:
            con.execute("INSERT INTO repeated_events " + query)


def copy_zstd(query: str) -> str:
    """A statement writing ``query``'s rows to the zstd Parquet file given as its one parameter.

    zstd level 1 (DuckDB's default is 3): measured 20% less CPU for the events file, and no bigger
    (an events file is mostly md5 hex, which no level compresses much).
    """
    return f"COPY ({query}) TO ? (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"


def known_rejects(
    con: duckdb.DuckDBPyConnection, store_rejects: Sequence[Path], parsed: Sequence[Parsed]
) -> bool:
    """``known_rejects``: (source_file, source_line) of the store's rejects from the files this ingest
    reads from their first line (new files, or files read again because ``files.json`` was lost);
    True when there are any."""
    again = sorted({str(p.prepared.plan.path) for p in parsed if p.prepared.plan.start_lines == 0})
    con.execute("CREATE OR REPLACE TEMP TABLE known_rejects (source_file VARCHAR, source_line BIGINT)")
    if not store_rejects or not again:
        return False
    set_var(con, "known_reject_files", literals(store_rejects))
    set_var(con, "again_files", again)
    con.execute(
        "INSERT INTO known_rejects SELECT DISTINCT source_file, source_line"
        " FROM read_parquet(getvariable('known_reject_files'), hive_partitioning = false)"
        " WHERE list_contains(getvariable('again_files'), source_file)"
    )
    return bool(con.execute("SELECT count(*) FROM known_rejects").fetchall()[0][0])


_KNOWN = (
    "EXISTS (SELECT 1 FROM known_rejects AS k"
    " WHERE k.source_file = r.source_file AND k.source_line = r.source_line)"
)


def rejects_query() -> str:
    """The rejects of this ingest in the store's columns, but those the store holds already
    (``known_rejects``); in no set order: sorting a hundred million rejects of a NUL block would cost
    more than the ingest; readers order them."""
    return (
        "SELECT code, source_file, source_line, raw, ingest_id"
        f" FROM ({load_sql('engine/ingest/rejects')}) AS r WHERE NOT {_KNOWN}"
    )


def count(
    con: duckdb.DuckDBPyConnection,
    parsed: Sequence[Parsed],
    events: Path,
    rejects: Path,
    *,
    known: bool = False,
) -> Counts:
    """The counts of the files written (``events``: a folder of day partitions), checked: lines =
    events + duplicates + rejects (+ pending); ``known``: some rejected lines were in the store
    already (:func:`known_rejects`), counted apart."""
    row = con.execute("SELECT count(*) FILTER (WHERE code IS NULL) FROM ingest_lines").fetchone()
    candidates = int(row[0]) if row else 0
    event_files = sorted(events.glob("day=*/*.parquet")) if events.is_dir() else []
    n_events = 0
    if event_files:
        row = con.execute(
            "SELECT count(*) FROM read_parquet(?, hive_partitioning = false)", [literals(event_files)]
        ).fetchone()
        n_events = int(row[0]) if row else 0
    by_code = {
        str(code): int(n)
        for code, n in con.execute(
            "SELECT code, count(*) FROM read_parquet(?, hive_partitioning = false) GROUP BY code",
            [literals([rejects])],
        ).fetchall()
    }
    sample = [
        f"{display_path(f)}:{line}: {code}"
        for f, line, code in con.execute(
            "SELECT source_file, source_line, code FROM read_parquet(?, hive_partitioning = false)"
            " ORDER BY source_file, source_line LIMIT ?",
            [literals([rejects]), SAMPLE_REJECTS],
        ).fetchall()
    ]
    lines = sum(p.prepared.lines for p in parsed)
    rejected = sum(by_code.values())
    repeated = 0
    if known:
        query = f"SELECT count(*) FROM ({load_sql('engine/ingest/rejects')}) AS r WHERE {_KNOWN}"
        repeated = int(con.execute(query).fetchall()[0][0])
    if lines != candidates + rejected + repeated:
        raise ReconcileError(
            f"ingest identity broken: {lines:,} lines read but {candidates:,} events or duplicates,"
            f" {rejected:,} rejects written and {repeated:,} rejected before; nothing was committed"
            " (please report this)"
        )
    return Counts(lines, candidates, n_events, by_code, sample, repeated)
