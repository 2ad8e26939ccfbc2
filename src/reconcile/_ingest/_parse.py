"""DuckDB's parse of one file's lines into a scratch Parquet file (``sql/engine/ingest/ledger_text.sql``,
``parsed_lines.sql``).

Up to ``ONE_PASS_MAX_BYTES`` of text is read, parsed and written in one ordered pass on every core:
with ``preserve_insertion_order`` the rows stay in file order, so ``ingest_lines`` numbers them by
their position in the scratch file. A bigger file's lines are first numbered by the reader's ``WITH
ORDINALITY`` position (``ledger_lines.sql``), streaming on one thread into scratch Parquet at a lower
memory limit, then parsed on every core (measured on a 50M-line, 10 GB ledger: 150 s, where
numbering with ``row_number()``, which gathers every line first, took 175 s; the ordered pass
spilled far more: 250 s).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from reconcile._engine import is_parallel_csv_refusal, literal
from reconcile._ingest._prepare import Prepared
from reconcile._sql import load_sql

ONE_PASS_MAX_BYTES = 3 << 30
NUMBERING_MEMORY_LIMIT = "256MB"  # the streaming first step of the two-step parse


def set_var(con: duckdb.DuckDBPyConnection, name: str, value: object) -> None:
    """``SET VARIABLE name = value`` with the value bound, never pasted into the SQL."""
    con.execute(f"SET VARIABLE {name} = ?", [value])


def parse(con: duckdb.DuckDBPyConnection, prepared: Prepared, target: Path, *, memory_limit: str) -> None:
    """Parse the lines of ``prepared.source`` into ``target`` (zero rows when nothing is read)."""
    assert prepared.source is not None
    plan = prepared.plan
    settings: dict[str, object] = {
        "ledger_path": literal(prepared.source),
        "line_offset": plan.start_lines,
        "file_index": plan.index,
        "source_file": str(plan.path),
    }
    one_pass = prepared.source.stat().st_size <= ONE_PASS_MAX_BYTES
    try:
        _parse(con, settings, target, parallel=True, one_pass=one_pass, memory_limit=memory_limit)
    except duckdb.Error as exc:
        if not is_parallel_csv_refusal(exc):
            raise
        # DuckDB's parallel CSV reader refuses some big files ("does not support a full read on this
        # file"): its single-threaded reader takes them
        _parse(con, settings, target, parallel=False, one_pass=one_pass, memory_limit=memory_limit)


def _parse(
    con: duckdb.DuckDBPyConnection,
    settings: dict[str, object],
    target: Path,
    *,
    parallel: bool,
    one_pass: bool,
    memory_limit: str,
) -> None:
    cur = con.cursor()
    try:
        for name, value in settings.items():
            set_var(cur, name, value)
        set_var(cur, "first_line", None)
        set_var(cur, "last_line", None)
        set_var(cur, "csv_parallel", parallel)
        cur.execute("SET preserve_insertion_order = true")
        cur.execute(load_sql("engine/ingest/json_members"))
        cur.execute("CREATE OR REPLACE TEMP VIEW ledger_text AS " + load_sql("engine/ingest/ledger_text"))
        if one_pass:
            cur.execute(
                "CREATE OR REPLACE TEMP VIEW ledger_lines AS "
                "SELECT CAST(NULL AS BIGINT) AS source_line, raw FROM ledger_text"
            )
            cur.execute(
                "CREATE OR REPLACE TEMP VIEW parsed_lines AS " + load_sql("engine/ingest/parsed_lines")
            )
            cur.sql("SELECT * FROM parsed_lines").write_parquet(str(target), compression="lz4")
            return
        # two steps: 1. number the lines (streaming, one thread, a smaller memory limit)
        cur.execute("CREATE OR REPLACE TEMP VIEW ledger_lines AS " + load_sql("engine/ingest/ledger_lines"))
        numbered = target.with_suffix(".lines.parquet")
        cur.execute("SET memory_limit = ?", [NUMBERING_MEMORY_LIMIT])
        try:
            cur.sql("SELECT * FROM ledger_lines").write_parquet(str(numbered), compression="lz4")
        finally:
            cur.execute("SET memory_limit = ?", [memory_limit])
        # 2. parse them on every core (row order no longer matters: the numbers are in the rows)
        set_var(cur, "numbered_lines", literal(numbered))
        cur.execute(
            "CREATE OR REPLACE TEMP VIEW ledger_lines AS "
            "SELECT * FROM read_parquet(getvariable('numbered_lines'), hive_partitioning = false)"
        )
        cur.execute("CREATE OR REPLACE TEMP VIEW parsed_lines AS " + load_sql("engine/ingest/parsed_lines"))
        cur.execute("SET preserve_insertion_order = false")
        try:
            cur.sql("SELECT * FROM parsed_lines").write_parquet(str(target), compression="lz4")
        finally:
            cur.execute("SET preserve_insertion_order = true")
            numbered.unlink(missing_ok=True)
    finally:
        cur.close()
