"""The price book: loading, validation messages, coverage, the bundled book, currency minor units."""

from __future__ import annotations

import hashlib
import importlib.resources
from decimal import Decimal
from pathlib import Path

import pytest
from iso4217 import Currency

from reconcile import PriceBook, PriceBookError, load_price_book
from reconcile._core._currency import minor_units, round_to_minor
from reconcile._core._families import CATALOGUE
from reconcile._price._book import parse_price_book

PRICES = Path(__file__).resolve().parents[2] / "data" / "prices"
S = 10**9
DAY = 86_400 * S
JAN_1_2026 = 20_454 * DAY


def ns(year: int, month: int, day: int) -> int:
    """Unix ns of a UTC midnight in 2026 (or 2027 January)."""
    import datetime as dt  # noqa: PLC0415

    return (dt.date(year, month, day) - dt.date(1970, 1, 1)).days * DAY


def problems_of(name: str) -> list[str]:
    """The problem lines of the PriceBookError raised loading tests/data/prices/<name>."""
    with pytest.raises(PriceBookError) as info:
        load_price_book(PRICES / name)
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"{PRICES / name}: invalid price book ({len(lines) - 1} problem")
    return [line.strip() for line in lines[1:]]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "float_price.toml",
            "price[1] (line 4): price: 0.04 is a TOML float; write the price as a decimal string",
        ),
        ("negative_price.toml", "price[2] (line 11): price: '-0.005' is negative"),
        ("unknown_family.toml", "price[5] (line 32): family: unknown family 'vm.compte'"),
        ("unknown_meter.toml", "price[5] (line 32): meter: unknown meter 'gpu_hours'"),
        ("unknown_unit.toml", "price[3] (line 18): unit: unknown unit 'GB-month'"),
        ("unit_mismatch.toml", "price[4] (line 25): unit: 'vCPU-hour' does not measure storage_gib_hours"),
        (
            "meter_of_other_family.toml",
            "price[5] (line 32): meter: 'vcpu_hours' is not a meter of vm.storage",
        ),
        (
            "overlap.toml",
            "price[2] (line 12): effective_from: [2026-03-01T00:00:00Z, open) overlaps price[1] (line 4)"
            " [2026-01-01T00:00:00Z, 2026-04-01T00:00:00Z) for vm.compute vcpu_hours (default)",
        ),
        ("unknown_currency.toml", "currency: unknown ISO 4217 currency code 'USX'"),
    ],
)
def test_each_invalid_book_gets_one_message_naming_file_entry_and_field(name: str, expected: str) -> None:
    """A book with one problem fails with exactly one message naming the file, the entry and the field."""
    found = problems_of(name)
    assert len(found) == 1, found
    assert found[0].startswith(f"{PRICES / name}: {expected}"), found[0]


def test_all_problems_are_reported_together() -> None:
    """Every problem of a book is listed in one error, once each."""
    found = problems_of("many_problems.toml")
    prefix = f"{PRICES / 'many_problems.toml'}: "
    expected = [
        "currency: unknown ISO 4217 currency code 'EURO'",
        "price[1] (line 4): price: 0.04 is a TOML float",
        "price[1] (line 4): hours_per_month: only for monthly units (GiB-month), not 'vCPU-hour'",
        "price[3] (line 19): hypervisr: unknown field",
        "price[3] (line 19): effective_to: 2025-12-01T00:00:00Z is not after effective_from 2026-01-01",
        "billing.'vm.compute': increment_seconds: must be a whole number of seconds from 1 to 2678400, not 0",
        "billing.'vm.compute': minimum_seconds: must be a whole number of seconds from 0 to 2678400, not 60.",
        "billing.'vm.gpu': unknown family 'vm.gpu'",
    ]
    assert len(found) == len(expected)
    for line, want in zip(found, expected, strict=True):
        assert line.startswith(prefix + want), line


def test_coverage_gap_inside_the_period_is_an_error_naming_the_entry() -> None:
    """A gap in the default prices is only an error for a period it touches, naming the entry and field."""
    book = load_price_book(PRICES / "gap.toml")
    book.check_coverage(ns(2026, 1, 1), ns(2026, 3, 1))  # before the gap: fine
    book.check_coverage(ns(2026, 4, 1), ns(2026, 5, 1))  # after it: fine
    with pytest.raises(PriceBookError) as info:
        book.check_coverage(ns(2026, 3, 6), ns(2026, 3, 7))
    assert str(info.value).splitlines()[1].strip() == (
        f"{PRICES / 'gap.toml'}: price[1] (line 5): effective_to: vm.compute vcpu_hours has no default price"
        " from 2026-03-06T00:00:00Z to 2026-03-07T00:00:00Z, inside the period"
        " [2026-03-06T00:00:00Z, 2026-03-07T00:00:00Z)"
    )
    with pytest.raises(
        PriceBookError,
        match=r"price\[1\] \(line 5\): effective_to: .* from 2026-03-01T00:00:00Z to 2026-04-01",
    ):
        book.check_coverage(ns(2026, 2, 1), ns(2026, 5, 1))
    with pytest.raises(
        PriceBookError, match=r"price\[1\] \(line 5\): effective_from: .* from 2025-12-01T00:00:00Z"
    ):
        book.check_coverage(ns(2025, 12, 1), ns(2026, 1, 2))


