"""Analyst relations over an output folder: the SQL files under ``sql/views/``, run by DuckDB.

Each file holds one relation and starts with a header comment ``-- name: what it is``. Inputs come in as
DuckDB variables (``getvariable('output_dir')``, ``getvariable('reject_files')``, the FOCUS constants, ...)
and as the relations other files define, never as text pasted into the SQL.

:func:`connect_output` returns a DuckDB connection holding every relation as a view: the base ones
(``slices``, ``intervals``, ``anomalies`` over the output folder's Parquet with the hive partitions as
columns, ``runs`` from the manifests, ``rejects`` and ``events`` from the store) and the derived ones
(``daily_spend``, ``invoice_lines``, ...). A base relation whose folder holds no file yet is an empty
relation with the SPEC columns, so a period without anomalies (or an output read without its store)
still answers every query; an output folder that does not exist, or holds no committed run (no
manifest), is an :class:`OutputError`. Before any view is made, every file the views read is checked
against what its manifest (or ``close.json``, or ``store.json``) records, by its footer, and the
files of the periods a command reads whole (``hash_periods``) by their hash too (``_output_check``):
a damaged or unlisted file is a :class:`~reconcile.exceptions.DamagedFileError`, never a total.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from reconcile._audit._output import FINDINGS
from reconcile._core import _families
from reconcile._core import _schema as schema
from reconcile._core._csv import write_csv
from reconcile._core._currency import currency_table
from reconcile._core._duckdb import engine_errors, literal, literals, utc
from reconcile._core._files import private_files
from reconcile._core._period import Period, parse_period
from reconcile._core._signals import interruptible
from reconcile._core._sql import load_sql, sql_root
from reconcile._output import _check as _output_check
from reconcile._output import _layout
from reconcile._output._check import naming_damage
from reconcile._output._folder import recover_output
from reconcile._output._manifest import read_manifests
from reconcile._store._reader import Store
from reconcile.exceptions import OutputError, UsageError

# The SPEC section 5 columns of each base relation: the shape of the empty relation used when the folder
# holds no file yet (files add columns freely; the derived relations use only these).
_RUN = {"run_id": "VARCHAR"}
_PERIOD = {"period": "VARCHAR"}
_BASE_COLUMNS: dict[str, dict[str, str]] = {
    "slices": schema.SLICES | _RUN,
    "intervals": schema.INTERVALS | _RUN | _PERIOD,
    "anomalies": schema.ANOMALIES | _RUN | _PERIOD,
    "events": schema.EVENTS,
    "rejects": schema.REJECTS,
    "runs": {
        "run_id": "VARCHAR",
        "period": "VARCHAR",
        "period_start": schema.INSTANT,
        "period_end": schema.INSTANT,
        "cut_off": schema.INSTANT,
        "price_version": "VARCHAR",
        "manifest_file": "VARCHAR",
    },
    "closes": {
        "invoice_month": "DATE",
        "closed_at": schema.INSTANT,
        "period": "VARCHAR",
        "run_id": "VARCHAR",
        "version": "BIGINT",
    },
    "issued_slices": schema.SLICES | _RUN,
    "sources": {
        "source": "VARCHAR",
        "files": "BIGINT",
        "lines": "BIGINT",
        "bytes": "BIGINT",
        "newest_ns": "BIGINT",
        "newest_at": schema.INSTANT,
        "grew_at": schema.INSTANT,
        "newest_file": "VARCHAR",
    },
    "issued_lines": schema.INVOICE_LINES,
    "inventory_findings": FINDINGS,
}

# Creation order: the base relations first, then the derived ones (a view must find what it reads).
_ORDER = (
    "slices",
    "intervals",
    "anomalies",
    "rejects",
    "events",
    "sources",
    "runs",
    "bill_versions",
    "closes",
    "issued_lines",
    "issued_slices",
    "inventory_findings",
    "daily_spend",
    "usage_lines",
    "invoice_lines",
    "list_vs_billed",
    "anomaly_summary",
    "anomaly_details",
    "open_intervals",
    "top_resources",
    "focus",
)


@dataclass(frozen=True)
class Param:
    """A value a relation reads with ``getvariable(name)``, settable with ``--param name=value``."""

    name: str
    default: str | int | None
    description: str


PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param("top_n", 20, "top_resources: how many resources to keep per currency"),
        Param("period", None, "focus: keep charges of this period only (YYYY-MM-DD or YYYY-MM)"),
        Param("focus_provider_name", "Cocoon", "focus: ProviderName (who provides the resources)"),
        Param("focus_publisher_name", "Cocoon", "focus: PublisherName (who publishes the services)"),
        Param("focus_invoice_issuer_name", "Cocoon", "focus: InvoiceIssuerName (who issues the invoice)"),
        Param("focus_billing_account_id", "cocoon", "focus: BillingAccountId"),
        Param("focus_billing_account_name", "Cocoon microVM platform", "focus: BillingAccountName"),
    )
}


@dataclass(frozen=True)
class RelationInfo:
    """One analyst relation: its name, the description from its header comment, and its SQL file."""

    name: str
    description: str
    path: Path


_HEADER = re.compile(r"--\s*(?P<name>[a-z_][a-z0-9_]*)\s*:\s*(?P<description>.+)")


def list_relations() -> list[RelationInfo]:
    """Every relation under ``sql/views/``, in creation order (base relations first)."""
    folder = sql_root() / "views"
    found: dict[str, RelationInfo] = {}
    for path in sorted(folder.glob("*.sql")):
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        match = _HEADER.fullmatch(first.strip())
        if match is None or match["name"] != path.stem:
            raise OutputError(f"{path}:1: the first line must be the header comment '-- {path.stem}: ...'")
        found[path.stem] = RelationInfo(path.stem, match["description"].strip(), path)
    ordered = [found.pop(name) for name in _ORDER if name in found]
    return ordered + sorted(found.values(), key=lambda info: info.name)


def committed_reject_files(store: str | os.PathLike[str]) -> list[Path]:
    """The reject files of the ingests ``store.json`` lists as committed (a crashed ingest's are
    never read), checked against their records by their footers."""
    target = Store(store)
    files = target.reject_files()
    target.check_files(files, full=False)
    return files


def committed_event_files(store: str | os.PathLike[str]) -> list[Path]:
    """The events files of the ingests ``store.json`` lists as committed, checked by their footers."""
    target = Store(store)
    files = target.event_files()
    target.check_files(files, full=False)
    return files


def version_files(output: Path) -> list[Path]:
    """Every committed manifest of an output folder and every kept version's (``_versions``)."""
    current = sorted(output.glob(_layout.MANIFEST_GLOB))
    kept = sorted(output.glob(_layout.KEPT_MANIFEST_GLOB))
    return current + kept


