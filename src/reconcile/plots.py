"""``reconcile.plots``: the analysts' charts, the same in the notebooks and in ``reconcile report``.

Each function takes the rows of an analyst relation (a polars DataFrame, as ``read_relation`` gives)
and returns a matplotlib ``Figure``; nothing here computes money, it only draws what the relations
hold. One colour per anomaly code and per family everywhere (:data:`ANOMALY_COLOURS`,
:data:`FAMILY_COLOURS`), axes with their units, one tick per day on daily charts. matplotlib's
``Agg`` backend is used when no display is set up (``reconcile report``, tests).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import TYPE_CHECKING

import matplotlib as mpl

if TYPE_CHECKING:
    import polars as pl
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

ANOMALY_COLOURS: dict[str, str] = {  # every code SPEC section 3 defines
    "orphan_stop": "#d62728",
    "double_stop": "#ff7f0e",
    "double_start": "#9467bd",
    "shape_mismatch": "#8c564b",
    "stale_open": "#e377c2",
}
FAMILY_COLOURS: dict[str, str] = {
    "vm.compute": "#1f77b4",
    "vm.storage": "#2ca02c",
    "snap.storage": "#ff7f0e",  # a warm colour: the thin snapshot band stays visible over the others
}
_OTHER = "#bcbd22"

__all__ = [
    "ANOMALY_COLOURS",
    "FAMILY_COLOURS",
    "anomalies_by_code",
    "anomalies_per_day",
    "colour",
    "daily_spend",
    "list_vs_billed",
    "png",
    "top_bars",
    "use_agg_without_display",
]


def colour(code: str) -> str:
    """The colour of an anomaly code (a fixed one for every code the engine writes)."""
    return ANOMALY_COLOURS.get(code, _OTHER)


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure  # noqa: PLC0415 - no pyplot: no global state, no display

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _daily_ticks(ax: Axes, days: list[dt.date]) -> None:
    """One tick per day (dates, never half days), thinned to at most about 15 labels."""
    import matplotlib.dates as mdates  # noqa: PLC0415

    step = max(1, len(days) // 15 + (1 if len(days) % 15 else 0))
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=step))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))  # type: ignore[no-untyped-call]
    for label in ax.get_xticklabels():
        label.set_rotation(45)
        label.set_horizontalalignment("right")


def daily_spend(daily: pl.DataFrame, currency: str) -> Figure:
    """A currency's spend per day and family (from ``daily_spend``): stacked bars of every family
    above, and below them the families too small to see in the stack (snapshots are often 0.2% of
    compute) on their own scale, as grouped bars."""
    import matplotlib.dates as mdates  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    part = (
        daily.filter(pl.col("currency") == currency)
        .group_by("usage_date", "family")
        .agg(pl.col("amount").sum())
    )
    days = sorted(set(part["usage_date"].to_list()))
    families = sorted(set(part["family"].to_list()), key=lambda f: (f == "snap.storage", f))
    values = {
        f: [
            float(
                dict(part.filter(pl.col("family") == f).select("usage_date", "amount").iter_rows()).get(d, 0)
            )
            for d in days
        ]
        for f in families
    }
    total = sum(sum(v) for v in values.values()) or 1.0
    small = [f for f in families if sum(values[f]) / total < 0.05]
    fig = Figure(figsize=(10, 6 if small else 4), layout="constrained")
    axes = fig.subplots(
        2 if small else 1, 1, sharex=True, squeeze=False, height_ratios=[2, 1] if small else [1]
    )
    ax = axes[0][0]
    bottom = [0.0] * len(days)
    for family in families:
        ax.bar(
            days,
            values[family],
            bottom=bottom,
            label=family,
            color=FAMILY_COLOURS.get(family, _OTHER),
            width=0.8,
        )
        bottom = [b + v for b, v in zip(bottom, values[family], strict=True)]
    ax.set_title(f"Daily spend by family ({currency})")
    ax.set_ylabel(f"amount ({currency})")
    ax.legend(loc="upper left")
    if small:
        low = axes[1][0]
        width = 0.8 / len(small)
        for i, family in enumerate(small):
            offset = (i - (len(small) - 1) / 2) * width  # in days: matplotlib's date unit
            shifted = [float(mdates.date2num(d)) + offset for d in days]  # type: ignore[no-untyped-call]
            low.bar(
                shifted, values[family], width=width, label=family, color=FAMILY_COLOURS.get(family, _OTHER)
            )
        low.set_ylabel(f"amount ({currency})")
        low.set_title("families under 5% of the spend, on their own scale", fontsize="medium")
        low.legend(loc="upper left")
        ax = low
    ax.set_xlabel("usage day (UTC)")
    _daily_ticks(ax, days)
    return fig


def top_bars(names: list[str], amounts: list[float], *, title: str, currency: str) -> Figure:
    """Horizontal bars, the largest on top, the amount axis in ``currency``."""
    fig, ax = _figure(8, max(2.5, 0.35 * len(names) + 1))
    ax.barh(names[::-1], amounts[::-1], color=FAMILY_COLOURS["vm.compute"])
    ax.set_title(title)
    ax.set_xlabel(f"amount ({currency})")
    return fig


def list_vs_billed(rows: pl.DataFrame, currency: str) -> Figure:
    """Per tenant (``list_vs_billed`` rows of one currency, summed over their months): paired horizontal
    bars of what the price book alone would have billed and what was invoiced (usage and true-up)."""
    import polars as pl  # noqa: PLC0415

    part = (
        rows.filter(pl.col("currency") == currency)
        .with_columns(pl.col("tenant_id").fill_null("(unattributed)"))
        .group_by("tenant_id")
        .agg(pl.col("list_amount").sum(), pl.col("invoiced").sum())
        .sort("invoiced")
    )
    names = part["tenant_id"].to_list()
    at = list(range(len(names)))
    fig, ax = _figure(8, max(2.5, 0.5 * len(names) + 1))
    listed = [float(v) for v in part["list_amount"]]
    invoiced = [float(v) for v in part["invoiced"]]
    ax.barh([y + 0.2 for y in at], listed, height=0.4, label="list", color="#aaaaaa")
    ax.barh([y - 0.2 for y in at], invoiced, height=0.4, label="invoiced", color=FAMILY_COLOURS["vm.compute"])
    ax.set_yticks(at, names)
    ax.set_title("List price vs invoiced, per tenant")
    ax.set_xlabel(f"amount ({currency})")
    ax.legend(loc="lower right")
    return fig


def anomalies_per_day(counts: pl.DataFrame) -> Figure:
    """Stacked bars of anomalies per day and code (``anomaly_summary``: one row per day and code)."""
    import polars as pl  # noqa: PLC0415

    once = counts.unique(["day", "code"])
    days = sorted(set(once["day"].to_list()))
    fig, ax = _figure(10, 4)
    bottom = [0] * len(days)
    for code in sorted(set(once["code"].to_list())):
        per_day = dict(once.filter(pl.col("code") == code).select("day", "anomalies").iter_rows())
        values = [int(per_day.get(d, 0)) for d in days]
        ax.bar(days, values, bottom=bottom, label=code, color=colour(code), width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_title("Anomalies per day")
    ax.set_ylabel("anomalies")
    ax.set_xlabel("day of the anomaly's event (UTC)")
    if days:
        ax.legend(loc="upper left")
        _daily_ticks(ax, days)
    return fig


def anomalies_by_code(codes: list[str], counts: list[int], *, title: str) -> Figure:
    """One bar per anomaly code, in its colour."""
    fig, ax = _figure(7, 3)
    ax.bar(codes, counts, color=[colour(c) for c in codes])
    ax.set_title(title)
    ax.set_ylabel("anomalies")
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def use_agg_without_display() -> None:
    """Draw off-screen (``Agg``) unless a backend was chosen: reports and tests have no display."""
    if mpl.get_backend().lower() not in {"agg", "module://matplotlib_inline.backend_inline"}:
        mpl.use("Agg")
