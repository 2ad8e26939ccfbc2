"""What a caller gives a run, checked: its options (part of ``run_id``), the price book, the cut-off
and the engine (the command line's, ``run_period``'s, the nightly's and the demo's)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from reconcile._core._period import parse_duration, parse_instant
from reconcile._core._policies import DOUBLE_START_POLICIES, ENGINES, DoubleStartPolicy, SparkOptions
from reconcile._pair import _walk as _pair
from reconcile.exceptions import UsageError


@dataclass(frozen=True)
class Options:
    """How a run pairs and attributes (part of run_id)."""

    double_start: DoubleStartPolicy = "close"
    stale_after_ns: int | None = None
    tenants: Path | None = None
    tenants_sha256: str | None = None
    contracts: Path | None = None  # the contracts file (its terms are part of run_id, per period)


def make_options(
    double_start: DoubleStartPolicy | str,
    stale_after: str | int | dt.timedelta | None,
    tenants: str | Path | None,
    contracts: str | Path | None = None,
) -> Options:
    """Checked :class:`Options` from what a caller gave."""
    if double_start not in DOUBLE_START_POLICIES:
        raise UsageError(f"double_start must be 'close' or 'drop', got {double_start!r}")
    policy: DoubleStartPolicy = "drop" if double_start == "drop" else "close"
    if stale_after is None:
        stale_ns = None
    elif isinstance(stale_after, str):
        stale_ns = parse_duration(stale_after)
    else:
        stale_ns = _pair.duration_ns(stale_after, "stale_after")
    tenants_path = None if tenants is None else Path(tenants)
    digest = None
    if tenants_path is not None:
        try:
            digest = hashlib.sha256(tenants_path.read_bytes()).hexdigest()
        except OSError as exc:
            raise UsageError(f"tenants file {tenants_path}: cannot read: {exc.strerror or exc}") from None
    return Options(policy, stale_ns, tenants_path, digest, None if contracts is None else Path(contracts))


def spark_options(engine: str, spark: SparkOptions | None) -> SparkOptions | None:
    """The Spark engine's options when ``engine`` is ``spark`` (its defaults unless given), None for
    DuckDB; UsageError for another engine."""
    if engine not in ENGINES:
        raise UsageError(f"engine {engine!r}: expected one of {', '.join(ENGINES)}")
    if engine == "duckdb":
        return None
    return spark if spark is not None else SparkOptions()


def cut_off_ns(cut_off: str | int | dt.datetime | None) -> int | None:
    """A cut-off given as RFC 3339 text, an aware datetime or Unix ns, as Unix ns (None stays)."""
    if cut_off is None:
        return None
    if isinstance(cut_off, str):
        return parse_instant(cut_off)
    return _pair.instant_ns(cut_off, "cut_off")
