"""``reconcile report``: one self-contained HTML page per period, for people who do not open notebooks.

The page reads the analyst relations (``_views``) and draws with ``_plots``; it computes no money of
its own, only sums the relations' exact amounts for display. Sections (each an ``<section id=...>``):
``totals`` (per currency: the invoiced totals the periods' manifests state, and the exact sum of the
slices), ``contracts`` (only where a contracts file priced the period: per contract, the list and billed
amounts of its slices and the saving; per tenant and month, ``list_vs_billed``), ``spend`` (by day
and family), ``tenants`` and ``resources`` (the top ones), ``anomalies``
(per code, with the amounts billed on the intervals they name), ``inventory`` (the latest
inventory audit's findings about the period: per code and direction, the money at risk, and the
largest), ``rejects`` and ``sources`` (with a
store), ``restatements`` (every period of it whose bill has more than one version: before and after).
Images are PNG data URIs and the style is inline: the file opens anywhere, with no network. A small
inline script marks ``<body data-rendered="yes">`` once every image has decoded (how the test in a
headless browser knows the page rendered).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from reconcile import plots as _plots
from reconcile._analysts._views import connect_output
from reconcile._core._duckdb import engine_errors
from reconcile._core._files import private_files
from reconcile._core._period import NS_PER_HOUR, Period, parse_duration, parse_period
from reconcile._output._check import covering, naming_damage
from reconcile._output._manifest import Manifest, read_manifests
from reconcile.exceptions import OutputError, UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SECTIONS = (
    "totals", "spend", "tenants", "resources", "anomalies", "inventory", "rejects", "sources", "restatements",
)  # fmt: skip
TOP = 10

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:2em}table{border-collapse:collapse;margin:.5em 0}td,th{padding:.25em .7em;
border-bottom:1px solid #eee;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
img{max-width:100%;height:auto;display:block;margin:.5em 0}.muted{color:#777}.bad{color:#b00}
"""
_SCRIPT = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var ok = images.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute('data-rendered', ok ? 'yes' : 'broken-images');
  document.body.setAttribute('data-images', String(images.length));
});
"""


@dataclass(frozen=True)
class ReportSummary:
    """What ``reconcile report`` wrote."""

    period: str
    path: str
    sections: tuple[str, ...]
    images: int
    bytes: int


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _money(value: object) -> str:
    if value is None:
        return ""
    amount = Decimal(str(value))
    text = format(
        amount.quantize(Decimal("0.01")) if amount == amount.quantize(Decimal("0.01")) else amount, "f"
    )
    return text


def _table(frame: pl.DataFrame, *, numeric: set[str] | None = None, empty: str = "none") -> str:
    if frame.height == 0:
        return f'<p class="muted">{_esc(empty)}</p>'
    numeric = numeric or set()
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    rows = []
    for row in frame.iter_rows(named=True):
        cells = "".join(
            f'<td class="n">{_esc(_money(v))}</td>' if c in numeric else f"<td>{_esc(v)}</td>"
            for c, v in row.items()
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _image(fig: Figure, alt: str) -> str:
    data = base64.b64encode(_plots.png(fig)).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


class _Page:
    def __init__(self, output: Path, store: Path | None, period: Period) -> None:
        self.output, self.store, self.period = output, store, period
        self.parts: list[str] = []
        self.images = 0
        # one connection for every section's query (its views made once)
        self.con = connect_output(
            output, store=store, params={"period": period.name}, hash_periods=covering(period.name)
        )

    def query(self, sql: str, parameters: list[object] | None = None) -> pl.DataFrame:
        """Rows of a SELECT over the relations; ``?`` is the period's first day, then its last, unless
        ``parameters`` are given."""
        bound = parameters if parameters is not None else [self.period.days()[0], self.period.days()[-1]]
        with (
            engine_errors(f"report of period {self.period.name}", error=OutputError),
            naming_damage(self.output),
        ):
            frame = pl.from_arrow(self.con.sql(sql, params=bound).to_arrow_table())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def section(self, key: str, title: str, body: str) -> None:
        self.parts.append(f'<section id="{key}"><h2>{_esc(title)}</h2>{body}</section>')

    def image(self, fig: Figure, alt: str) -> str:
        self.images += 1
        return _image(fig, alt)


_IN_PERIOD = "BETWEEN ? AND ?"  # the period's first and last day, bound by _Page.query


def _totals(page: _Page, manifests: dict[str, Manifest]) -> None:
    wanted = {d.isoformat() for d in page.period.days()} | {page.period.name}
    runs = {name: m for name, m in manifests.items() if name in wanted}
    invoiced: dict[str, Decimal] = {}
    for manifest in runs.values():
        for currency, amount in manifest.totals.items():
            invoiced[currency] = invoiced.get(currency, Decimal(0)) + Decimal(amount)
    exact = page.query(
        f"SELECT currency, sum(amount) AS exact FROM slices WHERE usage_date {_IN_PERIOD}"
        " GROUP BY currency ORDER BY currency"
    )
    rows = pl.DataFrame(
        {
            "currency": list(invoiced),
            "invoiced (runs' totals, each line rounded)": [str(v) for v in invoiced.values()],
        },
        schema={"currency": pl.String, "invoiced (runs' totals, each line rounded)": pl.String},
    )
    if exact.height:
        rows = rows.join(
            exact.with_columns(pl.col("exact").cast(pl.String)), on="currency", how="full", coalesce=True
        )
    missing = len(wanted - {page.period.name}) - len(runs) if page.period.length == "month" else 0
    note = (
        f'<p class="bad">{missing} day(s) of the period have no run: the totals are partial.</p>'
        if missing > 0 and page.period.name not in runs
        else ""
    )
    names = ", ".join(f"{_esc(k)}: {_esc(v.run_id)}" for k, v in sorted(runs.items()))
    page.section(
        "totals",
        "Totals",
        _table(rows, empty="no committed run in this period")
        + note
        + f'<p class="muted">runs: {names or "none"}</p>',
    )


def _contracts(page: _Page) -> bool:
    """List vs billed where contracts priced the period's slices (the section is left out otherwise)."""
    used = page.query(
        "SELECT tenant_id, contract_id, price_basis, currency, sum(list_amount) AS list_amount,"
        " sum(amount) AS billed_amount, sum(list_amount) - sum(amount) AS saved"
        " FROM (SELECT * FROM slices UNION ALL BY NAME SELECT CAST(NULL AS VARCHAR) AS contract_id,"
        " CAST(NULL AS VARCHAR) AS price_basis, CAST(NULL AS DECIMAL(38, 12)) AS list_amount WHERE false)"
        f" WHERE usage_date {_IN_PERIOD} AND contract_id IS NOT NULL"
        " GROUP BY ALL ORDER BY tenant_id, contract_id, price_basis, currency"
    )
    if not used.height:
        return False
    months = page.query(
        "SELECT * FROM list_vs_billed WHERE contracts IS NOT NULL"
        " AND invoice_month BETWEEN date_trunc('month', CAST(? AS DATE)) AND ?"
    )
    money = {"list_amount", "billed_amount", "saved", "true_up", "invoiced"}
    page.section(
        "contracts",
        "Contracts: list vs billed",
        "<p>Each contract's slices in the period (exact): what the price book alone would have charged,"
        " what the contract charged, and the saving.</p>"
        + _table(used, numeric=money)
        + "<p>The months' invoices of tenants with contracts (lines rounded to the minor unit; a tiered"
        " meter billed through its tiers; the monthly minimum's true-up).</p>"
        + _table(months, numeric=money, empty="no month of the period is billed yet"),
    )
    return True


