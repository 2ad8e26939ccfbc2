"""Inventory snapshot files as the relation ``audit_file`` that ``inventory_rows.sql`` checks.

Three formats, told by the file name (docs/SPEC.md, "Inventory snapshots"): CSV with a header
(``.csv``), JSON Lines (``.jsonl``, ``.ndjson``, ``.json``), each maybe compressed (``.gz``,
``.zst``), and Parquet (``.parquet``, ``.pq``). Files of one format and one layout (the same CSV
header, the same Parquet schema) are read together, in one statement: a platform exports one file
per instant, and a month of hourly snapshots is 744 files. Each reader gives the same columns:
``file_no``, ``line`` (the CSV or JSON line, the Parquet row, from 1), the instant as text
(``observed_at``) or as Unix ns (``observed_n``: a Parquet timestamp column), ``family``,
``resource_id``, ``hypervisor``, ``tenant_id`` as text, each shape member as text (``cpu``) or
as an integer (``cpu_n``: a Parquet integer column), ``malformed`` (why a row could not be read
at all) and ``raw`` (its text).

Only the select list that adapts a layout's own columns to those is made here (from the fixed
names below, never from a file's text); the reading is SQL (``sql/engine/audit/inventory_*.sql``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import drop_relation, literal
from reconcile._core._sql import load_sql

REQUIRED = ("observed_at", "family", "resource_id", "cpu", "mem_bytes", "storage_bytes")
OPTIONAL = ("hypervisor", "tenant_id")
SHAPE = {"cpu": "cpu_n", "mem_bytes": "mem_n", "storage_bytes": "storage_n"}

_TEXT = (".csv", ".jsonl", ".ndjson", ".json")
_COMPRESSED = ("", ".gz", ".zst")
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


class FileProblemError(Exception):
    """A file that cannot be read as an inventory snapshot: its finding code and what is wrong."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Malformed:
    """A CSV line DuckDB's reader rejected: its file, line, what DuckDB said and the line's text."""

    file_no: int
    line: int
    kind: str
    text: str


def format_of(path: Path) -> str | None:
    """``csv``, ``jsonl`` or ``parquet`` from the file name; None for another name."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    for suffix in _TEXT:
        if any(name.endswith(suffix + z) for z in _COMPRESSED):
            return "csv" if suffix == ".csv" else "jsonl"
    return None


def _check_names(names: Sequence[str]) -> None:
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise FileProblemError("bad_header", f"column {repeated[0]!r} is named more than once")
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise FileProblemError(
            "bad_header", f"missing column(s) {', '.join(missing)} (columns: {', '.join(names) or 'none'})"
        )


def layout(con: duckdb.DuckDBPyConnection, path: Path, fmt: str) -> tuple[str, ...]:
    """What files must share to be read together: a CSV file's header, a Parquet file's columns and
    their types (checked: :class:`FileProblemError` when a required column is missing)."""
    con.execute("SET VARIABLE audit_file_path = ?", [literal(path)])
    if fmt == "jsonl":
        return ()
    if fmt == "csv":
        rows = con.execute(
            "SELECT raw FROM read_csv(getvariable('audit_file_path'), columns = {'raw': 'VARCHAR'},"
            " delim = '\\0', quote = '', escape = '', header = false, auto_detect = false,"
            " strict_mode = false) LIMIT 1"
        ).fetchall()
        if not rows or rows[0][0] is None:
            raise FileProblemError("empty", "no header line: an empty file, or not a CSV inventory file")
        names = next(csv.reader(io.StringIO(str(rows[0][0]).removeprefix("\ufeff"))), [])
        _check_names(names)
        return tuple(names)
    described = con.execute(
        "DESCRIBE SELECT * FROM read_parquet(getvariable('audit_file_path'), hive_partitioning = false)"
    ).fetchall()
    _check_names([str(row[0]) for row in described])
    return tuple(f"{row[0]} {str(row[1]).upper()}" for row in described)


def _files_table(con: duckdb.DuckDBPyConnection, files: Sequence[tuple[int, Path]]) -> None:
    """``audit_batch_files``: each file's name as DuckDB reports it (``filename``) -> its number."""
    rows = sorted({(str(p), n) for n, p in files} | {(literal(p), n) for n, p in files})
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_batch_files AS"
        " SELECT unnest(CAST(? AS VARCHAR[])) AS filename, unnest(CAST(? AS BIGINT[])) AS file_no",
        [[name for name, _ in rows], [n for _, n in rows]],
    )


def _view(con: duckdb.DuckDBPyConnection, source: str, parts: list[str]) -> None:
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW audit_file AS SELECT b.file_no, {', '.join(parts)}"
        f" FROM {source} AS s JOIN audit_batch_files AS b ON b.filename = s.filename"
    )


