"""Bill versions: what a replaced period's bill was, and why it changed (docs/SPEC.md section 5).

When a run replaces a committed period with a different ``run_id``, the writer keeps the version it
replaces under the output folder, in the same commit (one more folder in the journal): its
manifest, as it was, and its files, as they were, in the version's folder of the period's history
(``_layout``).

The files are hard links of the committed ones (a commit replaces an output file by rename, never
in place, so a link keeps the old rows): keeping a version costs no reading and no writing, and
every row of every version can be read back; ``reconcile diff`` computes its usage and interval
lines from them (``views/usage_lines``, ``engine/bills/interval_lines``). A filesystem that refuses links
gets copies.

Versions count from 1 per period; the committed manifest holds its own ``version`` and, in
``replaces``, the run it replaced, that run's totals and the *cause*: the ingests added (with how
many of their lines lie before the period's end and the first few ``file:line``) or removed, and any
change of cut-off, price book, tenants, options or run format. A re-run with the same ``run_id``
(same inputs, same rows) is not a new version: nothing is kept and the version stays.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import duckdb

from reconcile._core import _schema as schema
from reconcile._core._currency import currency_table
from reconcile._core._duckdb import literals
from reconcile._core._files import read_json
from reconcile._core._period import Period, format_ns, ns_to_date
from reconcile._core._sql import load_sql
from reconcile._output import _layout
from reconcile._output._manifest import Cause, Change, Manifest, NewIngest, Replaces, RunInputs
from reconcile._price._contracts._changes import terms_changes
from reconcile._store._reader import IngestEntry, Store
from reconcile.exceptions import OutputError

EXAMPLES = 3  # file:line examples per late ingest


def kept_versions(root: Path, period: str) -> list[int]:
    """The version numbers kept for ``period`` (replaced versions), ascending."""
    found = _layout.kept_version_folders(root, period)
    return sorted(number for number, child in found if (child / _layout.MANIFEST).is_file())


def read_kept(path: Path) -> Manifest:
    """A kept manifest; OutputError naming it when it cannot be read."""
    found = read_json(path, "kept manifest")
    if found is None:
        raise OutputError(f"{path}: the kept manifest is missing")
    period = _layout.period_of(path.parent.parent)  # (the kept version's folder is in its period's)
    return Manifest.from_json(found, str(path), period=period)


def current_version(root: Path, period: str, manifest: Manifest) -> int:
    """The version number of a committed manifest (one written before versions: one past the kept)."""
    if manifest.version is not None:
        return manifest.version
    return max(kept_versions(root, period), default=0) + 1


def period_files(root: Path, period: Period) -> tuple[list[Path], list[Path]]:
    """The committed slices and intervals files of ``period`` in the output folder ``root``."""
    folders = _layout.period_folders(root, period.name)
    slices = [f for folder in folders["slices"] for f in sorted(folder.glob(_layout.PARQUET))]
    intervals = sorted(folders["intervals"][0].glob(_layout.PARQUET))
    return slices, intervals


def _view(con: duckdb.DuckDBPyConnection, name: str, files: list[Path], columns: dict[str, str]) -> None:
    """``name`` as a view over ``files`` (their SPEC columns), or empty with those columns."""
    if files:
        rel = con.sql("SELECT * FROM read_parquet(?, hive_partitioning = false)", params=[literals(files)])
        rel.create_view(name, replace=True)
    else:
        cols = ", ".join(f'CAST(NULL AS {kind}) AS "{col}"' for col, kind in columns.items())
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {cols} WHERE false")


def version_lines(
    con: duckdb.DuckDBPyConnection, slices: list[Path], intervals: list[Path]
) -> tuple[duckdb.DuckDBPyRelation, duckdb.DuckDBPyRelation]:
    """The usage lines and interval lines of one version's files, as relations in ``con`` (a
    connection of their own: it gets views ``slices``, ``intervals`` and ``currencies``)."""
    _view(con, "slices", slices, schema.SLICES)
    _view(con, "intervals", intervals, schema.INTERVALS)
    con.register("currencies", currency_table())
    return con.sql(load_sql("views/usage_lines")), con.sql(load_sql("engine/bills/interval_lines"))


def _link(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)


def keep(root: Path, period: Period, dest: Path) -> None:
    """Keep the committed version of ``period`` in ``dest`` (a staging folder): links of its files
    and a copy of its manifest (module doc)."""
    dest.mkdir(parents=True)
    slices, intervals = period_files(root, period)
    anomalies = sorted(_layout.period_folders(root, period.name)["anomalies"][0].glob(_layout.PARQUET))
    for file in [*slices, *intervals, *anomalies]:
        _link(file, _layout.kept_file(dest, file.relative_to(root).as_posix()))
    shutil.copyfile(_layout.manifest_file(root, period.name), dest / _layout.MANIFEST)
    read_kept(dest / _layout.MANIFEST)  # what was copied is whole


def kept_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The slices and intervals files of a kept version's folder."""
    return _layout.kept_table_files(folder, "slices"), _layout.kept_table_files(folder, "intervals")