def _spend(page: _Page) -> None:
    daily = page.query(f"SELECT * FROM daily_spend WHERE usage_date {_IN_PERIOD}")
    body = ""
    for currency in sorted(set(daily["currency"].drop_nulls().to_list())):
        body += page.image(_plots.daily_spend(daily, currency), f"daily spend by family in {currency}")
    by_family = daily.group_by("family", "currency").agg(pl.col("amount").sum()).sort("family", "currency")
    page.section("spend", "Spend by day and family", body + _table(by_family, numeric={"amount"}))


def _top(page: _Page, key: str, title: str, column: str, alt: str) -> None:
    frame = page.query(
        f"SELECT coalesce({column}, '(unattributed)') AS {column}, currency, sum(amount) AS amount"
        f" FROM slices WHERE usage_date {_IN_PERIOD}"
        f" GROUP BY ALL ORDER BY amount DESC, {column} LIMIT {TOP}"
    )
    body = ""
    for currency in sorted(set(frame["currency"].drop_nulls().to_list())):
        part = frame.filter(pl.col("currency") == currency)
        fig = _plots.top_bars(
            part[column].to_list(), [float(a) for a in part["amount"]], title=alt, currency=currency
        )
        body += page.image(fig, f"{alt} ({currency})")
    page.section(key, title, body + _table(frame, numeric={"amount"}))


