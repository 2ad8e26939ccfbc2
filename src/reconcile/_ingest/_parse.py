"""DuckDB's parse of an ingest's lines into scratch tables (``sql/engine/ingest/ledger_text.sql``,
``parsed_lines.sql``), in a few reads whatever the number of files.

Every text DuckDB reads for the ingest (a ledger read in place, a copy) is a *source*, numbered in
the order read (``source_index``). Sources are read in *batches*: one ``read_csv`` over a list of
files, parsed and inserted into a table of the connection's database in one ordered pass on every
core. With ``preserve_insertion_order`` the rows stay in source order and, within a source, in line
order, so ``ingest_lines`` numbers a row by its ``rowid`` less the first ``rowid`` of its source.
Per-file overhead is a path in a list, not a query: ten thousand small files are one read. The
tables live in DuckDB's buffer pool and spill to the ingest's scratch folder past the memory limit;
a table costs less to write and read back than the scratch Parquet file it replaces (no encoding:
10% less CPU for the parse of 500k lines), and its row groups' instant ranges let a day's events be
read without the rest (``_dedupe.write_events``).

A batch holds up to ``ONE_PASS_MAX_BYTES`` of text. A bigger source is a batch of its own whose lines
are first numbered by the reader's ``WITH ORDINALITY`` position (``ledger_lines.sql``), streaming on
one thread into scratch Parquet at a lower memory limit, then parsed on every core (measured on a
50M-line, 10 GB ledger: 150 s, where numbering with ``row_number()``, which gathers every line
first, took 175 s; the ordered pass spilled far more: 250 s). Sources under ``SMALL_SOURCE_BYTES``
are batched apart and their lines gathered into a table before they are parsed (below). Copies that
left lines out (*gapped*) are batched apart, so only their rows go through ``ingest_lines``' ASOF
join.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._engine import is_parallel_csv_refusal, literals
from reconcile._ingest._prepare import Prepared
from reconcile._sql import load_sql

ONE_PASS_MAX_BYTES = 3 << 30
NUMBERING_MEMORY_LIMIT = "256MB"  # the streaming first step of the two-step parse
SMALL_SOURCE_BYTES = 1 << 20  # a source under this size is read with others into a table first


def set_var(con: duckdb.DuckDBPyConnection, name: str, value: object) -> None:
    """``SET VARIABLE name = value`` with the value bound, never pasted into the SQL."""
    con.execute(f"SET VARIABLE {name} = ?", [value])


@dataclass(frozen=True)
class Batch:
    """Sources read by one query into one scratch table."""

    sources: tuple[Prepared, ...]
    first_source: int  # the source_index of sources[0]; the others follow in order
    table: str  # the scratch table (``parsed_<first_source>``)
    work_dir: Path
    gapped: bool  # copies that left lines out
    numbered: bool = False  # one big source, numbered by the reader's position first (two steps)
    gathered: bool = False  # small sources, their lines gathered into a table first (two steps)

    @property
    def text_bytes(self) -> int:
        """The bytes of text the batch reads."""
        return sum(p.text_bytes for p in self.sources)


def plan_batches(prepared: Sequence[Prepared], work_dir: Path, *, first_source: int = 0) -> list[Batch]:
    """The batches that read ``prepared``'s sources (those with something to read): for plain and
    gapped sources apart, a batch of each big source, and batches of small ones and of the others,
    each up to ``ONE_PASS_MAX_BYTES``; ``first_source`` numbers the first source."""
    groups: list[tuple[list[Prepared], bool, str]] = []  # (sources, gapped, how)
    for gapped in (False, True):
        pending: dict[str, tuple[list[Prepared], int]] = {"direct": ([], 0), "gathered": ([], 0)}
        for p in prepared:
            if p.source is None or p.gapped != gapped:
                continue
            n = p.text_bytes
            if n > ONE_PASS_MAX_BYTES:
                groups.append(([p], gapped, "numbered"))
                continue
            how = "gathered" if n < SMALL_SOURCE_BYTES else "direct"
            group, size = pending[how]
            if group and size + n > ONE_PASS_MAX_BYTES:
                groups.append((group, gapped, how))
                group, size = [], 0
            pending[how] = ([*group, p], size + n)
        groups.extend((group, gapped, how) for how, (group, _size) in pending.items() if group)
    batches = []
    for sources, gapped, how in groups:
        table = f"parsed_{first_source}"
        batches.append(
            Batch(
                tuple(sources),
                first_source,
                table,
                work_dir,
                gapped,
                numbered=how == "numbered",
                gathered=how == "gathered",
            )
        )
        first_source += len(sources)
    return batches


def parse(con: duckdb.DuckDBPyConnection, batch: Batch, *, memory_limit: str) -> None:
    """Parse the lines of ``batch``'s sources into its scratch table (replaced if it exists)."""
    try:
        _parse(con, batch, parallel=True, memory_limit=memory_limit)
    except duckdb.Error as exc:
        if not is_parallel_csv_refusal(exc):
            raise
        # DuckDB's parallel CSV reader refuses some big files ("does not support a full read on this
        # file"): its single-threaded reader takes them
        _parse(con, batch, parallel=False, memory_limit=memory_limit)


