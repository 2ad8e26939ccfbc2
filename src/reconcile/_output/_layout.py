"""The output folder's layout: every path in it, named in this one module (``docs/OPERATIONS.md``
describes it for readers)::

    OUT/output.json                                  {"format": 2, "period_length": "day" | "month"}
    OUT/slices/usage_date=YYYY-MM-DD/data_0.parquet  a period's slices, one folder per UTC day
    OUT/intervals/period=P/data_0.parquet            a period's intervals
    OUT/anomalies/period=P/data_0.parquet            a period's anomalies
    OUT/manifests/period=P/manifest.json             a period's manifest: it marks a whole period
    OUT/history/period=P/version=N/                  a replaced version of a period (``_versions``):
        manifest.json, slices/usage_date=D/*.parquet, intervals/*.parquet, anomalies/*.parquet
    OUT/closed/month=YYYY-MM/                        a closed month (``_close``): issued_lines.parquet,
        close.json, slices/usage_date=D/*.parquet (the slices as issued)
    OUT/.lock                                        flock held by the run writing this folder
    OUT/.journal.json                                present only while a commit is in progress
    OUT/.staging/<token>/...                         a run's new files before they are committed,
                                                     in the same tree shape
    OUT/.trash/<token>/...                           replaced partitions, removed after the commit

The engine writes ``data_0.parquet`` (the name DuckDB's partitioned writer would give); the Spark
engine's tasks write ``part-<bucket>-<attempt>.parquet`` beside each other; readers read every
``*.parquet`` of a folder. A partition path is relative to a root: the output folder, a staging
folder, a kept version or a closed month.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from reconcile._core._period import parse_period

TABLES: Final = ("slices", "intervals", "anomalies")
"""The kinds of rows a period writes, each a folder of the output."""

DATA: Final = "data_0.parquet"
"""The name of the engine's one file in a partition folder."""

PARQUET: Final = "*.parquet"
MANIFEST: Final = "manifest.json"
MANIFESTS: Final = "manifests"
HISTORY: Final = "history"
CLOSED: Final = "closed"
OUTPUT_JSON: Final = "output.json"
JOURNAL: Final = ".journal.json"
STAGING: Final = ".staging"
TRASH: Final = ".trash"
ISSUED_LINES: Final = "issued_lines.parquet"
CLOSE_JSON: Final = "close.json"

MANIFEST_GLOB: Final = f"{MANIFESTS}/period=*/{MANIFEST}"
"""Every committed manifest, relative to the output folder."""
KEPT_MANIFEST_GLOB: Final = f"{HISTORY}/period=*/version=*/{MANIFEST}"
"""Every kept version's manifest, relative to the output folder."""
TABLE_FILES_GLOB: Final = f"*=*/{PARQUET}"
"""Every file of one table's folder (``OUT/<table>/``): its partitions' files."""
KEPT_SLICES_GLOB: Final = f"slices/*/{PARQUET}"
"""The slices files of a kept version or a closed month, relative to its folder."""


def slices_partition(day: dt.date) -> str:
    """``slices/usage_date=D``: the folder of one UTC day's slices."""
    return f"slices/usage_date={day.isoformat()}"


def period_partition(table: str, period: str) -> str:
    """``<table>/period=P``: the folder of one period's intervals or anomalies."""
    return f"{table}/period={period}"


def manifest_partition(period: str) -> str:
    """``manifests/period=P``: the folder of one period's manifest."""
    return f"{MANIFESTS}/period={period}"


def partitions(period: str, days: Iterable[dt.date] | None = None) -> dict[str, list[str]]:
    """Per table, the partition folders of ``period`` (its days' slices; ``days``: the period's own
    when None), relative to a root."""
    every = parse_period(period).days() if days is None else list(days)
    return {
        "slices": [slices_partition(d) for d in every],
        "intervals": [period_partition("intervals", period)],
        "anomalies": [period_partition("anomalies", period)],
    }


def period_folders(root: Path, period: str) -> dict[str, list[Path]]:
    """Per table, the folders under ``root`` that ``period``'s files live in."""
    return {table: [root / p for p in parts] for table, parts in partitions(period).items()}


def period_files(root: Path, period: str) -> dict[str, list[Path]]:
    """Per table, the engine's own file of each of ``period``'s folders under ``root``."""
    return {table: [f / DATA for f in folders] for table, folders in period_folders(root, period).items()}


def manifest_file(root: Path, period: str) -> Path:
    """``OUT/manifests/period=P/manifest.json``."""
    return root / manifest_partition(period) / MANIFEST


def manifest_folders(root: Path) -> list[Path]:
    """The folders of every committed manifest, sorted (``OUT/manifests/period=*``)."""
    folder = root / MANIFESTS
    return sorted(folder.glob("period=*")) if folder.is_dir() else []


def period_of(folder: Path) -> str:
    """The period a ``period=P`` folder (a manifest's, a kept version's parent) is of."""
    return folder.name.removeprefix("period=")


def history_dir(root: Path, period: str) -> Path:
    """``OUT/history/period=P``: the replaced versions of one period."""
    return root / HISTORY / f"period={period}"


def version_partition(period: str, version: int) -> str:
    """``history/period=P/version=N``: the folder of one kept version, relative to the output folder."""
    return f"{HISTORY}/period={period}/version={version}"


def kept_version_folders(root: Path, period: str) -> list[tuple[int, Path]]:
    """The kept versions' folders of ``period`` with their numbers (unsorted; non-numbers left out)."""
    folder = history_dir(root, period)
    if not folder.is_dir():
        return []
    found = []
    for child in folder.glob("version=*"):
        number = child.name.removeprefix("version=")
        if number.isdigit():
            found.append((int(number), child))
    return found


def version_of(folder: Path) -> tuple[str, int] | None:
    """The period and version number of a kept version's folder (``history/period=P/version=N``);
    None when it is not one."""
    number = folder.name.removeprefix("version=")
    if not folder.name.startswith("version=") or not number.isdigit():
        return None
    return period_of(folder.parent), int(number)


def kept_file(folder: Path, name: str) -> Path:
    """Where a kept version's folder holds the file its manifest names ``name`` (slices keep their day
    folder; ``intervals/period=P/x`` is kept as ``intervals/x``)."""
    parts = name.split("/")
    return folder.joinpath(*(parts if parts[0] == "slices" else [parts[0], parts[-1]]))


def kept_table_files(folder: Path, table: str) -> list[Path]:
    """The files of one table in a kept version's (or a closed month's) folder, sorted."""
    pattern = KEPT_SLICES_GLOB if table == "slices" else f"{table}/{PARQUET}"
    return sorted(folder.glob(pattern))


def closed_partition(month: str) -> str:
    """``closed/month=YYYY-MM``: a closed month's folder, relative to the output folder."""
    return f"{CLOSED}/month={month}"


def closed_months(root: Path) -> list[tuple[str, Path]]:
    """Every closed month of the output folder and its folder, sorted."""
    return [(f.name.removeprefix("month="), f) for f in sorted((root / CLOSED).glob("month=*"))]
