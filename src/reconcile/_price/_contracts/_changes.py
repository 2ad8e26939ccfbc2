"""Which contract terms a period depends on, and what changed between two contracts files.

A period's slices and invoice lines depend only on the terms of the contracts in effect at some
instant of it (a contract with tiers or a minimum runs whole months, so a day of its month sees all of
it). :func:`period_digest` is a digest of those terms, as values (``"0.03"`` and ``"0.0300"`` are the
same price; moving a contract within the file or editing a comment changes nothing), so a run's
``run_id`` can cover exactly what it read; :func:`contract_changes` says, one line per contract, what a
new file changes for a period: the cause a bill version names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal

from reconcile._core._period import NS_PER_DAY, format_ns, ns_to_date
from reconcile._price._contracts._model import Contract, Contracts


def _text(value: Decimal | None) -> str:
    """A decimal's value as plain text without trailing zeros (``0.0300`` -> ``0.03``); ``none``."""
    return "none" if value is None else format(value.normalize(), "f")


def terms(contract: Contract) -> dict[str, str]:
    """The contract's terms by name, each as canonical text: what its slices and lines depend on."""
    out: dict[str, str] = {
        "tenant": contract.tenant,
        "effective_from": format_ns(contract.effective_from_ns),
        "effective_to": "open" if contract.effective_to_ns is None else format_ns(contract.effective_to_ns),
        "discount": _text(contract.discount),
        "monthly_minimum": _text(contract.monthly_minimum),
    }
    for p in contract.prices:
        unit = p.unit + (f"/{p.hours_per_month}h" if p.hours_per_month is not None else "")
        out[f"price {p.family} {p.meter} ({p.hypervisor or 'default'})"] = f"{_text(p.price)} per {unit}"
    for t in contract.tiers:
        bound = "and above" if t.up_to is None else f"up to {_text(t.up_to)}"
        out[f"tier {t.family} {t.meter} {t.tier}"] = f"{_text(t.price)} per {t.unit} {bound}"
    return out


def period_digest(contracts: Contracts | None, start_ns: int, end_ns: int) -> str | None:
    """SHA-256 (hex) of the currency and the terms of the contracts in effect inside
    ``[start_ns, end_ns)``; None when none is (the period is then priced as with no contracts file)."""
    if contracts is None:
        return None
    every = [terms(c) for c in contracts.overlapping(start_ns, end_ns)]
    if not every:
        return None
    text = json.dumps({"currency": contracts.currency, "contracts": every}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def contract_changes(
    old: Contracts | None, new: Contracts | None, start_ns: int, end_ns: int
) -> tuple[str, ...]:
    """What ``new`` changes against ``old`` for ``[start_ns, end_ns)``, one line per contract in
    effect there in either, by contract id: ``globex@2026-05-01T00:00:00Z: added``, ``...: removed``,
    ``acme@2026-05-01T00:00:00Z: discount 10 -> 12; price <family> <meter> (default) added``."""

    def of(contracts: Contracts | None) -> dict[str, dict[str, str]]:
        inside = () if contracts is None else contracts.overlapping(start_ns, end_ns)
        return {c.contract_id: terms(c) for c in inside}

    return terms_changes(of(old), of(new))


def terms_changes(
    before: Mapping[str, Mapping[str, str]], after: Mapping[str, Mapping[str, str]]
) -> tuple[str, ...]:
    """What changed from the terms ``before`` to ``after`` (by contract id, as :func:`contract_terms`
    gives them), one line per contract (:func:`contract_changes`)."""
    lines = []
    for contract_id in sorted(before.keys() | after.keys()):
        was, now = before.get(contract_id), after.get(contract_id)
        if was is None:
            lines.append(f"{contract_id}: added")
        elif now is None:
            lines.append(f"{contract_id}: removed")
        elif was != now:
            parts = []
            for name in sorted(was.keys() | now.keys()):
                a, b = was.get(name), now.get(name)
                if a != b:
                    parts.append(f"{name} {'added' if a is None else a} -> {'removed' if b is None else b}")
            lines.append(f"{contract_id}: {'; '.join(parts)}")
    return tuple(lines)


def contract_terms(contracts: Contracts | None, start_ns: int, end_ns: int) -> dict[str, dict[str, str]]:
    """The terms of the contracts in effect inside ``[start_ns, end_ns)`` by contract id (what a
    run's manifest records, so a restatement can name what changed)."""
    inside = () if contracts is None else contracts.overlapping(start_ns, end_ns)
    return {c.contract_id: terms(c) for c in inside}


def commitments(contracts: Contracts | None, start_ns: int, end_ns: int) -> list[dict[str, str]]:
    """The monthly minimums of the UTC months ``[start_ns, end_ns)`` lies in: per contract with a
    minimum in effect at such a month's start, ``contract_id``, ``tenant_id``, ``month``
    (``YYYY-MM``), ``monthly_minimum`` (decimal text) and ``currency`` (a run's manifest records them;
    the analysts' ``invoice_lines`` bills a true-up once the month is complete)."""
    if contracts is None:
        return []
    out = []
    first = ns_to_date(start_ns).replace(day=1)
    last = ns_to_date(end_ns - 1).replace(day=1)
    for contract in contracts.contracts:
        if contract.monthly_minimum is None:
            continue
        month = first
        while month <= last:
            if contract.covers(date_ns(month)):
                out.append(
                    {
                        "contract_id": contract.contract_id,
                        "tenant_id": contract.tenant,
                        "month": month.strftime("%Y-%m"),
                        "monthly_minimum": format(contract.monthly_minimum, "f"),
                        "currency": contracts.currency,
                    }
                )
            month = (month + dt.timedelta(days=32)).replace(day=1)
    return sorted(out, key=lambda c: (c["month"], c["tenant_id"], c["contract_id"]))


def date_ns(day: dt.date) -> int:
    """00:00:00Z of ``day`` in Unix nanoseconds."""
    return (day - dt.date(1970, 1, 1)).days * NS_PER_DAY