def _parse(con: duckdb.DuckDBPyConnection, batch: Batch, *, parallel: bool, memory_limit: str) -> None:
    cur = con.cursor()
    create = f"CREATE OR REPLACE TABLE {batch.table} AS SELECT * FROM parsed_lines"
    try:
        set_var(cur, "ledger_paths", literals([p.source for p in batch.sources if p.source is not None]))
        set_var(cur, "first_source", batch.first_source)
        set_var(cur, "csv_parallel", parallel)
        cur.execute("SET preserve_insertion_order = true")
        cur.execute(load_sql("engine/ingest/json_members"))
        cur.execute("CREATE OR REPLACE TEMP VIEW ledger_text AS " + load_sql("engine/ingest/ledger_text"))
        if not batch.numbered:
            text = "ledger_text"
            if batch.gathered:
                # small sources: DuckDB's reader gives each file's rows in chunks of their own, and
                # the parse's many expressions cost per chunk as much as per row (1 ms a 200-line
                # file); gathered into one table first, they are parsed in full chunks (0.3 ms)
                text = f"{batch.table}_text"
                cur.execute(f"CREATE OR REPLACE TABLE {text} AS SELECT source_index, raw FROM ledger_text")
            cur.execute(
                "CREATE OR REPLACE TEMP VIEW ledger_lines AS "
                f"SELECT source_index, CAST(NULL AS BIGINT) AS source_row, raw FROM {text}"
            )
            cur.execute(
                "CREATE OR REPLACE TEMP VIEW parsed_lines AS " + load_sql("engine/ingest/parsed_lines")
            )
            try:
                cur.execute(create)
            finally:
                if batch.gathered:
                    cur.execute(f"DROP TABLE IF EXISTS {text}")
            return
        # two steps: 1. number the lines (streaming, one thread, a smaller memory limit)
        cur.execute("CREATE OR REPLACE TEMP VIEW ledger_lines AS " + load_sql("engine/ingest/ledger_lines"))
        numbered = batch.work_dir / f"{batch.table}.lines.parquet"
        cur.execute("SET memory_limit = ?", [NUMBERING_MEMORY_LIMIT])
        try:
            cur.sql("SELECT * FROM ledger_lines").write_parquet(str(numbered), compression="lz4")
        finally:
            cur.execute("SET memory_limit = ?", [memory_limit])
        # 2. parse them on every core (row order no longer matters: the numbers are in the rows)
        set_var(cur, "numbered_lines", literals([numbered]))
        cur.execute(
            "CREATE OR REPLACE TEMP VIEW ledger_lines AS "
            "SELECT * FROM read_parquet(getvariable('numbered_lines'), hive_partitioning = false)"
        )
        cur.execute("CREATE OR REPLACE TEMP VIEW parsed_lines AS " + load_sql("engine/ingest/parsed_lines"))
        cur.execute("SET preserve_insertion_order = false")
        try:
            cur.execute(create)
        finally:
            cur.execute("SET preserve_insertion_order = true")
            numbered.unlink(missing_ok=True)
    finally:
        cur.close()