def _has_files(folder: Path, pattern: str) -> bool:
    """Whether ``folder`` holds a file matching ``pattern`` at any depth."""
    return folder.is_dir() and next(folder.rglob(pattern), None) is not None


def _empty_view(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Create ``name`` as an empty view with the SPEC columns of that base relation."""
    cols = ", ".join(f'CAST(NULL AS {sql_type}) AS "{col}"' for col, sql_type in _BASE_COLUMNS[name].items())
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {cols} WHERE false")


def _typed(name: str, text: str) -> str | int:
    """A ``--param`` value as the type its default has."""
    param = PARAMS[name]
    if isinstance(param.default, int):
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"--param {name}={text!r}: expected an integer") from None
    return text


def parse_params(pairs: list[str]) -> dict[str, str | int]:
    """``["k=v", ...]`` from the command line as a checked mapping (unknown names are a usage error)."""
    out: dict[str, str | int] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE")
        if name not in PARAMS:
            known = ", ".join(sorted(PARAMS))
            raise UsageError(f"--param {name!r} is not a parameter of the analyst relations (known: {known})")
        out[name] = _typed(name, value)
    return out


def connect_output(
    output: str | os.PathLike[str],
    *,
    store: str | os.PathLike[str] | None = None,
    params: Mapping[str, str | int] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    wait: float = 30.0,
    hash_periods: Collection[str] = (),
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding every analyst relation as a view over ``output`` (and ``store``).

    ``params`` override the defaults in :data:`PARAMS`. Pass ``con`` to add the views to an existing
    connection. A commit a killed run left half done is finished first (waiting up to ``wait`` seconds
    for a run holding the folder). Raises :class:`OutputError` when ``output`` does not exist or holds
    no committed run (no manifest), and :class:`~reconcile.exceptions.DamagedFileError` when a file
    is not what its manifest records (by footer; the files of ``hash_periods`` by hash too).
    """
    out = Path(output).resolve()
    if not out.is_dir():
        raise OutputError(f"output folder {out} does not exist")
    try:
        recover_output(out, wait=wait)  # finish a commit a killed run left half done, as every reader does
    except OSError as exc:
        raise OutputError(f"output folder {out}: cannot finish an interrupted commit: {exc}") from None
    if not _has_files(out / _layout.MANIFESTS, _layout.MANIFEST):
        raise OutputError(f"output folder {out} holds no committed run (no {_layout.MANIFEST_GLOB})")
    _output_check.check_output(out, read_manifests(out), full=set(hash_periods))
    values: dict[str, str | int | None] = {name: p.default for name, p in PARAMS.items()}
    for name, given in (params or {}).items():
        if name not in PARAMS:
            raise UsageError(f"{name!r} is not a parameter of the analyst relations")
        values[name] = _typed(name, given) if isinstance(given, str) else given

    con = interruptible(utc(con if con is not None else duckdb.connect()))
    con.execute("SET VARIABLE output_dir = ?", [literal(out)])  # a folder name is never a pattern
    reject_files = literals(committed_reject_files(store)) if store is not None else []
    event_files = literals(committed_event_files(store)) if store is not None else []
    con.execute("SET VARIABLE version_files = ?", [literals(version_files(out))])
    con.execute("SET VARIABLE reject_files = ?", [reject_files])
    con.execute("SET VARIABLE event_files = ?", [event_files])
    files_json = Store(store).files_path if store is not None else None
    has_sources = files_json is not None and files_json.is_file()
    con.execute("SET VARIABLE files_json = ?", [literal(files_json) if has_sources and files_json else None])
    for name, value in values.items():
        if name != "period":
            con.execute(f"SET VARIABLE {name} = ?", [value])
    period = parse_period(str(values["period"])) if values["period"] is not None else None
    con.execute(
        "SET VARIABLE period_start = timezone('UTC', make_timestamp_ns(?))", [period and period.start_ns]
    )
    con.execute("SET VARIABLE period_end = timezone('UTC', make_timestamp_ns(?))", [period and period.end_ns])
    con.register("currencies", currency_table())
    _families.register(con)  # the FOCUS names of families, meters and price units (focus.sql)

    present = {
        **{table: _has_files(out / table, _layout.PARQUET) for table in _layout.TABLES},
        "rejects": bool(reject_files),
        "events": bool(event_files),
        "sources": has_sources,
        "runs": _has_files(out / _layout.MANIFESTS, _layout.MANIFEST),
        "closes": _has_files(out / _layout.CLOSED, _layout.CLOSE_JSON),
        "issued_lines": _has_files(out / _layout.CLOSED, _layout.ISSUED_LINES),
        "issued_slices": bool(list(out.glob(f"{_layout.CLOSED}/*/{_layout.KEPT_SLICES_GLOB}"))),
        "inventory_findings": (out / "inventory" / "findings.parquet").is_file(),
    }
    for info in list_relations():
        if info.name in present and not present[info.name]:
            _empty_view(con, info.name)
            continue
        with engine_errors(f"{info.path}: cannot create relation {info.name} over {out}", error=OutputError):
            con.execute(f"CREATE OR REPLACE VIEW {info.name} AS {load_sql('views/' + info.name)}")
    return con


def _relation_names() -> list[str]:
    return [info.name for info in list_relations()]


def _check_name(name: str) -> None:
    names = _relation_names()
    if name not in names:
        raise UsageError(f"no analyst relation named {name!r} (known: {', '.join(names)})")


def read_relation_arrow(
    name: str,
    output: str | os.PathLike[str],
    *,
    store: str | os.PathLike[str] | None = None,
    params: Mapping[str, str | int] | None = None,
    limit: int | None = None,
) -> pa.Table:
    """The rows of relation ``name`` over ``output`` as an Arrow table (decimals stay decimal); the
    first ``limit`` rows only when given."""
    _check_name(name)
    con = connect_output(output, store=store, params=params)
    try:
        with engine_errors(f"relation {name} over {output}", error=OutputError), naming_damage(Path(output)):
            rel = con.table(name)
            return (rel if limit is None else rel.limit(_limit(limit))).to_arrow_table()
    finally:
        con.close()


def _limit(limit: int) -> int:
    if limit < 0:
        raise UsageError(f"--limit {limit}: expected a count of rows, 0 or more")
    return limit


def read_relation(
    name: str,
    output: str | os.PathLike[str],
    *,
    store: str | os.PathLike[str] | None = None,
    params: Mapping[str, str | int] | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """The rows of relation ``name`` over ``output`` as a polars DataFrame (decimals stay decimal)."""
    frame = pl.from_arrow(read_relation_arrow(name, output, store=store, params=params, limit=limit))
    assert isinstance(frame, pl.DataFrame)
    return frame


def read_query(
    query: str,
    output: str | os.PathLike[str],
    *,
    store: str | os.PathLike[str] | None = None,
    params: Mapping[str, str | int] | None = None,
    limit: int | None = None,
    parameters: Sequence[object] | None = None,
) -> pl.DataFrame:
    """The rows of one read-only query (a single ``SELECT``, ``WITH ... SELECT`` or ``FROM ...``) over
    the analyst relations of ``output``. Anything else (several statements, ``COPY``, ``CREATE``,
    ``ATTACH``, ``SET``, ...) is a UsageError: a query never writes. ``parameters`` are bound to the
    query's ``?`` placeholders."""
    with engine_errors("--query", error=UsageError):
        statements = duckdb.extract_statements(query)
    if len(statements) != 1:
        raise UsageError(f"--query: expected one statement, got {len(statements)}")
    if statements[0].type != duckdb.StatementType.SELECT:
        raise UsageError(f"--query: only a SELECT may run here, not {statements[0].type.name}")
    con = connect_output(output, store=store, params=params)
    try:
        with engine_errors("--query", error=UsageError), naming_damage(Path(output)):
            rel = con.sql(statements[0].query.rstrip().rstrip(";"), params=list(parameters or []))
            table = (rel if limit is None else rel.limit(_limit(limit))).to_arrow_table()
    finally:
        con.close()
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _check_coverage(output: Path, period: Period, *, allow_partial: bool) -> bool:
    """Whether an export of ``period`` is partial: some day (or the month) of it has no committed
    run. No run at all is an OutputError; some missing is one unless ``allow_partial``."""
    manifests = read_manifests(output) if output.is_dir() else {}
    months = {name for name in manifests if len(name) == 7}
    wanted = [d.isoformat() for d in period.days()]
    missing = [d for d in wanted if d not in manifests and d[:7] not in months]
    if len(missing) == len(wanted):
        raise OutputError(f"export of period {period.name}: {output} holds no run of it (run it first)")
    if missing and not allow_partial:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise OutputError(
            f"export of period {period.name}: {len(missing)} of its {len(wanted)} days have no run"
            f" ({shown}); run them, or pass --allow-partial to export what there is, marked partial"
        )
    return bool(missing)


def export_focus(
    output: str | os.PathLike[str],
    *,
    period: str,
    to: str | os.PathLike[str],
    params: Mapping[str, str | int] | None = None,
    allow_partial: bool = False,
) -> int:
    """Write the ``focus`` rows of ``period`` to ``to`` (``.parquet`` zstd or ``.csv``); return the row count.

    A period without any committed run is an OutputError; one with some of its days missing is one
    too unless ``allow_partial``, and then every row's ``x_PartialExport`` is true.

    The file is written next to its destination and renamed into place, so a reader never sees half of
    it. CSV instants are ISO 8601 UTC with nanoseconds (``2026-11-25T10:00:00.000000000Z``), and text
    cells a spreadsheet would run as a formula are neutralised (``reconcile._core._csv``). The file is
    private (0600) and its folder must exist.
    """
    dest = Path(to)
    suffix = dest.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise UsageError(f"--to {dest}: the file name must end in .parquet or .csv")
    wanted = parse_period(period)  # a usage error before any work
    merged: dict[str, str | int] = dict(params or {})
    merged["period"] = period
    if not dest.parent.is_dir():
        raise UsageError(f"--to {dest}: the folder {dest.parent} does not exist")
    if dest.is_dir():
        raise UsageError(
            f"--to {dest} is a folder: give the file to write in it, e.g. {dest / 'focus'}{suffix}"
        )
    partial = _check_coverage(Path(output), wanted, allow_partial=allow_partial)
    con = connect_output(output, params=merged, hash_periods=_output_check.covering(wanted.name))
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        with (
            private_files(),
            engine_errors(f"export focus to {dest}", where=str(dest.parent), error=OutputError),
            naming_damage(Path(output)),
        ):
            # every row says whether the export covers its whole period (a FOCUS x_ column)
            rel = con.sql("SELECT *, CAST(? AS BOOLEAN) AS x_PartialExport FROM focus", params=[partial])
            if suffix == ".parquet":
                rel.write_parquet(str(tmp), compression="zstd")
            else:
                frame = pl.from_arrow(rel.to_arrow_table())
                assert isinstance(frame, pl.DataFrame)
                write_csv(frame, tmp)  # formula-like text neutralised, instants with Z
            row = con.execute("SELECT count(*) FROM focus").fetchone()
            os.replace(tmp, dest)
    except OSError as exc:
        raise OutputError(f"export focus to {dest}: {exc}") from None
    finally:
        con.close()
        tmp.unlink(missing_ok=True)
    return int(row[0]) if row is not None else 0
