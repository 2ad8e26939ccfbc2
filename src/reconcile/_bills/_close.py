"""Closing a month: ``reconcile close YYYY-MM`` freezes the month's invoice lines as issued.

A closed month's invoice lines never change again. Its days can still be restated (their usage rows
stay true), and the difference between the month's usage now and what was billed for it is billed
as correction lines in the first month after it that is not closed (``sql/views/invoice_lines.sql``).
Closing writes, in one commit of the output folder (the same journal as a run's), the month's folder
of closed months (``_layout``): ``issued_lines.parquet``, the month's invoice_lines, usage and
corrections; ``close.json``, when, the run_id of each period issued, totals, and the record of each
issued file (``_integrity``); and the month's slices as issued (hard links), in their day folders.

A month is refused while one of its periods (each day, or the month, as the folder holds) has no
committed run, and once it is closed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from reconcile._analysts._views import connect_output
from reconcile._core import _faults
from reconcile._core import _schema as schema
from reconcile._core._duckdb import engine_errors
from reconcile._core._files import private_files
from reconcile._core._integrity import record_files, records_to_json
from reconcile._core._jsonvalue import JsonObject, JsonValue
from reconcile._core._period import Period, format_ns, parse_period
from reconcile._output import _layout
from reconcile._output._bill_versions import current_version
from reconcile._output._check import naming_damage
from reconcile._output._folder import open_output
from reconcile._output._staging import check_columns
from reconcile.exceptions import CloseError, OutputError, UsageError

_SHOWN = 5  # missing periods named in a refusal


@dataclass(frozen=True)
class CloseSummary:
    """What ``reconcile close`` froze."""

    month: str
    output: str
    closed_at: str
    lines: int  # invoice lines issued (usage and corrections)
    corrections: int  # of which correction lines of earlier closed months
    totals: dict[str, str]  # currency -> the month's invoices' total
    runs: dict[str, str]  # period -> run_id issued

    def to_json(self) -> JsonObject:
        """A JSON-ready dict."""
        return {
            "month": self.month,
            "output": self.output,
            "closed_at": self.closed_at,
            "lines": self.lines,
            "corrections": self.corrections,
            "totals": dict[str, JsonValue](self.totals),
            "runs": dict[str, JsonValue](self.runs),
        }


def closed_months(output: str | os.PathLike[str]) -> list[str]:
    """The months (``YYYY-MM``) closed in an output folder, ascending."""
    return [
        month
        for month, folder in _layout.closed_months(Path(output))
        if (folder / _layout.CLOSE_JSON).is_file()
    ]


def _month(text: str) -> Period:
    period = parse_period(text)
    if period.length != "month":
        raise UsageError(f"close {text!r}: a month is YYYY-MM")
    return period


def close_month(output: str | os.PathLike[str], month: str, *, wait: float = 0.0) -> CloseSummary:
    """Freeze ``month``'s invoice lines in ``output`` (module doc). Raises :class:`CloseError` when
    a period of the month has no committed run or the month is closed already."""
    period = _month(month)
    root = Path(output)
    if not root.is_dir():
        raise OutputError(f"output folder {root} does not exist")
    with open_output(root, wait=wait) as out:
        target = _layout.closed_partition(period.name)
        if (out.path / target / _layout.CLOSE_JSON).is_file():
            closed = json.loads((out.path / target / _layout.CLOSE_JSON).read_text(encoding="utf-8"))
            raise CloseError(
                f"month {period.name} is closed already (at {closed.get('closed_at')}): its issued"
                " invoice lines never change; a restated day is billed as a correction"
            )
        manifests = out.manifests()
        length = out.period_length() or "day"
        wanted = [d.isoformat() for d in period.days()] if length == "day" else [period.name]
        missing = [p for p in wanted if p not in manifests]
        if missing:
            shown = ", ".join(missing[:_SHOWN]) + (", ..." if len(missing) > _SHOWN else "")
            raise CloseError(
                f"month {period.name} cannot be closed: {len(missing)} of its {len(wanted)}"
                f" {length}s have no run in {out.path} ({shown}); run them first"
            )
        runs = {p: manifests[p].run_id for p in wanted}
        versions = {p: current_version(out.path, p, manifests[p]) for p in wanted}
        closed_at = format_ns(time.time_ns())
        token, staging = out.staging(f"close-{period.name}")
        try:
            folder = staging / target
            with private_files():
                folder.mkdir(parents=True)
                lines, corrections, totals = _issue(out.path, period.first_day, folder, set(wanted))
                _link_slices(out.path, period, folder)
                _faults.point("staging")
                document = {
                    "format": 1,
                    "month": period.name,
                    "closed_at": closed_at,
                    "runs": runs,
                    "versions": versions,
                    "totals": totals,
                    "lines": lines,
                    "corrections": corrections,
                    "files": _records(folder),
                }
                (folder / _layout.CLOSE_JSON).write_text(
                    json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8"
                )
            _faults.point("staged")
            out.commit_folders(token, [target], {"period": period.name, "run_id": f"close {period.name}"})
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already once committed
    return CloseSummary(period.name, str(root), closed_at, lines, corrections, totals, runs)


def _records(folder: Path) -> JsonObject:
    """The records (size, rows, SHA-256) of a closed month's issued files, by path in its folder."""
    files = [folder / _layout.ISSUED_LINES, *_layout.kept_table_files(folder, "slices")]
    return records_to_json(
        dict(zip([f.relative_to(folder).as_posix() for f in files], record_files(files), strict=True))
    )