def _text_parts(names: set[str]) -> list[str]:
    parts = ["s.line"]
    for name in (*REQUIRED, *OPTIONAL, "malformed", "raw"):
        parts.append(
            f"CAST(s.{name} AS VARCHAR) AS {name}" if name in names else f"CAST(NULL AS VARCHAR) AS {name}"
        )
    return parts + [f"CAST(NULL AS BIGINT) AS {n}" for n in ("observed_n", *SHAPE.values())]


def _open_csv(con: duckdb.DuckDBPyConnection, header: tuple[str, ...]) -> list[Malformed]:
    for name in ("audit_csv_errors", "audit_csv_scans"):
        drop_relation(con, name)
    con.execute("SET VARIABLE audit_csv_columns = ?", [dict.fromkeys(header, "VARCHAR")])
    con.execute("CREATE OR REPLACE TEMP TABLE audit_csv_rows AS " + load_sql("engine/audit/inventory_csv"))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_csv_bad AS SELECT DISTINCT s.file_path AS filename, e.line"
        " FROM audit_csv_errors AS e JOIN audit_csv_scans AS s USING (scan_id, file_id)"
    )
    bad = con.execute(
        "SELECT b.file_no, e.line, min(CAST(e.error_type AS VARCHAR)), min(e.csv_line)"
        " FROM audit_csv_errors AS e JOIN audit_csv_scans AS s USING (scan_id, file_id)"
        " JOIN audit_batch_files AS b ON b.filename = s.file_path GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE audit_csv_lined AS " + load_sql("engine/audit/inventory_csv_lines")
    )
    _view(con, "audit_csv_lined", _text_parts(set(header)))
    return [
        Malformed(int(n), int(line), str(kind).lower(), str(text or "").rstrip("\r\n")[:200])
        for n, line, kind, text in bad
    ]


def _open_parquet(con: duckdb.DuckDBPyConnection, schema: tuple[str, ...]) -> None:
    types = dict(item.split(" ", 1) for item in schema)
    parts = ["s.line"]
    if types["observed_at"].startswith("TIMESTAMP"):
        parts += ["CAST(NULL AS VARCHAR) AS observed_at", "epoch_ns(s.observed_at) AS observed_n"]
    else:
        parts += ["CAST(s.observed_at AS VARCHAR) AS observed_at", "CAST(NULL AS BIGINT) AS observed_n"]
    for name in ("family", "resource_id", *OPTIONAL):
        parts.append(
            f"CAST(s.{name} AS VARCHAR) AS {name}" if name in types else f"CAST(NULL AS VARCHAR) AS {name}"
        )
    for name, typed in SHAPE.items():
        if types[name] in _INTEGER_TYPES:
            parts += [
                f"CASE WHEN TRY_CAST(s.{name} AS BIGINT) IS NULL THEN CAST(s.{name} AS VARCHAR) END"
                f" AS {name}",
                f"TRY_CAST(s.{name} AS BIGINT) AS {typed}",
            ]
        else:
            parts += [f"CAST(s.{name} AS VARCHAR) AS {name}", f"CAST(NULL AS BIGINT) AS {typed}"]
    parts += ["CAST(NULL AS VARCHAR) AS malformed", "CAST(NULL AS VARCHAR) AS raw"]
    drop_relation(con, "audit_parquet")
    con.execute("CREATE TEMP VIEW audit_parquet AS " + load_sql("engine/audit/inventory_parquet"))
    _view(con, "audit_parquet", parts)


def open_batch(
    con: duckdb.DuckDBPyConnection, fmt: str, shape: tuple[str, ...], files: Sequence[tuple[int, Path]]
) -> list[Malformed]:
    """Make ``audit_file`` (module doc) over ``files`` (number, path: one format and one
    :func:`layout` ``shape``) and ``audit_rows``, their rows checked (``inventory_rows.sql``).
    Returns the CSV lines DuckDB could not read as rows. DuckDB's errors reading a file (not
    UTF-8, not Parquet, cut short) are the caller's: it reads the files one by one to name it."""
    con.execute("SET VARIABLE audit_file_paths = ?", [[literal(p) for _, p in files]])
    _files_table(con, files)
    malformed: list[Malformed] = []
    if fmt == "csv":
        malformed = _open_csv(con, shape)
    elif fmt == "jsonl":
        con.execute(
            "CREATE OR REPLACE TEMP TABLE audit_json_rows AS " + load_sql("engine/audit/inventory_jsonl")
        )
        _view(con, "audit_json_rows", _text_parts({*REQUIRED, *OPTIONAL, "malformed", "raw"}))
    else:
        _open_parquet(con, shape)
    con.execute("CREATE OR REPLACE TEMP VIEW audit_rows AS " + load_sql("engine/audit/inventory_rows"))
    return malformed
