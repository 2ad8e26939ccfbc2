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
first, took 175 s; the ordered pass spilled far more: 250 s). Copies that left lines out (*gapped*)
are batched apart, so only their rows go through ``ingest_lines``' ASOF join. A bundle of small
files' lines (``_prepare``) is a batch of its own: one source, each file's rows a known range of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import is_parallel_csv_refusal, literals
from reconcile._core._sql import load_sql
from reconcile._ingest._prepare import Bundle, Prepared

ONE_PASS_MAX_BYTES = 3 << 30
NUMBERING_MEMORY_LIMIT = "256MB"  # the streaming first step of the two-step parse


def set_var(con: duckdb.DuckDBPyConnection, name: str, value: object) -> None:
    """``SET VARIABLE name = value`` with the value bound, never pasted into the SQL."""
    con.execute(f"SET VARIABLE {name} = ?", [value])


@dataclass(frozen=True)
class Batch:
    """Sources read by one query into one scratch table."""

    files: tuple[Prepared, ...]  # the files whose rows it holds
    paths: tuple[Path, ...]  # the sources DuckDB reads, in order: source_index first_source, ...
    first_source: int
    table: str  # the scratch table (``parsed_<first_source>``)
    work_dir: Path
    gapped: bool  # copies that left lines out
    numbered: bool = False  # one big source, numbered by the reader's position first (two steps)
    bundle: Bundle | None = None  # one bundle (``_prepare``): its files' rows are row ranges of it

    @property
    def text_bytes(self) -> int:
        """The bytes of text the batch reads."""
        if self.bundle is not None:
            return self.bundle.size
        return sum(p.text_bytes for p in self.files)


def plan_batches(prepared: Sequence[Prepared], work_dir: Path, *, first_source: int = 0) -> list[Batch]:
    """The batches that read ``prepared``'s sources (those with something to read): a batch for each
    bundle, and for the other sources, plain and gapped apart, a batch of each big one and batches
    of the others up to ``ONE_PASS_MAX_BYTES``; ``first_source`` numbers the first source."""
    batches: list[Batch] = []

    def add(
        files: list[Prepared], gapped: bool, *, numbered: bool = False, bundle: Bundle | None = None
    ) -> None:
        nonlocal first_source
        paths = (bundle.path,) if bundle is not None else tuple(p.source for p in files if p.source)
        table = f"parsed_{first_source}"
        batches.append(Batch(tuple(files), paths, first_source, table, work_dir, gapped, numbered, bundle))
        first_source += len(paths)

    members: dict[int, list[Prepared]] = {}
    bundles: dict[int, Bundle] = {}
    for p in prepared:
        if p.bundle is not None:
            members.setdefault(id(p.bundle), []).append(p)
            bundles[id(p.bundle)] = p.bundle
    for key, files in members.items():
        add(files, gapped=False, bundle=bundles[key])
    for gapped in (False, True):
        group: list[Prepared] = []
        size = 0
        for p in prepared:
            if p.source is None or p.bundle is not None or p.gapped != gapped:
                continue
            n = p.text_bytes
            if n > ONE_PASS_MAX_BYTES:
                add([p], gapped, numbered=True)
                continue
            if group and size + n > ONE_PASS_MAX_BYTES:
                add(group, gapped)
                group, size = [], 0
            group.append(p)
            size += n
        if group:
            add(group, gapped)
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
        set_var(cur, "ledger_paths", literals(batch.paths))
        set_var(cur, "first_source", batch.first_source)
        set_var(cur, "csv_parallel", parallel)
        cur.execute("SET preserve_insertion_order = true")
        cur.execute(load_sql("engine/ingest/json_members"))
        cur.execute("CREATE OR REPLACE TEMP VIEW ledger_text AS " + load_sql("engine/ingest/ledger_text"))
        if not batch.numbered:
            cur.execute(
                "CREATE OR REPLACE TEMP VIEW ledger_lines AS "
                "SELECT source_index, CAST(NULL AS BIGINT) AS source_row, raw FROM ledger_text"
            )
            cur.execute(
                "CREATE OR REPLACE TEMP VIEW parsed_lines AS " + load_sql("engine/ingest/parsed_lines")
            )
            cur.execute(create)
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
