"""``reconcile diff``: what changed between two versions of a period's bill, and which events did it.

A period's versions are its current run and the replaced ones kept under ``history/`` (``_versions``).
Both versions' files are checked against their manifests' records (by hash) before they are read.
The diff compares two of them (by default the one before the current, and the current): per
invoice month, tenant, currency, family and meter the usage amounts before and after
(``sql/engine/bills/diff_lines.sql``), then per interval and meter what was added, removed or changed,
with the start and stop events (``file:line``) on both sides (``sql/engine/bills/diff_intervals.sql``), and
why each version between them was made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypeAlias

import duckdb

from reconcile._core._duckdb import engine_errors, plain_connect
from reconcile._core._jsonvalue import JsonObject, JsonValue
from reconcile._core._period import parse_period
from reconcile._core._sql import load_sql
from reconcile._output import _bill_versions as _versions
from reconcile._output import _check as _output_check
from reconcile._output import _layout
from reconcile._output._folder import recover_output
from reconcile._output._manifest import Manifest, read_manifest
from reconcile.exceptions import OutputError, UsageError

Row: TypeAlias = dict[str, object]  # a row of a diff relation, by column


@dataclass(frozen=True)
class Version:
    """One version of a period's bill."""

    number: int
    run_id: str
    current: bool
    manifest: Manifest
    folder: Path | None  # the kept version's folder (None: the current version)


@dataclass(frozen=True)
class Diff:
    """Two versions of a period's bill compared."""

    period: str
    before: Version
    after: Version
    why: list[str]  # why each version after ``before`` up to ``after`` was made
    lines: list[Row]  # per invoice month, tenant, currency, family, meter: what differs
    intervals: list[Row]  # per interval, meter, tenant, currency: what differs
    totals: dict[str, dict[str, str]] = field(default_factory=dict)  # currency -> before, after, difference

    def to_json(self) -> JsonObject:
        """A JSON-ready dict (decimals and instants as strings)."""

        def side(v: Version) -> JsonObject:
            return {"version": v.number, "run_id": v.run_id, "current": v.current}

        return {
            "period": self.period,
            "from": side(self.before),
            "to": side(self.after),
            "why": list[JsonValue](self.why),
            "totals": {c: dict[str, JsonValue](t) for c, t in self.totals.items()},
            "lines": [_plain(r) for r in self.lines],
            "intervals": [_plain(r) for r in self.intervals],
        }


def _plain(row: Row) -> JsonObject:
    return {k: (None if v is None else v if isinstance(v, (int, str)) else str(v)) for k, v in row.items()}


def versions(output: str | os.PathLike[str], period: str) -> list[Version]:
    """Every version of ``period``'s bill in ``output``, oldest first (the current one last)."""
    root = Path(output)
    found = []
    for number in _versions.kept_versions(root, period):
        folder = root / _layout.version_partition(period, number)
        manifest = _versions.read_kept(folder / "manifest.json")
        found.append(Version(number, manifest.run_id, False, manifest, folder))
    current = read_manifest(root, period)
    if current is not None:
        number = _versions.current_version(root, period, current)
        found.append(Version(number, current.run_id, True, current, None))
    return found


def _pick(found: list[Version], run_id: str | None, period: str, default: Version | None) -> Version:
    if run_id is None:
        if default is None:
            raise UsageError(f"period {period} has one version only: there is nothing to compare it with")
        return default
    matches = [v for v in found if v.run_id == run_id or v.run_id.startswith(run_id)]
    if not matches:
        known = ", ".join(f"{v.number}: {v.run_id}" for v in found)
        raise UsageError(f"run {run_id!r} is not a version of period {period} (versions {known})")
    if len({v.run_id for v in matches}) > 1:
        raise UsageError(f"run {run_id!r} names several versions of period {period}: give more of it")
    return matches[-1]


def _check(root: Path, version: Version) -> None:
    """:class:`~reconcile.exceptions.DamagedFileError` when a file of ``version`` is not what its
    manifest records (``_output_check``)."""
    if version.folder is not None:
        found = _output_check.kept_findings(version.folder, version.manifest, version.number, full=True)
    else:
        found = _output_check.period_findings(root, version.manifest, full=True)
    first = next(iter(found), None)
    if first is not None:
        raise first.error(root)