def late_lines(
    con: duckdb.DuckDBPyConnection, store: Store, entries: Sequence[IngestEntry], before_ns: int
) -> dict[str, NewIngest]:
    """Per ingest of ``entries``: its events before ``before_ns`` (count, first few ``file:line``)."""
    last_day = ns_to_date(before_ns - 1)
    files = store.event_files(None, last_day, entries=entries)
    store.check_files(files, full=True, entries=entries)
    found = {e.id: NewIngest(e.id, 0, ()) for e in entries}
    if not files:
        return found
    cursor = con.cursor()
    try:
        rows = cursor.execute(
            load_sql("engine/bills/ingest_lines_before"),
            {"files": literals(files), "before_ns": before_ns, "examples": EXAMPLES},
        ).fetchall()
    finally:
        cursor.close()
    for ingest_id, lines, first in rows:
        found[ingest_id] = NewIngest(ingest_id, int(lines), tuple(first))
    return found


def cause(
    con: duckdb.DuckDBPyConnection,
    *,
    store: Store,
    entries: Sequence[IngestEntry],
    previous: Manifest,
    current: RunInputs,
    period: Period,
) -> Cause:
    """Why a new run with ``current`` inputs differs from the committed ``previous``."""
    before = set(previous.inputs.ingests)
    added = [e for e in entries if e.id in set(current.ingests) - before]
    lines = late_lines(con, store, added, period.end_ns)
    old, changed = previous.inputs, {}
    for key, was, now in (
        ("cut_off", old.cut_off, current.cut_off),
        ("price_version", old.price_version, current.price_version),
    ):
        if was != now:
            changed[key] = Change(was, now)
    old_options, new_options = old.options.to_json(), current.options.to_json()
    for key in sorted(set(old_options) | set(new_options)):
        if key not in _NOT_CAUSES and old_options.get(key) != new_options.get(key):
            changed[key] = Change(old_options.get(key), new_options.get(key))
    if old.options.contracts_sha256 != current.options.contracts_sha256:
        # what changed in the contract terms the period reads, one line per contract
        said = terms_changes(old.options.contract_terms, current.options.contract_terms)
        changed["contract_terms"] = Change(None, list(said))
    for key in ("run_format", "output_format"):
        if old.versions.get(key) != current.versions.get(key):
            changed[key] = Change(old.versions.get(key), current.versions.get(key))
    return Cause(
        new_ingests=tuple(lines[e.id] for e in added),
        removed_ingests=tuple(sorted(before - set(current.ingests))),
        changed=changed,
    )


_NOT_CAUSES = frozenset({"tenants", "contracts", "contract_terms", "commitments"})  # (paths; named below)
_NAMES = {
    "contracts_sha256": "contracts",
    "price_version": "price book",
    "tenants_sha256": "tenants file",
    "cut_off": "cut-off",
    "double_start": "double_start",
    "stale_after_ns": "stale_after_ns",
    "run_format": "run format",
    "output_format": "output format",
}


def why(found: Cause, period_end: str) -> str:
    """One line saying what a cause holds."""
    parts = []
    for item in found.new_ingests:
        where = ", ".join(item.first)
        parts.append(
            f"late ingest {item.ingest_id}: {item.lines} line(s) before {period_end}"
            + (f" ({where}{', ...' if item.lines > len(item.first) else ''})" if where else "")
        )
    if found.removed_ingests:
        parts.append("ingests no longer read: " + ", ".join(found.removed_ingests))
    for key, change in found.changed.items():
        if key == "contract_terms":
            if isinstance(change.after, list) and change.after:
                parts.append("contract terms: " + "; ".join(str(line) for line in change.after))
            continue
        parts.append(f"{_NAMES.get(key, key)} {change.before} -> {change.after}")
    return "; ".join(parts) if parts else "the same inputs"


def replaces(
    con: duckdb.DuckDBPyConnection,
    *,
    store: Store,
    entries: Sequence[IngestEntry],
    previous: Manifest | None,
    run_id: str,
    current: RunInputs,
    period: Period,
) -> Replaces | None:
    """The manifest's ``replaces``: the committed run this one replaces (None: nothing, or itself)."""
    if previous is None or previous.run_id == run_id:
        return None
    found = cause(con, store=store, entries=entries, previous=previous, current=current, period=period)
    return Replaces(
        run_id=previous.run_id,
        version=previous.version,
        totals=dict(previous.totals),
        cause=found,
        why=why(found, format_ns(period.end_ns)),
    )
