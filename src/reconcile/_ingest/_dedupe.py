"""De-duplicate the parsed lines of one ingest and write its events and rejects (SPEC section 2).

``ingest_lines`` (the scratch Parquet of every file, numbered and bounded by the Python pass's line
count) is de-duplicated against the store and within the ingest, by sorted path then line; the ids
read more than once are found in parts of ``DEDUPE_PART_LINES`` lines, by hash, so memory does not
grow with the ingest. New events (``new_events.sql``) and rejects (``rejects.sql``) are written as
zstd Parquet (level 1: cheaper than DuckDB's default 3, and no bigger here).

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
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._engine import literals
from reconcile._ingest import _prepare
from reconcile._ingest._parse import Batch, set_var
from reconcile._ingest._prepare import GAPS_SCHEMA, ORIGINALS_SCHEMA, PRESCAN_SCHEMA, Prepared
from reconcile._ingest._summary import SAMPLE_REJECTS, display_path
from reconcile._sql import load_sql
from reconcile.exceptions import InputError, ReconcileError

# De-duplication runs in parts of about this many lines (by hash of event_id), so its hash tables
# do not grow with the ingest. Measured (10M / 50M lines, 512MB limit): 16M-line parts peaked at
# 587 / 668 MB, 5M-line parts at 459 / 517 MB, at the same speed for 10M lines.
DEDUPE_PART_LINES = 5_000_000

# The columns of sql/engine/ingest/ingest_lines.sql (for an ingest that reads no new line).
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

_SOURCES_SCHEMA = pa.schema(
    [
        ("source_index", pa.int64()),
        ("file_index", pa.int64()),
        ("source_file", pa.string()),
        ("line_offset", pa.int64()),
        ("last_line", pa.int64()),
    ]
)


@dataclass(frozen=True)
class Counts:
    """What the written files hold."""

    lines: int  # complete lines read (pending ones not included)
    candidates: int  # lines that parsed into an event, duplicates included
    events: int
    rejects: dict[str, int]
    sample: list[str]  # the first rejects as file:line: code


def _empty_table(con: duckdb.DuckDBPyConnection, name: str, schema: object) -> None:
    types = {"int64": "BIGINT", "string": "VARCHAR"}
    columns = ", ".join(
        f"{f.name} {types[str(f.type)]}"
        for f in schema  # type: ignore[attr-defined]
        if f.name != "lines"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({columns})")


def register(
    con: duckdb.DuckDBPyConnection,
    batches: Sequence[Batch],
    files: Sequence[Prepared],
    spooled: tuple[Path | None, Path | None, Path | None],
) -> None:
    """Register ``line_sources``, ``prescan_rejects``, ``original_lines``, ``line_gaps`` and
    ``ingest_lines`` for the files read: ``files`` (the rows of another file a batch read, one
    replaced while it was read, say, are left out). ``spooled``: the prescan, originals and gaps
    spools (:meth:`Spools.close`)."""
    kept = {p.plan.index for p in files}
    rows = [
        (batch.first_source + k, p.plan.index, str(p.plan.path), p.plan.start_lines, p.last_line)
        for batch in batches
        for k, p in enumerate(batch.sources)
        if p.plan.index in kept
    ]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_SOURCES_SCHEMA)
    sources = pa.table(
        [pa.array(c, f.type) for c, f in zip(columns, _SOURCES_SCHEMA, strict=True)], schema=_SOURCES_SCHEMA
    )
    con.register("planned_sources", sources)
    try:
        if batches:
            set_var(con, "parsed_files", literals([b.parquet for b in batches]))
            con.execute(
                "CREATE OR REPLACE TEMP TABLE line_sources AS"
                " SELECT s.*, f.first_row FROM planned_sources AS s LEFT JOIN ("
                "  SELECT source_index, min(file_row_number) AS first_row"
                "  FROM read_parquet(getvariable('parsed_files'), file_row_number = true,"
                "   hive_partitioning = false)"
                "  GROUP BY source_index"
                " ) AS f ON f.source_index = s.source_index"
            )
        else:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE line_sources AS"
                " SELECT *, CAST(NULL AS BIGINT) AS first_row FROM planned_sources"
            )
    finally:
        con.unregister("planned_sources")
    con.execute(load_sql("engine/ingest/spooled_lines"))
    set_var(con, "run_lines", _prepare.RUN_LINES)
    for name, path, schema in zip(
        ("prescan_rejects", "original_lines", "line_gaps"),
        spooled,
        (PRESCAN_SCHEMA, ORIGINALS_SCHEMA, GAPS_SCHEMA),
        strict=True,
    ):
        if path is None:
            _empty_table(con, name, schema)
            continue
        set_var(con, f"{name}_files", literals([path]))
        source = (
            f"read_parquet(getvariable('{name}_files'), hive_partitioning = false)"
            if name == "line_gaps"
            else f"spooled_lines(getvariable('{name}_files'), getvariable('run_lines'))"  # runs expanded
        )
        # (only the rows of the files read: a file found not to be a ledger after its copy was made
        # has spooled rows too)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {source}"
            " WHERE file_index IN (SELECT file_index FROM line_sources)"
        )
    if not batches:
        columns = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in _PARSED_COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP VIEW ingest_lines AS SELECT {columns} WHERE false")
        return
    for name, gapped in (("parsed_plain", False), ("parsed_gapped", True)):
        group = [b for b in batches if b.gapped == gapped]
        # an empty group reads every file's columns and no row
        set_var(con, f"{name}_files", literals([b.parquet for b in group or batches]))
        variable = f"getvariable('{name}_files')"
        reader = f"read_parquet({variable}, file_row_number = true, hive_partitioning = false)"
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {reader}"
            + ("" if group else " WHERE false")
        )
    con.execute("CREATE OR REPLACE TEMP VIEW ingest_lines AS " + load_sql("engine/ingest/ingest_lines"))


def check_rows(con: duckdb.DuckDBPyConnection, files: Sequence[Prepared]) -> None:
    """Each file gave exactly the rows the Python pass counted (its lines but those it classified)."""
    got = {
        int(i): int(rows)
        for i, rows in con.execute("SELECT file_index, count(*) FROM ingest_lines GROUP BY 1").fetchall()
    }
    for prepared in files:
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


def rejects_query() -> str:
    """The rejects of this ingest in the store's columns (in no set order: sorting a hundred million
    rejects of a NUL block would cost more than the ingest; readers order them)."""
    return f"SELECT code, source_file, source_line, raw, ingest_id FROM ({load_sql('engine/ingest/rejects')})"


def count(con: duckdb.DuckDBPyConnection, files: Sequence[Prepared], events: Path, rejects: Path) -> Counts:
    """The counts of the files written (``events``: a folder of day partitions), checked: lines =
    events + duplicates + rejects (+ pending)."""
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
    lines = sum(p.lines for p in files)
    rejected = sum(by_code.values())
    if lines != candidates + rejected:
        raise ReconcileError(
            f"ingest identity broken: {lines:,} lines read but {candidates:,} events or duplicates and"
            f" {rejected:,} rejects written; nothing was committed (please report this)"
        )
    return Counts(lines, candidates, n_events, by_code, sample)