def _anomalies(page: _Page) -> None:
    summary = page.query(f"SELECT * FROM anomaly_summary WHERE day {_IN_PERIOD}")
    per_code = (
        summary.group_by("code", "currency")
        .agg(pl.col("anomalies").sum(), pl.col("amount_affected").sum(), pl.col("amount_inferred").sum())
        .sort("code", "currency")
    )
    body = ""
    if summary.height:
        once = summary.unique(["day", "code"]).group_by("code").agg(pl.col("anomalies").sum()).sort("code")
        body += page.image(
            _plots.anomalies_by_code(
                once["code"].to_list(), once["anomalies"].to_list(), title="Anomalies by code"
            ),
            "anomalies by code",
        )
        if page.period.length == "month":
            body += page.image(_plots.anomalies_per_day(summary), "anomalies per day")
    page.section(
        "anomalies",
        "Anomalies and the amounts they affect",
        body + _table(per_code, numeric={"amount_affected", "amount_inferred"}, empty="no anomaly"),
    )


def _inventory(page: _Page) -> None:
    """The latest inventory audit's findings whose snapshots fall in the period."""
    if not (page.output / "inventory" / "findings.parquet").is_file():
        page.section(
            "inventory",
            "Inventory audit",
            '<p class="muted">no inventory audit in this output (reconcile audit --output, or the nightly'
            " job's --inventory)</p>",
        )
        return
    bounds: list[object] = [page.period.start_ns, page.period.end_ns]
    overlapping = (
        "FROM inventory_findings WHERE last_seen_at >= timezone('UTC', make_timestamp_ns(?))"
        " AND first_seen_at < timezone('UTC', make_timestamp_ns(?))"
    )
    per_code = page.query(
        f"SELECT code, direction, currency, count(*) AS findings, sum(at_risk_min) AS at_risk_min,"
        f" sum(at_risk_max) AS at_risk_max {overlapping} GROUP BY ALL ORDER BY code, direction",
        bounds,
    )
    top = page.query(
        "SELECT code, family, resource_id, coalesce(tenant_id, '(none)') AS tenant_id, direction,"
        f" at_risk_min, at_risk_max, first_seen_at, last_seen_at, snapshots {overlapping}"
        f" ORDER BY at_risk_max DESC, resource_id LIMIT {TOP}",
        bounds,
    )
    window = page.query("SELECT min(window_start) AS w0, max(cut_off) AS w1 FROM inventory_findings", [])
    lead = (
        "<p>Resources the platform's inventory snapshots and the ledger disagree on, with what"
        " recording what happened would change in the bill: unbilled (owed by the customer) or"
        " overbilled (owed to the customer), at least at_risk_min (what the snapshots prove), at most"
        " at_risk_max (what they allow).</p>"
    )
    if window.height and window["w0"][0] is not None:
        lead += f'<p class="muted">audit window {_esc(window["w0"][0])} to {_esc(window["w1"][0])}</p>'
    page.section(
        "inventory",
        "Inventory audit: unbilled and overbilled resources",
        lead
        + _table(per_code, numeric={"at_risk_min", "at_risk_max"}, empty="no finding in this period")
        + (
            f"<h3>Largest findings</h3>{_table(top, numeric={'at_risk_min', 'at_risk_max'})}"
            if top.height
            else ""
        ),
    )


def _rejects(page: _Page) -> None:
    if page.store is None:
        page.section("rejects", "Rejected ledger lines", '<p class="muted">no store given (--store)</p>')
        return
    rejects = page.query(
        "SELECT code, count(*) AS lines, min(source_file || ':' || source_line) AS first FROM rejects"
        " GROUP BY code ORDER BY lines DESC, code",
        [],
    )
    page.section("rejects", "Rejected ledger lines (every ingest)", _table(rejects, empty="no rejected line"))