def _link_slices(root: Path, period: Period, folder: Path) -> None:
    """The month's slices files as issued, under ``folder/slices/`` (hard links: a later run replaces
    the output's files by rename, never in place, so these keep the issued rows at no cost; a copy
    where the filesystem refuses links). The FOCUS export of a closed month reads them."""
    for source in _layout.period_folders(root, period.name)["slices"]:
        if not source.is_dir():
            continue
        dest = _layout.kept_file(folder, source.relative_to(root).as_posix())
        dest.mkdir(parents=True)
        for file in sorted(source.glob(_layout.PARQUET)):
            try:
                os.link(file, dest / file.name)
            except OSError:
                shutil.copyfile(file, dest / file.name)


def _issue(
    root: Path, first_day: dt.date, folder: Path, periods: set[str]
) -> tuple[int, int, dict[str, str]]:
    """Write the month's invoice lines to ``folder/issued_lines.parquet``; its line and correction
    counts and totals per currency. Every file read is checked first, the month's ``periods`` by hash."""
    con = connect_output(root, wait=0.0, hash_periods=periods)
    step = f"close: cannot issue the invoice lines of {first_day:%Y-%m}"
    try:
        with engine_errors(step, where=str(folder), error=OutputError), naming_damage(root):
            rel = con.sql(
                "SELECT * FROM invoice_lines WHERE invoice_month = ?"
                " ORDER BY tenant_id NULLS LAST, currency, charge_class DESC, corrects_month, family, meter",
                params=[first_day],
            )
            check_columns(rel, "issued_lines", schema.INVOICE_LINES)
            rel.write_parquet(str(folder / _layout.ISSUED_LINES), compression="zstd")
            rows = con.execute(
                "SELECT currency, sum(amount_minor), max(minor_unit), count(*),"
                " count(*) FILTER (WHERE charge_class = 'Correction')"
                " FROM read_parquet(?) GROUP BY currency ORDER BY currency",
                [str(folder / _layout.ISSUED_LINES)],
            ).fetchall()
    finally:
        con.close()
    totals = {str(c): str(Decimal(int(minor)).scaleb(-int(unit))) for c, minor, unit, _, _ in rows}
    return sum(int(r[3]) for r in rows), sum(int(r[4]) for r in rows), totals
