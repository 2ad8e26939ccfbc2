"""Incremental restatement: a re-run of a committed period recomputes only what new ingests touched.

A restated day (the nightly job's, or a forced ``reconcile run`` after a late file) differs from its
committed run only by the ingests it reads: a late file adds events of a few resources. Pairing,
attribution and pricing never look across resources (SPEC section 3; ``_pair``), so every row about
a resource none of whose events is new is exactly the committed row, but for ``run_id``. A re-run
therefore recomputes the resources with an event in a new ingest before the cut-off (the *scope*),
and takes every other resource's rows from the committed files. Rows and ``run_id`` are those of a
full recomputation; tests compare the two.

The committed run is reused only when everything else that decides its rows is the same: the period,
the cut-off, the price book's version, the options (``--double-start``, ``--stale-after``, the
tenants file's digest), the run and output formats and the versions of this package and of DuckDB,
polars and pyarrow; its ingests are a subset of the new run's; its files hold the row counts its
manifest records (and match their records in full: a damaged committed file is never reused, the
period is recomputed whole and so rewritten); and the scope is at most half of its intervals (past
that, recomputing all is as cheap). A re-run with no new ingest (a forced re-run of the same inputs)
recomputes everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import literals
from reconcile._core._period import Period, ns_to_date
from reconcile._core._progress import Progress
from reconcile._output import _check as _output_check
from reconcile._output import _layout
from reconcile._output._manifest import Manifest, RunInputs
from reconcile._store._reader import IngestEntry, Store

SCOPE = "run_scope"  # the relation of (family, resource_id) a reusing run recomputes


@dataclass(frozen=True)
class Reuse:
    """What a re-run takes from the committed run of its period."""

    previous_run_id: str
    new_ingests: tuple[str, ...]
    files: dict[str, list[Path]]  # table -> the committed files of the period
    rows: dict[str, int]  # table -> rows the committed manifest records


def _same_inputs(previous: Manifest, current: RunInputs) -> bool:
    """Whether everything but the ingests that decides the rows is the same (module doc)."""
    if previous.rows is None:
        return False
    old = previous.inputs
    return (old.period, old.period_start, old.period_end, old.cut_off, old.price_version, old.versions) == (
        current.period,
        current.period_start,
        current.period_end,
        current.cut_off,
        current.price_version,
        current.versions,
    ) and old.options.same_rows(current.options)


def candidate(
    previous: Manifest | None,
    current: RunInputs,
    *,
    output: Path,
    period: Period,
) -> Reuse | None:
    """The reuse a run with inputs ``current`` may make of ``previous`` (the committed manifest of
    its period in ``output``), or None when it must recompute everything (module doc)."""
    if previous is None or previous.rows is None or not _same_inputs(previous, current):
        return None
    old_ingests, new_ingests = set(previous.inputs.ingests), set(current.ingests)
    if not old_ingests <= new_ingests:
        return None
    added = tuple(sorted(new_ingests - old_ingests))
    if not added:
        return None
    files = _layout.period_files(output, period.name)
    rows = previous.rows
    if not all(f.is_file() for paths in files.values() for f in paths) or not all(t in rows for t in files):
        return None
    damaged = next(iter(_output_check.period_findings(output, previous, full=True)), None)
    if damaged is not None:  # recomputed whole: the rerun rewrites the damaged file
        Progress().warn(
            f"run {period.name}: {damaged.path} is damaged (expected {damaged.expected}, found"
            f" {damaged.found}): every resource is recomputed, and the period rewritten"
        )
        return None
    return Reuse(previous.run_id, added, files, {t: rows[t] for t in files})


class Scopes:
    """Makes ``run_scope`` for each reusing run: the resources with an event in one of its new
    ingests before its cut-off. Made once per distinct scope: the restated days of a nightly after
    one late file share it (its events all lie before their cut-offs)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, store: Store, entries: Sequence[IngestEntry]) -> None:
        self.con = con
        self.store = store
        self.entries = {e.id: e for e in entries}
        self.key: tuple[tuple[str, ...], int] | None = None
        self.size = 0

    def make(self, reuse: Reuse, cut_off_ns: int) -> tuple[tuple[str, ...], int]:
        """Make ``run_scope`` for ``reuse`` at ``cut_off_ns`` (unless it is the one made last); its
        key (equal keys, equal scopes)."""
        new = [self.entries[i] for i in reuse.new_ingests]
        lasts = [e.last_ns for e in new if e.last_ns is not None]
        # (a cut-off after every new event sees them all: the same scope)
        key = (reuse.new_ingests, min(cut_off_ns, max(lasts) + 1) if lasts else 0)
        if key == self.key:
            return key
        files = self.store.event_files(None, ns_to_date(cut_off_ns - 1), entries=new)
        self.store.check_files(files, full=True, entries=new)
        if files:
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {SCOPE} AS SELECT DISTINCT family, resource_id"
                " FROM read_parquet(?, hive_partitioning = false) WHERE emitted_ns < ?",
                [literals(files), cut_off_ns],
            )
        else:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {SCOPE} (family VARCHAR, resource_id VARCHAR)")
        self.size = int(self.con.execute(f"SELECT count(*) FROM {SCOPE}").fetchall()[0][0])
        self.key = key
        return key


def pays(con: duckdb.DuckDBPyConnection, reuse: Reuse, scope_size: int) -> bool:
    """Whether reusing pays and is sound: the scope is at most half the committed intervals, and
    the committed files hold the rows their manifest says."""
    if 2 * scope_size > reuse.rows["intervals"]:
        return False
    for table, paths in reuse.files.items():
        held = con.execute(
            "SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(?)", [literals(paths)]
        ).fetchall()[0][0]
        if int(held) != reuse.rows[table]:
            return False
    return True