def _sources(page: _Page, max_silence_ns: int) -> None:
    if page.store is None:
        page.section("sources", "Ledger sources", '<p class="muted">no store given (--store)</p>')
        return
    sources = page.query(
        "SELECT source, files, newest_at, grew_at,"
        " CASE WHEN newest_ns IS NULL OR newest_ns < ? THEN 'silent' ELSE 'ok' END AS state"
        " FROM sources ORDER BY state DESC, source",
        [page.period.end_ns - max_silence_ns],
    )
    silent = sources.filter(pl.col("state") == "silent").height
    hours = max_silence_ns / NS_PER_HOUR
    lead = (
        f'<p class="bad">{silent} source(s) with no event in the {hours:g} h before the period end.</p>'
        if silent
        else f"<p>No source silent for more than {hours:g} h before the period end.</p>"
    )
    page.section("sources", "Ledger sources", lead + _table(sources, empty="no source recorded"))


def _restatements(page: _Page) -> None:
    versions = page.query(
        "SELECT period, version, current, run_id, committed_at, currency, total, why FROM bill_versions"
        " WHERE period IN (SELECT period FROM bill_versions GROUP BY period HAVING max(version) > 1)"
        " AND (period = ? OR (length(period) = 10 AND CAST(period AS DATE) BETWEEN ? AND ?))"
        " ORDER BY period, version, currency",
        [page.period.name, page.period.days()[0], page.period.days()[-1]],
    )
    page.section(
        "restatements",
        "Restatements: every version of a restated bill",
        _table(versions, numeric={"total"}, empty="no period of it was restated"),
    )


def write_report(
    output: str | os.PathLike[str],
    *,
    period: str,
    to: str | os.PathLike[str],
    store: str | os.PathLike[str] | None = None,
    max_silence: str = "6h",
) -> ReportSummary:
    """Write the report of ``period`` (module doc) to ``to`` (``.html``; its folder must exist)."""
    wanted = parse_period(period)
    dest = Path(to)
    if dest.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--to {dest}: the file name must end in .html")
    if not dest.parent.is_dir():
        raise UsageError(f"--to {dest}: the folder {dest.parent} does not exist")
    if dest.is_dir():
        raise UsageError(
            f"--to {dest} is a folder: give the file to write in it, e.g. {dest / 'report.html'}"
        )
    root = Path(output)
    manifests = read_manifests(root) if root.is_dir() else {}
    days = {d.isoformat() for d in wanted.days()}
    if not any(name in days or name == wanted.name or name == wanted.name[:7] for name in manifests):
        raise OutputError(f"report of period {wanted.name}: {root} holds no run of it (run it first)")
    _plots.use_agg_without_display()
    page = _Page(root, None if store is None else Path(store), wanted)
    try:
        _totals(page, manifests)
        contracted = _contracts(page)
        _spend(page)
        _top(page, "tenants", "Top tenants", "tenant_id", "Top tenants by amount")
        _top(page, "resources", "Top resources", "resource_id", "Top resources by amount")
        _anomalies(page)
        _inventory(page)
        _rejects(page)
        _sources(page, parse_duration(max_silence))
        _restatements(page)
    finally:
        page.con.close()
    made = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = _esc(wanted.name)
    head = f'<head><meta charset="utf-8"><title>Billing report {name}</title><style>{_STYLE}</style></head>'
    lead = (
        f'<h1>Billing report: period {name}</h1><p class="muted">output {_esc(root.resolve())};'
        f" made {made}; amounts are exact sums of the slices unless marked as rounded; instants are UTC.</p>"
    )
    body = "".join(page.parts) + f"<script>{_SCRIPT}</script>"
    text = f'<!doctype html><html lang="en">{head}<body>{lead}{body}</body></html>\n'
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    try:
        with private_files():
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, dest)
    except OSError as exc:
        raise OutputError(
            f"report of period {wanted.name}: cannot write {dest}: {exc.strerror or exc}"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    sections = (SECTIONS[0], "contracts", *SECTIONS[1:]) if contracted else SECTIONS
    return ReportSummary(wanted.name, str(dest), sections, page.images, len(text.encode("utf-8")))
