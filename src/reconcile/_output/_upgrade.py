"""``reconcile upgrade-output``: an output folder of format 1 (naive instants) rewritten as format 2.

Format 1 wrote every instant as ``TIMESTAMP_NS`` meaning UTC by convention; format 2 writes
``TIMESTAMPTZ_NS`` (Arrow ``timestamp[ns, tz=UTC]``), so a reader in any zone gets the right hour.
The upgrade rewrites every Parquet file of the folder (slices, intervals, anomalies, kept versions,
closed months) whose instant columns are naive, each to a temporary name, fsynced and renamed over
the old one: the same rows, the same nanoseconds, and the rows' ``run_id`` unchanged (the rows are
the same; only their type says what they already meant). ``output.json`` records format 2 last.
It holds the folder's lock; interrupted, it is run again and finishes (files done are skipped).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from reconcile._core._duckdb import literal, plain_connect
from reconcile._core._files import fsync_path, private_files, write_json_atomic
from reconcile._output._folder import OUTPUT_FORMAT, _period_length, open_output, output_format
from reconcile.exceptions import OutputError


@dataclass(frozen=True)
class UpgradeSummary:
    """What the upgrade did."""

    output: str
    files: int  # rewritten
    skipped: int  # already of format 2
    from_format: int


def _naive(con: duckdb.DuckDBPyConnection, file: Path) -> list[str]:
    rows = con.execute(
        "DESCRIBE SELECT * FROM read_parquet(?, hive_partitioning = false)", [literal(file)]
    ).fetchall()
    return [str(name) for name, kind, *_ in rows if str(kind) == "TIMESTAMP_NS"]


def upgrade_output(output: str | os.PathLike[str], *, wait: float = 0.0) -> UpgradeSummary:
    """Upgrade ``output`` to the current format (module doc)."""
    root = Path(output)
    if not (root / "output.json").is_file():
        raise OutputError(f"output folder {root} has no output.json: nothing to upgrade")
    with open_output(root, wait=wait), plain_connect() as con:
        before = output_format(root)
        files = skipped = 0
        for file in sorted(root.glob("**/*.parquet")):
            if any(part.startswith(".") for part in file.relative_to(root).parts):
                continue  # staging and trash: the writer's own
            columns = _naive(con, file)
            if not columns:
                skipped += 1
                continue
            replaced = ", ".join(f'timezone(\'UTC\', "{c}") AS "{c}"' for c in columns)
            tmp = file.with_name(f".{file.name}.upgrade-{os.getpid()}")
            with private_files():
                con.execute(
                    f"COPY (SELECT * REPLACE ({replaced}) FROM read_parquet(?, hive_partitioning = false))"
                    " TO ? (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)",
                    [literal(file), str(tmp)],
                )
                fsync_path(tmp)
                os.replace(tmp, file)
                fsync_path(file.parent)
            files += 1
        length = _period_length(root)
        with private_files():
            write_json_atomic(root / "output.json", {"format": OUTPUT_FORMAT, "period_length": length})
    return UpgradeSummary(str(root), files, skipped, before)
