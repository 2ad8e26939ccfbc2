"""Contracted figures for analysts and on the report: list_vs_billed per tenant and month equals the
invoice lines' list and billed amounts and the minimum's true-up, and the report has a contracts section
with them only when a contracts file priced the period."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import reconcile
from reconcile._analysts._report import SECTIONS, _money, write_report


def test_list_vs_billed_adds_up_the_invoice_lines(contracts_month: Path) -> None:
    """Per tenant: list and billed amounts are the usage lines' rounded sums, saved their difference,
    true_up the Minimum line, contracts the contracts of the lines; a contract tenant saved money."""
    rows = {r["tenant_id"]: r for r in reconcile.read_relation("list_vs_billed", contracts_month).to_dicts()}
    lines = reconcile.read_relation("invoice_lines", contracts_month).to_dicts()
    assert set(rows) == {ln["tenant_id"] for ln in lines}
    for tenant, row in rows.items():
        usage = [ln for ln in lines if ln["tenant_id"] == tenant and ln["charge_class"] == "Usage"]
        minimum = [
            ln["amount"] for ln in lines if ln["tenant_id"] == tenant and ln["charge_class"] == "Minimum"
        ]
        assert row["list_amount"] == sum((ln["list_amount"] for ln in usage), Decimal(0))
        assert row["billed_amount"] == sum((ln["amount"] for ln in usage), Decimal(0))
        assert row["saved"] == row["list_amount"] - row["billed_amount"]
        assert row["true_up"] == sum(minimum, Decimal(0))
        assert row["invoiced"] == row["billed_amount"] + row["true_up"]
        named = {c for ln in usage for c in (ln["contract_ids"] or "").split()}
        assert set((row["contracts"] or "").split()) == named | (
            {
                ln["contract_ids"]
                for ln in lines
                if ln["tenant_id"] == tenant and ln["charge_class"] == "Minimum"
            }
        )
    assert rows["acme"]["saved"] > 0
    assert rows["globex"]["true_up"] > 0
    assert rows[None]["contracts"] is None
    assert rows[None]["saved"] == 0


def test_the_report_shows_list_vs_billed_where_contracts_priced(
    contracts_month: Path, tmp_path: Path
) -> None:
    """The report of the month has a contracts section after the totals, naming each contract with its
    list and billed amounts; a day of it too."""
    summary = write_report(contracts_month, period="2026-02", to=tmp_path / "feb.html")
    assert summary.sections == (SECTIONS[0], "contracts", *SECTIONS[1:])
    text = (tmp_path / "feb.html").read_text(encoding="utf-8")
    section = text[text.index('<section id="contracts">') : text.index('<section id="spend">')]
    slices = reconcile.read_relation("slices", contracts_month).to_dicts()
    for contract in {s["contract_id"] for s in slices if s["contract_id"]}:
        assert contract in section
    for row in reconcile.read_relation("list_vs_billed", contracts_month).to_dicts():
        if row["contracts"]:
            for column in ("list_amount", "billed_amount", "saved"):
                assert f'<td class="n">{_money(row[column])}</td>' in section
    day = write_report(contracts_month, period="2026-02-10", to=tmp_path / "day.html")
    assert "contracts" in day.sections


def test_without_contracts_the_report_has_no_contracts_section(demo_root: Path, tmp_path: Path) -> None:
    """The demo, priced without a contracts file, keeps the report's sections as they were."""
    summary = write_report(demo_root / "output", period="2026-11", to=tmp_path / "nov.html")
    assert summary.sections == SECTIONS
    assert 'id="contracts"' not in (tmp_path / "nov.html").read_text(encoding="utf-8")


def test_the_list_vs_billed_chart_draws_both_amounts_per_tenant(contracts_month: Path) -> None:
    """plots.list_vs_billed draws, per tenant, a list bar and an invoiced bar of the relation's amounts."""
    from reconcile import plots  # noqa: PLC0415

    plots.use_agg_without_display()
    rows = reconcile.read_relation("list_vs_billed", contracts_month)
    fig = plots.list_vs_billed(rows, "USD")
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    listed, invoiced = (c for c in ax.containers)
    drawn = {
        name: (a.get_width(), b.get_width()) for name, a, b in zip(labels, listed, invoiced, strict=True)
    }
    for row in rows.to_dicts():
        name = row["tenant_id"] or "(unattributed)"
        assert drawn[name] == (float(row["list_amount"]), float(row["invoiced"]))
    assert drawn["acme"][0] > drawn["acme"][1]