def _register(con: duckdb.DuckDBPyConnection, root: Path, version: Version, side: str) -> None:
    """``<side>_lines`` and ``<side>_intervals`` in ``con``: kept files, or computed from the output."""
    if version.folder is not None:
        slices, interval_files = _versions.kept_files(version.folder)
    else:
        slices, interval_files = _versions.period_files(root, parse_period(version.manifest.period))
    with plain_connect() as own:
        usage, per_interval = _versions.version_lines(own, slices, interval_files)
        lines, intervals = usage.to_arrow_table(), per_interval.to_arrow_table()
    con.register(f"{side}_lines", lines)
    con.register(f"{side}_intervals", intervals)


def diff_period(
    output: str | os.PathLike[str],
    period: str,
    *,
    from_run: str | None = None,
    to_run: str | None = None,
) -> Diff:
    """Compare two versions of ``period``'s bill (module doc); by default the last two."""
    name = parse_period(period).name
    root = Path(output)
    if not root.is_dir():
        raise OutputError(f"output folder {root} does not exist")
    recover_output(root)
    found = versions(root, name)
    if not found:
        raise OutputError(f"output folder {root} holds no run of period {name}")
    after = _pick(found, to_run, name, found[-1])
    earlier = [v for v in found if v.number < after.number]
    before = _pick(found, from_run, name, earlier[-1] if earlier else None)
    if before.number == after.number:
        raise UsageError(f"--from and --to name the same version ({before.number}) of period {name}")
    for version in (before, after):  # the files of both, by hash: a diff reads them whole
        _check(root, version)
    with plain_connect() as con:
        step = f"diff of period {name} in {root}"
        try:
            with engine_errors(step, error=OutputError):
                _register(con, root, before, "before")
                _register(con, root, after, "after")
                lines = _rows(con.sql(load_sql("engine/bills/diff_lines")))
                intervals = _rows(con.sql(load_sql("engine/bills/diff_intervals")))
        except OSError as exc:
            raise OutputError(f"{step}: {exc}") from None
    low, high = sorted((before.number, after.number))
    why = [
        f"version {v.number}: {(v.manifest.replaces.why if v.manifest.replaces else '') or 'first run'}"
        for v in found
        if low < v.number <= high
    ]
    return Diff(name, before, after, why, lines, intervals, _totals(before, after))


def _rows(rel: duckdb.DuckDBPyRelation) -> list[Row]:
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def _totals(before: Version, after: Version) -> dict[str, dict[str, str]]:
    old, new = before.manifest.totals, after.manifest.totals
    return {
        c: {
            "before": old.get(c, "0"),
            "after": new.get(c, "0"),
            "difference": str(Decimal(new.get(c, "0")) - Decimal(old.get(c, "0"))),
        }
        for c in sorted(set(old) | set(new))
    }


def format_diff(diff: Diff, *, limit: int = 20) -> list[str]:
    """The diff as text lines: versions, why, totals, then lines and the first ``limit`` intervals."""
    out = [
        f"period {diff.period}: version {diff.before.number} (run {diff.before.run_id})"
        f" -> version {diff.after.number} (run {diff.after.run_id})"
    ]
    out += [f"  {w}" for w in diff.why]
    for currency, t in diff.totals.items():
        out.append(f"total {currency}: {t['before']} -> {t['after']} ({t['difference']})")
    out.append(f"lines that differ (tenant, family, meter): {len(diff.lines)}")
    for r in diff.lines:
        out.append(
            f"  {r['invoice_month']:%Y-%m} {r['tenant_id'] or '(unattributed)'} {r['currency']}"
            f" {r['family']} {r['meter']}: {_money(r['amount_before'])} -> {_money(r['amount_after'])}"
            f" ({_money(r['difference'])})"
        )
    out.append(
        f"intervals that differ: {len(diff.intervals)}" + (" (largest first)" if diff.intervals else "")
    )
    for r in diff.intervals[:limit]:
        events = f"start {r['start_source']}"
        if r["end_source_before"] != r["end_source_after"]:
            events += f", stop {r['end_source_before'] or '-'} -> {r['end_source_after'] or '-'}"
        elif r["end_source_after"]:
            events += f", stop {r['end_source_after']}"
        out.append(
            f"  {r['change']:<7} {r['family']} {r['resource_id']} {r['meter'] or '-'}"
            f" {r['tenant_id'] or '(unattributed)'}: {_money(r['amount_before'])} ->"
            f" {_money(r['amount_after'])}; {r['status_before'] or '-'} -> {r['status_after'] or '-'};"
            f" {events}"
        )
    if len(diff.intervals) > limit:
        out.append(f"  ... {len(diff.intervals) - limit} more (--limit N, or --json for all)")
    return out


def _money(value: object) -> str:
    if not isinstance(value, Decimal):
        return "-" if value is None else str(value)
    text = format(value.normalize(), "f")
    return text if "." in text else text + ".00"