def test_valid_book_reads_every_form() -> None:
    """Dates, offset and local date-times, overrides, monthly units and billing rules load as written."""
    book = load_price_book(PRICES / "valid.toml")
    assert (book.currency, book.minor_units) == ("JPY", 0)
    vcpu = [e for e in book.entries if e.meter == "vcpu_hours"]
    assert vcpu[0].effective_to_ns == ns(2026, 3, 1)  # 2026-03-01T09:00:00+09:00
    assert vcpu[1].effective_from_ns == ns(2026, 3, 1)  # local date-time = UTC
    assert vcpu[2].hypervisor == "firecracker"
    assert vcpu[2].price == Decimal("4.000000000001")
    hours = {(e.family, e.meter): e.hours_per_month for e in book.entries if e.hypervisor is None}
    assert hours[("vm.compute", "mem_gib_hours")] == 730
    assert hours[("snap.storage", "storage_gib_hours")] == 720
    assert hours[("vm.storage", "storage_gib_hours")] is None
    assert book.billing["vm.compute"].increment_seconds == 60
    assert book.billing["vm.compute"].minimum_seconds == 300
    assert book.billing["snap.storage"].increment_seconds is None
    assert book.billing["snap.storage"].minimum_seconds == 3600
    book.check_coverage(ns(2026, 1, 1), ns(2027, 1, 1))
    table = book.price_table()
    assert table.column("unit_price_e12").to_pylist()[2] == Decimal("4000000000001")
    assert book.billing_table().to_pylist() == [
        {"family": "snap.storage", "increment_ns": None, "minimum_ns": 3600 * S},
        {"family": "vm.compute", "increment_ns": 60 * S, "minimum_ns": 300 * S},
    ]


def test_bundled_book_is_realistic_and_complete() -> None:
    """The bundled book loads, prices every meter through 2026, has an override, a price change, a minimum."""
    book = load_price_book("bundled")
    assert isinstance(book, PriceBook)
    assert book.currency == "USD"
    book.check_coverage(ns(2026, 1, 1), ns(2027, 1, 1))
    defaults = {(e.family, e.meter) for e in book.entries if e.hypervisor is None}
    assert defaults == {(f, m) for f, meters in CATALOGUE.family_meters.items() for m in meters}
    assert any(e.hypervisor == "firecracker" for e in book.entries)
    assert any(
        e.effective_to_ns is not None and ns(2026, 1, 2) < e.effective_to_ns < ns(2027, 1, 1)
        for e in book.entries
    )
    assert book.billing["vm.compute"].increment_seconds == 1
    assert book.billing["vm.compute"].minimum_seconds == 60
    vcpu = next(e for e in book.entries if e.meter == "vcpu_hours" and e.hypervisor is None)
    assert Decimal("0.01") < vcpu.price < Decimal("0.10")
    data = (importlib.resources.files("reconcile") / "data" / "prices.toml").read_bytes()
    assert book.price_version == hashlib.sha256(data).hexdigest()[:16]


def test_price_version_changes_with_any_edit(tmp_path: Path) -> None:
    """price_version is the short SHA-256 of the file's bytes: a comment edit changes it."""
    source = (PRICES / "golden.toml").read_bytes()
    edited = tmp_path / "edited.toml"
    edited.write_bytes(source + b"# reviewed\n")
    first, second = load_price_book(PRICES / "golden.toml"), load_price_book(edited)
    assert first.price_version == hashlib.sha256(source).hexdigest()[:16]
    assert len(first.price_version) == 16
    assert second.price_version != first.price_version
    assert second.entries == first.entries


def test_unreadable_and_malformed_files_name_the_file(tmp_path: Path) -> None:
    """A missing file or broken TOML raises PriceBookError naming the file (and TOML's line)."""
    with pytest.raises(PriceBookError, match=r"missing\.toml: cannot read price book"):
        load_price_book(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text('currency = "USD"\n[[price]\n', encoding="utf-8")
    with pytest.raises(PriceBookError, match=r"broken\.toml: not valid TOML: .*line 2"):
        load_price_book(broken)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", '"0.0000000000001"', "has more than 12 fraction digits"),
        ("price", '"1e-3"', "is not a plain decimal number"),
        ("price", "4", "must be a decimal string"),
        ("effective_from", '"2026-01-01"', "must be a TOML date (2026-01-01) or date-time"),
        ("hypervisor", '""', "must be a non-empty string"),
    ],
)
def test_field_values_are_checked(field: str, value: str, message: str) -> None:
    """Prices with too many digits or exponents, integers, quoted dates and empty hypervisors are refused."""
    fields = {
        "family": '"vm.compute"',
        "meter": '"mem_gib_hours"',
        "unit": '"GiB-hour"',
        "hypervisor": '"x"',
        "price": '"1"',
        "effective_from": "2026-01-01",
    }
    fields[field] = value
    entry = "\n[[price]]\n" + "".join(f"{key} = {text}\n" for key, text in fields.items())
    text = (PRICES / "golden.toml").read_text(encoding="utf-8") + entry
    with pytest.raises(PriceBookError) as info:
        parse_price_book(text.encode(), "book.toml")
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 1
    header_line = text[: text.rindex("[[price]]")].count("\n") + 1
    assert lines[0].strip().startswith(f"book.toml: price[7] (line {header_line}): {field}: ")
    assert message in lines[0]


