"""The parsed lines of one ingest, numbered with their files' own line numbers: ``ingest_lines``
(``sql/engine/ingest/ingest_lines.sql``) and the relations it reads, and the check that every file
gave exactly the rows the Python pass counted.

A parsed row knows its source (``source_index``: a file DuckDB read) and its place in its scratch
table (``rowid``). What that place means is in three small tables built here from the prepared files:

- ``line_sources``: a source that is one file (read in place, or a copy of its own): the file, its
  lines before what was read, the place of the source's first row, its last complete line;
- ``line_bundles`` and ``line_members``: a bundle (``_prepare``), many files' rows one after the
  other: each file's first row in it and its row count, listed under every *bucket* (rows ``k *
  bucket_rows`` to ``(k + 1) * bucket_rows - 1``) it overlaps, so a row finds its file by an
  equality join on its bucket (a power of two no larger than the bundle's smallest file, so a
  bucket holds at most a few files) rather than a range join or a sort;
- the pre-scan's spools, and ``line_gaps`` (where a copy left lines out).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from reconcile._core._duckdb import literals
from reconcile._core._sql import load_sql
from reconcile._ingest import _prepare
from reconcile._ingest._parse import Batch, set_var
from reconcile._ingest._prepare import GAPS_SCHEMA, ORIGINALS_SCHEMA, PRESCAN_SCHEMA, Prepared
from reconcile._ingest._summary import display_path
from reconcile.exceptions import InputError

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


def _empty_table(con: duckdb.DuckDBPyConnection, name: str, schema: object) -> None:
    types = {"int64": "BIGINT", "string": "VARCHAR"}
    columns = ", ".join(
        f"{f.name} {types[str(f.type)]}"
        for f in schema  # type: ignore[attr-defined]
        if f.name != "lines"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({columns})")


def _table_of_lists(
    con: duckdb.DuckDBPyConnection, name: str, columns: dict[str, str], rows: list[tuple[object, ...]]
) -> None:
    """``CREATE TEMP TABLE name`` from Python rows, bound as one list a column (not an Arrow table:
    pyarrow's first conversion of Python values imports pandas, most of a second)."""
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    select = ", ".join(f"unnest(?::{kind}[]) AS {column}" for column, kind in columns.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {select}", [list(v) for v in values])


_FILE_COLUMNS = {
    "file_index": "BIGINT",
    "source_file": "VARCHAR",
    "line_offset": "BIGINT",
    "last_line": "BIGINT",
}


def _file(p: Prepared) -> tuple[object, ...]:
    return (p.plan.index, str(p.plan.path), p.plan.start_lines, p.last_line)


def _sources(con: duckdb.DuckDBPyConnection, batches: Sequence[Batch], kept: set[int]) -> None:
    """``line_sources``, ``line_bundles`` and ``line_members`` (module doc)."""
    direct = [b for b in batches if b.bundle is None]
    rows = [
        (batch.first_source + k, *_file(p))
        for batch in direct
        for k, p in enumerate(batch.files)
        if p.plan.index in kept
    ]
    _table_of_lists(con, "planned_sources", {"source_index": "BIGINT", **_FILE_COLUMNS}, rows)
    firsts = (
        " UNION ALL ".join(
            f"SELECT source_index, min(rowid) AS first_row FROM {b.table} GROUP BY source_index"
            for b in direct
        )
        or "SELECT NULL::BIGINT AS source_index, NULL::BIGINT AS first_row WHERE false"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE line_sources AS"
        f" SELECT s.*, f.first_row FROM planned_sources AS s LEFT JOIN ({firsts}) AS f"
        " ON f.source_index = s.source_index"
    )
    bundles: list[tuple[object, ...]] = []
    members: list[tuple[object, ...]] = []
    for batch in batches:
        if batch.bundle is None:
            continue
        files = [p for p in batch.files if p.plan.index in kept and p.rows > 0]
        smallest = min((p.rows for p in files), default=1)
        bucket_rows = 1 << (smallest.bit_length() - 1)  # the largest power of two <= smallest
        bundles.append((batch.first_source, bucket_rows))
        for p in files:
            last = p.first_row + p.rows - 1
            members.extend(
                (batch.first_source, bucket, p.first_row, p.rows, *_file(p))
                for bucket in range(p.first_row // bucket_rows, last // bucket_rows + 1)
            )
    _table_of_lists(con, "line_bundles", {"source_index": "BIGINT", "bucket_rows": "BIGINT"}, bundles)
    member_columns = {"source_index": "BIGINT", "bucket": "BIGINT", "first_row": "BIGINT", "rows": "BIGINT"}
    _table_of_lists(con, "line_members", {**member_columns, **_FILE_COLUMNS}, members)


def register(
    con: duckdb.DuckDBPyConnection,
    batches: Sequence[Batch],
    files: Sequence[Prepared],
    spooled: tuple[Path | None, Path | None, Path | None],
) -> None:
    """Register ``ingest_lines`` and the relations it reads (module doc) for the files read:
    ``files`` (the rows of another file a batch read, one replaced while it was read, say, are left
    out). ``spooled``: the prescan, originals and gaps spools (:meth:`Spools.close`)."""
    kept = {p.plan.index for p in files}
    _sources(con, batches, kept)
    _table_of_lists(con, "read_files", {"file_index": "BIGINT"}, [(i,) for i in sorted(kept)])
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
            " WHERE file_index IN (SELECT file_index FROM read_files)"
        )
    if not batches:
        nulls = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in _PARSED_COLUMNS)
        con.execute(f"CREATE OR REPLACE TEMP VIEW ingest_lines AS SELECT {nulls} WHERE false")
        return
    for name, group in (
        ("parsed_plain", [b for b in batches if b.bundle is None and not b.gapped]),
        ("parsed_gapped", [b for b in batches if b.bundle is None and b.gapped]),
        ("parsed_bundled", [b for b in batches if b.bundle is not None]),
    ):
        # (an empty group reads a table's columns and no row)
        union = " UNION ALL ".join(
            f"SELECT *, rowid AS row_number FROM {b.table}" + ("" if group else " WHERE false")
            for b in group or batches[:1]
        )
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {union}")
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
