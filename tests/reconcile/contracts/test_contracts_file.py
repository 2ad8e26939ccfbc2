"""The contracts file: every form it allows, every kind of bad file (one line each), the digests."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest

import reconcile
from reconcile import ContractsError, load_contracts, load_price_book
from reconcile._price._book import parse_price_book
from reconcile._price._contracts import contract_changes, parse_contracts, period_digest

CONTRACTS = Path(__file__).resolve().parents[2] / "data" / "contracts"
BAD = CONTRACTS / "bad"
S = 10**9
DAY = 86_400 * S


def ns(year: int, month: int, day: int, hour: int = 0) -> int:
    """Unix ns of a UTC instant."""
    return (dt.date(year, month, day) - dt.date(1970, 1, 1)).days * DAY + hour * 3600 * S


@pytest.fixture(scope="module")
def book() -> reconcile.PriceBook:
    """The bundled price book (USD)."""
    return load_price_book("bundled")


def problems_of(path: Path, book: reconcile.PriceBook) -> list[str]:
    """The problem lines of the ContractsError raised loading ``path``, without the file prefix."""
    with pytest.raises(ContractsError) as info:
        load_contracts(path, book)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: invalid contracts file ({len(lines) - 1} problem{'s' * (len(lines) > 2)})"
    assert all(line.startswith(f"  {path}: ") for line in lines[1:])
    return [line.removeprefix(f"  {path}: ") for line in lines[1:]]


# Each file holds exactly one problem; the message names the table (with its header's line), the
# field and the value.
BAD_FILES = {
    "currency_differs": "currency: 'EUR' is not the price book's currency 'USD' (bundled:",
    "currency_unknown": "currency: unknown ISO 4217 currency code 'USX'",
    "currency_missing": 'currency: missing, or not a string like "USD"',
    "unknown_top_field": "unknown top-level field 'contracts' (known: contract, currency)",
    "contract_not_array": "contract: must be an array of [[contract]] tables",
    "unknown_contract_field": "contract[1] (line 4): discont: unknown field (known: discount, effective_",
    "unknown_price_field": "contract[1].price[1] (line 7): hypervisr: unknown field (known: family,",
    "tier_with_unit": "contract[1].tier[1] (line 7): unit: tiers count and price the meter's own hours",
    "tenant_missing": "contract[1] (line 4): tenant: missing",
    "tenant_empty": "contract[1] (line 4): tenant: must be a non-empty string, not ''",
    "tenant_spaces": "contract[1] (line 4): tenant: ' acme' has spaces around it: it would match no slice",
    "date_quoted": "contract[1] (line 4): effective_from: '2026-05-01' must be a TOML date (2026-01-01)",
    "date_time_only": "contract[1] (line 4): effective_from: datetime.time(9, 0) must be a TOML date",
    "effective_to_before": "contract[1] (line 4): effective_to: 2026-04-01T00:00:00Z is not after"
    " effective_from 2026-05-01T00:00:00Z",
    "effective_to_equal": "contract[1] (line 4): effective_to: 2026-05-01T00:00:00Z is not after",
    "overlap": "contract[2] (line 10): effective_from: [2026-06-01T00:00:00Z, open) overlaps contract[1]"
    " (line 4) [2026-05-01T00:00:00Z, 2026-07-01T00:00:00Z) of tenant 'acme'",
    "unknown_family": "contract[1].price[1] (line 7): family: unknown family 'vm.compte'",
    "unknown_meter": "contract[1].price[1] (line 7): meter: unknown meter 'gpu_hours'",
    "meter_of_other_family": "contract[1].price[1] (line 7): meter: 'vcpu_hours' is not a meter of"
    " vm.storage",
    "unknown_unit": "contract[1].price[1] (line 7): unit: unknown unit 'GB-month'",
    "unit_mismatch": "contract[1].price[1] (line 7): unit: 'GiB-hour' does not measure vcpu_hours",
    "price_float": "contract[1].price[1] (line 7): price: 0.03 is a TOML float; write the price as a decimal"
    ' string, e.g. "0.03"',
    "price_integer": 'contract[1].price[1] (line 7): price: 3 must be a decimal string, e.g. "0.0400"',
    "price_exponent": "contract[1].price[1] (line 7): price: '3e-2' is not a plain decimal number of ASCII"
    " digits",
    "price_fullwidth_digits": "contract[1].price[1] (line 7): price: '\uff10.\uff10\uff13' is not a plain"
    " decimal number of ASCII digits",
    "price_arabic_indic_digits": "contract[1].price[1] (line 7): price: '\u0660.\u0660\u0663' is not a plain"
    " decimal number of ASCII digits",
    "price_negative": "contract[1].price[1] (line 7): price: '-0.03' is negative",
    "price_too_many_digits": "contract[1].price[1] (line 7): price: '0.0000000000001' has more than 12"
    " fraction digits",
    "price_missing_field": "contract[1].price[1] (line 7): unit: missing",
    "price_not_array": "contract[1] (line 4): price: must be an array of [[contract.price]] tables",
    "discount_negative": "contract[1] (line 4): discount: '-5' is negative",
    "discount_over_100": "contract[1] (line 4): discount: '110' is over 100: a discount is a percentage",
    "discount_float": "contract[1] (line 4): discount: 12.5 is a TOML float; write the discount as a decimal",
    "tiers_not_ascending": "contract[1].tier[2] (line 12): up_to: '50' is not above the previous tier's"
    " up_to '100' (tier[1] (line 7)): tiers ascend",
    "tiers_equal_bounds": "contract[1].tier[2] (line 12): up_to: '100' is not above the previous tier's"
    " up_to '100'",
    "tier_open_not_last": "contract[1].tier[1] (line 7): up_to: missing: only the last tier of vm.compute"
    " vcpu_hours has no up_to (tier[2] (line 11) follows)",
    "tier_last_bounded": "contract[1].tier[2] (line 12): up_to: the last tier of vm.compute vcpu_hours must"
    " have no up_to: quantities above 500 in a month would have no price",
    "tier_up_to_zero": "contract[1].tier[1] (line 7): up_to: '0' must be above 0",
    "tier_up_to_float": "contract[1].tier[1] (line 7): up_to: 100.0 is a TOML float",
    "tiers_mid_month": "contract[1] (line 4): effective_from: 2026-05-15T00:00:00Z is not the start of a UTC"
    " month: a contract with tiers runs whole UTC calendar months",
    "minimum_mid_month_end": "contract[1] (line 4): effective_to: 2026-08-15T00:00:00Z is not the start of a"
    " UTC month: a contract with a monthly_minimum runs whole UTC calendar months",
    "minimum_offset_start": "contract[1] (line 4): effective_from: 2026-04-30T22:00:00Z is not the start of a"
    " UTC month",
    "minimum_too_many_digits": "contract[1] (line 4): monthly_minimum: '100.001' has more fraction digits"
    " than USD's minor unit (2)",
    "minimum_float": "contract[1] (line 4): monthly_minimum: 100.0 is a TOML float",
    "price_and_tiers": "contract[1].tier[1] (line 12): meter: vm.compute vcpu_hours has a price in this"
    " contract (price[1] (line 7)): a meter is priced by a [[contract.price]] or by tiers, not both",
    "duplicate_price": "contract[1].price[2] (line 12): meter: vm.compute vcpu_hours (default) already has a"
    " price in this contract: price[1] (line 7)",
    "duplicate_hypervisor_price": "contract[1].price[3] (line 18): hypervisor: vm.compute vcpu_hours"
    " (hypervisor 'firecracker') already has a price in this contract: price[2] (line 12)",
    "override_without_default": "contract[1].price[1] (line 7): hypervisor: 'firecracker' overrides the price"
    " of vm.compute vcpu_hours, which has no default price (without hypervisor) in this contract",
    "hypervisor_empty": "contract[1].price[2] (line 12): hypervisor: must be a non-empty string, not ''",
    "hours_per_month_hourly": "contract[1].price[1] (line 7): hours_per_month: only for monthly units",
    "hours_per_month_range": "contract[1].price[1] (line 7): hours_per_month: must be a whole number of hours"
    " from 1 to 744, not 800",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_gets_one_line_naming_table_line_field_and_value(
    name: str, book: reconcile.PriceBook
) -> None:
    """A contracts file with one problem fails with exactly that problem, on one line."""
    found = problems_of(BAD / f"{name}.toml", book)
    assert len(found) == 1, found
    assert found[0].startswith(BAD_FILES[name]), found[0]


def test_every_bad_file_is_tested() -> None:
    """Each file under tests/data/contracts/bad/ has its expected message here (or is not TOML)."""
    files = {p.stem for p in BAD.glob("*.toml")}
    assert files == set(BAD_FILES) | {"not_toml", "not_utf8"}
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("not_toml", "not valid TOML: Illegal character '\\n' (at line 2, column 16)"),
        ("not_utf8", "not UTF-8 text: 'utf-8' codec can't decode byte 0xe9 in position 61"),
    ],
)
def test_a_file_that_is_not_toml_is_one_line(name: str, expected: str, book: reconcile.PriceBook) -> None:
    """Bytes that are not UTF-8 TOML fail with one line naming the file and where."""
    path = BAD / f"{name}.toml"
    with pytest.raises(ContractsError) as info:
        load_contracts(path, book)
    assert str(info.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(info.value)


def test_an_unreadable_file_is_one_line(tmp_path: Path, book: reconcile.PriceBook) -> None:
    """A missing file fails with one line naming it."""
    with pytest.raises(ContractsError, match=r"missing\.toml: cannot read contracts file: No such file"):
        load_contracts(tmp_path / "missing.toml", book)


def test_all_problems_are_reported_together_in_file_order(book: reconcile.PriceBook) -> None:
    """Every problem of a file is listed in one error, once each, contract by contract."""
    found = problems_of(CONTRACTS / "many_problems.toml", book)
    expected = [
        "currency: 'EUR' is not the price book's currency 'USD'",
        "contract[1] (line 4): discount: '-5' is negative",
        "contract[1].price[1] (line 8): price: 0.03 is a TOML float",
        "contract[1].price[2] (line 13): hypervisr: unknown field",
        "contract[2] (line 20): effective_from: 2026-06-15T00:00:00Z is not the start of a UTC month: a"
        " contract with tiers and a monthly_minimum runs whole UTC calendar months",
        "contract[2].tier[2] (line 29): up_to: the last tier of vm.compute vcpu_hours must have no up_to",
        "contract[2] (line 20): effective_from: [2026-06-15T00:00:00Z, open) overlaps contract[1] (line 4)",
    ]
    assert len(found) == len(expected), found
    for line, want in zip(found, expected, strict=True):
        assert line.startswith(want), line


def test_the_issue_example_loads_as_written(book: reconcile.PriceBook) -> None:
    """The format of issue 24, comments and all, loads into the terms it states."""
    path = CONTRACTS / "issue_example.toml"
    contracts = load_contracts(path, book)
    assert contracts.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert contracts.version == contracts.sha256[:16]
    acme, globex = contracts.contracts
    assert (acme.contract_id, acme.discount, acme.effective_to_ns) == (
        "acme@2026-05-01T00:00:00Z",
        Decimal(10),
        None,
    )
    assert [(p.meter, p.unit, p.price, p.hypervisor) for p in acme.prices] == [
        ("vcpu_hours", "vCPU-hour", Decimal("0.0300"), None)
    ]
    assert [acme.basis("vm.compute", m) for m in ("vcpu_hours", "mem_gib_hours")] == ["price", "discount"]
    assert globex.monthly_minimum == Decimal("100.00")
    assert [(t.tier, t.lower, t.up_to, t.price, t.unit) for t in globex.tiers] == [
        (1, Decimal(0), Decimal(100), Decimal("0.0400"), "vCPU-hour"),
        (2, Decimal(100), None, Decimal("0.0200"), "vCPU-hour"),
    ]
    assert globex.basis("vm.compute", "vcpu_hours") == "tier"
    assert globex.basis("vm.storage", "storage_gib_hours") == "list"


def test_every_valid_form_loads(book: reconcile.PriceBook) -> None:
    """Offsets, local date-times, far ends, overrides, monthly units, interleaved tiers, empty terms."""
    contracts = load_contracts(CONTRACTS / "valid.toml", book)
    acme1, acme2, globex, initech, umbrella = contracts.contracts
    assert acme1.effective_from_ns == ns(2026, 5, 10, 10)  # 12:00 at +02:00
    assert acme1.effective_to_ns == acme2.effective_from_ns == ns(2026, 8, 1)  # adjacent: no overlap
    assert acme1.contract_id == "acme@2026-05-10T10:00:00Z"
    assert not acme1.month_aligned
    assert globex.month_aligned
    assert acme2.effective_to_ns == ns(9999, 12, 31)  # kept exact; the tables clamp it to int64
    fc = acme1.price_for("vm.compute", "vcpu_hours", "firecracker")
    other = acme1.price_for("vm.compute", "vcpu_hours", "cloud-hypervisor")
    assert (fc and fc.price, other and other.price) == (Decimal("0.025"), Decimal("0.0300"))
    storage = acme1.price_for("vm.storage", "storage_gib_hours", None)
    assert storage is not None
    assert (storage.unit, storage.hours_per_month) == ("GiB-month", 730)
    assert acme2.prices[0].hours_per_month == 720
    assert acme1.basis("vm.compute", "mem_gib_hours") == "discount"
    assert acme1.discount == Decimal("12.5")
    vcpu = globex.tiers_for("vm.compute", "vcpu_hours")
    assert [(t.lower, t.up_to, t.index, t.line) for t in vcpu] == [
        (Decimal(0), Decimal(100), 1, 47),
        (Decimal(100), Decimal(1000), 3, 57),
        (Decimal(1000), None, 4, 62),
    ]
    storage_tiers = globex.tiers_for("vm.storage", "storage_gib_hours")
    assert [t.up_to for t in storage_tiers] == [Decimal("73000.5"), None]
    assert globex.basis("vm.compute", "mem_gib_hours") == "discount"  # a discount of 0 is still one
    assert initech.basis("vm.compute", "vcpu_hours") == "list"
    assert (umbrella.monthly_minimum, umbrella.effective_to_ns) == (Decimal(2500), None)
    assert contracts.tenants == ("acme", "globex", "initech", "umbrella")
    assert contracts.at("acme", ns(2026, 8, 1)) is acme2
    assert contracts.at("acme", ns(2026, 8, 1) - 1) is acme1
    assert contracts.at("acme", ns(2026, 5, 10, 10) - 1) is None
    assert contracts.at(None, ns(2026, 6, 1)) is None
    assert contracts.by_id("globex@2026-05-01T00:00:00Z") is globex
    assert list(globex.months(ns(2027, 4, 20), ns(2027, 6, 1))) == [dt.date(2027, 4, 1)]


def test_lines_are_left_out_when_headers_cannot_be_matched(book: reconcile.PriceBook) -> None:
    """Inline tables have no header line: problems are still named, without a line."""
    text = (
        'currency = "USD"\n'
        'contract = [{tenant = "acme", effective_from = 2026-05-01, price = [{family = "vm.compute",'
        ' meter = "vcpu_hours", unit = "vCPU-hour", price = "-1"}]}]\n'
    )
    with pytest.raises(ContractsError) as info:
        parse_contracts(text.encode(), "inline.toml", book)
    assert str(info.value).splitlines()[1] == "  inline.toml: contract[1].price[1]: price: '-1' is negative"


def test_a_contracts_file_needs_the_book_currency_even_for_jpy(book: reconcile.PriceBook) -> None:
    """A minimum is checked against the currency's own minor unit (JPY has none)."""
    jpy = parse_price_book(
        (CONTRACTS.parent / "prices" / "valid.toml").read_bytes(), "jpy.toml"
    )  # the price book tests' JPY book
    text = """currency = "JPY"
[[contract]]
tenant = "acme"
effective_from = 2026-05-01
monthly_minimum = "1000.5"
"""
    with pytest.raises(ContractsError, match=r"'1000\.5' has more fraction digits than JPY's minor unit"):
        parse_contracts(text.encode(), "jpy-contracts.toml", jpy)
    ok = parse_contracts(text.replace("1000.5", "1000").encode(), "jpy-contracts.toml", jpy)
    assert (ok.currency, ok.minor_units) == ("JPY", 0)