def test_minor_units_follow_iso4217() -> None:
    """Minor units come from the iso4217 package's data: USD 2, JPY 0, BHD 3; non-billing codes refused."""
    for currency in Currency:
        if currency.exponent is not None:
            assert minor_units(currency.code) == currency.exponent
    assert (minor_units("USD"), minor_units("JPY"), minor_units("BHD")) == (2, 0, 3)
    with pytest.raises(ValueError, match="no minor unit"):
        minor_units("XAU")
    with pytest.raises(ValueError, match="unknown ISO 4217"):
        minor_units("usd")


def test_round_to_minor_is_half_even() -> None:
    """Invoice rounding is half-even: ties go to the even digit, in each currency's minor unit."""
    assert round_to_minor(Decimal("0.125"), "USD") == Decimal("0.12")
    assert round_to_minor(Decimal("0.135"), "USD") == Decimal("0.14")
    assert round_to_minor(Decimal("0.125000000001"), "USD") == Decimal("0.13")
    assert round_to_minor(Decimal("2.5"), "JPY") == Decimal(2)
    assert round_to_minor(Decimal("3.5"), "JPY") == Decimal(4)
    assert round_to_minor(Decimal("0.0125"), "BHD") == Decimal("0.012")
    assert str(round_to_minor(Decimal(0), "USD")) == "0.00"


def test_instants_in_messages_have_four_digit_years() -> None:
    """Messages write instants as RFC 3339 with a four-digit year, even before year 1000 (a typo'd date)."""
    book = b"""currency = "USD"
[[price]]
family = "vm.compute"
meter = "vcpu_hours"
unit = "vCPU-hour"
price = "0.04"
effective_from = 2026-01-01
effective_to = 0206-01-01
"""
    with pytest.raises(PriceBookError) as info:
        parse_price_book(book, "typo.toml")
    assert "effective_to: 0206-01-01T00:00:00Z is not after effective_from 2026-01-01T00:00:00Z" in str(
        info.value
    )


def test_far_effective_dates_mean_open_ended() -> None:
    """effective_from 0001-01-01 and effective_to 9999-12-31 load, cover any period and build the price
    table (they do not overflow int64 nanoseconds)."""
    book = b"""currency = "USD"
[[price]]
family = "vm.compute"
meter = "vcpu_hours"
unit = "vCPU-hour"
price = "0.04"
effective_from = 0001-01-01
effective_to = 9999-12-31
[[price]]
family = "vm.compute"
meter = "mem_gib_hours"
unit = "GiB-hour"
price = "0.005"
effective_from = 2026-01-01
[[price]]
family = "vm.storage"
meter = "storage_gib_hours"
unit = "GiB-month"
price = "0.10"
effective_from = 2026-01-01
[[price]]
family = "snap.storage"
meter = "storage_gib_hours"
unit = "GiB-month"
price = "0.05"
effective_from = 2026-01-01
"""
    parsed = parse_price_book(book, "far.toml")
    table = parsed.price_table()
    assert table.column("effective_from_ns")[0].as_py() == -(2**63)
    assert table.column("effective_to_ns")[0].as_py() == 2**63 - 1
    parsed.check_coverage(1_800_000_000 * 10**9, 1_800_086_400 * 10**9)


def test_prices_take_ascii_digits_only() -> None:
    """Full-width or Arabic-Indic digits are refused, not read as 0.005."""
    text = (PRICES / "valid.toml").read_text(encoding="utf-8")
    for odd in ("０.００５", "0.00٥٠"):  # noqa: RUF001 - the point of the test
        changed = text.replace('price = "5.5"', f'price = "{odd}"', 1)
        assert changed != text
        with pytest.raises(PriceBookError, match="ASCII digits"):
            parse_price_book(changed.encode(), "odd.toml")


def test_a_bom_at_the_start_of_a_price_book_is_not_toml_and_is_read_past(tmp_path: Path) -> None:
    """A UTF-8 BOM some editors write loads as the same book (the version still hashes the bytes)."""
    data = (PRICES / "valid.toml").read_bytes()
    (tmp_path / "bom.toml").write_bytes(b"\xef\xbb\xbf" + data)
    book = load_price_book(tmp_path / "bom.toml")
    plain = load_price_book(PRICES / "valid.toml")
    assert book.entries == plain.entries
    assert book.price_version != plain.price_version