def test_period_digest_covers_the_terms_in_effect_not_the_bytes(book: reconcile.PriceBook) -> None:
    """A period's digest changes with the terms in effect in it, and only with them."""
    base = (CONTRACTS / "issue_example.toml").read_text(encoding="utf-8")
    old = parse_contracts(base.encode(), "old.toml", book)
    may, april = (ns(2026, 5, 3), ns(2026, 5, 4)), (ns(2026, 4, 3), ns(2026, 4, 4))
    assert period_digest(old, *april) is None  # no contract in effect: priced as with no file
    assert period_digest(None, *may) is None
    reformatted = parse_contracts(
        base.replace('"0.0300"', '"0.03"').replace("# optional", "#").encode(), "new.toml", book
    )
    assert reformatted.sha256 != old.sha256
    assert period_digest(reformatted, *may) == period_digest(old, *may)
    assert contract_changes(old, reformatted, *may) == ()
    cheaper = parse_contracts(base.replace('discount = "10"', 'discount = "12"').encode(), "new.toml", book)
    assert period_digest(cheaper, *may) != period_digest(old, *may)
    assert contract_changes(old, cheaper, *may) == ("acme@2026-05-01T00:00:00Z: discount 10 -> 12",)
    ended = parse_contracts(
        base.replace('tenant = "globex"', 'tenant = "globex"\neffective_to = 2026-06-01').encode(), "x", book
    )
    june = (ns(2026, 6, 1), ns(2026, 6, 2))
    assert period_digest(ended, *may) != period_digest(old, *may)  # globex's window changed
    assert contract_changes(old, ended, *june) == ("globex@2026-05-01T00:00:00Z: removed",)
    assert contract_changes(ended, old, *june) == ("globex@2026-05-01T00:00:00Z: added",)
    assert contract_changes(old, ended, *may) == (
        "globex@2026-05-01T00:00:00Z: effective_to open -> 2026-06-01T00:00:00Z",
    )
    tiered = parse_contracts(base.replace('price = "0.0200"', 'price = "0.0150"').encode(), "x", book)
    assert contract_changes(old, tiered, *may) == (
        "globex@2026-05-01T00:00:00Z: tier vm.compute vcpu_hours 2 0.02 per vCPU-hour and above"
        " -> 0.015 per vCPU-hour and above",
    )
